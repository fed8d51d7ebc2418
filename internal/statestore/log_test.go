package statestore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"lbd/internal/statestore/diskfault"
)

var bg = context.Background()

func openLog(t *testing.T, dir string, min int64) *logStore {
	t.Helper()
	s, err := Open(dir, LogOptions{CompactMin: min})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s.(*logStore)
}

func mustCommit(t *testing.T, s Store, ops ...Op) int64 {
	t.Helper()
	rev, err := s.Commit(bg, Txn{Ops: ops})
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

// content renders what a store holds.
func content(t *testing.T, s Store) string {
	t.Helper()
	snap, err := s.Load(bg)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "rev %d:", snap.Rev)
	for _, kv := range snap.KVs {
		fmt.Fprintf(&b, " %s=%.20s@%d/%d", kv.Key, kv.Value, kv.CreateRev, kv.ModRev)
	}
	return b.String()
}

// TestTornTail: a record cut short at the end of the log (a crash in the
// middle of an append) is dropped at the next open, and appends go on
// after the last good record.
func TestTornTail(t *testing.T) {
	dir := t.TempDir()
	s := openLog(t, dir, 0)
	mustCommit(t, s, Put("a", []byte("1")))
	mustCommit(t, s, Put("b", []byte("2")))
	want := content(t, s)
	good := s.size
	mustCommit(t, s, Put("c", bytes.Repeat([]byte("3"), 1000)))
	s.Close()
	path := filepath.Join(dir, LogFile)
	for _, cut := range []int64{1, 7, 8, 500, 1007} {
		if err := os.Truncate(path, good+cut); err != nil {
			t.Fatal(err)
		}
		s = openLog(t, dir, 0)
		if got := content(t, s); got != want {
			t.Errorf("cut %d bytes into the last record: %s, want %s", cut, got, want)
		}
		if fi, _ := os.Stat(path); fi.Size() != good {
			t.Errorf("cut %d: log is %d bytes after open, want it cut back to %d", cut, fi.Size(), good)
		}
		s.Close()
	}
	s = openLog(t, dir, 0)
	mustCommit(t, s, Put("d", []byte("4")))
	s.Close()
	s = openLog(t, dir, 0)
	if got := content(t, s); got != "rev 3: a=1@1/1 b=2@2/2 d=4@3/3" {
		t.Errorf("after an append past the repaired tail: %s", got)
	}
}

// TestDamagedRecord: a record with a bad checksum that is not the last is
// lost data; Open refuses, naming the file and the offset.
func TestDamagedRecord(t *testing.T) {
	dir := t.TempDir()
	s := openLog(t, dir, 0)
	mustCommit(t, s, Put("a", []byte("1")))
	off := s.size
	mustCommit(t, s, Put("b", []byte("2")))
	mustCommit(t, s, Put("c", []byte("3")))
	s.Close()
	path := filepath.Join(dir, LogFile)
	data, _ := os.ReadFile(path)
	data[off+10] ^= 0xff
	os.WriteFile(path, data, 0o600)
	_, err := Open(dir, LogOptions{})
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), fmt.Sprintf("offset %d", off)) {
		t.Fatalf("Open of a log damaged at offset %d: %v, want an error naming %s and the offset", off, err, path)
	}
}

func TestOneProcessPerDirectory(t *testing.T) {
	dir := t.TempDir()
	openLog(t, dir, 0)
	if _, err := Open(dir, LogOptions{}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second Open of %s: %v, want it refused as in use", dir, err)
	}
}

// TestCompactionBounded: a log of repeated changes to a few keys stays
// within a few times the live state, and holds the same after a reopen.
func TestCompactionBounded(t *testing.T) {
	dir := t.TempDir()
	s := openLog(t, dir, 16<<10)
	v := bytes.Repeat([]byte("v"), 1000)
	for i := range 1000 {
		mustCommit(t, s, Put(fmt.Sprintf("k%d", i%5), append(v, strconv.Itoa(i)...)))
	}
	want := content(t, s)
	s.Close() // waits for a compaction running
	fi, err := os.Stat(filepath.Join(dir, LogFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 64<<10 {
		t.Errorf("log is %d bytes after 1000 changes to 5 keys of 1 kB: not compacted", fi.Size())
	}
	s = openLog(t, dir, 16<<10)
	if got := content(t, s); got != want {
		t.Errorf("after reopening: %s, want %s", got, want)
	}
}

// TestCommitsDuringCompaction: commits made while a compaction writes the
// live keys are in the compacted log.
func TestCommitsDuringCompaction(t *testing.T) {
	dir := t.TempDir()
	s := openLog(t, dir, 1<<30)
	for i := range 100 {
		mustCommit(t, s, Put(fmt.Sprintf("k%d", i), []byte("before")))
	}
	inside := make(chan struct{})
	release := make(chan struct{})
	s.compactHook = func() { close(inside); <-release }
	s.mu.Lock()
	s.startCompaction()
	s.mu.Unlock()
	<-inside
	mustCommit(t, s, Put("k1", []byte("during")), Delete("k2"))
	mustCommit(t, s, Put("new", []byte("during")))
	close(release)
	s.wg.Wait()
	mustCommit(t, s, Put("k3", []byte("after")))
	want := content(t, s)
	s.Close()
	s = openLog(t, dir, 1<<30)
	if got := content(t, s); got != want {
		t.Errorf("after reopening: %s\nwant %s", got, want)
	}
	if !strings.Contains(want, "k1=during") || strings.Contains(want, "k2=") || !strings.Contains(want, "new=during") {
		t.Errorf("store lost a change made during compaction: %s", want)
	}
}

// TestKill9 runs a process that commits as fast as it can and prints each
// revision once Commit returned; killed with SIGKILL at a random point
// (often in the middle of a compaction, which the small CompactMin makes
// frequent), the store must hold every printed change after a reopen.
func TestKill9(t *testing.T) {
	if dir := os.Getenv("STATESTORE_KILL9_DIR"); dir != "" {
		kill9Child(dir)
		return
	}
	dir := t.TempDir()
	acked := map[string]bool{}
	for round := range 4 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKill9$")
		cmd.Env = append(os.Environ(), "STATESTORE_KILL9_DIR="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Every line read, up to the end of the pipe after the kill, is a
		// commit that returned.
		sc := bufio.NewScanner(out)
		n, stopAt := 0, 200+round*150
		for sc.Scan() {
			if k, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
				acked[k] = true
				if n++; n == stopAt {
					cmd.Process.Signal(syscall.SIGKILL)
				}
			}
		}
		cmd.Wait()
		if n < stopAt {
			t.Fatalf("round %d: child stopped after %d commits", round, n)
		}
		s := openLog(t, dir, 32<<10)
		snap, err := s.Load(bg)
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for _, kv := range snap.KVs {
			if strings.HasPrefix(kv.Key, "r") {
				have[kv.Key] = true
			}
		}
		for k := range acked {
			if !have[k] {
				t.Errorf("round %d: acknowledged key %s lost after kill -9", round, k)
			}
		}
		// The commit cut by the kill may be stored without its line.
		if extra := len(have) - len(acked); extra < 0 || extra > 1 {
			t.Errorf("round %d: %d keys stored, %d acknowledged (+ at most 1 in flight)", round, len(have), len(acked))
		}
		for k := range have {
			acked[k] = true // an unacknowledged one that made it stays
		}
		s.Close()
	}
}

func kill9Child(dir string) {
	s, err := Open(dir, LogOptions{CompactMin: 32 << 10})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	snap, _ := s.Load(bg)
	v := bytes.Repeat([]byte("x"), 1000)
	for i := 0; ; i++ {
		k := fmt.Sprintf("r%d-%d", snap.Rev, i)
		ops := []Op{Put(k, v)}
		if i > 10 { // churn, so that compactions have work
			ops = append(ops, Delete(fmt.Sprintf("churn%d", i-10)), Put(fmt.Sprintf("churn%d", i), v))
		}
		if _, err := s.Commit(bg, Txn{Ops: ops}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("acked %s\n", k)
	}
}

// TestDiskFull: on a full filesystem a commit fails with ENOSPC, an error
// naming the file; the store (in memory and on disk) is as before, a
// partial record is cut off, and once there is room again commits succeed.
func TestDiskFull(t *testing.T) {
	dir := diskfault.Tmpfs(t, 1<<20)
	s := openLog(t, dir, 1<<30)
	mustCommit(t, s, Put("a", []byte("1")))
	want := content(t, s)
	size := s.size
	free := diskfault.Fill(t, dir, 8<<10) // room for part of the record
	_, err := s.Commit(bg, Txn{Ops: []Op{Put("b", bytes.Repeat([]byte("2"), 64<<10))}})
	path := filepath.Join(dir, LogFile)
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), path) {
		t.Fatalf("commit on a full disk: %v, want ENOSPC naming %s", err, path)
	}
	if got := content(t, s); got != want {
		t.Errorf("after the failed commit the store holds %s, want %s", got, want)
	}
	if fi, _ := os.Stat(path); fi.Size() != size {
		t.Errorf("log is %d bytes after the failed commit, want %d (the partial record cut off)", fi.Size(), size)
	}
	free()
	mustCommit(t, s, Put("c", []byte("3")))
	s.Close()
	s = openLog(t, dir, 1<<30)
	if got := content(t, s); got != "rev 2: a=1@1/1 c=3@2/2" {
		t.Errorf("after reopening: %s", got)
	}
}

// TestReadOnlyDisk: when the filesystem turns read-only under the open log
// (ext4 after an I/O error), a commit fails with EROFS naming the file and
// changes nothing; after the filesystem is repaired and mounted again, the
// store holds what it held before.
func TestReadOnlyDisk(t *testing.T) {
	fsys := diskfault.NewExt4(t)
	dir := filepath.Join(fsys.Dir, "state")
	s := openLog(t, dir, 1<<30)
	mustCommit(t, s, Put("a", []byte("1")))
	want := content(t, s)
	fsys.Fail(t)
	_, err := s.Commit(bg, Txn{Ops: []Op{Put("b", []byte("2"))}})
	path := filepath.Join(dir, LogFile)
	if !errors.Is(err, syscall.EROFS) || !strings.Contains(err.Error(), path) {
		t.Fatalf("commit on a read-only disk: %v, want EROFS naming %s", err, path)
	}
	if got := content(t, s); got != want {
		t.Errorf("after the failed commit the store holds %s, want %s", got, want)
	}
	s.Close()
	fsys.Remount(t)
	s = openLog(t, dir, 1<<30)
	if got := content(t, s); got != want {
		t.Errorf("after remounting: %s, want %s", got, want)
	}
	mustCommit(t, s, Put("c", []byte("3")))
}

// TestRemovedLog: a log deleted from its directory under the running store
// takes no more commits (a restart would not find them).
func TestRemovedLog(t *testing.T) {
	dir := t.TempDir()
	s := openLog(t, dir, 0)
	mustCommit(t, s, Put("a", []byte("1")))
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(bg, Txn{Ops: []Op{Put("b", []byte("2"))}}); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("commit to a removed log: %v, want ENOENT", err)
	}
}

// TestHeaderCutShort: a log that has only part of its header (a crash as
// it was first created, before any record) opens as an empty store; one
// with a header that is not lbd's is refused.
func TestHeaderCutShort(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, LogFile)
	for _, n := range []int{0, 5} {
		os.WriteFile(path, logMagic[:n], 0o600)
		s := openLog(t, dir, 0)
		mustCommit(t, s, Put("a", []byte("1")))
		s.Close()
		s = openLog(t, dir, 0)
		if got := content(t, s); got != "rev 1: a=1@1/1" {
			t.Errorf("header cut at %d: after a commit and a reopen: %s", n, got)
		}
		s.Close()
	}
	os.WriteFile(path, []byte("{\"version\":1}\n...."), 0o600)
	if _, err := Open(dir, LogOptions{}); err == nil || !strings.Contains(err.Error(), "not an lbd state log") {
		t.Errorf("Open of a file that is not a log: %v", err)
	}
}
