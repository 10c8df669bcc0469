#!/usr/bin/env bash
# The whole test suite: lint and format check, unit tests, then the end-to-end tests against a real throwaway server
# (test/server/up.sh installs and starts it; it stays up for the next run, stop it with
# test/server/down.sh). Needs root on a Debian/Ubuntu machine.
# shellcheck disable=SC2016 # JavaScript in single quotes is meant literally
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci
# Lint and format first: a minute, and nothing else is worth running on code that fails them.
npm run lint
bash test/server/up.sh
# The end-to-end tests run the bundle GitHub runs: make sure it is current.
npm run build --silent >/dev/null
npx tsc -p tsconfig.test.json
results=$(mktemp)
status=0
npx vitest run test/unit test/e2e --reporter=default --reporter=json --outputFile.json="$results" "$@" || status=$?
# One plain closing line that any CI reads: N passed, N failed, N skipped.
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const broken = r.testResults.filter((f) => f.status === "failed" && f.assertionResults.every((a) => a.status !== "failed")).length;
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped` + (broken ? ` (${broken} test files failed outside their tests)` : ""));
' "$results" || true
rm -f "$results"
exit "$status"
