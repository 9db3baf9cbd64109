package tcp

// A connection's timers. Each is an absolute deadline field on the Conn
// (clock.Never when off); the connection has one entry in the stack's timer
// queue, set to the earliest of them, and onTimer works out which are due.
//
//   rtoAt      retransmission timeout (also SYN / SYN-ACK retransmission)
//   tlpAt      tail loss probe (RFC 8985 section 7)
//   reoAt      RACK reordering timer
//   persistAt  zero-window probe
//   delackAt   delayed ACK
//   keepAt     keepalive
//   closeAt    TIME-WAIT end, or FIN-WAIT-2 timeout of an orphaned connection
//   paceAt     pacer: the next burst may leave

import (
	"time"

	"github.com/ustack/ustack/clock"
	"github.com/ustack/ustack/wire"
)

// updateTimer moves the connection's queue entry to its earliest deadline.
func (c *Conn) updateTimer() {
	if c.state == StateClosed {
		return
	}
	t := min(c.rtoAt, c.tlpAt, c.reoAt, c.persistAt, c.delackAt, c.keepAt, c.closeAt, c.paceAt)
	c.s.net.Timers().Set(&c.timer, t)
}

// onTimer runs when the earliest deadline (or a kick) is due.
func (c *Conn) onTimer(now clock.Time) {
	if c.state == StateClosed {
		return
	}
	if c.closeAt <= now {
		c.closeAt = clock.Never
		if c.state == StateTimeWait || c.state == StateFinWait2 {
			c.destroy(nil)
			return
		}
	}
	switch c.state {
	case StateSynSent, StateSynReceived:
		c.output(now)
		c.updateTimer()
		return
	}
	if c.reoAt <= now {
		c.reoAt = clock.Never
		c.onReorderTimeout(now)
	}
	if c.rtoAt <= now {
		c.rtoAt = clock.Never
		if c.onRTO(now) {
			return
		}
	}
	if c.tlpAt <= now {
		c.tlpAt = clock.Never
		c.onTLP(now)
	}
	if c.persistAt <= now {
		c.persistAt = clock.Never
		c.onPersist(now)
	}
	if c.keepAt <= now {
		c.keepAt = clock.Never
		if c.onKeepalive(now) {
			return
		}
	}
	if c.delackAt <= now {
		c.delackAt = clock.Never
		if c.unackedBytes > 0 || c.ackNow {
			c.ackNow = true
			c.s.stats.DelayedACKs++
		}
	}
	if c.paceAt <= now {
		c.paceAt = clock.Never
	}
	c.output(now)
	c.updateTimer()
}

// armRetransmitTimer keeps the RTO (or TLP) armed while data is outstanding
// (RFC 6298 section 5).
func (c *Conn) armRetransmitTimer(now clock.Time, restart bool) {
	if c.rtx.len() == 0 || c.persistAt != clock.Never {
		// Nothing outstanding, or only a zero-window probe, which the
		// persist timer resends: no RTO, no TLP.
		c.rtoAt = clock.Never
		c.tlpAt = clock.Never
		return
	}
	if restart || c.rtoAt == clock.Never {
		c.rtoAt = now.Add(c.currentRTO())
	}
	c.armTLP(now)
}

// armTLP schedules a tail loss probe when one is allowed.
func (c *Conn) armTLP(now clock.Time) {
	c.tlpAt = clock.Never
	if !c.sackOK || c.rack.tlpOutstanding || c.ccs.CAState >= CARecovery || c.rtt.srtt == 0 {
		return
	}
	pto := 2 * c.rtt.srtt
	if c.rtx.inflight() <= c.mss {
		pto += 200 * time.Millisecond
	}
	pto = max(pto, 10*time.Millisecond)
	at := now.Add(pto)
	if at < c.rtoAt {
		c.tlpAt = at
	}
}

// onReorderTimeout re-runs RACK when the reordering window has passed.
func (c *Conn) onReorderTimeout(now clock.Time) {
	q := &c.rtx
	priorInflight := q.inflight()
	lost := c.rackDetectLoss(now)
	if lost > 0 {
		c.ccs.Lost += uint64(lost)
		c.updateRecovery(now, priorInflight, 0, lost, false)
		if c.ccController == nil && c.ccs.CAState == CARecovery {
			c.prrCwnd(0, lost, false)
		}
	}
}

// onTLP sends the tail loss probe: new data if possible, else the last segment.
func (c *Conn) onTLP(now clock.Time) {
	q := &c.rtx
	if q.len() == 0 || c.ccs.CAState >= CARecovery {
		return // (recovery may have started after the probe was armed)
	}
	c.s.stats.TLPProbes++
	c.rack.tlpOutstanding = true
	c.rack.tlpHighSeq = c.sndNxt
	dataEnd := c.bufSeq + uint32(c.sndBuf.n)
	if seqLT(c.sndNxt, dataEnd) && int(int32(c.sndUna+uint32(c.sndWnd)-c.sndNxt)) >= c.mss {
		saved := c.ccs.Cwnd
		c.ccs.Cwnd = max(c.ccs.Cwnd, q.inflight()+c.mss)
		c.sendOne(now, c.mss)
		c.ccs.Cwnd = saved
	} else {
		t := q.last()
		if t.flags&segSACKed == 0 {
			c.transmit(now, t, true)
		}
	}
	c.rtoAt = now.Add(c.currentRTO())
}

// onRTO handles a retransmission timeout (RFC 6298 5.4-5.7, Linux
// tcp_enter_loss). It returns true if the connection was destroyed.
func (c *Conn) onRTO(now clock.Time) bool {
	q := &c.rtx
	if q.len() == 0 {
		return false
	}
	c.retries++
	c.s.stats.Timeouts++
	if c.retries > c.s.opts.Retries2 {
		c.destroy(ErrTimeout)
		return true
	}
	c.fillCCState(now)
	st := c.ccs.CAState
	if st <= CADisorder || c.sndUna == c.recoverySeq || (st == CALoss && c.backoff == 0) {
		c.priorSsthresh = c.ccs.Ssthresh
		c.ccs.Ssthresh = c.cc.SsThresh(&c.ccs)
		c.cc.OnEvent(&c.ccs, EventLoss)
	}
	if c.reneged {
		// The peer dropped data it had SACKed: nothing SACKed can be
		// trusted any more (Linux tcp_timeout_mark_lost with is_reneg).
		c.reneged = false
		q.forgetSACKs()
		c.sackCacheN = 0
	}
	for i := 0; i < q.len(); i++ {
		t := q.at(i)
		if q.markLost(t, i) {
			c.info.lostSegs++
			c.ccs.Lost += uint64(t.len())
		}
		q.unlinkTime(t)
	}
	q.rtxHint = 0
	c.recoverySeq = c.sndNxt
	c.rack.tlpOutstanding = false
	c.setCAState(CALoss)
	if c.ccController == nil {
		c.ccs.Cwnd = q.inflight() + c.mss
	}
	c.backoff++
	c.tlpAt = clock.Never
	c.reoAt = clock.Never
	c.rtoAt = now.Add(c.currentRTO())
	// The path may have changed: let RTT restart from the backed-off RTO.
	return false
}

// armPersist starts zero-window probing.
func (c *Conn) armPersist(now clock.Time) {
	if c.persistAt != clock.Never || c.rtx.len() > 0 {
		return
	}
	c.persistAt = now.Add(c.probeInterval())
}

func (c *Conn) probeInterval() time.Duration {
	rto := c.rtt.rto
	for i := 0; i < c.probes && rto < c.s.opts.MaxRTO; i++ {
		rto *= 2
	}
	return min(max(rto, c.s.opts.MinRTO), c.s.opts.MaxRTO)
}

// onPersist sends a zero-window probe: one byte of new data beyond the
// window (RFC 9293 3.8.6.1), which the peer acknowledges with its window.
// While the window stays closed the persist timer alone resends the probe,
// backing off; probes the peer answers do not count towards giving up
// (RFC 1122 4.2.2.17): processAck resets retries.
func (c *Conn) onPersist(now clock.Time) {
	dataEnd := c.bufSeq + uint32(c.sndBuf.n)
	q := &c.rtx
	t := q.first()
	switch {
	case c.sndWnd > 0:
		return
	case t == nil && seqLT(c.sndNxt, dataEnd):
		t = q.push(c.s, c.sndNxt, c.sndNxt+1, 0)
		c.sndNxt++
	case t != nil && q.len() == 1 && t.len() == 1 && t.flags&segFIN == 0:
		// The previous probe is still unacknowledged: send it again.
	default:
		return
	}
	c.s.stats.ZeroWindowProbes++
	c.probes++
	c.retries++
	if c.retries > c.s.opts.Retries2 {
		c.destroy(ErrTimeout)
		return
	}
	c.transmit(now, t, false)
	c.rtoAt, c.tlpAt = clock.Never, clock.Never
	c.persistAt = now.Add(c.probeInterval())
}

// armKeepalive (re)starts the keepalive idle timer after activity.
func (c *Conn) armKeepalive(now clock.Time) {
	if !c.keepalive || !c.state.synchronized() || c.state == StateTimeWait {
		c.keepAt = clock.Never
		return
	}
	if c.persistAt == clock.Never {
		c.probes = 0 // (while persisting, probes is the persist backoff)
	}
	c.keepAt = now.Add(c.s.opts.KeepaliveIdle)
}

// onKeepalive sends a keepalive probe (SEG.SEQ = SND.UNA-1, no data) and
// gives up after KeepaliveCount unanswered probes.
func (c *Conn) onKeepalive(now clock.Time) bool {
	if !c.keepalive {
		return false
	}
	if c.rtx.len() > 0 || c.sndWnd == 0 {
		c.keepAt = now.Add(c.s.opts.KeepaliveIdle)
		return false
	}
	if c.probes >= c.s.opts.KeepaliveCount {
		c.destroy(ErrTimeout)
		return true
	}
	c.probes++
	c.s.stats.KeepaliveProbes++
	c.sendSegment(now, c.sndUna-1, wire.FlagACK, 0, 0)
	c.keepAt = now.Add(c.s.opts.KeepaliveInterval)
	return false
}

// pmtuChanged lowers the MSS after an ICMP "packet too big" and resends
// what no longer fits (Linux tcp_simple_retransmit).
func (c *Conn) pmtuChanged(now clock.Time, mtu int) {
	if mtu <= 0 || mtu >= c.route.MTU {
		return
	}
	c.route.MTU = mtu
	old := c.mss
	c.updateMSS()
	if c.mss >= old {
		return
	}
	q := &c.rtx
	for i := 0; i < q.len(); i++ {
		t := q.at(i)
		if t.flags&segSACKed == 0 && t.len() > c.mss {
			if q.markLost(t, i) {
				c.ccs.Lost += uint64(t.len())
			}
		}
	}
	c.output(now)
	c.updateTimer()
}
