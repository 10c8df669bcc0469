#!/bin/sh
# nginx -t and, only if the config is good, a graceful reload, in one docker exec (proxy-config.sh,
# proxy_test_and_reload): sh -c TEXT sh TLS_MOUNT PAIRS_DIR. A host name claimed twice is only a
# warning to nginx (it ignores the second claim): here it is an error.
# After the reload, wait (5 s at most) until every worker of the previous config has stopped
# accepting: it renames itself "worker process is shutting down" as it closes its listening sockets,
# or exits. Until then a new connection can still be served by the previous config. Their PIDs are
# printed ("old-workers: PID..."): once they have exited, nothing the previous config routed is in
# flight.
[ ! -f "$1/tls-pairs.sh" ] || sh "$1/tls-pairs.sh" "$1" "$2"
out=$(nginx -t 2>&1) || {
  echo "$out"
  exit 1
}
case $out in *"conflicting server name"*)
  echo "$out" | grep "conflicting server name"
  exit 1
  ;;
esac
accepting() {
  for p in /proc/[0-9]*; do
    case "$(tr "\0" " " 2>/dev/null <"$p/cmdline")" in
      "nginx: worker process is shutting down"*) ;;
      "nginx: worker process"*) echo "${p#/proc/}" ;;
    esac
  done
}
old=$(accepting)
nginx -s reload 2>&1 || exit 1
# Only the previous workers are looked at, every 0.01 s (nginx itself waits 0.1 s before it tells them).
i=0
while [ $i -lt 500 ]; do
  still=""
  for p in $old; do
    if [ -d "/proc/$p" ] && ! grep -q "shutting down" "/proc/$p/cmdline" 2>/dev/null; then still=1; fi
  done
  [ -z "$still" ] && break
  i=$((i + 1))
  sleep 0.01
done
# shellcheck disable=SC2086 # one line of PIDs
echo "old-workers:" $old
