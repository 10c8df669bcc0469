#!/usr/bin/env bash
# Fails when dist/ differs from a fresh build: changed, deleted or new untracked files.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build --silent >/dev/null
changes=$(git status --porcelain --untracked-files=all -- dist)
if [ -n "$changes" ]; then
  echo "dist/ is stale: rebuild with 'npm run build' and commit it. Differences:" >&2
  echo "$changes" >&2
  exit 1
fi
echo "dist/ matches a fresh build"
