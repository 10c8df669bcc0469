# rollout: canary and bake-seconds (issue 25): the new version tried on real traffic and judged from
# the proxy's own counts of each slot's requests (receipt.sh's log of the deploy's window).
#
# Canary: once the candidate is healthy, the app's config sends a share of the clients to it
# (split_clients on a key the proxy keeps in a cookie, so a client stays on its side; the canary-header
# testers always), the rest to the live slot. Every 0.5 s the candidate's requests since then are
# judged: too many failed and it is reverted at once; at the end of canary-seconds its p95 is judged
# too, and it is promoted (the usual switch and drain) or reverted. Revert: the proxy back to the live
# slot alone, the candidate's requests left to finish, the candidate removed, exit code 3.
#
# Bake: after the full switch the old slot keeps running, and the proxy goes back to it at once (no
# container starts) when the new one's error rate crosses the limit before bake-seconds are over.
# shellcheck shell=bash

CANARY_SLOT=''  # while set, the app's config sends the canary's share of the clients to this slot
TRIAL_ACTIVE=0  # the candidate gets traffic while the old slot is still the fallback (a canary, a bake)
TRIALS_JSON=()  # the result's "trials": what each trial saw and decided
TRIAL_NUMBERS=() # trial_counts: candidate requests, failed, p95; live slot requests, p95
TRIAL_VERDICT='' # judge_trial: "wait", or "promote|revert|low REASON"
readonly TRIAL_TICK_MS=500 # how often a trial is judged (nginx writes its log at least every 250 ms)

canary_wanted() { ((BG_CANARY_MS > 0)) && has_web && [[ -n $PREVIOUS_SLOT ]] && ! in_maintenance; }
bake_wanted() { ((BG_BAKE_MS > 0)) && has_web && [[ -n $PREVIOUS_SLOT ]] && ! in_maintenance && previous_is_running; }

# The canary's part of the app's http block: who goes to the candidate, and the cookie that keeps them there.
render_canary_maps() { # render_canary_maps LIVE_UPSTREAM CANARY_UPSTREAM
  local id salt
  id=$(nginx_id)
  salt=${BG_IMAGE_ID#sha256:}
  cat <<CONF
# bluegreen-canary: $CANARY_SLOT $BG_CANARY_PERCENT
# rollout: canary: $BG_CANARY_PERCENT% of the clients go to $CANARY_SLOT, each kept on its side by a cookie
# holding a random key (the hash is salted with the version, so each canary picks other clients).
map \$cookie_bluegreen_canary_$id \$bluegreen_canary_key_$id {
    "" \$request_id;
    default \$cookie_bluegreen_canary_$id;
}
split_clients "\$bluegreen_canary_key_$id:${salt:0:12}" \$bluegreen_canary_share_$id {
    $BG_CANARY_PERCENT% 1;
    * 0;
}
map \$cookie_bluegreen_canary_$id \$bluegreen_canary_cookie_$id {
    "" "bluegreen_canary_$id=\$bluegreen_canary_key_$id; Path=/; HttpOnly; SameSite=Lax";
    default "";
}
CONF
  local chosen="\$bluegreen_canary_share_$id"
  if [[ -n $BG_CANARY_MATCH_VAR ]]; then
    chosen="\$bluegreen_canary_$id"
    printf '# canary-header: these requests go to %s whatever the share.\nmap $%s %s {\n' "$CANARY_SLOT" "$BG_CANARY_MATCH_VAR" "$chosen"
    if [[ -n $BG_CANARY_MATCH_VALUE ]]; then
      printf '    "%s" 1;\n    default $bluegreen_canary_share_%s;\n}\n' "$BG_CANARY_MATCH_VALUE" "$id"
    else
      printf '    "" $bluegreen_canary_share_%s;\n    default 1;\n}\n' "$id"
    fi
  fi
  printf 'map %s $bluegreen_pick_%s {\n    1 %s:%s;\n    default %s:%s;\n}\n' "$chosen" "$id" "$2" "$BG_CONTAINER_PORT" "$1" "$BG_CONTAINER_PORT"
}

# slot_numbers RECEIPT_JSON SLOT: "REQUESTS FAILED P95_MS" of a slot in receipt_json's output (0 0 0 when it had none).
slot_numbers() {
  local part field values=()
  part=$(grep -o "\"$2\":{[^}]*}" <<<"$1" || true)
  if [[ -z $part ]]; then
    printf '0 0 0\n'
    return 0
  fi
  for field in requests 5xx proxyErrors p95Ms; do values+=("$(sed -n "s/.*\"$field\":\([0-9]*\).*/\1/p" <<<"$part")"); done
  printf '%d %d %d\n' "${values[0]:-0}" $((${values[1]:-0} + ${values[2]:-0})) "${values[3]:-0}"
}

# The candidate's and the live slot's requests since FROM_MS, from the proxy's log (TRIAL_NUMBERS).
trial_counts() { # trial_counts FROM_MS
  local log json new old
  log=$(read_receipt_log) || log=''
  json=$(receipt_json "$1" "$(now_ms)" <<<"${log#*$'\n'}") || json=''
  new=$(slot_numbers "$json" "$CANDIDATE_SLOT")
  old=$(slot_numbers "$json" "$PREVIOUS_SLOT")
  read -r -a TRIAL_NUMBERS <<<"$new ${old% * *} ${old##* }"
}

hundredths() { printf '%d.%02d' $(($1 / 100)) $(($1 % 100)); } # hundredths 150: 1.50
basis_points() { printf '%s%%' "$(hundredths "$1")"; }           # a share in hundredths of a percent: 150 -> 1.50%

# The verdict on TRIAL_NUMBERS (TRIAL_VERDICT): too many failed is a revert at any time (once there
# are enough requests to judge); at the end (FINAL 1) too few requests, a p95 over the limit, or a pass.
judge_trial() { # judge_trial FINAL
  local n=${TRIAL_NUMBERS[0]} failed=${TRIAL_NUMBERS[1]} p95=${TRIAL_NUMBERS[2]} live_n=${TRIAL_NUMBERS[3]} live_p95=${TRIAL_NUMBERS[4]}
  local rate=0
  if ((n > 0)); then rate=$((failed * 10000 / n)); fi
  if ((n >= BG_JUDGE_MIN_REQUESTS && failed * 10000 > BG_JUDGE_MAX_ERROR_BP * n)); then
    TRIAL_VERDICT="revert $failed of its $n requests failed ($(basis_points "$rate")), more than canary-max-error-rate ($(basis_points "$BG_JUDGE_MAX_ERROR_BP"))"
    return 0
  fi
  if (($1 == 0)); then
    TRIAL_VERDICT='wait'
    return 0
  fi
  if ((n < BG_JUDGE_MIN_REQUESTS)); then
    TRIAL_VERDICT="low only $n request(s) reached it, fewer than canary-min-requests ($BG_JUDGE_MIN_REQUESTS)"
  elif ((BG_JUDGE_LATENCY_MS > 0 && p95 > BG_JUDGE_LATENCY_MS)); then
    TRIAL_VERDICT="revert its p95 was ${p95} ms, over canary-max-latency (${BG_JUDGE_LATENCY_MS} ms)"
  elif ((BG_JUDGE_LATENCY_RATIO_PCT > 0 && live_n > 0 && p95 * 100 > live_p95 * BG_JUDGE_LATENCY_RATIO_PCT && p95 - live_p95 > BG_JUDGE_LATENCY_GRACE_MS)); then
    TRIAL_VERDICT="revert its p95 was ${p95} ms, over canary-max-latency ($(hundredths "$BG_JUDGE_LATENCY_RATIO_PCT")x the live version's ${live_p95} ms)"
  else
    TRIAL_VERDICT="promote $failed of its $n requests failed ($(basis_points "$rate")), p95 ${p95} ms (the live version's: ${live_p95} ms)"
  fi
}

trial_json() { # trial_json KIND DECISION REASON STARTED_MS
  printf '{"kind":%s,"decision":%s,"reason":%s,"percent":%s,"ms":%d,"candidate":{"slot":%s,"requests":%d,"failed":%d,"p95Ms":%d},"live":{"slot":%s,"requests":%d,"p95Ms":%d}}' \
    "$(json_str "$1")" "$(json_str "$2")" "$(json_str "$3")" "$(if [[ $1 == canary ]]; then printf '%s' "$BG_CANARY_PERCENT"; else printf 100; fi)" $(($(now_ms) - $4)) \
    "$(json_str "$CANDIDATE_SLOT")" "${TRIAL_NUMBERS[0]}" "${TRIAL_NUMBERS[1]}" "${TRIAL_NUMBERS[2]}" "$(json_str "$PREVIOUS_SLOT")" "${TRIAL_NUMBERS[3]}" "${TRIAL_NUMBERS[4]}"
}

# The proxy back to the live slot alone; what the candidate still serves finishes first (at most
# drain-seconds), so that removing it cuts no request.
end_trial_traffic() {
  local why='' status=0 started look
  CANARY_SLOT=''
  point_proxy_at "$PREVIOUS_SLOT" why || status=$?
  TRIAL_ACTIVE=0
  if ((status != 0)); then
    log "warning: the proxy could not be pointed back at $PREVIOUS_SLOT alone ($why)"
    return 0
  fi
  SWITCHED=0
  ACTIVE_SLOT=$PREVIOUS_SLOT
  now_ms started
  while (($(now_ms) - started < BG_DRAIN_MS)); do
    look=$(proxy_sh "$BG_PROXY_DRAIN_LOOK_SH" "$OLD_WORKERS" || true)
    [[ -n $OLD_WORKERS && $look == *workers-alive* ]] || break
    sleep 0.1
  done
  log "the proxy sends every request to $PREVIOUS_SLOT again; the requests $CANDIDATE_SLOT had were done after $(($(now_ms) - started))ms"
}

# A trial that failed: traffic back on the old slot, the receipt counted, the run failed (the
# candidate is removed as after a failed health check).
revert_trial() { # revert_trial KIND REASON STARTED_MS
  end_trial_traffic
  TRIALS_JSON+=("$(trial_json "$1" reverted "$2" "$3")")
  count_receipt
  PHASE=$1
  fail "$BG_EXIT_UNHEALTHY" "$1 reverted: $2; $PREVIOUS_SLOT serves every request again"
}

run_canary() {
  local why='' status=0 started final left verdict reason
  CANARY_SLOT=$CANDIDATE_SLOT
  proxy_channel_ensure
  point_proxy_at "$PREVIOUS_SLOT" why || status=$?
  if ((status != 0)); then CANARY_SLOT=''; fi
  fail_unless_pointed "$status" "cannot start the canary: $why" "nginx -t refused the canary's config ($why); the previous config is back"
  TRIAL_ACTIVE=1
  # The workers of the config before the canary's still send requests to the live slot: its drain waits for them too.
  EARLIER_WORKERS+="${OLD_WORKERS:+ $OLD_WORKERS}"
  now_ms started
  log "canary: ${BG_CANARY_PERCENT}% of the clients$([[ -n $BG_CANARY_MATCH_VAR ]] && printf ' and every request with the canary-header') go to $CANDIDATE_SLOT for $(ms_as_seconds "$BG_CANARY_MS")s, judged every 0.5 s from the proxy's counts"
  while :; do
    final=0
    left=$((BG_CANARY_MS - ($(now_ms) - started)))
    if ((left <= TRIAL_TICK_MS)); then
      sleep "$(ms_as_seconds $((left > 0 ? left : 0)))"
      final=1
    else
      sleep "$(ms_as_seconds "$TRIAL_TICK_MS")"
    fi
    trial_counts "$started"
    judge_trial "$final"
    [[ $TRIAL_VERDICT == wait ]] || break
  done
  verdict=${TRIAL_VERDICT%% *} reason=${TRIAL_VERDICT#* }
  if [[ $verdict == low ]]; then
    verdict=$BG_CANARY_ON_LOW_TRAFFIC
    reason="$reason: canary-on-low-traffic is $verdict"
  fi
  log "canary: $CANDIDATE_SLOT $(if [[ $verdict == promote ]]; then printf 'promoted'; else printf 'reverted'; fi): $reason"
  if [[ $verdict != promote ]]; then revert_trial canary "$reason" "$started"; fi
  TRIALS_JSON+=("$(trial_json canary promoted "$reason" "$started")")
  CANARY_SLOT=''
}

# After the full switch: the old slot stays up and the new one is watched for bake-seconds.
bake_candidate() {
  local started
  now_ms started
  TRIAL_ACTIVE=1
  log "baking $CANDIDATE_SLOT for $(ms_as_seconds "$BG_BAKE_MS")s: $PREVIOUS_SLOT keeps running, and takes the traffic back at once if $CANDIDATE_SLOT's requests fail more than canary-max-error-rate"
  while (($(now_ms) - started < BG_BAKE_MS)); do
    sleep "$(ms_as_seconds "$TRIAL_TICK_MS")"
    trial_counts "$started"
    judge_trial 0
    if [[ $TRIAL_VERDICT == revert* ]]; then
      log "bake: switching back to $PREVIOUS_SLOT: ${TRIAL_VERDICT#* }"
      revert_trial bake "${TRIAL_VERDICT#* }" "$started"
    fi
  done
  TRIAL_ACTIVE=0
  trial_counts "$started"
  TRIALS_JSON+=("$(trial_json bake passed "${TRIAL_NUMBERS[1]} of its ${TRIAL_NUMBERS[0]} requests failed" "$started")")
  log "baked: ${TRIAL_NUMBERS[1]} of $CANDIDATE_SLOT's ${TRIAL_NUMBERS[0]} requests failed in $(ms_as_seconds $(($(now_ms) - started)))s"
}
