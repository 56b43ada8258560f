#!/usr/bin/env bash
# Builds the Kubernetes control-plane binaries that the tests use, from the Go module
# proxy alone (no setup-envtest, no container images, no release tarballs).
#
#   hack/control-plane.sh [component...]
#
# Components: kube-apiserver etcd kube-controller-manager kube-scheduler kubectl kwok
# metrics-server kubelet kube-proxy, "real-node" (what a real node runs: every one but
# kwok), or "all". With no argument: kube-apiserver etcd (what envtest needs).
#
# Binaries go to bin/control-plane/<k8s version>-<hash of hack/tools/*/go.{mod,sum}>/,
# with bin/control-plane/current pointing at that folder. A component whose binary is
# already there is not rebuilt, so a warm run costs nothing. kwok also brings
# kwok-stages.yaml and kwok-metrics-stages.yaml (its node/pod and metrics configs).
#
# Progress goes to stderr; the last line of stdout is the absolute path of the folder:
#   export KUBEBUILDER_ASSETS=$(hack/control-plane.sh)
set -euo pipefail

all_components=(kube-apiserver etcd kube-controller-manager kube-scheduler kubectl kwok metrics-server kubelet kube-proxy)
real_node_components=(kube-apiserver etcd kube-controller-manager kube-scheduler kubectl metrics-server kubelet kube-proxy)
default_components=(kube-apiserver etcd)

usage() {
  cat >&2 <<EOF
usage: $0 [component...]
  components: ${all_components[*]}
  all         every component
  real-node   ${real_node_components[*]}
  (none)      ${default_components[*]}
Prints the absolute path of the folder holding the binaries as the last line of stdout.
EOF
}

log() { echo "control-plane: $*" >&2; }

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
tools_dir="$repo_root/hack/tools"
base_dir="$repo_root/bin/control-plane"

# --- which components -------------------------------------------------------------
components=()
if [[ $# -eq 0 ]]; then
  components=("${default_components[@]}")
fi
for arg in "$@"; do
  case "$arg" in
    -h | --help) usage; exit 0 ;;
    all) components+=("${all_components[@]}") ;;
    real-node) components+=("${real_node_components[@]}") ;;
    *)
      known=false
      for c in "${all_components[@]}"; do [[ $c == "$arg" ]] && known=true; done
      if ! $known; then
        log "unknown component: $arg"
        usage
        exit 2
      fi
      components+=("$arg")
      ;;
  esac
done

# --- output folder, keyed by version and by the tools modules' pins ------------------
k8s_version=$(awk '$1 == "k8s.io/kubernetes" { print $2; exit }' "$tools_dir/kube/go.mod")
if [[ ! $k8s_version =~ ^v1\.([0-9]+)\.[0-9]+$ ]]; then
  log "cannot read the k8s.io/kubernetes version from hack/tools/kube/go.mod"
  exit 1
fi
k8s_minor=${BASH_REMATCH[1]}
pins_hash=$(cd "$tools_dir" && LC_ALL=C cat kube/go.mod kube/go.sum kwok/go.mod kwok/go.sum | sha256sum | cut -c1-10)
out_name="$k8s_version-$pins_hash"
out_dir="$base_dir/$out_name"

# Files that make a component present.
component_files() {
  case "$1" in
    kwok) echo kwok kwok-stages.yaml kwok-metrics-stages.yaml ;;
    *) echo "$1" ;;
  esac
}

missing_components() {
  local c f
  for c in "${components[@]}"; do
    for f in $(component_files "$c"); do
      if [[ ! -f $out_dir/$f ]]; then
        echo "$c"
        break
      fi
    done
  done | awk '!seen[$0]++'
}

point_current() {
  if [[ $(readlink "$base_dir/current" 2>/dev/null || true) != "$out_name" ]]; then
    ln -sfn "$out_name" "$base_dir/current.tmp.$$"
    mv -Tf "$base_dir/current.tmp.$$" "$base_dir/current"
  fi
}

finish() {
  point_current
  echo "$out_dir"
}

todo=$(missing_components)
if [[ -z $todo ]]; then
  log "up to date: ${components[*]}"
  finish
  exit 0
fi

# --- build ---------------------------------------------------------------------------
command -v go >/dev/null || { log "go is not on PATH"; exit 1; }
mkdir -p "$out_dir"

# One build at a time: a second caller waits, then finds the binaries present.
if command -v flock >/dev/null; then
  exec 9>"$base_dir/.lock"
  if ! flock -n 9; then
    log "another build holds $base_dir/.lock; waiting"
    flock 9
  fi
  todo=$(missing_components)
fi

tmp_files=()
cleanup() { [[ ${#tmp_files[@]} -eq 0 ]] || rm -f "${tmp_files[@]}"; }
trap cleanup EXIT

export GOWORK=off CGO_ENABLED=0
build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# -X flags for the version packages of Kubernetes' component-base and client-go:
# without them the binaries report v0.0.0-master.
kube_version_ldflags() {
  local major=$1 minor=$2 version=$3 pkg flags=()
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=("-X $pkg.gitVersion=$version" "-X $pkg.gitMajor=$major" "-X $pkg.gitMinor=$minor"
      "-X $pkg.gitTreeState=clean" "-X $pkg.buildDate=$build_date")
  done
  echo "${flags[*]}"
}

# build <module dir> <package> <binary name> <extra ldflags>
build() {
  local dir=$1 pkg=$2 name=$3 ldflags="-s -w $4" tmp start
  tmp="$out_dir/.$name.tmp.$$"
  tmp_files+=("$tmp")
  start=$SECONDS
  log "building $name ($pkg)"
  (cd "$tools_dir/$dir" && go build -mod=readonly -ldflags "$ldflags" -o "$tmp" "$pkg")
  mv -f "$tmp" "$out_dir/$name"
  log "built $name in $((SECONDS - start))s"
}

# concat <output> <dir> <file...>: YAML documents joined with ---
concat_yaml() {
  local out=$1 dir=$2 tmp f first=true
  shift 2
  tmp="$out_dir/.$(basename "$out").tmp.$$"
  tmp_files+=("$tmp")
  : >"$tmp"
  for f in "$@"; do
    if [[ ! -f $dir/$f ]]; then
      log "missing $f in sigs.k8s.io/kwok"
      exit 1
    fi
    $first || echo "---" >>"$tmp"
    first=false
    cat "$dir/$f" >>"$tmp"
    [[ -z $(tail -c1 "$dir/$f") ]] || echo >>"$tmp"
  done
  mv -f "$tmp" "$out"
}

kwok_stages() {
  local kwok_dir
  kwok_dir=$(cd "$tools_dir/kwok" && go mod download sigs.k8s.io/kwok &&
    go list -mod=readonly -m -f '{{.Dir}}' sigs.k8s.io/kwok)
  if [[ ! -d $kwok_dir ]]; then
    log "cannot find sigs.k8s.io/kwok in the module cache"
    exit 1
  fi
  concat_yaml "$out_dir/kwok-stages.yaml" "$kwok_dir/kustomize/stage" \
    node/fast/node-initialize.yaml pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml
  concat_yaml "$out_dir/kwok-metrics-stages.yaml" "$kwok_dir/kustomize/metrics" \
    resource/metrics-resource.yaml usage/usage-from-annotation.yaml
  log "wrote kwok-stages.yaml and kwok-metrics-stages.yaml"
}

kube_ldflags=$(kube_version_ldflags 1 "$k8s_minor" "$k8s_version")
total_start=$SECONDS
for c in $todo; do
  case "$c" in
    kube-apiserver | kube-controller-manager | kube-scheduler | kubectl | kubelet | kube-proxy)
      build kube "k8s.io/kubernetes/cmd/$c" "$c" "$kube_ldflags"
      ;;
    etcd)
      # The module root of go.etcd.io/etcd/server/v3 is etcd's main package; go would
      # name the binary "server".
      build kube go.etcd.io/etcd/server/v3 etcd ""
      ;;
    kwok)
      [[ -f $out_dir/kwok ]] || build kwok sigs.k8s.io/kwok/cmd/kwok kwok ""
      kwok_stages
      ;;
    metrics-server)
      # Built in the kube module (one set of pins); CGO_ENABLED=0 above makes it static,
      # so the same binary goes into the real node's metrics-server image.
      ms_version=$(awk '$1 == "sigs.k8s.io/metrics-server" { print $2; exit }' "$tools_dir/kube/go.mod")
      ms_pkg=k8s.io/client-go/pkg/version
      build kube sigs.k8s.io/metrics-server/cmd/metrics-server metrics-server \
        "-X $ms_pkg.gitVersion=$ms_version -X $ms_pkg.gitTreeState=clean -X $ms_pkg.buildDate=$build_date"
      ;;
  esac
done
log "done in $((SECONDS - total_start))s: $out_dir"
finish
