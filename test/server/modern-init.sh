#!/usr/bin/env bash
# Entry point of a "modern" test host: a container (Debian sid's root filesystem) that runs Docker 28
# with the containerd image store, as a fresh 2026 install does. Started by up.sh on the local daemon
# in two roles, each in its own network namespace:
#   server  also runs sshd on port 22 for user $BG_USER, whose docker is this daemon (server2: a second one)
#   runner  only the daemon, reached from the host through /bg/sock/docker.sock (DOCKER_HOST)
# Mounted read-only at /bg/init.sh; /bg/keys holds the test keys, /bg/sock the host-visible socket.
set -euo pipefail
role=${1:?role: server, server2 or runner}
log() { printf '[modern-%s] %s\n' "$role" "$*"; }

# A nested dockerd needs to write cgroups and /sys; the container sees them read-only.
mount -o remount,rw /sys 2>/dev/null || true
for hierarchy in /sys/fs/cgroup /sys/fs/cgroup/*; do
  if [ -d "$hierarchy" ]; then mount -o remount,bind,rw "$hierarchy" 2>/dev/null || true; fi
done

mkdir -p /etc/docker /bg/sock
printf '{"features":{"containerd-snapshotter":true}}\n' >/etc/docker/daemon.json
getent group docker >/dev/null || groupadd --system docker

rm -f /run/containerd/containerd.sock /var/run/docker.pid /bg/sock/docker.sock
containerd >/var/log/containerd.log 2>&1 &
for _ in $(seq 1 100); do [ -S /run/containerd/containerd.sock ] && break; sleep 0.1; done
# No iptables: this network namespace is the container's own, and docker-proxy publishes ports.
dockerd --containerd=/run/containerd/containerd.sock --group docker \
  -H unix:///var/run/docker.sock -H unix:///bg/sock/docker.sock \
  --iptables=false --ip-masq=false >/var/log/dockerd.log 2>&1 &
dockerd_pid=$!
for _ in $(seq 1 300); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
docker info --format '{{.ServerVersion}} {{.DriverStatus}}' || { tail -n 20 /var/log/dockerd.log; exit 1; }
chmod 666 /bg/sock/docker.sock

if [ "${role#server}" != "$role" ]; then # server, server2
  id "$BG_USER" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$BG_USER"
  usermod -aG docker -p '*' "$BG_USER"
  mkdir -p /run/sshd
  cat >/etc/ssh/bg_sshd_config <<CONF
Port 22
HostKey /bg/keys/host_ed25519
AuthorizedKeysFile /bg/keys/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
AllowUsers $BG_USER
UsePAM no
StrictModes no
MaxStartups 50:30:100
MaxSessions 50
CONF
  /usr/sbin/sshd -f /etc/ssh/bg_sshd_config -E /var/log/sshd.log
fi
# docker stop sends SIGTERM to this script (PID 1): pass it on so the daemon shuts down cleanly.
trap 'kill "$dockerd_pid" 2>/dev/null; wait "$dockerd_pid"; exit 0' TERM INT
log "ready"
wait "$dockerd_pid"
