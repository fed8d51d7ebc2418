// Package octavia is lbd's object model: Octavia's v2 load balancer,
// listener, pool, member and health monitor, with Octavia's field names,
// enums, defaults and validation rules. The config file and the REST API share
// these types. The package imports only the standard library and yaml.v3.
//
// The life of a config: Parse (strict YAML decode that reports every unknown
// field or wrong type with its line), SetDefaults (the one place defaults are
// decided), Validate (every broken rule, each naming the field path, the value
// and the rule), Normalize (inline default pools hoisted to the load balancer,
// stable IDs assigned).
package octavia
