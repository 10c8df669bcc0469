#!/usr/bin/env bash
# Brings up the throwaway test server on this machine, idempotently:
#   - installs what is missing (docker.io, openssh-server, nginx-light, shellcheck, busybox-static, gcc)
#   - a local Docker daemon for building (reused when one already answers)
#   - a second Docker daemon, the "remote host", with its own data root, socket and bridge
#   - an sshd on 127.0.0.1:$BG_SSH_PORT for user $BG_USER (key only), whose docker reaches the remote daemon
#   - test images: an nginx proxy built FROM scratch (loaded into the remote daemon) and app v1..v3
#   - the modern hosts (Docker 28 from sid), accessories, a jump sshd, Node 24 for the bundle
# With --classic it stops after the classic server's parts. Writes $BG_RUN/env with the connection details for the tests. Stop it all with down.sh.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=test/server/config.sh
. "$here/config.sh"

log() { printf '[test-server] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (it installs packages and starts daemons)"
mkdir -p "$BG_STATE" "$BG_RUN"

install_packages() {
  local missing=() cmd pkg
  for pair in dockerd:docker.io /usr/sbin/sshd:openssh-server ssh-keygen:openssh-client \
              /usr/sbin/nginx:nginx-light shellcheck:shellcheck /bin/busybox:busybox-static \
              gcc:gcc iptables:iptables ip:iproute2 flock:util-linux setpriv:util-linux \
              pebble:pebble openssl:openssl; do
    cmd=${pair%%:*} pkg=${pair#*:}
    command -v "$cmd" >/dev/null 2>&1 || [ -x "$cmd" ] || missing+=("$pkg")
  done
  [ -e /usr/lib/x86_64-linux-gnu/libc.a ] || [ -n "$(find /usr/lib -name libc.a -print -quit 2>/dev/null)" ] || missing+=(libc6-dev)
  [ ${#missing[@]} -eq 0 ] && return
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Newer Debian/Ubuntu releases dropped nginx-light: the plain nginx package serves as well.
  if [[ " ${missing[*]} " == *" nginx-light "* ]] && ! apt-cache show nginx-light >/dev/null 2>&1; then
    missing=("${missing[@]/nginx-light/nginx}")
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

wait_for() { # wait_for SECONDS DESCRIPTION LOGFILE COMMAND...
  local limit=$1 what=$2 logfile=$3 pid=${4:-}; shift 4
  local end=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      tail -n 5 "$logfile" >&2 || true
      die "$what exited at start (log: $logfile)"
    fi
    [ $SECONDS -lt $end ] || die "$what did not come up within ${limit}s (log: $logfile)"
    sleep 0.2
  done
}

start_local_docker() {
  if docker info >/dev/null 2>&1; then log "local docker: reusing the running daemon"; return; fi
  log "local docker: starting dockerd"
  # --iptables=false: nothing here needs NAT, and it keeps the machine's firewall as it was.
  dockerd --pidfile "$BG_RUN/local-dockerd.pid" --iptables=false \
    >"$BG_RUN/local-dockerd.log" 2>&1 &
  wait_for 60 "local dockerd" "$BG_RUN/local-dockerd.log" $! docker info
}

start_remote_docker() {
  if DOCKER_HOST=unix://$BG_REMOTE_SOCK docker info >/dev/null 2>&1; then
    log "remote docker: already running"; return
  fi
  log "remote docker: starting a second dockerd on $BG_REMOTE_SOCK"
  getent group "$BG_REMOTE_GROUP" >/dev/null || groupadd --system "$BG_REMOTE_GROUP"
  if ! ip link show "$BG_REMOTE_BRIDGE" >/dev/null 2>&1; then
    ip link add "$BG_REMOTE_BRIDGE" type bridge
    ip addr add "$BG_REMOTE_CIDR" dev "$BG_REMOTE_BRIDGE"
  fi
  ip link set "$BG_REMOTE_BRIDGE" up
  # Bridged traffic may pass the host's FORWARD chain (br_netfilter), whose policy another
  # daemon may have set to DROP: let the remote daemon's own address range talk to itself.
  for range in "${BG_REMOTE_CIDR%.*}.0/24" "$BG_REMOTE_POOL"; do
    iptables -C FORWARD -s "$range" -d "$range" -j ACCEPT 2>/dev/null ||
      iptables -I FORWARD -s "$range" -d "$range" -j ACCEPT 2>/dev/null || true
  done
  mkdir -p "$BG_STATE/remote-docker" "$BG_RUN/remote-exec"
  # --live-restore: without it, a dockerd with --default-address-pool that finds its old "bridge"
  # network on restart deletes the interface docker0, which belongs to the local daemon.
  dockerd --data-root "$BG_STATE/remote-docker" --exec-root "$BG_RUN/remote-exec" \
    --pidfile "$BG_RUN/remote-dockerd.pid" -H "unix://$BG_REMOTE_SOCK" --group "$BG_REMOTE_GROUP" \
    --bridge "$BG_REMOTE_BRIDGE" --default-address-pool "base=$BG_REMOTE_POOL,size=24" \
    --iptables=false --ip-masq=false --live-restore \
    >"$BG_RUN/remote-dockerd.log" 2>&1 &
  wait_for 60 "remote dockerd" "$BG_RUN/remote-dockerd.log" $! env DOCKER_HOST="unix://$BG_REMOTE_SOCK" docker info
}

setup_user_and_keys() {
  if ! id "$BG_USER" >/dev/null 2>&1; then
    log "creating user $BG_USER"
    useradd --create-home --shell /bin/bash "$BG_USER"
  fi
  usermod -aG "$BG_REMOTE_GROUP" "$BG_USER"
  # An unlocked account without a password: sshd refuses locked ones even for key auth.
  usermod -p '*' "$BG_USER"
  # A second login whose server has no bash on its PATH (sh only), for the "no bash" error.
  id "$BG_NOBASH_USER" >/dev/null 2>&1 || useradd --create-home --shell /bin/sh "$BG_NOBASH_USER"
  usermod -p '*' "$BG_NOBASH_USER"
  local keys=$BG_STATE/keys
  mkdir -p "$keys"
  [ -f "$keys/client_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C bluegreen-test -f "$keys/client_ed25519"
  [ -f "$keys/client_rsa_pem" ] || ssh-keygen -q -t rsa -b 2048 -m PEM -N '' -C bluegreen-test-pem -f "$keys/client_rsa_pem"
  [ -f "$keys/client_ecdsa_pass" ] || ssh-keygen -q -t ecdsa -N 'correct horse' -C bluegreen-test-pass -f "$keys/client_ecdsa_pass"
  [ -f "$keys/other_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C not-authorized -f "$keys/other_ed25519"
  [ -f "$keys/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C bluegreen-test-host -f "$keys/host_ed25519"
  [ -f "$keys/fake_host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C impostor -f "$keys/fake_host_ed25519"
  cat "$keys/client_ed25519.pub" "$keys/client_rsa_pem.pub" "$keys/client_ecdsa_pass.pub" >"$keys/authorized_keys"
  chmod 644 "$keys/authorized_keys"
  chmod 755 "$BG_STATE" "$keys"
}

start_sshd() {
  local conf=$BG_STATE/sshd_config
  cat >"$conf" <<CONF
ListenAddress 127.0.0.1
Port $BG_SSH_PORT
HostKey $BG_STATE/keys/host_ed25519
PidFile $BG_RUN/sshd.pid
AuthorizedKeysFile $BG_STATE/keys/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
AllowUsers $BG_USER $BG_NOBASH_USER
UsePAM no
StrictModes no
MaxStartups 50:30:100
MaxSessions 50
SetEnv DOCKER_HOST=unix://$BG_REMOTE_SOCK
Subsystem sftp internal-sftp
Match User $BG_NOBASH_USER
  SetEnv PATH=/nonexistent
CONF
  launch_sshd sshd "$BG_SSH_PORT" "$conf" "$BG_STATE/keys/host_ed25519.pub" "$BG_STATE/keys/known_hosts"
}

# launch_sshd NAME PORT CONF HOST_KEY_PUB KNOWN_HOSTS: starts (or restarts, when its config changed)
# an sshd whose PidFile is $BG_RUN/NAME.pid, and writes the known_hosts line that pins it.
launch_sshd() {
  local name=$1 port=$2 conf=$3 pub=$4 known=$5
  mkdir -p /run/sshd
  if [ -f "$BG_RUN/$name.pid" ] && kill -0 "$(cat "$BG_RUN/$name.pid")" 2>/dev/null && ! cmp -s "$conf" "$BG_RUN/${name}_config.running"; then
    log "$name: config changed, restarting"
    kill "$(cat "$BG_RUN/$name.pid")"
    sleep 0.5
  fi
  cp "$conf" "$BG_RUN/${name}_config.running"
  if [ -f "$BG_RUN/$name.pid" ] && kill -0 "$(cat "$BG_RUN/$name.pid")" 2>/dev/null; then
    log "$name: already running on 127.0.0.1:$port"; return
  fi
  /usr/sbin/sshd -t -f "$conf"
  log "$name: starting on 127.0.0.1:$port"
  /usr/sbin/sshd -f "$conf" -E "$BG_RUN/$name.log"
  wait_for 20 "$name" "$BG_RUN/$name.log" "" bash -c "ssh-keyscan -T 2 -p $port 127.0.0.1 | grep -q ed25519"
  { printf '[127.0.0.1]:%s ' "$port"; cut -d' ' -f1,2 "$pub"; } >"$known"
}

# A bastion (proxy-jump): it only forwards, only to the modern server's sshd, and only for the key
# other_ed25519 (which the servers themselves refuse); DEBUG1 logs each forwarded channel.
start_jump_sshd() {
  local conf=$BG_STATE/jump-sshd_config keys=$BG_STATE/keys
  [ -f "$keys/jump_host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C bluegreen-test-jump -f "$keys/jump_host_ed25519"
  cp "$keys/other_ed25519.pub" "$keys/jump_authorized_keys"
  cat >"$conf" <<CONF
ListenAddress 127.0.0.1
Port $BG_JUMP_PORT
HostKey $keys/jump_host_ed25519
PidFile $BG_RUN/jump-sshd.pid
AuthorizedKeysFile $keys/jump_authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
AllowUsers $BG_USER
UsePAM no
StrictModes no
AllowTcpForwarding yes
PermitOpen 127.0.0.1:$BG_MODERN_SSH_PORT
PermitTTY no
ForceCommand /bin/false
LogLevel DEBUG1
CONF
  launch_sshd jump-sshd "$BG_JUMP_PORT" "$conf" "$keys/jump_host_ed25519.pub" "$keys/known_hosts_jump"
}

build_images() {
  local ctx=$BG_STATE/build
  mkdir -p "$ctx/base" "$ctx/app" "$ctx/proxy"
  # busybox base: sh, wget, timeout, cat ... FROM scratch.
  cp /bin/busybox "$ctx/base/busybox"
  cat >"$ctx/base/Dockerfile" <<'DF'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
DF
  docker build -q -t bluegreen-test/busybox:1 "$ctx/base" >>"$BG_RUN/build.log" 2>&1 || { tail -n 20 "$BG_RUN/build.log" >&2; die "docker build failed"; }

  # App: a large incompressible layer shared by all versions, the binary, then a tiny version layer.
  [ -f "$ctx/app/blob.bin" ] || head -c 30M /dev/urandom >"$ctx/app/blob.bin"
  gcc -O2 -static -pthread -o "$ctx/app/testapp.new" "$here/app/testapp.c"
  cmp -s "$ctx/app/testapp.new" "$ctx/app/testapp" 2>/dev/null || mv "$ctx/app/testapp.new" "$ctx/app/testapp"
  rm -f "$ctx/app/testapp.new"
  local v ready
  for v in 1 2 3; do
    # v3 never becomes healthy: the failed-deploy case.
    ready=1; [ $v = 3 ] && ready=never
    printf 'v%s\n' "$v" >"$ctx/app/version-$v"
    cat >"$ctx/app/Dockerfile.v$v" <<DF
FROM bluegreen-test/busybox:1
COPY blob.bin /data/blob.bin
COPY testapp /testapp
ENV READY_AFTER=$ready
EXPOSE 8080
STOPSIGNAL SIGTERM
COPY version-$v /version
CMD ["/testapp"]
DF
    docker build -q -t "$BG_APP_IMAGE:v$v" -f "$ctx/app/Dockerfile.v$v" "$ctx/app" >>"$BG_RUN/build.log" 2>&1 || { tail -n 20 "$BG_RUN/build.log" >&2; die "docker build failed"; }
  done

  build_proxy_image "$BG_PROXY_IMAGE" /
  build_pebble_image

  load_into_remote "$BG_PROXY_IMAGE"
  # Both daemons must still run containers (a second daemon can break the first one's bridge).
  docker run --rm bluegreen-test/busybox:1 true >/dev/null 2>&1 || die "the local docker cannot run a container (is the bridge docker0 there?)"
  DOCKER_HOST=unix://$BG_REMOTE_SOCK docker run --rm "$BG_PROXY_IMAGE" true >/dev/null 2>&1 || die "the remote docker cannot run a container"
  log "images: busybox, app v1 v2 v3, proxy (built locally; proxy also on the remote)"
}

# install_into_sid ROOT PACKAGE: a sid package installed into the modern hosts' root filesystem.
install_into_sid() {
  local root=$1 package=$2
  log "modern hosts: installing sid's $package into the root filesystem"
  # shellcheck disable=SC2016 # $1 is the chroot's sh's
  chroot "$root" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "$1" >/var/log/bg-install.log 2>&1 && apt-get clean' sh "$package" ||
    { tail -n 20 "$root/var/log/bg-install.log" >&2; die "installing $package into the sid root filesystem failed"; }
  rm -rf "$root/var/lib/apt/lists"/*
}

# The modern server's proxy runs sid's nginx (1.27.3 or newer: upstreams that resolve names at run
# time and keep connections alive). A root filesystem made before it was needed gets it added.
add_modern_nginx() { # add_modern_nginx ROOT
  local root=$1
  [ -x "$root/usr/sbin/nginx" ] && return
  install_into_sid "$root" nginx-light
}

# Compose v2 (sid's docker-compose, the `docker compose` plugin) for the compose engine (issue 24).
add_modern_compose() { # add_modern_compose ROOT: true when it had to be installed
  local root=$1
  [ -x "$root/usr/libexec/docker/cli-plugins/docker-compose" ] && return 1
  install_into_sid "$root" docker-compose
}

# copy_binary CTX ROOT BINARY [DEST]: a binary of the root filesystem ROOT and every library it links.
copy_binary() {
  local ctx=$1 root=$2 binary=$3 dest=${4:-$3} lib
  mkdir -p "$ctx/root$(dirname "$dest")"
  cp "$root$binary" "$ctx/root$dest"
  for lib in $(chroot "$root" ldd "$binary" | grep -o '/[^ ]*'); do
    mkdir -p "$ctx/root$(dirname "$lib")"
    cp -L "$root$lib" "$ctx/root$lib"
  done
}

# Let's Encrypt's test CA (Debian's pebble) with its mock DNS server, which answers every name with
# the address the tests set: a real ACME server that validates HTTP-01 through the test proxy.
build_pebble_image() {
  local ctx=$BG_STATE/build/pebble
  rm -rf "$ctx"
  mkdir -p "$ctx/root/pebble"
  copy_binary "$ctx" / /usr/bin/pebble
  copy_binary "$ctx" / /usr/bin/pebble-challtestsrv
  # pebble's own HTTPS (the ACME API): a certificate for the name the renewer reaches it by.
  [ -f "$BG_STATE/pebble-api.pem" ] || openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj /CN=pebble -addext subjectAltName=DNS:pebble,IP:127.0.0.1 -keyout "$BG_STATE/pebble-api.key" -out "$BG_STATE/pebble-api.pem" 2>/dev/null
  cp "$BG_STATE/pebble-api.pem" "$ctx/root/pebble/cert.pem"
  cp "$BG_STATE/pebble-api.key" "$ctx/root/pebble/key.pem"
  chmod 644 "$BG_STATE/pebble-api.pem"
  cat >"$ctx/root/pebble/config.json" <<'JSON'
{"pebble": {"listenAddress": "0.0.0.0:14000", "managementListenAddress": "0.0.0.0:15000",
  "certificate": "/pebble/cert.pem", "privateKey": "/pebble/key.pem", "httpPort": 80, "tlsPort": 443,
  "ocspResponderURL": "", "externalAccountBindingRequired": false}}
JSON
  cat >"$ctx/root/pebble/eab.json" <<'JSON'
{"pebble": {"listenAddress": "0.0.0.0:14000", "managementListenAddress": "0.0.0.0:15000",
  "certificate": "/pebble/cert.pem", "privateKey": "/pebble/key.pem", "httpPort": 80, "tlsPort": 443,
  "ocspResponderURL": "", "externalAccountBindingRequired": true,
  "externalAccountMACKeys": {"kid-test": "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"}}}
JSON
  cat >"$ctx/root/pebble/start.sh" <<'SH'
#!/bin/sh
# $1: config.json or eab.json. DNS answers come from the mock server; no challenge servers of its own.
pebble-challtestsrv -dns01 127.0.0.1:8053 -http01 '' -https01 '' -tlsalpn01 '' -management 0.0.0.0:8055 -defaultIPv6 '' &
# Every test host name resolves to the proxy ($PROXY on this network), wherever Docker put it.
(last=''; while :; do
  ip=$(timeout 1 nslookup "${PROXY:-bluegreen-proxy}" 127.0.0.11 2>/dev/null | sed -n 's/^Address:* *\([0-9][0-9.]*\)$/\1/p' | grep -v '^127\.' | tail -n 1)
  if [ -n "$ip" ] && [ "$ip" != "$last" ] && wget -q -O /dev/null --post-data "{\"ip\":\"$ip\"}" http://127.0.0.1:8055/set-default-ipv4; then last=$ip; fi
  sleep 0.2
done) &
exec pebble -config "/pebble/${1:-config.json}" -dnsserver 127.0.0.1:8053
SH
  chmod +x "$ctx/root/pebble/start.sh"
  cat >"$ctx/Dockerfile" <<'DF'
FROM bluegreen-test/busybox:1
COPY root/ /
ENV PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0
CMD ["/pebble/start.sh"]
DF
  docker build -q -t "$BG_PEBBLE_IMAGE" "$ctx" >>"$BG_RUN/build.log" 2>&1 || { tail -n 20 "$BG_RUN/build.log" >&2; die "docker build failed"; }
}

# The renewer's image as goacme/lego has it (lego at /lego, a shell), with sid's lego (4.3x, like
# the images users pull) from the modern hosts' root filesystem.
build_lego_image() {
  local root=$BG_STATE/modern-rootfs ctx=$BG_STATE/build/lego
  [ -x "$root/usr/bin/lego" ] || install_into_sid "$root" lego
  rm -rf "$ctx"
  copy_binary "$ctx" "$root" /usr/bin/lego /lego
  # goacme/lego (alpine) has flock in its busybox; Debian's busybox has none: util-linux's, as there.
  copy_binary "$ctx" "$root" /usr/bin/flock /usr/bin/flock
  cat >"$ctx/Dockerfile" <<'DF'
FROM bluegreen-test/busybox:1
COPY root/ /
ENTRYPOINT ["/lego"]
DF
  docker build -q -t "$BG_LEGO_IMAGE" "$ctx" >>"$BG_RUN/build.log" 2>&1 || { tail -n 20 "$BG_RUN/build.log" >&2; die "docker build failed"; }
}

# load_into_remote IMAGE: a real server would have pulled it; put it there the same way.
load_into_remote() {
  local want have
  want=$(docker image inspect -f '{{.Id}}' "$1")
  have=$(DOCKER_HOST=unix://$BG_REMOTE_SOCK docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || true)
  if [ "$want" != "$have" ]; then
    log "loading $1 into the remote daemon"
    docker save "$1" | DOCKER_HOST=unix://$BG_REMOTE_SOCK docker load -q >/dev/null
  fi
}

load_into_modern() { # load_into_modern ROLE IMAGE
  local role=$1 image=$2 want have
  # The containerd store names an image by its manifest, not by the classic store's ID: compare layers.
  want=$(docker image inspect -f '{{json .RootFS.Layers}} {{json .Config}}' "$image")
  have=$(modern_docker "$role" image inspect -f '{{json .RootFS.Layers}} {{json .Config}}' "$image" 2>/dev/null || true)
  if [ "$want" != "$have" ]; then
    log "loading $image into the modern $role"
    docker save "$image" | modern_docker "$role" load -q >/dev/null
  fi
}

# build_proxy_image IMAGE ROOT: an nginx proxy FROM scratch, with the nginx binary of the Debian
# root filesystem ROOT (/ for this machine's), its libraries at their paths and a minimal config.
build_proxy_image() {
  local image=$1 root=$2 ctx=$BG_STATE/build/proxy-${1##*:}
  rm -rf "$ctx"
  mkdir -p "$ctx/root/usr/sbin" "$ctx/root/etc/nginx/conf.d" "$ctx/root/var/log/nginx" \
    "$ctx/root/var/lib/nginx" "$ctx/root/run" "$ctx/root/tmp"
  cp "$root/usr/sbin/nginx" "$ctx/root/usr/sbin/nginx"
  local lib
  for lib in $(chroot "$root" ldd /usr/sbin/nginx | grep -o '/[^ ]*'); do
    mkdir -p "$ctx/root$(dirname "$lib")"
    cp -L "$root$lib" "$ctx/root$lib"
  done
  cp "$root/etc/nginx/mime.types" "$ctx/root/etc/nginx/mime.types"
  printf 'root:x:0:0:root:/root:/bin/sh\nnginx:x:101:101:nginx:/var/lib/nginx:/bin/false\n' >"$ctx/root/etc/passwd"
  printf 'root:x:0:\nnginx:x:101:\n' >"$ctx/root/etc/group"
  cat >"$ctx/root/etc/nginx/nginx.conf" <<'CONF'
user nginx;
worker_processes 1;
pid /run/nginx.pid;
error_log /dev/stderr notice;
events { worker_connections 1024; }
http {
  include /etc/nginx/mime.types;
  access_log off;
  client_body_temp_path /tmp/client_body;
  proxy_temp_path /tmp/proxy;
  fastcgi_temp_path /tmp/fastcgi;
  uwsgi_temp_path /tmp/uwsgi;
  scgi_temp_path /tmp/scgi;
  include /etc/nginx/conf.d/*.conf;
}
CONF
  cat >"$ctx/root/etc/nginx/conf.d/default.conf" <<'CONF'
server { listen 80 default_server; location / { return 404 "no app deployed\n"; } }
CONF
  cat >"$ctx/Dockerfile" <<'DF'
FROM bluegreen-test/busybox:1
COPY root/ /
RUN ["/bin/sh", "-c", "chmod 1777 /tmp && /usr/sbin/nginx -t"]
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["/usr/sbin/nginx", "-g", "daemon off;"]
DF
  docker build -q -t "$image" "$ctx" >>"$BG_RUN/build.log" 2>&1 || { tail -n 20 "$BG_RUN/build.log" >&2; die "docker build failed"; }
}

build_modern_image() {
  local root=$BG_STATE/modern-rootfs
  if docker image inspect "$BG_MODERN_IMAGE" >/dev/null 2>&1; then
    add_modern_nginx "$root"
    # The hosts run the image: one made before compose was needed is made again (start_modern then
    # re-creates the hosts, whose label names the image they were made from).
    add_modern_compose "$root" || return 0
  fi
  if [ ! -x "$root/usr/sbin/dockerd" ]; then
    command -v debootstrap >/dev/null 2>&1 || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
    log "modern hosts: debootstrap of Debian sid (Docker 28, containerd image store)"
    rm -rf "$root.tmp"
    debootstrap --variant=minbase sid "$root.tmp" >"$BG_STATE/debootstrap.log" 2>&1 || { tail -n 20 "$BG_STATE/debootstrap.log" >&2; die "debootstrap of sid failed"; }
    # The mirror's snapshot of sid can be older than the clock.
    echo 'Acquire::Check-Valid-Until "false";' >"$root.tmp/etc/apt/apt.conf.d/99bluegreen-test"
    printf '#!/bin/sh\nexit 101\n' >"$root.tmp/usr/sbin/policy-rc.d"
    chmod +x "$root.tmp/usr/sbin/policy-rc.d"
    # docker.io only recommends docker-cli; buildx makes builds store compressed layers, as on a runner.
    chroot "$root.tmp" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        docker.io docker-cli docker-buildx docker-compose containerd openssh-server iproute2 procps util-linux gzip nginx-light >/var/log/bg-install.log 2>&1 && apt-get clean' ||
      { tail -n 20 "$root.tmp/var/log/bg-install.log" >&2; die "installing Docker into the sid root filesystem failed"; }
    rm -rf "$root.tmp/var/lib/apt/lists"/* "$root.tmp/usr/share/doc" "$root.tmp/usr/share/man" "$root.tmp/usr/share/locale"
    rm -rf "$root"
    mv "$root.tmp" "$root"
  fi
  log "modern hosts: importing the root filesystem as $BG_MODERN_IMAGE"
  tar -C "$root" -c . | docker import - "$BG_MODERN_IMAGE" >/dev/null
}

# Node 24 (sid's nodejs, the runtime action.yml names: using: node24), for the end-to-end tests to
# run the bundle under. Installed into the sid root filesystem after its import as the hosts' image
# (the hosts do not need it) and run from there with sid's own loader and libraries, on this
# machine's files: $BG_STATE/node24 is the command.
install_node24() {
  local root=$BG_STATE/modern-rootfs node=$BG_STATE/node24 lib
  lib=$root/usr/lib/x86_64-linux-gnu
  [ -x "$root/usr/bin/node" ] || install_into_sid "$root" nodejs
  # Debian's node loads some of its own modules (undici, acorn, ...) from /usr/share/nodejs: sid's
  # are mounted there in a mount namespace of the command's own (the host's stay as they are).
  mkdir -p /usr/share/nodejs
  # bash, not sh, before node: dash drops variables such as INPUT_SSH-KEY from the
  # environment, and the runner passes inputs so.
  cat >"$node.tmp" <<SH
#!/bin/bash
# sid's Node 24 on this machine's files (written by test/server/up.sh).
exec unshare --mount --propagation private bash -c 'mount --bind "\$0" /usr/share/nodejs && exec "\$@"' \\
  "$root/usr/share/nodejs" "$lib/ld-linux-x86-64.so.2" --library-path "$lib" "$root/usr/bin/node" "\$@"
SH
  chmod 755 "$node.tmp"
  mv -f "$node.tmp" "$node"
  local version
  version=$(env 'INPUT_SSH-KEY=kept' "$node" -e 'fetch; console.log(process.env["INPUT_SSH-KEY"] === "kept" ? process.version : "without its INPUT_ variables")' 2>&1) ||
    die "node 24 does not start: $version"
  case $version in v24.*) log "node 24: $version ($node)" ;; *) die "sid's nodejs is $version, not 24.x" ;; esac
}

modern_docker() { # modern_docker ROLE ARGS...: docker against a modern host's daemon
  local role=$1; shift
  DOCKER_HOST=unix://$BG_RUN/modern-$role/docker.sock docker "$@"
}

start_modern() { # start_modern ROLE NAME [docker run options...]
  local role=$1 name=$2; shift 2
  mkdir -p "$BG_RUN/modern-$role"
  # A host made with other options (an older version of this script) is made again.
  local made_with
  made_with=$(printf '%s ' "$@" "$(docker image inspect -f '{{.Id}}' "$BG_MODERN_IMAGE")" | sha256sum | cut -c1-16)
  if docker container inspect "$name" >/dev/null 2>&1 &&
    [ "$(docker container inspect -f '{{index .Config.Labels "bluegreen-test.options"}}' "$name")" != "$made_with" ]; then
    log "modern $role: re-creating container $name (its options changed)"
    docker rm -f -v "$name" >/dev/null
  fi
  if modern_docker "$role" info >/dev/null 2>&1; then log "modern $role: already running"; return; fi
  if docker container inspect "$name" >/dev/null 2>&1; then
    log "modern $role: starting container $name"
    docker start "$name" >/dev/null
  else
    log "modern $role: creating container $name"
    # What a nested dockerd needs; its data lives in volumes (overlayfs cannot nest on overlay).
    docker run -d --name "$name" --hostname "$name" \
      --cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined \
      --security-opt apparmor=unconfined --security-opt label=disable \
      --security-opt systempaths=unconfined --device-cgroup-rule 'a *:* rwm' \
      -v /var/lib/docker -v /var/lib/containerd \
      -v "$here/modern-init.sh:/bg/init.sh:ro" -v "$BG_STATE/keys:/bg/keys:ro" \
      -v "$BG_RUN/modern-$role:/bg/sock" -e "BG_USER=$BG_USER" --label "bluegreen-test.options=$made_with" \
      "$@" "$BG_MODERN_IMAGE" bash /bg/init.sh "$role" >/dev/null
  fi
  local end=$((SECONDS + 90))
  until modern_docker "$role" info >/dev/null 2>&1; do
    if [ "$(docker container inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" != true ] || [ $SECONDS -ge $end ]; then
      docker logs --tail 20 "$name" >&2 || true
      die "modern $role ($name) did not come up"
    fi
    sleep 0.5
  done
  [ "$(modern_docker "$role" info --format '{{.DriverStatus}}')" = '[[driver-type io.containerd.snapshotter.v1]]' ] ||
    die "modern $role does not use the containerd image store"
}

start_modern_hosts() {
  build_modern_image
  mkdir -p "$BG_STATE/modern-home"
  start_modern server "$BG_MODERN_SERVER" -v "$BG_STATE/modern-home:/home" \
    -p "127.0.0.1:$BG_MODERN_SSH_PORT:22" -p "127.0.0.1:$BG_MODERN_PROXY_PORT:$BG_MODERN_PROXY_PORT" \
    -p "127.0.0.1:$BG_MODERN_HTTPS_PORT:$BG_MODERN_HTTPS_PORT"
  start_modern runner "$BG_MODERN_RUNNER" -v "$BG_STATE/build:/bg/build:ro"
  # A third server (several hosts, issue 13): like the modern server, with its own home and ports.
  mkdir -p "$BG_STATE/modern2-home"
  start_modern server2 "$BG_MODERN2_SERVER" -v "$BG_STATE/modern2-home:/home" \
    -p "127.0.0.1:$BG_MODERN2_SSH_PORT:22" -p "127.0.0.1:$BG_MODERN2_PROXY_PORT:$BG_MODERN2_PROXY_PORT"
  build_lego_image
  load_into_remote "$BG_LEGO_IMAGE"
  load_into_remote "$BG_PEBBLE_IMAGE"
  wait_for 30 "modern server's sshd" /dev/null "" bash -c "ssh-keyscan -T 2 -p $BG_MODERN_SSH_PORT 127.0.0.1 2>/dev/null | grep -q ed25519"
  { printf '[127.0.0.1]:%s ' "$BG_MODERN_SSH_PORT"; cut -d' ' -f1,2 "$BG_STATE/keys/host_ed25519.pub"; } >"$BG_STATE/keys/known_hosts_modern"
  wait_for 30 "third server's sshd" /dev/null "" bash -c "ssh-keyscan -T 2 -p $BG_MODERN2_SSH_PORT 127.0.0.1 2>/dev/null | grep -q ed25519"
  { printf '[127.0.0.1]:%s ' "$BG_MODERN2_SSH_PORT"; cut -d' ' -f1,2 "$BG_STATE/keys/host_ed25519.pub"; } >"$BG_STATE/keys/known_hosts_modern2"

  # The proxy image (sid's nginx), as the server would have pulled it; the ACME test parts too.
  build_proxy_image "$BG_MODERN_PROXY_IMAGE" "$BG_STATE/modern-rootfs"
  load_into_modern server "$BG_MODERN_PROXY_IMAGE"
  load_into_modern server "$BG_LEGO_IMAGE"
  load_into_modern server "$BG_PEBBLE_IMAGE"
  load_into_modern server2 "$BG_MODERN_PROXY_IMAGE"
  # The modern runner builds its own app images with BuildKit, which stores their layers compressed.
  local v
  docker exec "$BG_MODERN_RUNNER" docker build -q -t bluegreen-test/busybox:1 /bg/build/base >>"$BG_RUN/build.log" 2>&1 ||
    { tail -n 20 "$BG_RUN/build.log" >&2; die "docker build on the modern runner failed"; }
  for v in 1 2 3; do
    docker exec "$BG_MODERN_RUNNER" docker build -q -t "$BG_APP_IMAGE:v$v" -f "/bg/build/app/Dockerfile.v$v" /bg/build/app >>"$BG_RUN/build.log" 2>&1 ||
      { tail -n 20 "$BG_RUN/build.log" >&2; die "docker build on the modern runner failed"; }
  done
  modern_docker server run --rm "$BG_MODERN_PROXY_IMAGE" true >/dev/null 2>&1 || die "the modern server cannot run a container"
  log "modern hosts: server on 127.0.0.1:$BG_MODERN_SSH_PORT, runner at unix://$BG_RUN/modern-runner/docker.sock"
}

# Compose v2 for the classic server's deploy user: sid's docker-compose binary (it runs on Debian 12)
# as a CLI plugin in the user's own ~/.docker/cli-plugins, beside Debian 12's Docker 20.10.
install_classic_compose() {
  local plugin=$BG_STATE/modern-rootfs/usr/libexec/docker/cli-plugins/docker-compose
  local dest=/home/$BG_USER/.docker/cli-plugins/docker-compose
  cmp -s "$plugin" "$dest" && return 0
  log "classic server: Compose v2 (sid's docker-compose) for $BG_USER"
  install -D -o "$BG_USER" -g "$BG_USER" -m 755 "$plugin" "$dest"
}

write_env() {
  cat >"$BG_RUN/env" <<ENV
BG_HOST=127.0.0.1
BG_SSH_PORT=$BG_SSH_PORT
BG_USER=$BG_USER
BG_NOBASH_USER=$BG_NOBASH_USER
BG_KEY=$BG_STATE/keys/client_ed25519
BG_KEY_RSA_PEM=$BG_STATE/keys/client_rsa_pem
BG_KEY_ECDSA_PASS=$BG_STATE/keys/client_ecdsa_pass
BG_KEY_ECDSA_PASSPHRASE='correct horse'
BG_KEY_UNAUTHORIZED=$BG_STATE/keys/other_ed25519
BG_JUMP_PORT=$BG_JUMP_PORT
BG_JUMP_KNOWN_HOSTS=$BG_STATE/keys/known_hosts_jump
BG_KNOWN_HOSTS=$BG_STATE/keys/known_hosts
BG_FAKE_HOST_PUB=$BG_STATE/keys/fake_host_ed25519.pub
BG_REMOTE_DOCKER_HOST=unix://$BG_REMOTE_SOCK
BG_PROXY_IMAGE=$BG_PROXY_IMAGE
BG_PROXY_PORT=$BG_PROXY_PORT
BG_APP_IMAGE=$BG_APP_IMAGE
BG_MODERN_SSH_PORT=$BG_MODERN_SSH_PORT
BG_MODERN_PROXY_PORT=$BG_MODERN_PROXY_PORT
BG_MODERN_HTTPS_PORT=$BG_MODERN_HTTPS_PORT
BG_MODERN_KNOWN_HOSTS=$BG_STATE/keys/known_hosts_modern
BG_MODERN_PROXY_IMAGE=$BG_MODERN_PROXY_IMAGE
BG_MODERN_SERVER_DOCKER_HOST=unix://$BG_RUN/modern-server/docker.sock
BG_MODERN_RUNNER_DOCKER_HOST=unix://$BG_RUN/modern-runner/docker.sock
BG_NODE24=$BG_STATE/node24
BG_MODERN_SERVER_CONTAINER=$BG_MODERN_SERVER
BG_MODERN2_SERVER_CONTAINER=$BG_MODERN2_SERVER
BG_MODERN2_SSH_PORT=$BG_MODERN2_SSH_PORT
BG_MODERN2_PROXY_PORT=$BG_MODERN2_PROXY_PORT
BG_MODERN2_KNOWN_HOSTS=$BG_STATE/keys/known_hosts_modern2
BG_MODERN2_SERVER_DOCKER_HOST=unix://$BG_RUN/modern-server2/docker.sock
BG_MODERN2_HOME=$BG_STATE/modern2-home/$BG_USER
BG_MODERN_HOME=$BG_STATE/modern-home/$BG_USER
BG_LEGO_IMAGE=$BG_LEGO_IMAGE
BG_PEBBLE_IMAGE=$BG_PEBBLE_IMAGE
BG_PEBBLE_API_CA=$BG_STATE/pebble-api.pem
ENV
}

install_packages
start_local_docker
start_remote_docker
setup_user_and_keys
start_sshd
build_images
# --classic: only the classic server (a test that restarted its daemon brings it back so), leaving
# the modern hosts alone: the other lane's tests may be restarting them at that moment.
if [ "${1:-}" = --classic ]; then
  log "classic server ready (--classic: the other parts left as they are)"
  exit 0
fi
start_modern_hosts
# PostgreSQL and Redis images on the local daemon (the runner), for the compose engine's tests.
bash "$here/accessories.sh"
install_classic_compose
start_jump_sshd
install_node24
write_env
log "ready: ssh -i $BG_STATE/keys/client_ed25519 -p $BG_SSH_PORT $BG_USER@127.0.0.1 (details in $BG_RUN/env)"
