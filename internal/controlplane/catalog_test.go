package controlplane_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"

	"lbd/internal/octavia"
	"lbd/internal/octavia/auth"
)

func fpBody(name, provider, data string) map[string]any {
	return map[string]any{"flavorprofile": map[string]any{"name": name, "provider_name": provider, "flavor_data": data}}
}

func TestFlavorProfilesAndFlavors(t *testing.T) {
	e := newEnv(t, "", nil)
	fp := e.must(http.StatusCreated, "POST", "/v2/lbaas/flavorprofiles", fpBody("single", "amphora", `{"loadbalancer_topology": "SINGLE"}`), "flavorprofile")
	fpID := str(fp, "id")
	if fp["provider_name"] != "amphora" || fp["flavor_data"] != `{"loadbalancer_topology": "SINGLE"}` {
		t.Errorf("created profile %v", fp)
	}
	// The provider validates the metadata with its schema (501), Octavia
	// the JSON and the provider's name (400).
	e.fault(http.StatusNotImplemented, "Provider 'amphora' does not support a requested option: Additional properties are not allowed ('colour' was unexpected)",
		"POST", "/v2/lbaas/flavorprofiles", fpBody("x", "amphora", `{"colour": "red"}`))
	e.fault(http.StatusNotImplemented, "Provider 'amphora' does not support a requested option: loadbalancer_topology 'TRIPLE' is not one of ['ACTIVE_STANDBY', 'SINGLE']",
		"POST", "/v2/lbaas/flavorprofiles", fpBody("x", "amphora", `{"loadbalancer_topology": "TRIPLE"}`))
	e.fault(http.StatusNotImplemented, "Provider 'lbd' does not support a requested option: Additional properties are not allowed ('loadbalancer_topology' was unexpected)",
		"POST", "/v2/lbaas/flavorprofiles", fpBody("x", "lbd", `{"loadbalancer_topology": "SINGLE"}`))
	e.fault(http.StatusBadRequest, "{nope is not a valid option for flavor_data",
		"POST", "/v2/lbaas/flavorprofiles", fpBody("x", "amphora", `{nope`))
	e.fault(http.StatusBadRequest, "Provider 'octavia' is not enabled.",
		"POST", "/v2/lbaas/flavorprofiles", fpBody("x", "octavia", `{}`))
	e.fault(http.StatusBadRequest, "Invalid input for field/attribute flavor_data. Value: 'None'. Mandatory field missing.",
		"POST", "/v2/lbaas/flavorprofiles", map[string]any{"flavorprofile": map[string]any{"name": "x", "provider_name": "lbd"}})
	e.fault(http.StatusBadRequest, "Unknown attribute for argument flavor_profile_.flavorprofile: tags",
		"POST", "/v2/lbaas/flavorprofiles", map[string]any{"flavorprofile": map[string]any{"name": "x", "provider_name": "lbd", "flavor_data": "{}", "tags": []string{"a"}}})

	fl := e.must(http.StatusCreated, "POST", "/v2/lbaas/flavors",
		map[string]any{"flavor": map[string]any{"name": "gold", "description": "d", "flavor_profile_id": fpID}}, "flavor")
	flID := str(fl, "id")
	if fl["enabled"] != true || fl["flavor_profile_id"] != fpID || fl["description"] != "d" {
		t.Errorf("created flavor %v", fl)
	}
	e.fault(http.StatusConflict, "A flavor of gold already exists.", "POST", "/v2/lbaas/flavors",
		map[string]any{"flavor": map[string]any{"name": "gold", "flavor_profile_id": fpID}})
	e.fault(http.StatusNotFound, "Flavor Profile 11111111-2222-3333-4444-555555555555 not found.", "POST", "/v2/lbaas/flavors",
		map[string]any{"flavor": map[string]any{"name": "tin", "flavor_profile_id": "11111111-2222-3333-4444-555555555555"}})
	e.must(http.StatusCreated, "POST", "/v2/lbaas/flavors", map[string]any{"flavor": map[string]any{"name": "bronze", "flavor_profile_id": fpID, "enabled": false}}, "flavor")

	// A profile in use keeps its provider and metadata, and stays.
	e.fault(http.StatusConflict, "Flavor profile "+fpID+" is in use and cannot be modified.", "PUT", "/v2/lbaas/flavorprofiles/"+fpID,
		map[string]any{"flavorprofile": map[string]any{"flavor_data": "{}"}})
	e.fault(http.StatusConflict, "Flavor profile "+fpID+" is in use and cannot be modified.", "DELETE", "/v2/lbaas/flavorprofiles/"+fpID, nil)
	e.fault(http.StatusBadRequest, "None is not a valid option for name", "PUT", "/v2/lbaas/flavorprofiles/"+fpID,
		map[string]any{"flavorprofile": map[string]any{"name": nil}})
	if got := e.must(http.StatusOK, "PUT", "/v2/lbaas/flavorprofiles/"+fpID, map[string]any{"flavorprofile": map[string]any{"name": "renamed"}}, "flavorprofile"); got["name"] != "renamed" {
		t.Errorf("renamed profile %v", got)
	}

	// Lists: default order by ID, sort, filters, fields.
	if got := names(e.must(http.StatusOK, "GET", "/v2/lbaas/flavors?sort=name:desc", nil, ""), "flavors"); fmt.Sprint(got) != "[gold bronze]" {
		t.Errorf("flavors by name desc: %v", got)
	}
	if got := names(e.must(http.StatusOK, "GET", "/v2/lbaas/flavors?enabled=true", nil, ""), "flavors"); fmt.Sprint(got) != "[gold]" {
		t.Errorf("enabled flavors: %v", got)
	}
	list := e.must(http.StatusOK, "GET", "/v2/lbaas/flavorprofiles?fields=name", nil, "")
	if _, ok := list["flavorprofile_links"]; !ok || fmt.Sprint(list["flavorprofiles"]) != "[map[name:renamed]]" {
		t.Errorf("profiles with fields=name: %v", list)
	}

	// Load balancers take their provider from the flavor's profile.
	lb := e.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers",
		map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": subnet, "flavor_id": flID}}, "loadbalancer")
	if lb["flavor_id"] != flID || lb["provider"] != "amphora" {
		t.Errorf("load balancer with a flavor: %v", lb)
	}
	e.fault(http.StatusBadRequest, "Flavor '"+flID+"' is not compatible with provider 'lbd'", "POST", "/v2/lbaas/loadbalancers",
		map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": subnet, "flavor_id": flID, "provider": "lbd"}})
	e.fault(http.StatusBadRequest, "Validation failure: Invalid flavor_id.", "POST", "/v2/lbaas/loadbalancers",
		map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": subnet, "flavor_id": "11111111-2222-3333-4444-555555555555"}})
	bronze := str(e.must(http.StatusOK, "GET", "/v2/lbaas/flavors?name=bronze", nil, "")["flavors"].([]any)[0].(map[string]any), "id")
	e.fault(http.StatusBadRequest, "The selected flavor is not allowed in this deployment: "+bronze, "POST", "/v2/lbaas/loadbalancers",
		map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": subnet, "flavor_id": bronze}})
	e.fault(http.StatusConflict, "Flavor "+flID+" is in use and cannot be modified.", "DELETE", "/v2/lbaas/flavors/"+flID, nil)
	e.must(http.StatusNoContent, "DELETE", "/v2/lbaas/loadbalancers/"+str(lb, "id"), nil, "")
	e.must(http.StatusNoContent, "DELETE", "/v2/lbaas/flavors/"+flID, nil, "")
	e.fault(http.StatusNotFound, "Flavor "+flID+" not found.", "GET", "/v2/lbaas/flavors/"+flID, nil)

	// The catalog is stored with the rest of the state.
	e.cp.Close()
	e2 := newEnv(t, e.dir, nil)
	if got := names(e2.must(http.StatusOK, "GET", "/v2/lbaas/flavors", nil, ""), "flavors"); fmt.Sprint(got) != "[bronze]" {
		t.Errorf("flavors after a restart: %v", got)
	}
}

func TestAvailabilityZones(t *testing.T) {
	e := newEnv(t, "", nil)
	e.fault(http.StatusNotImplemented, "Provider 'amphora' does not support a requested option: valid_vip_networks 'x' is not of type 'array'",
		"POST", "/v2/lbaas/availabilityzoneprofiles", map[string]any{"availability_zone_profile": map[string]any{
			"name": "p", "provider_name": "amphora", "availability_zone_data": `{"valid_vip_networks": "x"}`}})
	p := e.must(http.StatusCreated, "POST", "/v2/lbaas/availabilityzoneprofiles", map[string]any{"availability_zone_profile": map[string]any{
		"name": "p", "provider_name": "amphora", "availability_zone_data": `{"compute_zone": "nova"}`}}, "availability_zone_profile")
	pID := str(p, "id")
	for _, n := range []string{"zone-b", "zone-a"} {
		e.must(http.StatusCreated, "POST", "/v2/lbaas/availabilityzones", map[string]any{"availability_zone": map[string]any{
			"name": n, "availability_zone_profile_id": pID}}, "availability_zone")
	}
	e.fault(http.StatusConflict, "A availability zone of zone-a already exists.", "POST", "/v2/lbaas/availabilityzones",
		map[string]any{"availability_zone": map[string]any{"name": "zone-a", "availability_zone_profile_id": pID}})
	// Zones have no ID: their name is the key, and their default order.
	list := e.must(http.StatusOK, "GET", "/v2/lbaas/availabilityzones", nil, "")
	if got := names(list, "availability_zones"); fmt.Sprint(got) != "[zone-a zone-b]" {
		t.Errorf("zones: %v", got)
	}
	if _, ok := list["availability_zones_links"]; !ok {
		t.Errorf("zone list without links: %v", list)
	}
	z := e.must(http.StatusOK, "PUT", "/v2/lbaas/availabilityzones/zone-b", map[string]any{"availability_zone": map[string]any{
		"description": "second", "enabled": false}}, "availability_zone")
	if z["description"] != "second" || z["enabled"] != false || z["availability_zone_profile_id"] != pID {
		t.Errorf("updated zone %v", z)
	}
	e.fault(http.StatusBadRequest, "The selected availability_zone is not allowed in this deployment: zone-b", "POST", "/v2/lbaas/loadbalancers",
		map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": subnet, "availability_zone": "zone-b"}})
	e.fault(http.StatusBadRequest, "Validation failure: Invalid availability zone.", "POST", "/v2/lbaas/loadbalancers",
		map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": subnet, "availability_zone": "zone-c"}})
	lb := e.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers",
		map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": subnet, "availability_zone": "zone-a"}}, "loadbalancer")
	e.fault(http.StatusConflict, "Availability Zone zone-a is in use and cannot be modified.", "DELETE", "/v2/lbaas/availabilityzones/zone-a", nil)
	e.fault(http.StatusConflict, "Availability Zone Profile "+pID+" is in use and cannot be modified.", "DELETE", "/v2/lbaas/availabilityzoneprofiles/"+pID, nil)
	e.must(http.StatusNoContent, "DELETE", "/v2/lbaas/loadbalancers/"+str(lb, "id"), nil, "")
	for _, n := range []string{"zone-a", "zone-b"} {
		e.must(http.StatusNoContent, "DELETE", "/v2/lbaas/availabilityzones/"+n, nil, "")
	}
	e.must(http.StatusNoContent, "DELETE", "/v2/lbaas/availabilityzoneprofiles/"+pID, nil, "")
}

func TestProviders(t *testing.T) {
	e := newEnv(t, "", nil)
	if got := names(e.must(http.StatusOK, "GET", "/v2/lbaas/providers", nil, ""), "providers"); fmt.Sprint(got) != "[lbd amphora]" {
		t.Errorf("providers: %v", got)
	}
	caps := names(e.must(http.StatusOK, "GET", "/v2/lbaas/providers/amphora/flavor_capabilities", nil, ""), "flavor_capabilities")
	if !slices.Equal(caps, []string{"loadbalancer_topology", "compute_flavor", "amp_image_tag"}) {
		t.Errorf("amphora flavor capabilities: %v", caps)
	}
	one := e.must(http.StatusOK, "GET", "/v2/lbaas/providers/amphora/availability_zone_capabilities?name=compute_zone", nil, "")
	if fmt.Sprint(names(one, "availability_zone_capabilities")) != "[compute_zone]" {
		t.Errorf("filtered zone capabilities: %v", one)
	}
	if got := e.must(http.StatusOK, "GET", "/v2/lbaas/providers/lbd/flavor_capabilities", nil, "")["flavor_capabilities"]; fmt.Sprint(got) != "[]" {
		t.Errorf("lbd flavor capabilities: %v", got)
	}
	e.fault(http.StatusBadRequest, "Provider 'noop_driver' is not enabled.", "GET", "/v2/lbaas/providers/noop_driver/flavor_capabilities", nil)
}

// TestCatalogPolicy: flavors, zones and providers are for every
// load-balancer reader to see, profiles and changes for administrators.
func TestCatalogPolicy(t *testing.T) {
	tk := tokens{
		"admin":    {ProjectID: "p0", Roles: []string{"admin"}},
		"lbAdmin":  {ProjectID: "p0", Roles: []string{"load-balancer_admin"}},
		"memberA":  {ProjectID: "pA", Roles: []string{"load-balancer_member", "member", "reader"}},
		"observer": {ProjectID: "pA", Roles: []string{"load-balancer_observer", "reader"}},
		"readerA":  {ProjectID: "pA", Roles: []string{"member", "reader"}},
	}
	e := newEnvAuth(t, "", nil, tk)
	as := func(tok string) *env { c := *e; c.token = tok; return &c }
	forbidden := "Policy does not allow this request to be performed."
	fpID := str(as("lbAdmin").must(http.StatusCreated, "POST", "/v2/lbaas/flavorprofiles", fpBody("p", "lbd", "{}"), "flavorprofile"), "id")
	flID := str(as("admin").must(http.StatusCreated, "POST", "/v2/lbaas/flavors",
		map[string]any{"flavor": map[string]any{"name": "f", "flavor_profile_id": fpID}}, "flavor"), "id")
	for _, tok := range []string{"memberA", "observer"} {
		as(tok).must(http.StatusOK, "GET", "/v2/lbaas/flavors", nil, "")
		as(tok).must(http.StatusOK, "GET", "/v2/lbaas/flavors/"+flID, nil, "flavor")
		as(tok).must(http.StatusOK, "GET", "/v2/lbaas/availabilityzones", nil, "")
		as(tok).must(http.StatusOK, "GET", "/v2/lbaas/providers", nil, "")
		as(tok).fault(http.StatusForbidden, forbidden, "GET", "/v2/lbaas/flavorprofiles", nil)
		as(tok).fault(http.StatusForbidden, forbidden, "GET", "/v2/lbaas/providers/lbd/flavor_capabilities", nil)
		as(tok).fault(http.StatusForbidden, forbidden, "PUT", "/v2/lbaas/flavors/"+flID, map[string]any{"flavor": map[string]any{"name": "g"}})
		as(tok).fault(http.StatusForbidden, forbidden, "POST", "/v2/lbaas/flavors", map[string]any{"flavor": map[string]any{"name": "g", "flavor_profile_id": fpID}})
		as(tok).fault(http.StatusForbidden, forbidden, "GET", "/v2/octavia/amphorae", nil)
	}
	as("readerA").fault(http.StatusForbidden, forbidden, "GET", "/v2/lbaas/flavors", nil)
	as("readerA").fault(http.StatusForbidden, forbidden, "GET", "/v2/lbaas/providers", nil)
	// An unknown ID is a 403 for those who may not look, as in Octavia.
	as("memberA").fault(http.StatusForbidden, forbidden, "GET", "/v2/lbaas/flavorprofiles/"+flID, nil)
}

var _ auth.Authenticator = tokens{}

func TestAmphorae(t *testing.T) {
	e := newEnv(t, "", nil)
	lb1 := e.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", fullLB("one", 8080), "loadbalancer")
	lb2 := e.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", lbBody("two"), "loadbalancer")
	amps := e.must(http.StatusOK, "GET", "/v2/octavia/amphorae", nil, "")["amphorae"].([]any)
	if len(amps) != 2 {
		t.Fatalf("amphorae: %v, want one per load balancer", amps)
	}
	list := e.must(http.StatusOK, "GET", "/v2/octavia/amphorae?loadbalancer_id="+str(lb1, "id"), nil, "")["amphorae"].([]any)
	if len(list) != 1 {
		t.Fatalf("amphorae of one load balancer: %v", list)
	}
	amp := list[0].(map[string]any)
	for k, want := range map[string]any{"loadbalancer_id": str(lb1, "id"), "status": "ALLOCATED", "role": "STANDALONE", "ha_ip": "127.0.0.1"} {
		if amp[k] != want {
			t.Errorf("amphora %s = %v, want %v", k, amp[k], want)
		}
	}
	for _, k := range []string{"id", "compute_id", "vrrp_port_id", "ha_port_id", "created_at", "updated_at", "cert_expiration", "image_id", "compute_flavor"} {
		if _, ok := amp[k]; !ok {
			t.Errorf("amphora has no %s: %v", k, amp)
		}
	}
	if amp["ha_port_id"] != lb1["vip_port_id"] || lb1["vip_port_id"] == nil {
		t.Errorf("amphora ha_port_id %v, load balancer vip_port_id %v: want the same port", amp["ha_port_id"], lb1["vip_port_id"])
	}
	ampID := str(amp, "id")
	if got := e.must(http.StatusOK, "GET", "/v2/octavia/amphorae/"+ampID, nil, "amphora"); fmt.Sprint(got) != fmt.Sprint(amp) {
		t.Errorf("show %v, list %v", got, amp)
	}
	e.fault(http.StatusConflict, "amphora "+ampID+" is immutable and cannot be updated.", "DELETE", "/v2/octavia/amphorae/"+ampID, nil)
	e.must(http.StatusAccepted, "PUT", "/v2/octavia/amphorae/"+ampID+"/config", nil, "")
	listener := str(e.must(http.StatusOK, "GET", "/v2/lbaas/listeners?loadbalancer_id="+str(lb1, "id"), nil, "")["listeners"].([]any)[0].(map[string]any), "id")
	e.dp.mu.Lock()
	e.dp.stats[listener] = octavia.Stats{BytesIn: 10, TotalConnections: 2}
	e.dp.mu.Unlock()
	stats := e.must(http.StatusOK, "GET", "/v2/octavia/amphorae/"+ampID+"/stats", nil, "")["amphora_stats"].([]any)
	if len(stats) != 1 || stats[0].(map[string]any)["bytes_in"] != 10.0 || stats[0].(map[string]any)["listener_id"] != listener {
		t.Errorf("amphora stats: %v", stats)
	}
	amp2 := str(e.must(http.StatusOK, "GET", "/v2/octavia/amphorae?loadbalancer_id="+str(lb2, "id"), nil, "")["amphorae"].([]any)[0].(map[string]any), "id")
	e.fault(http.StatusNotFound, "Amphora stats for "+amp2+" not found.", "GET", "/v2/octavia/amphorae/"+amp2+"/stats", nil)

	// A failover replaces the amphora, and the new one survives a restart.
	e.must(http.StatusAccepted, "PUT", "/v2/octavia/amphorae/"+ampID+"/failover", nil, "")
	e.fault(http.StatusNotFound, "Amphora "+ampID+" not found.", "GET", "/v2/octavia/amphorae/"+ampID, nil)
	after := e.must(http.StatusOK, "GET", "/v2/octavia/amphorae?loadbalancer_id="+str(lb1, "id"), nil, "")["amphorae"].([]any)
	if len(after) != 1 || str(after[0].(map[string]any), "id") == ampID {
		t.Fatalf("after failover: %v, want one new amphora", after)
	}
	newID := str(after[0].(map[string]any), "id")
	e.must(http.StatusAccepted, "PUT", "/v2/lbaas/loadbalancers/"+str(lb2, "id")+"/failover", nil, "")
	if got := str(e.must(http.StatusOK, "GET", "/v2/octavia/amphorae?loadbalancer_id="+str(lb2, "id"), nil, "")["amphorae"].([]any)[0].(map[string]any), "id"); got == amp2 {
		t.Errorf("a load balancer failover kept amphora %s", got)
	}
	e.cp.Close()
	e2 := newEnv(t, e.dir, nil)
	e2.must(http.StatusOK, "GET", "/v2/octavia/amphorae/"+newID, nil, "amphora")
	e2.must(http.StatusNoContent, "DELETE", "/v2/lbaas/loadbalancers/"+str(lb1, "id")+"?cascade=true", nil, "")
	e2.fault(http.StatusNotFound, "Amphora "+newID+" not found.", "GET", "/v2/octavia/amphorae/"+newID, nil)
}

// TestSourceIPPortUnderAmphora: the amphora provider does not implement
// SOURCE_IP_PORT; Octavia answers that with the provider's 501, after its
// own validation.
func TestSourceIPPortUnderAmphora(t *testing.T) {
	e := newEnv(t, "", nil)
	lb := e.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", lbBody("sip"), "loadbalancer")
	pool := func(algo, protocol string) map[string]any {
		return map[string]any{"pool": map[string]any{"loadbalancer_id": str(lb, "id"), "protocol": protocol, "lb_algorithm": algo}}
	}
	e.fault(http.StatusNotImplemented, "Provider 'amphora' does not support a requested option: Amphora provider does not support SOURCE_IP_PORT algorithm.",
		"POST", "/v2/lbaas/pools", pool("SOURCE_IP_PORT", "HTTP"))
	// A problem of the request itself is still the 400.
	code, _ := e.do("POST", "/v2/lbaas/pools", pool("SOURCE_IP_PORT", "GOPHER"))
	if code != http.StatusBadRequest {
		t.Errorf("SOURCE_IP_PORT with a bad protocol: %d, want 400", code)
	}
	p := e.must(http.StatusCreated, "POST", "/v2/lbaas/pools", pool("ROUND_ROBIN", "HTTP"), "pool")
	e.fault(http.StatusNotImplemented, "Amphora provider does not support SOURCE_IP_PORT algorithm.",
		"PUT", "/v2/lbaas/pools/"+str(p, "id"), map[string]any{"pool": map[string]any{"lb_algorithm": "SOURCE_IP_PORT"}})
	// The lbd provider has it.
	lbd := e.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers",
		map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": subnet, "provider": "lbd"}}, "loadbalancer")
	e.must(http.StatusCreated, "POST", "/v2/lbaas/pools",
		map[string]any{"pool": map[string]any{"loadbalancer_id": str(lbd, "id"), "protocol": "HTTP", "lb_algorithm": "SOURCE_IP_PORT"}}, "pool")
}

// TestUpdatedAtOnceActive: every ACTIVE object has updated_at, and a
// child's change moves its parents' (they went PENDING_UPDATE too).
func TestUpdatedAtOnceActive(t *testing.T) {
	e := newEnv(t, "", nil)
	lb := e.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", fullLB("u", 8080), "loadbalancer")
	id := str(lb, "id")
	check := func(path, env string) map[string]any {
		t.Helper()
		o := e.must(http.StatusOK, "GET", path, nil, env)
		if o["provisioning_status"] != "ACTIVE" || o["updated_at"] == nil {
			t.Errorf("%s: provisioning_status %v updated_at %v, want ACTIVE with an update time", path, o["provisioning_status"], o["updated_at"])
		}
		return o
	}
	before := check("/v2/lbaas/loadbalancers/"+id, "loadbalancer")
	l := lb["listeners"].([]any)[0].(map[string]any)
	p := lb["pools"].([]any)[0].(map[string]any)
	check("/v2/lbaas/listeners/"+str(l, "id"), "listener")
	check("/v2/lbaas/pools/"+str(p, "id"), "pool")
	check("/v2/lbaas/healthmonitors/"+str(p["healthmonitor"].(map[string]any), "id"), "healthmonitor")
	check("/v2/lbaas/pools/"+str(p, "id")+"/members/"+str(p["members"].([]any)[0].(map[string]any), "id"), "member")
	m := e.must(http.StatusCreated, "POST", "/v2/lbaas/pools/"+str(p, "id")+"/members",
		map[string]any{"member": map[string]any{"address": "127.0.0.13", "protocol_port": 8083}}, "member")
	if m["updated_at"] == nil {
		t.Errorf("created member: updated_at null")
	}
	if after := check("/v2/lbaas/loadbalancers/"+id, "loadbalancer"); after["updated_at"] == before["updated_at"] {
		t.Errorf("load balancer updated_at stayed %v after a member create", after["updated_at"])
	}
	// A sibling's create leaves a listener's updated_at as it was.
	l1 := check("/v2/lbaas/listeners/"+str(l, "id"), "listener")
	e.must(http.StatusCreated, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{
		"loadbalancer_id": id, "protocol": "TCP", "protocol_port": 8081}}, "listener")
	if again := check("/v2/lbaas/listeners/"+str(l, "id"), "listener"); again["updated_at"] != l1["updated_at"] {
		t.Errorf("listener updated_at moved from %v to %v when another listener was created", l1["updated_at"], again["updated_at"])
	}
}

// TestPoolWithoutListenerOffline: a pool no listener uses serves nothing
// and stays OFFLINE, however healthy the data plane says it is; once a
// listener uses it, its status is the data plane's.
func TestPoolWithoutListenerOffline(t *testing.T) {
	e := newEnv(t, "", nil)
	e.dp.mu.Lock()
	e.dp.online = true
	e.dp.mu.Unlock()
	lb := e.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", lbBody("standalone"), "loadbalancer")
	p := e.must(http.StatusCreated, "POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{
		"loadbalancer_id": str(lb, "id"), "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}, "pool")
	if got := e.must(http.StatusOK, "GET", "/v2/lbaas/pools/"+str(p, "id"), nil, "pool")["operating_status"]; got != "OFFLINE" {
		t.Errorf("pool without a listener: operating_status %v, want OFFLINE", got)
	}
	e.must(http.StatusCreated, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{
		"loadbalancer_id": str(lb, "id"), "protocol": "HTTP", "protocol_port": 8080, "default_pool_id": str(p, "id")}}, "listener")
	if got := e.must(http.StatusOK, "GET", "/v2/lbaas/pools/"+str(p, "id"), nil, "pool")["operating_status"]; got != "ONLINE" {
		t.Errorf("pool of a listener: operating_status %v, want the data plane's ONLINE", got)
	}
}
