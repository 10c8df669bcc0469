# The app's versions still on this server, read from its history: what rollback-to can reach and
# command status lists. A version is an image the app went live with (a deploy or rollback that
# switched, or found it already live) whose image this server still has: keep-images decides how
# many stay (prune_images), so how far back rollback-to can go.
# shellcheck shell=bash

history_field() { # history_field LINE NAME: a string field of one of our own history lines
  local pattern="\"$2\":\"([^\"\\]*)\""
  if [[ $1 =~ $pattern ]]; then printf '%s' "${BASH_REMATCH[1]}"; fi
}

# The history's lines that put a version live, newest first, each "LINE_NO<TAB>JSON".
went_live_lines() {
  local history=$APP_DIR/history.jsonl
  [[ -f $history ]] || return 0
  grep -n -E '"command":"(deploy|rollback)","outcome":"(switched|unchanged)"' "$history" | sed 's/:/\t/' | tac || true
}

# An entry of VERSIONS: its fields joined by the unit separator (a tab is whitespace to read: empty
# fields would collapse and shift the rest). read_version sets the caller's locals of those names.
version_entry() { local IFS=$'\x1f'; printf '%s' "$*"; } # version_entry ID SERVER IMAGE SHA RUN TIME NUMBER
read_version() { IFS=$'\x1f' read -r id server image sha run time number <<<"$1"; }

# VERSIONS: one entry "IMAGE_ID SERVER_ID IMAGE GIT_SHA RUN_URL TIME LINE_NO" per
# version still on this server, newest first (LINE_NO: where the history last put it live), and
# VERSION_NAMES, every name each is known by (image refs, commit SHAs, runs), keyed by IMAGE_ID.
# A version's commit and run are those of the deploys that made it: a rollback's line carries the
# commit and run of the rollback's own workflow, which name no version.
VERSIONS=()
declare -A VERSION_NAMES=()
list_versions() {
  local number line id server image sha run time
  declare -A listed=() refs=() shas=() runs=()
  VERSIONS=()
  VERSION_NAMES=()
  while IFS=$'\t' read -r number line; do
    id=$(history_field "$line" imageId)
    [[ -n $id ]] || continue
    image=$(history_field "$line" image) sha='' run=''
    if [[ $(history_field "$line" command) == deploy ]]; then
      sha=$(history_field "$line" gitSha)
      run=$(history_field "$line" runUrl)
      if [[ -n $sha && -z ${shas[$id]:-} ]]; then shas[$id]=$sha; fi
      if [[ -n $run && -z ${runs[$id]:-} ]]; then runs[$id]=$run; fi
    fi
    VERSION_NAMES[$id]+=" $image $sha $run "
    if [[ -n $image && -z ${refs[$id]:-} ]]; then refs[$id]=$image; fi
    [[ -z ${listed[$id]:-} ]] || continue
    listed[$id]=1
    server=$(history_field "$line" serverImageId)
    # Older lines have no serverImageId: the config digest names the image on the classic store.
    server=$(docker image inspect -f '{{.Id}}' "${server:-$id}" 2>/dev/null || docker image inspect -f '{{.Id}}' "$id" 2>/dev/null) || continue
    time=$(history_field "$line" time)
    VERSIONS+=("$(version_entry "$id" "$server" "$image" "$sha" "$run" "$time" "$number")")
  done < <(went_live_lines)
  local i
  for i in "${!VERSIONS[@]}"; do # put live last by a rollback: the reference, commit and run of its deploy
    read_version "${VERSIONS[$i]}"
    VERSIONS[i]=$(version_entry "$id" "$server" "${image:-${refs[$id]:-}}" "${sha:-${shas[$id]:-}}" "${run:-${runs[$id]:-}}" "$time" "$number")
  done
}

versions_json() { # the result's "versions", the live one marked (LIVE_ID: its image ID)
  local entry id server image sha run time number items=()
  for entry in "${VERSIONS[@]}"; do
    read_version "$entry"
    items+=("$(printf '{"imageId":%s,"image":%s,"gitSha":%s,"runUrl":%s,"time":%s,"live":%s}' "$(json_str "$id")" "$(json_or_null "$image")" \
      "$(json_or_null "$sha")" "$(json_or_null "$run")" "$(json_or_null "$time")" "$([[ $id == "${1:-}" ]] && echo true || echo false)")")
  done
  printf '[%s]' "$(join_by , "${items[@]}")"
}

live_image_id() { # the live version's image ID, if any
  [[ -n $ACTIVE_SLOT ]] || return 0
  engine_live_image "$ACTIVE_SLOT" | cut -d'|' -f3 || true
}

versions_text() { # the versions as a short list for an error message
  local entry id server image sha run time number items=()
  for entry in "${VERSIONS[@]}"; do
    read_version "$entry"
    items+=("$(short_id "$id") (${image:-no reference}${sha:+, commit ${sha:0:12}}, live at $time)")
  done
  if ((${#items[@]})); then join_by '; ' "${items[@]}"; else printf 'none'; fi
}

# Whether NAME names the version with image ID ID: the ID or what this server's store calls it (with
# or without sha256:, or its first 12 or more hex digits), an image reference, a commit SHA (7 or
# more hex digits) or a run (its URL, or the run's number) that put it live.
names_version() { # names_version NAME ID SERVER_ID
  local name=${1#sha256:} names=" ${VERSION_NAMES[$2]:-} " word words=()
  if [[ $name =~ ^[0-9a-f]{12,64}$ ]] && [[ ${2#sha256:} == "$name"* || ${3#sha256:} == "$name"* ]]; then return 0; fi
  [[ $names == *" $1 "* ]] && return 0
  read -r -a words <<<"$names"
  for word in "${words[@]}"; do
    if [[ $1 =~ ^[0-9a-f]{7,40}$ && $word =~ ^[0-9a-f]{40}$ && $word == "$1"* ]]; then return 0; fi
    # A run number names the run URL that ends with it (an attempt may follow): 12 is not run 123.
    if [[ $1 =~ ^[0-9]+$ && ($word == */runs/"$1" || $word == */runs/"$1"/*) ]]; then return 0; fi
  done
  return 1
}

# Sets VERSION_* to the newest version NAME names, or fails listing the versions there are.
resolve_version() { # resolve_version NAME
  local entry id server image sha run time number
  list_versions
  VERSIONS_JSON=$(versions_json)
  for entry in "${VERSIONS[@]}"; do
    read_version "$entry"
    names_version "$1" "$id" "$server" || continue
    VERSION_IMAGE_ID=$id VERSION_SERVER_ID=$server VERSION_IMAGE=$image VERSION_GIT_SHA=$sha VERSION_RUN_URL=$run
    CANDIDATE_IMAGE_ID=$id CANDIDATE_SERVER_ID=$server
    log "rollback-to $1: $(short_id "$id") (${image:-no reference}), live at $time${sha:+ after commit ${sha:0:12}}"
    return 0
  done
  fail "$BG_EXIT_NOTHING_TO_ROLL_BACK" "no version of $BG_APP on this server is named '$1' (by image ID, image reference, commit SHA or run); the versions rollback-to can reach (keep-images decides how many stay): $(versions_text); nothing was changed"
}

# A release that made the version live before it unhealthy (history: "brokeLive") cannot be rolled
# back across without force: the older version no longer works with what the release changed.
refuse_rollback_across_release() { # refuse_rollback_across_release IMAGE_ID: the version to go back to
  local history=$APP_DIR/history.jsonl broke live_at
  [[ -f $history ]] || return 0
  broke=$(grep -n -F '"brokeLive":true' "$history" | tail -n 1 | cut -d: -f1 || true)
  [[ -n $broke ]] || return 0
  live_at=$(went_live_lines 2>/dev/null | grep -F "\"imageId\":\"$1\"" | head -n 1 | cut -f1 || true)
  # A version first put live after that release works with it.
  [[ -n $live_at ]] && ((live_at > broke)) && return 0
  if ((BG_FORCE)); then
    log "warning: rolling back to $(short_id "$1") across a release that made the version before it unhealthy (force: true)"
    return 0
  fi
  fail "$BG_EXIT_NOTHING_TO_ROLL_BACK" "$(short_id "$1") was live before a release command that made the version before it unhealthy ($(history_field "$(sed -n "${broke}p" "$history")" time)): it may not work with what that release changed. Give force: true to roll back anyway; nothing was changed"
}
