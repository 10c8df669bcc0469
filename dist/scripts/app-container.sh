# The app's container settings (env, volumes, docker-args, log bounds) as docker run arguments, for a
# version in a slot and for one-off containers alike; and their record, which rollback-to and
# command run use when the run gives none.
# shellcheck shell=bash

# Beside the settings record: the env as the app gets it (a secret: mode 600 like every file the
# script writes, and never printed), the volumes and docker-args NUL-separated.
readonly CONTAINER_ENV_FILE=$APP_DIR/container.env
readonly CONTAINER_VOLUMES_FILE=$APP_DIR/container.volumes
readonly CONTAINER_ARGS_FILE=$APP_DIR/container.args

# add_app_container_args ARRAY: appends --volume, --env-file (a file this run removes at exit),
# the log bounds and docker-args to the named array (the main shell's: ENV_FILE must reach cleanup).
add_app_container_args() {
  local -n into=$1
  local volume line
  for volume in "${APP_VOLUMES[@]}"; do into+=(--volume "$volume"); done
  if [[ -n $APP_ENV ]]; then
    if [[ -z $ENV_FILE ]] && ! { ENV_FILE=$(mktemp "$APP_DIR/.env.XXXXXX") && printf '%s\n' "$APP_ENV" >"$ENV_FILE"; } 2>/dev/null; then
      fail "$BG_EXIT_SERVER_UNUSABLE" "cannot write the app's env file in $APP_DIR (is the disk full?); nothing was changed"
    fi
    into+=(--env-file "$ENV_FILE")
  fi
  # Taken here, in this shell (log_args runs in a subshell, which could not wait for it), once a run.
  if [[ -z $LOG_DRIVER && " ${APP_DOCKER_ARGS[*]} " != *" --log-"* ]]; then answer_of log-driver LOG_DRIVER logging_driver; fi
  while IFS= read -r line; do into+=("$line"); done < <(log_args)
  into+=("${APP_DOCKER_ARGS[@]}")
}

# Only with the app's lock held: an env file still here then is a killed run's (SIGKILL skips cleanup).
sweep_env_files() { rm -f "$APP_DIR"/.env.*; }

drop_env_file() { # once the container has it (cleanup does the same at exit)
  if [[ -n $ENV_FILE ]]; then rm -f "$ENV_FILE"; fi
  ENV_FILE=''
}

# The daemon's logging driver (check_server asks it as the run starts: ask_meanwhile log-driver).
LOG_DRIVER=''
logging_driver() { docker info --format '{{.LoggingDriver}}'; }

# The app's log file is bounded (log-max-size, log-max-files), so request logging cannot fill the
# disk: for the drivers that keep files here, unless docker-args choose the logging themselves.
log_args() {
  [[ " ${APP_DOCKER_ARGS[*]} " != *" --log-"* ]] || return 0
  case $LOG_DRIVER in
    json-file | local) printf '%s\n' --log-opt "max-size=$BG_LOG_MAX_SIZE" --log-opt "max-file=$BG_LOG_MAX_FILES" ;;
    *) log "the app's log goes to the daemon's ${LOG_DRIVER:-unknown} logging driver, which this action does not bound" ;;
  esac
}

nul_list() { if (($#)); then printf '%s\0' "$@"; fi; } # nothing at all for no words

record_container_settings() { # with the settings, after a deploy went live
  {
    printf '%s' "$APP_ENV" >"$CONTAINER_ENV_FILE.new" && mv -f "$CONTAINER_ENV_FILE.new" "$CONTAINER_ENV_FILE" &&
      nul_list "${APP_VOLUMES[@]}" >"$CONTAINER_VOLUMES_FILE.new" && mv -f "$CONTAINER_VOLUMES_FILE.new" "$CONTAINER_VOLUMES_FILE" &&
      nul_list "${APP_DOCKER_ARGS[@]}" >"$CONTAINER_ARGS_FILE.new" && mv -f "$CONTAINER_ARGS_FILE.new" "$CONTAINER_ARGS_FILE"
  } 2>/dev/null || {
    rm -f "$CONTAINER_ENV_FILE.new" "$CONTAINER_VOLUMES_FILE.new" "$CONTAINER_ARGS_FILE.new"
    log "warning: cannot record the app's env, volumes and docker-args in $APP_DIR (is the disk full?): rollback-to and run need them given until a deploy records them"
  }
}

# rollback-to and run: the env, volumes and docker-args the last deploy went live with, each where
# this run gives none of its own.
load_container_settings() {
  local from=()
  if [[ -z $APP_ENV && -s $CONTAINER_ENV_FILE ]]; then APP_ENV=$(<"$CONTAINER_ENV_FILE") && from+=(env); fi
  if ((${#APP_VOLUMES[@]} == 0)) && [[ -s $CONTAINER_VOLUMES_FILE ]]; then mapfile -d '' -t APP_VOLUMES <"$CONTAINER_VOLUMES_FILE" && from+=(volumes); fi
  if ((${#APP_DOCKER_ARGS[@]} == 0)) && [[ -s $CONTAINER_ARGS_FILE ]]; then mapfile -d '' -t APP_DOCKER_ARGS <"$CONTAINER_ARGS_FILE" && from+=(docker-args); fi
  if ((${#from[@]})); then log "using the $(join_by ', ' "${from[@]}") the last deploy recorded"; fi
}
