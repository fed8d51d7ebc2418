package stick

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

func key(s string) Key { return KeyOf([]byte(s)) }

func TestGetPut(t *testing.T) {
	tab := New(100, 0)
	if _, ok := tab.Get(key("a")); ok {
		t.Fatal("empty table has a")
	}
	tab.Put(key("a"), "m1")
	tab.Put(key("b"), "m2")
	tab.Put(key("a"), "m3")
	if m, ok := tab.Get(key("a")); !ok || m != "m3" {
		t.Errorf("a = %q %v, want m3", m, ok)
	}
	if m, ok := tab.Get(key("b")); !ok || m != "m2" {
		t.Errorf("b = %q %v, want m2", m, ok)
	}
	if tab.Len() != 2 {
		t.Errorf("len %d, want 2", tab.Len())
	}
	long := make([]byte, 100)
	for i := range long {
		long[i] = byte('a' + i%26)
	}
	tab.Put(KeyOf(long), "m4")
	if m, ok := tab.Get(KeyOf(long[:64])); !ok || m != "m4" {
		t.Errorf("a key is its first 64 bytes: %q %v", m, ok)
	}
}

// TestLRU: a full table evicts what was used least recently, a Get
// counting as a use.
func TestLRU(t *testing.T) {
	tab := New(shards*4, 0) // 4 per shard
	// Keys that land in one shard.
	var same []Key
	target := tab.shard(new(key("seed")))
	for i := 0; len(same) < 6; i++ {
		k := key(fmt.Sprint("k", i))
		if tab.shard(&k) == target {
			same = append(same, k)
		}
	}
	for i, k := range same[:4] {
		tab.Put(k, fmt.Sprint("m", i))
	}
	tab.Get(same[0]) // same[1] is now the least recently used
	tab.Put(same[4], "m4")
	if _, ok := tab.Get(same[1]); ok {
		t.Error("the least recently used entry was kept")
	}
	for _, i := range []int{0, 2, 3, 4} {
		if _, ok := tab.Get(same[i]); !ok {
			t.Errorf("entry %d was evicted", i)
		}
	}
	// same[0] was used last by the loop's first Get... then 2, 3, 4: 0 is LRU now.
	tab.Put(same[5], "m5")
	if _, ok := tab.Get(same[0]); ok {
		t.Error("entry 0 should have been evicted")
	}
}

func TestExpiry(t *testing.T) {
	tab := New(10, time.Minute)
	now := time.Unix(1000, 0)
	tab.now = func() time.Time { return now }
	tab.Put(key("a"), "m1")
	now = now.Add(50 * time.Second)
	if _, ok := tab.Get(key("a")); !ok {
		t.Fatal("expired too early")
	}
	now = now.Add(50 * time.Second) // 50 s after the last use
	if _, ok := tab.Get(key("a")); !ok {
		t.Fatal("a use did not renew the entry")
	}
	now = now.Add(61 * time.Second)
	if _, ok := tab.Get(key("a")); ok {
		t.Fatal("entry outlived its expiry")
	}
	tab.Put(key("a"), "m2")
	if m, _ := tab.Get(key("a")); m != "m2" {
		t.Errorf("re-stored entry = %q", m)
	}
}

func TestNoAllocations(t *testing.T) {
	tab := New(1000, time.Hour)
	k := key("10.0.0.1")
	tab.Put(k, "m")
	if n := testing.AllocsPerRun(100, func() { tab.Get(k) }); n != 0 {
		t.Errorf("Get allocates %.1f", n)
	}
	i := 0
	keys := make([]Key, 2000)
	for j := range keys {
		keys[j] = key(fmt.Sprint("client-", j))
	}
	if n := testing.AllocsPerRun(1000, func() { tab.Put(keys[i%len(keys)], "m"); i++ }); n != 0 {
		t.Errorf("Put allocates %.1f (the table is preallocated)", n)
	}
}

// TestMemoryPerEntry measures what a full table costs per entry and
// checks it stays bounded; the figure is in docs/data-plane.md.
func TestMemoryPerEntry(t *testing.T) {
	const n = 100000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	tab := New(n, time.Hour)
	for i := range n {
		tab.Put(key(fmt.Sprintf("198.51.%d.%d", i/256, i%256)), "member")
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("%.0f bytes per entry (%d entries)", per, tab.Len())
	if per > 400 {
		t.Errorf("%.0f bytes per entry", per)
	}
	runtime.KeepAlive(tab)
}

func BenchmarkGet(b *testing.B) {
	tab := New(10000, time.Hour)
	for i := range 10000 {
		tab.Put(key(fmt.Sprint("c", i)), "m")
	}
	k := key("c42")
	b.ReportAllocs()
	for range b.N {
		tab.Get(k)
	}
}
