package cloud

import (
	"fmt"
	"io"
)

// Print writes the result for people: the load balancer, its VIP and
// floating IP, the servers and the status tree.
func (res *Result) Print(w io.Writer) {
	if lb := res.LoadBalancer; lb != nil {
		fmt.Fprintf(w, "load balancer %s (%s): VIP %s on port %s\n", lb.Name, lb.ID, lb.VipAddress, lb.VipPortID)
	}
	if f := res.FloatingIP; f != nil {
		fmt.Fprintf(w, "floating IP: %s (%s)\n", f.FloatingIP, f.Status)
	}
	for _, s := range res.Servers {
		fmt.Fprintf(w, "server %s (%s): %s %s\n", s.Name, firstOf(s.ID, "to be created"), firstOf(s.Status, "-"), firstOf(s.Address, "-"))
	}
	if res.Status != nil {
		fmt.Fprintln(w, "status (provisioning / operating):")
		res.Status.Print(w)
	}
}
