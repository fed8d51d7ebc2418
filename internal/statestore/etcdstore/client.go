package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"

	"lbd/internal/statestore"
)

// Client is a connection to an etcd cluster under a key prefix. Its
// State, locks and instance records share the connection; Close ends it.
type Client struct {
	cli *clientv3.Client
	cfg Config
}

// Dial connects to the cluster and checks, within cfg.DialTimeout, that
// it answers (and accepts the credentials): a wrong address, certificate
// or password is an error here, not at the first change.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("etcd: no endpoint")
	}
	tlsCfg, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	scheme := "http://"
	if tlsCfg != nil {
		scheme = "https://"
	}
	eps := make([]string, len(cfg.Endpoints))
	for i, e := range cfg.Endpoints {
		eps[i] = scheme + e
	}
	dialOpts := []grpc.DialOption{
		// Reconnect within a second or two of etcd's return, not after
		// gRPC's default backoff of up to two minutes.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: 2 * time.Second,
		}),
	}
	if cfg.Dialer != nil {
		dialOpts = append(dialOpts, grpc.WithContextDialer(cfg.Dialer))
	}
	dctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   eps,
		DialTimeout: cfg.DialTimeout,
		// Pings find a silent server (a partition, not a reset) within
		// 15 s; etcd answers pings more often than every 5 s
		// (--grpc-keepalive-min-time) with "too many pings" and a GOAWAY.
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
		PermitWithoutStream:  true,
		TLS:                  tlsCfg,
		Username:             cfg.Username,
		Password:             cfg.Password,
		Logger:               zap.NewNop(),
		Context:              context.WithoutCancel(ctx),
		DialOptions:          dialOpts,
	})
	if err != nil {
		return nil, fmt.Errorf("etcd %s: %w", cfg.URL(), explain(err))
	}
	c := &Client{cli: cli, cfg: cfg}
	if _, err := cli.Get(dctx, cfg.Prefix, clientv3.WithCountOnly()); err != nil {
		cli.Close()
		return nil, fmt.Errorf("etcd %s: %w", cfg.URL(), c.wrap(err))
	}
	return c, nil
}

// Close ends the connection; the client's stores, locks and records may
// not be used afterwards.
func (c *Client) Close() error { return c.cli.Close() }

// Config is the client's configuration, defaults filled in.
func (c *Client) Config() Config { return c.cfg }

// String names the cluster and prefix, for logs and errors.
func (c *Client) String() string { return c.cfg.URL() }

// key is the etcd key of name under the prefix.
func (c *Client) key(name string) string { return c.cfg.Prefix + "/" + name }

// Available reports whether the connection is up: nil while it is
// connected (or idle, connecting on the next request), an error matching
// statestore.ErrUnavailable while it is failing.
func (c *Client) Available() error {
	switch s := c.cli.ActiveConnection().GetState(); s {
	case connectivity.TransientFailure, connectivity.Shutdown:
		return fmt.Errorf("%w: etcd %s is unreachable (connection %s)", statestore.ErrUnavailable,
			strings.Join(c.cfg.Endpoints, ","), strings.ToLower(s.String()))
	}
	return nil
}

// unreachable reports whether err says etcd could not be reached or did
// not answer in time.
func unreachable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	code := status.Code(err)
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		code = ee.Code()
	}
	switch code {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	return errors.Is(err, rpctypes.ErrNoLeader) || errors.Is(err, rpctypes.ErrTimeout) ||
		errors.Is(err, rpctypes.ErrTimeoutDueToConnectionLost) || errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail)
}

// wrap gives an etcd error its meaning for lbd: unreachable (matching
// statestore.ErrUnavailable), or what else it says, explained.
func (c *Client) wrap(err error) error {
	if unreachable(err) {
		return fmt.Errorf("%w: etcd %s did not answer within %s: %v", statestore.ErrUnavailable,
			strings.Join(c.cfg.Endpoints, ","), c.cfg.RequestTimeout, explain(err))
	}
	return explain(err)
}

// explain adds the fix to the errors an operator meets when setting lbd
// up against etcd.
func explain(err error) error {
	switch {
	case errors.Is(err, rpctypes.ErrAuthFailed):
		return fmt.Errorf("%w (check --etcd-user and the password)", err)
	case errors.Is(err, rpctypes.ErrPermissionDenied), errors.Is(err, rpctypes.ErrUserEmpty):
		return fmt.Errorf("%w (give the user a role with read-write access to the prefix, or set --etcd-user)", err)
	case errors.Is(err, rpctypes.ErrNoSpace):
		return fmt.Errorf("%w (etcd's database is full: compact and defragment it, or raise its --quota-backend-bytes)", err)
	}
	return err
}

// timeout is ctx bounded by the request timeout.
func (c *Client) timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.cfg.RequestTimeout)
}
