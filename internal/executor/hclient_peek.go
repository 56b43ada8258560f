//go:build linux || darwin || freebsd || netbsd || openbsd

package executor

import (
	"net"
	"syscall"
)

// connAlive reports whether an idle connection may still be used: no FIN
// or reset from the server and no unsolicited bytes. It peeks without
// waiting (one recv with MSG_PEEK|MSG_DONTWAIT), so only connections idle
// for a while are checked.
func connAlive(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// EAGAIN: nothing to read, the connection is open and quiet.
		_ = n
		alive = rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK
		return true
	})
	return err == nil && alive
}
