// Package keepalived drives keepalived for lbd's ACTIVE_STANDBY load
// balancers, as Octavia's amphora agent does: Config renders the VRRP
// configuration (one instance, unicast peers, authentication, the check
// script asking lbd whether its listeners are up), Process runs keepalived
// as lbd's child, reloads it when the configuration changes, starts it
// again if it dies, and makes it hand its VIPs over when lbd stops or dies.
//
// It knows nothing of load balancers or etcd: internal/ha decides what
// goes in the configuration. It must not import the octavia packages, the
// control plane or the data plane.
package keepalived
