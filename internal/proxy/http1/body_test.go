package http1

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestChunkedReframesWithoutAllocating: re-framing a chunked body writes
// each chunk size in plain hex, and allocates nothing per chunk (a shared
// scratch buffer would be a race between an exchange's two copiers, a
// fresh one an allocation per chunk).
func TestChunkedReframesWithoutAllocating(t *testing.T) {
	const in = "1A;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n3\r\nabc\r\n0\r\n\r\n"
	var out bytes.Buffer
	src := strings.NewReader(in)
	br := bufio.NewReaderSize(src, 4096)
	bw := bufio.NewWriter(&out)
	bc := BodyCopier{Dst: bw, Src: br, ReadFail: errors.New("read"), WriteFail: errors.New("write")}
	if err := bc.Chunked(true); err != nil {
		t.Fatal(err)
	}
	bw.Flush()
	if want := "1a\r\nabcdefghijklmnopqrstuvwxyz\r\n3\r\nabc\r\n0\r\n\r\n"; out.String() != want {
		t.Fatalf("re-framed %q, want %q", out.String(), want)
	}
	allocs := testing.AllocsPerRun(100, func() {
		src.Reset(in)
		br.Reset(src)
		out.Reset()
		bw.Reset(&out)
		bc.Chunked(true)
		bw.Flush()
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per body, want 0", allocs)
	}
}
