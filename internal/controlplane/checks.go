package controlplane

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"lbd/internal/octavia"
	"lbd/internal/octavia/api"
)

// checkBinds refuses a load balancer whose listeners would bind an address
// and port another load balancer's listener binds. In Octavia every load
// balancer has a VIP of its own; lbd's share its addresses, so a port can be
// taken by another load balancer.
func checkBinds(st *state, lb *octavia.LoadBalancer) error {
	x := st.index()
	for _, l := range lb.Listeners {
		if b := x.boundElsewhere(lb, l); b != nil {
			return api.Errorf(http.StatusConflict,
				"Another Listener (%s on Load Balancer %s) is already using %s port %d on VIP address %s",
				b.l.ID, b.lb.ID, strings.ToUpper(l.Protocol.Transport()), l.ProtocolPort, b.lb.VIPAddress)
		}
	}
	return nil
}

// newID returns a random (version 4) UUID, as Octavia gives new objects.
func newID() string {
	var u [16]byte
	rand.Read(u[:])
	u[6] = (u[6] & 0x0f) | 0x40
	u[8] = (u[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`)

// checkUUIDs answers WSME's 400 for the first non-empty field that is not a
// UUID; fields alternate name, value.
func checkUUIDs(fields ...string) error {
	for i := 0; i+1 < len(fields); i += 2 {
		if v := fields[i+1]; v != "" && !uuidRE.MatchString(v) {
			return api.InvalidInput(fields[i], v, "Value should be UUID format")
		}
	}
	return nil
}

// invalid turns validation problems into WSME-style 400 answers, one
// sentence per problem, each naming the attribute, its value and the rule.
// When the only problem is an option the amphora provider refuses, the
// answer is the provider's 501, as Octavia's API validates first and asks
// the provider driver last.
func invalid(err error) error {
	var ve *octavia.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	if fe := ve.Errors[0]; fe.Fault != "" {
		// Octavia's own words; it answers one problem at a time.
		return api.Errorf(fe.Code, "%s", fe.Fault)
	}
	// WSME's type checks run before the controllers' rules, which stop at
	// the first problem with Octavia's own message (Detail).
	var problems, details []*octavia.FieldError
	var unsupported *octavia.FieldError
	for _, fe := range ve.Errors {
		switch {
		case amphoraUnsupported(fe):
			unsupported = fe
		case fe.Detail:
			details = append(details, fe)
		default:
			problems = append(problems, fe)
		}
	}
	if len(problems) == 0 && len(details) > 0 {
		return api.Invalid("%s", details[0].Rule)
	}
	if len(problems) == 0 && unsupported != nil {
		return api.Errorf(http.StatusNotImplemented,
			"Provider '%s' does not support a requested option: Amphora provider does not support %v algorithm.",
			octavia.ProviderAmphora, unsupported.Value)
	}
	msgs := make([]string, 0, len(problems))
	for _, fe := range problems {
		field := fe.Path
		if i := strings.LastIndexAny(field, ".]"); i >= 0 {
			field = field[i+1:]
		}
		if field == "" {
			field = fe.Path
		}
		switch {
		case fe.Rule == octavia.RuleRequired:
			msgs = append(msgs, fmt.Sprintf("Invalid input for field/attribute %s. Value: 'None'. Mandatory field missing.", field))
		case fe.Value == nil:
			msgs = append(msgs, fmt.Sprintf("Invalid input for field/attribute %s. %s", fe.Path, fe.Rule))
		default:
			msgs = append(msgs, fmt.Sprintf("Invalid input for field/attribute %s. Value: '%v'. %s", field, plainValue(fe.Value), fe.Rule))
		}
	}
	return api.Errorf(http.StatusBadRequest, "%s", strings.Join(msgs, " "))
}

// amphoraUnsupported reports the one rule that is the provider's, not the
// API's: SOURCE_IP_PORT is a valid algorithm that the amphora provider
// does not implement (octavia.Pool.Validate refuses it under "amphora").
func amphoraUnsupported(fe *octavia.FieldError) bool {
	return strings.HasSuffix(fe.Path, ".lb_algorithm") && fe.Value == octavia.AlgorithmSourceIPPort
}

func plainValue(v any) string {
	s := octavia.FormatValue(v)
	return strings.Trim(s, `"`)
}

func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
