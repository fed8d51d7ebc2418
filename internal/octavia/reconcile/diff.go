package reconcile

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/listeners"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/monitors"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/pools"

	"lbd/internal/octavia"
)

// The update of each kind of object: what its PUT can change, compared
// between the file (normalized, defaults filled) and the cloud, as the
// request that changes only what differs and the differences worded for a
// person ("weight 1 → 2"). Identity (see ListenerKey, MemberKey) and what
// cannot change (protocols, a monitor's type) are not compared here.

// diff collects the differences of one object.
type diff []string

func (d diff) String() string { return strings.Join(d, ", ") }

func (d *diff) str(field, want, have string) bool {
	if want == have {
		return false
	}
	*d = append(*d, fmt.Sprintf("%s %q → %q", field, have, want))
	return true
}

func (d *diff) num(field string, want, have int) bool {
	if want == have {
		return false
	}
	*d = append(*d, fmt.Sprintf("%s %d → %d", field, have, want))
	return true
}

func (d *diff) flag(field string, want, have bool) bool {
	if want == have {
		return false
	}
	*d = append(*d, fmt.Sprintf("%s %v → %v", field, have, want))
	return true
}

// set compares lists whose order does not matter (tags, CIDRs); nil and
// empty are equal.
func (d *diff) set(field string, want, have []string) bool {
	w, h := slices.Sorted(slices.Values(want)), slices.Sorted(slices.Values(have))
	if slices.Equal(slices.Compact(w), slices.Compact(h)) {
		return false
	}
	*d = append(*d, fmt.Sprintf("%s %v → %v", field, h, w))
	return true
}

func (d *diff) dict(field string, want, have map[string]string) bool {
	if maps.Equal(want, have) || (len(want) == 0 && len(have) == 0) {
		return false
	}
	*d = append(*d, fmt.Sprintf("%s %v → %v", field, have, want))
	return true
}

// intOf reads a field that SetDefaults or validation always fills.
func intOf(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

func lbUpdate(want *octavia.LoadBalancer, have *loadbalancers.LoadBalancer) (loadbalancers.UpdateOpts, diff) {
	var d diff
	var o loadbalancers.UpdateOpts
	if d.str("description", want.Description, have.Description) {
		o.Description = &want.Description
	}
	if d.flag("admin_state_up", want.Enabled(), have.AdminStateUp) {
		o.AdminStateUp = ptrTo(want.Enabled())
	}
	if want.VIPQoSPolicyID != "" && d.str("vip_qos_policy_id", want.VIPQoSPolicyID, have.VipQosPolicyID) {
		o.VipQosPolicyID = &want.VIPQoSPolicyID
	}
	if d.set("tags", want.Tags, have.Tags) {
		o.Tags = ptrTo(append([]string{}, want.Tags...))
	}
	return o, d
}

func listenerUpdate(want *octavia.Listener, have *listeners.Listener) (listeners.UpdateOpts, diff) {
	var d diff
	var o listeners.UpdateOpts
	if d.str("name", want.Name, have.Name) {
		o.Name = &want.Name
	}
	if d.str("description", want.Description, have.Description) {
		o.Description = &want.Description
	}
	if d.flag("admin_state_up", want.Enabled(), have.AdminStateUp) {
		o.AdminStateUp = ptrTo(want.Enabled())
	}
	if d.num("connection_limit", intOf(want.ConnectionLimit), have.ConnLimit) {
		o.ConnLimit = want.ConnectionLimit
	}
	if d.num("timeout_client_data", intOf(want.TimeoutClientData), have.TimeoutClientData) {
		o.TimeoutClientData = want.TimeoutClientData
	}
	if d.num("timeout_member_connect", intOf(want.TimeoutMemberConnect), have.TimeoutMemberConnect) {
		o.TimeoutMemberConnect = want.TimeoutMemberConnect
	}
	if d.num("timeout_member_data", intOf(want.TimeoutMemberData), have.TimeoutMemberData) {
		o.TimeoutMemberData = want.TimeoutMemberData
	}
	if d.num("timeout_tcp_inspect", intOf(want.TimeoutTCPInspect), have.TimeoutTCPInspect) {
		o.TimeoutTCPInspect = want.TimeoutTCPInspect
	}
	if d.dict("insert_headers", want.InsertHeaders, have.InsertHeaders) {
		o.InsertHeaders = ptrTo(maps.Clone(want.InsertHeaders))
		if *o.InsertHeaders == nil {
			*o.InsertHeaders = map[string]string{}
		}
	}
	if d.set("allowed_cidrs", want.AllowedCIDRs, have.AllowedCIDRs) {
		o.AllowedCIDRs = ptrTo(append([]string{}, want.AllowedCIDRs...))
	}
	if d.set("tags", want.Tags, have.Tags) {
		o.Tags = ptrTo(append([]string{}, want.Tags...))
	}
	return o, d
}

func poolUpdate(want *octavia.Pool, have *pools.Pool) (pools.UpdateOpts, diff) {
	var d diff
	var o pools.UpdateOpts
	if d.str("lb_algorithm", string(want.LBAlgorithm), have.LBMethod) {
		o.LBMethod = pools.LBMethod(want.LBAlgorithm)
	}
	if d.str("description", want.Description, have.Description) {
		o.Description = &want.Description
	}
	if d.flag("admin_state_up", want.Enabled(), have.AdminStateUp) {
		o.AdminStateUp = ptrTo(want.Enabled())
	}
	if d.set("tags", want.Tags, have.Tags) {
		o.Tags = ptrTo(append([]string{}, want.Tags...))
	}
	var sp pools.SessionPersistence
	if p := persistenceOpts(want.SessionPersistence); p != nil {
		sp = *p
	}
	if d.str("session_persistence", persistenceText(sp), persistenceText(have.Persistence)) {
		o.Persistence = &sp // empty: none
	}
	return o, d
}

func persistenceText(sp pools.SessionPersistence) string {
	if sp.Type == "" {
		return "none"
	}
	if sp.CookieName != "" {
		return sp.Type + " " + sp.CookieName
	}
	return sp.Type
}

// memberUpdate compares what a member PUT can change. Address and port are
// the member's identity; subnet_id cannot change. An absent monitor address
// or port, or no tags, in the file leaves the cloud's alone (gophercloud
// cannot send null).
func memberUpdate(want *octavia.Member, have *pools.Member) (pools.UpdateMemberOpts, diff) {
	var d diff
	var o pools.UpdateMemberOpts
	if d.str("name", want.Name, have.Name) {
		o.Name = &want.Name
	}
	if d.num("weight", intOf(want.Weight), have.Weight) {
		o.Weight = want.Weight
	}
	if d.flag("backup", want.Backup != nil && *want.Backup, have.Backup) {
		o.Backup = want.Backup
	}
	if d.flag("admin_state_up", want.Enabled(), have.AdminStateUp) {
		o.AdminStateUp = ptrTo(want.Enabled())
	}
	if want.MonitorAddress != "" && d.str("monitor_address", want.MonitorAddress, have.MonitorAddress) {
		o.MonitorAddress = &want.MonitorAddress
	}
	if want.MonitorPort != nil && d.num("monitor_port", *want.MonitorPort, have.MonitorPort) {
		o.MonitorPort = want.MonitorPort
	}
	if len(want.Tags) > 0 && d.set("tags", want.Tags, have.Tags) {
		o.Tags = want.Tags
	}
	return o, d
}

// monitorUpdate compares what a monitor PUT can change (everything but type
// and pool). HTTP fields are compared only on HTTP and HTTPS monitors.
func monitorUpdate(want *octavia.HealthMonitor, have *monitors.Monitor) (monitors.UpdateOpts, diff) {
	var d diff
	o := monitors.UpdateOpts{}
	if d.num("delay", intOf(want.Delay), have.Delay) {
		o.Delay = intOf(want.Delay)
	}
	if d.num("timeout", intOf(want.Timeout), have.Timeout) {
		o.Timeout = intOf(want.Timeout)
	}
	if d.num("max_retries", want.MaxRetries, have.MaxRetries) {
		o.MaxRetries = want.MaxRetries
	}
	if d.num("max_retries_down", intOf(want.MaxRetriesDown), have.MaxRetriesDown) {
		o.MaxRetriesDown = intOf(want.MaxRetriesDown)
	}
	if d.str("name", want.Name, have.Name) {
		o.Name = &want.Name
	}
	if d.flag("admin_state_up", want.Enabled(), have.AdminStateUp) {
		o.AdminStateUp = ptrTo(want.Enabled())
	}
	if want.Type.IsHTTP() {
		if d.str("http_method", want.HTTPMethod, have.HTTPMethod) {
			o.HTTPMethod = want.HTTPMethod
		}
		if d.str("url_path", want.URLPath, have.URLPath) {
			o.URLPath = want.URLPath
		}
		if d.str("expected_codes", want.ExpectedCodes, have.ExpectedCodes) {
			o.ExpectedCodes = want.ExpectedCodes
		}
		if v := httpVersion(want.HTTPVersion); v != "" && d.str("http_version", v, have.HTTPVersion) {
			o.HTTPVersion = &v
		}
		if want.DomainName != "" && d.str("domain_name", want.DomainName, have.DomainName) {
			o.DomainName = &want.DomainName
		}
	}
	if len(want.Tags) > 0 && d.set("tags", want.Tags, have.Tags) {
		o.Tags = want.Tags
	}
	return o, d
}

func ptrTo[T any](v T) *T { return &v }
