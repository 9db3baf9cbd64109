// Frame buffer pool.
//
// A pipe must copy every frame it accepts (ip.Device forbids retaining the
// caller's slice) and hold it until delivery. To keep the per-packet cost
// allocation-free, copies come from free lists of power-of-two size classes
// (64 B .. 1 MiB) owned by the Network. A buffer returns to its class after
// its sink call. Larger frames are allocated exactly and left to the GC.
// The pool is not safe for concurrent use: the simulator is single-threaded.

package sim

import "math/bits"

const (
	minClassShift = 6  // 64 B
	maxClassShift = 20 // 1 MiB
)

type bufPool struct {
	free [maxClassShift + 1][][]byte
}

func sizeClass(n int) int {
	if n <= 1<<minClassShift {
		return minClassShift
	}
	return bits.Len(uint(n - 1))
}

// get returns a buffer of length n.
func (p *bufPool) get(n int) []byte {
	c := sizeClass(n)
	if c > maxClassShift {
		return make([]byte, n)
	}
	fl := p.free[c]
	if k := len(fl); k > 0 {
		b := fl[k-1]
		fl[k-1] = nil
		p.free[c] = fl[:k-1]
		return b[:n]
	}
	return make([]byte, n, 1<<c)
}

// put returns a buffer obtained from get.
func (p *bufPool) put(b []byte) {
	c := cap(b)
	if c < 1<<minClassShift || c > 1<<maxClassShift || c&(c-1) != 0 {
		return
	}
	k := bits.Len(uint(c)) - 1
	p.free[k] = append(p.free[k], b[:0])
}
