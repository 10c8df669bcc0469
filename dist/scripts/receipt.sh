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
# A deploy opens the window before its new version starts (a graceful reload of the config as it is,
# with the window), and counts once the old version drained and the buffers were flushed.
# shellcheck shell=bash

RECEIPT_UNTIL=''   # epoch seconds: the window's end, written into the app's config ('' none)
RECEIPT_FROM_MS='' # this run opened the window at this time
TRAFFIC_JSON=''    # the result's "traffic": the receipt
HEALTHY_AT_MS=''   # the new version answered healthy (its last try)
SWITCHED_AT_MS=''  # the proxy's reload that sent it the traffic was done
RECEIPT_OLD_WORKERS='' # the nginx workers of the config before the window's reload (the drain waits for them too)
readonly RECEIPT_FLUSH_MS=400 # nginx writes its log buffer at least every 250 ms (flush=250ms)
# The logs live in a tmpfs of the proxy container of this size (for all its apps): they can never
# fill the server's disk; when it is full nginx logs no more (requests are served as ever) and the
# receipt says it is partial. A proxy made by a version before the receipt has no such tmpfs: the
# directory is made in its own layer, where each log is bounded by its window only.
readonly RECEIPT_DIR=/run/bluegreen-receipt RECEIPT_CAP_MB=16

receipt_log_path() { printf '%s/%s.log' "$RECEIPT_DIR" "$BG_APP"; } # inside the proxy container

# msec_before_regex EPOCH: a regex for nginx's $msec (SECONDS.MILLIS) with SECONDS below EPOCH, as
# many digits long (epoch seconds keep 10 digits until 2286): one alternative per digit of EPOCH
# that is not 0 (the digits before it equal, that one lower, any digits after).
msec_before_regex() { # msec_before_regex EPOCH
  local end=$1 i digit rest any alternatives=()
  for ((i = 0; i < ${#end}; i++)); do
    digit=${end:i:1}
    ((digit > 0)) || continue
    rest=$((${#end} - i - 1))
    any=''
    if ((rest > 0)); then any="[0-9]{$rest}"; fi
    alternatives+=("${end:0:i}[0-$((digit - 1))]$any")
  done
  printf '^(%s)\\.' "$(join_by '|' "${alternatives[@]}")"
}

# The window the app's config already has (a run that opens none writes the same config again).
load_receipt_window() {
  RECEIPT_UNTIL=$(sed -n 's/^# bluegreen-receipt-until: \([0-9][0-9]*\)$/\1/p' "$CONF_FILE" 2>/dev/null | head -n 1 || true)
}

# The line of a request, for every app (in the server blocks' file, which nginx reads before the apps'
# configs). $proxy_host is where the request went: the slot's container (the config of one live slot
# names it, so old workers finishing after a switch log the old one), or for a long-lived request
# the slot's loopback hop port; '-' when the proxy answered itself (a redirect).
receipt_log_format() {
  printf '%s\n' "log_format bluegreen_receipt '\$msec \$proxy_host \$status \$request_time \$upstream_header_time \$bytes_sent';"
}

# The app's part of the http block while a window is open: the map that ends it.
receipt_conf() {
  local id
  id=$(nginx_id)
  cat <<CONF
# bluegreen-receipt-until: $RECEIPT_UNTIL
# The receipt's window: requests that end before then (epoch seconds) are counted.
# The proxy's own checks (from 127.0.0.1 inside it) are not visitors.
map "\$remote_addr \$msec" \$bluegreen_receipt_$id {
    default 0;
    "~^127\\.0\\.0\\.1 " 0;
    "~^[^ ]+ $(msec_before_regex "$RECEIPT_UNTIL" | cut -c2-)" 1;
}
CONF
}

receipt_access_log() { # the line of each of the app's locations while a window is open
  printf '    access_log %s bluegreen_receipt buffer=32k flush=250ms if=$bluegreen_receipt_%s;\n' "$(receipt_log_path)" "$(nginx_id)"
}

# receipt_json FROM_MS TO_MS < LOG: the window's requests, per slot: counts by status class, the
# failed ones (5xx the app answered; 502/504 the proxy answered, no upstream header), client aborts
# (499) apart, p50/p95/p99 of the request time in ms, and each slot's first and last request.
# A 101 (a WebSocket accepted) counts with the 2xx.
receipt_json() {
  local since=$1 upto=$2
  awk -v from="$since" -v to="$upto" -v app="$BG_APP-" -v hop="127.0.0.1:$(hop_base)" -v hop2="127.0.0.1:$(($(hop_base) + 1))" '
    {
      ms = int($1 * 1000 + 0.5); slot = $2
      if (slot == hop) slot = "blue"; else if (slot == hop2) slot = "green"; else if (slot == "-") slot = "proxy"
      else { sub(/:[0-9]+$/, "", slot); if (index(slot, app) == 1) slot = substr(slot, length(app) + 1) }
    }
    ms >= from && ms <= to && NF >= 6 { print slot, int($4 * 1000 + 0.5), $3, ($5 == "-" ? "-" : "h"), ms }
  ' | sort -k1,1 -k2,2n | awk -v from="$since" -v to="$upto" '
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

# Before the new version starts: the log emptied, the window opened for as long as the deploy may take
# (health-timeout, the wait for the other hosts, a canary, a bake, drain, stop, and a minute), the live config reloaded with it.
open_receipt_window() {
  has_web || return 0
  RECEIPT_FROM_MS=$(now_ms)
  RECEIPT_UNTIL=$(((RECEIPT_FROM_MS + BG_HEALTH_TIMEOUT_MS + BG_CANARY_MS + BG_BAKE_MS + BG_DRAIN_MS) / 1000 + BG_BARRIER_SECONDS + BG_STOP_TIMEOUT + 60))
  docker exec "$BG_PROXY_NAME" sh -c 'mkdir -p "${1%/*}" && : >"$1"' sh "$(receipt_log_path)" >/dev/null 2>&1 || true
  [[ -n $PREVIOUS_SLOT ]] || return 0 # no config yet: the switch writes it with the window
  local why='' status=0
  point_proxy_at "$PREVIOUS_SLOT" why || status=$?
  fail_unless_pointed "$status" "cannot open the receipt's window in the proxy config of $BG_APP: $why" \
    "nginx -t refused the config with the receipt's window ($why); the previous config is back"
  RECEIPT_OLD_WORKERS=$OLD_WORKERS
}

receipt_log_full() { # less than 64 KiB left where the logs are: nginx could not write every line
  local free
  free=$(docker exec "$BG_PROXY_NAME" df -Pk "$RECEIPT_DIR" 2>/dev/null | awk 'NR == 2 { print $4 }')
  [[ -n $free ]] && ((free < 64))
}

# Once the old version drained and stopped: the window's requests counted from the proxy's log.
# Never fails the run (the new version is live): without a count the summary says why.
count_receipt() {
  [[ -n $RECEIPT_FROM_MS && -z $TRAFFIC_JSON ]] || return 0
  local started log
  PHASE=receipt
  started=$(now_ms)
  sleep "$(ms_as_seconds "$RECEIPT_FLUSH_MS")"
  if log=$(docker exec "$BG_PROXY_NAME" cat "$(receipt_log_path)" 2>/dev/null); then
    TRAFFIC_JSON=$(receipt_json "$RECEIPT_FROM_MS" "$(now_ms)" <<<"$log") || TRAFFIC_JSON=''
    if [[ -n $TRAFFIC_JSON && -n $HEALTHY_AT_MS && -n $SWITCHED_AT_MS ]]; then
      TRAFFIC_JSON="${TRAFFIC_JSON%\}},\"healthyMs\":$HEALTHY_AT_MS,\"switchedMs\":$SWITCHED_AT_MS}"
    fi
    if [[ -n $TRAFFIC_JSON ]] && receipt_log_full; then
      TRAFFIC_JSON="${TRAFFIC_JSON%\}},\"partial\":true}"
      log "warning: the proxy's receipt logs reached their ${RECEIPT_CAP_MB} MB cap during this deploy: the counts are partial"
    fi
  fi
  if [[ -z $TRAFFIC_JSON ]]; then log "warning: the proxy's count of this deploy's requests could not be read"; fi
  PHASES+=("$(json_str receipt):$(($(now_ms) - started))")
}
