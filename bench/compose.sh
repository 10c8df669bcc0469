#!/usr/bin/env bash
# engine compose's overhead next to a one-container deploy of the same app; see bench/compose.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash test/server/up.sh >/dev/null
npm run build --silent >/dev/null
npx tsx bench/compose.ts
