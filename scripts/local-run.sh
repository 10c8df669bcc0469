#!/usr/bin/env bash
# Runs the action locally, exactly as GitHub would run dist/index.js, against the throwaway test
# server (test/server/up.sh): deploys the example app v1, then v2, and prints each run's log,
# step outputs and job summary. Needs root on Debian/Ubuntu (it installs docker.io, openssh-server,
# nginx-light, shellcheck, busybox-static and gcc when missing). Stop the server: test/server/down.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
bash test/server/up.sh
[ -f dist/index.js ] || npm run build
npx tsx scripts/local-run.ts "$@"
