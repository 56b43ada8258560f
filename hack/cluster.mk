# Local control plane targets: sdep dev cluster, the HPA end-to-end tests and
# the operator benchmark; included by the root Makefile.

# Every control-plane binary (apiserver, etcd, controller manager, scheduler,
# kubectl, kwok, metrics-server), built once by hack/control-plane.sh.
CLUSTER_ASSETS = $$(hack/control-plane.sh all | tail -n1)
# Flags for `make dev-cluster`, e.g. DEV_CLUSTER_FLAGS=--metrics=metrics-server.
DEV_CLUSTER_FLAGS ?=
# Flags for `make bench-operator`, e.g. BENCH_FLAGS='-kube-api-qps 200 -kube-api-burst 400'.
BENCH_N ?= 1000
BENCH_FLAGS ?=

.PHONY: dev-cluster e2e-hpa e2e-metrics-server bench-operator

dev-cluster: build ## Local control plane + operator until Ctrl-C; prints a kubeconfig (no Docker).
	KUBEBUILDER_ASSETS=$(CLUSTER_ASSETS) $(BIN)/sdep dev cluster $(DEV_CLUSTER_FLAGS)

e2e-hpa: ## The seed's worked example and the install path on the real HPA controller (~1 min).
	KUBEBUILDER_ASSETS=$(CLUSTER_ASSETS) $(GO) test -race -count=1 -v ./test/hpa/...

e2e-metrics-server: ## The HPA scenarios with the real metrics-server scraping kwok (slower; not in CI).
	KUBEBUILDER_ASSETS=$(CLUSTER_ASSETS) SDEP_E2E_METRICS=metrics-server \
		$(GO) test -race -count=1 -v -timeout=20m -run 'TestHPAScalesDeployment1To4To1|TestSeedWorkedExample' ./test/hpa/...

bench-operator: ## BENCH_N SeldonDeployments on a real kube-apiserver: convergence time, reconciles/s, writes, peak memory.
	KUBEBUILDER_ASSETS=$(CLUSTER_ASSETS) $(GO) run ./hack/bench-operator -n $(BENCH_N) $(BENCH_FLAGS)
