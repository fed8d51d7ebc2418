package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
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
	if !errors.As(err, &e) || e.Code != 400 || !strings.Contains(e.Message, "field/attribute connection_limit. Value: 'lots'. Value should be an integer") {
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
		{"mistyped", `{"loadbalancer": {"listeners": [{"protocol_port": "eighty"}]}}`, "field/attribute protocol_port. Value: 'eighty'. Value should be an integer"},
		{"not a string", `{"loadbalancer": {"name": 5}}`, "Invalid input for field/attribute name. Value: '5'. Value should be string"},
		{"ambiguous boolean", `{"loadbalancer": {"admin_state_up": "False"}}`, "field/attribute admin_state_up. Value: 'False'. Value not an unambiguous boolean: False"},
		{"boolean from a float", `{"loadbalancer": {"admin_state_up": 1.5}}`, "Value not an unambiguous boolean: 1.5"},
		{"object not a dict", `{"loadbalancer": {"listeners": [{"default_pool": 5}]}}`, "field/attribute default_pool. Value: '5'. Value should be a dict"},
		{"header value not a string", `{"loadbalancer": {"listeners": [{"insert_headers": {"X-Forwarded-For": true}}]}}`, `field/attribute insert_headers. Value: '{"X-Forwarded-For":true}'. Value should be string`},
		{"list for an integer", `{"loadbalancer": {"listeners": [{"protocol_port": [1]}]}}`, "field/attribute protocol_port. Value: '[1]'. Value should be an integer"},
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

// TestCoerceLikeWSME: values of the wrong JSON type that Octavia's WSME
// converts are accepted and converted the same way (each case checked
// against Octavia 11 by hand; the side-by-side test in controlplane runs a
// few against the real API).
func TestCoerceLikeWSME(t *testing.T) {
	body := `{"loadbalancer": {"name": "x", "admin_state_up": "yes", "listeners": [
		{"protocol": "TCP", "protocol_port": "80", "connection_limit": " 7 ", "admin_state_up": 0},
		{"protocol": "TCP", "protocol_port": 80.7, "timeout_client_data": "5_000"},
		{"protocol": "TCP", "protocol_port": true, "admin_state_up": "off",
		 "default_pool": {"protocol": "TCP", "lb_algorithm": "ROUND_ROBIN",
		  "healthmonitor": {"type": "HTTP", "delay": "5", "timeout": "3", "max_retries": "2", "http_version": "1.0"},
		  "members": [{"address": "127.0.0.1", "protocol_port": "-1", "weight": "+3", "backup": "1"}]}}]}}`
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	var lb octavia.LoadBalancer
	if err := decode(r, loadBalancerPost, &lb); err != nil {
		t.Fatal(err)
	}
	l := lb.Listeners
	hm := l[2].DefaultPool.HealthMonitor
	m := l[2].DefaultPool.Members[0]
	got := []any{*lb.AdminStateUp, l[0].ProtocolPort, *l[0].ConnectionLimit, *l[0].AdminStateUp,
		l[1].ProtocolPort, *l[1].TimeoutClientData, l[2].ProtocolPort, *l[2].AdminStateUp,
		*hm.Delay, *hm.Timeout, hm.MaxRetries, *hm.HTTPVersion, m.ProtocolPort, *m.Weight, *m.Backup}
	want := []any{true, 80, 7, false, 80, 5000, 1, false, 5, 3, 2, 1.0, -1, 3, true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("converted values\n got %v\nwant %v", got, want)
	}
	for _, bad := range []string{"8.0", "0x50", "8__0", "_80", "80_", "+-80", "", " "} {
		if _, ok := pyInt(bad); ok {
			t.Errorf("pyInt(%q) accepted what Python's int() refuses", bad)
		}
	}
	l0 := octavia.Listener{Protocol: octavia.ProtocolHTTP, ProtocolPort: 80}
	if err := ApplyPatch(&l0, Patch{"connection_limit": json.RawMessage(`"12"`), "admin_state_up": json.RawMessage(`"n"`)}); err != nil {
		t.Fatal(err)
	}
	if *l0.ConnectionLimit != 12 || *l0.AdminStateUp {
		t.Errorf("patched from strings: connection_limit %d, admin_state_up %v", *l0.ConnectionLimit, *l0.AdminStateUp)
	}
}
