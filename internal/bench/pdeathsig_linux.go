package bench

import "syscall"

// diesWithParent has lbd go when lbctl goes, even when lbctl is killed.
func diesWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
