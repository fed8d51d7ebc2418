package health

import "testing"

const (
	online    = StatusOnline
	offline   = StatusOffline
	errored   = StatusError
	draining  = StatusDraining
	noMonitor = StatusNoMonitor
)

func TestMemberStatus(t *testing.T) {
	tests := []struct {
		f    MemberFacts
		want Status
	}{
		{MemberFacts{Enabled: true, Weight: 1, Monitored: true, Healthy: true}, online},
		{MemberFacts{Enabled: true, Weight: 1, Monitored: true, Healthy: false}, errored},
		{MemberFacts{Enabled: false, Weight: 1, Monitored: true, Healthy: false}, offline},
		{MemberFacts{Enabled: false, Weight: 0, Monitored: false, Healthy: true}, offline},
		{MemberFacts{Enabled: true, Weight: 0, Monitored: true, Healthy: true}, draining},
		{MemberFacts{Enabled: true, Weight: 0, Monitored: true, Healthy: false}, errored},
		{MemberFacts{Enabled: true, Weight: 0, Monitored: false, Healthy: true}, draining},
		{MemberFacts{Enabled: true, Weight: 5, Monitored: false, Healthy: true}, noMonitor},
		{MemberFacts{Enabled: true, Weight: 5, Monitored: false, Healthy: false}, errored}, // passively ejected
	}
	for _, tt := range tests {
		if got := MemberStatus(tt.f); got != tt.want {
			t.Errorf("MemberStatus(%+v) = %s, want %s", tt.f, got, tt.want)
		}
	}
}
