package metrics

import (
	"fmt"
	"hash/crc32"
	"testing"
	"time"

	"lbd/internal/stats"
)

// TestMemberLinesAreCodedAsWritten: in a gzip scrape, each family of a
// block's members (but the info family, which has no member labels of
// its own to code) is compressed as its lines are written: once the block
// is written, its chunk is made and its text gone from the buffer. Each
// chunk inflates to the text a plain scrape writes, with its CRC, for
// members whose IDs differ in length and values that repeat or not.
func TestMemberLinesAreCodedAsWritten(t *testing.T) {
	views := make([]memberView, 64)
	for i := range views {
		v := &views[i]
		v.id = fmt.Sprintf("%08x-0000-4000-8000-%012d", i*7919, i)
		if i%9 == 4 {
			v.id += "-x" // another length
		}
		v.name, v.address, v.port = fmt.Sprintf("m%d", i), "127.0.0.1", 20000+i
		v.http, v.monitor, v.health = true, true, true
		v.status = memberStates[i%len(memberStates)]
		v.weight = 1 + i%3
		v.n.sessions, v.n.bytesIn, v.n.picks = uint64(i*i), uint64(1000+i%5), 7
		for k := range v.n.responses {
			v.n.responses[k] = uint64(i % (k + 2))
		}
		v.checksFailed, v.ejections, v.idle = uint64(i%4), 1, i%2
		var h stats.Histogram
		h.Observe(time.Duration(100+i*37) * time.Microsecond)
		v.connect = viewHistogram(&h)
		h.Observe(time.Duration(i) * time.Millisecond)
		v.response = viewHistogram(&h)
	}
	const label = "pool:listener"
	for _, buckets := range []bool{false, true} {
		c := &collector{memberBuckets: buckets}
		plain := newExposition(lbdFamilies)
		c.writeMembers(plain, label, views, nil, nil)

		gz := newExposition(lbdFamilies)
		gz.cache = &blockCache{}
		gz.mark()
		b := &cachedBlock{views: views, chunks: make([]*chunk, len(lbdFamilies.families))}
		c.writeMembers(gz, label, views, nil, b)
		for _, s := range memberSeries {
			i := s.f.id
			coded := b.chunks[i] != nil
			if want := s.f != lbdMemberInfo; coded != want {
				t.Fatalf("buckets %v: %s coded as written: %v, want %v", buckets, s.f.name, coded, want)
			}
			if coded && len(gz.samples[i]) != 0 {
				t.Fatalf("buckets %v: %s: %d bytes of text left after its chunk", buckets, s.f.name, len(gz.samples[i]))
			}
		}
		gz.keep(b.chunks)
		for _, s := range memberSeries {
			i := s.f.id
			text := plain.samples[i]
			ch := b.chunks[i]
			if ch == nil {
				t.Fatalf("buckets %v: %s has no chunk", buckets, s.f.name)
			}
			if got := inflate(t, ch.deflate); string(got) != string(text) {
				t.Fatalf("buckets %v: %s inflates to\n%s\nwant\n%s", buckets, s.f.name, got, text)
			}
			if ch.crc != crc32.ChecksumIEEE(text) || ch.n != len(text) {
				t.Fatalf("buckets %v: %s: CRC %08x length %d, want %08x %d", buckets, s.f.name, ch.crc, ch.n, crc32.ChecksumIEEE(text), len(text))
			}
		}
	}
}
