#!/usr/bin/env bash
# Real accessories for the compose engine's tests (issue 24): PostgreSQL and Redis from Debian 12's
# packages, in images made from a Debian root filesystem (no registry can be reached here), built on
# the local daemon (the runner) like the app's images. Idempotent: the root filesystem is kept in
# BG_STATE, the images are built only when missing.
#
#   bash test/server/accessories.sh        builds bluegreen-test/postgres:15, bluegreen-test/redis:7
#                                          and bluegreen-test/compose-app:v1..v3 (the test app on postgres:15)
#
# postgres:15: the data directory is /var/lib/postgresql/data (a volume); an empty one is initialised
# at start with POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB (defaults app / app / app), like the
# official image, and the server listens on 5432 for the compose network (md5 passwords).
# redis:7: redis-server on 6379, no protected mode (only the compose network reaches it), data in /data.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=test/server/config.sh
. "$here/config.sh"

BG_ACCESSORIES_BASE=bluegreen-test/debian-accessories:1
BG_POSTGRES_IMAGE=bluegreen-test/postgres:15
BG_REDIS_IMAGE=bluegreen-test/redis:7
BG_COMPOSE_APP_IMAGE=bluegreen-test/compose-app

log() { printf '[accessories] %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

build_root() { # the bookworm root filesystem with postgresql and redis-server installed
  local root=$BG_STATE/accessories-rootfs
  [ -x "$root/usr/lib/postgresql/15/bin/postgres" ] && [ -x "$root/usr/bin/redis-server" ] && return 0
  command -v debootstrap >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
  log "debootstrap of Debian 12 with postgresql and redis-server"
  rm -rf "$root.tmp"
  debootstrap --variant=minbase bookworm "$root.tmp" >"$BG_STATE/accessories-debootstrap.log" 2>&1 ||
    { tail -n 20 "$BG_STATE/accessories-debootstrap.log" >&2; die "debootstrap of bookworm failed"; }
  printf '#!/bin/sh\nexit 101\n' >"$root.tmp/usr/sbin/policy-rc.d"
  chmod +x "$root.tmp/usr/sbin/policy-rc.d"
  chroot "$root.tmp" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      postgresql-15 redis-server >/var/log/bg-install.log 2>&1 && apt-get clean' ||
    { tail -n 20 "$root.tmp/var/log/bg-install.log" >&2; die "installing postgresql and redis-server failed"; }
  # The cluster the package made is not used: the image initialises its own in the volume. The JIT
  # (LLVM, 130 MB) is loaded only on demand, and the server runs with jit=off.
  rm -rf "$root.tmp/var/lib/postgresql/15" "$root.tmp/etc/postgresql/15" "$root.tmp/var/lib/apt/lists"/* \
    "$root.tmp/usr/share/doc" "$root.tmp/usr/share/man" "$root.tmp/usr/share/locale" \
    "$root.tmp"/usr/lib/postgresql/15/lib/llvmjit* "$root.tmp"/usr/lib/x86_64-linux-gnu/libLLVM-* "$root.tmp"/usr/lib/x86_64-linux-gnu/libz3.so*
  rm -f "$root.tmp/usr/sbin/policy-rc.d"
  rm -rf "$root"
  mv "$root.tmp" "$root"
}

build_images() {
  if docker image inspect "$BG_POSTGRES_IMAGE" "$BG_REDIS_IMAGE" >/dev/null 2>&1; then return 0; fi
  build_root
  if ! docker image inspect "$BG_ACCESSORIES_BASE" >/dev/null 2>&1; then
    log "importing the root filesystem as $BG_ACCESSORIES_BASE"
    tar -C "$BG_STATE/accessories-rootfs" -c . | docker import - "$BG_ACCESSORIES_BASE" >/dev/null
  fi
  local ctx=$BG_STATE/build/accessories
  mkdir -p "$ctx"
  cat >"$ctx/postgres-start" <<'SH'
#!/bin/sh
# Like the official image: an empty data directory is initialised once (POSTGRES_USER, _PASSWORD,
# _DB), then postgres replaces this shell as the postgres user (SIGINT from docker stop: fast shutdown).
set -eu
PGDATA=${PGDATA:-/var/lib/postgresql/data}
bin=/usr/lib/postgresql/15/bin
user=${POSTGRES_USER:-app}
db=${POSTGRES_DB:-app}
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
mkdir -p "$PGDATA" /run/postgresql
chown postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pw=$(mktemp)
  printf '%s\n' "${POSTGRES_PASSWORD:-app}" >"$pw"
  chown postgres "$pw"
  as_postgres "$bin/initdb" -D "$PGDATA" -U "$user" --pwfile="$pw" --auth-local=trust --auth-host=md5 >/dev/null
  rm -f "$pw"
  echo 'host all all 0.0.0.0/0 md5' >>"$PGDATA/pg_hba.conf"
  as_postgres "$bin/pg_ctl" -D "$PGDATA" -o "-c listen_addresses=" -w start >/dev/null
  [ "$db" = postgres ] || as_postgres "$bin/createdb" -U "$user" "$db"
  as_postgres "$bin/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups "$bin/postgres" -D "$PGDATA" -c "listen_addresses=*" -c jit=off
SH
  chmod 755 "$ctx/postgres-start"
  printf 'FROM %s\nCOPY postgres-start /usr/local/bin/postgres-start\nENV PGDATA=/var/lib/postgresql/data LANG=C.UTF-8\nVOLUME /var/lib/postgresql/data\nEXPOSE 5432\nSTOPSIGNAL SIGINT\nCMD ["/usr/local/bin/postgres-start"]\n' "$BG_ACCESSORIES_BASE" >"$ctx/Dockerfile.postgres"
  printf 'FROM %s\nVOLUME /data\nWORKDIR /data\nEXPOSE 6379\nCMD ["redis-server", "--protected-mode", "no", "--bind", "0.0.0.0", "--dir", "/data"]\n' "$BG_ACCESSORIES_BASE" >"$ctx/Dockerfile.redis"
  docker build -q -t "$BG_POSTGRES_IMAGE" -f "$ctx/Dockerfile.postgres" "$ctx" >"$BG_STATE/accessories-build.log" 2>&1 || { tail -n 20 "$BG_STATE/accessories-build.log" >&2; die "building $BG_POSTGRES_IMAGE failed"; }
  docker build -q -t "$BG_REDIS_IMAGE" -f "$ctx/Dockerfile.redis" "$ctx" >>"$BG_STATE/accessories-build.log" 2>&1 || { tail -n 20 "$BG_STATE/accessories-build.log" >&2; die "building $BG_REDIS_IMAGE failed"; }
  log "images: $BG_POSTGRES_IMAGE, $BG_REDIS_IMAGE"
}

# The compose engine's test app: the test app's binary and version (test/server/up.sh builds them)
# on the PostgreSQL image, so that its release command and workers have psql and a shell. v3 never
# becomes healthy, like bluegreen-test/app:v3.
build_app_images() {
  local app=$BG_STATE/build/app ctx=$BG_STATE/build/compose-app v ready
  [ -x "$app/testapp" ] || die "$app/testapp is missing: run test/server/up.sh first"
  mkdir -p "$ctx"
  cp "$app/testapp" "$ctx/testapp"
  for v in 1 2 3; do
    ready=1
    [ $v = 3 ] && ready=never
    printf 'v%s\n' "$v" >"$ctx/version-$v"
    printf 'FROM %s\nCOPY testapp /testapp\nENV READY_AFTER=%s\nEXPOSE 8080\nSTOPSIGNAL SIGTERM\nCOPY version-%s /version\nCMD ["/testapp"]\n' \
      "$BG_POSTGRES_IMAGE" "$ready" "$v" >"$ctx/Dockerfile.v$v"
    docker build -q -t "$BG_COMPOSE_APP_IMAGE:v$v" -f "$ctx/Dockerfile.v$v" "$ctx" >>"$BG_STATE/accessories-build.log" 2>&1 ||
      { tail -n 20 "$BG_STATE/accessories-build.log" >&2; die "building $BG_COMPOSE_APP_IMAGE:v$v failed"; }
  done
  log "images: $BG_COMPOSE_APP_IMAGE:v1 v2 v3"
}

case "${1:-images}" in
  root) build_root ;;
  images) build_images && build_app_images ;;
  *) die "usage: accessories.sh [root|images]" ;;
esac
