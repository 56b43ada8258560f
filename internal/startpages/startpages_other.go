//go:build !linux

package startpages

import "errors"

// Release does nothing outside Linux.
func Release() (Result, error) {
	return Result{}, errors.New("releasing the binary's pages is only done on Linux")
}
