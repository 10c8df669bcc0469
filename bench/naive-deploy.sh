#!/usr/bin/env bash
# The hand-written deploy of the original article, for comparison (bench/deploy.ts runs it on the
# test server): start the new container, poll until it answers, point nginx at it, reload, and
# remove the old container at once. Usage (on the server): naive-deploy.sh APP IMAGE CONF_DIR
set -euo pipefail
app=$1 image=$2 conf_dir=$3
current=$(sed -n 's/.*slot=\([a-z]*\).*/\1/p' "$conf_dir/$app.conf" | head -n 1)
if [ "$current" = blue ]; then next=green; else next=blue; fi
docker rm -f "$app-$next" >/dev/null 2>&1 || true
docker run -d --name "$app-$next" --network bluegreen "$image" >/dev/null
until docker exec bluegreen-proxy wget -q -O /dev/null "http://$app-$next:8080/" 2>/dev/null; do sleep 0.5; done
# The app's config and its locations (where the action keeps the upstream since path-prefix), as a
# hand-written script would edit the files it finds.
sed -i "s/$app-$current/$app-$next/g; s/slot=$current/slot=$next/" "$conf_dir/$app.conf" "$conf_dir/routes/$app.locations"
docker exec bluegreen-proxy nginx -s reload 2>/dev/null
docker rm -f "$app-$current" >/dev/null
echo "switched $current -> $next"
