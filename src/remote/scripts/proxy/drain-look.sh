#!/bin/sh
# One look while the old version drains (engine-docker.sh, drain_previous): sh -c TEXT sh
# "OLD_WORKER_PIDS". Prints "workers-alive" while any of the previous config's workers runs, then
# the proxy's TCP connections (/proc/net/tcp and tcp6).
for p in $1; do [ -d "/proc/$p" ] && echo workers-alive && break; done
cat /proc/net/tcp /proc/net/tcp6 2>/dev/null
