#!/usr/bin/env bash
# Stops exactly what up.sh started (by pid file) and removes the remote daemon's containers,
# so the next up.sh starts clean. Keys and the build cache under $BG_STATE are kept;
# `down.sh --purge` removes them too.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=test/server/config.sh
. "$here/config.sh"
log() { printf '[test-server] %s\n' "$*" >&2; }

stop_pidfile() { # stop_pidfile FILE NAME
  local file=$1 name=$2 pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping $name (pid $pid)"
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

if [ -S "$BG_REMOTE_SOCK" ]; then
  ids=$(DOCKER_HOST=unix://$BG_REMOTE_SOCK docker ps -aq 2>/dev/null || true)
  # shellcheck disable=SC2086
  [ -z "$ids" ] || DOCKER_HOST=unix://$BG_REMOTE_SOCK docker rm -f $ids >/dev/null 2>&1 || true
fi
# The modern hosts are containers on the local daemon: stop them (their data volumes are kept) before it goes.
for name in "$BG_MODERN_SERVER" "$BG_MODERN2_SERVER" "$BG_MODERN_RUNNER"; do
  if docker container inspect "$name" >/dev/null 2>&1; then
    log "stopping modern host $name"
    if [ "${1:-}" = --purge ]; then docker rm -f -v "$name" >/dev/null 2>&1 || true; else docker stop -t 20 "$name" >/dev/null 2>&1 || true; fi
  fi
done
[ "${1:-}" != --purge ] || docker image rm "$BG_MODERN_IMAGE" >/dev/null 2>&1 || true
stop_pidfile "$BG_RUN/jump-sshd.pid" "jump sshd"
stop_pidfile "$BG_RUN/sshd.pid" sshd
stop_pidfile "$BG_RUN/remote-dockerd.pid" "remote dockerd"
stop_pidfile "$BG_RUN/local-dockerd.pid" "local dockerd"
for range in "${BG_REMOTE_CIDR%.*}.0/24" "$BG_REMOTE_POOL"; do
  while iptables -D FORWARD -s "$range" -d "$range" -j ACCEPT 2>/dev/null; do :; done
done
ip link del "$BG_REMOTE_BRIDGE" 2>/dev/null || true
if id "$BG_USER" >/dev/null 2>&1; then rm -rf "/home/$BG_USER/.bluegreen"; fi
rm -rf "$BG_RUN"
if [ "${1:-}" = --purge ]; then
  log "purging $BG_STATE"
  rm -rf "$BG_STATE"
fi
log "stopped"
