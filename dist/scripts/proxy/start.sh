#!/bin/sh
# The proxy container's command (proxy.sh, proxy_run_args): run by sh as `sh -c TEXT RELOAD_REQUEST
# TLS_MOUNT PAIRS_DIR`, so $0 is the reload request file. Before nginx starts, and before each reload
# the renewer asks for (it rewrites the reload request; a watcher looks every 2 s), tls-pairs.sh gives
# each app's 443 block its certificate pair or a refused handshake; then nginx runs in the foreground.
# One line on purpose: the proxy's label bluegreen.start is this text's checksum, and a proxy whose
# label differs is replaced (a moment without proxy); this line is the one proxies already run.
pairs() { [ ! -f "$1/tls-pairs.sh" ] || sh "$1/tls-pairs.sh" "$1" "$2"; }; pairs "$1" "$2"; seen=$(cat "$0" 2>/dev/null); (while sleep 2; do now=$(cat "$0" 2>/dev/null); [ "$now" = "$seen" ] || { seen=$now; pairs "$1" "$2"; nginx -s reload; }; done) & exec nginx -g "daemon off;"
