//go:build tools

// Package tools pins helm for hack/helm.sh. It is never compiled.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
