package octavia

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Snapshot is a config's objects as they were when it was taken, each on
// its own (a pool without its members and monitor), keyed by ID: what a
// later config is compared with to say what changed.
type Snapshot map[string]SnapshotObject

// SnapshotObject is one object of a Snapshot.
type SnapshotObject struct {
	Kind    string // "load balancer", "listener", "pool", "member", "health monitor"
	Name    string // its name; a member without one is named by address:port
	content string
}

// Snapshot takes the config's snapshot. Later changes to the config do not
// change it.
func (c *Config) Snapshot() Snapshot {
	if c == nil {
		return Snapshot{}
	}
	n := 0
	for _, lb := range c.LoadBalancers {
		n += 1 + len(lb.Listeners) + len(lb.Pools)
		for _, p := range lb.Pools {
			n += len(p.Members) + 1
		}
	}
	s := make(Snapshot, n)
	// One buffer for every object: each object's content is the one copy
	// of its encoding (a reload takes three snapshots of 10,000 members).
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	add := func(kind, id, name string, v any) {
		buf.Reset()
		enc.Encode(v)
		s[id] = SnapshotObject{Kind: kind, Name: name, content: buf.String()}
	}
	for _, lb := range c.LoadBalancers {
		top := *lb
		top.Listeners, top.Pools = nil, nil
		add(KindLoadBalancer, lb.ID, lb.Name, &top)
		for _, l := range lb.Listeners {
			bare := *l
			bare.DefaultPool = nil
			add(KindListener, l.ID, l.Name, &bare)
		}
		for _, p := range lb.Pools {
			bare := *p
			bare.Members, bare.HealthMonitor = nil, nil
			add(KindPool, p.ID, p.Name, &bare)
			for _, m := range p.Members {
				add(KindMember, m.ID, m.Label(), m)
			}
			if hm := p.HealthMonitor; hm != nil {
				add(KindHealthMonitor, hm.ID, hm.Name, hm)
			}
		}
	}
	return s
}

// Object kinds, as messages name them.
const (
	KindLoadBalancer  = "load balancer"
	KindListener      = "listener"
	KindPool          = "pool"
	KindMember        = "member"
	KindHealthMonitor = "health monitor"
)

var kindOrder = []string{KindLoadBalancer, KindListener, KindPool, KindMember, KindHealthMonitor}

// Label is how messages name a member: its name, or address:port.
func (m *Member) Label() string {
	if m.Name != "" {
		return m.Name
	}
	if strings.Contains(m.Address, ":") {
		return fmt.Sprintf("[%s]:%d", m.Address, m.ProtocolPort)
	}
	return fmt.Sprintf("%s:%d", m.Address, m.ProtocolPort)
}

// ChangeOp is what happened to an object between two snapshots.
type ChangeOp string

// Change operations. Replaced and Restored are Overridden's: an API
// change the file took back, an API deletion the file undid.
const (
	Added    ChangeOp = "added"
	Removed  ChangeOp = "removed"
	Changed  ChangeOp = "changed"
	Replaced ChangeOp = "replaced"
	Restored ChangeOp = "restored"
)

// Change is one object's difference between two snapshots.
type Change struct {
	Kind, ID, Name string
	Op             ChangeOp
}

// String names the object and what happened: `member "server2" (ID) removed`.
func (c Change) String() string {
	if c.Name == "" {
		return fmt.Sprintf("%s %s %s", c.Kind, c.ID, c.Op)
	}
	return fmt.Sprintf("%s %q (%s) %s", c.Kind, c.Name, c.ID, c.Op)
}

// Diff lists the objects added, removed and changed from old to s, by
// kind (load balancers first), then operation, then name.
func (old Snapshot) Diff(s Snapshot) []Change {
	var out []Change
	for id, o := range old {
		n, ok := s[id]
		switch {
		case !ok:
			out = append(out, Change{Kind: o.Kind, ID: id, Name: o.Name, Op: Removed})
		case n.content != o.content:
			out = append(out, Change{Kind: n.Kind, ID: id, Name: n.Name, Op: Changed})
		}
	}
	for id, n := range s {
		if _, ok := old[id]; !ok {
			out = append(out, Change{Kind: n.Kind, ID: id, Name: n.Name, Op: Added})
		}
	}
	sortChanges(out)
	return out
}

func sortChanges(cs []Change) {
	opOrder := map[ChangeOp]int{Added: 0, Removed: 1, Changed: 2, Replaced: 3, Restored: 4}
	slices.SortFunc(cs, func(a, b Change) int {
		return cmp.Or(
			cmp.Compare(slices.Index(kindOrder, a.Kind), slices.Index(kindOrder, b.Kind)),
			cmp.Compare(opOrder[a.Op], opOrder[b.Op]),
			cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
	})
}

// Summarize says what changes amount to in one line: "1 listener added
// (web); 1 member removed (server2); 2 members changed (a, b)", or "no
// change". A list of names stops after five.
func Summarize(changes []Change) string {
	if len(changes) == 0 {
		return "no change"
	}
	var parts []string
	for i := 0; i < len(changes); {
		j := i
		var names []string
		for j < len(changes) && changes[j].Kind == changes[i].Kind && changes[j].Op == changes[i].Op {
			if len(names) < 5 {
				names = append(names, cmp.Or(changes[j].Name, changes[j].ID))
			}
			j++
		}
		n := j - i
		noun := changes[i].Kind
		if n > 1 {
			noun += "s"
		}
		list := strings.Join(names, ", ")
		if n > len(names) {
			list += fmt.Sprintf(", and %d more", n-len(names))
		}
		parts = append(parts, fmt.Sprintf("%d %s %s (%s)", n, noun, changes[i].Op, list))
		i = j
	}
	return strings.Join(parts, "; ")
}

// Count counts the changes of one kind and operation.
func Count(changes []Change, kind string, op ChangeOp) int {
	n := 0
	for _, c := range changes {
		if c.Kind == kind && c.Op == op {
			n++
		}
	}
	return n
}

// Overridden lists what a reload of the config file took back from changes
// made through the API. prevFile is the file as last applied, before the
// running config it became (with the API's changes since), after the
// reload's result. An object the API had changed or added (it differs from,
// or is missing in, prevFile) that the reload changed is Replaced, one it
// removed is Removed; an object the API had deleted that the reload brought
// back is Restored.
func Overridden(prevFile, before, after Snapshot) []Change {
	var out []Change
	for id, b := range before {
		f, inFile := prevFile[id]
		if inFile && f.content == b.content {
			continue // as the file had it: not the API's
		}
		a, kept := after[id]
		switch {
		case !kept:
			out = append(out, Change{Kind: b.Kind, ID: id, Name: b.Name, Op: Removed})
		case a.content != b.content:
			out = append(out, Change{Kind: b.Kind, ID: id, Name: a.Name, Op: Replaced})
		}
	}
	for id, f := range prevFile {
		if _, ok := before[id]; ok {
			continue
		}
		if a, ok := after[id]; ok {
			out = append(out, Change{Kind: f.Kind, ID: id, Name: a.Name, Op: Restored})
		}
	}
	sortChanges(out)
	return out
}
