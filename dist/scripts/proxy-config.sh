# The app's config in the proxy: rendered, written whole, tested by nginx -t, reloaded gracefully, and
# put back when nginx refuses it; and the catch-all server for host names no app has.
# shellcheck shell=bash

# The container's name is resolved when a request comes (Docker's DNS, through a variable), not when
# nginx loads its config: a container that is gone costs only its own app a 502, and never keeps
# nginx from starting or reloading for every other app.
#
# No keep-alive to the app, on purpose. nginx 1.27.3+ can keep connections through an upstream that
# resolves its name at run time (`server NAME resolve; keepalive`), tried on nginx 1.30: a container
# removed by hand then left requests hanging on its dead kept-alive connections until proxy-timeout,
# and a failed lookup (an offline server's DNS) kept its old address, which a new container of another
# app could take. A new upstream also starts empty after a reload (6 of 6,000 requests got 502 over 60
# switches). A connection per request on the Docker network costs well under a millisecond.

# The app's name as part of an nginx name: '_' '-' '.' become '__' '_h' '_d', so two apps never share one.
nginx_id() {
  local id=${BG_APP//_/__}
  id=${id//-/_h}
  printf '%s' "${id//./_d}"
}

# The app's config: its route lines (which host names and path it serves, read back by
# route_table), its maps and its long-lived hop. Its locations are render_app_routes', and the server
# blocks that include them render_hosts_conf's, one per host name for every app.
render_proxy_config() { # render_proxy_config SLOT CONTAINER (none and '': the app has no live slot yet)
  local slot=$1 container=$2 tls=0
  if [[ $slot == none ]]; then slot='' container=''; fi
  if tls_ready; then tls=1; fi
  local id trusted='' range
  id=$(nginx_id)
  for range in "${BG_TRUSTED_PROXIES[@]}"; do trusted+="    $range 1;"$'\n'; done
  local hop port
  hop=$(hop_base)
  port=$(hop_port "$slot" "$hop")
  printf '# bluegreen: app=%s slot=%s container=%s\n# bluegreen-hop-ports: %s\n' "$BG_APP" "$slot" "$container" "$hop"
  render_route_lines "$tls"
  cat <<CONF
# X-Forwarded-For and -Proto are believed only from the front proxies the user named.
geo \$remote_addr \$bluegreen_trusted_$id {
    default 0;
$trusted}
map "\$bluegreen_trusted_$id:\$http_x_forwarded_proto" \$bluegreen_proto_$id {
    default \$scheme;
    "~^1:(?<proto>https?)\$" \$proto;
}
map \$bluegreen_trusted_$id \$bluegreen_for_$id {
    1 \$proxy_add_x_forwarded_for;
    default \$remote_addr;
}
# An upgrade (WebSocket) passes on; any other request is the connection's only one.
map \$http_upgrade \$bluegreen_connection_$id {
    default upgrade;
    "" close;
}
# Long-lived requests (a WebSocket, server-sent events) go through a loopback hop of their own, so
# the drain after a switch can tell them from requests that end by themselves (drain-long-lived).
map "\$http_upgrade|\$http_accept" \$bluegreen_longlived_$id {
    default 0;
    "~^[^|]+[|]" 1;
    "~text/event-stream" 1;
}
CONF
  if [[ -n $container ]]; then render_hop_server "$port" "$container"; fi
  if [[ -n $CANARY_SLOT && -n $container ]]; then render_canary_maps "$container" "$(engine_upstream "$CANARY_SLOT")"; fi
  if ((tls)) && [[ $BG_TLS_REDIRECT == 1 ]]; then
    cat <<CONF
# Plain HTTP goes to HTTPS, except the proxy's own checks (from 127.0.0.1) and requests a trusted
# front proxy already received over HTTPS.
map "\$remote_addr:\$bluegreen_proto_$id" \$bluegreen_redirect_$id {
    default 1;
    "~^127\\.0\\.0\\.1:" 0;
    "~:https\$" 0;
}
CONF
  fi
}

# The app's locations (ROUTE_FILE), included in the server block of each host name it serves, on 80
# and 443 alike (the redirect to HTTPS leaves requests that came over HTTPS alone).
render_app_routes() { # render_app_routes SLOT CONTAINER
  local slot=$1 container=$2 tls=0 redirect=0 port
  if [[ $slot == none ]]; then slot='' container=''; fi
  if tls_ready; then tls=1; fi
  if ((tls)) && [[ $BG_TLS_REDIRECT == 1 ]]; then redirect=1; fi
  port=$(hop_port "$slot")
  printf '# bluegreen: the locations of %s (path-prefix %s)\n' "$BG_APP" "$BG_PATH_PREFIX"
  local location
  while IFS= read -r location; do
    printf '%s {\n' "$location"
    render_app_location_body "$container" "$redirect" "$port"
    printf '}\n'
  done < <(prefix_locations)
  if in_maintenance; then
    cat <<CONF
# In maintenance (command maintenance, until command live): every request gets the page, with 503.
location = /__bluegreen/maintenance/$BG_APP {
    internal;
    default_type text/html;
    charset utf-8;
    add_header Retry-After 120 always;
    add_header Cache-Control no-store always;
    alias $CONF_MOUNT/$BG_APP.maintenance.html;
}
CONF
  fi
  cat <<CONF
# Which app and slot this host name routes to, for the check after a reload; only from inside the proxy.
location = /__bluegreen/slot/$BG_APP {
    if (\$remote_addr != "127.0.0.1") {
        return 404;
    }
    return 200 "$BG_APP $slot\\n";
}
CONF
}

# The location lines for path-prefix: / is every path; /api is /api itself and everything under
# /api/ (never /apix). nginx picks the longest prefix among every app's on a host name.
prefix_locations() {
  if [[ $BG_PATH_PREFIX == / ]]; then
    printf 'location /\n'
  else
    printf 'location = %s\nlocation %s/\n' "$BG_PATH_PREFIX" "$BG_PATH_PREFIX"
  fi
}

render_app_location_body() { # render_app_location_body CONTAINER REDIRECT HOP_PORT
  local container=$1 id
  id=$(nginx_id)
  printf '    client_max_body_size %s;\n' "$BG_MAX_BODY_SIZE"
  if (($2)); then
    cat <<CONF
    if (\$bluegreen_redirect_$id) {
        return 308 https://\$host\$request_uri;
    }
CONF
  fi
  if in_maintenance; then
    printf '    error_page 503 /__bluegreen/maintenance/%s;\n    return 503;\n' "$BG_APP"
    return 0
  fi
  if [[ -z $container ]]; then
    printf '    return 503 "no version of %s is live yet\\n";\n' "$BG_APP"
    return 0
  fi
  receipt_location
  if [[ -n $CANARY_SLOT ]]; then
    printf '    set $bluegreen_upstream $bluegreen_pick_%s;\n    add_header Set-Cookie $bluegreen_canary_cookie_%s always;\n' "$id" "$id"
  else
    printf '    set $bluegreen_upstream %s:%s;\n' "$container" "$BG_CONTAINER_PORT"
  fi
  cat <<CONF
    proxy_pass http://\$bluegreen_upstream;
    if (\$bluegreen_longlived_$id) {
        proxy_pass http://127.0.0.1:$3;
    }
    proxy_http_version 1.1;
    proxy_set_header Upgrade \$http_upgrade;
    proxy_set_header Connection \$bluegreen_connection_$id;
    proxy_set_header X-Forwarded-Host \$host;
    proxy_read_timeout ${BG_PROXY_TIMEOUT}s;
    proxy_send_timeout ${BG_PROXY_TIMEOUT}s;
    proxy_buffering $BG_PROXY_BUFFERING;
    # Request bodies stream to the app as they arrive: an upload in flight at a switch is then a
    # connection to the old container, which the drain waits for. Buffered, nginx would connect
    # only once the whole body was in, to a container stopped meanwhile (502).
    proxy_request_buffering off;
    proxy_set_header Host \$host;
    proxy_set_header X-Real-IP \$remote_addr;
    proxy_set_header X-Forwarded-For \$bluegreen_for_$id;
    proxy_set_header X-Forwarded-Proto \$bluegreen_proto_$id;
CONF
  if ((BG_STRIP_PREFIX)) && [[ $BG_PATH_PREFIX != / ]]; then
    # Last: a rewrite with break ends the rewrite directives (set, if) of the location.
    printf '    proxy_set_header X-Forwarded-Prefix %s;\n' "$BG_PATH_PREFIX"
    printf '    rewrite ^%s/?(.*)$ /$1 break;\n' "${BG_PATH_PREFIX//./\\.}"
  fi
}

# canonical-host: the app's other host names answer a permanent redirect to it under its path-prefix
# (REDIRECT_FILE; nothing when canonical-host is not set).
render_app_redirects() {
  [[ -n $BG_CANONICAL_HOST ]] || return 0
  local scheme=http location
  if tls_ready; then scheme=https; fi
  printf '# bluegreen: the redirects of %s to canonical-host %s\n' "$BG_APP" "$BG_CANONICAL_HOST"
  while IFS= read -r location; do
    printf '%s {\n    return 308 %s://%s$request_uri;\n}\n' "$location" "$scheme" "$BG_CANONICAL_HOST"
  done < <(prefix_locations)
}

# The app's two loopback ports for long-lived requests (BASE for blue, BASE+1 for green): kept in its
# config once chosen, from a hash of its name, the next free pair when another app has that one.
hop_base() {
  local base taken
  base=$(sed -n '2s/^# bluegreen-hop-ports: \([0-9][0-9]*\)$/\1/p' "$CONF_FILE" 2>/dev/null || true)
  if [[ -n $base ]]; then
    printf '%s' "$base"
    return 0
  fi
  base=$((30000 + ($(cksum <<<"$BG_APP" | cut -d' ' -f1) % 14000) * 2))
  taken=$(grep -hs '^# bluegreen-hop-ports: ' "$CONF_DIR"/*.conf | sed 's/^.*: //' || true)
  while grep -qxF "$base" <<<"$taken"; do base=$((base + 2 < 58000 ? base + 2 : 30000)); done
  printf '%s' "$base"
}

hop_port() { # hop_port SLOT [BASE]
  local base=${2:-}
  [[ -n $base ]] || base=$(hop_base)
  if [[ $1 == green ]]; then printf '%s' "$((base + 1))"; else printf '%s' "$base"; fi
}

render_hop_server() { # render_hop_server PORT CONTAINER: the second half of a long-lived request's way
  local id
  id=$(nginx_id)
  cat <<CONF
server {
    listen 127.0.0.1:$1;
    resolver 127.0.0.11 valid=1s ipv6=off;
    resolver_timeout 2s;
    proxy_connect_timeout 5s;
    client_max_body_size $BG_MAX_BODY_SIZE;
    location / {
        set \$bluegreen_upstream $2:$BG_CONTAINER_PORT;
        proxy_pass http://\$bluegreen_upstream;
        proxy_http_version 1.1;
        proxy_set_header Host \$host;
        proxy_set_header Upgrade \$http_upgrade;
        proxy_set_header Connection \$bluegreen_connection_$id;
        proxy_read_timeout ${BG_PROXY_TIMEOUT}s;
        proxy_send_timeout ${BG_PROXY_TIMEOUT}s;
        proxy_buffering $BG_PROXY_BUFFERING;
        proxy_request_buffering off;
    }
}
CONF
}

OLD_WORKERS='' # the previous config's nginx workers after the last reload (drain_previous waits for them)

# A function here that can fail returns non-zero and puts its message in the variable its caller
# names (set with printf -v): no message travels in a global.
proxy_test_and_reload() { # proxy_test_and_reload [WHY_VARIABLE]: 1 when nginx refuses the config; sets OLD_WORKERS
  local out
  # One call for both nginx -t and the graceful reload (proxy/reload.sh), which waits for the previous
  # config's workers to stop accepting and prints their PIDs. Nothing of it may reach this script's
  # stderr: once the runner is gone (a cancelled job) that is a closed channel, and docker exec would fail on writing there (a process that vanished during the
  # /proc scan made the shell complain, and a cancelled deploy's switch was undone).
  if ! out=$(proxy_sh "$BG_PROXY_RELOAD_SH" "$TLS_MOUNT" "$PAIRS_DIR"); then
    warn_unloadable_pairs "$out"
    if [[ -n ${1:-} ]]; then printf -v "$1" '%s' "$(printf '%s\n' "$out" | grep -v 'test failed' | sed 's/^nginx: //' | tail -n 2 | tr '\n' ' ')"; fi
    return 1
  fi
  warn_unloadable_pairs "$out"
  OLD_WORKERS=$(sed -n 's/^old-workers: *//p' <<<"$out")
}

warn_unloadable_pairs() { # warn_unloadable_pairs OUTPUT (of tls-pairs.sh): each app that lost its HTTPS
  local app
  while IFS= read -r app; do
    [[ -n $app ]] || continue
    log "warning: the certificate of $app ($TLS_DIR/live/$app/pair.pem) does not load: its HTTPS handshakes are refused, every other app is served; deploy $app again to put one in place"
  done < <(sed -n 's/^unloadable //p' <<<"$1")
}

# A request for a host name no app claims, or for the bare address, is refused (444, and on 443 the
# TLS handshake), never served by whichever app's config nginx happened to read first. Only on the
# ports where no app is the default on purpose (an app without host names is the proxy's default).
DEFAULT_SERVER_TEXT='' # what the catch-all should hold, once default_server_text worked it out
default_server_text() {
  local others='' http=1 https=1
  others=$(grep -l -- 'default_server' "$CONF_DIR"/*.conf 2>/dev/null | grep -vxF "$DEFAULT_CONF" || true)
  if [[ -n $others ]]; then
    # shellcheck disable=SC2086 # file names without spaces (app names)
    grep -q 'listen 80 default_server' $others && http=0
    # shellcheck disable=SC2086
    grep -qE 'listen 443 ssl( http2)? default_server' $others && https=0
  fi
  if ((https)) && ! grep -q 'ssl_reject_handshake' "$DEFAULT_CONF" 2>/dev/null; then
    # ssl_reject_handshake (no certificate needed to refuse) came with nginx 1.19.4.
    proxy_nginx_at_least 1.19.4 || https=0
  fi
  ((http || https)) || return 0
  printf '# bluegreen: the catch-all for host names no app claims: refused\nserver {\n'
  if ((http)); then printf '    listen 80 default_server;\n'; fi
  if ((https)); then printf '    listen 443 ssl default_server;\n    ssl_reject_handshake on;\n'; fi
  printf '    server_name _;\n    return 444;\n}\n'
}

default_server_current() { # the catch-all holds what it should (sets DEFAULT_SERVER_TEXT)
  DEFAULT_SERVER_TEXT=$(default_server_text)
  if [[ -z $DEFAULT_SERVER_TEXT ]]; then [[ ! -e $DEFAULT_CONF ]]; else [[ -f $DEFAULT_CONF && $(<"$DEFAULT_CONF") == "$DEFAULT_SERVER_TEXT" ]]; fi
}

sync_default_server() { # under the proxy lock, after an app's config changed; a failure only warns
  default_server_current && return 0
  if [[ -z $DEFAULT_SERVER_TEXT ]]; then
    rm -f "$DEFAULT_CONF"
  elif ! { printf '%s\n' "$DEFAULT_SERVER_TEXT" >"$DEFAULT_CONF.new" && chmod 644 "$DEFAULT_CONF.new" && mv -f "$DEFAULT_CONF.new" "$DEFAULT_CONF"; } 2>/dev/null; then
    rm -f "$DEFAULT_CONF.new"
    log "warning: cannot write $DEFAULT_CONF (is the disk full?): unknown host names may reach an app"
  fi
  return 0
}

# The files that are the app's part of the proxy config.
app_proxy_files() { printf '%s\n' "$CONF_FILE" "$ROUTE_FILE" "$REDIRECT_FILE"; }

# TEXT to FILE whole or not at all: written to a new file, checked complete (it starts with the
# bluegreen header and ends with a closing brace), then renamed over the old one; no TEXT: nothing
# written (a file no longer wanted goes once the server blocks no longer include it: drop_unused_route_files).
put_proxy_file() { # put_proxy_file FILE TEXT
  [[ -n $2 ]] || return 0
  [[ ${2:0:12} == '# bluegreen:' && ${2: -1} == '}' ]] || return 1
  { printf '%s\n' "$2" >"$1.new" && chmod 644 "$1.new" && mv -f "$1.new" "$1"; } 2>/dev/null || {
    rm -f "$1.new"
    return 1
  }
}

# Writes the app's files for SLOT (the server blocks follow from them: sync_hosts_conf): as
# prepare_proxy_texts rendered them when nothing they depend on changed since, else rendered now.
write_proxy_config() { # write_proxy_config SLOT (none: the app has no live slot yet)
  local upstream text key
  if [[ ! -d $ROUTES_DIR ]]; then mkdir -p "$ROUTES_DIR" && chmod 755 "$ROUTES_DIR" || return 1; fi
  proxy_texts_key "$1" key
  if [[ -n $PREPARED_PROXY_KEY && $key == "$PREPARED_PROXY_KEY" ]]; then
    put_proxy_file "$ROUTE_FILE" "$PREPARED_ROUTES" && put_proxy_file "$REDIRECT_FILE" "$PREPARED_REDIRECTS" &&
      put_proxy_file "$CONF_FILE" "$PREPARED_CONF" || return 1
    return 0
  fi
  upstream=$(engine_upstream "$1")
  text=$(render_app_routes "$1" "$upstream") && put_proxy_file "$ROUTE_FILE" "$text" || return 1
  text=$(render_app_redirects) && put_proxy_file "$REDIRECT_FILE" "$text" || return 1
  text=$(render_proxy_config "$1" "$upstream") && put_proxy_file "$CONF_FILE" "$text" || return 1
}

# The app's three files for SLOT rendered ahead, while the new version starts, so that the switch only
# writes them. Only once the app has its hop ports (a first deploy picks them under the proxy lock).
PREPARED_PROXY_KEY='' PREPARED_ROUTES='' PREPARED_REDIRECTS='' PREPARED_CONF=''
prepare_proxy_texts() { # prepare_proxy_texts SLOT
  local key upstream
  PREPARED_PROXY_KEY=''
  proxy_texts_key "$1" key
  [[ $key =~ \|[0-9]+$ ]] || return 0
  upstream=$(engine_upstream "$1") &&
    PREPARED_ROUTES=$(render_app_routes "$1" "$upstream") &&
    PREPARED_REDIRECTS=$(render_app_redirects) &&
    PREPARED_CONF=$(render_proxy_config "$1" "$upstream") || return 0
  PREPARED_PROXY_KEY=$key
  prepare_hosts_conf "$PREPARED_CONF"
}

# What the app's rendered files depend on besides its settings: the slot, a canary's split,
# maintenance, the certificate and the hop ports its config keeps.
proxy_texts_key() { # proxy_texts_key SLOT INTO
  local hop_line='' texts_key="$1|$CANARY_SLOT|"
  if in_maintenance; then texts_key+=maintenance; fi
  if tls_ready; then texts_key+='|tls'; fi
  if [[ -f $CONF_FILE ]]; then { read -r _ && read -r hop_line; } <"$CONF_FILE" 2>/dev/null || true; fi
  if [[ $hop_line =~ ^#\ bluegreen-hop-ports:\ ([0-9]+)$ ]]; then texts_key+="|${BASH_REMATCH[1]}"; fi
  put "$texts_key" "$2"
}

# The app's files as the proxy has them, kept aside (FILE.SUFFIX; none for a file that is not
# there) to be put back whole by restore_app_proxy_files.
save_app_proxy_files() { # save_app_proxy_files SUFFIX
  local file
  while IFS= read -r file; do
    rm -f "$file.$1"
    if [[ -f $file ]]; then cp -p "$file" "$file.$1" || return 1; fi
  done < <(app_proxy_files)
}

restore_app_proxy_files() { # restore_app_proxy_files SUFFIX
  local file
  while IFS= read -r file; do
    if [[ -f $file.$1 ]]; then mv -f "$file.$1" "$file"; else rm -f "$file"; fi
  done < <(app_proxy_files)
}

drop_saved_app_proxy_files() { # drop_saved_app_proxy_files SUFFIX
  local file
  while IFS= read -r file; do rm -f "$file.$1"; done < <(app_proxy_files)
}

# The app's files and the server blocks hold what this run would write for SLOT.
proxy_config_current() { # proxy_config_current SLOT CONTAINER
  [[ -f $CONF_FILE && $(<"$CONF_FILE") == "$(render_proxy_config "$1" "$2")" ]] || return 1
  [[ -f $ROUTE_FILE && $(<"$ROUTE_FILE") == "$(render_app_routes "$1" "$2")" ]] || return 1
  local redirects
  redirects=$(render_app_redirects)
  if [[ -z $redirects ]]; then [[ ! -e $REDIRECT_FILE ]] || return 1; else [[ -f $REDIRECT_FILE && $(<"$REDIRECT_FILE") == "$redirects" ]] || return 1; fi
  [[ -f $HOSTS_CONF && $(<"$HOSTS_CONF") == "$(render_hosts_conf "$(route_table)")" ]]
}

# After point_proxy_at: nothing when it pointed the proxy; else the run fails with the message for how
# (2: the config was not written, nginx saw nothing; 1: nginx refused it, the previous one is back).
fail_unless_pointed() { # fail_unless_pointed STATUS NOT_WRITTEN_MESSAGE REFUSED_MESSAGE
  case $1 in
    0) ;;
    2) fail "$BG_EXIT_SWITCH_UNDONE" "$2" ;;
    *) fail "$BG_EXIT_SWITCH_UNDONE" "$3" ;;
  esac
}

# Points the proxy at SLOT (or drops the app's config when SLOT is empty); puts the previous
# config back when nginx refuses the new one. One lock serialises this across apps. Returns 1 when
# nginx refused the new config (the previous one is back), 2 when it could not be written (nginx saw
# nothing); either way the message is in WHY_VARIABLE.
point_proxy_at() { # point_proxy_at SLOT WHY_VARIABLE
  local slot=$1 why_variable=$2 status=0 complaint=''
  lock_proxy
  # Called in conditions, where bash ignores set -e: every step checks its own status.
  if ! save_app_proxy_files prev; then
    drop_saved_app_proxy_files prev
    unlock_proxy
    printf -v "$why_variable" '%s' "cannot copy $CONF_FILE (is the disk full?); nothing was changed"
    return 2
  fi
  if [[ -n $slot ]]; then
    if ! write_proxy_config "$slot"; then
      restore_app_proxy_files prev
      unlock_proxy
      printf -v "$why_variable" '%s' "cannot write $CONF_FILE (is the disk full?); nothing was changed"
      return 2
    fi
  elif ! rm -f "$CONF_FILE"; then
    restore_app_proxy_files prev
    unlock_proxy
    printf -v "$why_variable" '%s' "cannot remove $CONF_FILE"
    return 2
  fi
  if ! sync_hosts_conf complaint; then
    restore_app_proxy_files prev
    unlock_proxy
    printf -v "$why_variable" '%s' "$complaint"
    return 2
  fi
  sync_default_server
  if ! proxy_test_and_reload complaint; then
    local again=''
    restore_app_proxy_files prev
    sync_hosts_conf again || log "warning: $again"
    sync_default_server
    log "nginx refused the new config: $complaint; the previous config is back"
    printf -v "$why_variable" '%s' "$complaint"
    status=1
  fi
  drop_saved_app_proxy_files prev
  drop_unused_route_files
  unlock_proxy
  return "$status"
}
