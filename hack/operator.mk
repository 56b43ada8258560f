# Operator targets (manifests from markers, control-plane tests); included by the root Makefile.

# The control plane the tests run on, built once from the Go module proxy by
# hack/control-plane.sh (a no-op when present): kube-apiserver and etcd for
# envtest, for test/hpa the controller manager, scheduler, kubectl and kwok, and
# metrics-server for the front-proxy test of internal/devcluster (the real node
# needs it anyway, so a cold CI run builds it once either way).
ENVTEST_ASSETS = $$(hack/control-plane.sh kube-apiserver etcd kube-controller-manager kube-scheduler kubectl kwok metrics-server | tail -n1)

.PHONY: manifests verify-manifests envtest

manifests: $(CONTROLLER_GEN) ## Regenerate config/rbac/role.yaml and config/webhook/manifests.yaml from +kubebuilder markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role webhook \
		paths=./internal/controller/... paths=./internal/webhook/... \
		output:rbac:artifacts:config=config/rbac output:webhook:artifacts:config=config/webhook

verify-manifests: manifests ## Fail if the RBAC or webhook manifests are stale.
	@git diff --exit-code -- config/rbac config/webhook || { echo "manifests are stale: run make manifests"; exit 1; }

envtest: ## Operator tests on a real kube-apiserver + etcd (first run builds them, ~15 min).
	KUBEBUILDER_ASSETS=$(ENVTEST_ASSETS) $(GO) test -race -count=1 ./test/e2e/...
