package cloud

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRetryTransport(t *testing.T) {
	var calls atomic.Int32
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		if r.URL.Path == "/always" || n < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	client := &http.Client{Transport: &retryTransport{next: http.DefaultTransport, tries: 4, pause: time.Millisecond, log: slog.New(slog.DiscardHandler)}}

	tests := []struct {
		name, method, path, body string
		wantStatus               int
		wantCalls                int32
	}{
		{"GET succeeds on the third try", http.MethodGet, "/", "", 200, 3},
		{"PUT is resent with its body", http.MethodPut, "/", `{"member":{"weight":3}}`, 200, 3},
		{"POST is never repeated", http.MethodPost, "/", `{"x":1}`, 503, 1},
		{"the bound holds", http.MethodDelete, "/always", "", 503, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls.Store(0)
			mu.Lock()
			bodies = nil
			mu.Unlock()
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus || calls.Load() != tt.wantCalls {
				t.Errorf("status %d after %d calls; want %d after %d", resp.StatusCode, calls.Load(), tt.wantStatus, tt.wantCalls)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, b := range bodies {
				if b != tt.body {
					t.Errorf("a try sent body %q, want %q", b, tt.body)
				}
			}
		})
	}
}
