package statestore

import (
	"io/fs"
	"os"
	"syscall"
)

// fdatasync flushes f's data (and the size that finds it) to the device.
func fdatasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return &fs.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
		}
		return nil
	}
}
