package octavia

import (
	"os"
	"path/filepath"
	"testing"

	"lbd/internal/lbdtest/poolyaml"
)

// BenchmarkParse10k parses a configuration whose pool has 10,000 members:
// what a reload of such a file costs before the data plane applies it.
//
//	go test -run '^$' -bench Parse10k -benchmem ./internal/octavia/
func BenchmarkParse10k(b *testing.B) {
	data := bigPoolYAML(10000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("bench.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadFileForReload10k is BenchmarkParse10k as a reload reads the
// file: once, the check for an empty file included.
func BenchmarkLoadFileForReload10k(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.yaml")
	if err := os.WriteFile(path, bigPoolYAML(10000), 0o644); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LoadFileForReload(path); err != nil {
			b.Fatal(err)
		}
	}
}

// bigPoolYAML is a config whose one pool has n members.
func bigPoolYAML(n int) []byte {
	return poolyaml.Pool{Port: 8080, Fields: []string{"healthmonitor: {type: TCP, delay: 1, timeout: 1, max_retries: 3}"},
		Members: n, Member: poolyaml.Spread}.YAML()
}
