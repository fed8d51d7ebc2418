package controlplane

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"

	"lbd/internal/octavia"
	"lbd/internal/octavia/api"
)

// The providers lbd answers for, and how each validates the metadata of
// flavor and availability zone profiles (Octavia's provider drivers'
// validate_flavor and validate_availability_zone, and their capabilities).

// provider is a provider driver lbd answers for: its description in the
// provider list and the metadata its flavor and availability zone
// profiles may carry (a JSON schema's properties, all optional).
type provider struct {
	name, description string
	flavorKeys        []metadataKey
	azKeys            []metadataKey
}

// metadataKey is one property of a provider's metadata schema.
type metadataKey struct {
	name, description string
	kind              string   // JSON type: "string" or "array"
	enum              []string // allowed values, if limited
}

// providers are the enabled providers. "amphora" validates profiles with
// the amphora driver's schemas (octavia/api/drivers/amphora_driver/
// flavor_schema.py, availability_zone_schema.py); lbd runs every load
// balancer in its own data plane whatever they say. "lbd" takes no
// metadata.
var providers = []provider{
	{name: octavia.ProviderLBD, description: "The lbd data plane (userspace proxy and health checker)"},
	{name: octavia.ProviderAmphora, description: "The lbd data plane under the amphora provider name",
		flavorKeys: []metadataKey{
			// The enum in Octavia's order (its messages print it).
			{name: "loadbalancer_topology", kind: "string", enum: []string{"ACTIVE_STANDBY", "SINGLE"},
				description: "The load balancer topology. One of: SINGLE - One amphora per load balancer. ACTIVE_STANDBY - Two amphora per load balancer."},
			{name: "compute_flavor", kind: "string", description: "The compute driver flavor ID."},
			{name: "amp_image_tag", kind: "string", description: "The amphora image tag."},
		},
		azKeys: []metadataKey{
			{name: "compute_zone", kind: "string", description: "The compute availability zone."},
			{name: "management_network", kind: "string", description: "The management network ID for the amphora."},
			{name: "valid_vip_networks", kind: "array",
				description: "List of network IDs that are allowed for VIP use. This overrides/replaces the list of allowed networks configured in `octavia.conf`."},
		},
	},
}

// enabledProvider is Octavia's driver_factory.get_driver: a provider not
// enabled is a 400.
func enabledProvider(name string) (*provider, error) {
	for i := range providers {
		if providers[i].name == name {
			return &providers[i], nil
		}
	}
	return nil, api.Errorf(http.StatusBadRequest, "Provider '%s' is not enabled.", name)
}

// validateMetadata checks a profile's metadata document (flavor_data or
// availability_zone_data) against the provider's keys, with jsonschema's
// messages: the document must be a JSON object (else Octavia's 400 for
// the option) whose keys the provider knows, with values of their type
// (else the provider's 501).
func (p *provider) validateMetadata(keys []metadataKey, option, doc string) error {
	var m map[string]any
	if err := json.Unmarshal([]byte(doc), &m); err != nil || m == nil {
		var v any
		if json.Unmarshal([]byte(doc), &v) != nil {
			return api.Errorf(http.StatusBadRequest, "%s is not a valid option for %s", doc, option)
		}
		return p.unsupported(fmt.Sprintf("%s is not of type 'object'", pyRepr(v)))
	}
	var extra []string
	for k := range m {
		if !slices.ContainsFunc(keys, func(mk metadataKey) bool { return mk.name == k }) {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		quoted := make([]string, len(extra))
		for i, k := range extra {
			quoted[i] = "'" + k + "'"
		}
		verb := "was"
		if len(extra) > 1 {
			verb = "were"
		}
		return p.unsupported(fmt.Sprintf("Additional properties are not allowed (%s %s unexpected)", strings.Join(quoted, ", "), verb))
	}
	for _, k := range keys {
		v, ok := m[k.name]
		if !ok {
			continue
		}
		switch k.kind {
		case "string":
			s, isString := v.(string)
			if !isString {
				return p.unsupported(fmt.Sprintf("%s %s is not of type 'string'", k.name, pyRepr(v)))
			}
			if len(k.enum) > 0 && !slices.Contains(k.enum, s) {
				return p.unsupported(fmt.Sprintf("%s %s is not one of %s", k.name, pyRepr(s), pyList(k.enum)))
			}
		case "array":
			if _, isList := v.([]any); !isList {
				return p.unsupported(fmt.Sprintf("%s %s is not of type 'array'", k.name, pyRepr(v)))
			}
		}
	}
	return nil
}

// unsupported is the provider's refusal of an option (Octavia's
// ProviderUnsupportedOptionError).
func (p *provider) unsupported(msg string) error {
	return api.Errorf(http.StatusNotImplemented, "Provider '%s' does not support a requested option: %s", p.name, msg)
}

// pyRepr renders a JSON value as Python's repr, as jsonschema's messages
// quote it.
func pyRepr(v any) string {
	switch x := v.(type) {
	case string:
		return "'" + x + "'"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case nil:
		return "None"
	case float64:
		if x == float64(int64(x)) {
			return fmt.Sprint(int64(x))
		}
		return fmt.Sprint(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = pyRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := slices.Sorted(maps.Keys(x))
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = "'" + k + "': " + pyRepr(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}

func pyList(s []string) string {
	parts := make([]string, len(s))
	for i, e := range s {
		parts[i] = "'" + e + "'"
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// validateProfile checks a profile's provider and metadata.
func validateProfile(providerName, option, data string, keys func(*provider) []metadataKey) error {
	prov, err := enabledProvider(providerName)
	if err != nil {
		return err
	}
	return prov.validateMetadata(keys(prov), option, data)
}

func flavorKeys(p *provider) []metadataKey { return p.flavorKeys }
func azKeys(p *provider) []metadataKey     { return p.azKeys }

// Providers implements api.Catalog.
func (cp *ControlPlane) Providers() []api.Provider {
	out := make([]api.Provider, len(providers))
	for i, p := range providers {
		out[i] = api.Provider{Name: p.name, Description: p.description}
	}
	return out
}

// FlavorCapabilities implements api.Catalog.
func (cp *ControlPlane) FlavorCapabilities(name string) ([]api.Provider, error) {
	return capabilities(name, flavorKeys)
}

// AvailabilityZoneCapabilities implements api.Catalog.
func (cp *ControlPlane) AvailabilityZoneCapabilities(name string) ([]api.Provider, error) {
	return capabilities(name, azKeys)
}

func capabilities(name string, keys func(*provider) []metadataKey) ([]api.Provider, error) {
	p, err := enabledProvider(name)
	if err != nil {
		return nil, err
	}
	out := []api.Provider{}
	for _, k := range keys(p) {
		out = append(out, api.Provider{Name: k.name, Description: k.description})
	}
	return out, nil
}
