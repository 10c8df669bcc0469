# engine: swarm. The app is a Docker Swarm service named after it, changed through a manager.
#
# Swarm rolls a new version out itself: start-first, one task at a time. A task joins the service's
# DNS name only once its HEALTHCHECK (made from the health inputs) passes; a task that fails it makes
# Swarm roll the whole service back. The service uses DNS round robin (endpoint mode dnsrr) on an
# attachable overlay network that the proxy joins too: Swarm takes a task out of DNS before it stops
# it, and the proxy resolves the name every second, so no request goes to a task that is leaving.
# A "slot" here is the version: the first 12 hex digits of the image's config digest.
#
# The engine's functions, called by the common code (every engine file defines the same ones):
# shellcheck shell=bash
engine_check() { check_swarm_manager; }
engine_network() { ensure_overlay_network; } # a bridge of that name would not do, also when the proxy is on it
engine_live_slot() { swarm_live_slot; }
engine_upstream() { printf '%s' "$BG_APP"; } # the service's name: every task of the version
engine_ask_ahead() { :; }
engine_deploy() { swarm_deploy; }
engine_release() { cmd_release; }
engine_start_container() { START_ERROR="engine swarm starts no slot container ($1): Swarm starts the service's tasks" && return 1; }
engine_create_oneoff() { create_oneoff_container "$@"; }
engine_start_oneoff() { start_oneoff_container; }
engine_rollback() { swarm_rollback; }
engine_discard() { undo_service_change; }

engine_remove() { # true when there was a service or a slot's container to remove
  local found=1
  if remove_service; then found=0; fi
  if remove_app_containers; then found=0; fi
  return "$found"
}

engine_status() { describe_service "$(service_facts)"; }

engine_logs() {
  LOGS=$(docker service logs --tail "$BG_LOGS_LINES" "$BG_APP" 2>&1) || fail "$BG_EXIT_SERVER_UNUSABLE" "docker service logs $BG_APP failed: $(docker_error "$LOGS")"
}

engine_finish() { :; } # LIVE_INFO is the service's only where status asked for it

engine_unchanged() { swarm_is_unchanged "$(service_facts)"; }

engine_live_image() { # engine_live_image: "IMAGE|IMAGE|IMAGE_ID" of the service's version (its config tag, here on the manager)
  docker service inspect -f "{{.Spec.TaskTemplate.ContainerSpec.Image}}|{{index .Spec.Labels \"$LABEL.image\"}}|{{index .Spec.Labels \"$LABEL.image-id\"}}" "$BG_APP" 2>/dev/null
}

SERVICE_CHANGED=0 # 1 once this run created or updated the service: a failure after it is undone
SERVICE_CREATED=0 # 1 when this run created it (undone by removing it: nothing was live before)
ROLLOUT_STARTED='' # UpdateStatus.StartedAt before this run's change: a newer one is this run's

# "APP_LABEL|IMAGE_ID|CONFIG_HASH|UPDATE_STATE|UPDATE_STARTED|PREVIOUS_IMAGE_ID" (empty: no service).
service_facts() {
  docker service inspect -f "{{index .Spec.Labels \"$LABEL.app\"}}|{{index .Spec.Labels \"$LABEL.image-id\"}}|{{index .Spec.Labels \"$LABEL.config\"}}|{{if .UpdateStatus}}{{.UpdateStatus.State}}|{{.UpdateStatus.StartedAt}}{{else}}|{{end}}|{{if .PreviousSpec}}{{index .PreviousSpec.Labels \"$LABEL.image-id\"}}{{end}}" "$BG_APP" 2>/dev/null || true
}

fact() { cut -d'|' -f"$2" <<<"$1"; } # fact FACTS N

swarm_live_slot() {
  local facts
  facts=$(service_facts)
  [[ -n $facts ]] || return 0
  short_id "$(fact "$facts" 2)"
}

check_swarm_manager() {
  local state
  state=$(docker info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}' 2>/dev/null || true)
  [[ $state == 'active true' ]] ||
    fail "$BG_EXIT_SERVER_UNUSABLE" "this server is not a Docker Swarm manager (swarm state: ${state:-unknown}): with engine: swarm the first host must be a manager"
}

ensure_overlay_network() {
  local kind
  kind=$(docker network inspect -f '{{.Driver}} {{.Scope}} {{.Attachable}}' "$BG_NETWORK" 2>/dev/null || true)
  case $kind in
    'overlay swarm true') ;;
    '')
      log "creating attachable overlay network $BG_NETWORK"
      docker network create --driver overlay --attachable "$BG_NETWORK" >/dev/null
      ;;
    *) fail "$BG_EXIT_SERVER_UNUSABLE" "network $BG_NETWORK is not an attachable overlay network (driver, scope, attachable: $kind): a Swarm service and the proxy need one; set network: to a name of its own" ;;
  esac
}

refuse_foreign_service() { # refuse_foreign_service FACTS
  [[ -z $1 || $(fact "$1" 1) == "$BG_APP" ]] ||
    fail "$BG_EXIT_SERVER_UNUSABLE" "a Swarm service named $BG_APP exists that bluegreen-action did not make for this app; nothing was changed"
}

# The tasks' HEALTHCHECK: the health inputs, with the image's own wget (busybox, Alpine, Debian) or curl.
health_command() {
  local url host
  url=$(sh_quote "http://127.0.0.1:$BG_CONTAINER_PORT$BG_HEALTH_PATH")
  host=$(sh_quote "Host: $(health_host)")
  if [[ -n $BG_HEALTH_STATUS ]]; then
    # shellcheck disable=SC2016 # run by the task's sh
    printf 'if command -v wget >/dev/null 2>&1; then wget -q -S -O /dev/null --header %s %s 2>&1 | grep -q "HTTP/1.[01] %s "; else [ "$(curl -s -o /dev/null -w "%%{http_code}" -H %s %s)" = %s ]; fi' \
      "$host" "$url" "$BG_HEALTH_STATUS" "$host" "$url" "$BG_HEALTH_STATUS"
  else
    printf 'if command -v wget >/dev/null 2>&1; then wget -q -O /dev/null --header %s %s; else curl -fsS -o /dev/null -H %s %s; fi' "$host" "$url" "$host" "$url"
  fi
}

# A --volume spec as a --mount spec: a path is a bind mount, a name a volume.
mount_spec() { # mount_spec VOLUME
  local source=${1%%:*} rest=${1#*:} target mode='' kind=volume
  target=${rest%%:*}
  if [[ $rest == *:* ]]; then mode=${rest#*:}; fi
  if [[ $source == /* ]]; then kind=bind; fi
  case $mode in
    '' | rw) mode='' ;;
    ro) mode=',readonly' ;;
    *) fail "$BG_EXIT_SERVER_UNUSABLE" "volume $1: a Swarm mount takes only :ro or :rw" ;;
  esac
  printf 'type=%s,source=%s,target=%s%s' "$kind" "$source" "$target" "$mode"
}

env_secret_name() { printf '%s-env-%s' "$BG_APP" "$(printf '%s' "$BG_ENV" | sha256sum | cut -c1-12)"; }

ensure_env_secret() { # the env as a Docker secret, named by its content (a secret cannot change)
  local name
  name=$(env_secret_name)
  docker secret inspect "$name" >/dev/null 2>&1 && return 0
  printf '%s\n' "$BG_ENV" | docker secret create --label "$LABEL.app=$BG_APP" "$name" - >/dev/null
  log "created secret $name for the env"
}

# The env secret's mount, readable by the user the image runs as: owned by it when the image names a
# numeric user (USER 1000 or 1000:1000), readable by every user of the container when it names one by
# name (its number is in the image's /etc/passwd, which the manager cannot read), root's otherwise.
secret_mount_spec() { # secret_mount_spec IMAGE_USER
  local user=$1 spec
  spec="source=$(env_secret_name),target=$BG_APP.env"
  if [[ -z $user || $user == root || $user == 0 || $user == 0:0 ]]; then
    printf '%s,mode=0400' "$spec"
  elif [[ $user =~ ^([0-9]+)(:([0-9]+))?$ ]]; then
    printf '%s,uid=%s,gid=%s,mode=0400' "$spec" "${BASH_REMATCH[1]}" "${BASH_REMATCH[3]:-${BASH_REMATCH[1]}}"
  else
    printf '%s,mode=0444' "$spec"
  fi
}

# The options of docker service create or update (ADD: '' for create, '-add' for update); one per line.
service_options() { # service_options ADD
  local add=$1 line health_interval=$BG_HEALTH_INTERVAL api
  printf '%s\n' --detach --no-resolve-image --replicas "$BG_REPLICAS" --endpoint-mode dnsrr \
    --update-order start-first --update-parallelism 1 --update-delay 0s --update-failure-action rollback \
    --update-monitor 5s --update-max-failure-ratio 0 --rollback-order start-first --rollback-parallelism 1 \
    --rollback-monitor 5s --rollback-failure-action pause --stop-grace-period "${BG_STOP_TIMEOUT}s" \
    --health-cmd "$(health_command)" --health-timeout "${BG_HEALTH_TRY_TIMEOUT}s" --health-retries 3 \
    --health-start-period "$(((BG_HEALTH_TIMEOUT_MS + 999) / 1000))s"
  # Docker 25+ checks at its own pace while a task starts, so the steady pace can be calm.
  api=$(docker version --format '{{.Server.APIVersion}}' 2>/dev/null || echo 1.0)
  if ((${api%%.*} > 1 || ${api#*.} >= 44)); then
    printf '%s\n' --health-start-interval "${BG_HEALTH_INTERVAL}s"
    health_interval=5
  fi
  printf '%s\n' --health-interval "${health_interval}s"
  while IFS= read -r line; do printf '%s\n' "--label$add" "$line"; done < <(version_labels)
  printf '%s\n' "--container-label$add" "$LABEL.app=$BG_APP"
  for line in "${BG_VOLUMES[@]}"; do printf '%s\n' "--mount$add" "$(mount_spec "$line")"; done
  if [[ -n $BG_ENV && $BG_SWARM_ENV == secret ]]; then
    [[ -n $add ]] && grep -qxF "$(env_secret_name)" <<<"$(service_secrets)" ||
      printf '%s\n' "--secret$add" "$(secret_mount_spec "$(docker image inspect -f '{{.Config.User}}' "$BG_SWARM_IMAGE" 2>/dev/null || true)")"
  elif [[ -n $BG_ENV ]]; then
    while IFS= read -r line; do [[ -z $line ]] || printf '%s\n' "--env$add" "$line"; done <<<"$BG_ENV"
  fi
}

# What an update takes away: env keys, mounts and the env secret the new version no longer has.
# (docker service update applies --mount-add before --mount-rm: what stays must not be removed.)
service_removals() {
  local line keep='' keys=' ' targets=' ' volume rest
  if [[ -n $BG_ENV && $BG_SWARM_ENV == secret ]]; then keep=$(env_secret_name); fi
  if [[ $BG_SWARM_ENV == variables ]]; then
    while IFS= read -r line; do keys+="${line%%=*} "; done <<<"$BG_ENV"
  fi
  for volume in "${BG_VOLUMES[@]}"; do
    rest=${volume#*:}
    targets+="${rest%%:*} "
  done
  while IFS= read -r line; do
    [[ -z $line || $keys == *" ${line%%=*} "* ]] || printf '%s\n' --env-rm "${line%%=*}"
  done < <(docker service inspect -f '{{range .Spec.TaskTemplate.ContainerSpec.Env}}{{println .}}{{end}}' "$BG_APP")
  while IFS= read -r line; do
    [[ -z $line || $targets == *" $line "* ]] || printf '%s\n' --mount-rm "$line"
  done < <(docker service inspect -f '{{range .Spec.TaskTemplate.ContainerSpec.Mounts}}{{println .Target}}{{end}}' "$BG_APP")
  while IFS= read -r line; do
    [[ $line != "$BG_APP-env-"* || $line == "$keep" ]] || printf '%s\n' --secret-rm "$line"
  done < <(service_secrets)
}

service_secrets() { docker service inspect -f '{{range .Spec.TaskTemplate.ContainerSpec.Secrets}}{{println .SecretName}}{{end}}' "$BG_APP" 2>/dev/null || true; }

start_service() { # start_service FACTS: creates the service, or updates it to this version
  local facts=$1 args=() line out
  if [[ -n $BG_ENV && $BG_SWARM_ENV == secret ]]; then ensure_env_secret; fi
  if [[ -z $facts ]]; then
    args=(service create --name "$BG_APP" --network "$BG_NETWORK")
    while IFS= read -r line; do args+=("$line"); done < <(service_options '')
    args+=("$BG_SWARM_IMAGE")
    log "creating service $BG_APP ($BG_IMAGE, $BG_REPLICAS task(s))"
    SERVICE_CREATED=1
  else
    ROLLOUT_STARTED=$(fact "$facts" 5)
    args=(service update --image "$BG_SWARM_IMAGE")
    while IFS= read -r line; do args+=("$line"); done < <(service_removals)
    while IFS= read -r line; do args+=("$line"); done < <(service_options -add)
    args+=("$BG_APP")
    log "updating service $BG_APP to $BG_IMAGE (start-first, one task at a time)"
  fi
  SERVICE_CHANGED=1
  out=$(docker "${args[@]}" 2>&1 >/dev/null) || fail "$BG_EXIT_SERVER_UNUSABLE" "docker ${args[1]} $BG_APP failed: $(docker_error "$out")"
}

# "NAME|NODE|CURRENT STATE|ERROR" of the tasks that should run (desired state running).
running_tasks() { docker service ps --no-trunc --filter desired-state=running --format '{{.Name}}|{{.Node}}|{{.CurrentState}}|{{.Error}}' "$BG_APP" 2>/dev/null || true; }

# The newest task of IMAGE that ended: "task NAME STATE (ERROR)". An unhealthy task that Docker stopped
# may end "complete" with no error (the app exited 0 on SIGTERM): ended is what counts.
ended_task() { # ended_task IMAGE
  docker service ps --no-trunc --filter desired-state=shutdown --format '{{.Image}}|{{.Name}}|{{.CurrentState}}|{{.Error}}' "$BG_APP" 2>/dev/null |
    awk -F'|' -v image="$1" '$1 == image { split($3, s, " "); printf "task %s %s%s", $2, tolower(s[1]), ($4 != "" ? " (" $4 ")" : ""); exit }'
}

rollout_deadline() { printf '%s' $((SECONDS + (BG_HEALTH_TIMEOUT_MS / 1000 + 40) * BG_REPLICAS + 30)); }

# Waits for a created service: every task running (healthy), or the first one failed.
wait_for_created() {
  local deadline tasks running seen='' ended
  deadline=$(rollout_deadline)
  while ((SECONDS < deadline)); do
    tasks=$(running_tasks)
    [[ $(task_states "$tasks") == "$seen" ]] || log_tasks "$tasks"
    seen=$(task_states "$tasks")
    running=$(grep -c '|Running ' <<<"$tasks" || true)
    if ((running == BG_REPLICAS)); then return 0; fi
    ended=$(ended_task "$BG_SWARM_IMAGE")
    [[ -z $ended ]] || fail "$BG_EXIT_UNHEALTHY" "$BG_IMAGE did not become healthy on Swarm: $ended"
    sleep 1
  done
  fail "$BG_EXIT_UNHEALTHY" "the tasks of $BG_IMAGE were not all running and healthy within $((deadline - ROLLOUT_BEGAN))s"
}

# shellcheck disable=SC2001 # one sed per line of tasks
task_states() { sed 's/^\([^|]*|[^|]*|[^ |]*\)[^|]*/\1/' <<<"$1"; } # without "N seconds ago"

log_tasks() { # log_tasks TASKS
  local name node state error
  while IFS='|' read -r name node state error; do
    [[ -z $name ]] || log "task $name on $node: ${state%% *}${error:+ ($error)}"
  done <<<"$1"
}

# Waits for Swarm's rolling update (or rollback, WANT=rollback_completed) of this run to end.
wait_for_rollout() { # wait_for_rollout WANT
  local want=$1 deadline facts state='' seen=''
  deadline=$(rollout_deadline)
  while ((SECONDS < deadline)); do
    facts=$(service_facts)
    if [[ $(fact "$facts" 5) != "$ROLLOUT_STARTED" ]]; then
      state=$(fact "$facts" 4)
      [[ $state == "$seen" ]] || log "Swarm: ${state:-waiting}"
      seen=$state
      case $state in
        "$want") return 0 ;;
        rollback_completed)
          SERVICE_CHANGED=0
          fail "$BG_EXIT_UNHEALTHY" "$BG_IMAGE did not become healthy on Swarm ($(ended_task "$BG_SWARM_IMAGE" || true)); Swarm rolled the service back to $ACTIVE_SLOT"
          ;;
        paused | rollback_paused)
          fail "$BG_EXIT_UNHEALTHY" "Swarm paused the rollout ($state): $(docker service inspect -f '{{.UpdateStatus.Message}}' "$BG_APP" 2>/dev/null || true)"
          ;;
      esac
    fi
    sleep 1
  done
  fail "$BG_EXIT_UNHEALTHY" "Swarm's rollout did not end within $((deadline - ROLLOUT_BEGAN))s (state: ${state:-not started})"
}

ROLLOUT_BEGAN=$SECONDS

wait_until_rolled_out() {
  ROLLOUT_BEGAN=$SECONDS
  if ((SERVICE_CREATED)); then wait_for_created; else wait_for_rollout completed; fi
  log_tasks "$(running_tasks)"
}

# A failure after this run changed the service: a new service goes, an updated one is rolled back.
undo_service_change() {
  ((SERVICE_CHANGED)) || return 0
  SERVICE_CHANGED=0
  if ((SERVICE_CREATED)); then
    docker service rm "$BG_APP" >/dev/null 2>&1 || true
    log "removed service $BG_APP; nothing was live before"
    return 0
  fi
  log "rolling the service back to ${PREVIOUS_SLOT:-its previous version}"
  ROLLOUT_STARTED=$(fact "$(service_facts)" 5)
  docker service rollback --detach "$BG_APP" >/dev/null 2>&1 || { log "warning: docker service rollback $BG_APP failed"; return 0; }
  local deadline state
  deadline=$(rollout_deadline)
  while ((SECONDS < deadline)); do
    state=$(fact "$(service_facts)" 4)
    if [[ $state == rollback_completed ]]; then
      log "Swarm rolled $BG_APP back"
      return 0
    fi
    sleep 1
  done
  log "warning: Swarm's rollback of $BG_APP did not end in time (state: $state)"
}

remove_unused_env_secrets() { # old env secrets that neither the service nor its previous version uses
  local used name
  used=$(docker service inspect -f '{{range .Spec.TaskTemplate.ContainerSpec.Secrets}}{{println .SecretName}}{{end}}{{if .PreviousSpec}}{{range .PreviousSpec.TaskTemplate.ContainerSpec.Secrets}}{{println .SecretName}}{{end}}{{end}}' "$BG_APP" 2>/dev/null || true)
  while IFS= read -r name; do
    [[ -z $name ]] || grep -qxF "$name" <<<"$used" || { docker secret rm "$name" >/dev/null 2>&1 && log "removed secret $name"; } || true
  done < <(docker secret ls --filter "label=$LABEL.app=$BG_APP" --format '{{.Name}}' 2>/dev/null || true)
}

swarm_is_unchanged() { # swarm_is_unchanged FACTS
  [[ -n $1 && $(fact "$1" 2) == "$BG_IMAGE_ID" && $(fact "$1" 3) == "$BG_CONFIG_HASH" ]] &&
    (($(grep -c '|Running ' <<<"$(running_tasks)" || true) == BG_REPLICAS))
}

swarm_deploy() {
  local facts
  facts=$(service_facts)
  refuse_foreign_service "$facts"
  CANDIDATE=$BG_APP
  CANDIDATE_SLOT=$(short_id "$BG_IMAGE_ID")
  if [[ -n $facts ]]; then PREVIOUS_SLOT=$(short_id "$(fact "$facts" 2)"); fi
  ACTIVE_SLOT=$PREVIOUS_SLOT
  log "service $BG_APP: ${PREVIOUS_SLOT:-none} live"
  run_phase tls ensure_certificate
  if swarm_is_unchanged "$facts"; then
    OUTCOME=$BG_OUTCOME_UNCHANGED
    log "service $BG_APP already runs $(short_id "$BG_IMAGE_ID") with this configuration; nothing to roll out"
    run_phase switch refresh_proxy_config
    return 0
  fi
  docker image inspect "$BG_SWARM_IMAGE" >/dev/null 2>&1 || fail "$BG_EXIT_SERVER_UNUSABLE" "image $(short_id "$BG_IMAGE_ID") is not on this manager"
  run_phase start start_service "$facts"
  run_phase health wait_until_rolled_out
  run_phase switch switch_proxy
  SERVICE_CHANGED=0
  OUTCOME=$BG_OUTCOME_SWITCHED
  after_switch prune remove_unused_env_secrets
}

# The version live before CURRENT, from this server's history: "ID REFERENCE" (its config tag must
# still be on the manager), or nothing.
version_before() { # version_before CURRENT_SHORT_ID
  local history=$APP_DIR/history.jsonl from line tag
  [[ -f $history ]] || return 0
  from=$(grep -F '"outcome":"switched"' "$history" | grep -F "\"to\":\"$1\"" | tail -n 1 | sed -n 's/.*"from":"\([0-9a-f]\{12\}\)".*/\1/p')
  [[ -n $from ]] || return 0
  tag=$(docker image ls --format '{{.Tag}}' "${BG_CONFIG_TAG_REPOSITORY}" 2>/dev/null | grep -m 1 "^$from" || true)
  [[ -n $tag ]] || return 0
  line=$(grep -F "\"imageId\":\"sha256:$tag\"" "$history" | tail -n 1)
  printf 'sha256:%s %s' "$tag" "$(sed -n 's/.*"image":"\([^"]*\)".*/\1/p' <<<"$line")"
}

# Swarm's own rollback when the service remembers its previous version; Swarm forgets it once it
# rolled back by itself (a failed deploy), and then the version live before is taken from history
# and rolled out the same way (start-first, one task at a time).
swarm_rollback() {
  local facts previous before=''
  facts=$(service_facts)
  [[ -n $facts ]] || fail "$BG_EXIT_NOTHING_TO_ROLL_BACK" "there is no Swarm service $BG_APP, so there is nothing to roll back"
  refuse_foreign_service "$facts"
  previous=$(fact "$facts" 6)
  PREVIOUS_SLOT=$(short_id "$(fact "$facts" 2)")
  ACTIVE_SLOT=$PREVIOUS_SLOT
  if [[ -z $previous ]]; then
    before=$(version_before "$PREVIOUS_SLOT")
    previous=${before%% *}
  fi
  [[ -n $previous ]] || fail "$BG_EXIT_NOTHING_TO_ROLL_BACK" "service $BG_APP has no previous version to roll back to; nothing was changed"
  refuse_rollback_across_release "$previous"
  run_phase tls ensure_certificate
  CANDIDATE=$BG_APP
  CANDIDATE_IMAGE_ID=$previous
  CANDIDATE_SLOT=$(short_id "$previous")
  ROLLOUT_STARTED=$(fact "$facts" 5)
  PHASE=start
  local out args
  if [[ -z $before ]]; then
    log "rolling back $PREVIOUS_SLOT -> $CANDIDATE_SLOT with Swarm's rollback (start-first)"
    args=(service rollback --detach "$BG_APP")
  else
    log "rolling back $PREVIOUS_SLOT -> $CANDIDATE_SLOT (${before#* }), the version live before it (Swarm rolled back by itself since, so it no longer remembers one)"
    args=(service update --detach --no-resolve-image --image "$BG_CONFIG_TAG_REPOSITORY:${previous#sha256:}"
      --label-add "$LABEL.image-id=$previous" --label-add "$LABEL.image=${before#* }" "$BG_APP")
  fi
  out=$(docker "${args[@]}" 2>&1 >/dev/null) || fail "$BG_EXIT_SERVER_UNUSABLE" "docker ${args[*]:0:2} $BG_APP failed: $(docker_error "$out")"
  ROLLOUT_BEGAN=$SECONDS
  if [[ -z $before ]]; then run_phase health wait_for_rollout rollback_completed; else run_phase health wait_for_rollout completed; fi
  log_tasks "$(running_tasks)"
  run_phase switch switch_proxy
  OUTCOME=$BG_OUTCOME_SWITCHED
}

remove_service() { # true when there was one to remove
  local facts
  facts=$(service_facts)
  [[ -n $facts ]] || return 1
  refuse_foreign_service "$facts"
  docker service rm "$BG_APP" >/dev/null
  log "removed service $BG_APP"
  local _
  for _ in $(seq 1 30); do # its env secrets can go once its tasks have
    [[ -n $(docker ps -aq --filter "label=$LABEL.app=$BG_APP" --filter "label=com.docker.swarm.service.name=$BG_APP") ]] || break
    sleep 1
  done
  remove_unused_env_secrets
}

describe_service() { # LIVE_INFO for the service, and its tasks in the log
  local facts=$1
  [[ -n $facts ]] || return 0
  local tasks running
  tasks=$(running_tasks)
  running=$(grep -c '|Running ' <<<"$tasks" || true)
  log_tasks "$tasks"
  LIVE_INFO=$(docker service inspect -f "$(live_template .Spec.Name "$( ((running > 0)) && echo true || echo false)" .Spec.Labels)" "$BG_APP" 2>/dev/null || true)
  log "service $BG_APP: $running task(s) running"
}
