package api

// A shape lists the attributes a request body may carry, as Octavia's WSME
// request types do (octavia/api/v2/types/*.py: *POST, *PUT, *SingleCreate).
// WSME refuses any other attribute with 400, and so does lbd. A nil shape
// is a leaf; a non-nil one is an object (or a list of objects).
type shape map[string]shape

func leaves(names ...string) shape {
	s := shape{}
	for _, n := range names {
		s[n] = nil
	}
	return s
}

func (s shape) with(more shape) shape {
	out := shape{}
	for k, v := range s {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

func (s shape) without(names ...string) shape {
	out := shape{}
	for k, v := range s {
		out[k] = v
	}
	for _, n := range names {
		delete(out, n)
	}
	return out
}

var (
	sessionPersistenceShape = leaves("type", "cookie_name", "persistence_timeout", "persistence_granularity")

	memberSingleShape = leaves("name", "admin_state_up", "address", "protocol_port", "weight", "backup",
		"subnet_id", "monitor_port", "monitor_address", "tags")
	memberPostShape = memberSingleShape.with(leaves("project_id", "tenant_id"))
	memberPutShape  = leaves("name", "admin_state_up", "weight", "backup", "monitor_port", "monitor_address", "tags")

	monitorSingleShape = leaves("name", "type", "delay", "timeout", "max_retries_down", "max_retries",
		"http_method", "url_path", "expected_codes", "admin_state_up", "tags", "http_version", "domain_name")
	monitorPostShape = monitorSingleShape.with(leaves("project_id", "tenant_id", "pool_id"))
	monitorPutShape  = monitorSingleShape.without("type")

	poolPutShape = leaves("name", "description", "admin_state_up", "lb_algorithm", "tags", "tls_container_ref",
		"ca_tls_container_ref", "crl_container_ref", "tls_enabled", "tls_ciphers", "tls_versions", "alpn_protocols").
		with(shape{"session_persistence": sessionPersistenceShape})
	poolSingleShape = poolPutShape.with(leaves("protocol")).
			with(shape{"healthmonitor": monitorSingleShape, "members": memberSingleShape})
	poolPostShape = poolSingleShape.with(leaves("listener_id", "loadbalancer_id", "project_id", "tenant_id"))

	listenerPutShape = leaves("name", "description", "admin_state_up", "connection_limit",
		"default_tls_container_ref", "sni_container_refs", "default_pool_id", "insert_headers",
		"timeout_client_data", "timeout_member_connect", "timeout_member_data", "timeout_tcp_inspect", "tags",
		"client_ca_tls_container_ref", "client_authentication", "client_crl_container_ref", "allowed_cidrs",
		"tls_ciphers", "tls_versions", "alpn_protocols",
		"connection_logging") // lbd's extension under provider lbd (octavia.Listener.ConnectionLogging)
	l7RuleSingleShape = leaves("type", "compare_type", "key", "value", "invert", "admin_state_up", "tags")
	l7RulePostShape   = l7RuleSingleShape.with(leaves("project_id", "tenant_id"))
	l7RulePutShape    = l7RuleSingleShape

	l7PolicyPutShape = leaves("name", "description", "admin_state_up", "action", "redirect_pool_id",
		"redirect_url", "redirect_prefix", "position", "tags", "redirect_http_code")
	l7PolicySingleShape = l7PolicyPutShape.without("redirect_pool_id").
				with(shape{"rules": l7RuleSingleShape, "redirect_pool": poolSingleShape})
	l7PolicyPostShape = l7PolicyPutShape.with(leaves("project_id", "tenant_id", "listener_id")).
				with(shape{"rules": l7RuleSingleShape})

	listenerSingleShape = listenerPutShape.with(leaves("protocol", "protocol_port")).
				with(shape{"default_pool": poolSingleShape, "l7policies": l7PolicySingleShape})
	listenerPostShape = listenerSingleShape.with(leaves("project_id", "tenant_id", "loadbalancer_id"))

	loadBalancerPutShape  = leaves("name", "description", "vip_qos_policy_id", "admin_state_up", "tags")
	loadBalancerPostShape = loadBalancerPutShape.with(leaves("vip_address", "vip_port_id", "vip_subnet_id",
		"vip_network_id", "project_id", "tenant_id", "provider", "flavor_id", "availability_zone")).
		with(shape{
			"additional_vips": leaves("subnet_id", "ip_address"),
			"listeners":       listenerSingleShape,
			"pools":           poolSingleShape,
		})
)
