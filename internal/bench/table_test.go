package bench

import (
	"strings"
	"testing"
)

// TestOverloadRuleIsStated: the table says when a run is flagged as
// overloaded (GEN LAG P99 over 50 ms), so that a run at 49 ms unflagged
// beside one at 51 ms flagged reads as the rule, not as noise.
func TestOverloadRuleIsStated(t *testing.T) {
	rep := &Report{Scenario: "s", Rate: 100, Runs: []*RunResult{
		{Algorithm: "ROUND_ROBIN", SendLagP99MS: 49},
		{Algorithm: "LEAST_CONNECTIONS", SendLagP99MS: 51},
	}}
	var b strings.Builder
	if err := WriteTable(&b, rep); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, "GEN LAG P99: how late the generator sent its requests (99th percentile); over 50.0ms the run is flagged as overloaded") {
		t.Errorf("the rule is not stated:\n%s", out)
	}
	if !strings.Contains(out, "warning: LEAST_CONNECTIONS: GEN LAG P99 51.0ms is over 50.0ms") || strings.Contains(out, "warning: ROUND_ROBIN") {
		t.Errorf("warnings:\n%s", out)
	}
}
