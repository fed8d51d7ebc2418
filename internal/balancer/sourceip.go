package balancer

import (
	"encoding/binary"
	"hash/fnv"
	"math"
	"net/netip"
)

// sourceHash maps a client to a member by weighted rendezvous hashing
// (highest random weight): every member scores the client's hash, the best
// score wins. When a member leaves, only the clients it had move; when one
// joins, it takes only the clients it now wins, about 1/N of them. HAProxy's
// default map-based "balance source" remaps most clients instead.
//
// The hashes are fixed functions of the client address and the member ID,
// so the mapping is the same across reloads and restarts.
type sourceHash struct {
	members  []*Member
	seeds    []uint64
	invW     []float64 // 1/weight per member; nil when all weights are equal
	withPort bool
}

func newSourceHash(ready []*Member, withPort bool) *sourceHash {
	s := &sourceHash{members: ready, seeds: make([]uint64, len(ready)), withPort: withPort}
	equal := true
	for i, m := range ready {
		h := fnv.New64a()
		h.Write([]byte(m.ID))
		s.seeds[i] = mix(h.Sum64())
		equal = equal && m.Weight == ready[0].Weight
	}
	if !equal {
		s.invW = make([]float64, len(ready))
		for i, m := range ready {
			s.invW[i] = 1 / float64(m.Weight)
		}
	}
	return s
}

func (s *sourceHash) pick(src netip.AddrPort) *Member {
	key := hashAddr(src.Addr())
	if s.withPort {
		key = mix(key ^ uint64(src.Port()))
	}
	best := 0
	if s.invW == nil {
		var bestScore uint64
		for i, seed := range s.seeds {
			if sc := mix(key ^ seed); sc > bestScore {
				best, bestScore = i, sc
			}
		}
		return s.members[best]
	}
	// Weighted: the member with the least -ln(u)/w wins, u uniform in
	// (0,1]; that is an exponential race, so each member wins with
	// probability proportional to its weight.
	bestScore := math.Inf(1)
	for i, seed := range s.seeds {
		u := (float64(mix(key^seed)>>11) + 1) / (1 << 53)
		if sc := -fastLn(u) * s.invW[i]; sc < bestScore {
			best, bestScore = i, sc
		}
	}
	return s.members[best]
}

// hashAddr hashes an address; an IPv4-mapped IPv6 address hashes as IPv4.
func hashAddr(a netip.Addr) uint64 {
	b := a.Unmap().As16()
	return mix(binary.BigEndian.Uint64(b[:8]) ^ mix(binary.BigEndian.Uint64(b[8:])))
}

// mix is SplitMix64's finalizer: a fast bijection with good avalanche.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// fastLn is ln(u) for u in (0,1] to about 1e-7, several times cheaper than
// math.Log: the exponent gives the integer part, a polynomial for ln(1+x) on
// [0,1) the rest. Rendezvous scores need determinism, not the last digits.
func fastLn(u float64) float64 {
	b := math.Float64bits(u)
	e := float64(int64(b>>52&0x7ff) - 1023)
	x := math.Float64frombits(b&(1<<52-1)|1023<<52) - 1
	p := x * (0.9999964239 + x*(-0.4998741238+x*(0.3317990258+x*(-0.2407338084+x*(0.1676540711+x*(-0.0953293897+x*(0.0360884937+x*-0.0064535442)))))))
	return e*math.Ln2 + p
}
