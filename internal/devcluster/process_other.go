//go:build !linux

package devcluster

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
