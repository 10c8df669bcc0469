# Routes: which host names and path-prefix each app serves (its config's route lines), and the
# server blocks made from every app's routes, one per host name (_hosts.conf), each including the
# locations of every app on that name, so that nginx's longest prefix picks the app. Written under
# the proxy lock (proxy-config.sh, point_proxy_at).
# shellcheck shell=bash

# One line per host name the app answers ('_': any, the proxy's default server): NAME PREFIX KIND
# tls=0|1 acme=0|1, KIND serve (its locations) or redirect (canonical-host's other names).
render_route_lines() { # render_route_lines TLS
  local name kind acme=0
  if [[ $BG_TLS == acme ]]; then acme=1; fi
  if ((${#BG_HOSTNAMES[@]} == 0)); then
    printf '# bluegreen-route: _ %s serve tls=%s acme=%s\n' "$BG_PATH_PREFIX" "$1" "$acme"
    return 0
  fi
  for name in "${BG_HOSTNAMES[@]}"; do
    kind=serve
    if [[ -n $BG_CANONICAL_HOST && $name != "$BG_CANONICAL_HOST" ]]; then kind=redirect; fi
    printf '# bluegreen-route: %s %s %s tls=%s acme=%s\n' "$name" "$BG_PATH_PREFIX" "$kind" "$1" "$acme"
  done
}

# Every app's route lines, from the configs in CONF_DIR (an earlier version's config has none: its
# server blocks are its own until it is deployed again): NAME PREFIX KIND tls=T acme=A APP, sorted.
route_table() {
  local file app
  for file in "$CONF_DIR"/*.conf; do
    [[ -f $file && $file != "$DEFAULT_CONF" && $file != "$HOSTS_CONF" ]] || continue
    app=${file##*/}
    app=${app%.conf}
    route_rows "$app" <"$file"
  done | sort
}

route_rows() { # route_rows APP <CONFIG: its route lines as the table's rows (APP appended)
  sed -n "s|^# bluegreen-route: \\(.*\\)\$|\\1 $1|p"
}

# A host name and path two apps claim: "NAME PREFIX OTHER_APP", this app's conflict first.
route_conflict() { # route_conflict TABLE
  awk -v me="$BG_APP" '{ key = $1 " " $2; if (key in owner && owner[key] != $6) { other = (owner[key] == me) ? $6 : owner[key]; line = $1 " " $2 " " other; if (owner[key] == me || $6 == me) { print line; found = 1; exit } if (!first) first = line } owner[key] = $6 }
    END { if (!found && first) print first }' <<<"$1"
}

conflict_message() { # conflict_message CONFLICT (route_conflict's line)
  local name prefix other
  read -r name prefix other <<<"$1"
  if [[ $name == _ ]]; then
    printf 'another app (%s) is already the default server (no hostname) for path %s: give this one a hostname or another path-prefix; nothing was changed' "$other" "$prefix"
  else
    printf 'host name %s, path %s, is already served by app %s: two apps cannot serve one host name and path-prefix; nothing was changed' "$name" "$prefix" "$other"
  fi
}

# Before a deploy starts anything: a host name and path another app serves is refused here, not at
# the switch (sync_hosts_conf checks again under the proxy lock).
# check_server asks it as the run starts (ask_meanwhile taken-route).
refuse_taken_route() {
  local conflict
  answer_of taken-route conflict taken_route
  [[ -z $conflict ]] || fail "$BG_EXIT_SERVER_UNUSABLE" "$(conflict_message "$conflict")"
}

taken_route() { # route_conflict's line for this app's route lines among every other app's; nothing when none
  local table
  table=$(render_route_lines 0 | route_table_with)
  route_conflict "$table"
}

route_table_with() { # route_table_with <CONFIG: route_table with this app's rows taken from CONFIG instead of its file
  { route_table | awk -v me="$BG_APP" '$6 != me' && route_rows "$BG_APP"; } | sort
}

# The server blocks: one per host name (and '_' for the default server), each including the
# locations of every app that serves that name, so that nginx's longest prefix picks the app. HTTPS
# when an app there has its certificate; the block takes the one with the shortest path-prefix.
render_hosts_conf() { # render_hosts_conf TABLE
  [[ -n $1 ]] || return 0
  local name
  printf '# bluegreen: the server blocks, one per host name, from the route lines of each app'"'"'s config\n'
  # Before the server blocks (nginx wants a format defined before its use): the deploys' receipts.
  receipt_http_conf
  while IFS= read -r name; do
    render_host_servers "$name" "$(awk -v n="$name" '$1 == n' <<<"$1")"
  done < <(cut -d' ' -f1 <<<"$1" | sort -u)
}

render_host_servers() { # render_host_servers NAME ROUTES (the table's lines for NAME)
  local name=$1 routes=$2 default='' includes='' certificate_app
  if [[ $name == _ ]]; then default=' default_server'; fi
  includes=$(awk -v dir="$ROUTES_MOUNT" '!seen[$6 " " $3]++ { printf "    include %s/%s.%s;\n", dir, $6, ($3 == "redirect" ? "redirects" : "locations") }' <<<"$routes")
  cat <<CONF
server {
    listen 80$default;
    server_name $name;
CONF
  render_server_common "$routes"
  printf '%s\n}\n' "$includes"
  certificate_app=$(awk '$4 == "tls=1" { print length($2), $6 }' <<<"$routes" | sort -n | head -n 1 | cut -d' ' -f2)
  [[ -n $certificate_app ]] || return 0
  render_tls_server "$default" "$name" "$certificate_app"
  render_server_common "$routes"
  printf '%s\n}\n' "$includes"
}

render_server_common() { # render_server_common ROUTES: what every server block has before its locations
  cat <<CONF
    # Docker's DNS forwards a name it does not know (a container that is gone) to the host's
    # resolvers: an offline server never answers, so give up after 2 s (502) instead of 30.
    resolver 127.0.0.11 valid=1s ipv6=off;
    resolver_timeout 2s;
    # A container on the same network answers a connect in microseconds; the address of one that
    # is gone may hang, so do not wait long for it.
    proxy_connect_timeout 5s;
CONF
  grep -q ' acme=1 ' <<<"$1" || return 0
  cat <<CONF
    location ^~ /.well-known/acme-challenge/ {
        root $TLS_MOUNT/challenges;
        default_type text/plain;
    }
CONF
}

render_tls_server() { # render_tls_server DEFAULT NAMES APP: a 443 server block's head with APP's certificate, up to its locations
  local listen="listen 443 ssl$1;" http2=$'http2 on;\n    '
  if ((!HTTP2_DIRECTIVE)); then listen="listen 443 ssl http2$1;" http2=''; fi
  cat <<CONF
server {
    $listen
    ${http2}server_name $2;
    # The certificate pair, or a refused handshake when it does not load (tls-pairs.sh).
    include $PAIRS_DIR/$3.conf;
    # Mozilla's "intermediate" settings.
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;
    ssl_prefer_server_ciphers off;
    ssl_session_cache shared:bluegreen_tls:10m;
    ssl_session_timeout 1d;
    ssl_session_tickets off;
CONF
}

# The server blocks as every app's route lines make them, under the proxy lock. 1 when two apps
# claim one host name and path (nothing written), or the file cannot be written; the message in
# WHY_VARIABLE.
sync_hosts_conf() { # sync_hosts_conf WHY_VARIABLE
  local table conflict text key current=''
  route_lines_key key
  if [[ -n $PREPARED_HOSTS_KEY && $key == "$PREPARED_HOSTS_KEY" ]]; then
    conflict=$PREPARED_HOSTS_CONFLICT text=$PREPARED_HOSTS_TEXT
  else
    table=$(route_table)
    conflict=$(route_conflict "$table")
    text=''
    if [[ -z $conflict ]]; then text=$(render_hosts_conf "$table"); fi
  fi
  if [[ -n $conflict ]]; then
    printf -v "$1" '%s' "$(conflict_message "$conflict")"
    return 1
  fi
  if [[ -z $text ]]; then
    rm -f "$HOSTS_CONF"
    return 0
  fi
  if [[ -f $HOSTS_CONF ]]; then read_file "$HOSTS_CONF" current; fi
  [[ $current == "$text" ]] && return 0
  put_proxy_file "$HOSTS_CONF" "$text" || {
    printf -v "$1" '%s' "cannot write $HOSTS_CONF (is the disk full?); nothing was changed"
    return 1
  }
}

# Every app's route lines as its config has them (with TEXT: this app's as in TEXT, the config about
# to be written), without a process: what the server blocks follow from, to compare, not to parse.
route_lines_key() { # route_lines_key INTO [TEXT]
  local file lines_key=''
  for file in "$CONF_DIR"/*.conf; do
    [[ -f $file && $file != "$DEFAULT_CONF" && $file != "$HOSTS_CONF" ]] || continue
    lines_key+="@${file##*/}"$'\n'
    if [[ -n ${2:-} && $file == "$CONF_FILE" ]]; then
      route_lines_of lines_key <<<"$2"
    else
      route_lines_of lines_key <"$file"
    fi
  done
  put "$lines_key" "$1"
}

route_lines_of() { # route_lines_of INTO <CONFIG: its route lines appended to INTO
  local line
  while IFS= read -r line; do
    if [[ $line == '# bluegreen-route: '* ]]; then printf -v "$1" '%s%s\n' "${!1}" "$line"; fi
  done
}

# The server blocks as they will be once this app's config TEXT is written, worked out while the new
# version starts; sync_hosts_conf takes them when no app's route lines changed since.
PREPARED_HOSTS_KEY='' PREPARED_HOSTS_CONFLICT='' PREPARED_HOSTS_TEXT=''
prepare_hosts_conf() { # prepare_hosts_conf TEXT
  local table
  PREPARED_HOSTS_KEY=''
  table=$(route_table_with <<<"$1") || return 0
  PREPARED_HOSTS_CONFLICT=$(route_conflict "$table") || return 0
  PREPARED_HOSTS_TEXT=''
  if [[ -z $PREPARED_HOSTS_CONFLICT ]]; then PREPARED_HOSTS_TEXT=$(render_hosts_conf "$table") || return 0; fi
  route_lines_key PREPARED_HOSTS_KEY "$1"
}

# The server blocks include the app's locations files: they go only once _hosts.conf no longer
# names them (a proxy that restarts in between would not start with an include that is missing).
drop_unused_route_files() {
  local file
  for file in "$ROUTE_FILE" "$REDIRECT_FILE"; do
    grep -qF "include $ROUTES_MOUNT/${file##*/};" "$HOSTS_CONF" 2>/dev/null || rm -f "$file"
  done
}
