# The real single-node Kubernetes (containerd, kubelet, kube-proxy, metrics-server
# as a pod); included by the root Makefile. Needs root and the host packages:
#   apt-get install -y containerd runc containernetworking-plugins iptables nftables iproute2
# Never run it in parallel with `go test ./...`: it owns containerd's default socket.

# `all`, not `real-node`: bin/control-plane/current must keep every component (kwok too).
REAL_NODE_ASSETS = $$(hack/control-plane.sh all | tail -n1)

.PHONY: real-node test-real-node

real-node: ## A real single-node Kubernetes on this machine until Ctrl-C (root); prints its kubeconfig.
	KUBEBUILDER_ASSETS=$(REAL_NODE_ASSETS) $(GO) run ./hack/real-node up

test-real-node: ## Smoke test of the real node (root, ~1 min; not under -race, not in parallel with other tests).
	KUBEBUILDER_ASSETS=$(REAL_NODE_ASSETS) SDEP_REAL_NODE=1 $(GO) test -count=1 -v -timeout=10m ./test/realnode/...
