# The one nginx container every app on this server shares: made, checked, replaced when its setup
# changed; and the server checks and locks that come before anything changes.
# shellcheck shell=bash

lock_proxy() { # one proxy for all apps: creating it and changing its config are serialised
  exec 8>>"$STATE_DIR/proxy.lock"
  flock -w 60 8 || fail "$BG_EXIT_SERVER_UNUSABLE" "the proxy lock ($STATE_DIR/proxy.lock) stayed busy for 60s"
}

unlock_proxy() { flock -u 8; }

ensure_network_and_proxy() {
  local facts
  if ! has_web; then # workers only: the network, no proxy
    engine_network ''
    return 0
  fi
  lock_proxy
  # The proxy runs it from the TLS directory as it starts and before every reload.
  write_if_changed "$TLS_DIR/tls-pairs.sh" "$BG_PROXY_TLS_PAIRS_SH" 644
  facts=$(proxy_facts)
  # A proxy already attached to the network proves it exists: one docker call fewer.
  engine_network "$facts"
  ensure_proxy "$facts"
  # Only a deploy has the ACME settings; other commands leave the renewer as the deploy set it up.
  if [[ $BG_TLS == acme && $BG_COMMAND == deploy ]]; then ensure_renewer; fi
  unlock_proxy
  proxy_channel_open
}

check_proxy_source() { # check_proxy_source FACTS (proxy_facts's): before anything is created, a proxy that exists must read this run's config directory
  local facts=$1
  # No such container (yet): ensure_proxy creates it reading this run's directory.
  [[ -n $facts ]] || return 0
  proxy_reads_this_state_dir "$(cut -d'|' -f2 <<<"$facts")"
}

proxy_reads_this_state_dir() { # one proxy reads one config directory: an app whose state-dir differs would switch nothing
  local source=$1
  if [[ $source != "$CONF_DIR" && $source != "$(readlink -f "$CONF_DIR" 2>/dev/null || true)" ]]; then
    fail "$BG_EXIT_SERVER_UNUSABLE" "the proxy $BG_PROXY_NAME reads its config from ${source:-nowhere}, not from this run's $CONF_DIR: give every app on this server the same state-dir (or its own proxy-name and proxy-ports)"
  fi
}

# The proxy's facts in one docker call (empty if none):
# "RUNNING|CONF_SOURCE|NETWORK NETWORK ...|PORT/tcp PORT/tcp ...|TLS_SOURCE|RELOAD_REQUEST_FILE|START_ID".
proxy_facts() {
  docker inspect -f "{{.State.Running}}|{{range .Mounts}}{{if eq .Destination \"$CONF_MOUNT\"}}{{.Source}}{{end}}{{end}}|{{range \$name, \$_ := .NetworkSettings.Networks}}{{\$name}} {{end}}|{{range \$port, \$_ := .HostConfig.PortBindings}}{{\$port}} {{end}}|{{range .Mounts}}{{if eq .Destination \"$TLS_MOUNT\"}}{{.Source}}{{end}}{{end}}|{{$(label_of reloads)}}|{{$(label_of start)}}" "$BG_PROXY_NAME" 2>/dev/null || true
}

# The proxy's PID 1 is nginx; beside it a watcher reloads nginx gracefully whenever the renewer writes
# a new number into RELOAD_REQUEST. So the renewer needs neither the Docker socket nor the proxy's
# processes, and each container comes back by itself, in any order, after a crash or a reboot (a
# container sharing another's PID namespace does not: Docker gives up when its restart races the
# other's). Started by sh, not the image's entrypoint: any nginx image with a shell works alike.
# Before nginx starts and before each of the watcher's reloads, tls-pairs.sh gives each app's 443
# block its certificate pair, or a refused handshake when the pair does not load: one app's missing
# or broken certificate never keeps nginx from starting. The command is proxy/start.sh.
# A proxy started with another command (an older version's) is replaced by a TLS deploy.
PROXY_START_ID=$(cksum <<<"$BG_PROXY_START_SH" | cut -d' ' -f1)
readonly PROXY_START_ID

proxy_run_args() { # the proxy's docker run options, its image and its command, each ended by NUL (its command has lines)
  local port
  printf '%s\0' --name "$BG_PROXY_NAME" --network "$BG_NETWORK" --restart unless-stopped --label "$LABEL.role=proxy" \
    --label "$LABEL.reloads=$RELOAD_REQUEST" --label "$LABEL.start=$PROXY_START_ID" --volume "$CONF_DIR:$CONF_MOUNT:ro" \
    --volume "$TLS_DIR:$TLS_MOUNT:ro" --tmpfs "$RECEIPT_DIR:size=${RECEIPT_CAP_MB}m,mode=0755" --entrypoint sh
  for port in "${BG_PROXY_PORTS[@]}"; do printf '%s\0' --publish "$port"; done
  printf '%s\0' "$BG_PROXY_IMAGE" -c "$BG_PROXY_START_SH" "$RELOAD_REQUEST" "$TLS_MOUNT" "$PAIRS_DIR"
}

# With TLS the proxy must publish 443 and read the certificates: one created before either (by an
# older version, or with other proxy-ports) is replaced. Docker cannot add a port to a container, so
# this is the one moment the proxy is down: from the old one's graceful stop to the new one's start.
needs_replacing() { # needs_replacing FACTS
  [[ $BG_TLS != off ]] || return 1
  [[ " $(cut -d'|' -f4 <<<"$1") " != *" 443/tcp "* || -z $(cut -d'|' -f5 <<<"$1") ]] && return 0
  # Its command must give each app's 443 block its certificate (tls-pairs.sh) before nginx starts.
  [[ $(cut -d'|' -f7 <<<"$1") == "$PROXY_START_ID" ]] || return 0
  # The renewer's certificates are put in use by the proxy's reload watcher.
  [[ $BG_TLS == acme && $(cut -d'|' -f6 <<<"$1") != "$RELOAD_REQUEST" ]]
}

replace_proxy() { # replace_proxy FACTS
  local facts=$1 old=$BG_PROXY_NAME-replaced args=() line net out
  log "re-creating the proxy $BG_PROXY_NAME to publish ${BG_PROXY_PORTS[*]} and read certificates from $TLS_DIR (once, with this version's start command)"
  while IFS= read -r -d '' line; do args+=("$line"); done < <(proxy_run_args)
  docker rename "$BG_PROXY_NAME" "$old"
  if ! out=$(docker create "${args[@]}" 2>&1); then
    docker rename "$old" "$BG_PROXY_NAME" || true
    fail "$BG_EXIT_SERVER_UNUSABLE" "cannot create the new proxy: $(docker_error "$out"); the old one still serves"
  fi
  local networks
  read -r -a networks <<<"$(cut -d'|' -f3 <<<"$facts")"
  for net in "${networks[@]}"; do
    [[ $net == "$BG_NETWORK" ]] || docker network connect "$net" "$BG_PROXY_NAME"
  done
  local stopped_at
  now_ms stopped_at
  docker stop --time 10 "$old" >/dev/null
  if ! out=$(docker start "$BG_PROXY_NAME" 2>&1); then
    docker rm --force "$BG_PROXY_NAME" >/dev/null 2>&1 || true
    if docker rename "$old" "$BG_PROXY_NAME"; then docker start "$BG_PROXY_NAME" >/dev/null || true; fi
    fail "$BG_EXIT_SERVER_UNUSABLE" "the new proxy did not start ($(docker_error "$out")); the old one is back"
  fi
  docker rm --force "$old" >/dev/null
  log "proxy replaced: its ports were closed for $(($(now_ms) - stopped_at))ms"
}

# A run killed while it replaced the proxy leaves the old one renamed: it is the proxy again.
restore_replaced_proxy() {
  docker inspect "$BG_PROXY_NAME-replaced" >/dev/null 2>&1 || return 0
  log "putting back $BG_PROXY_NAME-replaced, left by a run that was interrupted while it replaced the proxy"
  docker rm --force "$BG_PROXY_NAME" >/dev/null 2>&1 || true
  docker rename "$BG_PROXY_NAME-replaced" "$BG_PROXY_NAME"
  docker start "$BG_PROXY_NAME" >/dev/null
}

ensure_proxy() { # ensure_proxy FACTS (what proxy_facts said, under the proxy lock)
  local facts=$1 started=0
  if [[ -z $facts ]] && docker inspect "$BG_PROXY_NAME-replaced" >/dev/null 2>&1; then
    restore_replaced_proxy
    facts=$(proxy_facts)
  fi
  if [[ -z $facts ]]; then
    log "creating proxy $BG_PROXY_NAME ($BG_PROXY_IMAGE) publishing ${BG_PROXY_PORTS[*]}"
    local args=(run --detach) line out
    while IFS= read -r -d '' line; do args+=("$line"); done < <(proxy_run_args)
    out=$(docker "${args[@]}" 2>&1) || fail "$BG_EXIT_SERVER_UNUSABLE" "cannot start the proxy: $(docker_error "$out")"
    started=1
    facts=$(proxy_facts)
  elif needs_replacing "$facts"; then
    proxy_reads_this_state_dir "$(cut -d'|' -f2 <<<"$facts")"
    replace_proxy "$facts"
    started=1
    facts=$(proxy_facts)
  elif [[ ${facts%%|*} != true ]]; then
    log "starting the stopped proxy $BG_PROXY_NAME"
    docker start "$BG_PROXY_NAME" >/dev/null
    started=1
  fi
  proxy_reads_this_state_dir "$(cut -d'|' -f2 <<<"$facts")"
  if [[ " $(cut -d'|' -f3 <<<"$facts") " != *" $BG_NETWORK "* ]]; then
    log "connecting proxy $BG_PROXY_NAME to network $BG_NETWORK"
    docker network connect "$BG_NETWORK" "$BG_PROXY_NAME"
  fi
  ((started)) || return 0
  local i
  for i in $(seq 1 50); do
    [[ $(docker inspect -f '{{.State.Running}}' "$BG_PROXY_NAME") == true ]] && return 0
    sleep 0.1
  done
  fail "$BG_EXIT_SERVER_UNUSABLE" "the proxy $BG_PROXY_NAME is not running: $(docker logs --tail 5 "$BG_PROXY_NAME" 2>&1 | tr '\n' ' ')"
}

PROXY_NGINX_VERSION='' # the proxy's nginx version, asked once (proxy_nginx_at_least)
proxy_nginx_at_least() { # proxy_nginx_at_least VERSION: the proxy runs that version of nginx or a newer one
  [[ -n $PROXY_NGINX_VERSION ]] || PROXY_NGINX_VERSION=$(docker exec "$BG_PROXY_NAME" nginx -v 2>&1 | sed -n 's|.*nginx/\([0-9][0-9.]*\).*|\1|p')
  [[ -n $PROXY_NGINX_VERSION ]] && printf '%s\n%s\n' "$1" "$PROXY_NGINX_VERSION" | sort -V -C
}

detect_http2_style() {
  # "http2 on;" since nginx 1.25.1; "listen ... http2" before it (and deprecated after).
  if proxy_nginx_at_least 1.25.1; then HTTP2_DIRECTIVE=1; fi
}
