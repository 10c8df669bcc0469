#!/usr/bin/env bash
# Rollout benchmark on the three test servers; see bench/rollout.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash test/server/up.sh >/dev/null
npm run build --silent >/dev/null
npx tsx bench/rollout.ts
