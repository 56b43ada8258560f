#!/usr/bin/env bash
# Builds helm from the Go module proxy (pinned in hack/tools/helm) and prints
# the absolute path of the binary as the last line of stdout:
#
#   HELM=$(hack/helm.sh | tail -n1)
#
# The binary goes to bin/helm/<helm version>-<hash of the pins>/helm, so changing a
# pin builds a new one and a warm run costs nothing. The pins are go.sum (every
# module version the build uses) and go.mod's go/toolchain/replace lines; go.mod's
# require list is left out so that adding a dependency of the chartcheck tool
# that helm already has does not rebuild helm.
set -euo pipefail

log() { echo "helm: $*" >&2; }

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
mod_dir="$repo_root/hack/tools/helm"
base_dir="$repo_root/bin/helm"

version=$(awk '{ for (i = 1; i < NF; i++) if ($i == "helm.sh/helm/v3") { print $(i + 1); exit } }' "$mod_dir/go.mod")
if [[ ! $version =~ ^v3\.[0-9]+\.[0-9]+$ ]]; then
  log "cannot read the helm.sh/helm/v3 version from hack/tools/helm/go.mod"
  exit 1
fi
pins_hash=$(cd "$mod_dir" && { grep -E '^(go|toolchain|replace) ' go.mod || true; cat go.sum; } | LC_ALL=C sha256sum | cut -c1-10)
out_dir="$base_dir/$version-$pins_hash"
bin="$out_dir/helm"

if [[ -x $bin ]]; then
  log "up to date: $bin"
  echo "$bin"
  exit 0
fi

command -v go >/dev/null || { log "go is not on PATH"; exit 1; }
mkdir -p "$out_dir"
# One build at a time: a second caller waits, then finds the binary present.
if command -v flock >/dev/null; then
  exec 9>"$base_dir/.lock"
  flock 9
fi
if [[ ! -x $bin ]]; then
  tmp="$out_dir/.helm.tmp.$$"
  trap 'rm -f "$tmp"' EXIT
  start=$SECONDS
  log "building helm $version"
  # helm reports its version from these variables; without them it says v3.x-dev.
  pkg=helm.sh/helm/v3/internal/version
  (cd "$mod_dir" && GOWORK=off CGO_ENABLED=0 go build -mod=readonly \
    -ldflags "-s -w -X $pkg.version=$version -X $pkg.gitTreeState=clean" \
    -o "$tmp" helm.sh/helm/v3/cmd/helm)
  mv -f "$tmp" "$bin"
  log "built helm in $((SECONDS - start))s"
fi
echo "$bin"
