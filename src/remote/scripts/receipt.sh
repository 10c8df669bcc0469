# The deploy's receipt (issue 25, work in progress): what the app's real visitors got while a
# version went live, counted by the proxy per slot.
#
# While a deploy's window is open, nginx logs each of the app's requests (buffered) to a file of the
# app's inside the proxy container: the time it ended ($msec), the slot whose config answered (the
# config is rendered per live slot, so old workers still finishing after a switch log the old slot),
# the status, request and upstream times, bytes. The window is a map on $msec in the app's config that
# matches only times before its end, so logging stops by itself at the end even when the run that
# opened it is killed: the file cannot grow past one window's traffic, and the next window starts it
# empty. Nothing is logged outside windows: no address, no path, no user agent, only what is below.
#
# Not wired into the deploy yet: render_proxy_config / render_app_location_body will take
# receipt_conf and receipt_access_log when RECEIPT_UNTIL is set (see the issue 25 note).
# shellcheck shell=bash

RECEIPT_UNTIL='' # epoch seconds: the open window's end ('' no window)

receipt_log_path() { printf '/tmp/bluegreen-receipt-%s.log' "$BG_APP"; } # inside the proxy container

# msec_before_regex EPOCH: a regex for nginx's $msec (SECONDS.MILLIS) with SECONDS below EPOCH, as
# many digits long (epoch seconds keep 10 digits until 2286): one alternative per digit of EPOCH
# that is not 0 (the digits before it equal, that one lower, any digits after).
msec_before_regex() { # msec_before_regex EPOCH
  local end=$1 i digit rest alternatives=()
  for ((i = 0; i < ${#end}; i++)); do
    digit=${end:i:1}
    ((digit > 0)) || continue
    rest=$((${#end} - i - 1))
    alternatives+=("${end:0:i}[0-$((digit - 1))]$( ((rest > 0)) && printf '[0-9]{%d}' "$rest")")
  done
  printf '^(%s)\\.' "$(join_by '|' "${alternatives[@]}")"
}

# The app's part of the http block while a window is open: the map that ends it, and the line format
# (the slot is a literal: the config is rendered for one live slot).
receipt_conf() { # receipt_conf SLOT
  local id
  id=$(nginx_id)
  cat <<CONF
# The receipt's window: requests that end before $RECEIPT_UNTIL (epoch seconds) are counted.
map \$msec \$bluegreen_receipt_$id {
    default 0;
    "~$(msec_before_regex "$RECEIPT_UNTIL")" 1;
}
log_format bluegreen_receipt_$id '\$msec $1 \$status \$request_time \$upstream_header_time \$bytes_sent';
CONF
}

receipt_access_log() { # the line of each of the app's locations while a window is open
  printf '    access_log %s bluegreen_receipt_%s buffer=32k flush=1s if=$bluegreen_receipt_%s;\n' "$(receipt_log_path)" "$(nginx_id)" "$(nginx_id)"
}

# receipt_json FROM_MS TO_MS < LOG: the window's requests, per slot: counts by status class, the
# failed ones (5xx the app answered; 502/504 the proxy answered, no upstream header), client aborts
# (499) apart, p50/p95/p99 of the request time in ms, and each slot's first and last request.
receipt_json() {
  local from=$1 to=$2
  awk -v from="$from" -v to="$to" '
    { ms = int($1 * 1000 + 0.5) }
    ms >= from && ms <= to && NF >= 6 { print $2, int($4 * 1000 + 0.5), $3, ($5 == "-" ? "-" : "h"), ms }
  ' | sort -k1,1 -k2,2n | awk -v from="$from" -v to="$to" '
    function pct(p,   i) { i = int(p * n + 0.999999); if (i < 1) i = 1; return t[i] }
    function flush() {
      if (n == 0) return
      printf "%s\"%s\":{\"requests\":%d,\"2xx\":%d,\"3xx\":%d,\"4xx\":%d,\"5xx\":%d,\"proxyErrors\":%d,\"aborted\":%d,\"p50Ms\":%d,\"p95Ms\":%d,\"p99Ms\":%d,\"firstMs\":%d,\"lastMs\":%d}", \
        (slots++ ? "," : ""), slot, n, c2, c3, c4, c5, cp, ca, pct(0.5), pct(0.95), pct(0.99), first, last
      total += n; failed += c5 + cp; aborted += ca
    }
    $1 != slot { flush(); slot = $1; n = c2 = c3 = c4 = c5 = cp = ca = 0; first = ""; last = 0 }
    {
      t[++n] = $2
      if (first == "" || $5 < first) first = $5
      if ($5 > last) last = $5
      s = $3 + 0
      if (s == 499) ca++
      else if ((s == 502 || s == 504) && $4 == "-") cp++
      else if (s >= 500) c5++
      else if (s >= 400) c4++
      else if (s >= 300) c3++
      else c2++
    }
    BEGIN { printf "{\"fromMs\":%d,\"toMs\":%d,\"slots\":{", from, to }
    END { flush(); printf "},\"requests\":%d,\"failed\":%d,\"aborted\":%d}\n", total, failed, aborted }
  '
}
