// Package stick is lbd's stick table: which member a client, or an
// application's session, stays with. It is what the amphora's HAProxy
// keeps for SOURCE_IP persistence ("stick on src") and APP_COOKIE
// persistence ("stick store-response res.cook(<name>)", a string table of
// 64 bytes), with bounded memory: a capacity with least-recently-used
// eviction (HAProxy's "size", which Octavia sets to 10k) and entries that
// expire after a time without use.
//
// A table maps keys of up to 64 bytes to member IDs. Lookups and stores
// allocate nothing; the table is sharded, each shard behind its own mutex,
// with an intrusive LRU list over a preallocated array.
//
// It owns the table and nothing else: no member, pool or request. It must
// not import any lbd package.
package stick

import (
	"hash/maphash"
	"sync"
	"time"
)

// KeyLen is the longest key: longer ones are cut, as HAProxy's "type
// string len 64".
const KeyLen = 64

// Key is a table key: an address or the start of a cookie value.
type Key struct {
	n uint8
	b [KeyLen]byte
}

// KeyOf makes a key of b's first KeyLen bytes.
func KeyOf(b []byte) Key {
	var k Key
	k.n = uint8(copy(k.b[:], b))
	return k
}

const shards = 16

// Table is a stick table. The zero value is not usable: call New.
type Table struct {
	seed   maphash.Seed
	ttl    time.Duration
	now    func() time.Time
	shards [shards]shard
}

type shard struct {
	mu      sync.Mutex
	index   map[uint64]int32 // by the key's hash; the entry holds the key
	entries []entry
	head    int32 // most recently used; -1 when empty
	tail    int32 // least recently used
	max     int
}

type entry struct {
	key        Key
	hash       uint64
	member     string
	seen       int64 // unix nanoseconds of the last use
	prev, next int32
}

// New returns a table of at most capacity entries whose entries expire ttl
// after their last use (0: never).
func New(capacity int, ttl time.Duration) *Table {
	t := &Table{seed: maphash.MakeSeed(), ttl: ttl, now: time.Now}
	per := max(1, (capacity+shards-1)/shards)
	for i := range t.shards {
		s := &t.shards[i]
		s.index = make(map[uint64]int32, per)
		s.entries = make([]entry, 0, per)
		s.head, s.tail, s.max = -1, -1, per
	}
	return t
}

// locate hashes k: its shard, and its hash within the shard. Two keys with
// one 64-bit hash share an entry (the later Put takes it): at 10^5 keys
// that happens with odds of about 10^-9.
func (t *Table) locate(k *Key) (*shard, uint64) {
	h := maphash.Bytes(t.seed, k.b[:k.n])
	return &t.shards[h%shards], h
}

func (t *Table) shard(k *Key) *shard { s, _ := t.locate(k); return s }

// Get returns the member stored for k and marks the entry used; ok is
// false when there is none, or it expired.
func (t *Table) Get(k Key) (member string, ok bool) {
	s, h := t.locate(&k)
	now := t.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	i, found := s.index[h]
	if !found {
		return "", false
	}
	e := &s.entries[i]
	if e.key != k || (t.ttl > 0 && now-e.seen > int64(t.ttl)) {
		return "", false
	}
	e.seen = now
	s.toFront(i)
	return e.member, true
}

// Put stores member for k. When the table is full, the least recently
// used entry of k's shard makes room.
func (t *Table) Put(k Key, member string) {
	s, h := t.locate(&k)
	now := t.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, found := s.index[h]; found {
		e := &s.entries[i]
		e.key, e.member, e.seen = k, member, now
		s.toFront(i)
		return
	}
	var i int32
	if len(s.entries) < s.max {
		s.entries = append(s.entries, entry{prev: -1, next: -1})
		i = int32(len(s.entries) - 1)
	} else {
		i = s.tail // evict the least recently used
		s.unlink(i)
		delete(s.index, s.entries[i].hash)
	}
	s.entries[i] = entry{key: k, hash: h, member: member, seen: now, prev: -1, next: -1}
	s.index[h] = i
	s.pushFront(i)
}

// Len is the number of entries held, expired ones included until they are
// evicted or replaced.
func (t *Table) Len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += len(s.index)
		s.mu.Unlock()
	}
	return n
}

func (s *shard) unlink(i int32) {
	e := &s.entries[i]
	if e.prev >= 0 {
		s.entries[e.prev].next = e.next
	} else {
		s.head = e.next
	}
	if e.next >= 0 {
		s.entries[e.next].prev = e.prev
	} else {
		s.tail = e.prev
	}
	e.prev, e.next = -1, -1
}

func (s *shard) pushFront(i int32) {
	e := &s.entries[i]
	e.prev, e.next = -1, s.head
	if s.head >= 0 {
		s.entries[s.head].prev = i
	}
	s.head = i
	if s.tail < 0 {
		s.tail = i
	}
}

func (s *shard) toFront(i int32) {
	if s.head == i {
		return
	}
	s.unlink(i)
	s.pushFront(i)
}
