// Package octavia is lbd's object model: Octavia's v2 load balancer,
// listener, pool, member and health monitor, with Octavia's field names,
// enums, defaults, validation rules and status roll-ups. The config file
// and the REST API share these types.
//
// The life of a config: Parse (strict YAML decode that reports every unknown
// field or wrong type with its line), SetDefaults (the one place defaults are
// decided), Validate (every broken rule, each naming the field path, the value
// and the rule), Normalize (inline default pools hoisted to the load balancer,
// stable IDs assigned). The data plane takes the result as it is: it reads
// the values SetDefaults filled and checks no range again.
//
// Operating statuses roll up here as Octavia's health manager rolls them
// up (PoolStatus, ListenerStatus, LoadBalancerStatus, MonitorStatus): they
// are Octavia's rules over Octavia's enum, shared by whoever reports status.
// A member's own status comes from the data plane's health checks.
//
// It is the model every other package speaks, so it imports only the
// standard library and yaml.v3: it must not import any other lbd package
// (the data plane, health, the control plane, the API) nor gophercloud.
// Its subpackages api, auth, client and openstack may import it, never the
// other way round.
package octavia
