# The blue/green slots of engines docker and compose (sent before engine-docker.sh or
# engine-compose.sh): the app's version runs in one of two slots, <app>-blue and <app>-green, on a
# bridge network the proxy is on. A deploy starts the new version in the idle slot (the engine's
# engine_start_container makes each container), checks its health, switches the proxy to it,
# drains and stops the old slot; the old slot's container stays (stopped) as the version to roll
# back to.
# shellcheck shell=bash

START_ERROR='' # what docker said when a container did not start (engine_start_container, engine_create_oneoff)
CANDIDATE_STARTED=0
KEPT=''               # the idle slot's previous container, set aside while the candidate is tried
LIVE_LABELS=''        # "RUNNING IMAGE_ID CONFIG_HASH" of the live container (read_live)
PREVIOUS_IP=''        # the previous slot's address on the network (previous_is_running)

live_slot() { # the slot the proxy config (without web: the slot file) names, if its container exists
  local slot container
  slot=$(recorded_slot)
  [[ -n $slot ]] || return 0
  container=$(slot_container "$slot")
  if [[ -n $container ]] && docker container inspect "$container" >/dev/null 2>&1; then echo "$slot"; fi
}

slot_image() { # slot_image SLOT: "SERVER_ID|IMAGE|IMAGE_ID" of the version in the slot
  local container
  container=$(slot_container "$1")
  [[ -n $container ]] || return 1
  docker container inspect -f "{{.Image}}|{{$(label_of image)}}|{{$(label_of image-id)}}" "$container" 2>/dev/null
}

live_logs() { # command logs: the live web container's last lines (without web: its workers')
  if has_web; then
    LOGS=$(docker logs --tail "$BG_LOGS_LINES" "$(container_name "$ACTIVE_SLOT")" 2>&1) || fail "$BG_EXIT_SERVER_UNUSABLE" "docker logs failed: $(docker_error "$LOGS")"
  else
    LOGS=$(worker_logs "$ACTIVE_SLOT")
  fi
  describe_live "$ACTIVE_SLOT"
}

describe_slots() { # the result's live container and workers
  [[ -n $LIVE_INFO ]] || describe_live "$ACTIVE_SLOT"
  if [[ -n $ACTIVE_SLOT ]]; then WORKERS_JSON=$(workers_json "$ACTIVE_SLOT"); fi
}

ensure_proxy_network() { # ensure_proxy_network PROXY_FACTS: the app's network exists (a proxy on it proves it does)
  [[ " $(cut -d'|' -f3 <<<"$1") " == *" $BG_NETWORK "* ]] || ensure_network
}

ensure_network() {
  docker network inspect "$BG_NETWORK" >/dev/null 2>&1 && return 0
  log "creating network $BG_NETWORK"
  docker network create "$BG_NETWORK" >/dev/null
}

# Removes a candidate that never got traffic; the live slot is left exactly as it was, and the
# container it replaced in its slot is put back.
discard_candidate() {
  # A canary or a bake cut short: the proxy back on the old slot alone before the candidate goes.
  if ((TRIAL_ACTIVE)); then end_trial_traffic; fi
  ((!SWITCHED)) || return 0
  discard_workers
  [[ -n $CANDIDATE ]] || return 0
  if ((CANDIDATE_STARTED)); then take_down_candidate; fi
  if [[ -n $KEPT ]]; then
    if docker rename "$KEPT" "$CANDIDATE" >/dev/null 2>&1; then
      log "put $KEPT back as $CANDIDATE: it is still the version to roll back to"
    else
      log "warning: could not rename $KEPT back to $CANDIDATE"
    fi
  fi
}

take_down_candidate() { # its log tail into the result (unless a worker failed); removed (a rollback's: stopped again)
  local logs
  if [[ -z $WORKER_FAILED ]]; then
    logs=$(docker logs --tail 40 "$CANDIDATE" 2>&1 || true)
    # 40 lines can be megabytes (one huge line): the result keeps the last 64 KiB of them.
    if ((${#logs} > 65536)); then logs="[…]${logs: -65536}"; fi
    LOG_TAIL="$logs${LOG_TAIL:+$'\n'"--- last HEALTHCHECK output ---"$'\n'$LOG_TAIL}"
  fi
  if [[ $BG_COMMAND == rollback && -z $BG_ROLLBACK_TO ]]; then # the kept container: stopped again, as it was
    docker stop --time "$BG_STOP_TIMEOUT" "$CANDIDATE" >/dev/null 2>&1 || true
    log "stopped $CANDIDATE again; ${PREVIOUS_SLOT:-no slot} is still live"
  else
    docker rm --force "$CANDIDATE" >/dev/null 2>&1 || true
    log "removed $CANDIDATE; ${PREVIOUS_SLOT:-no slot} is still live"
  fi
}

# A deploy's first questions to Docker, asked as the app is locked (engine_ask_ahead) and taken by
# read_live, make_room_for_candidate and require_sent_image: each would otherwise wait for its own call.
ask_slots_ahead() {
  has_web || return 0
  ask_meanwhile slot-facts slot_facts
  ask_meanwhile sent-image sent_image_here
}

# The app's two slot containers and the two set aside, those that exist, in one docker call:
# "NAME|APP|RUNNING IMAGE_ID CONFIG_HASH" a line (NAME with Docker's leading '/', APP its app label).
slot_facts() {
  docker container inspect -f "{{.Name}}|{{$(label_of app)}}|{{.State.Running}} {{$(label_of image-id)}} {{$(label_of config)}}" \
    "$(container_name blue)" "$(container_name green)" "$(kept_name blue)" "$(kept_name green)" 2>/dev/null || true
}

# In slot_facts' answer: "RUNNING IMAGE_ID CONFIG_HASH" of container NAME; fails when it is not there.
labels_in_facts() { # labels_in_facts FACTS NAME INTO
  local name app labels
  while IFS='|' read -r name app labels; do
    if [[ $name == "/$2" ]]; then
      put "$labels" "$3"
      return 0
    fi
  done <<<"$1"
  return 1
}

owners_in_facts() { # owners_in_facts FACTS: owners_of's answer ("NAME APP" a line) for the containers in FACTS
  local name app labels
  while IFS='|' read -r name app labels; do
    if [[ -n $name ]]; then printf '%s %s\n' "$name" "$app"; fi
  done <<<"$1"
}

# engine_live_slot, and the live container's labels for is_unchanged, in one docker call (main shell
# only). With web, that call's answer also says who owns the slots' names (SLOT_FACTS), for the
# candidate's make_room_for_candidate right after.
SLOT_FACTS='' SLOT_FACTS_UNUSED=0
read_live() {
  local slot
  PREVIOUS_SLOT='' LIVE_LABELS='' SLOT_FACTS='' SLOT_FACTS_UNUSED=0
  slot=$(recorded_slot)
  if has_web; then
    answer_of slot-facts SLOT_FACTS slot_facts
    SLOT_FACTS_UNUSED=1
    if [[ -n $slot ]] && labels_in_facts "$SLOT_FACTS" "$(container_name "$slot")" LIVE_LABELS; then PREVIOUS_SLOT=$slot; fi
    return 0
  fi
  [[ -n $slot ]] || return 0
  if LIVE_LABELS=$(docker container inspect -f "{{.State.Running}} {{$(label_of image-id)}} {{$(label_of config)}}" "$(slot_container "$slot")" 2>/dev/null); then
    PREVIOUS_SLOT=$slot
  fi
}

# Says so when the recorded state and Docker disagree; the run then acts on what Docker has.
note_state_mismatch() {
  local recorded
  recorded=$(recorded_slot)
  if [[ -n $recorded && $recorded != "$PREVIOUS_SLOT" ]]; then
    if has_web; then
      log "the proxy config names $recorded live, but $(container_name "$recorded") is gone: treating nothing as live"
    else
      log "$recorded is recorded live, but its workers are gone: treating nothing as live"
    fi
  fi
}

label_args() { # label_args SLOT: the version's labels, its slot and the state-dir it keeps its state in
  local label
  while IFS= read -r label; do printf '%s\n' --label "$label"; done < <(version_labels)
  printf '%s\n' --label "$LABEL.slot=$1" --label "$LABEL.state-dir=$STATE_DIR"
}

# The candidate's slot may hold the version before the live one (the one to roll back to): it is
# set aside as <app>-<slot>-kept, put back if the candidate never goes live (discard_candidate) and
# removed once it does (forget_kept). Also tidies what an interrupted run (SIGKILL) left.
make_room_for_candidate() {
  local kept owners owner stale=''
  kept=$(kept_name "$CANDIDATE_SLOT")
  if [[ -n $PREVIOUS_SLOT ]]; then stale=$(kept_name "$PREVIOUS_SLOT"); fi
  # read_live's answer when nothing changed the containers since (it is taken once).
  if ((SLOT_FACTS_UNUSED)); then
    owners=$(owners_in_facts "$SLOT_FACTS")
    SLOT_FACTS_UNUSED=0
  else
    owners=$(owners_of "$CANDIDATE" "$kept" ${stale:+"$stale"})
  fi
  if [[ -n $stale ]] && [[ $(owner_in "$owners" "$stale" || true) == "$BG_APP" ]]; then
    log "removing $stale, set aside by a run that was interrupted after its switch"
    docker rm --force "$stale" >/dev/null
  fi
  if owner=$(owner_in "$owners" "$kept"); then
    [[ $owner == "$BG_APP" ]] || refuse_foreign "$kept"
    # A run interrupted before its switch: its candidate goes, the container it set aside stays so.
    if owner=$(owner_in "$owners" "$CANDIDATE"); then
      [[ $owner == "$BG_APP" ]] || refuse_foreign "$CANDIDATE"
      log "removing $CANDIDATE, the candidate of a run that was interrupted; $kept stays set aside"
      docker rm --force "$CANDIDATE" >/dev/null
    fi
    KEPT=$kept
  elif owner=$(owner_in "$owners" "$CANDIDATE"); then
    [[ $owner == "$BG_APP" ]] || refuse_foreign "$CANDIDATE"
    log "setting $CANDIDATE aside as $kept until the new version is live"
    docker rename "$CANDIDATE" "$kept"
    KEPT=$kept
  fi
}

# Once the new version is live, the previous slot is the one to roll back to: the container set
# aside from the new version's slot goes (its image may then be pruned).
forget_kept() {
  forget_kept_workers
  [[ -n $KEPT ]] || return 0
  docker rm --force "$KEPT" >/dev/null
  log "removed $KEPT: ${PREVIOUS_SLOT:-the previous slot} is now the version to roll back to"
}

# Once the new version is live, while the run records and counts: the version set aside from its slot
# goes, then the images no container uses (its image among them, so not at once).
forget_kept_then_prune_images() {
  after_switch forget forget_kept
  prune_images
}

# The new version in the idle slot: its web container, then its workers.
start_candidate() {
  CANDIDATE_SLOT=$(other_slot "${PREVIOUS_SLOT:-green}")
  sweep_env_files
  # Listed before it runs: if it never goes live, the next deploy (or remove) still knows to prune it.
  grep -qxF "$VERSION_SERVER_ID" "$APP_DIR/images-tried" 2>/dev/null || printf '%s\n' "$VERSION_SERVER_ID" >>"$APP_DIR/images-tried" || true
  if has_web; then start_web_candidate; fi
  start_workers
  drop_env_file
}

start_web_candidate() {
  CANDIDATE=$(container_name "$CANDIDATE_SLOT")
  make_room_for_candidate
  log "starting $CANDIDATE from $VERSION_IMAGE ($(short_id "$VERSION_IMAGE_ID"))"
  CANDIDATE_STARTED=1
  engine_start_container "$CANDIDATE" "$CANDIDATE_SLOT" '' || fail "$BG_EXIT_SERVER_UNUSABLE" "docker run of $CANDIDATE failed: $(docker_error "$START_ERROR")"
}

previous_is_running() { # also notes its address for drain_previous (one docker call, asked as the switch began)
  [[ -n $PREVIOUS_SLOT ]] && has_web || return 1
  local facts
  answer_of previous facts previous_facts
  [[ -n $facts ]] || return 1
  PREVIOUS_IP=${facts#* }
  [[ ${facts%% *} == true ]]
}

previous_facts() { # "RUNNING IP" of the previous slot's container
  docker container inspect -f "{{.State.Running}} {{with index .NetworkSettings.Networks \"$BG_NETWORK\"}}{{.IPAddress}}{{end}}" "$(container_name "$PREVIOUS_SLOT")" 2>/dev/null
}

# An IPv4 address and port as /proc/net/tcp writes them (little-endian hex), e.g. 0501D60A:1F90.
proc_net_address() { # proc_net_address A.B.C.D PORT
  local a b c d
  IFS=. read -r a b c d <<<"$1"
  printf '%02X%02X%02X%02X:%04X' "$d" "$c" "$b" "$a" "$2"
}

# Waits until nothing the previous config routed to the old slot is in flight: its nginx workers have
# all exited (they exit once their last request is done), or the proxy has no request left on the old
# container in 3 looks over 0.3 s. Requests that end by themselves get $BG_DRAIN_SECONDS at most;
# long-lived ones (a WebSocket, server-sent events: they come through the old slot's loopback hop)
# only $BG_DRAIN_LONG_LIVED, then they are closed as the old container stops. Looks from inside the
# proxy (its /proc), one exec each.
note_drain() {
  DRAIN_NOTE=$1
  { printf '%s' "$1" >"$APP_DIR/.drain-note"; } 2>/dev/null || true
}

drain_previous() {
  local old ip target hop started deadline long_deadline quiet=0 look total long http workers
  old=$(container_name "$PREVIOUS_SLOT")
  # The workers of every config that routed to the old slot: the one before the switch, and with a
  # canary the one before it (a request they still hold, an upload, goes to the old slot).
  workers="$OLD_WORKERS${EARLIER_WORKERS:+ $EARLIER_WORKERS}"
  now_ms started
  deadline=$((started + BG_DRAIN_MS))
  long_deadline=$((started + BG_DRAIN_LONG_LIVED * 1000))
  ip=$PREVIOUS_IP
  target=''
  if [[ $ip =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]]; then target=$(proc_net_address "$ip" "$BG_CONTAINER_PORT"); fi
  hop=$(proc_net_address 127.0.0.1 "$(hop_port "$PREVIOUS_SLOT")")
  log "draining $old: requests until they are done (at most ${BG_DRAIN_SECONDS}s), WebSockets and event streams at most ${BG_DRAIN_LONG_LIVED}s (previous nginx workers: ${workers:-unknown})"
  while (($(now_ms) < deadline)); do
    look=$(proxy_sh "$BG_PROXY_DRAIN_LOOK_SH" "$workers" || true)
    if [[ -z $look ]]; then break; fi
    if [[ -n $workers && $look != *workers-alive* ]]; then
      log "drained after $(($(now_ms) - started))ms: the previous config's workers have finished"
      return 0
    fi
    if [[ -n $target ]]; then
      read -r total long < <(awk -v t="$target" -v h="$hop" '$4 == "01" && substr($3, length($3) - length(t) + 1) == t { n++ }
        $4 == "01" && $2 == h { l++ } END { print n + 0, l + 0 }' <<<"$look")
      http=$((total - long))
      if ((http <= 0)); then quiet=$((quiet + 1)); else quiet=0; fi
      if ((quiet >= 3 && long == 0)); then
        log "drained after $(($(now_ms) - started))ms: no request of the proxy's is on $old"
        return 0
      fi
      if ((quiet >= 3 && $(now_ms) >= long_deadline)); then
        note_drain "$long long-lived connection(s) (WebSocket, event stream) closed after drain-long-lived (${BG_DRAIN_LONG_LIVED}s)"
        log "drained after $(($(now_ms) - started))ms: every request is done; $DRAIN_NOTE as $old stops"
        return 0
      fi
    fi
    sleep 0.1
  done
  note_drain "drain-seconds (${BG_DRAIN_SECONDS}s) ran out with requests still on $old${http:+ ($http request(s), ${long:-0} long-lived)}: they got ${BG_STOP_TIMEOUT}s to finish as it stopped"
  log "drain time (${BG_DRAIN_SECONDS}s) is up; requests still on $old get ${BG_STOP_TIMEOUT}s to finish as it stops"
}

stop_previous() {
  local old
  old=$(container_name "$PREVIOUS_SLOT")
  log "stopping $old (SIGTERM, SIGKILL after ${BG_STOP_TIMEOUT}s); kept for rollback"
  docker stop --time "$BG_STOP_TIMEOUT" "$old" >/dev/null || log "warning: could not stop $old"
}

retire_previous() {
  previous_is_running || return 0
  proxy_channel_ensure
  after_switch drain drain_previous
  # Nothing after it needs the old version stopped: it stops while the run counts and records.
  after_switch_in_background stop stop_previous
  # The drain ran in a subshell (after_switch): its note comes back through a file.
  DRAIN_NOTE=''
  if [[ -f $APP_DIR/.drain-note ]]; then
    read_file "$APP_DIR/.drain-note" DRAIN_NOTE
    rm -f "$APP_DIR/.drain-note"
  fi
  start_receipt_read
}

# The images of deploys that never went live (not in LIST, the live ones) go, unless a container uses them.
prune_tried_images() { # prune_tried_images LIST IN_USE
  local tried=$APP_DIR/images-tried id
  [[ -s $tried ]] || return 0
  while IFS= read -r id; do
    if [[ -z $id ]] || grep -qxF "$id" "$1" 2>/dev/null || grep -qxF "$id" <<<"$2"; then continue; fi
    if docker image rm --force "$id" >/dev/null 2>&1; then log "removed image $(short_id "$id") of a deploy that never went live"; fi
  done <"$tried"
  rm -f "$tried"
}

# Keeps the newest $BG_KEEP_IMAGES images this app deployed; older ones go unless a container
# still uses them (then they stay listed and are tried again next time).
prune_images() {
  local list=$APP_DIR/images id in_use kept=()
  touch "$list"
  if [[ -n $VERSION_SERVER_ID ]] && [[ $(tail -n 1 "$list") != "$VERSION_SERVER_ID" ]]; then
    grep -vxF "$VERSION_SERVER_ID" "$list" >"$list.tmp" || true
    printf '%s\n' "$VERSION_SERVER_ID" >>"$list.tmp"
    mv -f "$list.tmp" "$list"
  fi
  # Only when some image may go are the containers asked (once) which images they use.
  [[ -s $APP_DIR/images-tried ]] || (($(wc -l <"$list") > BG_KEEP_IMAGES)) || return 0
  if ! in_use=$(images_in_use); then
    log "warning: cannot list the containers, so no image is pruned this time"
    return 0
  fi
  prune_tried_images "$list" "$in_use"
  (($(wc -l <"$list") > BG_KEEP_IMAGES)) || return 0
  while IFS= read -r id; do
    [[ -n $id ]] || continue
    if grep -qxF "$id" <<<"$in_use"; then
      kept+=("$id")
    elif docker image rm --force "$id" >/dev/null 2>&1; then
      log "removed old image $(short_id "$id")"
    elif docker image inspect "$id" >/dev/null 2>&1; then
      log "warning: could not remove old image $(short_id "$id")"
      kept+=("$id")
    fi
  done < <(head -n -"$BG_KEEP_IMAGES" "$list")
  { if ((${#kept[@]})); then printf '%s\n' "${kept[@]}"; fi; tail -n "$BG_KEEP_IMAGES" "$list"; } >"$list.tmp"
  mv -f "$list.tmp" "$list"
}

describe_live() { # sets LIVE_INFO to a JSON object describing the live container (without web: first worker), if any
  local slot=$1 container
  [[ -n $slot ]] || return 0
  container=$(slot_container "$slot")
  [[ -n $container ]] || return 0
  LIVE_INFO=$(docker inspect -f "$(live_template .Name '{{.State.Running}}' .Config.Labels)" "$container" 2>/dev/null || true)
}

is_unchanged() { # the live slot already runs this exact image with this exact configuration, and all its workers
  [[ -n $PREVIOUS_SLOT && $LIVE_LABELS == "true $BG_IMAGE_ID $BG_CONFIG_HASH" ]] && workers_complete "$PREVIOUS_SLOT"
}

check_candidate() { # the new web version healthy (when there is one), then every new worker up
  if has_web; then
    # While it boots: the switch then only writes the proxy's files.
    prepare_proxy_texts "$CANDIDATE_SLOT"
    run_phase health wait_until_healthy
  fi
  run_phase workers wait_for_workers
}

# After the new version is healthy and its workers are up: the proxy (without web: the slot record)
# points at it; the old workers stop at once, the old web after its drain.
switch_to_candidate() {
  # What the drain needs of the previous version, asked while the proxy reloads (a bake first waits).
  if has_web && [[ -n $PREVIOUS_SLOT ]] && ((BG_BAKE_MS == 0)); then ask_meanwhile previous previous_facts; fi
  if has_web; then run_phase switch switch_proxy; else run_phase switch switch_workers_only; fi
  OUTCOME=$BG_OUTCOME_SWITCHED
  if bake_wanted; then run_phase bake bake_candidate; fi
  after_switch_in_background workers stop_previous_workers
  retire_previous
  if has_web; then show_first_lines_meanwhile; fi
}

cmd_deploy() {
  refuse_web_change
  read_live
  ACTIVE_SLOT=$PREVIOUS_SLOT
  note_state_mismatch
  log "live slot: ${PREVIOUS_SLOT:-none}"
  run_phase tls ensure_certificate
  if is_unchanged; then
    OUTCOME=$BG_OUTCOME_UNCHANGED
    CANDIDATE=$(slot_container "$PREVIOUS_SLOT")
    log "$CANDIDATE already runs $(short_id "$BG_IMAGE_ID") with this configuration; nothing to switch"
    if has_web; then run_phase switch refresh_proxy_config; fi
    return 0
  fi
  # Before anything is removed to make room: a missing image changes nothing.
  require_sent_image
  run_phase start start_candidate
  # Once it started, while it boots: the window's first call waits for the proxy channel to be up,
  # and the new version gets no request before its health check anyway.
  run_phase window open_receipt_window
  check_candidate
  if ((BG_BARRIER_SECONDS > 0)); then run_phase wait wait_for_every_host; fi
  if canary_wanted; then run_phase canary run_canary; fi
  switch_to_candidate
  after_switch_in_background prune forget_kept_then_prune_images
}

# A container set aside from the idle slot means a run was interrupted before its switch: the
# set-aside one is the version to roll back to, and what the run started in its place goes.
put_back_kept_for_rollback() {
  local kept owners
  kept=$(kept_name "$CANDIDATE_SLOT")
  owners=$(owners_of "$kept" "$CANDIDATE")
  [[ $(owner_in "$owners" "$kept" || true) == "$BG_APP" ]] || return 0
  if owner_in "$owners" "$CANDIDATE" >/dev/null; then
    [[ $(owner_in "$owners" "$CANDIDATE" || true) == "$BG_APP" ]] || refuse_foreign "$CANDIDATE"
    docker rm --force "$CANDIDATE" >/dev/null
    log "removed $CANDIDATE, the candidate of a run that was interrupted"
  fi
  docker rename "$kept" "$CANDIDATE"
  log "put $kept back as $CANDIDATE (set aside by a run that was interrupted)"
}

cmd_rollback() {
  refuse_other_state_dir
  if [[ -n $BG_ROLLBACK_TO ]]; then
    rollback_to
    return
  fi
  PREVIOUS_SLOT=$(engine_live_slot)
  ACTIVE_SLOT=$PREVIOUS_SLOT
  note_state_mismatch
  [[ -n $PREVIOUS_SLOT ]] || fail "$BG_EXIT_NOTHING_TO_ROLL_BACK" "$BG_APP has no live slot, so there is nothing to roll back from"
  run_phase tls ensure_certificate
  CANDIDATE_SLOT=$(other_slot "$PREVIOUS_SLOT")
  if has_web; then
    CANDIDATE=$(container_name "$CANDIDATE_SLOT")
    put_back_kept_for_rollback
  fi
  put_back_kept_workers
  local labels
  labels=$(engine_live_image "$CANDIDATE_SLOT") ||
    fail "$BG_EXIT_NOTHING_TO_ROLL_BACK" "there is no previous version to roll back to ($(has_web && echo "$CANDIDATE does not exist" || echo "the $CANDIDATE_SLOT slot has no workers")); nothing was changed"
  IFS='|' read -r CANDIDATE_SERVER_ID VERSION_IMAGE CANDIDATE_IMAGE_ID <<<"$labels"
  refuse_rollback_across_release "$CANDIDATE_IMAGE_ID"
  log "rolling back $PREVIOUS_SLOT -> $CANDIDATE_SLOT ($VERSION_IMAGE)"
  PHASE=start
  if has_web; then
    CANDIDATE_STARTED=1
    docker start "$CANDIDATE" >/dev/null
  fi
  start_slot_workers
  check_candidate
  switch_to_candidate
}

# rollback-to: a version the history names, still on this server, started in the idle slot like a
# deploy (health check, switch, drain), with the settings the last deploy recorded where not given.
rollback_to() {
  PHASE=version
  resolve_version "$BG_ROLLBACK_TO"
  read_live
  ACTIVE_SLOT=$PREVIOUS_SLOT
  note_state_mismatch
  log "live slot: ${PREVIOUS_SLOT:-none}"
  if [[ -n $PREVIOUS_SLOT && ${LIVE_LABELS#* } == "$VERSION_IMAGE_ID "* ]]; then
    OUTCOME=$BG_OUTCOME_UNCHANGED
    CANDIDATE=$(slot_container "$PREVIOUS_SLOT")
    log "$CANDIDATE already runs $(short_id "$VERSION_IMAGE_ID") ($VERSION_IMAGE); nothing to switch"
    return 0
  fi
  refuse_rollback_across_release "$VERSION_IMAGE_ID"
  load_container_settings
  run_phase tls ensure_certificate
  run_phase start start_candidate
  check_candidate
  switch_to_candidate
  after_switch_in_background prune forget_kept_then_prune_images
}
