# engine: docker. The app runs as one container in one of two slots, <app>-blue and <app>-green
# (slots.sh, sent before this file), each made by docker run with the app's container settings.
#
# The engine's functions, called by the common code (every engine file defines the same ones):
# shellcheck shell=bash
engine_check() { # a plain Docker daemon is all it needs (check_server checked that)
  [[ ! -d $APP_DIR/compose ]] || fail "$BG_EXIT_SERVER_UNUSABLE" "$BG_APP was deployed with engine: compose: give engine: compose (or remove it first); nothing was changed"
}

engine_network() { ensure_proxy_network "$1"; }

engine_live_slot() { live_slot; }

engine_upstream() { container_name "$1"; } # engine_upstream SLOT: what the proxy sends a slot's requests to

engine_ask_ahead() { ask_slots_ahead; }
engine_deploy() { cmd_deploy; }
engine_release() { cmd_release; }
engine_rollback() { cmd_rollback; }
engine_discard() { discard_candidate; }
engine_remove() { remove_app_containers; }
engine_status() { describe_live "$ACTIVE_SLOT"; }

engine_logs() { live_logs; }
engine_finish() { describe_slots; }

engine_unchanged() { read_live && is_unchanged; } # the live slot already runs this image with these settings

engine_live_image() { slot_image "$1"; } # engine_live_image SLOT: "SERVER_ID|IMAGE|IMAGE_ID" of the version in the slot

# engine_start_container NAME SLOT WORKER [WORDS...]: the version's web container (WORKER '') or one
# of its workers, started detached in SLOT with the app's container settings. Runs in the main shell
# (the env file it writes must reach cleanup); false with START_ERROR set when docker refused.
engine_start_container() {
  local name=$1 slot=$2 worker=$3 line
  shift 3
  local args=(run --detach --name "$name" --network "$BG_NETWORK" --restart unless-stopped)
  if [[ -n $worker ]]; then args+=(--label "$LABEL.worker=$worker"); fi
  while IFS= read -r line; do args+=("$line"); done < <(label_args "$slot")
  add_app_container_args args
  args+=("$VERSION_SERVER_ID" "$@")
  START_ERROR=$(docker "${args[@]}" 2>&1)
}

engine_create_oneoff() { create_oneoff_container "$@"; }
engine_start_oneoff() { start_oneoff_container; }
