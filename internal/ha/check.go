package ha

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"
)

// CheckPath is where the admin server answers the VRRP check.
const CheckPath = "/healthz/vrrp"

// VRRPCheck is lbd's vrrp-check command, keepalived's check script: it
// asks the admin server at --admin-addr whether the ACTIVE_STANDBY
// listeners are up, and exits 0 if they are, 1 (saying why on stderr) if
// not or if lbd does not answer within --timeout.
func VRRPCheck(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("lbd vrrp-check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("admin-addr", "127.0.0.1:9102", "lbd's admin server")
	timeout := fs.Duration("timeout", 2*time.Second, "how long to wait for lbd")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+*addr+CheckPath, nil)
	if err != nil {
		fmt.Fprintln(stderr, "lbd vrrp-check:", err)
		return 2
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "lbd vrrp-check: lbd does not answer:", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "lbd vrrp-check: %s: %s", resp.Status, body)
		return 1
	}
	return 0
}
