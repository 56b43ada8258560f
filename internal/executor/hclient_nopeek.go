//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package executor

import "net"

// connAlive cannot peek here: the retry of stale connections covers it.
func connAlive(net.Conn) bool { return true }
