# One-off containers of the app's image: a deploy's release command, run once before the new
# version gets any traffic, and command run. Each runs in a fresh container with the app's env,
# network, volumes and labels (docker run … IMAGE WORD…: the image's entrypoint applies), its
# output streamed into the log; it is removed when it ends, and stopped and removed when it runs
# past its time (BG_ONEOFF_TIMEOUT).
# shellcheck shell=bash

ONEOFF=''         # the one-off container while it exists (cleanup removes it)
ONEOFF_EXIT=''    # its exit code
ONEOFF_TIMED_OUT=0
ONEOFF_OUTPUT=''  # stdout and stderr as they came: the last ONEOFF_OUTPUT_CAP bytes
ONEOFF_MS=0
readonly ONEOFF_OUTPUT_CAP=262144

# run_oneoff ROLE IMAGE: runs BG_ONEOFF_WORDS in a fresh container of IMAGE named <app>-ROLE.
run_oneoff() {
  local role=$1 image=$2 owner out started code
  # A release holds the app's lock: one of its name is what a killed run left (if it is ours). Runs
  # may go side by side (run-lock: false): each has a name of its own.
  ONEOFF=$BG_APP-$role
  if [[ $role == run ]]; then ONEOFF=$BG_APP-run-$(date +%s)-$$; fi
  if owner=$(owner_in "$(owners_of "$ONEOFF")" "$ONEOFF"); then
    [[ $owner == "$BG_APP" ]] || { ONEOFF='' && refuse_foreign "$BG_APP-$role"; }
    docker rm --force "$ONEOFF" >/dev/null 2>&1 || true
    log "removed $ONEOFF, left by a run that was interrupted"
  fi
  if ((BG_TAKES_LOCK)); then sweep_env_files; fi
  local labels=(--label "$LABEL.role=$role" --label "$LABEL.state-dir=$STATE_DIR") label
  while IFS= read -r label; do labels+=(--label "$label"); done < <(version_labels)
  engine_create_oneoff "$image" "${labels[@]}" || { ONEOFF='' && fail "$BG_EXIT_SERVER_UNUSABLE" "docker create of the $role container failed: $(docker_error "$START_ERROR")"; }
  log "running the $role command in $ONEOFF (at most ${BG_ONEOFF_TIMEOUT}s):"
  now_ms started
  engine_start_oneoff || {
    out=$START_ERROR
    # The container may still have said why (an entrypoint or command not found).
    ONEOFF_EXIT=$(docker inspect -f '{{.State.ExitCode}}' "$ONEOFF" 2>/dev/null || echo 127)
    ONEOFF_OUTPUT=$(docker logs "$ONEOFF" 2>&1 || true)
    ONEOFF_OUTPUT="${ONEOFF_OUTPUT}${ONEOFF_OUTPUT:+$'\n'}$(docker_error "$out")"
    ONEOFF_MS=$(($(now_ms) - started))
    remove_oneoff
    log "  | ${ONEOFF_OUTPUT##*$'\n'}"
    return 0
  }
  drop_env_file
  # Its lines as they come; `docker logs -f` ends when the container does.
  { docker logs -f "$ONEOFF" 2>&1 | while IFS= read -r line || [[ -n $line ]]; do log "  | $line"; done || true; } &
  local streamer=$!
  if code=$(timeout "$BG_ONEOFF_TIMEOUT" docker wait "$ONEOFF" 2>/dev/null); then
    ONEOFF_EXIT=$code
  else
    ONEOFF_TIMED_OUT=1
    log "the $role command ran past ${BG_ONEOFF_TIMEOUT}s: stopping it (SIGTERM, SIGKILL after ${BG_STOP_TIMEOUT}s)"
    docker stop --time "$BG_STOP_TIMEOUT" "$ONEOFF" >/dev/null 2>&1 || true
    ONEOFF_EXIT=$(docker inspect -f '{{.State.ExitCode}}' "$ONEOFF" 2>/dev/null || echo 137)
  fi
  ONEOFF_MS=$(($(now_ms) - started))
  wait "$streamer" 2>/dev/null || true
  ONEOFF_OUTPUT=$(docker logs "$ONEOFF" 2>&1 | tail -c "$ONEOFF_OUTPUT_CAP" || true)
  remove_oneoff
}

# The docker way to make a one-off (engines docker and swarm; engine compose has its own):
# create_oneoff_container IMAGE LABEL_ARGS...: ONEOFF created (not started) with the app's container
# settings and the command's words. In the main shell (its env file must reach cleanup); false with
# START_ERROR set when docker refused.
create_oneoff_container() {
  local image=$1
  shift
  local args=(create --name "$ONEOFF" --network "$BG_NETWORK" "$@")
  add_app_container_args args
  args+=("$image" "${BG_ONEOFF_WORDS[@]}")
  START_ERROR=$(docker "${args[@]}" 2>&1)
}

start_oneoff_container() { START_ERROR=$(docker start "$ONEOFF" 2>&1 >/dev/null); }

remove_oneoff() {
  docker rm --force "$ONEOFF" >/dev/null 2>&1 || log "warning: could not remove $ONEOFF"
  ONEOFF=''
}

oneoff_json() { # the command's account for the result: {ran, skipped, exitCode, timedOut, seconds, output}
  printf '{"ran":%s,"skipped":%s,"exitCode":%s,"timedOut":%s,"seconds":%s,"output":%s%s}' \
    "$([[ -n $ONEOFF_EXIT ]] && echo true || echo false)" "$(json_or_null "${1:-}")" "${ONEOFF_EXIT:-null}" \
    "$( ((ONEOFF_TIMED_OUT)) && echo true || echo false)" "$(ms_as_seconds "$ONEOFF_MS")" \
    "$(json_str "$ONEOFF_OUTPUT")" "${2:-}"
}

# Whether the live version (slot SLOT) answers its health check through the proxy: a few tries, the
# first healthy answer is enough. 2 when the proxy does not route the app to it (nothing to judge).
live_answers_healthy() { # live_answers_healthy SLOT
  local want="$BG_APP $1" out routed answer try
  for try in 1 2 3 4 5; do
    out=$(route_check "$(health_host)" "$want") || true
    routed=$(sed -n '1s/^routed://p' <<<"$out")
    [[ $routed == "$want" ]] || return 2
    answer=$(routed_answer "$out" "$1")
    if is_healthy_answer "$answer"; then return 0; fi
    LIVE_ANSWER=$answer
    ((try == 5)) || sleep "$BG_HEALTH_INTERVAL"
  done
  return 1
}

LIVE_ANSWER=''
# The release phase (command release, run by the runner before the rollout): the deploy's new image
# is on the server, nothing of it runs yet. Skipped when the deploy will change nothing.
cmd_release() {
  local live_before=2 live_after=2
  OUTCOME=$BG_OUTCOME_UNCHANGED
  ACTIVE_SLOT=$(engine_live_slot)
  PREVIOUS_SLOT=$ACTIVE_SLOT
  if engine_unchanged; then
    log "the live version already runs $(short_id "$BG_IMAGE_ID") with these settings: the deploy changes nothing, so the release command is skipped"
    RELEASE_JSON=$(oneoff_json 'the deploy is unchanged (same image and settings)')
    return 0
  fi
  require_sent_image
  if [[ -n $ACTIVE_SLOT ]] && has_web; then live_before=0 && live_answers_healthy "$ACTIVE_SLOT" || live_before=$?; fi
  run_phase release run_oneoff release "$BG_SERVER_IMAGE_ID"
  RELEASE_JSON=$(oneoff_json)
  if ((ONEOFF_TIMED_OUT)); then
    HISTORY_OUTCOME=$BG_OUTCOME_FAILED
    fail "$BG_EXIT_RELEASE_FAILED" "the release command ran past release-timeout (${BG_ONEOFF_TIMEOUT}s) and was stopped; nothing switched, the live version (${ACTIVE_SLOT:-none}) is untouched"
  fi
  if ((ONEOFF_EXIT != 0)); then
    HISTORY_OUTCOME=$BG_OUTCOME_FAILED
    fail "$BG_EXIT_RELEASE_FAILED" "the release command exited with $ONEOFF_EXIT; nothing switched, the live version (${ACTIVE_SLOT:-none}) is untouched"
  fi
  log "the release command succeeded in $(ms_as_seconds "$ONEOFF_MS")s"
  HISTORY_OUTCOME=released
  if ((live_before == 0)); then
    PHASE=release
    live_after=0 && live_answers_healthy "$ACTIVE_SLOT" || live_after=$?
    if ((live_after == 1)); then
      RELEASE_BROKE_LIVE=1
      log "warning: the release made the live version unhealthy ($ACTIVE_SLOT answers ${LIVE_ANSWER#error:}): the deploy goes on to the new version; rolling back past this release needs force: true"
    else
      log "the live version ($ACTIVE_SLOT) still answers healthy after the release"
    fi
  fi
  RELEASE_JSON=$(oneoff_json '' "$(printf ',"brokeLive":%s' "$( ((RELEASE_BROKE_LIVE)) && echo true || echo false)")")
}

# command run: run-command once in a fresh container of the live version's image, or of the image
# this run sent. Never touches the slots or the proxy; fails with the command's exit code.
cmd_run() {
  PHASE=run
  local image facts=''
  ACTIVE_SLOT=$(engine_live_slot)
  PREVIOUS_SLOT=$ACTIVE_SLOT
  if [[ -n $BG_SERVER_IMAGE_ID ]]; then
    image=$BG_SERVER_IMAGE_ID
    require_sent_image
  else
    [[ -n $ACTIVE_SLOT ]] || fail "$BG_EXIT_NOT_DEPLOYED" "$BG_APP has no live version on this server to run the command in: give image to run it in that image"
    facts=$(engine_live_image "$ACTIVE_SLOT") || fail "$BG_EXIT_NOT_DEPLOYED" "cannot read the image of the live version of $BG_APP"
    IFS='|' read -r image VERSION_IMAGE VERSION_IMAGE_ID <<<"$facts"
    log "running in the live version's image: ${VERSION_IMAGE:-?} ($(short_id "$VERSION_IMAGE_ID"))"
  fi
  load_container_settings
  docker network inspect "$BG_NETWORK" >/dev/null 2>&1 || engine_network ''
  run_phase run run_oneoff run "$image"
  RUN_JSON=$(oneoff_json)
  OUTCOME=$BG_OUTCOME_UNCHANGED
  if ((ONEOFF_TIMED_OUT)); then
    fail "$BG_EXIT_COMMAND_FAILED" "run-command ran past run-timeout (${BG_ONEOFF_TIMEOUT}s) and was stopped (exit $ONEOFF_EXIT); nothing served was changed"
  fi
  if ((ONEOFF_EXIT != 0)); then
    fail "$BG_EXIT_COMMAND_FAILED" "run-command exited with $ONEOFF_EXIT; nothing served was changed"
  fi
  log "run-command exited with 0 after $(ms_as_seconds "$ONEOFF_MS")s"
}
