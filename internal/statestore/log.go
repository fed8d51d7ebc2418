package statestore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
)

// LogFile is the name of the embedded store's file under its directory.
const LogFile = "state.log"

// The log is a header, then records. A record is its payload's length and
// CRC-32C (4 bytes each, little-endian) and the payload: the transaction's
// revision and its operations, each a kind byte, the key, and for a put the
// key's create and mod revisions and the value (integers as uvarints,
// strings as a uvarint length and the bytes). A compacted log holds the
// same records, putting every live key with its revisions.
var logMagic = []byte("lbd state log 1\n")

const (
	opPut    = 1
	opDelete = 2
	// maxRecord bounds a record's length when reading, so that a length
	// field of garbage is not taken for a huge allocation.
	maxRecord = 1 << 30
	// compactChunk is the payload size a compaction writes per record.
	compactChunk = 4 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// LogOptions tune the embedded store.
type LogOptions struct {
	// Log receives what the store repaired or could not do in the
	// background (a compaction that failed). Default: discard.
	Log *slog.Logger
	// CompactMin is the least size the log grows to before it is
	// compacted. Default 4 MiB. The log is compacted when it is larger
	// than CompactMin and twice the state it holds, so compaction costs
	// O(1) amortized per byte changed.
	CompactMin int64
	// Background runs a compaction and returns when it is done; it is
	// called on a goroutine of its own (lbd runs compactions at low
	// priority: internal/lowprio). Default: that goroutine runs it.
	Background func(func())
}

// logStore is the embedded store: an append-only log, one record per
// committed transaction, made durable by fdatasync before Commit returns,
// and rewritten with only the live keys (compacted) when it has grown past
// twice their size. The live keys are kept in memory too, so that
// conditions are checked and compactions written without reading the file.
type logStore struct {
	path string
	log  *slog.Logger
	min  int64
	// background runs compactions (LogOptions.Background).
	background func(func())

	mu  sync.Mutex
	dir *os.File // held with an exclusive flock: one process per directory
	f   *os.File // nil once closed
	// size is the end of the last good record; bytes past it (left by a
	// failed append) are cut before the next append (dirty).
	size  int64
	dirty bool
	rev   int64
	kvs   map[string]*KV
	live  int64 // bytes of the live keys and values
	// compactAt is the size at which the next compaction starts.
	compactAt int64
	// since collects the records appended while a compaction runs; nil
	// when none does.
	since [][]byte
	wg    sync.WaitGroup // the compaction running
	// compactHook, when set (by tests), runs between a compaction's
	// writing the live keys and its taking the lock to finish.
	compactHook func()
}

// Open opens the embedded store in dir, creating the directory and the log
// if needed. It replays the log; a record cut short at the end of the file
// (a crash in the middle of an append, never acknowledged) is dropped, but
// a damaged record before the end is an error, naming the file and the
// offset: the store does not guess around lost data. Only one process may
// have a directory open.
func Open(dir string, o LogOptions) (Store, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.CompactMin <= 0 {
		o.CompactMin = 4 << 20
	}
	if o.Background == nil {
		o.Background = func(f func()) { f() }
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	if err := syscall.Flock(int(d.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		d.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("state directory %s is in use by another process", dir)
		}
		return nil, fmt.Errorf("lock state directory %s: %w", dir, err)
	}
	s := &logStore{path: filepath.Join(dir, LogFile), log: o.Log, min: o.CompactMin, background: o.Background, dir: d, kvs: map[string]*KV{}}
	if err := s.open(); err != nil {
		d.Close()
		return nil, err
	}
	return s, nil
}

// open reads the log (creating it if missing) and leaves s.f ready for
// appends.
func (s *logStore) open() error {
	_ = os.Remove(s.path + ".compact") // a compaction cut short by a crash
	f, err := os.OpenFile(s.path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return s.fresh()
	}
	if err != nil {
		return fmt.Errorf("open state: %w", err)
	}
	data, err := readAll(f)
	if err != nil {
		f.Close()
		return fmt.Errorf("read state: %w", err)
	}
	if len(data) < len(logMagic) && bytes.HasPrefix(logMagic, data) {
		// A crash while the log was first written: it never held a record.
		f.Close()
		s.log.Warn("state log has only part of its header (a crash while it was created); starting it again", "file", s.path)
		return s.fresh()
	}
	good, err := s.replay(data)
	if err != nil {
		f.Close()
		return err
	}
	if good < int64(len(data)) {
		s.log.Warn("state log ends with a record cut short (a crash while it was written, never acknowledged); dropping it",
			"file", s.path, "offset", good, "bytes", int64(len(data))-good)
		if err := f.Truncate(good); err != nil {
			f.Close()
			return fmt.Errorf("repair state: %w", err)
		}
		if err := fdatasync(f); err != nil {
			f.Close()
			return err
		}
	}
	s.f, s.size = f, good
	s.compactAt = max(s.min, 2*s.live)
	if s.size > s.compactAt {
		s.startCompaction()
	}
	return nil
}

// fresh creates an empty log.
func (s *logStore) fresh() error {
	f, err := s.create(s.path, nil)
	if err != nil {
		return err
	}
	if err := s.syncDir(); err != nil {
		f.Close()
		return err
	}
	s.f, s.size = f, int64(len(logMagic))
	s.compactAt = s.min
	return nil
}

func readAll(f *os.File) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	data := make([]byte, fi.Size())
	n, err := f.ReadAt(data, 0)
	if err != nil && n != len(data) {
		return nil, err
	}
	return data, nil
}

// replay applies the records of data and returns the end of the last good
// one.
func (s *logStore) replay(data []byte) (int64, error) {
	if !bytes.HasPrefix(data, logMagic) {
		return 0, fmt.Errorf("state %s: not an lbd state log (bad header)", s.path)
	}
	off := len(logMagic)
	for off < len(data) {
		if len(data)-off < 8 {
			return int64(off), nil // length and checksum cut short
		}
		n := int(binary.LittleEndian.Uint32(data[off:]))
		sum := binary.LittleEndian.Uint32(data[off+4:])
		end := off + 8 + n
		if n == 0 || n > maxRecord || end > len(data) {
			return int64(off), nil // cut short
		}
		payload := data[off+8 : end]
		if crc32.Checksum(payload, castagnoli) != sum {
			if end == len(data) {
				return int64(off), nil // the last record, torn
			}
			return 0, fmt.Errorf("state %s: record at offset %d is damaged (checksum mismatch) and is not the last one: "+
				"the state cannot be read without losing changes; restore the file from a backup", s.path, off)
		}
		if err := s.apply(payload); err != nil {
			return 0, fmt.Errorf("state %s: record at offset %d: %w", s.path, off, err)
		}
		off = end
	}
	return int64(off), nil
}

// apply decodes a record's payload into the in-memory keys.
func (s *logStore) apply(p []byte) error {
	rd := reader{b: p}
	rev := rd.uvarint()
	n := rd.uvarint()
	for range n {
		kind := rd.byte()
		key := rd.string()
		switch kind {
		case opPut:
			kv := &KV{Key: key}
			kv.CreateRev = int64(rd.uvarint())
			kv.ModRev = int64(rd.uvarint())
			kv.Value = bytes.Clone(rd.bytes())
			s.put(kv)
		case opDelete:
			s.del(key)
		default:
			if rd.err == nil {
				rd.err = fmt.Errorf("unknown operation %d", kind)
			}
		}
	}
	if rd.err == nil && len(rd.b) != 0 {
		rd.err = errors.New("trailing bytes")
	}
	if rd.err != nil {
		return rd.err
	}
	s.rev = max(s.rev, int64(rev))
	return nil
}

func (s *logStore) put(kv *KV) {
	if old := s.kvs[kv.Key]; old != nil {
		s.live -= int64(len(old.Key) + len(old.Value))
	}
	s.kvs[kv.Key] = kv
	s.live += int64(len(kv.Key) + len(kv.Value))
}

func (s *logStore) del(key string) {
	if old := s.kvs[key]; old != nil {
		s.live -= int64(len(old.Key) + len(old.Value))
		delete(s.kvs, key)
	}
}

func (s *logStore) Load(ctx context.Context) (Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return Snapshot{}, errClosed
	}
	snap := Snapshot{Rev: s.rev, KVs: make([]KV, 0, len(s.kvs))}
	for _, kv := range s.kvs {
		snap.KVs = append(snap.KVs, *kv)
	}
	sortKVs(snap.KVs)
	return snap, nil
}

// sortKVs orders keys as Snapshot documents.
func sortKVs(kvs []KV) {
	slices.SortFunc(kvs, func(a, b KV) int {
		if a.CreateRev != b.CreateRev {
			return int(a.CreateRev - b.CreateRev)
		}
		return strings.Compare(a.Key, b.Key)
	})
}

var errClosed = errors.New("state store is closed")

func (s *logStore) Commit(ctx context.Context, txn Txn) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return 0, errClosed
	}
	if err := checkConds(txn.If, func(k string) int64 {
		if kv := s.kvs[k]; kv != nil {
			return kv.ModRev
		}
		return 0
	}); err != nil {
		return 0, err
	}
	rev := s.rev + 1
	// The keys as they will be, in the order of the operations (a key
	// put twice takes the last value).
	next := make([]*KV, len(txn.Ops))
	created := map[string]int64{}
	for i, op := range txn.Ops {
		if op.Delete {
			continue
		}
		c, ok := created[op.Key]
		if !ok {
			c = rev
			if old := s.kvs[op.Key]; old != nil {
				c = old.CreateRev
			}
			created[op.Key] = c
		}
		next[i] = &KV{Key: op.Key, Value: op.Value, CreateRev: c, ModRev: rev}
	}
	var w writer
	w.uvarint(uint64(rev))
	w.uvarint(uint64(len(txn.Ops)))
	for i, op := range txn.Ops {
		if op.Delete {
			w.byte(opDelete)
			w.string(op.Key)
			continue
		}
		w.byte(opPut)
		w.kv(next[i])
	}
	rec := w.record()
	if err := s.append(rec); err != nil {
		return 0, err
	}
	s.rev = rev
	for i, op := range txn.Ops {
		if op.Delete {
			s.del(op.Key)
		} else {
			kv := *next[i]
			kv.Value = bytes.Clone(kv.Value) // the caller may reuse its buffer
			s.put(&kv)
		}
	}
	if s.since != nil {
		s.since = append(s.since, rec)
	}
	if s.size > s.compactAt {
		s.startCompaction()
	}
	return rev, nil
}

// checkConds returns a *ConflictError for the first condition that does
// not hold; modRev gives a key's mod revision, 0 if it does not exist.
func checkConds(conds []Cond, modRev func(string) int64) error {
	for _, c := range conds {
		if have := modRev(c.Key); have != c.ModRev {
			return &ConflictError{Key: c.Key, Want: c.ModRev, Have: have}
		}
	}
	return nil
}

// append writes rec at the end of the log and waits until it is on disk.
// On error the log is cut back to where it was; if even that fails, the
// next append tries again first, so that a record is never written after
// a torn one.
func (s *logStore) append(rec []byte) error {
	// A log removed from its directory (the directory deleted under a
	// running lbd) would take appends that no restart finds.
	var st syscall.Stat_t
	if err := syscall.Fstat(int(s.f.Fd()), &st); err != nil {
		return &fs.PathError{Op: "fstat", Path: s.path, Err: err}
	}
	if st.Nlink == 0 {
		return &fs.PathError{Op: "write", Path: s.path, Err: syscall.ENOENT}
	}
	if s.dirty {
		if err := s.f.Truncate(s.size); err != nil {
			return fmt.Errorf("state log has a failed write at its end that cannot be cut: %w", err)
		}
		s.dirty = false
	}
	_, err := s.f.WriteAt(rec, s.size)
	if err == nil {
		err = fdatasync(s.f)
	}
	if err != nil {
		s.dirty = true
		if terr := s.f.Truncate(s.size); terr == nil {
			s.dirty = false
		}
		return err
	}
	s.size += int64(len(rec))
	return nil
}

// Close waits for a compaction running to stop, then closes the log.
func (s *logStore) Close() error {
	s.mu.Lock()
	if s.f == nil {
		s.mu.Unlock()
		return nil
	}
	err := s.f.Close()
	s.f = nil
	s.mu.Unlock()
	s.wg.Wait()
	s.dir.Close() // releases the lock
	return err
}
