package controlplane_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"lbd/internal/controlplane"
	"lbd/internal/octavia"
)

// TestFlavorTopology: a load balancer created with a flavor whose profile
// says loadbalancer_topology ACTIVE_STANDBY (Octavia's way) is
// ACTIVE_STANDBY in the data plane; the API renders no topology, as
// Octavia does not.
func TestFlavorTopology(t *testing.T) {
	e := newEnv(t, "", nil)
	for _, topo := range []string{"ACTIVE_STANDBY", "SINGLE"} {
		fp := e.must(http.StatusCreated, "POST", "/v2/lbaas/flavorprofiles", fpBody(topo, "amphora", `{"loadbalancer_topology": "`+topo+`"}`), "flavorprofile")
		f := e.must(http.StatusCreated, "POST", "/v2/lbaas/flavors", map[string]any{"flavor": map[string]any{"name": topo, "flavor_profile_id": str(fp, "id")}}, "flavor")
		body := lbBody("lb-" + topo)
		body["loadbalancer"].(map[string]any)["flavor_id"] = str(f, "id")
		lb := e.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", body, "loadbalancer")
		if _, ok := lb["topology"]; ok {
			t.Errorf("the API renders a topology: %v", lb)
		}
		got := ""
		for _, l := range e.dp.last().LoadBalancers {
			if l.ID == str(lb, "id") {
				got = l.Topology
			}
		}
		if got != topo {
			t.Errorf("flavor with loadbalancer_topology %s: the data plane has topology %q", topo, got)
		}
	}
}

// TestActiveStandbyAmphorae: with the instances sharing the state known,
// an ACTIVE_STANDBY load balancer's amphorae are the instances, each with
// its live role, VRRP address and priority (Octavia's amphora list of an
// ACTIVE_STANDBY load balancer); a silent instance's is ERROR; a SINGLE
// load balancer keeps its one STANDALONE amphora.
func TestActiveStandbyAmphorae(t *testing.T) {
	instances := []controlplane.Instance{
		{Name: "vm1", APIAddr: "10.0.0.11:9876", Role: "MASTER", VRRPIP: "10.0.1.11", VRRPInterface: "eth0", VRRPPriority: 100, Alive: true},
		{Name: "vm2", APIAddr: "10.0.0.12:9876", Role: "BACKUP", VRRPIP: "10.0.1.12", VRRPInterface: "eth0", VRRPPriority: 90, Alive: true},
		{Name: "vm3", APIAddr: "10.0.0.13:9876", Role: "BACKUP", VRRPIP: "10.0.1.13", VRRPInterface: "eth0", VRRPPriority: 90},
	}
	e := newStoreEnv(t, controlplane.Options{StateDir: t.TempDir(), Instances: func() []controlplane.Instance { return instances }})
	file := &octavia.Config{LoadBalancers: []*octavia.LoadBalancer{
		{Name: "as", VIPAddress: "10.0.1.100", Topology: octavia.TopologyActiveStandby},
		{Name: "single", VIPAddress: "10.0.1.101"},
	}}
	file.SetDefaults()
	file.Normalize()
	if err := e.cp.SetFileConfig(context.Background(), file); err != nil {
		t.Fatal(err)
	}
	amps := map[string][]map[string]any{}
	for _, a := range e.must(http.StatusOK, "GET", "/v2/octavia/amphorae", nil, "")["amphorae"].([]any) {
		m := a.(map[string]any)
		amps[str(m, "loadbalancer_id")] = append(amps[str(m, "loadbalancer_id")], m)
	}
	as, single := file.LoadBalancers[0].ID, file.LoadBalancers[1].ID
	if len(amps[single]) != 1 || amps[single][0]["role"] != "STANDALONE" {
		t.Errorf("SINGLE load balancer's amphorae: %v", amps[single])
	}
	got := map[string]string{}
	for _, a := range amps[as] {
		got[str(a, "vrrp_ip")] = fmt.Sprintf("%v %v %v %v %v %v", a["role"], a["status"], a["vrrp_priority"], a["lb_network_ip"], a["ha_ip"], a["vrrp_interface"])
		one := e.must(http.StatusOK, "GET", "/v2/octavia/amphorae/"+str(a, "id"), nil, "amphora")
		if one["vrrp_ip"] != a["vrrp_ip"] {
			t.Errorf("amphora %s alone: %v", str(a, "id"), one)
		}
	}
	want := map[string]string{
		"10.0.1.11": "MASTER ALLOCATED 100 10.0.0.11 10.0.1.100 eth0",
		"10.0.1.12": "BACKUP ALLOCATED 90 10.0.0.12 10.0.1.100 eth0",
		"10.0.1.13": "BACKUP ERROR 90 10.0.0.13 10.0.1.100 eth0",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ACTIVE_STANDBY amphorae:\n%v\nwant\n%v", got, want)
	}
}
