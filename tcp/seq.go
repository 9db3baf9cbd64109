package tcp

// Sequence numbers live in a 32-bit circle (RFC 9293 section 3.4) and are
// compared only through these helpers, never with < or > directly.

func seqLT(a, b uint32) bool  { return int32(a-b) < 0 }
func seqLEQ(a, b uint32) bool { return int32(a-b) <= 0 }
func seqGT(a, b uint32) bool  { return int32(a-b) > 0 }
func seqGEQ(a, b uint32) bool { return int32(a-b) >= 0 }

// seqInRange reports whether lo <= s < hi.
func seqInRange(s, lo, hi uint32) bool { return seqGEQ(s, lo) && seqLT(s, hi) }

func seqMax(a, b uint32) uint32 {
	if seqGT(a, b) {
		return a
	}
	return b
}

func seqMin(a, b uint32) uint32 {
	if seqLT(a, b) {
		return a
	}
	return b
}
