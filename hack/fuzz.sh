#!/usr/bin/env bash
# Runs one fuzz target: hack/fuzz.sh PKG NAME FUZZTIME.
#
# Go 1.26's fuzz coordinator can end a run that found nothing with a bare
# "context deadline exceeded" when -fuzztime runs out while a worker is
# still mid-call (go.dev/issue/75804; fixed in Go 1.27). Such a run wrote
# no failing input. It counts as passed only when the output ends that way
# and the target's testdata/fuzz folder gained no file; any other failure
# fails.
set -uo pipefail
pkg=$1 name=$2 fuzztime=$3
dir="$pkg/testdata/fuzz/$name"
before=$(ls "$dir" 2>/dev/null | sort)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"${GO:-go}" test -run='^$' -fuzz="^$name\$" -fuzztime="$fuzztime" -fuzzminimizetime=200x "$pkg" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
[[ $rc -eq 0 ]] && exit 0
after=$(ls "$dir" 2>/dev/null | sort)
if [[ "$before" == "$after" ]] && grep -q -- "--- FAIL: $name " "$out" &&
  grep -A1 -- "--- FAIL: $name " "$out" | tail -n1 | grep -qx '[[:space:]]*context deadline exceeded'; then
  echo "fuzz $pkg $name: ended by Go's fuzz coordinator race (go.dev/issue/75804), no failing input written: passed"
  exit 0
fi
exit "$rc"
