// Package diskfault gives tests real disks that fail: a small tmpfs that
// fills up (ENOSPC) and an ext4 image that turns read-only under open files
// (EROFS), as a full or failing disk does. They mount filesystems, which
// needs root; without it (or without mkfs.ext4 and loop devices) they skip
// the test with the reason. Mounts are made under the test's temporary
// directory and removed when it ends. It is test support: it must not import
// any lbd package, and no non-test code may import it.
package diskfault

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Tmpfs mounts a tmpfs of size bytes at a new directory and returns it.
func Tmpfs(t testing.TB, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Skipf("cannot mount a tmpfs to fill (needs root): %v", err)
	}
	t.Cleanup(func() { unmount(t, dir) })
	return dir
}

func unmount(t testing.TB, dir string) {
	if err := syscall.Unmount(dir, 0); err != nil {
		// Something still holds a file open: detach it anyway, so that no
		// mount outlives the test.
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	}
}

// Fill writes a file in dir until its filesystem is full, then gives back
// leave bytes. It returns the function that removes the file.
func Fill(t testing.TB, dir string, leave int64) (free func()) {
	t.Helper()
	path := filepath.Join(dir, "diskfault-filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	var n int64
	for {
		m, err := f.Write(buf)
		n += int64(m)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			t.Fatalf("filling %s: %v", dir, err)
		}
	}
	if err := f.Truncate(max(0, n-leave)); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := os.Remove(path); err != nil {
			t.Error(err)
		}
	}
}

// Ext4 is a small ext4 filesystem on a loop device, mounted at Dir with
// errors=remount-ro.
type Ext4 struct {
	Dir   string
	image string
	dev   string // the loop device's name, e.g. loop3
}

// NewExt4 makes and mounts an ext4 image of 16 MiB.
func NewExt4(t testing.TB) *Ext4 {
	t.Helper()
	base := t.TempDir()
	e := &Ext4{Dir: filepath.Join(base, "mnt"), image: filepath.Join(base, "ext4.img")}
	if err := os.Mkdir(e.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.image, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(e.image, 16<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", e.image).CombinedOutput(); err != nil {
		t.Skipf("cannot make an ext4 image (mkfs.ext4 from e2fsprogs): %v: %s", err, out)
	}
	e.mount(t)
	return e
}

func (e *Ext4) mount(t testing.TB) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "loop,errors=remount-ro", e.image, e.Dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount an ext4 image on a loop device (needs root and loop devices): %v: %s", err, out)
	}
	t.Cleanup(func() { e.unmount(t) })
	out, err := exec.Command("findmnt", "-n", "-o", "SOURCE", e.Dir).Output()
	if err != nil {
		t.Fatalf("findmnt %s: %v", e.Dir, err)
	}
	e.dev = filepath.Base(strings.TrimSpace(string(out)))
}

func (e *Ext4) unmount(t testing.TB) {
	if e.dev == "" {
		return
	}
	unmount(t, e.Dir)
	e.dev = ""
}

// Fail makes the filesystem read-only the way an I/O error does: ext4
// records an error (trigger_fs_error) and, mounted errors=remount-ro, stops
// writing. From then on every write fails with EROFS, on files already
// open too.
func (e *Ext4) Fail(t testing.TB) {
	t.Helper()
	ctl := filepath.Join("/sys/fs/ext4", e.dev, "trigger_fs_error")
	if err := os.WriteFile(ctl, []byte("diskfault test\n"), 0o200); err != nil {
		t.Skipf("cannot inject an ext4 error (%s): %v", ctl, err)
	}
	if err := os.WriteFile(filepath.Join(e.Dir, "diskfault-probe"), nil, 0o600); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("after the injected error, creating a file gave %v, want EROFS", err)
	}
}

// Remount unmounts the filesystem and mounts it again writable, as after
// the administrator repaired it. Files must be closed first.
func (e *Ext4) Remount(t testing.TB) {
	t.Helper()
	e.unmount(t)
	if out, err := exec.Command("e2fsck", "-f", "-y", e.image).CombinedOutput(); err != nil {
		var ee *exec.ExitError
		// 1: errors corrected, which is what an injected error leaves.
		if !errors.As(err, &ee) || ee.ExitCode() > 1 {
			t.Fatalf("e2fsck: %v: %s", err, out)
		}
	}
	e.mount(t)
}
