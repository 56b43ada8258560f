# The seed's worked example on real containers (test/seedpods); included by
# the root Makefile. Needs root, the host packages of the real node and the
# images and dist/sdep.yaml that `make release` writes.

SEED_PODS_VERSION ?= 0.0.0-seedpods

.PHONY: test-seed-pods

test-seed-pods: ## The seed on real containers: install from dist/sdep.yaml, a prediction, 1→4→1 on real CPU (root; not under -race, not in parallel with go test ./...).
	$(MAKE) release VERSION=$(SEED_PODS_VERSION)
	KUBEBUILDER_ASSETS=$(REAL_NODE_ASSETS) SDEP_REAL_NODE=1 SDEP_VERSION=$(SEED_PODS_VERSION) SDEP_HELM=$(HELM) $(GO) test -count=1 -v -timeout=25m ./test/seedpods/...
