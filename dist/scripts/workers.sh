# Workers (engines docker and compose): processes from the app's image beside the web one, with no route. A
# version's workers run in its slot as <app>-<slot>-<name>-<n> (labels app, slot, worker): started
# beside the live version's before the switch, and after it stopped and kept for rollback, like the
# slot's web container. Docker's labels say which workers a slot has, whatever this run's input says.
# An app with web: false has only workers: its live slot is recorded in $APP_DIR/slot.
# shellcheck shell=bash

readonly LIVE_SLOT_FILE=$APP_DIR/slot

has_web() { ((BG_WEB)); }

WORKERS_STARTED=()   # the workers this run started (a rollback: started again), checked before the switch
CANDIDATE_SLOT_CLEARED=0 # the candidate slot held no worker in use before this run started its own there
WORKERS_STARTED_MS=0 # when they were started: worker-grace counts from here
WORKERS_KEPT=0       # the candidate slot's old workers were set aside (.kept) while the new ones are tried
WORKER_FAILED=''     # the worker that stopped the run (the summary shows its log, not the web's)
WORKERS_JSON=''      # the result's "workers": the live slot's

worker_fields() { # worker_fields SPEC ARRAY: name, replicas, then the command's words (workerSpec in script.ts)
  # shellcheck disable=SC2034 # set through the nameref
  local -n fields_of=$2
  mapfile -d "$BG_WORKER_FIELD_END" -t fields_of < <(printf '%s' "$1")
}

worker_container() { printf '%s-%s-%s-%s' "$BG_APP" "$1" "$2" "$3"; } # worker_container SLOT NAME N

# The worker containers of SLOT that Docker has, sorted; with kept, only those set aside (NAME.kept).
slot_workers() { workers_of_slot "$(app_workers)" "$@"; } # slot_workers SLOT [kept]

# The app's workers, one "SLOT NAME" a line: one docker call for what several slot_workers would ask.
app_workers() {
  docker ps -a --filter "label=$LABEL.app=$BG_APP" --filter "label=$LABEL.worker" --format "{{.Label \"$LABEL.slot\"}} {{.Names}}" 2>/dev/null || true
}

# SLOT's workers in LIST (app_workers'), sorted, one a line: the ones in use, or with kept the ones set aside.
workers_of_slot() { # workers_of_slot LIST SLOT [kept]
  local slot name picked=()
  while read -r slot name; do
    [[ $slot == "$2" && -n $name ]] || continue
    if [[ ${3:-} == kept ]]; then [[ $name == *.kept ]] || continue; else [[ $name != *.kept ]] || continue; fi
    picked+=("$name")
  done <<<"$1"
  ((${#picked[@]})) || return 0
  printf '%s\n' "${picked[@]}" | sort
}

# The container that stands for a slot's version: its web container, or without web its first worker.
slot_container() { # slot_container SLOT
  if has_web; then
    container_name "$1"
  else
    slot_workers "$1" | head -n 1
  fi
}

# The names this run's workers get in SLOT, one a line.
wanted_workers() { # wanted_workers SLOT
  local spec fields n
  for spec in "${BG_WORKERS[@]}"; do
    worker_fields "$spec" fields
    for ((n = 1; n <= fields[1]; n++)); do worker_container "$1" "${fields[0]}" "$n" && printf '\n'; done
  done
}

# An unchanged deploy must find every worker it would start already running in the live slot (one
# removed by hand, or one that exited, makes the deploy start the version again).
workers_complete() { # workers_complete SLOT
  local have want
  have=$(docker ps -a --filter "label=$LABEL.app=$BG_APP" --filter "label=$LABEL.slot=$1" --filter "label=$LABEL.worker" --format '{{.Names}} {{.State}}' 2>/dev/null | grep -v '\.kept ' | sort || true)
  want=$(wanted_workers "$1" | sed '/^$/d; s/$/ running/' | sort)
  [[ $have == "$want" ]]
}

# The recorded live slot of an app without web must match what this run is: a web app's record is
# its proxy config. Changing web between deploys would leave the other kind running beside it.
refuse_web_change() {
  if has_web && [[ -f $LIVE_SLOT_FILE ]]; then
    fail "$BG_EXIT_SERVER_UNUSABLE" "$BG_APP was deployed with web: false (workers only); remove it first (command: remove) to deploy it with a web process; nothing was changed"
  elif ! has_web && [[ -f $CONF_FILE ]]; then
    fail "$BG_EXIT_SERVER_UNUSABLE" "$BG_APP was deployed with a web process; remove it first (command: remove) to deploy it with web: false; nothing was changed"
  fi
}

# The candidate slot's workers are the version before the live one (the one to roll back to): set
# aside as NAME.kept until the new version is live, put back if it never is. Also tidies what an
# interrupted run left: set-aside workers in the live slot (interrupted after its switch) go; in the
# candidate slot (before it), the workers it started go and the set-aside ones stay so.
make_room_for_workers() {
  local all stale kept current container
  all=$(app_workers)
  CANDIDATE_SLOT_CLEARED=1
  if [[ -n $PREVIOUS_SLOT ]]; then
    stale=$(workers_of_slot "$all" "$PREVIOUS_SLOT" kept)
    if [[ -n $stale ]]; then
      log "removing $(paste -sd ' ' <<<"$stale"), set aside by a run that was interrupted after its switch"
      xargs docker rm --force <<<"$stale" >/dev/null
    fi
  fi
  kept=$(workers_of_slot "$all" "$CANDIDATE_SLOT" kept)
  current=$(workers_of_slot "$all" "$CANDIDATE_SLOT")
  if [[ -n $kept ]]; then
    WORKERS_KEPT=1
    [[ -n $current ]] || return 0
    log "removing $(paste -sd ' ' <<<"$current"), started by a run that was interrupted; the workers it set aside stay so"
    xargs docker rm --force <<<"$current" >/dev/null
  elif [[ -n $current ]]; then
    WORKERS_KEPT=1
    log "setting the $CANDIDATE_SLOT slot's workers aside until the new version is live: $(paste -sd ' ' <<<"$current")"
    while IFS= read -r container; do docker rename "$container" "$container.kept"; done <<<"$current"
  fi
}

start_workers() { # the new version's workers in the candidate slot, with the app's container settings
  make_room_for_workers
  local spec fields n container
  for spec in "${BG_WORKERS[@]}"; do
    worker_fields "$spec" fields
    for ((n = 1; n <= fields[1]; n++)); do
      container=$(worker_container "$CANDIDATE_SLOT" "${fields[0]}" "$n")
      log "starting worker $container"
      WORKERS_STARTED+=("$container")
      engine_start_container "$container" "$CANDIDATE_SLOT" "${fields[0]}" "${fields[@]:2}" ||
        fail "$BG_EXIT_SERVER_UNUSABLE" "docker run of worker $container failed: $(docker_error "$START_ERROR")"
    done
  done
  now_ms WORKERS_STARTED_MS
}

start_slot_workers() { # a plain rollback: the candidate slot's kept workers, started again
  local container
  while IFS= read -r container; do
    [[ -n $container ]] || continue
    WORKERS_STARTED+=("$container")
    docker start "$container" >/dev/null
    log "started worker $container again"
  done < <(slot_workers "$CANDIDATE_SLOT")
  now_ms WORKERS_STARTED_MS
}

worker_failed() { # worker_failed CONTAINER WHY: the run fails with the worker's last lines as its log
  local logs
  WORKER_FAILED=$1
  PHASE=workers # also when the web version was still being checked: the summary names the worker
  logs=$(docker logs --tail 40 "$1" 2>&1 || true)
  if ((${#logs} > 65536)); then logs="[…]${logs: -65536}"; fi
  LOG_TAIL="--- last lines of worker $1 ---"$'\n'"$logs${3:+$'\n'"--- last HEALTHCHECK output ---"$'\n'$3}"
  fail "$BG_EXIT_UNHEALTHY" "worker $1 $2; nothing switched"
}

# Looks at every started worker once: one that exited, restarted or turns unhealthy (or is gone)
# fails the run at once; the names of those not up yet go into PENDING_WORKERS. Up: its image's
# HEALTHCHECK says healthy, or (without one) it still runs, never restarted, worker-grace after its start.
PENDING_WORKERS=()
look_at_workers() {
  local facts name status restarts code health seen=' '
  PENDING_WORKERS=()
  facts=$(docker inspect -f '{{.Name}} {{.State.Status}} {{.RestartCount}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "${WORKERS_STARTED[@]}" 2>/dev/null || true)
  while read -r name status restarts code health; do
    [[ -n $name ]] || continue
    name=${name#/}
    seen+="$name "
    if [[ $status != running || $restarts != 0 ]]; then
      worker_failed "$name" "exited (code $code) before it was up"
    elif [[ $health == unhealthy ]]; then
      worker_failed "$name" "is unhealthy (its image's HEALTHCHECK)" "$(docker inspect -f '{{range .State.Health.Log}}{{.Output}}{{end}}' "$name" 2>/dev/null | tail -n 5 || true)"
    elif [[ $health == starting ]] || { [[ $health == none ]] && (($(now_ms) < WORKERS_STARTED_MS + BG_WORKER_GRACE_MS)); }; then
      PENDING_WORKERS+=("$name")
    fi
  done <<<"$facts"
  for name in "${WORKERS_STARTED[@]}"; do
    [[ $seen == *" $name "* ]] || worker_failed "$name" "is gone (removed while it started)"
  done
}

# While the web version is checked: a worker that already failed stops the run without waiting for the web.
workers_still_starting() { if ((${#WORKERS_STARTED[@]})); then look_at_workers; fi; }

# Every started worker is up; one whose HEALTHCHECK never passes fails the run after health-timeout.
wait_for_workers() {
  ((${#WORKERS_STARTED[@]})) || return 0
  local deadline=$((WORKERS_STARTED_MS + BG_HEALTH_TIMEOUT_MS))
  log "waiting for ${#WORKERS_STARTED[@]} worker(s): each up when its HEALTHCHECK passes, or still running after worker-grace ($(ms_as_seconds "$BG_WORKER_GRACE_MS")s)"
  while :; do
    look_at_workers
    if ((${#PENDING_WORKERS[@]} == 0)); then
      log "every worker is up after $(ms_as_seconds $(($(now_ms) - WORKERS_STARTED_MS)))s"
      return 0
    fi
    (($(now_ms) < deadline)) || worker_failed "${PENDING_WORKERS[0]}" "did not become healthy within health-timeout ($((BG_HEALTH_TIMEOUT_MS / 1000))s)"
    sleep 0.2
  done
}

# A worker-only app's switch: the new slot is recorded as live (its workers already run).
switch_workers_only() {
  write_if_changed "$LIVE_SLOT_FILE" "$CANDIDATE_SLOT" 600
  SWITCHED=1
  ACTIVE_SLOT=$CANDIDATE_SLOT
  log "workers switched ${PREVIOUS_SLOT:-none} -> $CANDIDATE_SLOT"
}

stop_previous_workers() { # after the switch: SIGTERM, then SIGKILL after stop-timeout, all at once; kept for rollback
  [[ -n $PREVIOUS_SLOT ]] || return 0
  local old
  old=$(slot_workers "$PREVIOUS_SLOT")
  [[ -n $old ]] || return 0
  log "stopping the previous workers (SIGTERM, SIGKILL after ${BG_STOP_TIMEOUT}s); kept for rollback: $(paste -sd ' ' <<<"$old")"
  xargs docker stop --time "$BG_STOP_TIMEOUT" <<<"$old" >/dev/null || log "warning: could not stop every previous worker"
}

forget_kept_workers() { # once the new version is live: the workers set aside from its slot go
  ((WORKERS_KEPT)) || return 0
  local kept
  kept=$(slot_workers "$CANDIDATE_SLOT" kept)
  [[ -n $kept ]] || return 0
  xargs docker rm --force <<<"$kept" >/dev/null
  log "removed the workers set aside from $CANDIDATE_SLOT: ${PREVIOUS_SLOT:-the previous slot} is now the version to roll back to"
}

# A run that never switched: the workers it started go (a plain rollback's are stopped again, as they
# were), and the ones it set aside are put back.
discard_workers() {
  if [[ $BG_COMMAND == rollback && -z $BG_ROLLBACK_TO ]]; then
    if ((${#WORKERS_STARTED[@]})); then
      docker stop --time "$BG_STOP_TIMEOUT" "${WORKERS_STARTED[@]}" >/dev/null 2>&1 || true
      log "stopped the workers of $CANDIDATE_SLOT again"
    fi
    return 0
  fi
  if ((${#WORKERS_STARTED[@]})); then
    docker rm --force "${WORKERS_STARTED[@]}" >/dev/null 2>&1 || true
    log "removed the new workers: $(join_by ' ' "${WORKERS_STARTED[@]}")"
  fi
  ((WORKERS_KEPT)) || return 0
  local container
  while IFS= read -r container; do
    [[ -n $container ]] || continue
    docker rename "$container" "${container%.kept}" >/dev/null 2>&1 || log "warning: could not rename $container back to ${container%.kept}"
  done < <(slot_workers "$CANDIDATE_SLOT" kept)
}

# A plain rollback after a run interrupted before its switch: the candidate slot's set-aside workers
# are its version's; what the run started in their place goes.
put_back_kept_workers() {
  local kept current container
  kept=$(slot_workers "$CANDIDATE_SLOT" kept)
  [[ -n $kept ]] || return 0
  current=$(slot_workers "$CANDIDATE_SLOT")
  if [[ -n $current ]]; then xargs docker rm --force <<<"$current" >/dev/null; fi
  while IFS= read -r container; do docker rename "$container" "${container%.kept}"; done <<<"$kept"
  log "put the workers set aside in $CANDIDATE_SLOT back (set aside by a run that was interrupted)"
}

remove_app_workers() { # every worker container of the app, in any slot, set aside or not; true when there was one
  local all
  all=$(docker ps -a --filter "label=$LABEL.app=$BG_APP" --filter "label=$LABEL.worker" --format '{{.Names}}' 2>/dev/null || true)
  rm -f "$LIVE_SLOT_FILE"
  [[ -n $all ]] || return 1
  xargs docker rm --force <<<"$all" >/dev/null
  log "removed worker containers $(paste -sd ' ' <<<"$all")"
}

workers_json() { # workers_json SLOT: the slot's workers as JSON objects, comma-separated
  local names=()
  # The slot this run started its workers in holds those (make_room_for_workers cleared it): no
  # listing needed, and none at all when there are none.
  if ((CANDIDATE_SLOT_CLEARED)) && [[ $1 == "$CANDIDATE_SLOT" ]]; then
    ((${#WORKERS_STARTED[@]})) || return 0
    mapfile -t names < <(printf '%s\n' "${WORKERS_STARTED[@]}" | sort)
  else
    mapfile -t names < <(slot_workers "$1")
  fi
  ((${#names[@]})) || return 0
  docker inspect -f "{\"container\":{{json .Name}},\"worker\":{{json $(label_of worker)}},\"running\":{{.State.Running}},\"restarts\":{{.RestartCount}},\"image\":{{json $(label_of image)}},\"imageId\":{{json $(label_of image-id)}}}" "${names[@]}" 2>/dev/null | paste -sd , || true
}

worker_logs() { # the live slot's workers' last lines, each under its name
  local container
  while IFS= read -r container; do
    [[ -n $container ]] || continue
    printf -- '--- %s ---\n' "$container"
    docker logs --tail "$BG_LOGS_LINES" "$container" 2>&1 || true
  done < <(slot_workers "$1")
}
