#!/usr/bin/env bash
# Builds sdep at another git revision, for `make bench-executor BENCH_BASELINE=<rev>`.
#
#   hack/bench-executor/build-baseline.sh <rev>
#
# The revision's tree is exported with `git archive` into a temporary folder
# (the working tree and its branch are not touched) and built there. The binary
# is kept in bin/bench-baseline/<commit>/sdep, so a second run with the same
# revision builds nothing. The last line of stdout is the binary's path.
set -euo pipefail

log() { echo "build-baseline: $*" >&2; }

if [[ $# -ne 1 || -z $1 ]]; then
  echo "usage: $0 <git revision>   (e.g. $0 HEAD~3)" >&2
  exit 2
fi
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$repo_root"
if ! commit=$(git rev-parse --verify --quiet "$1^{commit}"); then
  log "BENCH_BASELINE=$1 is not a commit of this repository (try a hash from git log --oneline -- internal/executor)"
  exit 1
fi
out_dir="$repo_root/bin/bench-baseline/$commit"
if [[ -x $out_dir/sdep ]]; then
  log "sdep at ${commit:0:12} already built"
  echo "$out_dir/sdep"
  exit 0
fi
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
log "building sdep at ${commit:0:12} ($(git log -1 --format=%s "$commit"))"
git archive "$commit" | tar -x -C "$src"
mkdir -p "$out_dir"
(cd "$src" && go build -o "$out_dir/sdep.tmp" ./cmd/sdep)
mv "$out_dir/sdep.tmp" "$out_dir/sdep"
echo "$out_dir/sdep"
