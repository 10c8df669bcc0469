#!/usr/bin/env bash
# shellcheck disable=SC2016 # JavaScript in single quotes is meant literally
# The transfer benchmark on all four combinations of image store (classic: Debian 12's Docker 20.10;
# modern: Docker 28 with the containerd image store) on the runner and on the server, each side by
# side with the plain `docker save | gzip | ssh docker load` pipeline in the same run; then one table.
# Targets (issue 9): a top-layer change sends <=5% of the pipeline's bytes, a re-run <=0.1 MB, a
# first deploy takes <=0.8x the pipeline's time.
set -euo pipefail
cd "$(dirname "$0")/.."
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for runner in classic modern; do
  for server in classic modern; do
    BENCH_BIG=0 BENCH_RUNNER=$runner BENCH_SERVER=$server bash bench/transfer.sh | tee -a /dev/stderr |
      awk -F'\t' -v combo="$runner -> $server" '$1 == "RESULT" {print combo "\t" $0}' >>"$results"
  done
done
echo
echo "| runner -> server | case | pipeline | action | time | bytes |"
echo "| --- | --- | --- | --- | --- | --- |"
node -e '
  const mib = (b) => (b / 1048576).toFixed(1) + " MiB";
  const size = (b) => (b < 1048576 ? (b / 1024).toFixed(1) + " KiB" : mib(b));
  for (const line of require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n")) {
    const [combo, , name, pw, pb, ow, ob] = line.split("\t");
    const short = name.replace(/ \(\d run.*$/, "");
    console.log(`| ${combo} | ${short} | ${(+pw).toFixed(2)} s, ${size(+pb)} | ${(+ow).toFixed(2)} s, ${size(+ob)} | ${(ow / pw).toFixed(2)}x | ${(ob / pb).toFixed(3)}x |`);
  }
' "$results"
