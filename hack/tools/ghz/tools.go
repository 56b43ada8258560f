//go:build tools

// Package tools pins ghz, the gRPC load generator `make bench-executor` drives.
// It lives in its own module so its dependencies never reach sdep's go.mod.
package tools

import (
	_ "github.com/bojand/ghz/cmd/ghz"
)
