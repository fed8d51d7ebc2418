package cloud

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"
)

// retryTransport retries, a few times with a short back-off, requests that
// are safe to repeat (GET, HEAD, PUT, DELETE: idempotent by HTTP's rules)
// when the answer is a 5xx or the connection failed. A cloud's API
// workers answer 502/503 while they restart behind their proxy, and a
// database deadlock fails one request and not the next; neither should stop
// a run that waits minutes for a load balancer. POSTs are never repeated
// here: a create that failed after it took effect would be made twice (the
// callers that can tell, like security group rules, retry themselves).
type retryTransport struct {
	next  http.RoundTripper
	tries int
	pause time.Duration
	log   *slog.Logger
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete:
	default:
		return t.next.RoundTrip(req)
	}
	pause := t.pause
	for try := 1; ; try++ {
		resp, err := t.next.RoundTrip(req)
		transient := (err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)) ||
			(err == nil && resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented)
		if !transient || try >= t.tries || (req.Body != nil && req.GetBody == nil) {
			return resp, err
		}
		if resp != nil {
			resp.Body.Close()
			t.log.Debug("transient failure, retrying", "method", req.Method, "url", req.URL.Redacted(), "status", resp.StatusCode, "try", try)
		} else {
			t.log.Debug("transient failure, retrying", "method", req.Method, "url", req.URL.Redacted(), "err", err, "try", try)
		}
		timer := time.NewTimer(pause)
		select {
		case <-req.Context().Done():
			timer.Stop()
			return nil, req.Context().Err()
		case <-timer.C:
		}
		pause *= 2
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req = req.Clone(req.Context())
			req.Body = body
		}
	}
}
