#!/bin/sh
# The certificate keeper of bluegreen-action, run by sh in the container <proxy-name>-acme (a lego
# image). A renewed certificate is put in use by a graceful reload of nginx, which the proxy's own
# watcher does when this script writes a new number into BG_RELOAD_REQUEST. tls.sh writes this
# file into the TLS directory and starts the container; its restart policy brings it back after a
# crash or a reboot, independently of the proxy.
#
#   renew.sh ensure APP   gets APP's certificate when it has none for its host names, renews it when
#                         fewer than BG_RENEW_DAYS (30) days are left; prints "changed" or "unchanged"
#                         (what a deploy runs, at once)
#   renew.sh pass         ensure for every app, then asks for a reload if a certificate changed
#   renew.sh loop         pass at start, then every BG_RENEW_INTERVAL seconds (12 h); after a failure
#                         again in BG_RENEW_RETRY seconds (1 h)
#
# Layout under $BG_TLS_DIR: apps/APP.env (the app's ACME settings, written by tls.sh), apps/APP.ca.pem
# (a private ACME server's root), lego/ (lego's accounts and certificates), challenges/ (the HTTP-01
# webroot the proxy serves), live/APP/ (what nginx serves: pair.pem, with fullchain.pem and key.pem),
# status/APP (the last attempt's outcome).
set -u

TLS=${BG_TLS_DIR:?}
RELOAD=${BG_RELOAD_REQUEST:-$TLS/reload}
DAYS=${BG_RENEW_DAYS:-30}
INTERVAL=${BG_RENEW_INTERVAL:-43200}
RETRY=${BG_RENEW_RETRY:-3600}
# The loop waits a random while (up to BG_RENEW_SPREAD seconds, 8 min) before each pass, to spread
# the CA's load as lego's own random sleep would; it waits outside the lock, so that a deploy that
# needs a certificate meanwhile is not kept waiting. lego itself never sleeps (--no-random-sleep).
SPREAD=${BG_RENEW_SPREAD:-480}
# A deploy waits at most this long for a pass under way (one lego at a time).
LOCK_WAIT=${BG_RENEW_LOCK_WAIT:-300}
FLOCK=${BG_FLOCK:-flock}

say() { printf '%s renew: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }

lego_bin() { command -v lego 2>/dev/null || echo /lego; }

record() { # record APP ok|error MESSAGE
  mkdir -p "$TLS/status"
  printf '%s %s %s\n' "$2" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$3" >"$TLS/status/$1.new" && mv -f "$TLS/status/$1.new" "$TLS/status/$1"
}

# Copies lego's certificate and key for APP into live/APP: pair.pem (key and chain in one file, what
# nginx reads) is replaced by one rename, so a reload never sees a new key with an old chain; the
# chain and the key alone follow (reports, and configs of older versions, read them). Prints changed
# or unchanged.
install_live() { # install_live APP CRT KEY DOMAINS
  live=$TLS/live/$1
  mkdir -p "$live"
  chmod 700 "$live"
  if cmp -s "$2" "$live/fullchain.pem" && cmp -s "$3" "$live/key.pem" && [ -f "$live/pair.pem" ] && [ "$(cat "$live/domains" 2>/dev/null)" = "$4" ]; then
    echo unchanged
    return 0
  fi
  (umask 077 && { cat "$3" && printf '\n' && cat "$2"; } >"$live/pair.pem.new" && cp "$3" "$live/key.pem.new" && cp "$2" "$live/fullchain.pem.new" &&
    printf '%s\n' "$4" >"$live/domains.new") || return 1
  mv -f "$live/pair.pem.new" "$live/pair.pem" && mv -f "$live/key.pem.new" "$live/key.pem" && mv -f "$live/fullchain.pem.new" "$live/fullchain.pem" &&
    mv -f "$live/domains.new" "$live/domains" || return 1
  echo changed
}

# A CA that no longer knows the account (deactivated by the CA, or a CA that lost its data): the
# account is moved aside (ACCOUNT_DIR.lost) so that lego registers a new one; true when it was.
forget_lost_account() { # forget_lost_account LEGO_OUTPUT (uses SERVER and EMAIL)
  case $1 in *accountDoesNotExist*) ;; *) return 1 ;; esac
  host=${SERVER#*://}
  account=$TLS/lego/accounts/$(printf '%s' "${host%%/*}" | tr : _)/$EMAIL
  [ -d "$account" ] || return 1
  rm -rf "$account.lost" && mv "$account" "$account.lost" || return 1
  say "$app: the CA does not know the account of $EMAIL any more; registering a new one" >&2
}

ensure() { # ensure APP
  app=$1
  [ -f "$TLS/apps/$app.env" ] || { echo "no ACME settings for $app" >&2; return 1; }
  DOMAINS='' EMAIL='' SERVER='' EAB_KID='' EAB_HMAC=''
  # shellcheck disable=SC1090
  . "$TLS/apps/$app.env"
  first=${DOMAINS%% *}
  crt=$TLS/lego/certificates/$first.crt
  key=$TLS/lego/certificates/$first.key
  set -- --path "$TLS/lego" --server "$SERVER" --email "$EMAIL" --accept-tos --key-type ec256 \
    --http --http.webroot "$TLS/challenges"
  for domain in $DOMAINS; do set -- "$@" --domains "$domain"; done
  if [ -f "$TLS/apps/$app.ca.pem" ]; then export LEGO_CA_CERTIFICATES="$TLS/apps/$app.ca.pem"; else unset LEGO_CA_CERTIFICATES; fi
  # The MAC key stays out of every command line (ps shows those): lego reads it from its environment.
  if [ -n "$EAB_KID" ]; then
    export LEGO_EAB_KID="$EAB_KID" LEGO_EAB_HMAC="$EAB_HMAC"
    set -- "$@" --eab
  fi
  mkdir -p "$TLS/challenges/.well-known/acme-challenge"
  chmod 755 "$TLS/challenges" "$TLS/challenges/.well-known" "$TLS/challenges/.well-known/acme-challenge"
  if [ "$(cat "$TLS/live/$app/domains" 2>/dev/null)" = "$DOMAINS" ] && [ -f "$crt" ] && [ -f "$TLS/live/$app/fullchain.pem" ]; then
    verb=renew
    out=$("$(lego_bin)" "$@" renew --no-random-sleep --days "$DAYS" 2>&1)
  else
    verb=run
    out=$("$(lego_bin)" "$@" run 2>&1)
  fi
  status=$?
  if [ "$status" -ne 0 ] && forget_lost_account "$out"; then
    verb=run
    out=$("$(lego_bin)" "$@" run 2>&1)
    status=$?
  fi
  unset LEGO_EAB_KID LEGO_EAB_HMAC
  if [ "$status" -ne 0 ]; then
    why=$(printf '%s\n' "$out" | grep -v '^\s*$' | tail -n 3 | tr '\n' ' ')
    record "$app" error "lego $verb failed: $why"
    hand_over "$app"
    echo "lego $verb for $DOMAINS failed: $why" >&2
    return 1
  fi
  if ! changed=$(install_live "$app" "$crt" "$key" "$DOMAINS"); then
    record "$app" error "cannot install the certificate into $TLS/live/$app"
    echo "cannot install the certificate into $TLS/live/$app" >&2
    return 1
  fi
  if [ "$changed" = changed ]; then record "$app" ok "certificate for $DOMAINS obtained ($verb)"; else record "$app" ok "certificate for $DOMAINS is valid for more than $DAYS days"; fi
  hand_over "$app"
  echo "$changed"
}

# The graceful reload, done by the proxy's watcher when the number in BG_RELOAD_REQUEST changes: nginx
# starts new workers with the new certificates, old ones finish their requests.
request_reload() {
  n=$(cat "$RELOAD" 2>/dev/null)
  case $n in '' | *[!0-9]*) n=0 ;; esac
  if printf '%s\n' "$((n + 1))" >"$RELOAD.new" && chmod 644 "$RELOAD.new" && mv -f "$RELOAD.new" "$RELOAD"; then
    say "asked the proxy to reload nginx"
  else
    say "warning: cannot write $RELOAD; the next deploy reloads nginx"
  fi
}

pass() {
  failed=0 reload=0
  for file in "$TLS"/apps/*.env; do
    [ -f "$file" ] || continue
    app=${file##*/}
    app=${app%.env}
    if result=$(ensure "$app"); then
      say "$app: $result"
      [ "$result" = changed ] && reload=1
    else
      say "$app: failed (tried again in ${RETRY}s)"
      failed=1
    fi
  done
  [ "$reload" = 0 ] || request_reload
  return "$failed"
}

# What the renewer writes for an app belongs to the TLS directory's owner (the SSH user, who reads
# and removes it); lego's own files stay the renewer's.
hand_over() { # hand_over APP
  owner=$(stat -c %u:%g "$TLS" 2>/dev/null) || return 0
  chown -R "$owner" "$TLS/live/$1" "$TLS/status" 2>/dev/null || true
}

# One lego at a time: a deploy's ensure and the loop's pass share the account and files. An image
# without flock is refused, never run unlocked. WAIT: 0 waits as long as it takes (the loop).
locked() { # locked WAIT COMMAND...
  limit=$1
  shift
  if ! command -v "$FLOCK" >/dev/null 2>&1; then
    echo "the renewer's image has no flock (util-linux or busybox), which keeps two legos from running at once: use an image that has it" >&2
    return 1
  fi
  exec 9>>"$TLS/lego.lock"
  if [ "$limit" = 0 ]; then
    "$FLOCK" 9
  elif ! "$FLOCK" -n 9; then
    say "waiting for the renewal under way (at most ${limit}s)" >&2
    "$FLOCK" -w "$limit" 9 || { echo "a renewal held the renewer's lock for more than ${limit}s" >&2; return 1; }
  fi
  "$@"
}

spread() { # a random while of 0 to SPREAD seconds, before a pass of the loop
  [ "$SPREAD" -gt 0 ] 2>/dev/null || return 0
  n=$(od -An -N2 -tu2 /dev/urandom 2>/dev/null | tr -d ' ')
  sleep $(( ${n:-0} % (SPREAD + 1) )) &
  wait $!
}

case ${1:-} in
  ensure)
    locked "$LOCK_WAIT" ensure "${2:?app}"
    ;;
  pass) locked 0 pass ;;
  loop)
    trap 'exit 0' TERM INT
    say "started: renews certificates with fewer than $DAYS days left, every ${INTERVAL}s"
    while :; do
      spread
      if (locked 0 pass); then wait_for=$INTERVAL; else wait_for=$RETRY; fi
      sleep "$wait_for" &
      wait $!
    done
    ;;
  *)
    echo "usage: renew.sh ensure APP | pass | loop" >&2
    exit 2
    ;;
esac
