package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"lbd/internal/octavia"
)

func TestTimestamp(t *testing.T) {
	tests := []struct {
		in   time.Time
		want string
	}{
		{time.Time{}, "null"},
		{time.Date(2026, 11, 25, 19, 28, 25, 461214000, time.UTC), `"2026-11-25T19:28:25.461214"`},
		{time.Date(2026, 11, 25, 19, 28, 25, 0, time.UTC), `"2026-11-25T19:28:25"`},
		{time.Date(2026, 11, 25, 20, 28, 25, 500, time.FixedZone("x", 3600)), `"2026-11-25T19:28:25"`},
	}
	for _, tt := range tests {
		got, err := json.Marshal(Timestamp(tt.in))
		if err != nil || string(got) != tt.want {
			t.Errorf("Timestamp(%v) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

func TestApplyPatch(t *testing.T) {
	l := octavia.Listener{Name: "a", Protocol: octavia.ProtocolHTTP, ProtocolPort: 80,
		ConnectionLimit: octavia.Ptr(100), TimeoutClientData: octavia.Ptr(1)}
	p := Patch{"name": json.RawMessage(`"b"`), "connection_limit": json.RawMessage(`null`)}
	if err := ApplyPatch(&l, p); err != nil {
		t.Fatal(err)
	}
	if l.Name != "b" || l.ConnectionLimit != nil || *l.TimeoutClientData != 1 || l.ProtocolPort != 80 {
		t.Errorf("after patch: %+v", l)
	}
	bad := Patch{"connection_limit": json.RawMessage(`"lots"`)}
	err := ApplyPatch(&l, bad)
	var e *Error
	if !errors.As(err, &e) || e.Code != 400 || !strings.Contains(e.Message, "field/attribute connection_limit. Value: 'string'") {
		t.Errorf("mistyped patch: %v", err)
	}
	if l.Name != "b" {
		t.Errorf("a failed patch changed the object: %+v", l)
	}
}

func TestDecodeShapes(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"nested unknown", `{"loadbalancer": {"vip_subnet_id": "x", "listeners": [{"protocol": "HTTP", "default_pool": {"members": [{"address": "a", "colour": 1}]}}]}}`,
			"Unknown attribute for argument load_balancer.loadbalancer.listeners.default_pool.members: colour"},
		{"monitor under inline pool", `{"loadbalancer": {"pools": [{"healthmonitor": {"pool_id": "x"}}]}}`,
			"Unknown attribute for argument load_balancer.loadbalancer.pools.healthmonitor: pool_id"},
		{"not an object", `[1]`, "Invalid input for field/attribute load_balancer"},
		{"mistyped", `{"loadbalancer": {"listeners": [{"protocol_port": "80"}]}}`, "field/attribute protocol_port. Value: 'string'. Value should be an integer"},
		{"envelope missing", `{}`, "Invalid input for field/attribute loadbalancer. Value: 'None'. Mandatory field missing."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
			var lb octavia.LoadBalancer
			err := decode(r, loadBalancerPost, &lb)
			var e *Error
			if !errors.As(err, &e) || e.Code != http.StatusBadRequest || !strings.Contains(e.Message, tt.want) {
				t.Errorf("decode: %v, want a 400 containing %q", err, tt.want)
			}
		})
	}
}

func TestListingParse(t *testing.T) {
	for q, want := range map[string]string{
		"limit=abc":             "Supplied pagination limit 'abc' is not valid.",
		"sort=name:up":          "Supplied sort direction 'up' is not valid.",
		"sort_key=a&sort_dir=x": "Supplied sort direction 'x' is not valid.",
	} {
		v, _ := url.ParseQuery(q)
		if _, err := parseListing(v); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", q, err, want)
		}
	}
	v, _ := url.ParseQuery("limit=5000&fields=id&fields=name,vip_address&tags=a,b")
	l, err := parseListing(v)
	if err != nil || l.limit != maxPageSize || len(l.fields) != 3 || len(l.tags["tags"]) != 2 {
		t.Errorf("parse: %+v, %v", l, err)
	}
	v, _ = url.ParseQuery("limit=-1")
	if l, _ := parseListing(v); l.limit != 0 {
		t.Errorf("limit=-1 means unlimited, got %d", l.limit)
	}
}
