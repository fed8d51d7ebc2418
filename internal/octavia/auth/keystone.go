package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// KeystoneOptions configure token validation against Keystone with lbd's
// own service user, as keystonemiddleware's [keystone_authtoken] section
// does for an OpenStack service.
type KeystoneOptions struct {
	URL               string // identity v3 endpoint, e.g. http://127.0.0.1:5000/v3
	Username          string
	Password          string
	UserDomainName    string // default "Default"
	ProjectName       string // the service user's project
	ProjectDomainName string // default "Default"
	// CacheTTL bounds how long a validated token is trusted without asking
	// Keystone again (never beyond the token's expiry), so a revoked token
	// stops working within it. Default 5 minutes, keystonemiddleware's
	// token_cache_time.
	CacheTTL   time.Duration
	HTTPClient *http.Client // default: 10 s timeout
}

// Keystone validates user tokens with GET /v3/auth/tokens, authenticating
// itself with a service token it obtains (and renews) with its own
// credentials.
type Keystone struct {
	opts KeystoneOptions
	now  func() time.Time

	svcMu      sync.Mutex // serializes service token renewal
	svcToken   string
	svcExpires time.Time

	mu    sync.Mutex
	cache map[[sha256.Size]byte]cacheEntry
}

type cacheEntry struct {
	caller  *Caller // nil: the token was rejected
	expires time.Time
}

// maxCache bounds the token cache; past it, expired entries are dropped and,
// if that is not enough, the cache starts over.
const maxCache = 10000

// negativeTTL is how long a rejected token is remembered, so a client
// retrying a bad token does not turn every request into a Keystone call.
const negativeTTL = 10 * time.Second

// NewKeystone checks the options and returns a validator. It does not
// contact Keystone until the first request.
func NewKeystone(o KeystoneOptions) (*Keystone, error) {
	if o.URL == "" || o.Username == "" || o.Password == "" || o.ProjectName == "" {
		return nil, errors.New("keystone: url, username, password and project name are required")
	}
	o.URL = strings.TrimRight(o.URL, "/")
	if !strings.HasSuffix(o.URL, "/v3") {
		o.URL += "/v3"
	}
	if o.UserDomainName == "" {
		o.UserDomainName = "Default"
	}
	if o.ProjectDomainName == "" {
		o.ProjectDomainName = "Default"
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = 5 * time.Minute
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	return &Keystone{opts: o, now: time.Now, cache: map[[sha256.Size]byte]cacheEntry{}}, nil
}

// WWWAuthenticate is the header a 401 carries, pointing at Keystone.
func (k *Keystone) WWWAuthenticate() string {
	return fmt.Sprintf("Keystone uri=%q", strings.TrimSuffix(k.opts.URL, "/v3"))
}

// Authenticate implements Authenticator.
func (k *Keystone) Authenticate(ctx context.Context, r *http.Request) (*Caller, error) {
	tok := r.Header.Get("X-Auth-Token")
	if tok == "" {
		return nil, ErrInvalidToken
	}
	key := sha256.Sum256([]byte(tok))
	now := k.now()
	k.mu.Lock()
	e, ok := k.cache[key]
	k.mu.Unlock()
	if ok && now.Before(e.expires) {
		if e.caller == nil {
			return nil, ErrInvalidToken
		}
		return e.caller, nil
	}
	c, expires, err := k.validate(ctx, tok)
	if err != nil && !errors.Is(err, ErrInvalidToken) {
		return nil, err
	}
	if c == nil {
		expires = now.Add(negativeTTL)
	} else if limit := now.Add(k.opts.CacheTTL); expires.After(limit) {
		expires = limit
	}
	k.store(key, cacheEntry{caller: c, expires: expires}, now)
	if c == nil {
		return nil, ErrInvalidToken
	}
	return c, nil
}

func (k *Keystone) store(key [sha256.Size]byte, e cacheEntry, now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.cache) >= maxCache {
		for kk, old := range k.cache {
			if !now.Before(old.expires) {
				delete(k.cache, kk)
			}
		}
		if len(k.cache) >= maxCache {
			clear(k.cache)
		}
	}
	k.cache[key] = e
}

// tokenBody is the part of Keystone's token document lbd reads.
type tokenBody struct {
	Token struct {
		ExpiresAt time.Time `json:"expires_at"`
		User      struct {
			ID string `json:"id"`
		} `json:"user"`
		Project *struct {
			ID string `json:"id"`
		} `json:"project"`
		Roles []struct {
			Name string `json:"name"`
		} `json:"roles"`
	} `json:"token"`
}

// validate asks Keystone about a user token. A 404 (or 401 for the user
// token) means the token is not valid; a 401 for lbd's own token renews it
// once and retries.
func (k *Keystone) validate(ctx context.Context, userToken string) (*Caller, time.Time, error) {
	for attempt := 0; ; attempt++ {
		svc, err := k.serviceToken(ctx, attempt > 0)
		if err != nil {
			return nil, time.Time{}, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.opts.URL+"/auth/tokens", nil)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("keystone token request: %w", err)
		}
		req.Header.Set("X-Auth-Token", svc)
		req.Header.Set("X-Subject-Token", userToken)
		resp, err := k.opts.HTTPClient.Do(req)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("keystone token validation: %w", err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("keystone token validation: %w", err)
		}
		switch {
		case resp.StatusCode == http.StatusOK:
			var tb tokenBody
			if err := json.Unmarshal(body, &tb); err != nil {
				return nil, time.Time{}, fmt.Errorf("keystone token document: %w", err)
			}
			c := &Caller{UserID: tb.Token.User.ID, Token: userToken}
			if tb.Token.Project != nil {
				c.ProjectID = tb.Token.Project.ID
			}
			for _, r := range tb.Token.Roles {
				c.Roles = append(c.Roles, r.Name)
			}
			return c, tb.Token.ExpiresAt, nil
		case resp.StatusCode == http.StatusNotFound:
			return nil, time.Time{}, ErrInvalidToken
		case resp.StatusCode == http.StatusUnauthorized && attempt == 0:
			continue // lbd's own token expired or was revoked: renew it once
		default:
			// The answer may echo the tokens (Keystone's "Could not find
			// token: ..."), and this error is logged: redact them.
			return nil, time.Time{}, fmt.Errorf("keystone token validation: status %d: %s", resp.StatusCode, redact(bytes.TrimSpace(body), userToken, svc))
		}
	}
}

// serviceToken returns lbd's own token, fetching a new one when there is
// none, it expires within a minute, or renew is set.
func (k *Keystone) serviceToken(ctx context.Context, renew bool) (string, error) {
	k.svcMu.Lock()
	defer k.svcMu.Unlock()
	if !renew && k.svcToken != "" && k.now().Add(time.Minute).Before(k.svcExpires) {
		return k.svcToken, nil
	}
	var body bytes.Buffer
	json.NewEncoder(&body).Encode(map[string]any{
		"auth": map[string]any{
			"identity": map[string]any{
				"methods": []string{"password"},
				"password": map[string]any{"user": map[string]any{
					"name": k.opts.Username, "password": k.opts.Password,
					"domain": map[string]string{"name": k.opts.UserDomainName},
				}},
			},
			"scope": map[string]any{"project": map[string]any{
				"name": k.opts.ProjectName, "domain": map[string]string{"name": k.opts.ProjectDomainName},
			}},
		},
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, k.opts.URL+"/auth/tokens", &body)
	if err != nil {
		return "", fmt.Errorf("keystone service token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := k.opts.HTTPClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("keystone service token: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("keystone service token: %w", err)
	}
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("keystone service token for user %s: status %d: %s", k.opts.Username, resp.StatusCode, redact(bytes.TrimSpace(data), k.opts.Password))
	}
	var tb tokenBody
	if err := json.Unmarshal(data, &tb); err != nil {
		return "", fmt.Errorf("keystone service token document: %w", err)
	}
	k.svcToken = resp.Header.Get("X-Subject-Token")
	k.svcExpires = tb.Token.ExpiresAt
	return k.svcToken, nil
}

// redact replaces each non-empty secret in b with "***".
func redact(b []byte, secrets ...string) []byte {
	for _, s := range secrets {
		if s != "" {
			b = bytes.ReplaceAll(b, []byte(s), []byte("***"))
		}
	}
	return b
}
