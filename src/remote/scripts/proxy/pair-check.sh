#!/bin/sh
# Whether nginx loads a certificate pair (tls.sh, check_certificate_in_proxy): sh -c TEXT sh DIR,
# where DIR/pair.pem holds key and chain. nginx -t's complaint is printed when it does not.
conf=$(mktemp) &&
  printf "user root;\nevents {}\nhttp { server { listen 127.0.0.1:1 ssl; ssl_certificate %s/pair.pem; ssl_certificate_key %s/pair.pem; } }\n" "$1" "$1" >"$conf" &&
  nginx -t -q -c "$conf" 2>&1
status=$?
rm -f "$conf"
exit $status
