# Certificates: own ones put in place, ACME ones through the renewer, and what the result says of them.
# shellcheck shell=bash

# The renewer: a lego container that renews every certificate on this server by itself and asks the
# proxy to reload (RELOAD_REQUEST); its restart policy survives reboots. Re-created when its image or
# its script changed.
ensure_renewer() {
  local want facts out
  write_if_changed "$TLS_DIR/renew.sh" "$BG_RENEW_SH" 644
  want="true $BG_ACME_IMAGE $BG_RENEW_HASH"
  facts=$(docker inspect -f "{{.State.Running}} {{.Config.Image}} {{$(label_of renewer)}}" "$ACME_NAME" 2>/dev/null || true)
  [[ $facts != "$want" ]] || return 0
  if [[ -n $facts ]]; then
    [[ $(owner_in "$(docker inspect -f "{{.Name}} {{$(label_of role)}}" "$ACME_NAME" 2>/dev/null || true)" "$ACME_NAME" || true) == acme ]] ||
      fail "$BG_EXIT_SERVER_UNUSABLE" "a container named $ACME_NAME exists that bluegreen-action did not create; rename or remove it"
    docker rm --force "$ACME_NAME" >/dev/null
  fi
  log "starting the certificate renewer $ACME_NAME ($BG_ACME_IMAGE)"
  out=$(docker run --detach --name "$ACME_NAME" --restart unless-stopped --network "$BG_NETWORK" \
    --label "$LABEL.role=acme" --label "$LABEL.renewer=$BG_RENEW_HASH" \
    --volume "$TLS_DIR:$TLS_MOUNT" --env "BG_TLS_DIR=$TLS_MOUNT" --env "BG_RELOAD_REQUEST=$RELOAD_REQUEST" --entrypoint sh \
    "$BG_ACME_IMAGE" "$TLS_MOUNT/renew.sh" loop 2>&1) ||
    fail "$BG_EXIT_SERVER_UNUSABLE" "cannot start the certificate renewer from $BG_ACME_IMAGE: $(docker_error "$out")"
}

# The app's config serves the ACME challenge (an earlier version's config has the location itself).
serves_acme_challenge() { grep -qE '^# bluegreen-route: .* acme=1$|acme-challenge' "$CONF_FILE" 2>/dev/null; }

tls_ready() { [[ $BG_TLS != off && -f $LIVE_TLS/fullchain.pem && ( -f $LIVE_TLS/pair.pem || -f $LIVE_TLS/key.pem ) ]]; }

# nginx reads the key and the chain from one file, pair.pem, so that one rename replaces both (two
# renames, key then chain, would leave a mismatched pair to a reload or a crash between them).
# key.pem and fullchain.pem stay beside it: the chain is read for reports, and configs rendered by
# an older version name both.
write_pair() { # write_pair DIR: DIR/pair.pem from DIR/key.pem and DIR/fullchain.pem
  { cat "$1/key.pem" && printf '\n' && cat "$1/fullchain.pem"; } >"$1/pair.pem.new" 2>/dev/null && chmod 600 "$1/pair.pem.new" &&
    mv -f "$1/pair.pem.new" "$1/pair.pem"
}

ensure_pair() { # a certificate put in place by an older version (no pair.pem) gets its pair
  [[ -f $LIVE_TLS/pair.pem || ! -f $LIVE_TLS/key.pem || ! -f $LIVE_TLS/fullchain.pem ]] && return 0
  write_pair "$LIVE_TLS" || fail "$BG_EXIT_SERVER_UNUSABLE" "cannot write $LIVE_TLS/pair.pem (is the disk full?); nothing was changed"
}

ensure_certificate() {
  [[ $BG_TLS != off ]] || return 0
  mkdir -p "$TLS_DIR/live"
  chmod 700 "$TLS_DIR/live"
  detect_http2_style
  if [[ $BG_COMMAND != deploy ]]; then
    # A rollback serves HTTPS with the certificate in place (the renewer keeps an ACME one fresh).
    tls_ready || fail "$BG_EXIT_SERVER_UNUSABLE" "$BG_APP is set up for tls: $BG_TLS, but its certificate is not in $LIVE_TLS; nothing was changed: deploy again to put one in place"
    ensure_pair
    log "HTTPS with the certificate in place (tls: $BG_TLS)"
    return 0
  fi
  case $BG_TLS in
    own) install_own_certificate ;;
    acme) ensure_acme_certificate ;;
  esac
  ensure_pair
}

# The user's certificate and key: written (or copied from the given paths) beside the live ones,
# tried by the proxy's nginx, then renamed into place; a pair nginx cannot use changes nothing.
install_own_certificate() {
  local new=$LIVE_TLS/new out
  mkdir -p "$LIVE_TLS" && chmod 700 "$LIVE_TLS"
  rm -rf "$new" && mkdir "$new"
  if [[ -n $BG_TLS_CERT_PATH ]]; then
    cp "$BG_TLS_CERT_PATH" "$new/fullchain.pem" 2>/dev/null || fail "$BG_EXIT_SERVER_UNUSABLE" "cannot read tls-certificate $BG_TLS_CERT_PATH on the server; nothing was changed"
  else
    printf '%s' "$BG_TLS_CERT_PEM" >"$new/fullchain.pem"
  fi
  if [[ -n $BG_TLS_KEY_PATH ]]; then
    cp "$BG_TLS_KEY_PATH" "$new/key.pem" 2>/dev/null || fail "$BG_EXIT_SERVER_UNUSABLE" "cannot read tls-key $BG_TLS_KEY_PATH on the server; nothing was changed"
  else
    printf '%s' "$BG_TLS_KEY_PEM" >"$new/key.pem"
  fi
  chmod 600 "$new/key.pem"
  # The runner checked a certificate given as text; one given as a server path is checked here.
  if [[ -n $BG_TLS_CERT_PATH ]]; then
    local days names host
    days=$(cert_days_left "$new/fullchain.pem")
    if [[ -z $days ]]; then rm -rf "$new"; fail "$BG_EXIT_SERVER_UNUSABLE" "tls-certificate $BG_TLS_CERT_PATH holds no certificate that can be read; nothing was changed"; fi
    if ((days <= 0)); then rm -rf "$new"; fail "$BG_EXIT_SERVER_UNUSABLE" "tls-certificate $BG_TLS_CERT_PATH has expired; nothing was changed"; fi
    names=$(cert_dns_names "$new/fullchain.pem")
    for host in "${BG_HOSTNAMES[@]}"; do
      cert_covers "$names" "$host" || { rm -rf "$new"; fail "$BG_EXIT_SERVER_UNUSABLE" "tls-certificate $BG_TLS_CERT_PATH is not for $host (it names ${names//$'\n'/ }); nothing was changed"; }
    done
  fi
  write_pair "$new" || { rm -rf "$new"; fail "$BG_EXIT_SERVER_UNUSABLE" "cannot write the certificate pair under $LIVE_TLS (is the disk full?); nothing was changed"; }
  if cmp -s "$new/pair.pem" "$LIVE_TLS/pair.pem"; then
    rm -rf "$new"
    return 0
  fi
  if ! out=$(check_certificate_in_proxy "live/$BG_APP/new"); then
    rm -rf "$new"
    fail "$BG_EXIT_SERVER_UNUSABLE" "nginx cannot use tls-certificate with tls-key: $out; nothing was changed"
  fi
  # The pair nginx reads first, in one rename; the copies for reports and older configs after it.
  mv -f "$new/pair.pem" "$LIVE_TLS/pair.pem" && mv -f "$new/key.pem" "$LIVE_TLS/key.pem" && mv -f "$new/fullchain.pem" "$LIVE_TLS/fullchain.pem" &&
    rm -rf "$new" && rm -f "$LIVE_TLS/domains"
  CERT_CHANGED=1
  log "installed the certificate for ${BG_HOSTNAMES[*]:-the default server}"
}

check_certificate_in_proxy() { # check_certificate_in_proxy DIR (under the TLS dir): nginx -t loads DIR/pair.pem
  local out
  out=$(docker exec "$BG_PROXY_NAME" sh -c "$BG_PROXY_PAIR_CHECK_SH" sh "$TLS_MOUNT/$1" 2>&1) && return 0
  printf '%s' "$out" | grep -v 'test failed' | sed 's/^nginx: //' | tail -n 2 | tr '\n' ' '
  return 1
}

acme_settings() { # the app's ACME settings as the renewer reads them (values validated on the runner)
  printf "DOMAINS='%s'\nEMAIL='%s'\nSERVER='%s'\nEAB_KID='%s'\nEAB_HMAC='%s'\n" \
    "${BG_HOSTNAMES[*]}" "$BG_ACME_EMAIL" "$BG_ACME_DIRECTORY" "$BG_ACME_EAB_KID" "$BG_ACME_EAB_HMAC"
}

# Gets (or renews, when due) the app's certificate through the renewer before the candidate starts.
# HTTP-01 needs the proxy to serve the challenge for every host name first: when the app's config
# does not yet (new host names, a first deploy, TLS just turned on), it is rewritten for the live
# slot with this run's names, and put back as it was if no certificate comes.
ensure_acme_certificate() {
  local out saved=0
  mkdir -p "$TLS_DIR/apps" && chmod 700 "$TLS_DIR/apps"
  # The renewer reads these: if no certificate comes, the ones before are put back, so that it goes
  # on renewing the certificate that is served, not asking hourly for names that failed.
  local settings=$TLS_DIR/apps/$BG_APP.env ca=$TLS_DIR/apps/$BG_APP.ca.pem
  rm -f "$settings.before" "$ca.before"
  if [[ -f $settings ]]; then cp -p "$settings" "$settings.before"; fi
  if [[ -f $ca ]]; then cp -p "$ca" "$ca.before"; fi
  write_if_changed "$settings" "$(acme_settings)" 600
  if [[ -n $BG_ACME_CA ]]; then write_if_changed "$ca" "$BG_ACME_CA" 644; else rm -f "$ca"; fi
  # A certificate for these names is in place with more than 30 days left: the renewer keeps it
  # fresh, and a deploy neither asks the CA (rate limits) nor depends on it being up.
  local days
  if [[ $(cat "$LIVE_TLS/domains" 2>/dev/null) == "${BG_HOSTNAMES[*]}" && -f $LIVE_TLS/fullchain.pem ]] && serves_acme_challenge; then
    days=$(cert_days_left "$LIVE_TLS/fullchain.pem")
    if [[ -n $days ]] && ((days > 30)); then
      log "the certificate for ${BG_HOSTNAMES[*]} is in place, $days days left (renewed on the server by $ACME_NAME); nothing requested"
      return 0
    fi
    log "the certificate for ${BG_HOSTNAMES[*]} has ${days:-an unknown number of} days left: renewing it now"
  fi
  if [[ $(cat "$LIVE_TLS/domains" 2>/dev/null) != "${BG_HOSTNAMES[*]}" ]] || ! serves_acme_challenge; then
    save_app_proxy_files before-acme && saved=1
    log "serving the ACME challenge for ${BG_HOSTNAMES[*]}"
    local why=''
    if ! point_proxy_at "${PREVIOUS_SLOT:-none}" why; then
      drop_saved_app_proxy_files before-acme
      put_back_acme_settings
      fail "$BG_EXIT_SERVER_UNUSABLE" "cannot serve the ACME challenge: $why"
    fi
  fi
  log "asking $BG_ACME_DIRECTORY for a certificate for ${BG_HOSTNAMES[*]}"
  if ! out=$(docker exec "$ACME_NAME" sh "$TLS_MOUNT/renew.sh" ensure "$BG_APP" 2>&1); then
    put_back_acme_settings
    if ((saved)); then
      local again=''
      lock_proxy
      restore_app_proxy_files before-acme
      sync_hosts_conf again || log "warning: $again"
      sync_default_server
      proxy_test_and_reload || true
      unlock_proxy
    fi
    fail "$BG_EXIT_SERVER_UNUSABLE" "no certificate for ${BG_HOSTNAMES[*]}: $(tail -n 1 <<<"$out"); nothing was changed"
  fi
  drop_saved_app_proxy_files before-acme
  rm -f "$TLS_DIR/apps/$BG_APP.env.before" "$TLS_DIR/apps/$BG_APP.ca.pem.before"
  days=$(cert_days_left "$LIVE_TLS/fullchain.pem")
  if [[ -n $days ]] && ((days <= 0)); then
    fail "$BG_EXIT_SERVER_UNUSABLE" "the certificate for ${BG_HOSTNAMES[*]} has expired and the CA gave no new one; nothing was changed"
  fi
  case $(tail -n 1 <<<"$out") in
    changed) CERT_CHANGED=1 && log "got a new certificate for ${BG_HOSTNAMES[*]}" ;;
    *) log "the certificate lego has for ${BG_HOSTNAMES[*]} is valid; nothing requested" ;;
  esac
}

cert_hex() { # cert_hex FILE: the DER of the first certificate in a PEM file, as hex
  sed -n '1,/-----END CERTIFICATE-----/p' "$1" 2>/dev/null | grep -v -- '-----' | base64 -d 2>/dev/null | od -An -v -tx1 | tr -d ' \n'
}

# The DNS names of the first certificate's subjectAltName, one a line: after the extension's OID
# (2.5.29.17) and its optional critical flag, an OCTET STRING holding a SEQUENCE of general names,
# of which [2] (0x82) are DNS names.
cert_dns_names() { # cert_dns_names FILE
  local hex rest tag size bytes value i name
  hex=$(cert_hex "$1") || return 0
  rest=${hex#*0603551d11}
  [[ $rest != "$hex" ]] || return 0
  if [[ $rest == 0101ff* ]]; then rest=${rest:6}; fi
  for tag in 04 30; do
    [[ ${rest:0:2} == "$tag" ]] || return 0
    rest=${rest:2}
    size=$((16#${rest:0:2}))
    if ((size > 128)); then rest=${rest:$(((1 + size - 128) * 2))}; else rest=${rest:2}; fi
  done
  while [[ ${rest:0:1} == 8 ]]; do
    tag=${rest:0:2}
    size=$((16#${rest:2:2}))
    rest=${rest:4}
    bytes=$size
    if ((size > 128)); then bytes=$((16#${rest:0:$(((size - 128) * 2))})); rest=${rest:$(((size - 128) * 2))}; fi
    value=${rest:0:$((bytes * 2))}
    rest=${rest:$((bytes * 2))}
    [[ $tag == 82 ]] || continue
    name=''
    for ((i = 0; i < ${#value}; i += 2)); do name+=$(printf '%b' "\\x${value:i:2}"); done
    printf '%s\n' "${name,,}"
  done
}

cert_covers() { # cert_covers NAMES HOSTNAME: a name of the certificate (NAMES, one a line) serves HOSTNAME
  local name
  while IFS= read -r name; do
    [[ -n $name ]] || continue
    if [[ $name == "$2" ]] || [[ $name == '*.'* && $2 != '*.'* && $2 == *.* && ${2#*.} == "${name#*.}" ]]; then return 0; fi
  done <<<"$1"
  return 1
}

# When the first certificate of a PEM file ends, in seconds since 1970 (empty when it cannot be read):
# its DER's second time (notBefore, then notAfter), UTCTime YYMMDDHHMMSSZ or GeneralizedTime. No
# openssl on the server is needed.
cert_not_after() { # cert_not_after FILE
  local hex stamp digits t='' i
  hex=$(cert_hex "$1") || return 0
  stamp=$(grep -oE '170d(3[0-9]){12}5a|180f(3[0-9]){14}5a' <<<"$hex" | sed -n 2p) || return 0
  [[ -n $stamp ]] || return 0
  digits=${stamp:4:${#stamp}-6} # the ASCII digits' hex (3X each): X is the digit
  for ((i = 1; i < ${#digits}; i += 2)); do t+=${digits:i:1}; done
  if ((${#t} == 12)); then
    if ((10#${t:0:2} < 50)); then t=20$t; else t=19$t; fi
  fi
  date -u -d "${t:0:4}-${t:4:2}-${t:6:2} ${t:8:2}:${t:10:2}:${t:12:2}" +%s 2>/dev/null || true
}

cert_days_left() { # cert_days_left FILE: whole days until the certificate ends (negative: expired), empty if unknown
  local end
  end=$(cert_not_after "$1")
  [[ -n $end ]] || return 0
  printf '%s' $(((end - $(date +%s)) / 86400))
}

put_back_acme_settings() { # the app's ACME settings as they were before this run (none: none)
  local file
  for file in "$TLS_DIR/apps/$BG_APP.env" "$TLS_DIR/apps/$BG_APP.ca.pem"; do
    if [[ -f $file.before ]]; then mv -f "$file.before" "$file"; else rm -f "$file"; fi
  done
}

as_renewer() { # as_renewer COMMAND...: run in the renewer, as root (lego's files are root's), if it is there
  docker inspect "$ACME_NAME" >/dev/null 2>&1 || return 0
  docker exec "$ACME_NAME" "$@" >/dev/null 2>&1 || log "warning: the renewer could not run $*"
}

# The app's ACME settings, status and lego's files of its certificate go (remove, or tls no longer
# acme); with no ACME app left, the renewer stops.
forget_acme() {
  local settings=$TLS_DIR/apps/$BG_APP.env first
  [[ -f $settings ]] || return 0
  first=$(sed -n "s/^DOMAINS='\([^ ']*\).*/\1/p" "$settings")
  rm -f "$settings" "$TLS_DIR/apps/$BG_APP.ca.pem"
  # shellcheck disable=SC2016 # expanded by the renewer's sh
  if [[ -n $first ]]; then as_renewer sh -c 'rm -f "$1/status/$2" "$1/lego/certificates/$3".*' sh "$TLS_MOUNT" "$BG_APP" "$first"; fi
  rm -f "$TLS_DIR/status/$BG_APP" 2>/dev/null || true
  log "the renewer no longer renews the certificate of $BG_APP"
  if ! compgen -G "$TLS_DIR/apps/*.env" >/dev/null && [[ $(owner_in "$(docker inspect -f "{{.Name}} {{$(label_of role)}}" "$ACME_NAME" 2>/dev/null || true)" "$ACME_NAME" || true) == acme ]]; then
    docker rm --force "$ACME_NAME" >/dev/null 2>&1 && log "stopped the certificate renewer $ACME_NAME: no app is left for it to renew"
  fi
}

certificate_json() { # {"pem":…,"renewal":…} of the app's live certificate, or null
  if [[ $BG_TLS == off && $BG_COMMAND != status ]] || [[ ! -f $LIVE_TLS/fullchain.pem ]]; then
    printf null
    return 0
  fi
  printf '{"pem":%s,"renewal":%s}' "$(json_str "$(sed -n '1,/-----END CERTIFICATE-----/p' "$LIVE_TLS/fullchain.pem" 2>/dev/null)")" \
    "$(json_or_null "$(cat "$TLS_DIR/status/$BG_APP" 2>/dev/null || true)")"
}
