# Container images and release artefacts, built without a container engine.

# VERSION is linked into sdep and tags its image; the default is the version
# compiled into internal/version, so the operator's default executor image
# (sdep:<version>) is the image `make images` writes.
VERSION    ?= $(shell sed -n 's/^var Version = "\(.*\)"$$/\1/p' internal/version/version.go)
# IMAGE is the sdep image reference: the manager's and the executor's image.
IMAGE      ?= sdep:$(VERSION)
IMAGES_DIR ?= $(BIN)/images
DIST_DIR   ?= $(CURDIR)/dist

.PHONY: images
images: ## bin/images/{sdep,mock-classifier,pause}.tar: OCI layout tarballs (sdep for linux/amd64+arm64), reproducible.
	$(GO) run ./hack/images -out $(IMAGES_DIR) -version $(VERSION) -sdep-ref $(IMAGE)

.PHONY: release
release: images ## dist/: sdep.yaml (config/default with IMAGE filled in), the image tarballs, SHA256SUMS. VERSION=x.y.z [IMAGE=ref].
	VERSION=$(VERSION) IMAGE=$(IMAGE) IMAGES_DIR=$(IMAGES_DIR) DIST_DIR=$(DIST_DIR) \
		KUBECTL=$(BIN)/control-plane/current/kubectl hack/release.sh

.PHONY: test-images
test-images: ## The image tests (skipped under -race): build the images twice, check layout, platforms, user, binary and digests.
	$(GO) test -count=1 -timeout=30m ./hack/images/
