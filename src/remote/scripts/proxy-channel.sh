# The proxy channel: one `docker exec -i PROXY sh` held open for the run, through which the programs
# the script runs inside the proxy (health tries, the reload, route checks, drain looks, the
# receipt's window) take a few milliseconds each instead of a docker exec's 60-80. Each call falls
# back to a docker exec of its own when the channel is not open or breaks (the proxy restarted, a
# call timed out): the channel changes what a call costs, never what it answers.
#
# A call sends one command to the channel's sh: the program run by `sh -c` with its arguments
# (quoted for any POSIX sh), its stdout and stderr together, then one header line "ID STATUS BYTES"
# followed by exactly that many bytes of output (trailing newlines dropped, as `$(...)` would).
# The header is read with `read`; the output, which can be long, by `head -c` in one go.
# shellcheck shell=bash

PROXY_CHANNEL_PID='' # the docker exec holding the channel; its input and output on these descriptors
PROXY_CHANNEL_IN=''
PROXY_CHANNEL_OUT=''
PROXY_CHANNEL_OPENS=0
readonly PROXY_CHANNEL_MAX_OPENS=5 # a proxy that keeps restarting gets plain docker execs
readonly PROXY_CHANNEL_WAIT_S=120  # a call whose answer takes longer breaks the channel (its program hangs)

# Main shell only: a coprocess started in a subshell would end with it.
proxy_channel_open() {
  proxy_channel_close
  ((PROXY_CHANNEL_OPENS < PROXY_CHANNEL_MAX_OPENS)) || return 0
  PROXY_CHANNEL_OPENS=$((PROXY_CHANNEL_OPENS + 1))
  coproc PROXY_CHANNEL_PROC { exec docker exec -i "$BG_PROXY_NAME" sh 2>/dev/null; }
  # Copies of the coprocess's pipes: bash closes its own as soon as the process ends.
  exec {PROXY_CHANNEL_IN}>&"${PROXY_CHANNEL_PROC[1]}" {PROXY_CHANNEL_OUT}<&"${PROXY_CHANNEL_PROC[0]}"
  PROXY_CHANNEL_PID=$PROXY_CHANNEL_PROC_PID
}

proxy_channel_close() {
  [[ -n $PROXY_CHANNEL_PID ]] || return 0
  exec {PROXY_CHANNEL_IN}>&- {PROXY_CHANNEL_OUT}<&-
  kill "$PROXY_CHANNEL_PID" 2>/dev/null || true
  # Reaped here (bash would warn of a coprocess that still exists when the next one starts); in a
  # subshell it is not this shell's child, and the main shell reaps it.
  if [[ $BASHPID == "$$" ]]; then wait "$PROXY_CHANNEL_PID" 2>/dev/null || true; fi
  PROXY_CHANNEL_PID='' PROXY_CHANNEL_IN='' PROXY_CHANNEL_OUT=''
}

# Main shell, before a step that talks to the proxy: the channel opened again if it broke.
proxy_channel_ensure() {
  if [[ -n $PROXY_CHANNEL_PID ]] && kill -0 "$PROXY_CHANNEL_PID" 2>/dev/null; then return 0; fi
  proxy_channel_open
}

# proxy_sh PROGRAM [ARGS...]: `sh -c PROGRAM sh ARGS...` inside the proxy, its stdout and stderr
# printed together; its exit status. Through the channel when it is open, else its own docker exec.
proxy_sh() {
  local program=$1 status
  shift
  if [[ -n $PROXY_CHANNEL_PID ]]; then
    status=0
    proxy_channel_call "$program" "$@" || status=$?
    ((status == 255)) || return "$status"
  fi
  docker exec "$BG_PROXY_NAME" sh -c "$program" sh "$@" 2>&1
}

# One call through the channel; 255 when the channel failed (it is then closed in this shell, and
# its process ended, so the main shell opens a new one).
proxy_channel_call() {
  local id=$BASHPID.$RANDOM.$RANDOM word word_quoted command="sh -c" header status bytes
  # The program and its words, each quoted without a subshell (a health try has a dozen).
  for word in "$1" sh "${@:2}"; do
    sh_quote "$word" word_quoted
    command+=" $word_quoted"
  done
  # shellcheck disable=SC2016 # for the proxy's sh
  if ! printf 'o=$(%s 2>&1 </dev/null); s=$?; printf "%%s %%s %%s\\n%%s" %s "$s" "$(printf %%s "$o" | wc -c)" "$o"\n' \
    "$command" "$id" 1>&"$PROXY_CHANNEL_IN" 2>/dev/null; then
    proxy_channel_close
    return 255
  fi
  if ! IFS=' ' read -r -t "$PROXY_CHANNEL_WAIT_S" header status bytes <&"$PROXY_CHANNEL_OUT" ||
    [[ $header != "$id" || ! $status =~ ^[0-9]+$ || ! $bytes =~ ^[0-9]+$ ]]; then
    proxy_channel_close
    return 255
  fi
  if ((bytes > 0)); then head -c "$bytes" <&"$PROXY_CHANNEL_OUT"; fi
  return "$((status > 254 ? 254 : status))"
}
