# The deploy's receipt (issue 25): what the app's real visitors got while a version went live,
# counted by the proxy per slot.
#
# While a deploy's window is open, nginx logs each of the app's requests (buffered) to a file of the
# app's inside the proxy container: the time it ended ($msec), the slot whose container answered (the
# config names the live slot's, so old workers still finishing after a switch log the old slot), the
# status, request and upstream times, bytes. No address, path or user agent.
#
# The window is a flag file beside the log: each of the app's locations logs only while it exists (a
# stat on a tmpfs per request), so opening and closing a window is one call in the proxy (through the
# proxy channel: milliseconds), never a reload.
# A deploy opens it (the log emptied) as its new version starts (before it can get any request) and
# closes it when it counts;
# every way out of the script closes it too. A run killed with SIGKILL leaves it open until the app's
# next deploy: the logs are in a tmpfs of RECEIPT_CAP_MB, so they can never fill the server's disk,
# and a full one costs only the count (nginx serves on, and reports a full log once a minute).
# shellcheck shell=bash

RECEIPT_FROM_MS='' # this run opened the window at this time
RECEIPT_CLOSED=''  # and closed it
TRAFFIC_JSON=''    # the result's "traffic": the receipt
HEALTHY_AT_MS=''   # the new version answered healthy (its last try)
SWITCHED_AT_MS=''  # the proxy's reload that sent it every request was done
RECEIPT_READ=''    # the file the window's log is being read into (start_receipt_read), and its job
RECEIPT_READ_PID=''
EARLIER_WORKERS='' # the nginx workers of configs before the switch that also routed to the old slot (a canary's)
# The logs live in a tmpfs of the proxy container of this size (for all its apps). A proxy made by a
# version before the receipt has no such tmpfs: the directory is made in its own layer, where a log
# is bounded by its window only.
readonly RECEIPT_DIR=/run/bluegreen-receipt RECEIPT_CAP_MB=16

receipt_log_path() { printf '%s/%s.log' "$RECEIPT_DIR" "$BG_APP"; } # inside the proxy container
receipt_flag_path() { printf '%s/%s.on' "$RECEIPT_DIR" "$BG_APP"; }

# For every app, once (in the server blocks' file, which nginx reads before the apps' configs): the
# line of a request, and who counts as a visitor (everyone but the proxy's own checks from 127.0.0.1).
# One pair of variables for all apps: nginx's table of variable names stays small with many apps.
# $proxy_host is where the request went: the slot's container (the config of one live slot names it,
# so old workers finishing after a switch log the old one), or for a long-lived request the slot's
# loopback hop port; '-' when the proxy answered itself (a redirect).
receipt_http_conf() {
  printf '%s\n' "log_format bluegreen_receipt '\$msec \$proxy_host \$status \$request_time \$upstream_header_time \$bytes_sent';"
  printf 'map $remote_addr $bluegreen_visitor {\n    127.0.0.1 0;\n    default 1;\n}\n'
}

# Each of the app's proxied locations: logs while the window's flag exists.
receipt_location() {
  printf '    set $bluegreen_receipt 0;\n    if (-f %s) {\n        set $bluegreen_receipt $bluegreen_visitor;\n    }\n' "$(receipt_flag_path)"
  printf '    access_log %s bluegreen_receipt buffer=32k flush=250ms if=$bluegreen_receipt;\n' "$(receipt_log_path)"
}

# receipt_json FROM_MS TO_MS < LOG: the window's requests, per slot: counts by status class, the
# failed ones (5xx the app answered; 502/504 the proxy answered, no upstream header), client aborts
# (499) apart, p50/p95/p99 of the request time in ms, and each slot's first and last request.
# A 101 (a WebSocket accepted) counts with the 2xx. Epoch milliseconds are printed with %.0f: mawk
# (Debian's awk) prints big numbers as 1.79662e+12 and clamps %d to 32 bits.
receipt_json() {
  local since=$1 upto=$2
  awk -v from="$since" -v to="$upto" -v app="$BG_APP-" -v hop="127.0.0.1:$(hop_base)" -v hop2="127.0.0.1:$(($(hop_base) + 1))" '
    {
      ms = int($1 * 1000 + 0.5); slot = $2
      if (slot == hop) slot = "blue"; else if (slot == hop2) slot = "green"; else if (slot == "-") slot = "proxy"
      else { sub(/:[0-9]+$/, "", slot); if (index(slot, app) == 1) slot = substr(slot, length(app) + 1) }
    }
    ms >= from && ms <= to && NF >= 6 { printf "%s %d %s %s %.0f\n", slot, int($4 * 1000 + 0.5), $3, ($5 == "-" ? "-" : "h"), ms }
  ' | sort -k1,1 -k2,2n | awk -v from="$since" -v to="$upto" '
    function pct(p,   i) { i = int(p * n + 0.999999); if (i < 1) i = 1; return t[i] }
    function flush() {
      if (n == 0) return
      printf "%s\"%s\":{\"requests\":%d,\"2xx\":%d,\"3xx\":%d,\"4xx\":%d,\"5xx\":%d,\"proxyErrors\":%d,\"aborted\":%d,\"p50Ms\":%d,\"p95Ms\":%d,\"p99Ms\":%d,\"firstMs\":%.0f,\"lastMs\":%.0f}", \
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
    BEGIN { printf "{\"fromMs\":%.0f,\"toMs\":%.0f,\"slots\":{", from, to }
    END { flush(); printf "},\"requests\":%d,\"failed\":%d,\"aborted\":%d}\n", total, failed, aborted }
  '
}

# As the new version starts: the log emptied and the window opened (one call in the proxy).
open_receipt_window() {
  has_web || return 0
  now_ms RECEIPT_FROM_MS
  # shellcheck disable=SC2016 # for the proxy's sh
  proxy_sh 'mkdir -p "${1%/*}" && : >"$1" && : >"$2"' "$(receipt_log_path)" "$(receipt_flag_path)" >/dev/null ||
    log "warning: the proxy's count of this deploy's requests could not be started"
}

# Every way out of the script: the window closed (nothing is logged outside a deploy).
close_receipt_window() {
  [[ -n $RECEIPT_FROM_MS && -z $RECEIPT_CLOSED ]] || return 0
  proxy_sh 'rm -f "$1"' "$(receipt_flag_path)" >/dev/null || true
}

# The log read in one exec (and with "close" the window closed first): nginx reopens its logs, which
# writes out what its workers buffered, then the space left ("FREE_KB", the first line) and the log.
# Through the proxy channel: the only call while it runs (start_receipt_read's job runs while the main
# shell stops the old version and tidies up with docker alone, then waits for it in count_receipt).
read_receipt_log() { # read_receipt_log [close]
  # shellcheck disable=SC2016 # for the proxy's sh
  proxy_sh 'exec 2>/dev/null; [ "$3" != close ] || rm -f "$2"; nginx -s reopen; sleep 0.05; df -Pk "${1%/*}" | awk "NR == 2 { print \$4 }"; cat "$1"' \
    "$(receipt_log_path)" "$(receipt_flag_path)" "${1:-}"
}

# Once the old version drained: the window closed and its log read in the background while the old
# version stops (0.1 s sooner done), into a file: the time the read ended, then what it read. Without
# that file (a full disk) count_receipt reads the log itself.
start_receipt_read() {
  [[ -n $RECEIPT_FROM_MS && -z $TRAFFIC_JSON && -z $RECEIPT_READ ]] || return 0
  run_file receipt RECEIPT_READ || {
    RECEIPT_READ=''
    return 0
  }
  RECEIPT_CLOSED=1 # read_receipt_log removes the flag
  (
    trap - ERR
    local out
    { out=$(read_receipt_log close) && printf '%s\n%s\n' "$(now_ms)" "$out" >"$RECEIPT_READ"; } || rm -f "$RECEIPT_READ"
  ) &
  RECEIPT_READ_PID=$!
}

# Once the old version drained and stopped (or the deploy failed): the window's requests counted
# from the proxy's log. Never fails the run: without a count the summary says why.
count_receipt() {
  [[ -n $RECEIPT_FROM_MS && -z $TRAFFIC_JSON ]] || return 0
  local started out='' free read=1 to_ms
  PHASE=receipt
  now_ms started
  if [[ -n $RECEIPT_READ_PID ]]; then
    wait "$RECEIPT_READ_PID" || true
    RECEIPT_READ_PID=''
    if [[ -s $RECEIPT_READ ]]; then read_file "$RECEIPT_READ" out; fi
    rm -f "$RECEIPT_READ"
  fi
  if [[ -n $out ]]; then
    to_ms=${out%%$'\n'*}
    out=${out#*$'\n'}
  else
    RECEIPT_CLOSED=1 # read_receipt_log removes the flag
    out=$(read_receipt_log close) || read=0
    now_ms to_ms
  fi
  if ((read)); then
    free=${out%%$'\n'*}
    TRAFFIC_JSON=$(receipt_json "$RECEIPT_FROM_MS" "$to_ms" <<<"${out#*$'\n'}") || TRAFFIC_JSON=''
    if [[ -n $TRAFFIC_JSON && -n $HEALTHY_AT_MS && -n $SWITCHED_AT_MS ]]; then
      TRAFFIC_JSON="${TRAFFIC_JSON%\}},\"healthyMs\":$HEALTHY_AT_MS,\"switchedMs\":$SWITCHED_AT_MS}"
    fi
    if [[ -n $TRAFFIC_JSON && $free =~ ^[0-9]+$ ]] && ((free < 64)); then
      TRAFFIC_JSON="${TRAFFIC_JSON%\}},\"partial\":true}"
      log "warning: the proxy's receipt logs reached their ${RECEIPT_CAP_MB} MB cap during this deploy: the counts are partial"
    fi
  fi
  if [[ -z $TRAFFIC_JSON ]]; then log "warning: the proxy's count of this deploy's requests could not be read"; fi
  add_phase receipt "$started"
}
