# The app's state on this server besides Docker: its recorded settings and its history.
# shellcheck shell=bash

# A deploy records the settings it went live with (one "VARIABLE<TAB>value" line each, a list's
# words joined by spaces, each with %, blanks and line ends written %XX); rollback, status and remove load them over their own inputs, so a rollback
# given only the connection and the app keeps the app's host names, TLS, port and health check.
# BG_SETTING_INPUTS names each setting's input and variables; BG_GIVEN the inputs this run gave.

# setting_value VARIABLE [INTO]: its value, a list's words each encoded (%XX) and joined by spaces;
# printed, or put in the variable INTO (no subshell: a deploy records some 30 of them).
setting_value() {
  local -n value_of=$1
  local word encoded=() value attributes
  set +u # an empty list has no value for nounset, but it has its attributes
  attributes=${value_of@a}
  set -u
  if [[ $attributes != *a* ]]; then
    value=$value_of
  else
    for word in "${value_of[@]}"; do
      word=${word//%/%25} word=${word// /%20} word=${word//$'\t'/%09} word=${word//$'\n'/%0A} word=${word//$'\r'/%0D}
      encoded+=("${word:-%00}") # an empty word (bash strings hold no NUL: %00 is never a word's own)
    done
    value=${encoded[*]}
  fi
  if [[ -n ${2:-} ]]; then printf -v "$2" '%s' "$value"; else printf '%s' "$value"; fi
}

load_list() { # load_list VARIABLE VALUE: the words setting_value wrote, decoded
  local -n list_of=$1
  local words=() word
  read -r -a words <<<"$2"
  list_of=()
  for word in "${words[@]}"; do
    [[ $word != %00 ]] || word=''
    word=${word//%20/ } word=${word//%09/$'\t'} word=${word//%0A/$'\n'} word=${word//%0D/$'\r'} word=${word//%25/%}
    list_of+=("$word")
  done
}

setting_variables() { # every variable of the recorded settings, one a line
  local entry
  # shellcheck disable=SC2086 # an entry's variables are words
  for entry in "${BG_SETTING_INPUTS[@]}"; do printf '%s\n' ${entry#*:}; done
}

settings_json() { # what the run routed by: {"hostnames":[…],"tls":…,"containerPort":…,"recorded":true when loaded from the record,"web":…,"canonicalHost":…,"pathPrefix":…}
  local quoted=() name json tls canonical prefix recorded=false web=false
  for name in "${BG_HOSTNAMES[@]}"; do
    json_str "$name" json
    quoted+=("$json")
  done
  json_str "$BG_TLS" tls
  json_str "$BG_CANONICAL_HOST" canonical
  json_str "$BG_PATH_PREFIX" prefix
  if [[ -n $SETTINGS_LOADED ]]; then recorded=true; fi
  if has_web; then web=true; fi
  printf '{"hostnames":[%s],"tls":%s,"containerPort":%s,"recorded":%s,"web":%s,"canonicalHost":%s,"pathPrefix":%s}' "$(join_by , "${quoted[@]}")" "$tls" \
    "$((BG_CONTAINER_PORT))" "$recorded" "$web" "$canonical" "$prefix"
}

render_settings() {
  local variable recorded at
  utc_now at
  printf '# bluegreen settings of %s, recorded %s by %s\n' "$BG_APP" "$at" "${BG_RUN_URL:-a run}"
  while IFS= read -r variable; do
    setting_value "$variable" recorded
    printf '%s\t%s\n' "$variable" "$recorded"
  done < <(setting_variables)
}

# A deploy, and its release phase, run with their own settings (and record them); every other command loads the record.
deploys() { [[ $BG_COMMAND == deploy || $BG_COMMAND == release ]]; }

record_settings() { # after a deploy went live (or was unchanged): its settings are the app's now
  record_container_settings
  { render_settings >"$SETTINGS_FILE.new" && mv -f "$SETTINGS_FILE.new" "$SETTINGS_FILE"; } 2>/dev/null ||
    { rm -f "$SETTINGS_FILE.new"; log "warning: cannot write $SETTINGS_FILE (is the disk full?): rollback, status and remove use their own inputs until a deploy records them"; }
}

# Loads the record over this run's settings (not for a deploy, which records its own), refusing a
# given input whose value differs from the record before anything changed; then makes them read-only.
load_settings() {
  local entry input variable value conflicts=()
  declare -A given=() known=()
  if ! deploys && [[ -f $SETTINGS_FILE ]] && SETTINGS_LOADED=$(<"$SETTINGS_FILE") && [[ -n $SETTINGS_LOADED ]]; then
    while IFS= read -r variable; do known[$variable]=1; done < <(setting_variables)
    for entry in "${BG_SETTING_INPUTS[@]}"; do
      input=${entry%%:*}
      [[ " ${BG_GIVEN[*]} " == *" $input "* ]] || continue
      for variable in ${entry#*:}; do given[$variable]=$(setting_value "$variable"); done
    done
    while IFS=$'\t' read -r variable value; do
      # Names the record holds are data: only known ones count (an empty one would be a bad subscript).
      [[ -n $variable && $variable != '#'* && ${known[$variable]+set} == set ]] || continue
      if [[ $(declare -p "$variable") == 'declare -a'* ]]; then load_list "$variable" "$value"; else printf -v "$variable" '%s' "$value"; fi
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
  elif ! deploys && [[ -f $CONF_FILE ]]; then
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
  ! deploys && [[ -n $SETTINGS_LOADED ]] || return 0
  [[ $(cat "$SETTINGS_FILE" 2>/dev/null) == "$SETTINGS_LOADED" ]] ||
    fail "$BG_EXIT_SERVER_UNUSABLE" "a deploy of $BG_APP changed its settings while this run waited for the lock; nothing was changed: run $BG_COMMAND again"
}

# The live slot is the one the proxy config points at (an app without web: the one its slot file
# names), if its container still exists: Docker is the truth, and a slot whose container is gone
# (removed by hand, a reset Docker) is not live.
recorded_slot() {
  if ! has_web; then
    sed -n '1{/^\(blue\|green\)$/p}' "$LIVE_SLOT_FILE" 2>/dev/null || true
    return 0
  fi
  [[ -f $CONF_FILE ]] || return 0
  sed -n '1s/^# bluegreen: .* slot=\([a-z0-9]*\) .*/\1/p' "$CONF_FILE"
}

# Image IDs that some container (of any app) was created from.
images_in_use() { # the image of every container; fails when the containers cannot be listed
  local ids
  ids=$(docker ps -aq) || return 1
  # A container removed meanwhile (another app's run pruning) fails its inspect: the others still count.
  { xargs -r docker inspect -f '{{.Image}}' <<<"$ids" 2>/dev/null || true; } | sort -u
}

record_history() {
  [[ -d $APP_DIR ]] || return 0
  # command run keeps no history (its command line may carry what the history must not); a release
  # only when it ran.
  [[ $BG_COMMAND != run ]] || return 0
  [[ $BG_COMMAND != release || -n $HISTORY_OUTCOME ]] || return 0
  local line at command outcome image image_id server_id from to git_sha run_url error broke=''
  utc_now at
  json_str "$BG_COMMAND" command
  json_str "${HISTORY_OUTCOME:-$OUTCOME}" outcome
  json_or_null "${VERSION_IMAGE:-}" image
  json_or_null "${CANDIDATE_IMAGE_ID:-${VERSION_IMAGE_ID:-}}" image_id
  json_or_null "${CANDIDATE_SERVER_ID:-${VERSION_SERVER_ID:-}}" server_id
  json_or_null "$PREVIOUS_SLOT" from
  json_or_null "$ACTIVE_SLOT" to
  json_or_null "$BG_GIT_SHA" git_sha
  json_or_null "$BG_RUN_URL" run_url
  json_or_null "$ERROR" error
  if ((RELEASE_BROKE_LIVE)); then broke=',"brokeLive":true'; fi
  printf -v line '{"time":"%s","command":%s,"outcome":%s,"image":%s,"imageId":%s,"serverImageId":%s,"from":%s,"to":%s,"gitSha":%s,"runUrl":%s,"error":%s%s}' \
    "$at" "$command" "$outcome" "$image" "$image_id" "$server_id" "$from" "$to" "$git_sha" "$run_url" "$error" "$broke"
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
