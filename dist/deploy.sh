# The server side of bluegreen-action. script.ts puts the run's parameters above this text as
# read-only BG_* variables (quoted by one tested function) and sends the whole script to
# `bash -s` over SSH, so nothing but state is left on the server.
#
# State lives here, on the server, so any runner sees the truth:
#   $STATE_DIR/nginx/<app>.conf    the proxy's config of the app; its first line names the live slot
#   $STATE_DIR/apps/<app>/history.jsonl   one JSON line per deploy, rollback and removal
#   $STATE_DIR/apps/<app>/images   image IDs deployed, oldest first (for pruning)
#   $STATE_DIR/apps/<app>/images-tried   image IDs of deploys that never went live (pruned next time)
#   $STATE_DIR/apps/<app>/settings the settings of the last deploy that went live (record_settings)
#   labels bluegreen.* on the <app>-blue and <app>-green containers
#
# Output: progress lines as they happen, then one JSON result on one line between the marker lines
# BG_RESULT_BEGIN and BG_RESULT_END (given by result.ts, with the result's version).
# Exit codes, outcome names and the label prefix come from result.ts as BG_EXIT_*, BG_OUTCOME_* and
# BG_LABEL: 0 done, 1 unexpected failure, 2 server not usable, 3 unhealthy, 4 switch undone, 5 nothing
# to roll back to.

set -Eeuo pipefail
umask 077

readonly LABEL=$BG_LABEL

STATE_DIR=${BG_STATE_DIR/#\~/$HOME}
readonly STATE_DIR
readonly CONF_DIR=$STATE_DIR/nginx
readonly APP_DIR=$STATE_DIR/apps/$BG_APP
readonly CONF_FILE=$CONF_DIR/$BG_APP.conf
readonly DEFAULT_CONF=$CONF_DIR/_default.conf # the catch-all server (no app's name starts with _)
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
CANDIDATE_STARTED=0
SWITCHED=0
KEPT=''               # the idle slot's previous container, set aside while the candidate is tried
ENV_FILE=''
CANDIDATE_IMAGE_ID='' # a rollback's: the image the kept container runs (a deploy's is BG_IMAGE_ID)
LIVE_LABELS=''        # "RUNNING IMAGE_ID CONFIG_HASH" of the live container (read_live)
PREVIOUS_IP=''        # the previous slot's address on the network (previous_is_running)
LOG_TAIL=''
RESULT_SENT=0
HEALTH=()
PHASES=()
HISTORY=()
LIVE_INFO=''
CERT_CHANGED=0       # this run put a new certificate in place: the proxy must reload
HTTP2_DIRECTIVE=0    # nginx 1.25.1+ wants "http2 on;" (older: "listen 443 ssl http2;")

now_ms() {
  if [[ -n ${EPOCHREALTIME:-} ]]; then
    local t=${EPOCHREALTIME//[.,]/}
    echo $((t / 1000))
  else
    date +%s%3N
  fi
}
START_MS=$(now_ms)
readonly START_MS

# Progress goes to the runner; if the runner is gone (cancelled job, dropped connection) the run
# still finishes on the server, so it is never left half-done.
log() { printf '[%s] %s\n' "$PHASE" "$*" 2>/dev/null || true; }

# Linear in the text's length (bash's ${s//…} replacement is quadratic on long, quote-heavy logs).
json_str() {
  local s=$1
  if [[ $s != *[\\\"[:cntrl:]]* ]]; then
    printf '"%s"' "$s"
    return
  fi
  printf '"'
  printf '%s\n' "$s" | LC_ALL=C sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\t/\\t/g' -e 's/\r/\\r/g' |
    LC_ALL=C tr -d '\000-\010\013\014\016-\037' | LC_ALL=C awk 'NR > 1 { printf "\\n" } { printf "%s", $0 }'
  printf '"'
}

json_or_null() { if [[ -n $1 ]]; then json_str "$1"; else printf 'null'; fi; }

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

container_name() { printf '%s-%s' "$BG_APP" "$1"; }
# Where a slot's old container waits while a new one is tried in its place: put back if the new one
# never goes live, so a failed deploy never costs the version to roll back to.
kept_name() { printf '%s-%s-kept' "$BG_APP" "$1"; }
other_slot() { if [[ $1 == blue ]]; then echo green; else echo blue; fi; }

# --- result and failure -------------------------------------------------------------------------

emit_result() {
  ((RESULT_SENT)) && return 0
  RESULT_SENT=1
  render_result 2>/dev/null || true
}

render_result() {
  printf '%s\n' "$BG_RESULT_BEGIN"
  printf '{"version":%d,"command":%s,"app":%s,"outcome":%s,"exitCode":%d,"error":%s,"failedPhase":%s,' \
    "$BG_RESULT_VERSION" "$(json_str "$BG_COMMAND")" "$(json_str "$BG_APP")" "$(json_str "$OUTCOME")" "$EXIT_CODE" \
    "$(json_or_null "$ERROR")" "$(if [[ $OUTCOME == "$BG_OUTCOME_FAILED" ]]; then json_str "$PHASE"; else printf null; fi)"
  printf '"previousSlot":%s,"activeSlot":%s,"candidate":%s,"imageId":%s,' \
    "$(json_or_null "$PREVIOUS_SLOT")" "$(json_or_null "$ACTIVE_SLOT")" "$(json_or_null "$CANDIDATE")" \
    "$(json_or_null "${CANDIDATE_IMAGE_ID:-${BG_IMAGE_ID:-}}")"
  printf '"health":[%s],"phasesMs":{%s},"totalMs":%d,"logTail":%s,"live":%s,"history":[%s],"certificate":%s,"settings":%s,"logs":%s,"drain":%s}\n' \
    "$(join_by , "${HEALTH[@]}")" "$(join_by , "${PHASES[@]}")" $(($(now_ms) - START_MS)) \
    "$(json_or_null "$LOG_TAIL")" "${LIVE_INFO:-null}" "$(join_by , "${HISTORY[@]}")" "$(certificate_json 2>/dev/null || printf null)" \
    "$(settings_json 2>/dev/null || printf null)" "$(json_or_null "$LOGS")" "$(json_or_null "$DRAIN_NOTE")"
  printf '%s\n' "$BG_RESULT_END"
}

# Removes a candidate that never got traffic; the live slot is left exactly as it was, and the
# container it replaced in its slot is put back.
discard_candidate() {
  if [[ $BG_ENGINE == swarm ]]; then
    undo_service_change
    return 0
  fi
  [[ -n $CANDIDATE ]] && ((!SWITCHED)) || return 0
  if ((CANDIDATE_STARTED)); then take_down_candidate; fi
  if [[ -n $KEPT ]]; then
    if docker rename "$KEPT" "$CANDIDATE" >/dev/null 2>&1; then
      log "put $KEPT back as $CANDIDATE: it is still the version to roll back to"
    else
      log "warning: could not rename $KEPT back to $CANDIDATE"
    fi
  fi
}

take_down_candidate() { # its log tail into the result; removed (a rollback's: stopped again)
  local logs
  logs=$(docker logs --tail 40 "$CANDIDATE" 2>&1 || true)
  # 40 lines can be megabytes (one huge line): the result keeps the last 64 KiB of them.
  if ((${#logs} > 65536)); then logs="[…]${logs: -65536}"; fi
  LOG_TAIL="$logs${LOG_TAIL:+$'\n'"--- last HEALTHCHECK output ---"$'\n'$LOG_TAIL}"
  if [[ $BG_COMMAND == rollback ]]; then
    docker stop --time "$BG_STOP_TIMEOUT" "$CANDIDATE" >/dev/null 2>&1 || true
    log "stopped $CANDIDATE again; ${PREVIOUS_SLOT:-no slot} is still live"
  else
    docker rm --force "$CANDIDATE" >/dev/null 2>&1 || true
    log "removed $CANDIDATE; ${PREVIOUS_SLOT:-no slot} is still live"
  fi
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
  PHASES+=("$(json_str "$PHASE"):$(($(now_ms) - PHASE_STARTED))")
  log "error: $ERROR"
  discard_candidate
  ACTIVE_SLOT=$(live_slot 2>/dev/null || true)
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
  if [[ -n $ENV_FILE ]]; then rm -f "$ENV_FILE"; fi
  if [[ -n $FAIL_NOTE ]]; then rm -f "$FAIL_NOTE"; fi
}

PHASE_STARTED=$START_MS

run_phase() { # run_phase NAME COMMAND...: runs a step and records its duration
  PHASE=$1
  shift
  PHASE_STARTED=$(now_ms)
  "$@"
  PHASES+=("$(json_str "$PHASE"):$(($(now_ms) - PHASE_STARTED))")
}

# --- the app's recorded settings -----------------------------------------------------------------
# A deploy records the settings it went live with (one "VARIABLE<TAB>value" line each, a list's
# words joined by spaces); rollback, status and remove load them over their own inputs, so a rollback
# given only the connection and the app keeps the app's host names, TLS, port and health check.
# BG_SETTING_INPUTS names each setting's input and variables; BG_GIVEN the inputs this run gave.

setting_value() { # setting_value VARIABLE: its value, a list's words joined by spaces
  local -n value_of=$1
  printf '%s' "${value_of[*]}"
}

setting_variables() { # every variable of the recorded settings, one a line
  local entry
  # shellcheck disable=SC2086 # an entry's variables are words
  for entry in "${BG_SETTING_INPUTS[@]}"; do printf '%s\n' ${entry#*:}; done
}

settings_json() { # what the run routed by: {"hostnames":[…],"tls":…,"containerPort":…,"recorded":true when loaded from the record}
  local quoted=() name
  for name in "${BG_HOSTNAMES[@]}"; do quoted+=("$(json_str "$name")"); done
  printf '{"hostnames":[%s],"tls":%s,"containerPort":%s,"recorded":%s}' "$(join_by , "${quoted[@]}")" "$(json_str "$BG_TLS")" \
    "$((BG_CONTAINER_PORT))" "$(if [[ -n $SETTINGS_LOADED ]]; then echo true; else echo false; fi)"
}

render_settings() {
  local variable
  printf '# bluegreen settings of %s, recorded %s by %s\n' "$BG_APP" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${BG_RUN_URL:-a run}"
  while IFS= read -r variable; do printf '%s\t%s\n' "$variable" "$(setting_value "$variable")"; done < <(setting_variables)
}

record_settings() { # after a deploy went live (or was unchanged): its settings are the app's now
  { render_settings >"$SETTINGS_FILE.new" && mv -f "$SETTINGS_FILE.new" "$SETTINGS_FILE"; } 2>/dev/null ||
    { rm -f "$SETTINGS_FILE.new"; log "warning: cannot write $SETTINGS_FILE (is the disk full?): rollback, status and remove use their own inputs until a deploy records them"; }
}

# Loads the record over this run's settings (not for a deploy, which records its own), refusing a
# given input whose value differs from the record before anything changed; then makes them read-only.
load_settings() {
  local entry input variable value conflicts=()
  declare -A given=() known=()
  if [[ $BG_COMMAND != deploy && -f $SETTINGS_FILE ]] && SETTINGS_LOADED=$(<"$SETTINGS_FILE") && [[ -n $SETTINGS_LOADED ]]; then
    while IFS= read -r variable; do known[$variable]=1; done < <(setting_variables)
    for entry in "${BG_SETTING_INPUTS[@]}"; do
      input=${entry%%:*}
      [[ " ${BG_GIVEN[*]} " == *" $input "* ]] || continue
      for variable in ${entry#*:}; do given[$variable]=$(setting_value "$variable"); done
    done
    while IFS=$'\t' read -r variable value; do
      # Names the record holds are data: only known ones count (an empty one would be a bad subscript).
      [[ -n $variable && $variable != '#'* && ${known[$variable]+set} == set ]] || continue
      if [[ $(declare -p "$variable") == 'declare -a'* ]]; then read -r -a "${variable?}" <<<"$value"; else printf -v "$variable" '%s' "$value"; fi
    done <<<"$SETTINGS_LOADED"
    for entry in "${BG_SETTING_INPUTS[@]}"; do
      input=${entry%%:*}
      for variable in ${entry#*:}; do
        [[ -v "given[$variable]" && ${given[$variable]} != "$(setting_value "$variable")" ]] || continue
        conflicts+=("$input (recorded: '$(setting_value "$variable")', this run: '${given[$variable]}')")
        break
      done
    done
    if ((${#conflicts[@]})) && read_only_command; then
      log "note: status shows what the deploy recorded; this run gives other values for $(join_by ', ' "${conflicts[@]}")"
    elif ((${#conflicts[@]})); then
      fail "$BG_EXIT_SERVER_UNUSABLE" "$BG_COMMAND uses the settings the deploy of $BG_APP recorded on this server, and this run gives other values for $(join_by ', ' "${conflicts[@]}"): leave them out (the connection and app are enough), or deploy with them; nothing was changed"
    fi
    log "using the settings the deploy recorded: host names ${BG_HOSTNAMES[*]:-(any)}, port $BG_CONTAINER_PORT, tls $BG_TLS, health $BG_HEALTH_PATH"
  elif [[ $BG_COMMAND != deploy && -f $CONF_FILE ]]; then
    log "no settings recorded for $BG_APP on this server (deployed by an earlier version of the action): using this run's inputs"
  fi
  # shellcheck disable=SC2046 # the variable names are words
  readonly $(setting_variables)
  ACME_NAME=$BG_PROXY_NAME-acme
  readonly ACME_NAME
}

# A run that waited for the lock acts on the record it loaded before: a deploy that changed it
# meanwhile makes this run stop rather than act on settings that are no longer the app's.
check_settings_unchanged() {
  [[ $BG_COMMAND != deploy && -n $SETTINGS_LOADED ]] || return 0
  [[ $(cat "$SETTINGS_FILE" 2>/dev/null) == "$SETTINGS_LOADED" ]] ||
    fail "$BG_EXIT_SERVER_UNUSABLE" "a deploy of $BG_APP changed its settings while this run waited for the lock; nothing was changed: run $BG_COMMAND again"
}

# --- server, lock, proxy --------------------------------------------------------------------------

read_only_command() { [[ $BG_COMMAND == status || $BG_COMMAND == logs ]]; }

check_server() {
  command -v docker >/dev/null 2>&1 || fail "$BG_EXIT_SERVER_UNUSABLE" "docker is not installed on this server (or not on the PATH of $(id -un))"
  local problem
  if ! problem=$(docker version --format '{{.Server.Version}}' 2>&1); then
    fail "$BG_EXIT_SERVER_UNUSABLE" "$(id -un) cannot use docker on this server: ${problem##*$'\n'} (add the user to the docker group?)"
  fi
  command -v flock >/dev/null 2>&1 || fail "$BG_EXIT_SERVER_UNUSABLE" "flock is not installed on this server (package util-linux)"
  if [[ $BG_ENGINE == swarm ]]; then check_swarm_manager; fi
  ! read_only_command || return 0 # status and logs only read: they create nothing
  # Before anything is created, so that a run refused here leaves no trace.
  check_proxy_source
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

lock_proxy() { # one proxy for all apps: creating it and changing its config are serialised
  exec 8>>"$STATE_DIR/proxy.lock"
  flock -w 60 8 || fail "$BG_EXIT_SERVER_UNUSABLE" "the proxy lock ($STATE_DIR/proxy.lock) stayed busy for 60s"
}

unlock_proxy() { flock -u 8; }

ensure_network_and_proxy() {
  local facts
  lock_proxy
  # The proxy runs it from the TLS directory as it starts and before every reload.
  write_if_changed "$TLS_DIR/tls-pairs.sh" "$BG_TLS_PAIRS_SH" 644
  facts=$(proxy_facts)
  # A proxy already attached to the network proves it exists: one docker call fewer.
  if [[ $BG_ENGINE == swarm ]]; then
    ensure_overlay_network # a bridge of that name would not do, also when the proxy is on it
  else
    [[ " $(cut -d'|' -f3 <<<"$facts") " == *" $BG_NETWORK "* ]] || ensure_network
  fi
  ensure_proxy "$facts"
  # Only a deploy has the ACME settings; other commands leave the renewer as the deploy set it up.
  if [[ $BG_TLS == acme && $BG_COMMAND == deploy ]]; then ensure_renewer; fi
  unlock_proxy
}

check_proxy_source() { # before anything is created: a proxy that exists must read this run's config directory
  local facts
  facts=$(proxy_facts)
  # No such container (yet): ensure_proxy creates it reading this run's directory.
  [[ -n $facts ]] || return 0
  proxy_reads_this_state_dir "$(cut -d'|' -f2 <<<"$facts")"
}

proxy_reads_this_state_dir() { # one proxy reads one config directory: an app whose state-dir differs would switch nothing
  local source=$1
  if [[ $source != "$CONF_DIR" && $source != "$(readlink -f "$CONF_DIR" 2>/dev/null || true)" ]]; then
    fail "$BG_EXIT_SERVER_UNUSABLE" "the proxy $BG_PROXY_NAME reads its config from ${source:-nowhere}, not from this run's $CONF_DIR: give every app on this server the same state-dir (or its own proxy-name and proxy-ports)"
  fi
}

ensure_network() {
  docker network inspect "$BG_NETWORK" >/dev/null 2>&1 && return 0
  log "creating network $BG_NETWORK"
  docker network create "$BG_NETWORK" >/dev/null
}

# The proxy's facts in one docker call (empty if none):
# "RUNNING|CONF_SOURCE|NETWORK NETWORK ...|PORT/tcp PORT/tcp ...|TLS_SOURCE|RELOAD_REQUEST_FILE|START_ID".
proxy_facts() {
  docker inspect -f "{{.State.Running}}|{{range .Mounts}}{{if eq .Destination \"/etc/nginx/conf.d\"}}{{.Source}}{{end}}{{end}}|{{range \$name, \$_ := .NetworkSettings.Networks}}{{\$name}} {{end}}|{{range \$port, \$_ := .HostConfig.PortBindings}}{{\$port}} {{end}}|{{range .Mounts}}{{if eq .Destination \"$TLS_MOUNT\"}}{{.Source}}{{end}}{{end}}|{{$(label_of reloads)}}|{{$(label_of start)}}" "$BG_PROXY_NAME" 2>/dev/null || true
}

# The proxy's PID 1 is nginx; beside it a watcher reloads nginx gracefully whenever the renewer writes
# a new number into RELOAD_REQUEST. So the renewer needs neither the Docker socket nor the proxy's
# processes, and each container comes back by itself, in any order, after a crash or a reboot (a
# container sharing another's PID namespace does not: Docker gives up when its restart races the
# other's). Started by sh, not the image's entrypoint: any nginx image with a shell works alike.
# Before nginx starts and before each of the watcher's reloads, tls-pairs.sh gives each app's 443
# block its certificate pair, or a refused handshake when the pair does not load: one app's missing
# or broken certificate never keeps nginx from starting. $0: the reload request, $1: TLS_MOUNT,
# $2: PAIRS_DIR.
# shellcheck disable=SC2016 # expanded by the proxy's sh
PROXY_START='pairs() { [ ! -f "$1/tls-pairs.sh" ] || sh "$1/tls-pairs.sh" "$1" "$2"; }; pairs "$1" "$2"; seen=$(cat "$0" 2>/dev/null); (while sleep 2; do now=$(cat "$0" 2>/dev/null); [ "$now" = "$seen" ] || { seen=$now; pairs "$1" "$2"; nginx -s reload; }; done) & exec nginx -g "daemon off;"'
# A proxy started with another command (an older version's) is replaced by a TLS deploy.
PROXY_START_ID=$(cksum <<<"$PROXY_START" | cut -d' ' -f1)
readonly PROXY_START PROXY_START_ID

proxy_run_args() { # the proxy's docker run options, its image and its command (create or re-create)
  local port
  printf '%s\n' --name "$BG_PROXY_NAME" --network "$BG_NETWORK" --restart unless-stopped --label "$LABEL.role=proxy" \
    --label "$LABEL.reloads=$RELOAD_REQUEST" --label "$LABEL.start=$PROXY_START_ID" --volume "$CONF_DIR:/etc/nginx/conf.d:ro" \
    --volume "$TLS_DIR:$TLS_MOUNT:ro" --entrypoint sh
  for port in "${BG_PROXY_PORTS[@]}"; do printf '%s\n' --publish "$port"; done
  printf '%s\n' "$BG_PROXY_IMAGE" -c "$PROXY_START" "$RELOAD_REQUEST" "$TLS_MOUNT" "$PAIRS_DIR"
}

# With TLS the proxy must publish 443 and read the certificates: one created before either (by an
# older version, or with other proxy-ports) is replaced. Docker cannot add a port to a container, so
# this is the one moment the proxy is down: from the old one's graceful stop to the new one's start.
needs_replacing() { # needs_replacing FACTS
  [[ $BG_TLS != off ]] || return 1
  [[ " $(cut -d'|' -f4 <<<"$1") " != *" 443/tcp "* || -z $(cut -d'|' -f5 <<<"$1") ]] && return 0
  # Its command must give each app's 443 block its certificate (tls-pairs.sh) before nginx starts.
  [[ $(cut -d'|' -f7 <<<"$1") == "$PROXY_START_ID" ]] || return 0
  # The renewer's certificates are put in use by the proxy's reload watcher.
  [[ $BG_TLS == acme && $(cut -d'|' -f6 <<<"$1") != "$RELOAD_REQUEST" ]]
}

replace_proxy() { # replace_proxy FACTS
  local facts=$1 old=$BG_PROXY_NAME-replaced args=() line net out
  log "re-creating the proxy $BG_PROXY_NAME to publish ${BG_PROXY_PORTS[*]} and read certificates from $TLS_DIR (once, with this version's start command)"
  while IFS= read -r line; do args+=("$line"); done < <(proxy_run_args)
  docker rename "$BG_PROXY_NAME" "$old"
  if ! out=$(docker create "${args[@]}" 2>&1); then
    docker rename "$old" "$BG_PROXY_NAME" || true
    fail "$BG_EXIT_SERVER_UNUSABLE" "cannot create the new proxy: $(docker_error "$out"); the old one still serves"
  fi
  local networks
  read -r -a networks <<<"$(cut -d'|' -f3 <<<"$facts")"
  for net in "${networks[@]}"; do
    [[ $net == "$BG_NETWORK" ]] || docker network connect "$net" "$BG_PROXY_NAME"
  done
  local stopped_at
  stopped_at=$(now_ms)
  docker stop --time 10 "$old" >/dev/null
  if ! out=$(docker start "$BG_PROXY_NAME" 2>&1); then
    docker rm --force "$BG_PROXY_NAME" >/dev/null 2>&1 || true
    if docker rename "$old" "$BG_PROXY_NAME"; then docker start "$BG_PROXY_NAME" >/dev/null || true; fi
    fail "$BG_EXIT_SERVER_UNUSABLE" "the new proxy did not start ($(docker_error "$out")); the old one is back"
  fi
  docker rm --force "$old" >/dev/null
  log "proxy replaced: its ports were closed for $(($(now_ms) - stopped_at))ms"
}

# A run killed while it replaced the proxy leaves the old one renamed: it is the proxy again.
restore_replaced_proxy() {
  docker inspect "$BG_PROXY_NAME-replaced" >/dev/null 2>&1 || return 0
  log "putting back $BG_PROXY_NAME-replaced, left by a run that was interrupted while it replaced the proxy"
  docker rm --force "$BG_PROXY_NAME" >/dev/null 2>&1 || true
  docker rename "$BG_PROXY_NAME-replaced" "$BG_PROXY_NAME"
  docker start "$BG_PROXY_NAME" >/dev/null
}

ensure_proxy() { # ensure_proxy FACTS (what proxy_facts said, under the proxy lock)
  local facts=$1 started=0
  if [[ -z $facts ]] && docker inspect "$BG_PROXY_NAME-replaced" >/dev/null 2>&1; then
    restore_replaced_proxy
    facts=$(proxy_facts)
  fi
  if [[ -z $facts ]]; then
    log "creating proxy $BG_PROXY_NAME ($BG_PROXY_IMAGE) publishing ${BG_PROXY_PORTS[*]}"
    local args=(run --detach) line out
    while IFS= read -r line; do args+=("$line"); done < <(proxy_run_args)
    out=$(docker "${args[@]}" 2>&1) || fail "$BG_EXIT_SERVER_UNUSABLE" "cannot start the proxy: $(docker_error "$out")"
    started=1
    facts=$(proxy_facts)
  elif needs_replacing "$facts"; then
    proxy_reads_this_state_dir "$(cut -d'|' -f2 <<<"$facts")"
    replace_proxy "$facts"
    started=1
    facts=$(proxy_facts)
  elif [[ ${facts%%|*} != true ]]; then
    log "starting the stopped proxy $BG_PROXY_NAME"
    docker start "$BG_PROXY_NAME" >/dev/null
    started=1
  fi
  proxy_reads_this_state_dir "$(cut -d'|' -f2 <<<"$facts")"
  if [[ " $(cut -d'|' -f3 <<<"$facts") " != *" $BG_NETWORK "* ]]; then
    log "connecting proxy $BG_PROXY_NAME to network $BG_NETWORK"
    docker network connect "$BG_NETWORK" "$BG_PROXY_NAME"
  fi
  ((started)) || return 0
  local i
  for i in $(seq 1 50); do
    [[ $(docker inspect -f '{{.State.Running}}' "$BG_PROXY_NAME") == true ]] && return 0
    sleep 0.1
  done
  fail "$BG_EXIT_SERVER_UNUSABLE" "the proxy $BG_PROXY_NAME is not running: $(docker logs --tail 5 "$BG_PROXY_NAME" 2>&1 | tr '\n' ' ')"
}

# --- certificates ---------------------------------------------------------------------------------

# The renewer: a lego container that renews every certificate on this server by itself and asks the
# proxy to reload (RELOAD_REQUEST); its restart policy survives reboots. Re-created when its image or
# its script changed.
ensure_renewer() {
  local want facts out
  write_if_changed "$TLS_DIR/renew.sh" "$BG_RENEW_SH" 644
  want="true $BG_ACME_IMAGE $BG_RENEW_HASH"
  facts=$(docker inspect -f "{{.State.Running}} {{.Config.Image}} {{$(label_of renewer)}}" "$ACME_NAME" 2>/dev/null || true)
  [[ $facts != "$want" ]] || return 0
  if [[ -n $facts ]]; then
    [[ $(owner_in "$(docker inspect -f "{{.Name}} {{$(label_of role)}}" "$ACME_NAME" 2>/dev/null || true)" "$ACME_NAME" || true) == acme ]] ||
      fail "$BG_EXIT_SERVER_UNUSABLE" "a container named $ACME_NAME exists that bluegreen-action did not create; rename or remove it"
    docker rm --force "$ACME_NAME" >/dev/null
  fi
  log "starting the certificate renewer $ACME_NAME ($BG_ACME_IMAGE)"
  out=$(docker run --detach --name "$ACME_NAME" --restart unless-stopped --network "$BG_NETWORK" \
    --label "$LABEL.role=acme" --label "$LABEL.renewer=$BG_RENEW_HASH" \
    --volume "$TLS_DIR:$TLS_MOUNT" --env "BG_TLS_DIR=$TLS_MOUNT" --env "BG_RELOAD_REQUEST=$RELOAD_REQUEST" --entrypoint sh \
    "$BG_ACME_IMAGE" "$TLS_MOUNT/renew.sh" loop 2>&1) ||
    fail "$BG_EXIT_SERVER_UNUSABLE" "cannot start the certificate renewer from $BG_ACME_IMAGE: $(docker_error "$out")"
}

write_if_changed() { # write_if_changed FILE TEXT MODE: whole or not at all
  local file=$1 text=$2 mode=$3
  [[ -f $file && $(<"$file") == "$text" ]] && return 0
  { printf '%s\n' "$text" >"$file.new" && chmod "$mode" "$file.new" && mv -f "$file.new" "$file"; } ||
    { rm -f "$file.new"; fail "$BG_EXIT_SERVER_UNUSABLE" "cannot write $file (is the disk full?); nothing was changed"; }
}

tls_ready() { [[ $BG_TLS != off && -f $LIVE_TLS/fullchain.pem && ( -f $LIVE_TLS/pair.pem || -f $LIVE_TLS/key.pem ) ]]; }

# nginx reads the key and the chain from one file, pair.pem, so that one rename replaces both (two
# renames, key then chain, would leave a mismatched pair to a reload or a crash between them).
# key.pem and fullchain.pem stay beside it: the chain is read for reports, and configs rendered by
# an older version name both.
write_pair() { # write_pair DIR: DIR/pair.pem from DIR/key.pem and DIR/fullchain.pem
  { cat "$1/key.pem" && printf '\n' && cat "$1/fullchain.pem"; } >"$1/pair.pem.new" 2>/dev/null && chmod 600 "$1/pair.pem.new" &&
    mv -f "$1/pair.pem.new" "$1/pair.pem"
}

ensure_pair() { # a certificate put in place by an older version (no pair.pem) gets its pair
  [[ -f $LIVE_TLS/pair.pem || ! -f $LIVE_TLS/key.pem || ! -f $LIVE_TLS/fullchain.pem ]] && return 0
  write_pair "$LIVE_TLS" || fail "$BG_EXIT_SERVER_UNUSABLE" "cannot write $LIVE_TLS/pair.pem (is the disk full?); nothing was changed"
}

PROXY_NGINX_VERSION='' # the proxy's nginx version, asked once (proxy_nginx_at_least)
proxy_nginx_at_least() { # proxy_nginx_at_least VERSION: the proxy runs that version of nginx or a newer one
  [[ -n $PROXY_NGINX_VERSION ]] || PROXY_NGINX_VERSION=$(docker exec "$BG_PROXY_NAME" nginx -v 2>&1 | sed -n 's|.*nginx/\([0-9][0-9.]*\).*|\1|p')
  [[ -n $PROXY_NGINX_VERSION ]] && printf '%s\n%s\n' "$1" "$PROXY_NGINX_VERSION" | sort -V -C
}

detect_http2_style() {
  # "http2 on;" since nginx 1.25.1; "listen ... http2" before it (and deprecated after).
  if proxy_nginx_at_least 1.25.1; then HTTP2_DIRECTIVE=1; fi
}

ensure_certificate() {
  [[ $BG_TLS != off ]] || return 0
  mkdir -p "$TLS_DIR/live"
  chmod 700 "$TLS_DIR/live"
  detect_http2_style
  if [[ $BG_COMMAND != deploy ]]; then
    # A rollback serves HTTPS with the certificate in place (the renewer keeps an ACME one fresh).
    tls_ready || fail "$BG_EXIT_SERVER_UNUSABLE" "$BG_APP is set up for tls: $BG_TLS, but its certificate is not in $LIVE_TLS; nothing was changed: deploy again to put one in place"
    ensure_pair
    log "HTTPS with the certificate in place (tls: $BG_TLS)"
    return 0
  fi
  case $BG_TLS in
    own) install_own_certificate ;;
    acme) ensure_acme_certificate ;;
  esac
  ensure_pair
}

# The user's certificate and key: written (or copied from the given paths) beside the live ones,
# tried by the proxy's nginx, then renamed into place; a pair nginx cannot use changes nothing.
install_own_certificate() {
  local new=$LIVE_TLS/new out
  mkdir -p "$LIVE_TLS" && chmod 700 "$LIVE_TLS"
  rm -rf "$new" && mkdir "$new"
  if [[ -n $BG_TLS_CERT_PATH ]]; then
    cp "$BG_TLS_CERT_PATH" "$new/fullchain.pem" 2>/dev/null || fail "$BG_EXIT_SERVER_UNUSABLE" "cannot read tls-certificate $BG_TLS_CERT_PATH on the server; nothing was changed"
  else
    printf '%s' "$BG_TLS_CERT_PEM" >"$new/fullchain.pem"
  fi
  if [[ -n $BG_TLS_KEY_PATH ]]; then
    cp "$BG_TLS_KEY_PATH" "$new/key.pem" 2>/dev/null || fail "$BG_EXIT_SERVER_UNUSABLE" "cannot read tls-key $BG_TLS_KEY_PATH on the server; nothing was changed"
  else
    printf '%s' "$BG_TLS_KEY_PEM" >"$new/key.pem"
  fi
  chmod 600 "$new/key.pem"
  # The runner checked a certificate given as text; one given as a server path is checked here.
  if [[ -n $BG_TLS_CERT_PATH ]]; then
    local days names host
    days=$(cert_days_left "$new/fullchain.pem")
    if [[ -z $days ]]; then rm -rf "$new"; fail "$BG_EXIT_SERVER_UNUSABLE" "tls-certificate $BG_TLS_CERT_PATH holds no certificate that can be read; nothing was changed"; fi
    if ((days <= 0)); then rm -rf "$new"; fail "$BG_EXIT_SERVER_UNUSABLE" "tls-certificate $BG_TLS_CERT_PATH has expired; nothing was changed"; fi
    names=$(cert_dns_names "$new/fullchain.pem")
    for host in "${BG_HOSTNAMES[@]}"; do
      cert_covers "$names" "$host" || { rm -rf "$new"; fail "$BG_EXIT_SERVER_UNUSABLE" "tls-certificate $BG_TLS_CERT_PATH is not for $host (it names ${names//$'\n'/ }); nothing was changed"; }
    done
  fi
  write_pair "$new" || { rm -rf "$new"; fail "$BG_EXIT_SERVER_UNUSABLE" "cannot write the certificate pair under $LIVE_TLS (is the disk full?); nothing was changed"; }
  if cmp -s "$new/pair.pem" "$LIVE_TLS/pair.pem"; then
    rm -rf "$new"
    return 0
  fi
  if ! out=$(check_certificate_in_proxy "live/$BG_APP/new"); then
    rm -rf "$new"
    fail "$BG_EXIT_SERVER_UNUSABLE" "nginx cannot use tls-certificate with tls-key: $out; nothing was changed"
  fi
  # The pair nginx reads first, in one rename; the copies for reports and older configs after it.
  mv -f "$new/pair.pem" "$LIVE_TLS/pair.pem" && mv -f "$new/key.pem" "$LIVE_TLS/key.pem" && mv -f "$new/fullchain.pem" "$LIVE_TLS/fullchain.pem" &&
    rm -rf "$new" && rm -f "$LIVE_TLS/domains"
  CERT_CHANGED=1
  log "installed the certificate for ${BG_HOSTNAMES[*]:-the default server}"
}

check_certificate_in_proxy() { # check_certificate_in_proxy DIR (under the TLS dir): nginx -t loads DIR/pair.pem
  local out
  # shellcheck disable=SC2016
  out=$(docker exec "$BG_PROXY_NAME" sh -c 'conf=$(mktemp) && printf "user root;\nevents {}\nhttp { server { listen 127.0.0.1:1 ssl; ssl_certificate %s/pair.pem; ssl_certificate_key %s/pair.pem; } }\n" "$1" "$1" >"$conf" &&
    nginx -t -q -c "$conf" 2>&1; status=$?; rm -f "$conf"; exit $status' sh "$TLS_MOUNT/$1" 2>&1) && return 0
  printf '%s' "$out" | grep -v 'test failed' | sed 's/^nginx: //' | tail -n 2 | tr '\n' ' '
  return 1
}

acme_settings() { # the app's ACME settings as the renewer reads them (values validated on the runner)
  printf "DOMAINS='%s'\nEMAIL='%s'\nSERVER='%s'\nEAB_KID='%s'\nEAB_HMAC='%s'\n" \
    "${BG_HOSTNAMES[*]}" "$BG_ACME_EMAIL" "$BG_ACME_DIRECTORY" "$BG_ACME_EAB_KID" "$BG_ACME_EAB_HMAC"
}

# Gets (or renews, when due) the app's certificate through the renewer before the candidate starts.
# HTTP-01 needs the proxy to serve the challenge for every host name first: when the app's config
# does not yet (new host names, a first deploy, TLS just turned on), it is rewritten for the live
# slot with this run's names, and put back as it was if no certificate comes.
ensure_acme_certificate() {
  local out saved=0
  mkdir -p "$TLS_DIR/apps" && chmod 700 "$TLS_DIR/apps"
  # The renewer reads these: if no certificate comes, the ones before are put back, so that it goes
  # on renewing the certificate that is served, not asking hourly for names that failed.
  local settings=$TLS_DIR/apps/$BG_APP.env ca=$TLS_DIR/apps/$BG_APP.ca.pem
  rm -f "$settings.before" "$ca.before"
  if [[ -f $settings ]]; then cp -p "$settings" "$settings.before"; fi
  if [[ -f $ca ]]; then cp -p "$ca" "$ca.before"; fi
  write_if_changed "$settings" "$(acme_settings)" 600
  if [[ -n $BG_ACME_CA ]]; then write_if_changed "$ca" "$BG_ACME_CA" 644; else rm -f "$ca"; fi
  # A certificate for these names is in place with more than 30 days left: the renewer keeps it
  # fresh, and a deploy neither asks the CA (rate limits) nor depends on it being up.
  local days
  if [[ $(cat "$LIVE_TLS/domains" 2>/dev/null) == "${BG_HOSTNAMES[*]}" && -f $LIVE_TLS/fullchain.pem ]] && grep -q 'acme-challenge' "$CONF_FILE" 2>/dev/null; then
    days=$(cert_days_left "$LIVE_TLS/fullchain.pem")
    if [[ -n $days ]] && ((days > 30)); then
      log "the certificate for ${BG_HOSTNAMES[*]} is in place, $days days left (renewed on the server by $ACME_NAME); nothing requested"
      return 0
    fi
    log "the certificate for ${BG_HOSTNAMES[*]} has ${days:-an unknown number of} days left: renewing it now"
  fi
  if [[ $(cat "$LIVE_TLS/domains" 2>/dev/null) != "${BG_HOSTNAMES[*]}" ]] || ! grep -q 'acme-challenge' "$CONF_FILE" 2>/dev/null; then
    if [[ -f $CONF_FILE ]]; then cp -p "$CONF_FILE" "$CONF_FILE.before-acme" && saved=1; fi
    log "serving the ACME challenge for ${BG_HOSTNAMES[*]}"
    if ! point_proxy_at "${PREVIOUS_SLOT:-none}"; then
      rm -f "$CONF_FILE.before-acme"
      put_back_acme_settings
      fail "$BG_EXIT_SERVER_UNUSABLE" "cannot serve the ACME challenge: $PROXY_COMPLAINT"
    fi
  fi
  log "asking $BG_ACME_DIRECTORY for a certificate for ${BG_HOSTNAMES[*]}"
  if ! out=$(docker exec "$ACME_NAME" sh "$TLS_MOUNT/renew.sh" ensure "$BG_APP" 2>&1); then
    put_back_acme_settings
    lock_proxy
    if ((saved)); then mv -f "$CONF_FILE.before-acme" "$CONF_FILE"; else rm -f "$CONF_FILE"; fi
    proxy_test_and_reload || true
    unlock_proxy
    fail "$BG_EXIT_SERVER_UNUSABLE" "no certificate for ${BG_HOSTNAMES[*]}: $(tail -n 1 <<<"$out"); nothing was changed"
  fi
  rm -f "$CONF_FILE.before-acme" "$TLS_DIR/apps/$BG_APP.env.before" "$TLS_DIR/apps/$BG_APP.ca.pem.before"
  days=$(cert_days_left "$LIVE_TLS/fullchain.pem")
  if [[ -n $days ]] && ((days <= 0)); then
    fail "$BG_EXIT_SERVER_UNUSABLE" "the certificate for ${BG_HOSTNAMES[*]} has expired and the CA gave no new one; nothing was changed"
  fi
  case $(tail -n 1 <<<"$out") in
    changed) CERT_CHANGED=1 && log "got a new certificate for ${BG_HOSTNAMES[*]}" ;;
    *) log "the certificate lego has for ${BG_HOSTNAMES[*]} is valid; nothing requested" ;;
  esac
}

cert_hex() { # cert_hex FILE: the DER of the first certificate in a PEM file, as hex
  sed -n '1,/-----END CERTIFICATE-----/p' "$1" 2>/dev/null | grep -v -- '-----' | base64 -d 2>/dev/null | od -An -v -tx1 | tr -d ' \n'
}

# The DNS names of the first certificate's subjectAltName, one a line: after the extension's OID
# (2.5.29.17) and its optional critical flag, an OCTET STRING holding a SEQUENCE of general names,
# of which [2] (0x82) are DNS names.
cert_dns_names() { # cert_dns_names FILE
  local hex rest tag size bytes value i name
  hex=$(cert_hex "$1") || return 0
  rest=${hex#*0603551d11}
  [[ $rest != "$hex" ]] || return 0
  if [[ $rest == 0101ff* ]]; then rest=${rest:6}; fi
  for tag in 04 30; do
    [[ ${rest:0:2} == "$tag" ]] || return 0
    rest=${rest:2}
    size=$((16#${rest:0:2}))
    if ((size > 128)); then rest=${rest:$(((1 + size - 128) * 2))}; else rest=${rest:2}; fi
  done
  while [[ ${rest:0:1} == 8 ]]; do
    tag=${rest:0:2}
    size=$((16#${rest:2:2}))
    rest=${rest:4}
    bytes=$size
    if ((size > 128)); then bytes=$((16#${rest:0:$(((size - 128) * 2))})); rest=${rest:$(((size - 128) * 2))}; fi
    value=${rest:0:$((bytes * 2))}
    rest=${rest:$((bytes * 2))}
    [[ $tag == 82 ]] || continue
    name=''
    for ((i = 0; i < ${#value}; i += 2)); do name+=$(printf '%b' "\\x${value:i:2}"); done
    printf '%s\n' "${name,,}"
  done
}

cert_covers() { # cert_covers NAMES HOSTNAME: a name of the certificate (NAMES, one a line) serves HOSTNAME
  local name
  while IFS= read -r name; do
    [[ -n $name ]] || continue
    if [[ $name == "$2" ]] || [[ $name == '*.'* && $2 != '*.'* && $2 == *.* && ${2#*.} == "${name#*.}" ]]; then return 0; fi
  done <<<"$1"
  return 1
}

# When the first certificate of a PEM file ends, in seconds since 1970 (empty when it cannot be read):
# its DER's second time (notBefore, then notAfter), UTCTime YYMMDDHHMMSSZ or GeneralizedTime. No
# openssl on the server is needed.
cert_not_after() { # cert_not_after FILE
  local hex stamp digits t='' i
  hex=$(cert_hex "$1") || return 0
  stamp=$(grep -oE '170d(3[0-9]){12}5a|180f(3[0-9]){14}5a' <<<"$hex" | sed -n 2p) || return 0
  [[ -n $stamp ]] || return 0
  digits=${stamp:4:${#stamp}-6} # the ASCII digits' hex (3X each): X is the digit
  for ((i = 1; i < ${#digits}; i += 2)); do t+=${digits:i:1}; done
  if ((${#t} == 12)); then
    if ((10#${t:0:2} < 50)); then t=20$t; else t=19$t; fi
  fi
  date -u -d "${t:0:4}-${t:4:2}-${t:6:2} ${t:8:2}:${t:10:2}:${t:12:2}" +%s 2>/dev/null || true
}

cert_days_left() { # cert_days_left FILE: whole days until the certificate ends (negative: expired), empty if unknown
  local end
  end=$(cert_not_after "$1")
  [[ -n $end ]] || return 0
  printf '%s' $(((end - $(date +%s)) / 86400))
}

put_back_acme_settings() { # the app's ACME settings as they were before this run (none: none)
  local file
  for file in "$TLS_DIR/apps/$BG_APP.env" "$TLS_DIR/apps/$BG_APP.ca.pem"; do
    if [[ -f $file.before ]]; then mv -f "$file.before" "$file"; else rm -f "$file"; fi
  done
}

as_renewer() { # as_renewer COMMAND...: run in the renewer, as root (lego's files are root's), if it is there
  docker inspect "$ACME_NAME" >/dev/null 2>&1 || return 0
  docker exec "$ACME_NAME" "$@" >/dev/null 2>&1 || log "warning: the renewer could not run $*"
}

# The app's ACME settings, status and lego's files of its certificate go (remove, or tls no longer
# acme); with no ACME app left, the renewer stops.
forget_acme() {
  local settings=$TLS_DIR/apps/$BG_APP.env first
  [[ -f $settings ]] || return 0
  first=$(sed -n "s/^DOMAINS='\([^ ']*\).*/\1/p" "$settings")
  rm -f "$settings" "$TLS_DIR/apps/$BG_APP.ca.pem"
  # shellcheck disable=SC2016 # expanded by the renewer's sh
  if [[ -n $first ]]; then as_renewer sh -c 'rm -f "$1/status/$2" "$1/lego/certificates/$3".*' sh "$TLS_MOUNT" "$BG_APP" "$first"; fi
  rm -f "$TLS_DIR/status/$BG_APP" 2>/dev/null || true
  log "the renewer no longer renews the certificate of $BG_APP"
  if ! compgen -G "$TLS_DIR/apps/*.env" >/dev/null && [[ $(owner_in "$(docker inspect -f "{{.Name}} {{$(label_of role)}}" "$ACME_NAME" 2>/dev/null || true)" "$ACME_NAME" || true) == acme ]]; then
    docker rm --force "$ACME_NAME" >/dev/null 2>&1 && log "stopped the certificate renewer $ACME_NAME: no app is left for it to renew"
  fi
}

certificate_json() { # {"pem":…,"renewal":…} of the app's live certificate, or null
  if [[ $BG_TLS == off && $BG_COMMAND != status ]] || [[ ! -f $LIVE_TLS/fullchain.pem ]]; then
    printf null
    return 0
  fi
  printf '{"pem":%s,"renewal":%s}' "$(json_str "$(sed -n '1,/-----END CERTIFICATE-----/p' "$LIVE_TLS/fullchain.pem" 2>/dev/null)")" \
    "$(json_or_null "$(cat "$TLS_DIR/status/$BG_APP" 2>/dev/null || true)")"
}

# The live slot is the one the proxy config points at, if its container still exists: Docker is the
# truth, and a slot whose container is gone (removed by hand, a reset Docker) is not live.
recorded_slot() {
  [[ -f $CONF_FILE ]] || return 0
  sed -n '1s/^# bluegreen: .* slot=\([a-z0-9]*\) .*/\1/p' "$CONF_FILE"
}

# live_slot, and the live container's labels for is_unchanged, in one docker call (main shell only).
read_live() {
  local slot
  PREVIOUS_SLOT='' LIVE_LABELS=''
  slot=$(recorded_slot)
  [[ -n $slot ]] || return 0
  if LIVE_LABELS=$(docker container inspect -f "{{.State.Running}} {{$(label_of image-id)}} {{$(label_of config)}}" "$(container_name "$slot")" 2>/dev/null); then
    PREVIOUS_SLOT=$slot
  fi
}

live_slot() {
  if [[ $BG_ENGINE == swarm ]]; then
    swarm_live_slot
    return 0
  fi
  local slot
  slot=$(recorded_slot)
  [[ -n $slot ]] || return 0
  if docker container inspect "$(container_name "$slot")" >/dev/null 2>&1; then echo "$slot"; fi
}

# Says so when the recorded state and Docker disagree; the run then acts on what Docker has.
note_state_mismatch() {
  local recorded
  recorded=$(recorded_slot)
  if [[ -n $recorded && $recorded != "$PREVIOUS_SLOT" ]]; then
    log "the proxy config names $recorded live, but $(container_name "$recorded") is gone: treating nothing as live"
  fi
}

# --- the proxy's config ---------------------------------------------------------------------------

# The container's name is resolved when a request comes (Docker's DNS, through a variable), not when
# nginx loads its config: a container that is gone costs only its own app a 502, and never keeps
# nginx from starting or reloading for every other app.
#
# No keep-alive to the app, on purpose. nginx 1.27.3+ can keep connections through an upstream that
# resolves its name at run time (`server NAME resolve; keepalive`), tried on nginx 1.30: a container
# removed by hand then left requests hanging on its dead kept-alive connections until proxy-timeout,
# and a failed lookup (an offline server's DNS) kept its old address, which a new container of another
# app could take. A new upstream also starts empty after a reload (6 of 6,000 requests got 502 over 60
# switches). A connection per request on the Docker network costs well under a millisecond.

# The app's name as part of an nginx name: '_' '-' '.' become '__' '_h' '_d', so two apps never share one.
nginx_id() {
  local id=${BG_APP//_/__}
  id=${id//-/_h}
  printf '%s' "${id//./_d}"
}

render_proxy_config() { # render_proxy_config SLOT CONTAINER (none and '': the app has no live slot yet)
  local slot=$1 container=$2 default='' names='_' tls=0
  if [[ $slot == none ]]; then slot='' container=''; fi
  if ((${#BG_HOSTNAMES[@]} == 0)); then default=' default_server'; else names="${BG_HOSTNAMES[*]}"; fi
  if tls_ready; then tls=1; fi
  local id trusted='' range
  id=$(nginx_id)
  for range in "${BG_TRUSTED_PROXIES[@]}"; do trusted+="    $range 1;"$'\n'; done
  local hop port
  hop=$(hop_base)
  port=$(hop_port "$slot" "$hop")
  cat <<CONF
# bluegreen: app=$BG_APP slot=$slot container=$container
# bluegreen-hop-ports: $hop
# X-Forwarded-For and -Proto are believed only from the front proxies the user named.
geo \$remote_addr \$bluegreen_trusted_$id {
    default 0;
$trusted}
map "\$bluegreen_trusted_$id:\$http_x_forwarded_proto" \$bluegreen_proto_$id {
    default \$scheme;
    "~^1:(?<proto>https?)\$" \$proto;
}
map \$bluegreen_trusted_$id \$bluegreen_for_$id {
    1 \$proxy_add_x_forwarded_for;
    default \$remote_addr;
}
# An upgrade (WebSocket) passes on; any other request is the connection's only one.
map \$http_upgrade \$bluegreen_connection_$id {
    default upgrade;
    "" close;
}
# Long-lived requests (a WebSocket, server-sent events) go through a loopback hop of their own, so
# the drain after a switch can tell them from requests that end by themselves (drain-long-lived).
map "\$http_upgrade|\$http_accept" \$bluegreen_longlived_$id {
    default 0;
    "~^[^|]+[|]" 1;
    "~text/event-stream" 1;
}
CONF
  if [[ -n $container ]]; then render_hop_server "$port" "$container"; fi
  if ((tls)) && [[ $BG_TLS_REDIRECT == 1 ]]; then
    cat <<CONF
# Plain HTTP goes to HTTPS, except the proxy's own checks (from 127.0.0.1) and requests a trusted
# front proxy already received over HTTPS.
map "\$remote_addr:\$bluegreen_proto_$id" \$bluegreen_redirect_$id {
    default 1;
    "~^127\\.0\\.0\\.1:" 0;
    "~:https\$" 0;
}
CONF
  fi
  cat <<CONF
server {
    listen 80$default;
    server_name $names;
CONF
  if [[ $BG_TLS == acme ]]; then
    cat <<CONF
    location ^~ /.well-known/acme-challenge/ {
        root $TLS_MOUNT/challenges;
        default_type text/plain;
    }
CONF
  fi
  render_app_locations "$slot" "$container" "$((tls && BG_TLS_REDIRECT == 1))" "$port"
  printf '}\n'
  ((tls)) || return 0
  local listen="listen 443 ssl$default;" http2=$'http2 on;\n    '
  if ((!HTTP2_DIRECTIVE)); then listen="listen 443 ssl http2$default;" http2=''; fi
  cat <<CONF
server {
    $listen
    ${http2}server_name $names;
    # The certificate pair, or a refused handshake when it does not load (tls-pairs.sh).
    include $PAIRS_DIR/$BG_APP.conf;
    # Mozilla's "intermediate" settings.
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;
    ssl_prefer_server_ciphers off;
    ssl_session_cache shared:bluegreen_tls:10m;
    ssl_session_timeout 1d;
    ssl_session_tickets off;
CONF
  render_app_locations "$slot" "$container" 0 "$port"
  printf '}\n'
}

# The app's two loopback ports for long-lived requests (BASE for blue, BASE+1 for green): kept in its
# config once chosen, from a hash of its name, the next free pair when another app has that one.
hop_base() {
  local base taken
  base=$(sed -n '2s/^# bluegreen-hop-ports: \([0-9][0-9]*\)$/\1/p' "$CONF_FILE" 2>/dev/null || true)
  if [[ -n $base ]]; then
    printf '%s' "$base"
    return 0
  fi
  base=$((30000 + ($(cksum <<<"$BG_APP" | cut -d' ' -f1) % 14000) * 2))
  taken=$(grep -hs '^# bluegreen-hop-ports: ' "$CONF_DIR"/*.conf | sed 's/^.*: //' || true)
  while grep -qxF "$base" <<<"$taken"; do base=$((base + 2 < 58000 ? base + 2 : 30000)); done
  printf '%s' "$base"
}

hop_port() { # hop_port SLOT [BASE]
  local base=${2:-}
  [[ -n $base ]] || base=$(hop_base)
  if [[ $1 == green ]]; then printf '%s' "$((base + 1))"; else printf '%s' "$base"; fi
}

render_hop_server() { # render_hop_server PORT CONTAINER: the second half of a long-lived request's way
  local id
  id=$(nginx_id)
  cat <<CONF
server {
    listen 127.0.0.1:$1;
    resolver 127.0.0.11 valid=1s ipv6=off;
    resolver_timeout 2s;
    proxy_connect_timeout 5s;
    client_max_body_size $BG_MAX_BODY_SIZE;
    location / {
        set \$bluegreen_upstream $2:$BG_CONTAINER_PORT;
        proxy_pass http://\$bluegreen_upstream;
        proxy_http_version 1.1;
        proxy_set_header Host \$host;
        proxy_set_header Upgrade \$http_upgrade;
        proxy_set_header Connection \$bluegreen_connection_$id;
        proxy_read_timeout ${BG_PROXY_TIMEOUT}s;
        proxy_send_timeout ${BG_PROXY_TIMEOUT}s;
        proxy_buffering $BG_PROXY_BUFFERING;
        proxy_request_buffering off;
    }
}
CONF
}

render_app_locations() { # render_app_locations SLOT CONTAINER REDIRECT HOP_PORT: what one server block routes
  local slot=$1 container=$2 redirect=$3 hop_port=$4 id
  id=$(nginx_id)
  cat <<CONF
    # Docker's DNS forwards a name it does not know (a container that is gone) to the host's
    # resolvers: an offline server never answers, so give up after 2 s (502) instead of 30.
    resolver 127.0.0.11 valid=1s ipv6=off;
    resolver_timeout 2s;
    # A container on the same network answers a connect in microseconds; the address of one that
    # is gone may hang, so do not wait long for it.
    proxy_connect_timeout 5s;
    client_max_body_size $BG_MAX_BODY_SIZE;
    location / {
CONF
  if ((redirect)); then
    cat <<CONF
        if (\$bluegreen_redirect_$id) {
            return 308 https://\$host\$request_uri;
        }
CONF
  fi
  if [[ -z $container ]]; then
    printf '        return 503 "no version of %s is live yet\\n";\n    }\n' "$BG_APP"
  else
    cat <<CONF
        set \$bluegreen_upstream $container:$BG_CONTAINER_PORT;
        proxy_pass http://\$bluegreen_upstream;
        if (\$bluegreen_longlived_$id) {
            proxy_pass http://127.0.0.1:$hop_port;
        }
        proxy_http_version 1.1;
        proxy_set_header Upgrade \$http_upgrade;
        proxy_set_header Connection \$bluegreen_connection_$id;
        proxy_set_header X-Forwarded-Host \$host;
        proxy_read_timeout ${BG_PROXY_TIMEOUT}s;
        proxy_send_timeout ${BG_PROXY_TIMEOUT}s;
        proxy_buffering $BG_PROXY_BUFFERING;
        # Request bodies stream to the app as they arrive: an upload in flight at a switch is then a
        # connection to the old container, which the drain waits for. Buffered, nginx would connect
        # only once the whole body was in, to a container stopped meanwhile (502).
        proxy_request_buffering off;
        proxy_set_header Host \$host;
        proxy_set_header X-Real-IP \$remote_addr;
        proxy_set_header X-Forwarded-For \$bluegreen_for_$id;
        proxy_set_header X-Forwarded-Proto \$bluegreen_proto_$id;
    }
CONF
  fi
  cat <<CONF
    # Which app and slot this server block routes to, for the check after a reload; only from inside the proxy.
    location = /__bluegreen/slot {
        if (\$remote_addr != "127.0.0.1") {
            return 404;
        }
        return 200 "$BG_APP $slot\\n";
    }
CONF
}

PROXY_COMPLAINT=''
PROXY_UNWRITTEN=0 # 1 when point_proxy_at failed before nginx saw anything (a file it could not write)

OLD_WORKERS=''

proxy_test_and_reload() { # sets PROXY_COMPLAINT and returns 1 when nginx refuses the config; sets OLD_WORKERS
  local out
  # One exec for both: nginx -t, and only if the config is good, a graceful reload. A host name
  # claimed twice is only a warning to nginx (it ignores the second claim): here it is an error.
  # After the reload, wait (5 s at most) until every worker of the previous config has stopped
  # accepting: it renames itself "worker process is shutting down" as it closes its listening
  # sockets, or exits. Until then a new connection can still be served by the previous config.
  # Their PIDs are printed: once they have exited, nothing the previous config routed is in flight.
  # Nothing of it may reach this script's stderr: once the runner is gone (a cancelled job) that is a
  # closed channel, and docker exec would fail on writing there (a process that vanished during the
  # /proc scan made the shell complain, and a cancelled deploy's switch was undone).
  # shellcheck disable=SC2016
  if ! out=$(docker exec "$BG_PROXY_NAME" sh -c '[ ! -f "$1/tls-pairs.sh" ] || sh "$1/tls-pairs.sh" "$1" "$2"
      out=$(nginx -t 2>&1) || { echo "$out"; exit 1; }
      case $out in *"conflicting server name"*) echo "$out" | grep "conflicting server name"; exit 1 ;; esac
      accepting() { for p in /proc/[0-9]*; do case "$(tr "\0" " " 2>/dev/null <"$p/cmdline")" in
        "nginx: worker process is shutting down"*) ;; "nginx: worker process"*) echo "${p#/proc/}" ;; esac; done; }
      old=$(accepting)
      nginx -s reload 2>&1 || exit 1
      i=0
      while [ $i -lt 100 ]; do
        still=""; for p in $(accepting); do case " $old " in *" $p "*) still=1 ;; esac; done
        [ -z "$still" ] && break
        i=$((i + 1)); sleep 0.05
      done
      echo "old-workers:" $old' sh "$TLS_MOUNT" "$PAIRS_DIR" 2>&1); then
    warn_unloadable_pairs "$out"
    PROXY_COMPLAINT=$(printf '%s\n' "$out" | grep -v 'test failed' | sed 's/^nginx: //' | tail -n 2 | tr '\n' ' ')
    return 1
  fi
  warn_unloadable_pairs "$out"
  OLD_WORKERS=$(sed -n 's/^old-workers: *//p' <<<"$out")
}

warn_unloadable_pairs() { # warn_unloadable_pairs OUTPUT (of tls-pairs.sh): each app that lost its HTTPS
  local app
  while IFS= read -r app; do
    [[ -n $app ]] || continue
    log "warning: the certificate of $app ($TLS_DIR/live/$app/pair.pem) does not load: its HTTPS handshakes are refused, every other app is served; deploy $app again to put one in place"
  done < <(sed -n 's/^unloadable //p' <<<"$1")
}

# A request for a host name no app claims, or for the bare address, is refused (444, and on 443 the
# TLS handshake), never served by whichever app's config nginx happened to read first. Only on the
# ports where no app is the default on purpose (an app without host names is the proxy's default).
DEFAULT_SERVER_TEXT='' # what the catch-all should hold, once default_server_text worked it out
default_server_text() {
  local others='' http=1 https=1
  others=$(grep -l -- 'default_server' "$CONF_DIR"/*.conf 2>/dev/null | grep -vxF "$DEFAULT_CONF" || true)
  if [[ -n $others ]]; then
    # shellcheck disable=SC2086 # file names without spaces (app names)
    grep -q 'listen 80 default_server' $others && http=0
    # shellcheck disable=SC2086
    grep -qE 'listen 443 ssl( http2)? default_server' $others && https=0
  fi
  if ((https)) && ! grep -q 'ssl_reject_handshake' "$DEFAULT_CONF" 2>/dev/null; then
    # ssl_reject_handshake (no certificate needed to refuse) came with nginx 1.19.4.
    proxy_nginx_at_least 1.19.4 || https=0
  fi
  ((http || https)) || return 0
  printf '# bluegreen: the catch-all for host names no app claims: refused\nserver {\n'
  if ((http)); then printf '    listen 80 default_server;\n'; fi
  if ((https)); then printf '    listen 443 ssl default_server;\n    ssl_reject_handshake on;\n'; fi
  printf '    server_name _;\n    return 444;\n}\n'
}

default_server_current() { # the catch-all holds what it should (sets DEFAULT_SERVER_TEXT)
  DEFAULT_SERVER_TEXT=$(default_server_text)
  if [[ -z $DEFAULT_SERVER_TEXT ]]; then [[ ! -e $DEFAULT_CONF ]]; else [[ -f $DEFAULT_CONF && $(<"$DEFAULT_CONF") == "$DEFAULT_SERVER_TEXT" ]]; fi
}

sync_default_server() { # under the proxy lock, after an app's config changed; a failure only warns
  default_server_current && return 0
  if [[ -z $DEFAULT_SERVER_TEXT ]]; then
    rm -f "$DEFAULT_CONF"
  elif ! { printf '%s\n' "$DEFAULT_SERVER_TEXT" >"$DEFAULT_CONF.new" && chmod 644 "$DEFAULT_CONF.new" && mv -f "$DEFAULT_CONF.new" "$DEFAULT_CONF"; } 2>/dev/null; then
    rm -f "$DEFAULT_CONF.new"
    log "warning: cannot write $DEFAULT_CONF (is the disk full?): unknown host names may reach an app"
  fi
  return 0
}

# Writes the config for SLOT whole or not at all: rendered to a new file, checked complete (it ends
# with the server block's closing brace), then renamed over the old one.
write_proxy_config() { # write_proxy_config SLOT (none: the app has no live slot yet)
  local upstream
  upstream=$(container_name "$1")
  if [[ $BG_ENGINE == swarm ]]; then upstream=$BG_APP; fi # the service's name: every task of the version
  render_proxy_config "$1" "$upstream" >"$CONF_FILE.new" || return 1
  [[ $(head -c 12 "$CONF_FILE.new") == '# bluegreen:' && $(tail -n 1 "$CONF_FILE.new") == '}' ]] || return 1
  chmod 644 "$CONF_FILE.new" || return 1
  mv -f "$CONF_FILE.new" "$CONF_FILE" || return 1
}

# Points the proxy at SLOT (or drops the app's config when SLOT is empty); puts the previous
# config back when nginx refuses the new one. One lock serialises this across apps.
point_proxy_at() { # point_proxy_at SLOT
  local slot=$1 had_config=0 status=0
  PROXY_UNWRITTEN=1
  lock_proxy
  # Called in conditions, where bash ignores set -e: every step checks its own status.
  if [[ -f $CONF_FILE ]]; then
    had_config=1
    if ! cp -p "$CONF_FILE" "$CONF_FILE.prev"; then
      rm -f "$CONF_FILE.prev"
      unlock_proxy
      PROXY_COMPLAINT="cannot copy $CONF_FILE (is the disk full?); nothing was changed"
      return 1
    fi
  fi
  if [[ -n $slot ]]; then
    if ! write_proxy_config "$slot"; then
      rm -f "$CONF_FILE.new" "$CONF_FILE.prev"
      unlock_proxy
      PROXY_COMPLAINT="cannot write $CONF_FILE.new (is the disk full?); nothing was changed"
      return 1
    fi
  elif ! rm -f "$CONF_FILE"; then
    unlock_proxy
    PROXY_COMPLAINT="cannot remove $CONF_FILE"
    return 1
  fi
  PROXY_UNWRITTEN=0
  sync_default_server
  if ! proxy_test_and_reload; then
    if ((had_config)); then mv -f "$CONF_FILE.prev" "$CONF_FILE"; else rm -f "$CONF_FILE"; fi
    sync_default_server
    log "nginx refused the new config: $PROXY_COMPLAINT; the previous config is back"
    status=1
  fi
  rm -f "$CONF_FILE.prev"
  unlock_proxy
  return "$status"
}

# --- the candidate and its health -----------------------------------------------------------------

label_args() {
  printf '%s\n' --label "$LABEL.app=$BG_APP" --label "$LABEL.slot=$1" --label "$LABEL.image=$BG_IMAGE" \
    --label "$LABEL.image-id=$BG_IMAGE_ID" --label "$LABEL.config=$BG_CONFIG_HASH" \
    --label "$LABEL.git-sha=$BG_GIT_SHA" --label "$LABEL.run-url=$BG_RUN_URL" --label "$LABEL.state-dir=$STATE_DIR" \
    --label "$LABEL.deployed-at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}

# "NAME APP" for each of the named containers that exists (APP: its app label); one docker call.
owners_of() { docker inspect -f "{{.Name}} {{$(label_of app)}}" "$@" 2>/dev/null || true; }

# owner_in OWNERS NAME: the app label of container NAME in owners_of's answer; fails when absent.
owner_in() { awk -v n="/$2" '$1 == n { print $2; found = 1 } END { exit !found }' <<<"$1"; }

refuse_foreign() { # refuse_foreign NAME: only a container this action made for this app is ours to touch
  fail "$BG_EXIT_SERVER_UNUSABLE" "a container named $1 exists that bluegreen-action did not create for $BG_APP; rename or remove it, or pick another app name"
}

# The candidate's slot may hold the version before the live one (the one to roll back to): it is
# set aside as <app>-<slot>-kept, put back if the candidate never goes live (discard_candidate) and
# removed once it does (forget_kept). Also tidies what an interrupted run (SIGKILL) left.
make_room_for_candidate() {
  local kept owners owner stale=''
  kept=$(kept_name "$CANDIDATE_SLOT")
  if [[ -n $PREVIOUS_SLOT ]]; then stale=$(kept_name "$PREVIOUS_SLOT"); fi
  owners=$(owners_of "$CANDIDATE" "$kept" ${stale:+"$stale"})
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
  [[ -n $KEPT ]] || return 0
  docker rm --force "$KEPT" >/dev/null
  log "removed $KEPT: ${PREVIOUS_SLOT:-the previous slot} is now the version to roll back to"
}

# The app's log file is bounded (log-max-size, log-max-files), so request logging cannot fill the
# disk: for the drivers that keep files here, unless docker-args choose the logging themselves.
log_args() {
  local driver
  [[ " ${BG_DOCKER_ARGS[*]} " != *" --log-"* ]] || return 0
  driver=$(docker info --format '{{.LoggingDriver}}' 2>/dev/null || true)
  case $driver in
    json-file | local) printf '%s\n' --log-opt "max-size=$BG_LOG_MAX_SIZE" --log-opt "max-file=$BG_LOG_MAX_FILES" ;;
    *) log "the app's log goes to the daemon's ${driver:-unknown} logging driver, which this action does not bound" ;;
  esac
}

start_candidate() {
  CANDIDATE_SLOT=$(other_slot "${PREVIOUS_SLOT:-green}")
  CANDIDATE=$(container_name "$CANDIDATE_SLOT")
  make_room_for_candidate
  # The app lock is held: an env file still here is a killed run's (SIGKILL skips cleanup).
  rm -f "$APP_DIR"/.env.*
  local args=(run --detach --name "$CANDIDATE" --network "$BG_NETWORK" --restart unless-stopped)
  local line
  while IFS= read -r line; do args+=("$line"); done < <(label_args "$CANDIDATE_SLOT")
  local volume
  for volume in "${BG_VOLUMES[@]}"; do args+=(--volume "$volume"); done
  if [[ -n $BG_ENV ]]; then
    if ! { ENV_FILE=$(mktemp "$APP_DIR/.env.XXXXXX") && printf '%s\n' "$BG_ENV" >"$ENV_FILE"; } 2>/dev/null; then
      fail "$BG_EXIT_SERVER_UNUSABLE" "cannot write the app's env file in $APP_DIR (is the disk full?); nothing was changed"
    fi
    args+=(--env-file "$ENV_FILE")
  fi
  while IFS= read -r line; do args+=("$line"); done < <(log_args)
  args+=("${BG_DOCKER_ARGS[@]}" "$BG_SERVER_IMAGE_ID")
  log "starting $CANDIDATE from $BG_IMAGE (${BG_IMAGE_ID:7:12})"
  # Listed before it runs: if it never goes live, the next deploy (or remove) still knows to prune it.
  grep -qxF "$BG_SERVER_IMAGE_ID" "$APP_DIR/images-tried" 2>/dev/null || printf '%s\n' "$BG_SERVER_IMAGE_ID" >>"$APP_DIR/images-tried" || true
  CANDIDATE_STARTED=1
  local out
  out=$(docker "${args[@]}" 2>&1) || fail "$BG_EXIT_SERVER_UNUSABLE" "docker run of $CANDIDATE failed: $(docker_error "$out")"
  cleanup
  ENV_FILE=''
}

# One GET from inside the proxy container (no container spawned per try); prints the final HTTP
# status, or "error:MESSAGE". Extra arguments go to wget (e.g. --header "Host: x").
proxy_get_status() { # proxy_get_status URL [WGET_ARGS...]
  local url=$1 out
  shift
  out=$(docker exec "$BG_PROXY_NAME" timeout "$BG_HEALTH_TRY_TIMEOUT" wget -q -S -O /dev/null "$@" "$url" 2>&1) || true
  status_of "$out"
}

status_of() { # status_of WGET_S_OUTPUT: the last HTTP status in it, else error:WHY
  local out=$1 status
  status=$(printf '%s\n' "$out" | sed -n 's/^ *HTTP\/[0-9.]* \([0-9][0-9][0-9]\).*/\1/p' | tail -n 1)
  if [[ -n $status ]]; then
    echo "$status"
  elif [[ -z $out ]]; then
    echo "error:no answer within ${BG_HEALTH_TRY_TIMEOUT}s"
  else
    echo "error:$(printf '%s' "$out" | tail -n 1)"
  fi
}

# The app's own host name, so that host checks (Django's ALLOWED_HOSTS, Rails' hosts) pass.
health_host() {
  if ((${#BG_HOSTNAMES[@]} > 0)); then echo "${BG_HOSTNAMES[0]/#\*/check}"; else echo localhost; fi
}

health_try() { proxy_get_status "http://$CANDIDATE:$BG_CONTAINER_PORT$BG_HEALTH_PATH" --header "Host: $(health_host)"; }

is_healthy_status() {
  if [[ -n $BG_HEALTH_STATUS ]]; then
    [[ $1 == "$BG_HEALTH_STATUS" ]]
  else
    [[ $1 =~ ^[23][0-9][0-9]$ ]]
  fi
}

# The new container's first lines, in the log of every deploy (the summary has them only on failure).
show_first_lines() {
  local lines line
  lines=$( (docker logs "$CANDIDATE" 2>&1 || true) | head -n 20 || true)
  [[ -n $lines ]] || return 0
  log "first lines of $CANDIDATE:"
  while IFS= read -r line; do log "  | $line"; done <<<"$lines"
}

port_hint() { # port_hint LAST_ERROR: why nothing answered, when nothing listened on the port
  [[ ${1,,} == *refused* ]] || return 0
  local exposed
  exposed=$(docker image inspect -f '{{range $port, $_ := .Config.ExposedPorts}}{{$port}} {{end}}' "${BG_SERVER_IMAGE_ID:-$CANDIDATE_IMAGE_ID}" 2>/dev/null || true)
  printf '; nothing listened on port %s (container-port) in %s; the image exposes %s' "$BG_CONTAINER_PORT" "$CANDIDATE" "${exposed:-no port}"
}

wait_until_healthy() {
  local started deadline tries=0 streak=0 t0 answer latency state docker_health status error
  started=$(now_ms)
  deadline=$((started + BG_HEALTH_TIMEOUT_MS))
  log "checking http://$CANDIDATE:$BG_CONTAINER_PORT$BG_HEALTH_PATH (Host: $(health_host)) every ${BG_HEALTH_INTERVAL}s (needs $BG_HEALTH_SUCCESSES in a row, up to $((BG_HEALTH_TIMEOUT_MS / 1000))s)"
  while :; do
    state=$(docker inspect -f '{{.State.Status}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' "$CANDIDATE" 2>/dev/null || echo 'gone 0')
    if [[ $state != running* ]]; then
      fail "$BG_EXIT_UNHEALTHY" "the new container $CANDIDATE stopped before it became healthy (${state% *})"
    fi
    docker_health=$(awk '{print $3}' <<<"$state")
    if [[ $docker_health == unhealthy ]]; then
      LOG_TAIL=$(docker inspect -f '{{range .State.Health.Log}}{{.Output}}{{end}}' "$CANDIDATE" 2>/dev/null | tail -n 5 || true)
      fail "$BG_EXIT_UNHEALTHY" "the image's own HEALTHCHECK reports $CANDIDATE unhealthy"
    fi
    tries=$((tries + 1))
    t0=$(now_ms)
    answer=$(health_try)
    latency=$(($(now_ms) - t0))
    status='' error=''
    if [[ $answer == error:* ]]; then
      error=${answer#error:}
    elif [[ $answer =~ ^[1-5][0-9][0-9]$ ]]; then
      status=$answer
    else
      error="not an HTTP status: $answer" # e.g. "HTTP/1.1 099": never a number JSON would refuse
    fi
    # The last 200 tries are enough for the report, however long the health timeout.
    if ((${#HEALTH[@]} >= 200)); then HEALTH=("${HEALTH[@]:1}"); fi
    HEALTH+=("{\"try\":$tries,\"ms\":$((t0 - started)),\"status\":${status:-null},\"error\":$(json_or_null "$error"),\"latencyMs\":$latency}")
    if [[ -n $status ]] && is_healthy_status "$status"; then
      streak=$((streak + 1))
    else
      streak=0
    fi
    log "try $tries: ${status:-$error} (${latency}ms)${docker_health:+, docker health: $docker_health}"
    if ((streak >= BG_HEALTH_SUCCESSES)) && [[ -z $docker_health || $docker_health == healthy ]]; then
      log "$CANDIDATE is healthy after $(($(now_ms) - started))ms"
      show_first_lines
      return 0
    fi
    if (($(now_ms) + BG_HEALTH_INTERVAL_MS > deadline)); then
      fail "$BG_EXIT_UNHEALTHY" "the new version did not become healthy within $((BG_HEALTH_TIMEOUT_MS / 1000))s (last answer: ${status:-$error})$(port_hint "$error")"
    fi
    sleep "$BG_HEALTH_INTERVAL"
  done
}

# After the reload, through the proxy itself with the app's host name: the server block that answers
# must be this app's new slot (its config says which), and the health path must answer healthy;
# else the switch is undone. Both probes in one exec.
verify_through_proxy() {
  local host want="$BG_APP $CANDIDATE_SLOT" routed='' out='' answer i
  host=$(health_host)
  for i in $(seq 1 30); do
    # shellcheck disable=SC2016
    out=$(docker exec "$BG_PROXY_NAME" sh -c 'routed=$(timeout "$1" wget -q -O - --header "Host: $2" http://127.0.0.1:80/__bluegreen/slot 2>/dev/null)
      echo "routed:$routed"
      [ "$routed" = "$3" ] || exit 0
      timeout "$1" wget -q -S -O /dev/null --header "Host: $2" "http://127.0.0.1:80$4" 2>&1' \
      sh "$BG_HEALTH_TRY_TIMEOUT" "$host" "$want" "$BG_HEALTH_PATH" 2>&1) || true
    routed=$(sed -n '1s/^routed://p' <<<"$out")
    [[ $routed == "$want" ]] && break
    sleep 0.1
  done
  if [[ $routed != "$want" ]]; then
    log "the proxy does not route Host: $host to $CANDIDATE_SLOT after the reload (it routes to ${routed:-nothing we know})"
    return 1
  fi
  answer=$(status_of "$(sed 1d <<<"$out")")
  if ! is_healthy_status "$answer"; then
    log "the proxy does not answer healthy from $CANDIDATE_SLOT for Host: $host (last answer: ${answer#error:})"
    return 1
  fi
  log "the proxy serves $CANDIDATE_SLOT for $host (check $i: $answer)"
}

# The live slot stays, but its proxy config may be another version's (an upgraded action writes a
# different template): rewritten in place when it differs from what this run would write.
refresh_proxy_config() {
  local wanted
  wanted=$(render_proxy_config "$PREVIOUS_SLOT" "$CANDIDATE")
  if [[ -f $CONF_FILE && $(<"$CONF_FILE") == "$wanted" ]]; then
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
  if ! point_proxy_at "$PREVIOUS_SLOT"; then
    ((PROXY_UNWRITTEN == 0)) || fail "$BG_EXIT_SWITCH_UNDONE" "cannot update the proxy config of $BG_APP: $PROXY_COMPLAINT"
    fail "$BG_EXIT_SWITCH_UNDONE" "nginx -t refused the updated config for $PREVIOUS_SLOT ($PROXY_COMPLAINT); the previous config is back"
  fi
}

switch_proxy() {
  if ! point_proxy_at "$CANDIDATE_SLOT"; then
    local hint=''
    case $PROXY_COMPLAINT in
      *"duplicate default server"*) hint=': another app is already the default server, give this one a hostname' ;;
      *"conflicting server name"*) hint=': another app on this proxy already has that host name' ;;
    esac
    ((PROXY_UNWRITTEN == 0)) || fail "$BG_EXIT_SWITCH_UNDONE" "cannot switch to $CANDIDATE_SLOT: $PROXY_COMPLAINT"
    fail "$BG_EXIT_SWITCH_UNDONE" "nginx -t refused the config for $CANDIDATE_SLOT ($PROXY_COMPLAINT); the previous config is back$hint"
  fi
  SWITCHED=1
  ACTIVE_SLOT=$CANDIDATE_SLOT
  log "proxy switched ${PREVIOUS_SLOT:-none} -> $CANDIDATE_SLOT"
  if ! verify_through_proxy; then
    SWITCHED=0
    ACTIVE_SLOT=$PREVIOUS_SLOT
    point_proxy_at "$PREVIOUS_SLOT" || true
    fail "$BG_EXIT_SWITCH_UNDONE" "after the reload the proxy did not answer healthy from $CANDIDATE_SLOT; switched back to ${PREVIOUS_SLOT:-nothing}"
  fi
}

previous_is_running() { # also notes its address for drain_previous (one docker call)
  [[ -n $PREVIOUS_SLOT ]] || return 1
  local facts
  facts=$(docker container inspect -f "{{.State.Running}} {{with index .NetworkSettings.Networks \"$BG_NETWORK\"}}{{.IPAddress}}{{end}}" "$(container_name "$PREVIOUS_SLOT")" 2>/dev/null) || return 1
  PREVIOUS_IP=${facts#* }
  [[ ${facts%% *} == true ]]
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
DRAIN_NOTE='' # what was still open when the old version stopped, for the summary
note_drain() {
  DRAIN_NOTE=$1
  { printf '%s' "$1" >"$APP_DIR/.drain-note"; } 2>/dev/null || true
}

drain_previous() {
  local old ip target hop started deadline long_deadline quiet=0 look total long http
  old=$(container_name "$PREVIOUS_SLOT")
  started=$(now_ms)
  deadline=$((started + BG_DRAIN_SECONDS * 1000))
  long_deadline=$((started + BG_DRAIN_LONG_LIVED * 1000))
  ip=$PREVIOUS_IP
  target=''
  if [[ $ip =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]]; then target=$(proc_net_address "$ip" "$BG_CONTAINER_PORT"); fi
  hop=$(proc_net_address 127.0.0.1 "$(hop_port "$PREVIOUS_SLOT")")
  log "draining $old: requests until they are done (at most ${BG_DRAIN_SECONDS}s), WebSockets and event streams at most ${BG_DRAIN_LONG_LIVED}s (previous nginx workers: ${OLD_WORKERS:-unknown})"
  while (($(now_ms) < deadline)); do
    # shellcheck disable=SC2016
    look=$(docker exec "$BG_PROXY_NAME" sh -c 'for p in $1; do [ -d "/proc/$p" ] && echo workers-alive && break; done
      cat /proc/net/tcp /proc/net/tcp6 2>/dev/null' sh "$OLD_WORKERS" 2>/dev/null || true)
    if [[ -z $look ]]; then break; fi
    if [[ -n $OLD_WORKERS && $look != *workers-alive* ]]; then
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
  after_switch drain drain_previous
  # The drain ran in a subshell (after_switch): its note comes back through a file.
  DRAIN_NOTE=$(cat "$APP_DIR/.drain-note" 2>/dev/null || true)
  rm -f "$APP_DIR/.drain-note"
  after_switch stop stop_previous
}

# After the switch the new version is live: a later step that fails (a container removed meanwhile,
# a full disk) is a warning, never a failed deploy that would invite a rollback of a good version.
after_switch() { # after_switch NAME COMMAND...
  local status why
  PHASE=$1
  shift
  PHASE_STARTED=$(now_ms)
  # In a subshell with errexit on (not in a condition, where bash would switch it off); the main
  # shell's ERR trap is off meanwhile, as the subshell's exit status is handled here.
  trap - ERR
  set +e
  (
    arm_err_trap
    set -e
    "$@"
  )
  status=$?
  set -e
  arm_err_trap
  PHASES+=("$(json_str "$PHASE"):$(($(now_ms) - PHASE_STARTED))")
  if ((status != 0)); then
    why=$(take_fail_note) && why=${why#*$'\n'} || why="exit $status"
    log "warning: $PHASE did not finish ($why); the new version is live"
  fi
  return 0
}

# Image IDs that some container (of any app) was created from.
images_in_use() { # the image of every container; fails when the containers cannot be listed
  local ids
  ids=$(docker ps -aq) || return 1
  # A container removed meanwhile (another app's run pruning) fails its inspect: the others still count.
  { xargs -r docker inspect -f '{{.Image}}' <<<"$ids" 2>/dev/null || true; } | sort -u
}

# The images of deploys that never went live (not in LIST, the live ones) go, unless a container uses them.
prune_tried_images() { # prune_tried_images LIST IN_USE
  local tried=$APP_DIR/images-tried id
  [[ -s $tried ]] || return 0
  while IFS= read -r id; do
    if [[ -z $id ]] || grep -qxF "$id" "$1" 2>/dev/null || grep -qxF "$id" <<<"$2"; then continue; fi
    if docker image rm --force "$id" >/dev/null 2>&1; then log "removed image ${id:7:12} of a deploy that never went live"; fi
  done <"$tried"
  rm -f "$tried"
}

# Keeps the newest $BG_KEEP_IMAGES images this app deployed; older ones go unless a container
# still uses them (then they stay listed and are tried again next time).
prune_images() {
  local list=$APP_DIR/images id in_use kept=()
  touch "$list"
  if [[ -n $BG_SERVER_IMAGE_ID ]] && [[ $(tail -n 1 "$list") != "$BG_SERVER_IMAGE_ID" ]]; then
    grep -vxF "$BG_SERVER_IMAGE_ID" "$list" >"$list.tmp" || true
    printf '%s\n' "$BG_SERVER_IMAGE_ID" >>"$list.tmp"
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
      log "removed old image ${id:7:12}"
    elif docker image inspect "$id" >/dev/null 2>&1; then
      log "warning: could not remove old image ${id:7:12}"
      kept+=("$id")
    fi
  done < <(head -n -"$BG_KEEP_IMAGES" "$list")
  { if ((${#kept[@]})); then printf '%s\n' "${kept[@]}"; fi; tail -n "$BG_KEEP_IMAGES" "$list"; } >"$list.tmp"
  mv -f "$list.tmp" "$list"
}

record_history() {
  [[ -d $APP_DIR ]] || return 0
  local line
  line=$(printf '{"time":"%s","command":%s,"outcome":%s,"image":%s,"imageId":%s,"from":%s,"to":%s,"gitSha":%s,"runUrl":%s,"error":%s}' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(json_str "$BG_COMMAND")" "$(json_str "$OUTCOME")" \
    "$(json_or_null "${BG_IMAGE:-}")" "$(json_or_null "${CANDIDATE_IMAGE_ID:-${BG_IMAGE_ID:-}}")" \
    "$(json_or_null "$PREVIOUS_SLOT")" "$(json_or_null "$ACTIVE_SLOT")" \
    "$(json_or_null "$BG_GIT_SHA")" "$(json_or_null "$BG_RUN_URL")" "$(json_or_null "$ERROR")")
  local history=$APP_DIR/history.jsonl
  # The record is not worth the result: a full disk makes it a warning (and fail() calls this too).
  if ! { printf '%s\n' "$line" >>"$history"; } 2>/dev/null; then
    log "warning: this run could not be added to $history (is the disk full?)"
    return 0
  fi
  if (($(wc -l <"$history") > 500)); then # keep it small: the newest 200 runs
    { tail -n 200 "$history" >"$history.tmp" && mv -f "$history.tmp" "$history"; } 2>/dev/null || rm -f "$history.tmp"
  fi
}

describe_live() { # sets LIVE_INFO to a JSON object describing the live container, if any
  local slot=$1 container
  [[ -n $slot ]] || return 0
  container=$(container_name "$slot")
  LIVE_INFO=$(docker inspect -f "{\"container\":{{json .Name}},\"running\":{{.State.Running}},\"imageId\":{{json $(label_of image-id)}},\"image\":{{json $(label_of image)}},\"gitSha\":{{json $(label_of git-sha)}},\"runUrl\":{{json $(label_of run-url)}},\"deployedAt\":{{json $(label_of deployed-at)}}}" "$container" 2>/dev/null || true)
}

# --- commands -------------------------------------------------------------------------------------

is_unchanged() { # the live slot already runs this exact image with this exact configuration
  [[ -n $PREVIOUS_SLOT && $LIVE_LABELS == "true $BG_IMAGE_ID $BG_CONFIG_HASH" ]]
}

cmd_deploy() {
  read_live
  ACTIVE_SLOT=$PREVIOUS_SLOT
  note_state_mismatch
  log "live slot: ${PREVIOUS_SLOT:-none}"
  run_phase tls ensure_certificate
  if is_unchanged; then
    OUTCOME=$BG_OUTCOME_UNCHANGED
    CANDIDATE=$(container_name "$PREVIOUS_SLOT")
    log "$CANDIDATE already runs ${BG_IMAGE_ID:7:12} with this configuration; nothing to switch"
    run_phase switch refresh_proxy_config
    return 0
  fi
  # Before anything is removed to make room: a missing image changes nothing.
  docker image inspect "$BG_SERVER_IMAGE_ID" >/dev/null 2>&1 || fail "$BG_EXIT_SERVER_UNUSABLE" "image ${BG_IMAGE_ID:7:12} is not on this server"
  run_phase start start_candidate
  run_phase health wait_until_healthy
  if ((BG_BARRIER_SECONDS > 0)); then run_phase wait wait_for_every_host; fi
  run_phase switch switch_proxy
  OUTCOME=$BG_OUTCOME_SWITCHED
  retire_previous
  after_switch forget forget_kept
  after_switch prune prune_images
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
  PREVIOUS_SLOT=$(live_slot)
  ACTIVE_SLOT=$PREVIOUS_SLOT
  note_state_mismatch
  [[ -n $PREVIOUS_SLOT ]] || fail "$BG_EXIT_NOTHING_TO_ROLL_BACK" "$BG_APP has no live slot, so there is nothing to roll back from"
  run_phase tls ensure_certificate
  CANDIDATE_SLOT=$(other_slot "$PREVIOUS_SLOT")
  CANDIDATE=$(container_name "$CANDIDATE_SLOT")
  put_back_kept_for_rollback
  local labels
  labels=$(docker container inspect -f "{{$(label_of image-id)}} {{$(label_of image)}}" "$CANDIDATE" 2>/dev/null) ||
    fail "$BG_EXIT_NOTHING_TO_ROLL_BACK" "there is no previous version to roll back to ($CANDIDATE does not exist); nothing was changed"
  CANDIDATE_IMAGE_ID=${labels%% *}
  log "rolling back $PREVIOUS_SLOT -> $CANDIDATE_SLOT (${labels#* })"
  PHASE=start
  CANDIDATE_STARTED=1
  docker start "$CANDIDATE" >/dev/null
  run_phase health wait_until_healthy
  run_phase switch switch_proxy
  OUTCOME=$BG_OUTCOME_SWITCHED
  retire_previous
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
  PREVIOUS_SLOT=$(live_slot)
  local found=0 slot container
  if [[ -f $CONF_FILE ]]; then
    found=1
    if docker inspect "$BG_PROXY_NAME" >/dev/null 2>&1; then
      if ! point_proxy_at ''; then
        ((PROXY_UNWRITTEN == 0)) || fail "$BG_EXIT_SWITCH_UNDONE" "cannot remove $BG_APP from the proxy: $PROXY_COMPLAINT"
        fail "$BG_EXIT_SWITCH_UNDONE" "nginx refused the config without $BG_APP; nothing was removed"
      fi
    else
      rm -f "$CONF_FILE"
    fi
    log "removed $BG_APP from the proxy"
  fi
  if [[ $BG_ENGINE == swarm ]] && remove_service; then found=1; fi
  for slot in blue green; do
    container=$(container_name "$slot")
    if docker inspect "$container" >/dev/null 2>&1; then
      found=1
      docker rm --force "$container" >/dev/null
      log "removed container $container"
    fi
    container=$(kept_name "$slot") # only where an interrupted run left one
    if [[ $(owner_in "$(owners_of "$container")" "$container" || true) == "$BG_APP" ]]; then
      docker rm --force "$container" >/dev/null
      log "removed container $container"
    fi
  done
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
      if docker image rm --force "$id" >/dev/null 2>&1; then log "removed image ${id:7:12}"; fi
    done < <(cat "${lists[@]}" | sort -u)
    rm -f "${lists[@]}"
  fi
  rm -f "$SETTINGS_FILE"
  ACTIVE_SLOT=''
  OUTCOME=$BG_OUTCOME_REMOVED
  ((found)) || log "$BG_APP was not deployed on this server; nothing to remove"
}

cmd_status() {
  ACTIVE_SLOT=$(live_slot)
  PREVIOUS_SLOT=$ACTIVE_SLOT
  if [[ $BG_ENGINE == swarm ]]; then describe_service "$(service_facts)"; else describe_live "$ACTIVE_SLOT"; fi
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

LOGS='' # command logs: the live version's last lines
cmd_logs() {
  ACTIVE_SLOT=$(live_slot)
  PREVIOUS_SLOT=$ACTIVE_SLOT
  [[ -n $ACTIVE_SLOT ]] || fail "$BG_EXIT_NOT_DEPLOYED" "$BG_APP has no live version on this server, so it has no logs to show"
  local line
  if [[ $BG_ENGINE == swarm ]]; then
    LOGS=$(docker service logs --tail "$BG_LOGS_LINES" "$BG_APP" 2>&1) || fail "$BG_EXIT_SERVER_UNUSABLE" "docker service logs $BG_APP failed: $(docker_error "$LOGS")"
  else
    LOGS=$(docker logs --tail "$BG_LOGS_LINES" "$(container_name "$ACTIVE_SLOT")" 2>&1) || fail "$BG_EXIT_SERVER_UNUSABLE" "docker logs failed: $(docker_error "$LOGS")"
    describe_live "$ACTIVE_SLOT"
  fi
  if ((${#LOGS} > 65536)); then LOGS="[…]${LOGS: -65536}"; fi
  log "the last $BG_LOGS_LINES lines of $BG_APP ($ACTIVE_SLOT):"
  while IFS= read -r line; do log "  | $line"; done <<<"$LOGS"
  OUTCOME=$BG_OUTCOME_UNCHANGED
}

main() {
  FAIL_NOTE=$(mktemp "${TMPDIR:-/tmp}/bluegreen-fail.XXXXXX" 2>/dev/null) || FAIL_NOTE=""
  trap '' HUP PIPE
  # The runner's word for wait_for_every_host comes on standard input; no other command reads it.
  if ((BG_BARRIER_SECONDS > 0)); then exec 7<&0 </dev/null; fi
  arm_err_trap
  trap cleanup EXIT
  PHASE=check
  load_settings
  run_phase check check_server
  if ! read_only_command; then
    run_phase lock take_lock
    check_settings_unchanged
  fi
  case $BG_COMMAND in
    deploy)
      run_phase proxy ensure_network_and_proxy
      if [[ $BG_ENGINE == swarm ]]; then swarm_deploy; else cmd_deploy; fi
      ;;
    rollback)
      run_phase proxy ensure_network_and_proxy
      if [[ $BG_ENGINE == swarm ]]; then swarm_rollback; else cmd_rollback; fi
      ;;
    remove) cmd_remove ;;
    status) cmd_status ;;
    logs) cmd_logs ;;
    *) fail "$BG_EXIT_SERVER_UNUSABLE" "unknown command $BG_COMMAND" ;;
  esac
  PHASE=finish
  if [[ $BG_COMMAND == deploy ]]; then
    record_settings
    # An app moved from tls: acme to own or off leaves the renewer.
    if [[ $BG_TLS != acme ]]; then forget_acme; fi
  fi
  read_only_command || record_history
  [[ -n $LIVE_INFO || $BG_ENGINE == swarm ]] || describe_live "$ACTIVE_SLOT"
  emit_result
}

# Sourced with BG_SOURCE_ONLY=1 (unit tests), it only defines its functions.
[[ ${BG_SOURCE_ONLY:-0} == 1 ]] || main
