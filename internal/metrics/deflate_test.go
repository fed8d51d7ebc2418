package metrics

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// inflate decompresses raw deflate data that ends with lineDeflater.end
// (no final block): a final empty block is added.
func inflate(t testing.TB, data []byte) []byte {
	t.Helper()
	r := flate.NewReader(bytes.NewReader(append(bytes.Clone(data), 3, 0)))
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("inflate: %v", err)
	}
	return out
}

// deflateTexts are texts of every shape lineDeflater meets, and some it
// should not.
func deflateTexts() map[string][]byte {
	texts := map[string][]byte{
		"empty":      nil,
		"one byte":   []byte("x"),
		"no newline": []byte("octavia_member_weight{member=\"a\"} 1"),
		"newlines":   []byte("\n\n\n\n\n\n\n\n\n\n"),
		"same line":  bytes.Repeat([]byte("octavia_member_weight{member=\"a\",pool=\"p\"} 1\n"), 1000),
		"long line":  bytes.Repeat([]byte("abcdefgh"), 10000),
		"long lines": bytes.Repeat(append(bytes.Repeat([]byte("0123456789abcdef"), 3000), '\n'), 3),
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var all []byte
	for range 1 << 16 {
		all = append(all, byte(rng.IntN(256)))
	}
	texts["random bytes"] = all
	var few []byte
	for range 1 << 16 {
		few = append(few, "ab\n"[rng.IntN(3)])
	}
	texts["three bytes"] = few
	var ex strings.Builder
	pool := "88e1d7de-6a09-53d7-a339-70b76ae3645f:7615adb9-ac05-5c32-a3fb-7647bc2ba59e"
	for _, f := range []string{"octavia_member_bytes_in_total", "octavia_member_status"} {
		for m := range 500 {
			id := fmt.Sprintf("%08x-%04x-5%03x-%04x-%012x", rng.Uint32(), m, rng.IntN(4096), rng.IntN(1<<16), rng.Uint64()>>16)
			if m%50 == 7 {
				id += "-longer"
			}
			if strings.HasSuffix(f, "status") {
				for _, s := range []string{"UP", "DOWN", "MAINT"} {
					fmt.Fprintf(&ex, "%s{member=%q,pool=%q,state=%q} %d\n", f, id, pool, s, rng.IntN(2))
				}
				continue
			}
			fmt.Fprintf(&ex, "%s{member=%q,pool=%q} %d\n", f, id, pool, rng.Uint64()>>rng.IntN(64))
			fmt.Fprintf(&ex, "%s_sum{member=%q,pool=%q} %g\n", f, id, pool, rng.Float64()*1e4)
			fmt.Fprintf(&ex, "%s_count{member=%q,pool=%q} %d\n", f, id, pool, rng.IntN(1e6))
		}
	}
	texts["exposition"] = []byte(ex.String())
	return texts
}

// TestLineDeflater: whatever the text, what lineDeflater writes inflates
// back to it, in one write, in several writes to one block and in one
// block each.
func TestLineDeflater(t *testing.T) {
	for name, text := range deflateTexts() {
		t.Run(name, func(t *testing.T) {
			var d lineDeflater
			d.write(text)
			d.end()
			if got := inflate(t, d.out); !bytes.Equal(got, text) {
				t.Fatalf("one write: %d bytes back, want %d; differ at %d", len(got), len(text), diffAt(got, text))
			}
			d.out = d.out[:0]
			for _, cut := range [][2]int{{0, len(text) / 3}, {len(text) / 3, len(text) / 2}, {len(text) / 2, len(text)}} {
				d.write(text[cut[0]:cut[1]])
			}
			d.end()
			if got := inflate(t, d.out); !bytes.Equal(got, text) {
				t.Fatalf("three writes: differ at %d", diffAt(got, text))
			}
			d.out = d.out[:0]
			for _, cut := range [][2]int{{0, len(text) / 3}, {len(text) / 3, len(text)}} {
				d.write(text[cut[0]:cut[1]])
				d.end()
			}
			if got := inflate(t, d.out); !bytes.Equal(got, text) {
				t.Fatalf("two blocks: differ at %d", diffAt(got, text))
			}
		})
	}
}

func diffAt(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// BenchmarkDeflate compresses exposition-like text with lineDeflater and
// with compress/flate at BestSpeed, in blocks of 64 members as a gzip
// scrape does.
//
//	go test -run '^$' -bench Deflate ./internal/metrics/
func BenchmarkDeflate(b *testing.B) {
	text := deflateTexts()["exposition"]
	b.Run("lineDeflater", func(b *testing.B) {
		var d lineDeflater
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			d.out = d.out[:0]
			d.write(text)
			d.end()
		}
		b.ReportMetric(float64(len(d.out))/float64(len(text)), "ratio")
	})
	b.Run("flate", func(b *testing.B) {
		var out bytes.Buffer
		fw, _ := flate.NewWriter(&out, flate.BestSpeed)
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			out.Reset()
			fw.Reset(&out)
			fw.Write(text)
			fw.Flush()
		}
		b.ReportMetric(float64(out.Len())/float64(len(text)), "ratio")
	})
}
