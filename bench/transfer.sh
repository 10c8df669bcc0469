#!/usr/bin/env bash
# shellcheck disable=SC2016 # JavaScript in single quotes is meant literally
# Transfer benchmark: this action's code against the plain pipeline
#   docker save IMAGE | gzip | ssh HOST 'gunzip | docker load'
# in the same run, on the test server (test/server/up.sh). Prints wall time, bytes on the wire
# (counted by an iptables rule on the sshd port, both directions) and peak RSS, and the ratios.
# Cases: the test app fresh (35 MB, 30 MB incompressible), v2 when v1 is there (same base), v1 again
# when the server has it (a re-run of an old job), and a 1 GiB image (half random, half base64 text)
# fresh. BENCH_BIG=0 skips the 1 GiB case. BENCH_RUNNER and BENCH_SERVER (classic | modern: Docker 28
# with the containerd image store) pick the two ends; bench/stores.sh runs all four combinations.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
bash test/server/up.sh >/dev/null 2>&1 || bash test/server/up.sh
# shellcheck disable=SC1091
. /run/bluegreen-test/env
runner_kind=${BENCH_RUNNER:-classic} server_kind=${BENCH_SERVER:-classic}
runner_host=''
[ "$runner_kind" = classic ] || runner_host=$BG_MODERN_RUNNER_DOCKER_HOST
if [ "$server_kind" = modern ]; then
  BG_SSH_PORT=$BG_MODERN_SSH_PORT BG_KNOWN_HOSTS=$BG_MODERN_KNOWN_HOSTS BG_REMOTE_DOCKER_HOST=$BG_MODERN_SERVER_DOCKER_HOST BG_PROXY_IMAGE=$BG_MODERN_PROXY_IMAGE
fi
npx tsc -p bench/tsconfig.json
work=$(mktemp -d)
trap 'rm -rf "$work"; iptables -D INPUT -i lo -p tcp --dport "$BG_SSH_PORT" -j RETURN 2>/dev/null; iptables -D INPUT -i lo -p tcp --sport "$BG_SSH_PORT" -j RETURN 2>/dev/null; true' EXIT
iptables -I INPUT -i lo -p tcp --dport "$BG_SSH_PORT" -j RETURN
iptables -I INPUT -i lo -p tcp --sport "$BG_SSH_PORT" -j RETURN

wire_bytes() { iptables -L INPUT -v -x -n | awk -v p="$BG_SSH_PORT" '$0 ~ "(dpt|spt):"p"( |$)" {s += $2} END {print s + 0}'; }
remote() { DOCKER_HOST=$BG_REMOTE_DOCKER_HOST docker "$@"; }
runner_docker=(docker)
[ -z "$runner_host" ] || runner_docker=(env "DOCKER_HOST=$runner_host" docker)
runner() { "${runner_docker[@]}" "$@"; }
ssh_cmd=(ssh -i "$BG_KEY" -p "$BG_SSH_PORT" -o BatchMode=yes -o UserKnownHostsFile="$BG_KNOWN_HOSTS" -o StrictHostKeyChecking=yes "$BG_USER@$BG_HOST")

# Removes the image (and its layers not used by another image) from the server.
forget() { remote image rm -f "$@" >/dev/null 2>&1 || true; }

big_image() {
  local tag=bluegreen-test/big:1
  docker image inspect "$tag" >/dev/null 2>&1 && return
  local ctx=$BG_STATE_DIR_BENCH
  mkdir -p "$ctx"
  [ -f "$ctx/random.bin" ] || head -c 512M /dev/urandom >"$ctx/random.bin"
  [ -f "$ctx/text.txt" ] || head -c 384M /dev/urandom | base64 -w 76 >"$ctx/text.txt"
  printf 'FROM bluegreen-test/busybox:1\nCOPY random.bin /data/random.bin\nCOPY text.txt /data/text.txt\n' >"$ctx/Dockerfile"
  docker build -q -t "$tag" "$ctx" >/dev/null 2>&1
}

pipeline() { # pipeline IMAGE -> "wall bytes rss_kib"
  local image=$1 before after start end
  before=$(wire_bytes); start=$(date +%s.%N)
  /usr/bin/time -f %M -o "$work/rss.save" "${runner_docker[@]}" save "$image" |
    /usr/bin/time -f %M -o "$work/rss.gzip" gzip |
    /usr/bin/time -f %M -o "$work/rss.ssh" "${ssh_cmd[@]}" 'gunzip | docker load' >/dev/null
  end=$(date +%s.%N); after=$(wire_bytes)
  echo "$(echo "$end - $start" | bc) $((after - before)) $(($(cat "$work/rss.save") + $(cat "$work/rss.gzip") + $(cat "$work/rss.ssh")))"
}

ours() { # ours IMAGE -> "wall bytes rss_kib layers_skipped"
  local before after json
  before=$(wire_bytes)
  if ! json=$(node .bench/js/bench/transfer-one.js "$1" "$runner_kind" "$server_kind" 2>"$work/ours.log"); then
    echo "the action's transfer failed:" >&2
    tail -n 20 "$work/ours.log" >&2
    exit 1
  fi
  after=$(wire_bytes)
  node -e 'const r = JSON.parse(process.argv[1]); console.log(`${r.wall} ${process.argv[2]} ${r.maxRssKiB} ${r.layersSkipped}`)' "$json" "$((after - before))"
}

report() { # report NAME PIPELINE_FIGURES OURS_FIGURES
  local name=$1; read -r pw pb pr <<<"$2"; read -r ow ob orss oskip <<<"$3"
  node -e '
    const [name, pw, pb, pr, ow, ob, or, skip] = process.argv.slice(1);
    const mib = (b) => (b / 1048576).toFixed(1) + " MiB";
    console.log(`${name}`);
    console.log(`  pipeline: ${(+pw).toFixed(2)} s, ${mib(pb)} on the wire, peak RSS ${(pr / 1024).toFixed(0)} MiB (save+gzip+ssh)`);
    console.log(`  action:   ${(+ow).toFixed(2)} s, ${mib(ob)} on the wire, peak RSS ${(or / 1024).toFixed(0)} MiB (one node process), ${skip} layers left out`);
    console.log(`  ratios (action / pipeline): time ${(ow / pw).toFixed(2)}x, bytes ${(ob / pb).toFixed(3)}x, RSS ${(or / pr).toFixed(2)}x`);
    console.log(`RESULT\t${name}\t${pw}\t${pb}\t${ow}\t${ob}`);
  ' "$name" "$pw" "$pb" "$pr" "$ow" "$ob" "$orss" "$oskip"
}

median3() { printf '%s\n' "$@" | sort -n | sed -n 2p; }

run_case() { # run_case NAME IMAGE SETUP_FUNCTION REPEATS: medians of each figure over the repeats
  local name=$1 image=$2 setup=$3 repeats=${4:-3} i p o
  local pw=() pb=() pr=() ow=() ob=() orss=() oskip=()
  for ((i = 0; i < repeats; i++)); do
    $setup; read -r a b c <<<"$(pipeline "$image")"; pw+=("$a"); pb+=("$b"); pr+=("$c")
    $setup; read -r a b c d <<<"$(ours "$image")"; ow+=("$a"); ob+=("$b"); orss+=("$c"); oskip+=("$d")
  done
  if ((repeats == 3)); then
    p="$(median3 "${pw[@]}") $(median3 "${pb[@]}") $(median3 "${pr[@]}")"
    o="$(median3 "${ow[@]}") $(median3 "${ob[@]}") $(median3 "${orss[@]}") ${oskip[0]}"
  else
    p="${pw[0]} ${pb[0]} ${pr[0]}"; o="${ow[0]} ${ob[0]} ${orss[0]} ${oskip[0]}"
  fi
  report "$name ($repeats run(s), medians)" "$p" "$o"
}

app=$BG_APP_IMAGE
# Every image on the server but the proxy's: nothing of the app's layers is left there.
forget_all() {
  local keep ids
  keep=$(remote image inspect -f '{{.Id}}' "$BG_PROXY_IMAGE")
  ids=$(remote image ls -aq --no-trunc | sort -u | grep -vxF "$keep" || true)
  # shellcheck disable=SC2086
  [ -z "$ids" ] || remote image rm -f $ids >/dev/null 2>&1 || true
}
fresh_v1() { forget_all; }
v2_over_v1() { forget_all; runner save "$app:v1" | remote load -q >/dev/null; }
has_v1() { forget_all; node .bench/js/bench/transfer-one.js "$app:v1" "$runner_kind" "$server_kind" >/dev/null 2>&1; }
BG_STATE_DIR_BENCH=/var/lib/bluegreen-test/bench
fresh_big() { forget_all; }

# Containers keep their images' layers alive: start from a server that runs nothing.
containers=$(remote ps -aq)
# shellcheck disable=SC2086
[ -z "$containers" ] || remote rm -f $containers >/dev/null
echo "bluegreen-action transfer benchmark ($(nproc) cores, $(date -u +%Y-%m-%d)): runner $runner_kind -> server $server_kind"
if [ "${BENCH_SMALL:-1}" != 0 ]; then
run_case "test app v1 (35 MiB, 30 MiB incompressible), server has none of its own layers" "$app:v1" fresh_v1
run_case "test app v2, server has v1 (same base layers)" "$app:v2" v2_over_v1
run_case "test app v1 again, server has it (re-run of an old job)" "$app:v1" has_v1
fi
if [ "${BENCH_BIG:-1}" != 0 ]; then
  big_image
  run_case "1 GiB image (512 MiB random + 512 MiB base64 text), fresh" bluegreen-test/big:1 fresh_big 1
  forget bluegreen-test/big:1
fi
