# engine: compose. The app is a compose project (named after the app) whose files the deploy brings
# to $APP_DIR/compose. Its web service goes blue/green in the slots like engine docker's container
# (slots.sh, sent before this file), with compose making the containers:
#   - the web service (BG_COMPOSE_SERVICE) runs in the slots as <app>-blue / <app>-green, made by
#     `docker compose run --detach --no-deps` from its own definition with the deployed image, on
#     the project's networks and the proxy's;
#   - the other services of the app's image are its workers (workers.sh), made the same way;
#   - every other service is compose's own (accessories): brought up by `docker compose up --detach
#     --wait` before the new version starts, so that its release command and its first requests
#     find them; compose recreates one only when its definition or image changed.
# What engine docker's functions do for the slots (health, switch, drain, rollback, history) is the same.
# shellcheck shell=bash

readonly COMPOSE_DIR=$APP_DIR/compose          # the project directory: the files of the last deploy
readonly COMPOSE_FILES_LIST=$APP_DIR/compose.files # its compose files, one a line, in merge order
readonly COMPOSE_OVERRIDE=$APP_DIR/compose.override.json # the app's image for its services, per call
readonly COMPOSE_PREVIOUS=$APP_DIR/compose.previous # while a deploy (and its release phase) runs: the files it replaced
# A compose project name is lower-case letters, digits, '-' and '_': an app's '.' becomes '_'.
readonly COMPOSE_PROJECT=${BG_APP//./_}
COMPOSE_ONEOFF_ERROR='' # a one-off container compose made but could not start (engine_create_oneoff)

engine_check() {
  local version
  version=$(docker compose version --short 2>/dev/null) ||
    fail "$BG_EXIT_SERVER_UNUSABLE" "engine: compose needs Docker Compose v2 (the docker compose command) on this server, and the docker of $(id -un) has none: install the docker-compose-plugin package from Docker's apt repository (or docker-compose from Debian 13 or newer); nothing was changed"
  version=${version#v}
  if ! version_at_least "$version" "$BG_COMPOSE_MIN_VERSION"; then
    fail "$BG_EXIT_SERVER_UNUSABLE" "engine: compose needs Docker Compose $BG_COMPOSE_MIN_VERSION or newer on this server, and it has ${version%%[[:space:]]*}: upgrade the docker-compose-plugin package; nothing was changed"
  fi
}

version_at_least() { # version_at_least VERSION MINIMUM: both MAJOR.MINOR[.PATCH…]
  local have_major have_minor want_major want_minor
  IFS=. read -r have_major have_minor _ <<<"$1"
  IFS=. read -r want_major want_minor _ <<<"$2"
  have_minor=${have_minor%%[!0-9]*}
  [[ $have_major =~ ^[0-9]+$ && $have_minor =~ ^[0-9]+$ ]] || return 1
  ((have_major > want_major || (have_major == want_major && have_minor >= want_minor)))
}

engine_network() { ensure_proxy_network "$1"; } # the project's own networks are compose's

engine_live_slot() { live_slot; }
engine_upstream() { container_name "$1"; } # engine_upstream SLOT: the slot's web container, on the proxy's network

engine_ask_ahead() { :; } # its deploy first brings the accessories up, which takes far longer
engine_deploy() {
  run_phase services compose_prepare
  cmd_deploy
}

engine_release() {
  run_phase services compose_prepare
  cmd_release
}

engine_rollback() { cmd_rollback; } # the slots only: the accessories stay as they are
engine_discard() { # a failed deploy: its candidate goes, and the files of the last deploy that went live come back
  discard_candidate
  if deploys; then restore_compose_files; fi
}

engine_remove() { # true when there was a container or a project to remove
  local found=1
  if remove_app_containers; then found=0; fi
  if compose_down; then found=0; fi
  return "$found"
}

engine_status() {
  describe_live "$ACTIVE_SLOT"
  SERVICES_JSON=$(services_json)
}

engine_logs() { live_logs; }

engine_finish() {
  if [[ $BG_COMMAND == deploy ]]; then rm -rf "$COMPOSE_PREVIOUS" "$COMPOSE_PREVIOUS.files"; fi
  describe_slots
  if [[ $BG_COMMAND != remove && -z $SERVICES_JSON ]]; then SERVICES_JSON=$(services_json); fi
}

engine_unchanged() { read_live && is_unchanged; } # the live slot already runs this image with these settings
engine_live_image() { slot_image "$1"; }

# compose ARGS...: docker compose on the app's project, with its files and the override of this call.
compose() {
  local files=() file
  if [[ -s $COMPOSE_FILES_LIST ]]; then
    while IFS= read -r file; do files+=(--file "$COMPOSE_DIR/$file"); done <"$COMPOSE_FILES_LIST"
  fi
  if [[ -f $COMPOSE_OVERRIDE ]]; then files+=(--file "$COMPOSE_OVERRIDE"); fi
  docker compose --project-name "$COMPOSE_PROJECT" --project-directory "$COMPOSE_DIR" "${files[@]}" "$@"
}

# The deploy's compose files and the files they name, in place of the last deploy's, whole or not at
# all (mode 600: env files are secrets). Paths are relative and stay under the project directory.
# The files they replace are kept until the deploy went live (its release phase runs first, as
# another run): a failed deploy puts them back (restore_compose_files).
write_compose_files() {
  local new=$APP_DIR/compose.new i path
  rm -rf "$new"
  mkdir -p "$new"
  for i in "${!BG_COMPOSE_PATHS[@]}"; do
    path=${BG_COMPOSE_PATHS[$i]}
    [[ $path != /* && /$path/ != */../* ]] || fail "$BG_EXIT_SERVER_UNUSABLE" "compose file path $path leaves the project directory"
    mkdir -p "$new/$(dirname "$path")"
    printf '%s' "${BG_COMPOSE_TEXTS[$i]}" >"$new/$path" || fail "$BG_EXIT_SERVER_UNUSABLE" "cannot write $path under $APP_DIR (is the disk full?); nothing was changed"
  done
  printf '%s\n' "${BG_COMPOSE_FILES[@]}" >"$new.files"
  if [[ -d $COMPOSE_DIR && ! -d $COMPOSE_PREVIOUS ]]; then
    mv "$COMPOSE_DIR" "$COMPOSE_PREVIOUS"
    if [[ -f $COMPOSE_FILES_LIST ]]; then mv -f "$COMPOSE_FILES_LIST" "$COMPOSE_PREVIOUS.files"; fi
  fi
  rm -rf "$COMPOSE_DIR"
  mv "$new" "$COMPOSE_DIR"
  mv -f "$new.files" "$COMPOSE_FILES_LIST"
}

restore_compose_files() {
  [[ -d $COMPOSE_PREVIOUS ]] || return 0
  rm -rf "$COMPOSE_DIR"
  mv "$COMPOSE_PREVIOUS" "$COMPOSE_DIR"
  if [[ -f $COMPOSE_PREVIOUS.files ]]; then mv -f "$COMPOSE_PREVIOUS.files" "$COMPOSE_FILES_LIST"; fi
  log "put back the compose files of the deploy that is live"
}

# write_compose_override IMAGE: the web service and the workers run IMAGE (the server's ID of a version).
write_compose_override() {
  local services=() spec fields
  if [[ -n $BG_COMPOSE_SERVICE ]]; then services+=("$BG_COMPOSE_SERVICE"); fi
  for spec in "${BG_WORKERS[@]}"; do
    worker_fields "$spec" fields
    services+=("${fields[0]}")
  done
  local entries=() service
  for service in "${services[@]}"; do entries+=("$(json_str "$service"):{\"image\":$(json_str "$1")}"); done
  printf '{"services":{%s}}\n' "$(join_by , "${entries[@]}")" >"$COMPOSE_OVERRIDE"
}

# compose_app_run IMAGE ARGS...: docker compose run ARGS with the app's image, and the action's env
# given to the container by name (-e KEY: compose takes the value from its own environment, so no
# value is ever on a command line). Sets START_ERROR; false when compose failed.
compose_app_run() {
  local image=$1
  shift
  write_compose_override "$image"
  START_ERROR=$(
    names=()
    while IFS= read -r line; do
      if [[ $line == *=* ]]; then export "${line%%=*}=${line#*=}" && names+=(-e "${line%%=*}"); fi
    done <<<"$APP_ENV"
    compose run "${names[@]}" "$@" 2>&1
  )
}

# The version's web container or a worker: the service's own definition, this version's image, the
# version's labels; on the proxy's network too, and restarted after a reboot like engine docker's.
engine_start_container() { # engine_start_container NAME SLOT WORKER [WORDS...]
  local name=$1 slot=$2 worker=$3 line args=()
  shift 3
  args=(--detach --no-deps --name "$name")
  if [[ -n $worker ]]; then args+=(--label "$LABEL.worker=$worker"); fi
  while IFS= read -r line; do args+=("$line"); done < <(label_args "$slot")
  compose_app_run "$VERSION_SERVER_ID" "${args[@]}" "${worker:-$BG_COMPOSE_SERVICE}" "$@" || return 1
  START_ERROR=$({ docker network connect "$BG_NETWORK" "$name" && docker update --restart unless-stopped "$name" >/dev/null; } 2>&1)
}

# A one-off (release, run) as the web service's one-off container: compose starts it as it makes it,
# with the accessories already up and on the project's network. One it made but could not start
# (a command not found) is reported by engine_start_oneoff, as engine docker's would be.
engine_create_oneoff() { # engine_create_oneoff IMAGE LABEL_ARGS...
  local image=$1
  shift
  COMPOSE_ONEOFF_ERROR=''
  [[ -n $BG_COMPOSE_SERVICE ]] || { START_ERROR="the app has no web service (web: false) to run the command as" && return 1; }
  compose_app_run "$image" --detach --no-deps --name "$ONEOFF" "$@" "$BG_COMPOSE_SERVICE" "${BG_ONEOFF_WORDS[@]}" && return 0
  docker container inspect "$ONEOFF" >/dev/null 2>&1 || return 1
  COMPOSE_ONEOFF_ERROR=$START_ERROR
}

engine_start_oneoff() {
  START_ERROR=$COMPOSE_ONEOFF_ERROR
  [[ -z $COMPOSE_ONEOFF_ERROR ]]
}

# Before a deploy (and its release phase): the files in place, every accessory's image on the
# server, the accessories up. Nothing of the app's own services changes here.
compose_prepare() {
  ensure_accessory_images
  if deploys; then write_compose_files; fi
  write_compose_override "${VERSION_SERVER_ID:-$BG_SERVER_IMAGE_ID}"
  ((${#BG_COMPOSE_ACCESSORIES[@]})) || return 0
  local out line timeout=$(((BG_HEALTH_TIMEOUT_MS + 999) / 1000))
  log "bringing up $(join_by ', ' "${BG_COMPOSE_ACCESSORIES[@]}") (docker compose up --wait: one whose definition and image are unchanged keeps running)"
  if ! out=$(compose up --detach --no-deps --wait --wait-timeout "$timeout" "${BG_COMPOSE_ACCESSORIES[@]}" 2>&1); then
    while IFS= read -r line; do log "  | $line"; done <<<"$(tail -n 20 <<<"$out")"
    fail "$BG_EXIT_SERVER_UNUSABLE" "docker compose up of $(join_by ', ' "${BG_COMPOSE_ACCESSORIES[@]}") failed: $(docker_error "$out"); the live version is untouched"
  fi
  while IFS= read -r line; do
    if [[ $line == *Container* ]]; then log "  | ${line#"${line%%[![:space:]]*}"}"; fi
  done <<<"$out"
}

# An accessory's image the server lacks (and the runner did not have to send) is pulled here, so
# that a missing one names its service before anything starts.
ensure_accessory_images() {
  local i image out
  for i in "${!BG_COMPOSE_ACCESSORIES[@]}"; do
    image=${BG_COMPOSE_ACCESSORY_IMAGES[$i]:-}
    [[ -n $image && $image != *'$'* ]] || continue
    docker image inspect "$image" >/dev/null 2>&1 && continue
    log "pulling $image for service ${BG_COMPOSE_ACCESSORIES[$i]}"
    out=$(docker pull --quiet "$image" 2>&1) ||
      fail "$BG_EXIT_SERVER_UNUSABLE" "service ${BG_COMPOSE_ACCESSORIES[$i]}: image $image is neither on this server nor on the runner, and pulling it failed: $(docker_error "$out"); nothing was changed"
  done
}

# remove: the project's other containers and its networks (and with remove-volumes its named
# volumes); the slots' containers are gone by then. True when there was something of it.
compose_down() {
  local had out args=(down --remove-orphans)
  had=$(docker ps -aq --filter "label=com.docker.compose.project=$COMPOSE_PROJECT" 2>/dev/null || true)
  [[ -n $had || -d $COMPOSE_DIR ]] || return 1
  if ((BG_REMOVE_VOLUMES)); then args+=(--volumes); fi
  if ! out=$(compose "${args[@]}" 2>&1); then
    log "warning: docker compose down failed: $(docker_error "$out")"
  fi
  if ((BG_REMOVE_VOLUMES)); then
    log "removed the compose project $COMPOSE_PROJECT with its named volumes"
  else
    log "removed the compose project $COMPOSE_PROJECT; its named volumes stay (remove-volumes: true removes them)"
  fi
  rm -rf "$COMPOSE_DIR" "$COMPOSE_FILES_LIST" "$COMPOSE_OVERRIDE" "$COMPOSE_PREVIOUS" "$COMPOSE_PREVIOUS.files"
}

services_json() { # every container of the project: service, container, state, image (a version's: its reference)
  docker ps -a --filter "label=com.docker.compose.project=$COMPOSE_PROJECT" \
    --format "{\"service\":{{json (.Label \"com.docker.compose.service\")}},\"container\":{{json .Names}},\"state\":{{json .State}},\"image\":{{with .Label \"$LABEL.image\"}}{{json .}}{{else}}{{json \$.Image}}{{end}}}" 2>/dev/null | sort | paste -sd , || true
}
