//go:build !linux

package statestore

import "os"

// fdatasync flushes f to the device: os.File.Sync, which on macOS is
// F_FULLFSYNC, the one call there that reaches the device.
func fdatasync(f *os.File) error { return f.Sync() }
