//go:build tools

// Package tools pins the control-plane commands that hack/control-plane.sh builds,
// so that go mod tidy keeps their dependencies in go.sum. It is never compiled.
package tools

import (
	_ "go.etcd.io/etcd/server/v3" // etcd: the module root is package main
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "sigs.k8s.io/metrics-server/cmd/metrics-server"
)
