#!/usr/bin/env bash
# Releases a version tag: checks that it is releasable, then moves its major tag (v1) to it.
# Usage: bash scripts/release.sh vX.Y.Z [REMOTE]   (with REMOTE, the major tag is pushed there)
# Run with the tagged commit checked out (the release workflow does, after the tests passed).
# Refuses, moving nothing: a tag that is not vX.Y.Z, a checkout that is not the tag's commit,
# package.json or CHANGELOG.md that do not name the version, a stale dist/. A version older than
# the newest of its major (a backport) is released without moving the major tag.
set -euo pipefail
cd "$(dirname "$0")/.."

refuse() {
  echo "release refused: $*" >&2
  exit 1
}

tag=${1:-}
remote=${2:-}
[[ $tag =~ ^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$ ]] ||
  refuse "'$tag' is not a version tag like v1.2.3 (pre-releases never move a major tag)"
version=${tag#v}
major=v${BASH_REMATCH[1]}

commit=$(git rev-parse --verify --quiet "refs/tags/$tag^{commit}") || refuse "there is no tag $tag"
[[ $(git rev-parse HEAD) == "$commit" ]] || refuse "the checkout is not $tag's commit ${commit:0:12}"
[[ $(node -p 'require("./package.json").version') == "$version" ]] ||
  refuse "package.json's version is not $version"
grep -Eq "^## \[$version\]( |$)" CHANGELOG.md || refuse "CHANGELOG.md has no section '## [$version]'"
bash scripts/check-dist.sh >/dev/null || refuse "dist/ at $tag is not what its sources build"

newest=$(git tag --list "$major.*" | grep -E '^v[0-9]+\.[0-9]+\.[0-9]+$' | sort -V | tail -n 1)
if [[ $newest != "$tag" ]]; then
  echo "$tag released; $major stays on the newer $newest"
  exit 0
fi
previous=$(git rev-parse --verify --quiet "refs/tags/$major^{commit}" || true)
git tag --force "$major" "$commit" >/dev/null
if [[ -n $remote ]] && ! git push --force "$remote" "refs/tags/$major" 2>&1; then
  if [[ -n $previous ]]; then git tag --force "$major" "$previous" >/dev/null; else git tag --delete "$major" >/dev/null; fi
  refuse "pushing $major to $remote failed; $major is back where it was"
fi
echo "$tag released; $major moved ${previous:+from ${previous:0:12} }to ${commit:0:12}${remote:+ (pushed to $remote)}"
