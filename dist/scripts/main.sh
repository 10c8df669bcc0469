# The server side of bluegreen-action: main and the commands every engine shares. script.ts sends
# one bash text to `bash -s` over SSH: the run's parameters (read-only BG_* variables, quoted by one
# tested function), then these files in this order (SCRIPT_FILES in script.ts):
#   main.sh           main (below) and the commands remove, status, logs
#   lib.sh            the run's variables, logging, JSON, the result, fail and the ERR trap, phases
#   state.sh          the app's recorded settings and history on the server
#   app-container.sh  the app's container settings as docker run arguments, and their record
#   versions.sh       the versions still on the server (rollback-to, status), from the history
#   oneoff.sh         one-off containers: a deploy's release phase (command release) and command run
#   proxy.sh          the shared nginx container: created, checked, replaced when its setup changed
#   proxy-channel.sh  one docker exec into the proxy held open: its programs run there in milliseconds
#   proxy-config.sh   the app's nginx config: rendered, tested, reloaded, put back when refused
#   tls.sh            certificates: own ones put in place, ACME ones through the renewer
#   health.sh         health checks of a new version, straight and through the proxy
#   switch.sh         the switch to the new version, and what runs after it
#   workers.sh        workers: processes from the app's image beside the web one (engine docker)
#   slots.sh          engines docker and compose: the blue/green slots (start, check, switch, drain)
#   engine-ENGINE.sh  only the chosen engine: the engine_* functions (ENGINE_FUNCTIONS in script.ts)
# then the call of main.
#
# State lives here, on the server, so any runner sees the truth:
#   $STATE_DIR/nginx/<app>.conf    the proxy's config of the app; its first line names the live slot
#   $STATE_DIR/apps/<app>/history.jsonl   one JSON line per deploy, rollback and removal
#   $STATE_DIR/apps/<app>/images   image IDs deployed, oldest first (for pruning)
#   $STATE_DIR/apps/<app>/images-tried   image IDs of deploys that never went live (pruned next time)
#   $STATE_DIR/apps/<app>/settings the settings of the last deploy that went live (record_settings)
#   $STATE_DIR/apps/<app>/container.{env,volumes,args}   its env, volumes, docker-args (rollback-to, run)
#   $STATE_DIR/apps/<app>/slot     an app without web (workers only): its live slot
#   labels bluegreen.* on the app's containers (engine docker) or service (engine swarm)
#
# Output: progress lines as they happen, then one JSON result on one line between the marker lines
# BG_RESULT_BEGIN and BG_RESULT_END (given by result.ts, with the result's version).
# BG_COMMAND is a command of the action, or release: a deploy's release phase, which the runner runs
# once (on the first host) before the rollout.
# Exit codes, outcome names and the label prefix come from result.ts as BG_EXIT_*, BG_OUTCOME_* and
# BG_LABEL: 0 done, 1 unexpected failure, 2 server not usable, 3 unhealthy, 4 switch undone, 5 nothing
# to roll back to, 6 called off, 7 not deployed, 8 release failed, 9 run-command failed.
# shellcheck shell=bash

set -Eeuo pipefail
umask 077

main() {
  RUN_TMP=$(mktemp -d "${TMPDIR:-/tmp}/bluegreen-run.XXXXXX" 2>/dev/null) || RUN_TMP=''
  run_file fail FAIL_NOTE || FAIL_NOTE=''
  trap '' HUP PIPE
  # The runner's word for wait_for_every_host comes on standard input; no other command reads it.
  if ((BG_BARRIER_SECONDS > 0)); then exec 7<&0 </dev/null; fi
  arm_err_trap
  trap cleanup EXIT
  PHASE=check
  load_settings
  run_phase check check_server
  if ((BG_TAKES_LOCK)); then run_phase lock take_lock; fi
  # What the engine's deploy asks Docker first, asked now (the app is locked) while the proxy is seen to.
  if [[ $BG_COMMAND == deploy ]]; then engine_ask_ahead; fi
  read_only_command || check_settings_unchanged
  case $BG_COMMAND in
    deploy)
      if has_web; then run_phase check refuse_taken_route; fi
      run_phase proxy ensure_network_and_proxy
      engine_deploy
      ;;
    release)
      run_phase proxy ensure_network_and_proxy
      engine_release
      ;;
    rollback)
      run_phase proxy ensure_network_and_proxy
      engine_rollback
      ;;
    run) cmd_run ;;
    maintenance | live) cmd_maintenance ;;
    remove) cmd_remove ;;
    status) cmd_status ;;
    logs) cmd_logs ;;
    *) fail "$BG_EXIT_SERVER_UNUSABLE" "unknown command $BG_COMMAND" ;;
  esac
  PHASE=finish
  if [[ $BG_COMMAND == deploy ]]; then
    # An app moved from tls: acme to own or off leaves the renewer.
    if [[ $BG_TLS != acme ]]; then forget_acme; fi
    # Written while the receipt is counted and the slots described: nothing after reads them.
    after_switch_in_background record record_deploy
  else
    read_only_command || record_history
  fi
  # A deploy's receipt: its log is being read since the old version drained (start_receipt_read),
  # while the state above was recorded.
  count_receipt
  if [[ $BG_COMMAND == status ]]; then
    list_versions
    VERSIONS_JSON=$(versions_json "$(live_image_id)")
  fi
  engine_finish
  emit_result
}

record_deploy() { # a deploy that went live (or was unchanged): its settings and its line in the history
  record_settings
  record_history
}

read_only_command() { [[ $BG_COMMAND == status || $BG_COMMAND == logs ]]; }

check_server() {
  command -v docker >/dev/null 2>&1 || fail "$BG_EXIT_SERVER_UNUSABLE" "docker is not installed on this server (or not on the PATH of $(id -un))"
  local problem facts
  # The proxy's facts are asked while docker version answers; taken only once docker proved usable.
  read_only_command || ask_meanwhile proxy-facts proxy_facts
  if [[ $BG_COMMAND == deploy ]] && has_web; then ask_meanwhile taken-route taken_route; fi
  if ! problem=$(docker version --format '{{.Server.Version}}' 2>&1); then
    fail "$BG_EXIT_SERVER_UNUSABLE" "$(id -un) cannot use docker on this server: ${problem##*$'\n'} (add the user to the docker group?)"
  fi
  command -v flock >/dev/null 2>&1 || fail "$BG_EXIT_SERVER_UNUSABLE" "flock is not installed on this server (package util-linux)"
  engine_check
  ! read_only_command || return 0 # status and logs only read: they create nothing
  # For the docker run ahead (log_args): asked now, taken then.
  case $BG_COMMAND in deploy | release | run) ask_meanwhile log-driver logging_driver ;; esac
  # Before anything is created, so that a run refused here leaves no trace.
  answer_of proxy-facts facts proxy_facts
  check_proxy_source "$facts"
  # Opened up for the proxy only where this run creates the directory: a state-dir such as ~ or /tmp
  # keeps its own mode.
  if [[ ! -d $STATE_DIR ]]; then mkdir -p "$STATE_DIR" && chmod 755 "$STATE_DIR"; fi
  if [[ ! -d $CONF_DIR ]]; then mkdir -p "$CONF_DIR" && chmod 755 "$CONF_DIR"; fi
  # Traversable, not listable: nginx's workers serve the challenge files under it.
  if [[ ! -d $TLS_DIR ]]; then mkdir -p "$TLS_DIR" && chmod 711 "$TLS_DIR"; fi
  mkdir -p "$APP_DIR"
}

take_lock() {
  exec 9>>"$APP_DIR/lock"
  if ! flock -n 9; then
    log "another run for $BG_APP holds the lock; waiting up to ${BG_LOCK_TIMEOUT}s"
    flock -w "$BG_LOCK_TIMEOUT" 9 || fail "$BG_EXIT_SERVER_UNUSABLE" "another run for $BG_APP still held the lock after ${BG_LOCK_TIMEOUT}s; nothing was changed"
  fi
}

# The app's containers name the state-dir their deploy kept its state in: a run with another one
# would find no proxy config there and take the containers from under a config that still names them.
refuse_other_state_dir() {
  [[ ! -f $SETTINGS_FILE && ! -f $CONF_FILE ]] || return 0
  local dirs
  dirs=$(docker inspect -f "{{$(label_of state-dir)}}" "$(container_name blue)" "$(container_name green)" 2>/dev/null | sort -u | grep -vxF -e '' -e "$STATE_DIR" | paste -sd ' ' || true)
  [[ -z $dirs ]] || fail "$BG_EXIT_SERVER_UNUSABLE" "$BG_APP was deployed with state-dir $dirs, and this run's is $STATE_DIR, where it has no state: give that state-dir; nothing was changed"
}

cmd_remove() {
  refuse_other_state_dir
  PREVIOUS_SLOT=$(engine_live_slot)
  local found=0
  if [[ -f $CONF_FILE ]]; then
    found=1
    if docker inspect "$BG_PROXY_NAME" >/dev/null 2>&1; then
      local why='' status=0
      point_proxy_at '' why || status=$?
      fail_unless_pointed "$status" "cannot remove $BG_APP from the proxy: $why" "nginx refused the config without $BG_APP; nothing was removed"
    else
      local why=''
      if rm -f "$CONF_FILE" && sync_hosts_conf why; then drop_unused_route_files; else log "warning: cannot take $BG_APP out of the proxy's files: ${why:-$CONF_FILE}"; fi
    fi
    log "removed $BG_APP from the proxy"
  fi
  if engine_remove; then found=1; fi
  if [[ -d $LIVE_TLS || -f $TLS_DIR/apps/$BG_APP.env ]]; then
    forget_acme
    as_renewer rm -rf "$TLS_MOUNT/live/$BG_APP"
    rm -rf "$LIVE_TLS" 2>/dev/null || log "warning: could not remove $LIVE_TLS"
    log "removed the certificate and key of $BG_APP"
  fi
  # Every image the app sent: those that went live and those of deploys that never did.
  local id in_use lists=() list
  for list in "$APP_DIR/images" "$APP_DIR/images-tried"; do if [[ -f $list ]]; then lists+=("$list"); fi; done
  if ((${#lists[@]})) && ! in_use=$(images_in_use); then
    log "warning: cannot list the containers, so the app's images stay (listed in ${lists[*]})"
  elif ((${#lists[@]})); then
    while IFS= read -r id; do
      if [[ -z $id ]] || grep -qxF "$id" <<<"$in_use"; then continue; fi
      if docker image rm --force "$id" >/dev/null 2>&1; then log "removed image $(short_id "$id")"; fi
    done < <(cat "${lists[@]}" | sort -u)
    rm -f "${lists[@]}"
  fi
  rm -f "$SETTINGS_FILE" "$CONTAINER_ENV_FILE" "$CONTAINER_VOLUMES_FILE" "$CONTAINER_ARGS_FILE" "$MAINTENANCE_FILE"
  ACTIVE_SLOT=''
  OUTCOME=$BG_OUTCOME_REMOVED
  ((found)) || log "$BG_APP was not deployed on this server; nothing to remove"
}

cmd_status() {
  ACTIVE_SLOT=$(engine_live_slot)
  PREVIOUS_SLOT=$ACTIVE_SLOT
  engine_status
  if [[ -f $APP_DIR/history.jsonl ]]; then
    mapfile -t HISTORY < <(tail -n 10 "$APP_DIR/history.jsonl")
  fi
  if [[ -z $ACTIVE_SLOT && -z $LIVE_INFO && ! -f $APP_DIR/history.jsonl ]] && ! docker container inspect "$(container_name blue)" "$(container_name green)" >/dev/null 2>&1; then
    # A typo in app must not pass as "not deployed".
    ((BG_ALLOW_MISSING)) || fail "$BG_EXIT_NOT_DEPLOYED" "$BG_APP is not deployed on this server (no proxy config, container or history under $STATE_DIR): is app right? Give allow-missing: true where that is expected"
    log "$BG_APP is not deployed on this server"
  fi
  OUTCOME=$BG_OUTCOME_UNCHANGED
  log "live slot: ${ACTIVE_SLOT:-none}"
}

# command maintenance: the proxy answers the app's host names with 503 and the page (the containers
# keep running); command live: the route is back. Either way the config is rewritten for the live
# slot as it is, tested and reloaded; refused by nginx, the page goes back to what it was.
cmd_maintenance() {
  refuse_other_state_dir
  ACTIVE_SLOT=$(engine_live_slot)
  PREVIOUS_SLOT=$ACTIVE_SLOT
  OUTCOME=$BG_OUTCOME_UNCHANGED
  [[ -f $CONF_FILE ]] || fail "$BG_EXIT_NOT_DEPLOYED" "$BG_APP is not deployed on this server (no proxy config under $STATE_DIR), so it has no route to take out of service"
  local before='' why='' status=0
  if in_maintenance; then before=$(<"$MAINTENANCE_FILE"); fi
  if [[ $BG_COMMAND == live ]]; then
    if ! in_maintenance; then
      log "$BG_APP is not in maintenance; nothing to change"
      return 0
    fi
    rm -f "$MAINTENANCE_FILE"
  else
    write_if_changed "$MAINTENANCE_FILE" "$BG_MAINTENANCE_PAGE" 644
  fi
  run_phase switch point_proxy_at "${ACTIVE_SLOT:-none}" why || status=$?
  if ((status != 0)); then
    if [[ -n $before ]]; then printf '%s\n' "$before" >"$MAINTENANCE_FILE"; else rm -f "$MAINTENANCE_FILE"; fi
    fail_unless_pointed "$status" "cannot rewrite the proxy config of $BG_APP: $why" "nginx refused the config ($why); the previous config is back"
  fi
  if [[ $BG_COMMAND == live ]]; then
    log "$BG_APP is live again: the proxy routes its requests to ${ACTIVE_SLOT:-no slot (nothing is live yet)}"
  else
    log "$BG_APP is in maintenance: the proxy answers ${BG_HOSTNAMES[*]:-every host name} with 503 and the page; its containers keep running (command: live brings it back)"
  fi
}

LOGS='' # command logs: the live version's last lines
cmd_logs() {
  ACTIVE_SLOT=$(engine_live_slot)
  PREVIOUS_SLOT=$ACTIVE_SLOT
  [[ -n $ACTIVE_SLOT ]] || fail "$BG_EXIT_NOT_DEPLOYED" "$BG_APP has no live version on this server, so it has no logs to show"
  local line
  engine_logs
  if ((${#LOGS} > 65536)); then LOGS="[…]${LOGS: -65536}"; fi
  log "the last $BG_LOGS_LINES lines of $BG_APP ($ACTIVE_SLOT):"
  while IFS= read -r line; do log "  | $line"; done <<<"$LOGS"
  OUTCOME=$BG_OUTCOME_UNCHANGED
}
