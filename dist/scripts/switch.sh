# The switch: the proxy pointed at the new version and checked through itself; what runs after it
# (never failing the run), and the runner's word that several hosts wait for first.
# shellcheck shell=bash

# After the reload, through the proxy itself with the app's host name: the server block that answers
# must be this app's new slot (its config says which), and the health path must answer healthy;
# else the switch is undone. Both probes in one exec.
verify_through_proxy() {
  local host want="$BG_APP $CANDIDATE_SLOT" routed='' out='' answer i
  host=$(health_host)
  for ((i = 1; i <= 30; i++)); do
    out=$(route_check "$host" "$want") || true
    routed=$(sed -n '1s/^routed://p' <<<"$out")
    [[ $routed == "$want" ]] && break
    sleep 0.1
  done
  if [[ $routed != "$want" ]]; then
    log "the proxy does not route Host: $host to $CANDIDATE_SLOT after the reload (it routes to ${routed:-nothing we know})"
    return 1
  fi
  answer=$(routed_answer "$out" "$CANDIDATE_SLOT")
  if ! is_healthy_answer "$answer"; then
    log "the proxy does not answer healthy from $CANDIDATE_SLOT for Host: $host (last answer: ${answer#error:})"
    return 1
  fi
  log "the proxy serves $CANDIDATE_SLOT for $host (check $i: $answer)"
}

# Through the proxy: which app and slot answer for HOST, and (unless checked apart) the health path's answer.
route_check() { # route_check HOST WANT
  local path
  path=$(public_health_path)
  if checks_apart; then path=''; fi
  proxy_sh "$BG_PROXY_ROUTE_CHECK_SH" "$BG_HEALTH_TRY_TIMEOUT" "$1" "$2" "$path"
}

# The health answer after a route check: the proxy's, or with health-port or health-command the
# slot's container's own (one try).
routed_answer() { # routed_answer ROUTE_CHECK_OUTPUT SLOT
  if checks_apart; then
    health_try "$(engine_upstream "$2")"
  else
    status_of "$(sed 1d <<<"$1")"
  fi
}

# The live slot stays, but its proxy config may be another version's (an upgraded action writes a
# different template): rewritten in place when it differs from what this run would write.
refresh_proxy_config() {
  if proxy_config_current "$PREVIOUS_SLOT" "$CANDIDATE"; then
    if ((CERT_CHANGED)); then
      log "reloading the proxy for the new certificate"
    elif default_server_current; then
      return 0
    else
      log "the proxy's catch-all for unknown host names is not what this run writes; rewriting it"
    fi
  else
    log "the proxy config of $BG_APP is not what this run writes; rewriting it for $PREVIOUS_SLOT"
  fi
  local why='' status=0
  point_proxy_at "$PREVIOUS_SLOT" why || status=$?
  fail_unless_pointed "$status" "cannot update the proxy config of $BG_APP: $why" \
    "nginx -t refused the updated config for $PREVIOUS_SLOT ($why); the previous config is back"
}

switch_proxy() {
  local why='' status=0 hint=''
  proxy_channel_ensure
  point_proxy_at "$CANDIDATE_SLOT" why || status=$?
  case $why in
    *"duplicate default server"*) hint=': another app is already the default server, give this one a hostname' ;;
    *"conflicting server name"*) hint=': another app on this proxy already has that host name' ;;
  esac
  fail_unless_pointed "$status" "cannot switch to $CANDIDATE_SLOT: $why" \
    "nginx -t refused the config for $CANDIDATE_SLOT ($why); the previous config is back$hint"
  SWITCHED=1
  now_ms SWITCHED_AT_MS
  ACTIVE_SLOT=$CANDIDATE_SLOT
  log "proxy switched ${PREVIOUS_SLOT:-none} -> $CANDIDATE_SLOT${HEALTHY_AT_MS:+ ($((SWITCHED_AT_MS - HEALTHY_AT_MS))ms after it was healthy)}"
  if in_maintenance; then log "$BG_APP is in maintenance: $CANDIDATE_SLOT is live behind the maintenance page until command: live"; fi
  if ! verify_through_proxy; then
    SWITCHED=0
    ACTIVE_SLOT=$PREVIOUS_SLOT
    point_proxy_at "$PREVIOUS_SLOT" why || true
    fail "$BG_EXIT_SWITCH_UNDONE" "after the reload the proxy did not answer healthy from $CANDIDATE_SLOT; switched back to ${PREVIOUS_SLOT:-nothing}"
  fi
}

# After the switch the new version is live: a later step that fails (a container removed meanwhile,
# a full disk) is a warning, never a failed deploy that would invite a rollback of a good version.
after_switch() { # after_switch NAME COMMAND...
  local status=0 why
  PHASE=$1
  shift
  now_ms PHASE_STARTED
  # A background job waited for, not a condition: inside it errexit and the ERR trap hold (bash turns
  # them off in a condition), and `wait ... ||` takes its status without failing this shell.
  (
    arm_err_trap
    "$@"
  ) &
  wait "$!" || status=$?
  add_phase "$PHASE" "$PHASE_STARTED"
  if ((status != 0)); then
    why=$(take_fail_note) && why=${why#*$'\n'} || why="exit $status"
    log "warning: $PHASE did not finish ($why); the new version is live"
  fi
  return 0
}

# after_switch in the background: a step that nothing after it waits for (the old version stopping)
# runs while the next ones do; await_after_switch (before the result) takes each one's outcome as
# after_switch does. Each has a failure note of its own: two may fail at once.
AFTER_SWITCH_JOBS=() # "NAME PID STARTED_MS NOTE_FILE" each
after_switch_in_background() { # after_switch_in_background NAME COMMAND...
  local name=$1 note
  shift
  if ! run_file fail note; then
    after_switch "$name" "$@"
    return 0
  fi
  (
    FAIL_NOTE=$note PHASE=$name
    arm_err_trap
    "$@"
    printf 'ended %s' "$(now_ms)" >"$note"
  ) &
  AFTER_SWITCH_JOBS+=("$name $! $(now_ms) $note")
}

await_after_switch() {
  local job name pid started note status why ended
  for job in "${AFTER_SWITCH_JOBS[@]}"; do
    read -r name pid started note <<<"$job"
    status=0
    wait "$pid" || status=$?
    ended=''
    if ((status == 0)); then read_file "$note" ended; fi
    # The step's own time: its job wrote when it ended (its failure note, when it failed, says why).
    if [[ $ended =~ ^ended\ ([0-9]+)$ ]]; then
      PHASES+=("$(json_str "$name"):$((BASH_REMATCH[1] - started))")
    else
      add_phase "$name" "$started"
    fi
    if ((status != 0)); then
      why=$(sed 1d "$note" 2>/dev/null) && [[ -n $why ]] || why="exit $status"
      log "warning: $name did not finish ($why); the new version is live"
    fi
    rm -f "$note"
  done
  AFTER_SWITCH_JOBS=()
  if [[ -n $FIRST_LINES_PID ]]; then wait "$FIRST_LINES_PID" || true; fi
  FIRST_LINES_PID=''
}

# Several hosts: this host's new version is healthy; it switches only on the runner's word (all at
# once: when every host's is; rolling: while the run is not cancelled), read on fd 7 (the script's
# standard input, after its own text). Anything else, no answer in time or a lost connection calls
# it off, undone as a failed health check is.
wait_for_every_host() {
  local answer=''
  printf '%s\n' "$BG_BARRIER_LINE"
  log "healthy; waiting for the runner's word to switch (at most ${BG_BARRIER_SECONDS}s)"
  read -r -t "$BG_BARRIER_SECONDS" answer <&7 || true
  [[ $answer == "$BG_BARRIER_GO" ]] ||
    fail "$BG_EXIT_CALLED_OFF" "the rollout was called off (${answer:-no word from the runner}): another host failed or the run was cancelled, so this one did not switch"
  log "every host is healthy: switching"
}
