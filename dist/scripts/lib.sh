# The run's shared variables and helpers: logging, JSON, the result, failure (fail, the ERR trap and
# a subshell's failure handed back), phases, and the runner's word before a switch.
# shellcheck shell=bash

readonly LABEL=$BG_LABEL

STATE_DIR=${BG_STATE_DIR/#\~/$HOME}
readonly STATE_DIR
readonly CONF_DIR=$STATE_DIR/nginx
readonly APP_DIR=$STATE_DIR/apps/$BG_APP
readonly CONF_FILE=$CONF_DIR/$BG_APP.conf
readonly DEFAULT_CONF=$CONF_DIR/_default.conf # the catch-all server (no app's name starts with _)
readonly CONF_MOUNT=/etc/nginx/conf.d         # where the proxy reads CONF_DIR
# The server blocks, one per host name, generated from every app's routes (its config's route lines),
# so that apps share a host name by path-prefix; each app's locations are a file of its own, included.
readonly HOSTS_CONF=$CONF_DIR/_hosts.conf
readonly ROUTES_DIR=$CONF_DIR/routes # not *.conf of CONF_DIR: nginx reads these only where included
readonly ROUTES_MOUNT=$CONF_MOUNT/routes
readonly ROUTE_FILE=$ROUTES_DIR/$BG_APP.locations
readonly REDIRECT_FILE=$ROUTES_DIR/$BG_APP.redirects # canonical-host: the other names' redirects
# command maintenance: the page the proxy answers the app's requests with (503) until command live.
readonly MAINTENANCE_FILE=$CONF_DIR/$BG_APP.maintenance.html
# Certificates: the proxy reads them (and serves ACME challenges) from here, at TLS_MOUNT inside it.
readonly TLS_DIR=$STATE_DIR/tls
readonly TLS_MOUNT=/etc/nginx/bluegreen-tls
readonly RELOAD_REQUEST=$TLS_MOUNT/reload
# Inside the proxy: which certificate each app's 443 block gets, written by tls-pairs.sh (its pair,
# or a refused handshake when the pair does not load) before nginx starts and before each reload.
readonly PAIRS_DIR=/tmp/bluegreen-tls-pairs
readonly LIVE_TLS=$TLS_DIR/live/$BG_APP
ACME_NAME=$BG_PROXY_NAME-acme # set again once load_settings knows the proxy's name
# The settings a deploy recorded (routing, port, TLS, health): what rollback, status and remove use.
readonly SETTINGS_FILE=$APP_DIR/settings
SETTINGS_LOADED='' # the record as load_settings read it ('' when there was none)

OUTCOME=$BG_OUTCOME_FAILED
ERROR=''
EXIT_CODE=0
PHASE=start
PREVIOUS_SLOT=''
ACTIVE_SLOT=''
CANDIDATE=''
CANDIDATE_SLOT=''
SWITCHED=0
ENV_FILE='' # a file of the app's env this run wrote: removed at exit
CANDIDATE_IMAGE_ID='' # a rollback's: the image the kept container runs (a deploy's is BG_IMAGE_ID)
# The version this run starts: a deploy's is the image it sent, rollback-to's one the history names
# (versions.sh). Labels, history and pruning read these.
VERSION_IMAGE=$BG_IMAGE
VERSION_IMAGE_ID=$BG_IMAGE_ID
VERSION_SERVER_ID=$BG_SERVER_IMAGE_ID
VERSION_GIT_SHA=$BG_GIT_SHA
VERSION_RUN_URL=$BG_RUN_URL
CANDIDATE_SERVER_ID='' # a rollback's: the image as this server's store names it
HISTORY_OUTCOME=''     # what history records when it is not OUTCOME (a release: released, or failed)
RELEASE_BROKE_LIVE=0   # the release made the version live before it unhealthy: no rollback across it without force
RELEASE_JSON=''        # the result's "release" (release.sh)
RUN_JSON=''            # the result's "run" (command run)
VERSIONS_JSON=''       # the result's "versions": what rollback-to can reach (versions.sh)
# The app's container settings: this run's; rollback-to and run take the last deploy's record for
# those not given (load_container_settings).
APP_ENV=$BG_ENV
APP_VOLUMES=("${BG_VOLUMES[@]}")
APP_DOCKER_ARGS=("${BG_DOCKER_ARGS[@]}")
LOG_TAIL=''
RESULT_SENT=0
HEALTH=()
PHASES=()
HISTORY=()
LIVE_INFO=''
SERVICES_JSON='' # engine compose: the project's containers, every service's
DRAIN_NOTE='' # what was still open when the old version stopped, for the summary
CERT_CHANGED=0       # this run put a new certificate in place: the proxy must reload
HTTP2_DIRECTIVE=0    # nginx 1.25.1+ wants "http2 on;" (older: "listen 443 ssl http2;")

# put VALUE [INTO]: VALUE put in the variable INTO, or printed without INTO. A function that ends with
# it can be called without a subshell (`f ARGS INTO`), where loops and hot paths call it.
put() { if [[ -n ${2:-} ]]; then printf -v "$2" '%s' "$1"; else printf '%s' "$1"; fi; }

now_ms() { # now_ms [INTO]: milliseconds since the epoch
  local now_ms_value
  if [[ -n ${EPOCHREALTIME:-} ]]; then
    now_ms_value=${EPOCHREALTIME//[.,]/}
    now_ms_value=$((now_ms_value / 1000))
  else
    now_ms_value=$(date +%s%3N)
  fi
  put "$now_ms_value" "${1:-}"
}

now_ms START_MS
readonly START_MS

utc_now() { # utc_now [INTO]: e.g. 2026-12-07T18:34:37Z (bash's own strftime: no date process)
  local utc_now_value
  TZ=UTC printf -v utc_now_value '%(%Y-%m-%dT%H:%M:%SZ)T' -1
  put "$utc_now_value" "${1:-}"
}

# Progress goes to the runner; if the runner is gone (cancelled job, dropped connection) the run
# still finishes on the server, so it is never left half-done.
log() { printf '[%s] %s\n' "$PHASE" "$*" 2>/dev/null || true; }

# Linear in the text's length (bash's ${s//…} replacement is quadratic on long, quote-heavy logs).
json_str() { # json_str VALUE [INTO]: VALUE as a JSON string
  local s=$1
  if [[ $s != *[\\\"[:cntrl:]]* ]]; then
    put "\"$s\"" "${2:-}"
    return 0 # not a bare return: in an ERR trap's handler that returns the failed command's status
  fi
  put "\"$(printf '%s\n' "$s" | LC_ALL=C sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\t/\\t/g' -e 's/\r/\\r/g' |
    LC_ALL=C tr -d '\000-\010\013\014\016-\037' | LC_ALL=C awk 'NR > 1 { printf "\\n" } { printf "%s", $0 }')\"" "${2:-}"
}

json_or_null() { if [[ -n $1 ]]; then json_str "$1" "${2:-}"; else put null "${2:-}"; fi; } # json_or_null VALUE [INTO]

# add_phase NAME STARTED_MS: NAME took from STARTED_MS until now (the result's phasesMs)
add_phase() {
  local phase_json phase_now
  json_str "$1" phase_json
  now_ms phase_now
  PHASES+=("$phase_json:$((phase_now - $2))")
}

join_by() {
  local sep=$1 first=1 item
  shift
  for item in "$@"; do
    if ((first)); then first=0; else printf '%s' "$sep"; fi
    printf '%s' "$item"
  done
}

# A label of ours in a docker inspect template: {{$(label_of image-id)}} or {{json $(label_of image)}}.
label_of() { printf '(index .Config.Labels "%s.%s")' "$LABEL" "$1"; }

# What a failed docker command said, in one line: its last line that is not the CLI's hint
# ("See 'docker run --help'." on 20.10, "Run 'docker run --help' for more information" on 28).
docker_error() {
  local line last=''
  while IFS= read -r line; do
    [[ -z $line || $line == "See 'docker "* || $line == "Run 'docker "* ]] || last=$line
  done <<<"$1"
  printf '%s' "${last#docker: }"
}

# The run's own temporary directory (main makes it, cleanup removes it): the files its background
# steps hand their answers back through are named in it without a mktemp process each.
RUN_TMP='' RUN_FILES=0
run_file() { # run_file NAME INTO: a new file name in RUN_TMP (unique across subshells too); fails when there is none
  [[ -n $RUN_TMP ]] || return 1
  RUN_FILES=$((RUN_FILES + 1))
  put "$RUN_TMP/$1.$BASHPID.$RUN_FILES" "$2"
}

read_file() { # read_file FILE INTO: its text, trailing newlines dropped as $(<FILE) would, without a subshell
  local read_file_text=''
  IFS= read -r -d '' read_file_text 2>/dev/null <"$1" || true
  while [[ $read_file_text == *$'\n' ]]; do read_file_text=${read_file_text%$'\n'}; done
  put "$read_file_text" "$2"
}

# A command's answer asked in the background now and taken later (answer_of), so that two docker
# calls run at once; without a temporary file it is simply asked when taken.
declare -A MEANWHILE=() # name -> "PID FILE"
ask_meanwhile() { # ask_meanwhile NAME COMMAND...
  local name=$1 file
  shift
  run_file meanwhile file || return 0
  # Without the ERR trap: a question that fails leaves an empty answer, never a failure note that the
  # main shell would later take for a step's.
  (
    trap - ERR
    "$@"
  ) >"$file" 2>/dev/null &
  MEANWHILE[$name]="$! $file"
}

answer_of() { # answer_of NAME INTO COMMAND...: into INTO; in the shell that asked (only it can wait)
  local name=$1 into=$2 pid file value=''
  shift 2
  if [[ -n ${MEANWHILE[$name]:-} ]]; then
    read -r pid file <<<"${MEANWHILE[$name]}"
    unset 'MEANWHILE[$name]'
    wait "$pid" 2>/dev/null || true
    read_file "$file" value
    rm -f "$file"
  else
    value=$("$@" 2>/dev/null) || value=''
  fi
  printf -v "$into" '%s' "$value"
}

sh_quote() { put "'${1//\'/\'\\\'\'}'" "${2:-}"; } # sh_quote WORD [INTO]: WORD as one word for any POSIX sh (the proxy's, a Swarm task's)

ms_as_seconds() { # ms_as_seconds MS [INTO]: e.g. 2.041
  local seconds
  printf -v seconds '%d.%03d' $(($1 / 1000)) $(($1 % 1000))
  put "$seconds" "${2:-}"
}

# The image this run sent must be here before anything changes (a deploy, its release, command run).
require_sent_image() {
  local here
  answer_of sent-image here sent_image_here
  [[ $here == yes ]] || fail "$BG_EXIT_SERVER_UNUSABLE" "image $(short_id "$BG_IMAGE_ID") is not on this server"
}

sent_image_here() { if docker image inspect "$BG_SERVER_IMAGE_ID" >/dev/null 2>&1; then echo yes; fi; }

short_id() { local id=${1#sha256:}; printf '%s' "${id:0:12}"; } # short_id sha256:HEX: the first 12 hex digits

# The labels that say which version runs (engine docker puts them on its container, engine swarm on
# its service), one NAME=VALUE a line; and the Go template that reads them back as the result's "live".
version_labels() {
  printf '%s\n' "$LABEL.app=$BG_APP" "$LABEL.image=$VERSION_IMAGE" "$LABEL.image-id=$VERSION_IMAGE_ID" "$LABEL.config=$BG_CONFIG_HASH" \
    "$LABEL.git-sha=$VERSION_GIT_SHA" "$LABEL.run-url=$VERSION_RUN_URL" "$LABEL.deployed-at=$(utc_now)"
}

live_template() { # live_template NAME RUNNING LABELS: Go template fields (e.g. .Name, {{.State.Running}}, .Config.Labels)
  local pair
  printf '{"container":{{json %s}},"running":%s' "$1" "$2"
  for pair in imageId:image-id image:image gitSha:git-sha runUrl:run-url deployedAt:deployed-at; do
    printf ',"%s":{{json (index %s "%s.%s")}}' "${pair%%:*}" "$3" "$LABEL" "${pair#*:}"
  done
  printf '}'
}

container_name() { printf '%s-%s' "$BG_APP" "$1"; }

in_maintenance() { [[ -f $MAINTENANCE_FILE ]]; }

# Where a slot's old container waits while a new one is tried in its place: put back if the new one
# never goes live, so a failed deploy never costs the version to roll back to.
kept_name() { printf '%s-%s-kept' "$BG_APP" "$1"; }

other_slot() { if [[ $1 == blue ]]; then echo green; else echo blue; fi; }

emit_result() {
  ((RESULT_SENT)) && return 0
  await_after_switch
  RESULT_SENT=1
  render_result 2>/dev/null || true
}

render_result() {
  # Each value put in a variable, not printed by a subshell of its own (a fork each on the way out).
  local command app outcome error failed_phase=null previous active candidate image_id maintenance=false log_tail logs drain now
  json_str "$BG_COMMAND" command
  json_str "$BG_APP" app
  json_str "$OUTCOME" outcome
  json_or_null "$ERROR" error
  if [[ $OUTCOME == "$BG_OUTCOME_FAILED" ]]; then json_str "$PHASE" failed_phase; fi
  json_or_null "$PREVIOUS_SLOT" previous
  json_or_null "$ACTIVE_SLOT" active
  json_or_null "$CANDIDATE" candidate
  json_or_null "${CANDIDATE_IMAGE_ID:-${VERSION_IMAGE_ID:-}}" image_id
  if in_maintenance; then maintenance=true; fi
  json_or_null "$LOG_TAIL" log_tail
  json_or_null "$LOGS" logs
  json_or_null "$DRAIN_NOTE" drain
  now_ms now
  local health phases trials history IFS=, # "${LIST[*]}" joins by the first character of IFS
  health="${HEALTH[*]}" phases="${PHASES[*]}" trials="${TRIALS_JSON[*]}" history="${HISTORY[*]}"
  IFS=$' \t\n'
  printf '%s\n' "$BG_RESULT_BEGIN"
  printf '{"version":%d,"command":%s,"app":%s,"outcome":%s,"exitCode":%d,"error":%s,"failedPhase":%s,' \
    "$BG_RESULT_VERSION" "$command" "$app" "$outcome" "$EXIT_CODE" "$error" "$failed_phase"
  printf '"previousSlot":%s,"activeSlot":%s,"candidate":%s,"imageId":%s,' "$previous" "$active" "$candidate" "$image_id"
  printf '"traffic":%s,"release":%s,"run":%s,"versions":%s,"workers":[%s],"services":[%s],"maintenance":%s,"trials":[%s],' "${TRAFFIC_JSON:-null}" "${RELEASE_JSON:-null}" "${RUN_JSON:-null}" "${VERSIONS_JSON:-null}" "${WORKERS_JSON:-}" "${SERVICES_JSON:-}" \
    "$maintenance" "$trials"
  printf '"health":[%s],"phasesMs":{%s},"totalMs":%d,"logTail":%s,"live":%s,"history":[%s],"certificate":%s,"settings":%s,"logs":%s,"drain":%s}\n' \
    "$health" "$phases" $((now - START_MS)) \
    "$log_tail" "${LIVE_INFO:-null}" "$history" "$(certificate_json 2>/dev/null || printf null)" \
    "$(settings_json 2>/dev/null || printf null)" "$logs" "$drain"
  printf '%s\n' "$BG_RESULT_END"
}

# The main shell's PID: fail and on_unexpected can tell when they run inside $(…), a pipeline or a
# ( ) subshell, where reporting would write history and a result that nobody reads.
MAIN_PID=$BASHPID
FAIL_NOTE=''

fail() { # fail EXIT_CODE MESSAGE
  if [[ $BASHPID != "$MAIN_PID" ]]; then
    # Hand the failure to the main shell (which sees this subshell exit non-zero) to report once.
    if [[ -n $FAIL_NOTE ]]; then printf '%s\n%s\n' "$1" "$2" >"$FAIL_NOTE" 2>/dev/null || true; fi
    exit "$1"
  fi
  EXIT_CODE=$1 ERROR=$2 OUTCOME=$BG_OUTCOME_FAILED
  trap - ERR
  add_phase "$PHASE" "$PHASE_STARTED"
  log "error: $ERROR"
  engine_discard
  # A deploy that failed after its window opened still says what the visitors got meanwhile.
  if [[ -z $TRAFFIC_JSON ]]; then
    local failed_phase=$PHASE
    count_receipt || true
    PHASE=$failed_phase
  fi
  ACTIVE_SLOT=$(engine_live_slot 2>/dev/null || true)
  record_history
  emit_result
  exit "$EXIT_CODE"
}

on_unexpected() { # on_unexpected STATUS LINE COMMAND
  local handed
  if [[ $BASHPID == "$MAIN_PID" ]] && handed=$(take_fail_note); then
    fail "${handed%%$'\n'*}" "${handed#*$'\n'}"
  fi
  fail "$BG_EXIT_UNEXPECTED" "unexpected failure (exit $1) at deploy.sh line $2: $3"
}

arm_err_trap() { trap 'on_unexpected $? $LINENO "$BASH_COMMAND"' ERR; }

take_fail_note() { # prints "CODE\nMESSAGE" that a subshell's fail left, and forgets it
  [[ -n $FAIL_NOTE && -s $FAIL_NOTE ]] || return 1
  cat "$FAIL_NOTE"
  : >"$FAIL_NOTE"
}

cleanup() {
  close_receipt_window
  proxy_channel_close
  if [[ -n $ENV_FILE ]]; then rm -f "$ENV_FILE"; fi
  if [[ -n ${ONEOFF:-} ]]; then docker rm --force "$ONEOFF" >/dev/null 2>&1 || true; fi
  # The failure note, the meanwhile answers and the receipt read: all named in it (run_file).
  if [[ -n $RUN_TMP ]]; then rm -rf "$RUN_TMP"; fi
}

PHASE_STARTED=$START_MS

run_phase() { # run_phase NAME COMMAND...: runs a step and records its duration
  PHASE=$1
  shift
  now_ms PHASE_STARTED
  "$@"
  add_phase "$PHASE" "$PHASE_STARTED"
}

write_if_changed() { # write_if_changed FILE TEXT MODE: whole or not at all
  local file=$1 text=$2 mode=$3
  [[ -f $file && $(<"$file") == "$text" ]] && return 0
  { printf '%s\n' "$text" >"$file.new" && chmod "$mode" "$file.new" && mv -f "$file.new" "$file"; } ||
    { rm -f "$file.new"; fail "$BG_EXIT_SERVER_UNUSABLE" "cannot write $file (is the disk full?); nothing was changed"; }
}

# "NAME APP" for each of the named containers that exists (APP: its app label); one docker call.
owners_of() { docker inspect -f "{{.Name}} {{$(label_of app)}}" "$@" 2>/dev/null || true; }

# owner_in OWNERS NAME: the app label of container NAME in owners_of's answer; fails when absent.
owner_in() { awk -v n="/$2" '$1 == n { print $2; found = 1 } END { exit !found }' <<<"$1"; }

refuse_foreign() { # refuse_foreign NAME: only a container this action made for this app is ours to touch
  fail "$BG_EXIT_SERVER_UNUSABLE" "a container named $1 exists that bluegreen-action did not create for $BG_APP; rename or remove it, or pick another app name"
}

# The containers of the app's two slots and its workers (engine docker's; another engine removes what
# a docker-engine deploy of the app left), and one an interrupted run set aside. True when a slot's was there.
remove_app_containers() {
  local found=1 slot container
  if remove_app_workers; then found=0; fi
  for slot in blue green; do
    container=$(container_name "$slot")
    if docker inspect "$container" >/dev/null 2>&1; then
      found=0
      docker rm --force "$container" >/dev/null
      log "removed container $container"
    fi
    container=$(kept_name "$slot") # only where an interrupted run left one
    if [[ $(owner_in "$(owners_of "$container")" "$container" || true) == "$BG_APP" ]]; then
      docker rm --force "$container" >/dev/null
      log "removed container $container"
    fi
  done
  return "$found"
}
