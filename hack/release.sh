#!/usr/bin/env bash
# Writes the release artefacts under DIST_DIR (default dist/):
#   sdep.yaml    config/default rendered by kubectl kustomize, with the manager
#                image and the executor image set to IMAGE
#   *.tar        the image tarballs `make images` wrote to IMAGES_DIR
#   SHA256SUMS   sha256sum of everything above
# Usually run as `make release VERSION=x.y.z [IMAGE=registry/sdep:x.y.z]`,
# which builds the images first.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
: "${VERSION:?set VERSION=x.y.z (make release VERSION=x.y.z)}"
IMAGE=${IMAGE:-sdep:$VERSION}
IMAGES_DIR=${IMAGES_DIR:-$root/bin/images}
DIST_DIR=${DIST_DIR:-$root/dist}
KUBECTL=${KUBECTL:-$root/bin/control-plane/current/kubectl}

if [[ ! -x $KUBECTL ]]; then
	echo "release: no kubectl at $KUBECTL; build the control plane (make control-plane) or set KUBECTL" >&2
	exit 1
fi
case $IMAGE in
*@*) echo "release: IMAGE=$IMAGE: give a tag, not a digest (e.g. registry.example/sdep:$VERSION)" >&2; exit 1 ;;
*:*) ;;
*) echo "release: IMAGE=$IMAGE has no tag; want e.g. sdep:$VERSION" >&2; exit 1 ;;
esac
image_name=${IMAGE%:*}
image_tag=${IMAGE##*:}
if [[ $image_tag == */* ]]; then
	echo "release: IMAGE=$IMAGE has no tag (the last ':' is the registry port); want e.g. $IMAGE/sdep:$VERSION" >&2
	exit 1
fi
for t in sdep.tar mock-classifier.tar pause.tar; do
	if [[ ! -f $IMAGES_DIR/$t ]]; then
		echo "release: $IMAGES_DIR/$t is missing; run make images VERSION=$VERSION IMAGE=$IMAGE first" >&2
		exit 1
	fi
done

# A throwaway kustomization on top of config/default, inside the repository
# so that its relative resource path stays within kustomize's load rules. The
# images transformer rewrites the manager's image; a patch adds the executor
# image flag, so model pods run the same image as the operator.
work=$(mktemp -d "$root/.release-XXXXXX")
trap 'rm -rf "$work"' EXIT
rel=$(realpath --relative-to="$work" "$root/config/default")
cat >"$work/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- $rel
images:
- name: sdep
  newName: $image_name
  newTag: "$image_tag"
patches:
- target:
    kind: Deployment
    labelSelector: app.kubernetes.io/component=operator
  patch: |-
    - op: add
      path: /spec/template/spec/containers/0/args/-
      value: --executor-image=$IMAGE
YAML

mkdir -p "$DIST_DIR"
"$KUBECTL" kustomize "$work" >"$DIST_DIR/sdep.yaml.tmp"
if ! grep -q "image: $IMAGE\$" "$DIST_DIR/sdep.yaml.tmp"; then
	echo "release: the rendered manifest has no 'image: $IMAGE'; is the manager's image still named sdep in config/manager?" >&2
	exit 1
fi
if ! grep -q -- "--executor-image=$IMAGE\$" "$DIST_DIR/sdep.yaml.tmp"; then
	echo "release: the rendered manifest does not pass --executor-image=$IMAGE to the operator" >&2
	exit 1
fi
mv "$DIST_DIR/sdep.yaml.tmp" "$DIST_DIR/sdep.yaml"

cp "$IMAGES_DIR/sdep.tar" "$IMAGES_DIR/mock-classifier.tar" "$IMAGES_DIR/pause.tar" "$DIST_DIR/"
(cd "$DIST_DIR" && sha256sum sdep.yaml mock-classifier.tar pause.tar sdep.tar >SHA256SUMS)
echo "release $VERSION: $DIST_DIR (image $IMAGE)"
cat "$DIST_DIR/SHA256SUMS"
