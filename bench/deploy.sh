#!/usr/bin/env bash
# Whole-deploy benchmark on the test server; see bench/deploy.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash test/server/up.sh >/dev/null
npm run build --silent >/dev/null
npx tsx bench/deploy.ts
