//go:build !linux

package bench

import "syscall"

// diesWithParent: no parent-death signal outside Linux (lbd runs on Linux
// only; elsewhere the bench finds no lbd to start).
func diesWithParent() *syscall.SysProcAttr { return nil }
