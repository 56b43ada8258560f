//go:build tools

// Package tools pins metrics-server for hack/control-plane.sh. It is never compiled.
package tools

import _ "sigs.k8s.io/metrics-server/cmd/metrics-server"
