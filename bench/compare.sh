#!/usr/bin/env bash
# Failed requests during switches: the article's hand-written deploy against this action.
set -euo pipefail
cd "$(dirname "$0")/.."
bash test/server/up.sh >/dev/null
npm run build --silent >/dev/null
npx tsx bench/compare.ts
