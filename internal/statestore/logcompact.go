package statestore

import (
	"fmt"
	"os"
	"slices"
)

// startCompaction rewrites the log with only the live keys, in the
// background: a copy of the keys (their values are immutable) is written to
// a new file while commits go on appending to the log; then, under the
// lock, the records appended meanwhile are copied after it, and the new
// file is synced and renamed over the log. No commit waits for more than
// that last step, so none costs O(state). A failure is logged and leaves
// the old log in use; the next attempt waits until it has grown by half
// again. Called with s.mu held.
func (s *logStore) startCompaction() {
	if s.since != nil {
		return // one at a time
	}
	kvs := make([]KV, 0, len(s.kvs))
	for _, kv := range s.kvs {
		kvs = append(kvs, *kv)
	}
	s.since = [][]byte{}
	s.wg.Add(1)
	rev := s.rev
	go s.background(func() { s.compact(kvs, rev) })
}

func (s *logStore) compact(kvs []KV, rev int64) {
	defer s.wg.Done()
	sortKVs(kvs)
	var recs [][]byte
	for len(kvs) > 0 {
		// Count first, so the record's header precedes its operations.
		size, n := 0, 0
		for n < len(kvs) && size < compactChunk {
			size += len(kvs[n].Key) + len(kvs[n].Value) + 32
			n++
		}
		var w writer
		w.uvarint(uint64(rev))
		w.uvarint(uint64(n))
		for i := range n {
			w.byte(opPut)
			w.kv(&kvs[i])
		}
		recs = append(recs, w.record())
		kvs = kvs[n:]
	}
	if len(recs) == 0 { // an empty state still records its revision
		var w writer
		w.uvarint(uint64(rev))
		w.uvarint(0)
		recs = append(recs, w.record())
	}
	tmp := s.path + ".compact"
	f, err := s.create(tmp, recs)
	if s.compactHook != nil {
		s.compactHook()
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	since := s.since
	s.since = nil
	if s.f == nil { // closed meanwhile
		if f != nil {
			f.Close()
		}
		os.Remove(tmp)
		return
	}
	size := int64(len(logMagic))
	for _, r := range recs {
		size += int64(len(r))
	}
	if err == nil && len(since) > 0 {
		tail := slices.Concat(since...)
		if _, err = f.WriteAt(tail, size); err == nil {
			err = fdatasync(f)
		}
		size += int64(len(tail))
	}
	if err == nil {
		if err = os.Rename(tmp, s.path); err != nil {
			err = fmt.Errorf("replace state: %w", err)
		}
	}
	if err != nil {
		if f != nil {
			f.Close()
		}
		os.Remove(tmp)
		s.compactAt = s.size + s.size/2
		s.log.Error("state log compaction failed; the log stays as it is and grows", "file", s.path, "err", err.Error())
		return
	}
	s.f.Close()
	s.f, s.size, s.dirty = f, size, false
	if err := s.syncDir(); err != nil {
		// The compacted log is in use; if the rename is lost in a power
		// cut, the old log comes back, without what was appended since.
		s.log.Error("state log compacted but its directory could not be synced", "file", s.path, "err", err.Error())
	}
	s.compactAt = max(s.min, 2*s.size)
}

// create writes a new log at path holding recs, synced, and returns it open
// for appends.
func (s *logStore) create(path string, recs [][]byte) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create state: %w", err)
	}
	buf := slices.Concat(append([][]byte{logMagic}, recs...)...)
	if _, err := f.Write(buf); err != nil {
		f.Close()
		return nil, err
	}
	if err := fdatasync(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func (s *logStore) syncDir() error {
	if err := s.dir.Sync(); err != nil {
		return fmt.Errorf("sync state directory: %w", err)
	}
	return nil
}
