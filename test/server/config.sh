# shellcheck shell=bash disable=SC2034
# Shared settings of the throwaway test server. Sourced by up.sh, down.sh and the tests' helpers.
# Everything lives under its own paths, ports and names so it never collides with a real setup.
BG_STATE=${BG_STATE:-/var/lib/bluegreen-test}   # kept between runs: keys, image build cache
BG_RUN=${BG_RUN:-/run/bluegreen-test}           # pid files and sockets of what up.sh started
BG_SSH_PORT=${BG_SSH_PORT:-22022}
BG_PROXY_PORT=${BG_PROXY_PORT:-18080}
BG_USER=${BG_USER:-deploy}
BG_NOBASH_USER=${BG_NOBASH_USER:-deploy-nobash}
BG_REMOTE_SOCK=$BG_RUN/remote-docker.sock
BG_REMOTE_BRIDGE=bgremote0
BG_REMOTE_CIDR=10.213.0.1/24
BG_REMOTE_POOL=10.214.0.0/16
BG_REMOTE_GROUP=bgremote
BG_PROXY_IMAGE=bluegreen-test/nginx:1
BG_APP_IMAGE=bluegreen-test/app
BG_LEGO_IMAGE=bluegreen-test/lego:1      # the certificate renewer's image (sid's lego), on the remote
BG_PEBBLE_IMAGE=bluegreen-test/pebble:1  # an ACME test CA, started by the HTTPS tests on the remote
# The "modern" hosts: Docker 28 from Debian sid with the containerd image store, each a container on
# the local daemon with its own network namespace (test/server/modern-init.sh).
BG_MODERN_IMAGE=bluegreen-test/modern-docker:28
BG_MODERN_SERVER=bluegreen-test-modern-server
BG_MODERN2_SERVER=bluegreen-test-modern-server2
BG_MODERN_RUNNER=bluegreen-test-modern-runner
BG_MODERN_SSH_PORT=${BG_MODERN_SSH_PORT:-22023}
BG_MODERN_PROXY_PORT=${BG_MODERN_PROXY_PORT:-18081}
BG_MODERN_HTTPS_PORT=${BG_MODERN_HTTPS_PORT:-18444}
BG_JUMP_PORT=${BG_JUMP_PORT:-22030}
BG_MODERN2_SSH_PORT=${BG_MODERN2_SSH_PORT:-22024}
BG_MODERN2_PROXY_PORT=${BG_MODERN2_PROXY_PORT:-18082}
BG_MODERN_PROXY_IMAGE=bluegreen-test/nginx:1.30  # sid's nginx, on the modern server only
