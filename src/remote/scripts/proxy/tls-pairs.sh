#!/bin/sh
# Which certificate each app's HTTPS server block gets, run by sh inside the proxy container before
# nginx starts and before every reload (proxy.sh writes this file into the TLS directory).
#
#   tls-pairs.sh TLS_DIR PAIRS_DIR [CONF_DIR]
#
# An app's 443 server block includes PAIRS_DIR/APP.conf (proxy-config.sh renders that include). For each
# such app this writes that file: its certificate pair (TLS_DIR/live/APP/pair.pem, key and chain in
# one file, replaced by one rename) when nginx can load it; else `ssl_reject_handshake on;`, so a
# missing or broken pair costs that app its HTTPS and nothing else: nginx still starts, reloads and
# serves every other app. Prints "unloadable APP" for each such app. Files of apps that no longer
# include theirs are removed.
set -u

TLS=${1:?TLS_DIR}
PAIRS=${2:?PAIRS_DIR}
CONF=${3:-/etc/nginx/conf.d}

mkdir -p "$PAIRS" || exit 1

loads() { # loads PAIR: nginx can use PAIR as certificate and key
  [ -s "$1" ] || return 1
  printf 'user root;\nevents {}\nhttp { server { listen 127.0.0.1:1 ssl; ssl_certificate %s; ssl_certificate_key %s; } }\n' "$1" "$1" >"$PAIRS/.test.conf" &&
    nginx -t -q -c "$PAIRS/.test.conf" >/dev/null 2>&1
}

put() { # put FILE TEXT: whole or not at all
  [ "$(cat "$1" 2>/dev/null)" = "$2" ] && return 0
  printf '%s\n' "$2" >"$1.new" && mv -f "$1.new" "$1"
}

apps=$(sed -n "s|^ *include $PAIRS/\\([a-z0-9_.-]*\\)\\.conf;\$|\\1|p" "$CONF"/*.conf 2>/dev/null | sort -u)
for app in $apps; do
  pair=$TLS/live/$app/pair.pem
  if loads "$pair"; then
    put "$PAIRS/$app.conf" "ssl_certificate $pair;
ssl_certificate_key $pair;"
  else
    put "$PAIRS/$app.conf" 'ssl_reject_handshake on;'
    echo "unloadable $app"
  fi
done
rm -f "$PAIRS/.test.conf"
for file in "$PAIRS"/*.conf; do
  [ -f "$file" ] || continue
  app=${file##*/}
  app=${app%.conf}
  printf '%s\n' "$apps" | grep -qxF "$app" || rm -f "$file"
done
exit 0
