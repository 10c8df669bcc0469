#!/usr/bin/env bash
# The whole test suite: lint and format check, unit tests, then the end-to-end tests against real
# throwaway servers (test/server/up.sh installs and starts them; they stay up for the next run, stop
# them with test/server/down.sh). Needs root on a Debian/Ubuntu machine.
#
# The end-to-end tests run in two lanes at once, each owning its servers, then the tests that need
# every server:
#   classic lane: every end-to-end test of the classic server (Docker 20.10);
#   modern lane:  every test named "... modern server ..." (Docker 28: the modern server, and for
#                 Swarm the second modern server), one file after another, then the unit tests;
#   then alone:   the tests of several hosts at once (fleet.test.ts: all three servers).
# A test that touches a server must say so in its name ("(modern server)") to run in that lane.
# With arguments (files, -t PATTERN, ...) it runs just those, in one lane.
# shellcheck disable=SC2016 # JavaScript in single quotes is meant literally
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci
# Lint and format first: a minute, and nothing else is worth running on code that fails them.
npm run lint
bash test/server/up.sh
# The runtimes: the suite runs under this machine's Node; the bundle, in the end-to-end tests, under
# the one action.yml names (test/helpers/action-runner.ts, actionNode).
# shellcheck source=test/server/config.sh
. test/server/config.sh
bundle_node=${BG_ACTION_NODE:-$(sed -n 's/^BG_NODE24=//p' "$BG_RUN/env")}
echo "runtimes: the suite under Node $(node --version); the action's bundle under Node $("${bundle_node:-node}" --version) (${bundle_node:-node})"
# The end-to-end tests run the bundle GitHub runs: make sure it is current.
npm run build --silent >/dev/null
npx tsc -p tsconfig.test.json
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
lane() { # lane NAME VITEST-ARGS...: its output prefixed with its name, its JSON report in $results
  local name=$1
  shift
  npx vitest run --reporter=default --reporter=json --outputFile.json="$results/$name.json" "$@" 2>&1 | sed -u "s/^/[$name] /"
  return "${PIPESTATUS[0]}"
}
status=0
if (($#)); then
  lane all "$@" || status=$?
else
  MODERN='modern server'
  lane classic test/e2e --exclude test/e2e/fleet.test.ts -t "^(?!.*$MODERN)" &
  classic=$!
  (
    code=0
    lane modern test/e2e --exclude test/e2e/fleet.test.ts -t "$MODERN" || code=$?
    lane unit test/unit || code=$?
    exit "$code"
  ) &
  modern=$!
  wait "$classic" || status=$?
  wait "$modern" || status=$?
  lane fleet test/e2e/fleet.test.ts || status=$?
fi
# One plain closing line that any CI reads: N passed, N failed, N skipped. A test filtered out of a
# lane counts in the lane that ran it; skipped means skipped wherever it was collected.
node -e '
  const fs = require("fs");
  const tests = new Map();
  let broken = 0;
  for (const file of fs.readdirSync(process.argv[1])) {
    const r = JSON.parse(fs.readFileSync(`${process.argv[1]}/${file}`, "utf8"));
    for (const f of r.testResults) {
      if (f.status === "failed" && f.assertionResults.every((a) => a.status !== "failed")) broken++;
      for (const a of f.assertionResults) {
        const key = `${f.name} > ${a.fullName}`;
        const seen = tests.get(key);
        if (seen === undefined || seen === "skipped" || seen === "pending" || seen === "todo") tests.set(key, a.status);
        else if (a.status === "failed") tests.set(key, "failed");
      }
    }
  }
  const count = (s) => [...tests.values()].filter((v) => s.includes(v)).length;
  console.log(`tests: ${count(["passed"])} passed, ${count(["failed"])} failed, ${count(["skipped", "pending", "todo"])} skipped` + (broken ? ` (${broken} test files failed outside their tests)` : ""));
' "$results" || true
exit "$status"
