# Health checks of a new version from inside the proxy: straight to the candidate, until healthy.
# shellcheck shell=bash

# One GET from inside the proxy container (no container spawned per try; through the proxy channel,
# a few ms); prints the final HTTP status, or "error:MESSAGE". Extra arguments go to wget (e.g.
# --header "Host: x").
proxy_get_status() { # proxy_get_status URL [WGET_ARGS...]
  local url=$1 out
  shift
  out=$(proxy_sh 'exec timeout "$@"' "$BG_HEALTH_TRY_TIMEOUT" wget -q -S -O /dev/null "$@" "$url") || true
  status_of "$out"
}

status_of() { # status_of WGET_S_OUTPUT: the last HTTP status in it, else error:WHY (no subshell: every health try calls it)
  local out=$1 status='' line
  while IFS= read -r line; do
    if [[ $line =~ ^\ *HTTP/[0-9.]*\ ([0-9][0-9][0-9]) ]]; then status=${BASH_REMATCH[1]}; fi
  done <<<"$out"
  if [[ -n $status ]]; then
    echo "$status"
  elif [[ -z $out ]]; then
    echo "error:no answer within ${BG_HEALTH_TRY_TIMEOUT}s"
  else
    echo "error:${out##*$'\n'}"
  fi
}

# The app's own host name, so that host checks (Django's ALLOWED_HOSTS, Rails' hosts) pass.
health_host() { # health_host [INTO]
  if [[ -n $BG_CANONICAL_HOST ]]; then
    put "$BG_CANONICAL_HOST" "${1:-}"
  elif ((${#BG_HOSTNAMES[@]} > 0)); then put "${BG_HOSTNAMES[0]/#\*/check}" "${1:-}"; else put localhost "${1:-}"; fi
}

# health-path is taken under path-prefix: with /api, health-path /up is /api/up through the proxy
# (and / is /api itself). The health checks ask the container directly for what the proxy would
# send it: that path, or health-path itself with strip-prefix.
public_health_path() { # public_health_path [INTO]
  if [[ $BG_PATH_PREFIX == / ]]; then
    put "$BG_HEALTH_PATH" "${1:-}"
  elif [[ $BG_HEALTH_PATH == / ]]; then
    put "$BG_PATH_PREFIX" "${1:-}"
  else
    put "$BG_PATH_PREFIX$BG_HEALTH_PATH" "${1:-}"
  fi
}

app_health_path() { if ((BG_STRIP_PREFIX)); then put "$BG_HEALTH_PATH" "${1:-}"; else public_health_path "${1:-}"; fi; } # app_health_path [INTO]

health_port() { put "${BG_HEALTH_PORT:-$BG_CONTAINER_PORT}" "${1:-}"; } # health_port [INTO]

# health-port or health-command: the proxy's answer on the served port says nothing of health, so
# the checks after a switch ask the live container directly (the route still through the proxy).
# In maintenance the proxy answers the page: the check asks the container directly too.
checks_apart() { [[ -n $BG_HEALTH_PORT ]] || ((${#BG_HEALTH_COMMAND[@]} > 0)) || in_maintenance; }

health_target() { # health_target CONTAINER: what a try asks, for the log
  if ((${#BG_HEALTH_COMMAND[@]} > 0)); then
    printf 'the health-command (%s) in %s' "${BG_HEALTH_COMMAND[*]}" "$1"
  else
    printf 'http://%s:%s%s (Host: %s)' "$1" "$(health_port)" "$(app_health_path)" "$(health_host)"
  fi
}

# One try: the HTTP status, "exit:CODE LAST_LINE" for health-command, or "error:WHY".
health_try() { # health_try CONTAINER
  if ((${#BG_HEALTH_COMMAND[@]} > 0)); then
    command_try "$1"
  else
    local port path host
    health_port port
    app_health_path path
    health_host host
    proxy_get_status "http://$1:$port$path" --header "Host: $host"
  fi
}

# docker exec has no timeout of its own: the client is stopped after the try's time (a command that
# hangs inside the container is left to end by itself, as Docker's own HEALTHCHECK leaves it).
command_try() { # command_try CONTAINER
  local out code=0
  out=$(timeout "$BG_HEALTH_TRY_TIMEOUT" docker exec "$1" "${BG_HEALTH_COMMAND[@]}" 2>&1) || code=$?
  if ((code == 124)); then
    echo "error:no exit within ${BG_HEALTH_TRY_TIMEOUT}s"
  else
    printf 'exit:%s %s' "$code" "$(printf '%s' "$out" | tail -n 1 | cut -c1-200)"
  fi
}

is_healthy_answer() { # is_healthy_answer ANSWER (of health_try)
  case $1 in
    exit:0*) [[ $1 == "exit:0" || $1 == "exit:0 "* ]] ;;
    exit:* | error:*) return 1 ;;
    *) is_healthy_status "$1" ;;
  esac
}

is_healthy_status() {
  if [[ -n $BG_HEALTH_STATUS ]]; then
    [[ $1 == "$BG_HEALTH_STATUS" ]]
  else
    [[ $1 =~ ^[23][0-9][0-9]$ ]]
  fi
}

# The new container's first lines, in the log of every deploy (the summary has them only on failure):
# asked once it is live, in the background while the run goes on (await_after_switch waits for them).
FIRST_LINES_PID=''
show_first_lines_meanwhile() {
  (
    PHASE=health
    show_first_lines
  ) &
  FIRST_LINES_PID=$!
}

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
  printf '; nothing listened on port %s (%s) in %s; the image exposes %s' "$(health_port)" "$([[ -n $BG_HEALTH_PORT ]] && echo health-port || echo container-port)" "$CANDIDATE" "${exposed:-no port}"
}

readonly HEALTH_QUICK_MS=5000 HEALTH_QUICK_INTERVAL_MS=20
ms_as_seconds "$HEALTH_QUICK_INTERVAL_MS" HEALTH_QUICK_INTERVAL # for sleep, once
readonly HEALTH_QUICK_INTERVAL

wait_until_healthy() {
  local started deadline tries=0 streak=0 t0 now answer latency state docker_health='' status error code error_json
  now_ms started
  deadline=$((started + BG_HEALTH_TIMEOUT_MS))
  proxy_channel_ensure
  log "checking $(health_target "$CANDIDATE") every ${BG_HEALTH_INTERVAL}s (needs $BG_HEALTH_SUCCESSES in a row, up to $((BG_HEALTH_TIMEOUT_MS / 1000))s)"
  while :; do
    # Docker's view of it: on the first try, then every 4th (a container that exited answers no try,
    # so it is noticed within 4), or on every try when its image has a HEALTHCHECK (Docker's verdict
    # counts too).
    if ((tries % 4 == 0)) || [[ -n $docker_health ]]; then
      state=$(docker inspect -f '{{.State.Status}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' "$CANDIDATE" 2>/dev/null || echo 'gone 0')
      if [[ $state != running* ]]; then
        fail "$BG_EXIT_UNHEALTHY" "the new container $CANDIDATE stopped before it became healthy (${state% *})"
      fi
      docker_health=$(awk '{print $3}' <<<"$state")
    fi
    if [[ $docker_health == unhealthy ]]; then
      LOG_TAIL=$(docker inspect -f '{{range .State.Health.Log}}{{.Output}}{{end}}' "$CANDIDATE" 2>/dev/null | tail -n 5 || true)
      fail "$BG_EXIT_UNHEALTHY" "the image's own HEALTHCHECK reports $CANDIDATE unhealthy"
    fi
    workers_still_starting
    tries=$((tries + 1))
    now_ms t0
    answer=$(health_try "$CANDIDATE")
    now_ms now
    latency=$((now - t0))
    status='' error='' code=''
    if [[ $answer == exit:* ]]; then
      answer=${answer#exit:}
      code=${answer%% *}
      [[ $code == 0 ]] || error=${answer#"$code"}
      error=${error# }
      answer=exit:$answer
    elif [[ $answer == error:* ]]; then
      error=${answer#error:}
    elif [[ $answer =~ ^[1-5][0-9][0-9]$ ]]; then
      status=$answer
    else
      error="not an HTTP status: $answer" # e.g. "HTTP/1.1 099": never a number JSON would refuse
    fi
    # The last 200 tries are enough for the report, however long the health timeout.
    if ((${#HEALTH[@]} >= 200)); then HEALTH=("${HEALTH[@]:1}"); fi
    json_or_null "$error" error_json
    HEALTH+=("{\"try\":$tries,\"ms\":$((t0 - started)),\"status\":${status:-null},\"error\":$error_json,\"latencyMs\":$latency${code:+,\"exitCode\":$code}}")
    if is_healthy_answer "$answer"; then
      streak=$((streak + 1))
    else
      streak=0
    fi
    log "try $tries: ${status:-${code:+exit $code${error:+: }}$error} (${latency}ms)${docker_health:+, docker health: $docker_health}"
    if ((streak >= BG_HEALTH_SUCCESSES)) && [[ -z $docker_health || $docker_health == healthy ]]; then
      now_ms HEALTHY_AT_MS
      log "$CANDIDATE is healthy after $((HEALTHY_AT_MS - started))ms"
      return 0
    fi
    now_ms now
    if ((now + BG_HEALTH_INTERVAL_MS > deadline)); then
      fail "$BG_EXIT_UNHEALTHY" "the new version did not become healthy within $((BG_HEALTH_TIMEOUT_MS / 1000))s (last answer: ${status:-${code:+exit $code${error:+: }}$error})$(port_hint "$error")"
    fi
    # For its first 5 s a starting app is asked every 0.02 s until its first healthy answer, so that
    # readiness is noticed within about 0.04 s (a try through the proxy channel takes ~0.01-0.02 s; most
    # apps are ready by then); after that, and between the healthy answers in a row, health-interval.
    if ((streak == 0 && now - started < HEALTH_QUICK_MS && HEALTH_QUICK_INTERVAL_MS < BG_HEALTH_INTERVAL_MS)); then
      sleep "$HEALTH_QUICK_INTERVAL"
    else
      sleep "$BG_HEALTH_INTERVAL"
    fi
  done
}
