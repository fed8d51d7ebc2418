package statestore

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// The log's record payloads, written and read (log.go has the format).

// writer builds a record's payload.
type writer struct{ b []byte }

func (w *writer) byte(c byte)      { w.b = append(w.b, c) }
func (w *writer) uvarint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *writer) string(s string)  { w.uvarint(uint64(len(s))); w.b = append(w.b, s...) }
func (w *writer) bytes(p []byte)   { w.uvarint(uint64(len(p))); w.b = append(w.b, p...) }
func (w *writer) kv(kv *KV) {
	w.string(kv.Key)
	w.uvarint(uint64(kv.CreateRev))
	w.uvarint(uint64(kv.ModRev))
	w.bytes(kv.Value)
}

// record frames the payload: length, checksum, payload.
func (w *writer) record() []byte {
	rec := make([]byte, 8, 8+len(w.b))
	binary.LittleEndian.PutUint32(rec, uint32(len(w.b)))
	binary.LittleEndian.PutUint32(rec[4:], crc32.Checksum(w.b, castagnoli))
	return append(rec, w.b...)
}

// reader decodes a payload; the first error sticks and makes every later
// read return zero values.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = errors.New("record cut short")
	}
	r.b = nil
}

func (r *reader) byte() byte {
	if len(r.b) < 1 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if uint64(len(r.b)) < n {
		r.fail()
		return nil
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) string() string { return string(r.bytes()) }
