package tcp

// The retransmission queue and SACK scoreboard.
//
// Every segment sent and not yet cumulatively acknowledged has a txSeg:
// its sequence range, what the peer told us about it (SACKed), what we
// concluded (lost), whether a retransmission of it is in flight, and the
// delivery-rate stamps taken when it was last sent. Segments are kept in
// sequence order (for ACK and SACK processing) and, on a second intrusive
// list, in order of last transmission time (for RACK, which then only looks
// at the oldest ones). Payload bytes are not held here: they stay in the
// send buffer until cumulatively acknowledged.
//
// In-flight bytes follow RFC 6675's pipe, computed as Linux does:
//   inflight = out - sacked - lost + retransmitted-and-in-flight

import "github.com/ustack/ustack/clock"

type segFlags uint8

const (
	segSYN     segFlags = 1 << iota
	segFIN              // carries FIN
	segSACKed           // selectively acknowledged
	segLost             // marked lost (by RACK, dupacks or RTO)
	segRtxLive          // a retransmission of it is in flight
	segEverRtx          // retransmitted at least once
)

type txSeg struct {
	seq, endSeq uint32
	flags       segFlags
	xmitTime    clock.Time // last transmission
	// Rate-sampling stamps taken at the last transmission (tcp_rate.c).
	delivered     uint64
	deliveredTime clock.Time
	firstTxTime   clock.Time
	appLimited    bool
	// Time-ordered list links.
	tprev, tnext *txSeg
}

func (s *txSeg) len() int { return int(s.endSeq - s.seq) }

type rtxQueue struct {
	segs  []*txSeg // in sequence order, from head
	head  int
	thead *txSeg // oldest transmission
	ttail *txSeg // newest transmission

	out        int // bytes between SND.UNA and SND.NXT held in segs
	sacked     int
	lost       int // lost and not SACKed
	retransOut int // retransmissions in flight (not SACKed)
	rtxHint    int // index (from head) at or before the first lost, unretransmitted segment
	highSACK   uint32
	hasSACK    bool
}

func (q *rtxQueue) len() int        { return len(q.segs) - q.head }
func (q *rtxQueue) at(i int) *txSeg { return q.segs[q.head+i] }
func (q *rtxQueue) inflight() int   { return q.out - q.sacked - q.lost + q.retransOut }
func (q *rtxQueue) first() *txSeg {
	if q.len() == 0 {
		return nil
	}
	return q.segs[q.head]
}
func (q *rtxQueue) last() *txSeg {
	if q.len() == 0 {
		return nil
	}
	return q.segs[len(q.segs)-1]
}

// newSeg takes a zeroed segment from the stack's pool.
func (s *Stack) newSeg() *txSeg {
	n := len(s.segPool)
	if n == 0 {
		return &txSeg{}
	}
	t := s.segPool[n-1]
	s.segPool = s.segPool[:n-1]
	*t = txSeg{}
	return t
}

// push appends a newly sent segment.
func (q *rtxQueue) push(s *Stack, seq, end uint32, flags segFlags) *txSeg {
	t := s.newSeg()
	t.seq, t.endSeq, t.flags = seq, end, flags
	if q.head > 64 && q.head > len(q.segs)/2 {
		n := copy(q.segs, q.segs[q.head:])
		clear(q.segs[n:])
		q.segs = q.segs[:n]
		q.head = 0
	}
	q.segs = append(q.segs, t)
	q.out += t.len()
	return t
}

// touch moves t to the tail of the time-ordered list (it was just sent).
func (q *rtxQueue) touch(t *txSeg) {
	q.unlinkTime(t)
	t.tprev = q.ttail
	if q.ttail != nil {
		q.ttail.tnext = t
	} else {
		q.thead = t
	}
	q.ttail = t
}

func (q *rtxQueue) unlinkTime(t *txSeg) {
	if t.tprev == nil && t.tnext == nil && q.thead != t {
		return
	}
	if t.tprev != nil {
		t.tprev.tnext = t.tnext
	} else {
		q.thead = t.tnext
	}
	if t.tnext != nil {
		t.tnext.tprev = t.tprev
	} else {
		q.ttail = t.tprev
	}
	t.tprev, t.tnext = nil, nil
}

// popFront removes the head segment (fully acknowledged) and returns it to
// the pool; the caller has read what it needs.
func (q *rtxQueue) popFront(s *Stack) {
	t := q.segs[q.head]
	q.segs[q.head] = nil
	q.head++
	if q.rtxHint > 0 {
		q.rtxHint--
	}
	q.out -= t.len()
	q.forget(t)
	q.unlinkTime(t)
	s.segPool = append(s.segPool, t)
}

// forget removes t's contribution to the sacked/lost/retransOut counters.
func (q *rtxQueue) forget(t *txSeg) {
	n := t.len()
	if t.flags&segSACKed != 0 {
		q.sacked -= n
		return
	}
	if t.flags&segLost != 0 {
		q.lost -= n
	}
	if t.flags&segRtxLive != 0 {
		q.retransOut -= n
	}
}

// markSACKed records a SACK for t.
func (q *rtxQueue) markSACKed(t *txSeg) {
	q.forget(t)
	t.flags |= segSACKed
	t.flags &^= segRtxLive
	q.sacked += t.len()
	q.unlinkTime(t)
}

// forgetSACKs clears every SACK mark (the peer reneged): the segments count
// as in flight again until they are marked lost.
func (q *rtxQueue) forgetSACKs() {
	for i := 0; i < q.len(); i++ {
		if t := q.at(i); t.flags&segSACKed != 0 {
			t.flags &^= segSACKed
			q.sacked -= t.len()
		}
	}
	q.hasSACK = false
}

// markLost marks t lost (a no-op for SACKed or already lost-and-not-resent segments).
func (q *rtxQueue) markLost(t *txSeg, idx int) bool {
	if t.flags&segSACKed != 0 {
		return false
	}
	if t.flags&segLost != 0 && t.flags&segRtxLive == 0 {
		return false
	}
	n := t.len()
	if t.flags&segRtxLive != 0 {
		q.retransOut -= n
		t.flags &^= segRtxLive
	}
	if t.flags&segLost == 0 {
		q.lost += n
		t.flags |= segLost
	}
	if idx < q.rtxHint {
		q.rtxHint = idx
	}
	return true
}

// markRetransmitted records that t was resent now.
func (q *rtxQueue) markRetransmitted(t *txSeg) {
	if t.flags&segRtxLive == 0 {
		q.retransOut += t.len()
	}
	t.flags |= segRtxLive | segEverRtx
}

// nextToRetransmit returns the lowest-sequence lost segment not yet resent.
func (q *rtxQueue) nextToRetransmit() (*txSeg, int) {
	if q.lost == 0 {
		return nil, -1
	}
	for i := q.rtxHint; i < q.len(); i++ {
		t := q.at(i)
		if t.flags&(segLost|segSACKed|segRtxLive) == segLost {
			q.rtxHint = i
			return t, i
		}
	}
	q.rtxHint = q.len()
	return nil, -1
}

// find returns the index of the first segment whose end is after seq.
func (q *rtxQueue) find(seq uint32) int {
	lo, hi := 0, q.len()
	for lo < hi {
		m := (lo + hi) / 2
		if seqLEQ(q.at(m).endSeq, seq) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// split cuts segment idx so that it ends at seq; the tail becomes a new
// segment right after it with the same flags and stamps.
func (q *rtxQueue) split(s *Stack, idx int, seq uint32) {
	t := q.at(idx)
	nt := s.newSeg()
	*nt = *t
	nt.tprev, nt.tnext = nil, nil
	nt.seq = seq
	nt.flags &^= segSYN
	t.endSeq = seq
	t.flags &^= segFIN
	q.segs = append(q.segs, nil)
	copy(q.segs[q.head+idx+2:], q.segs[q.head+idx+1:])
	q.segs[q.head+idx+1] = nt
	// Counters are per byte and unchanged by a split; keep the time list
	// complete by linking the new piece right after the old one.
	if t.tnext != nil || q.ttail == t {
		nt.tprev = t
		nt.tnext = t.tnext
		if t.tnext != nil {
			t.tnext.tprev = nt
		} else {
			q.ttail = nt
		}
		t.tnext = nt
	}
}

func (q *rtxQueue) clear(s *Stack) {
	for q.len() > 0 {
		q.popFront(s)
	}
	*q = rtxQueue{segs: q.segs[:0]}
}
