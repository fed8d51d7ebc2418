package openstack

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

// diff collects the differences of one object, worded for the plan:
// "weight 1 → 2".
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

// set compares lists whose order does not matter (tags, CIDRs).
func (d *diff) set(field string, want, have []string) bool {
	w, h := slices.Sorted(slices.Values(want)), slices.Sorted(slices.Values(have))
	if slices.Equal(w, h) {
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

func lbUpdate(want *octavia.LoadBalancer, have *loadbalancers.LoadBalancer) (loadbalancers.UpdateOpts, diff) {
	var d diff
	var o loadbalancers.UpdateOpts
	if d.str("description", want.Description, have.Description) {
		o.Description = &want.Description
	}
	if d.flag("admin_state_up", want.Enabled(), have.AdminStateUp) {
		o.AdminStateUp = want.AdminStateUp
	}
	if want.VIPQoSPolicyID != "" && d.str("vip_qos_policy_id", want.VIPQoSPolicyID, have.VipQosPolicyID) {
		o.VipQosPolicyID = &want.VIPQoSPolicyID
	}
	if d.set("tags", want.Tags, have.Tags) {
		o.Tags = ptrTo(slices.Clone(want.Tags))
	}
	return o, d
}

func listenerUpdate(want *octavia.Listener, have *listeners.Listener) (listeners.UpdateOpts, diff) {
	var d diff
	var o listeners.UpdateOpts
	if d.str("description", want.Description, have.Description) {
		o.Description = &want.Description
	}
	if d.flag("admin_state_up", want.Enabled(), have.AdminStateUp) {
		o.AdminStateUp = want.AdminStateUp
	}
	if d.num("connection_limit", *want.ConnectionLimit, have.ConnLimit) {
		o.ConnLimit = want.ConnectionLimit
	}
	if d.num("timeout_client_data", *want.TimeoutClientData, have.TimeoutClientData) {
		o.TimeoutClientData = want.TimeoutClientData
	}
	if d.num("timeout_member_connect", *want.TimeoutMemberConnect, have.TimeoutMemberConnect) {
		o.TimeoutMemberConnect = want.TimeoutMemberConnect
	}
	if d.num("timeout_member_data", *want.TimeoutMemberData, have.TimeoutMemberData) {
		o.TimeoutMemberData = want.TimeoutMemberData
	}
	if d.num("timeout_tcp_inspect", *want.TimeoutTCPInspect, have.TimeoutTCPInspect) {
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

func poolUpdate(want *desiredPool, have *pools.Pool) (pools.UpdateOpts, diff) {
	var d diff
	var o pools.UpdateOpts
	if d.str("lb_algorithm", string(want.LBAlgorithm), have.LBMethod) {
		o.LBMethod = pools.LBMethod(want.LBAlgorithm)
	}
	if d.str("description", want.Description, have.Description) {
		o.Description = &want.Description
	}
	if d.flag("admin_state_up", want.Enabled(), have.AdminStateUp) {
		o.AdminStateUp = want.AdminStateUp
	}
	if d.set("tags", want.Tags, have.Tags) {
		o.Tags = ptrTo(append([]string{}, want.Tags...))
	}
	return o, d
}

// memberUpdate compares what a member PUT can change. Address and port are
// the member's identity; subnet_id cannot change. An absent monitor address
// or port in the file leaves the cloud's alone (gophercloud cannot send null).
func memberUpdate(want *octavia.Member, have *pools.Member) (pools.UpdateMemberOpts, diff) {
	var d diff
	var o pools.UpdateMemberOpts
	if d.str("name", want.Name, have.Name) {
		o.Name = &want.Name
	}
	if d.num("weight", *want.Weight, have.Weight) {
		o.Weight = want.Weight
	}
	if d.flag("backup", *want.Backup, have.Backup) {
		o.Backup = want.Backup
	}
	if d.flag("admin_state_up", want.Enabled(), have.AdminStateUp) {
		o.AdminStateUp = want.AdminStateUp
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
	if d.num("delay", octavia.IntOr(want.Delay, 0), have.Delay) {
		o.Delay = *want.Delay
	}
	if d.num("timeout", octavia.IntOr(want.Timeout, 0), have.Timeout) {
		o.Timeout = *want.Timeout
	}
	if d.num("max_retries", want.MaxRetries, have.MaxRetries) {
		o.MaxRetries = want.MaxRetries
	}
	if d.num("max_retries_down", octavia.IntOr(want.MaxRetriesDown, octavia.DefaultMaxRetriesDown), have.MaxRetriesDown) {
		o.MaxRetriesDown = *want.MaxRetriesDown
	}
	if d.str("name", want.Name, have.Name) {
		o.Name = &want.Name
	}
	if d.flag("admin_state_up", want.Enabled(), have.AdminStateUp) {
		o.AdminStateUp = want.AdminStateUp
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
		if want.HTTPVersion != nil {
			v := fmt.Sprintf("%.1f", *want.HTTPVersion)
			if d.str("http_version", v, have.HTTPVersion) {
				o.HTTPVersion = &v
			}
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
