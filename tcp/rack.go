package tcp

// RACK-TLP loss detection (RFC 8985).
//
// RACK marks a segment lost when a segment sent sufficiently later has been
// delivered: "sent before the most recently delivered segment, by more than
// a reordering window". It needs the send time of the newest delivered
// segment (rack.xmitTime) and walks the retransmission queue in send-time
// order, stopping at the first segment that is still within its allowance;
// when some are not yet due, it arms the reordering timer.
//
// TLP sends one probe (new data or the last segment) when the tail of a
// flight goes unacknowledged for about two RTTs, so that tail losses are
// repaired by SACK recovery rather than by an RTO.

import (
	"time"

	"github.com/ustack/ustack/clock"
)

type rackState struct {
	xmitTime       clock.Time // send time of the most recently sent delivered segment
	endSeq         uint32
	rtt            time.Duration
	reorderingSeen bool
	reoWndMult     int
	dsackRound     uint64
	tlpOutstanding bool
	tlpHighSeq     uint32
}

// update records a delivered segment (RFC 8985 section 6.2 step 2).
func (r *rackState) update(now clock.Time, t *txSeg, rttMin time.Duration) {
	rtt := now.Sub(t.xmitTime)
	if t.flags&segEverRtx != 0 && rtt < rttMin {
		// Possibly the ACK of the original transmission: ignore.
		return
	}
	if t.xmitTime > r.xmitTime || (t.xmitTime == r.xmitTime && seqGT(t.endSeq, r.endSeq)) {
		r.xmitTime = t.xmitTime
		r.endSeq = t.endSeq
		r.rtt = rtt
	}
}

// reoWnd returns the reordering window (RFC 8985 section 6.2 step 4).
func (c *Conn) rackReoWnd() time.Duration {
	r := &c.rack
	if !r.reorderingSeen {
		if c.ccs.CAState >= CARecovery || c.rtx.sacked >= 3*c.mss {
			return 0
		}
	}
	mult := max(r.reoWndMult, 1)
	w := c.rtt.minRTT / 4 * time.Duration(mult)
	return min(w, c.rtt.srtt)
}

// rackDetectLoss marks lost segments and returns the bytes newly marked; it
// arms the reordering timer for segments not yet due.
func (c *Conn) rackDetectLoss(now clock.Time) int {
	r := &c.rack
	if r.xmitTime == 0 {
		return 0
	}
	reo := c.rackReoWnd()
	var timeout time.Duration = -1
	marked := 0
	q := &c.rtx
	for t := q.thead; t != nil; {
		next := t.tnext
		if t.flags&segSACKed != 0 {
			t = next
			continue
		}
		// Only segments sent before the newest delivered one can be judged.
		if t.xmitTime > r.xmitTime || (t.xmitTime == r.xmitTime && !seqLT(t.seq, r.endSeq)) {
			break
		}
		remaining := t.xmitTime.Add(r.rtt + reo).Sub(now)
		if remaining <= 0 {
			if t.flags&segLost == 0 || t.flags&segRtxLive != 0 {
				idx := q.find(t.seq)
				if q.markLost(t, idx) {
					marked += t.len()
					c.info.lostSegs++
					c.s.stats.RACKLossMarks++
				}
			}
			q.unlinkTime(t) // lost and waiting: re-linked when retransmitted
		} else {
			// Later transmissions are due later still: stop here.
			timeout = remaining
			break
		}
		t = next
	}
	if timeout >= 0 {
		c.reoAt = now.Add(timeout)
	} else {
		c.reoAt = clock.Never
	}
	return marked
}
