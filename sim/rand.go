// Randomness model.
//
// Every random decision in the simulator comes from a seeded generator; there
// is no global source and no wall clock. A Network has one seed, and each
// component derives its own independent stream from it (see DeriveSeed), so
// adding a pipe does not shift the random stream of any other pipe, and
// enabling one fault (say duplication) on a pipe does not change which
// packets another fault (say loss) hits: each fault kind of each pipe has
// its own stream. The generator is SplitMix64, which is tiny, fast, and of
// ample quality for fault injection.

package sim

import (
	"math/bits"
	"math/rand/v2"
)

// mix64 is the SplitMix64 finalizer: a bijective avalanche of 64 bits.
func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// deriveSeed combines a parent seed and a key into an independent seed.
func deriveSeed(seed, key uint64) uint64 {
	return mix64(seed ^ mix64(key+0x9e3779b97f4a7c15))
}

// hashLabel is FNV-1a over a label, used to key derived seeds by name.
func hashLabel(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// splitmix is a SplitMix64 generator.
type splitmix struct{ s uint64 }

func (r *splitmix) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix64(r.s)
}

// below returns a uniform value in [0, n).
func (r *splitmix) below(n uint64) uint64 {
	hi, _ := bits.Mul64(r.next(), n)
	return hi
}

// probThreshold converts a probability into a threshold for chance: an event
// of probability p happens when the top 53 bits of a draw are below it.
// Zero means "never" and lets callers skip the draw entirely.
func probThreshold(p float64) uint64 {
	switch {
	case !(p > 0): // also NaN
		return 0
	case p >= 1:
		return 1 << 53
	}
	return uint64(p * (1 << 53))
}

// chance reports whether an event with the given threshold happens. It draws
// only when the threshold is non-zero.
func (r *splitmix) chance(thr uint64) bool {
	return thr != 0 && r.next()>>11 < thr
}

// DeriveSeed returns a seed for a component named label, derived from the
// network seed. The same label always yields the same seed for the same
// network seed, independently of what else exists in the network.
func (n *Network) DeriveSeed(label string) uint64 {
	return deriveSeed(n.seed, hashLabel(label))
}

// NewRand returns a math/rand/v2 generator seeded from DeriveSeed(label),
// for applications and stacks that need their own deterministic stream
// (initial sequence numbers, ephemeral ports, workload sizes...).
func (n *Network) NewRand(label string) *rand.Rand {
	s := n.DeriveSeed(label)
	return rand.New(rand.NewPCG(s, mix64(s)))
}
