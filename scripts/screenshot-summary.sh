#!/usr/bin/env bash
# Screenshots of real job summaries for README (docs/summary-*.png). Installs Debian's chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
{ command -v chromium && fc-list | grep -qi "color emoji"; } >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core fonts-noto-color-emoji >/dev/null; }
bash test/server/up.sh
npm run build --silent >/dev/null
npx tsx scripts/screenshot-summary.ts
