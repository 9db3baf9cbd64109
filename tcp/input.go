package tcp

// Segment arrival (RFC 9293 section 3.10.7), with the RFC 7323 (PAWS) and
// RFC 5961 (blind-injection) checks, and the ACK path of a modern sender:
// cumulative ACK, SACK scoreboard, RTT sampling, RACK loss detection, the
// recovery state machine and the call into congestion control.

import (
	"net/netip"
	"time"

	"github.com/ustack/ustack/clock"
	"github.com/ustack/ustack/ip"
	"github.com/ustack/ustack/wire"
)

// HandlePacket implements ip.TransportProtocol.
func (s *Stack) HandlePacket(now clock.Time, pkt *ip.Packet) {
	s.stats.SegsIn++
	if !pkt.ChecksumVerified && !wire.VerifyTCPChecksum(pkt.Src, pkt.Dst, pkt.Payload) {
		s.stats.BadChecksum++
		return
	}
	h, payload, err := wire.ParseTCP(pkt.Payload)
	if err != nil {
		s.stats.InErrs++
		return
	}
	if h.SrcPort == 0 || h.DstPort == 0 {
		s.stats.InErrs++
		return
	}
	id := fourTuple{netip.AddrPortFrom(pkt.Dst, h.DstPort), netip.AddrPortFrom(pkt.Src, h.SrcPort)}
	if c := s.lastConn; c != nil && c.id == id && c.state != StateClosed {
		c.input(now, &h, payload)
		return
	}
	if c := s.conns[id]; c != nil {
		s.lastConn = c
		c.input(now, &h, payload)
		return
	}
	if l := s.findListener(id.local); l != nil {
		l.input(now, id, pkt, &h)
		return
	}
	s.stats.NoConnection++
	s.replyRST(id, &h, len(payload))
}

// replyRST answers a segment that belongs to no connection (RFC 9293 3.10.7.1).
func (s *Stack) replyRST(id fourTuple, h *wire.TCPHeader, payloadLen int) {
	if h.Flags&wire.FlagRST != 0 {
		return
	}
	if !s.net.IsLocalAddr(id.local.Addr()) || id.remote.Addr().IsMulticast() {
		return
	}
	var rst wire.TCPHeader
	rst.SrcPort, rst.DstPort = id.local.Port(), id.remote.Port()
	rst.Options.WScale = -1
	if h.Flags&wire.FlagACK != 0 {
		rst.Seq = h.Ack
		rst.Flags = wire.FlagRST
	} else {
		segLen := uint32(payloadLen)
		if h.Flags&wire.FlagSYN != 0 {
			segLen++
		}
		if h.Flags&wire.FlagFIN != 0 {
			segLen++
		}
		rst.Ack = h.Seq + segLen
		rst.Flags = wire.FlagRST | wire.FlagACK
	}
	s.writeRaw(id, &rst, nil, 0, 0)
	s.stats.OutRsts++
}

// negotiate records the options of the peer's SYN.
func (c *Conn) negotiate(h *wire.TCPHeader) {
	o := &h.Options
	opts := &c.s.opts
	if o.MSS != 0 {
		c.peerMSS = int(o.MSS)
	}
	c.wsOK = o.WScale >= 0 && !opts.NoWindowScaling
	if c.wsOK {
		c.sndWScale = uint8(min(o.WScale, 14))
	} else {
		c.sndWScale, c.rcvWScale = 0, 0
	}
	c.sackOK = o.SACKPermitted && !opts.NoSACK
	c.tsOK = o.HasTimestamp && !opts.NoTimestamps
	if c.tsOK {
		c.tsRecent = o.TSVal
	}
	c.updateMSS()
	// A SYN's window is never scaled.
	c.sndWnd = int(h.Window)
	c.maxSndWnd = c.sndWnd
}

// updateMSS recomputes the sending MSS from the peer's MSS and the path MTU.
func (c *Conn) updateMSS() {
	m := min(c.peerMSS, mssForMTU(c.id.remote.Addr(), c.route.MTU))
	m -= c.optLen()
	c.mss = max(m, 64)
	c.ccs.MSS = c.mss
}

// input processes one segment for this connection.
func (c *Conn) input(now clock.Time, h *wire.TCPHeader, payload []byte) {
	c.info.segsIn++
	if len(payload) > 0 {
		c.info.dataSegsIn++
	}
	if c.state == StateSynSent {
		c.inputSynSent(now, h, payload)
		c.afterInput(now)
		return
	}
	seq := h.Seq
	segLen := uint32(len(payload))
	if h.Flags&wire.FlagSYN != 0 {
		segLen++
	}
	if h.Flags&wire.FlagFIN != 0 {
		segLen++
	}
	// PAWS (RFC 7323 section 5), as Linux applies it: a timestamp one
	// tick older than TS.Recent passes (ACKs reordered within a
	// millisecond), and so does a reordered duplicate ACK that carries
	// nothing new. A rejected segment is answered with an ACK; for a
	// segment without data that answer is rate-limited like a challenge
	// ACK, so ACKs reordered on the path do not each draw a reply.
	if c.tsOK && h.Options.HasTimestamp && h.Flags&wire.FlagRST == 0 &&
		int32(h.Options.TSVal-c.tsRecent) < -pawsWindow && !c.disorderedACK(h, seq, segLen) {
		c.s.stats.PAWSDrops++
		if len(payload) > 0 || h.Flags&wire.FlagSYN != 0 {
			c.ackNow = true
		} else {
			c.oowACK(now)
		}
		c.afterInput(now)
		return
	}
	// Simultaneous open: the peer's SYN-ACK (its SYN again, now acknowledging
	// ours) completes the handshake, as in Linux. The acceptability test
	// would call it old and answer with another SYN-ACK, and two such
	// stacks would trade SYN-ACKs forever.
	if c.state == StateSynReceived && c.listener == nil && seq == c.irs && h.Ack == c.sndNxt &&
		h.Flags&(wire.FlagSYN|wire.FlagACK|wire.FlagRST) == wire.FlagSYN|wire.FlagACK {
		c.becomeEstablished(now, h)
		c.sndWnd = int(h.Window) // a SYN's window is never scaled
		c.ackNow = true
		c.afterInput(now)
		return
	}
	if !c.acceptable(seq, segLen) {
		c.s.stats.OutOfWindow++
		if h.Flags&wire.FlagRST == 0 {
			if c.state == StateTimeWait && h.Flags&wire.FlagSYN != 0 {
				// A new SYN for a TIME-WAIT pair: let the connection go
				// and treat the SYN as new when the sequence moved on.
				if seqGT(h.Seq, c.rcvNxt) {
					if l := c.s.findListener(c.id.local); l != nil {
						c.s.stats.TimeWaitRecycled++
						c.destroy(nil)
						l.input(now, c.id, nil, h)
						return
					}
				}
			}
			if c.state == StateTimeWait && h.Flags&wire.FlagFIN != 0 {
				// The peer's FIN again (our ACK was lost): ACK it and
				// restart the wait (RFC 9293 3.10.7.4, TIME-WAIT).
				c.closeAt = now.Add(c.s.opts.TimeWait)
			}
			if len(payload) > 0 && seqLT(seq, c.rcvNxt) && c.sackOK {
				// An old duplicate (a spurious retransmission): report
				// it with D-SACK (RFC 2883), as receive does for
				// acceptable segments that start below RCV.NXT.
				c.dsack = wire.SACKBlock{Start: seq, End: seqMin(seq+uint32(len(payload)), c.rcvNxt)}
				c.hasDSACK = true
			}
			c.ackNow = true
		}
		c.afterInput(now)
		return
	}
	// RST (RFC 5961 section 3).
	if h.Flags&wire.FlagRST != 0 {
		if seq == c.rcvNxt {
			c.onReset()
		} else {
			c.challengeACK(now)
		}
		c.afterInput(now)
		return
	}
	// SYN in a synchronized state (RFC 5961 section 4).
	if h.Flags&wire.FlagSYN != 0 {
		if c.state == StateSynReceived && seq == c.irs {
			c.rtoAt = now // retransmitted SYN: resend our SYN-ACK now
		} else {
			c.challengeACK(now)
		}
		c.afterInput(now)
		return
	}
	if h.Flags&wire.FlagACK == 0 {
		c.afterInput(now)
		return
	}
	// ACK acceptability (RFC 5961 section 5).
	if seqGT(h.Ack, c.sndNxt) {
		c.ackNow = true
		c.afterInput(now)
		return
	}
	if seqLT(h.Ack, c.sndUna-uint32(max(c.maxSndWnd, 1))) {
		c.challengeACK(now)
		c.afterInput(now)
		return
	}
	if c.state == StateSynReceived {
		if !seqGT(h.Ack, c.sndUna) {
			c.sendRST(h.Ack, 0, false)
			c.afterInput(now)
			return
		}
		if !c.becomeEstablished(now, h) {
			return // accept queue full: drop the ACK, the peer retries
		}
	}
	if c.tsOK && h.Options.HasTimestamp && seqLEQ(seq, c.lastAckSent) && int32(h.Options.TSVal-c.tsRecent) > 0 {
		c.tsRecent = h.Options.TSVal
	}
	c.processAck(now, h, len(payload))
	if c.state == StateClosed {
		return
	}
	// Segment text and FIN.
	switch c.state {
	case StateEstablished, StateFinWait1, StateFinWait2:
		if c.closed && len(payload) > 0 && seqGEQ(seq+uint32(len(payload)), c.rcvNxt+1) {
			// New data for a connection the application has closed: no
			// one will ever read it, so reset as Linux does (RFC 9293
			// 3.10.7.4: data after close is an error).
			c.sendRST(c.sndNxt, 0, false)
			c.destroy(ErrConnAborted)
			return
		}
		if len(payload) > 0 || h.Flags&wire.FlagFIN != 0 {
			c.receive(now, seq, payload, h.Flags&wire.FlagFIN != 0)
		}
	case StateCloseWait, StateClosing, StateLastAck:
		// The peer already sent FIN: anything new is bogus; ack it.
		if len(payload) > 0 {
			c.ackNow = true
		}
	case StateTimeWait:
		if h.Flags&wire.FlagFIN != 0 {
			c.ackNow = true
			c.closeAt = now.Add(c.s.opts.TimeWait)
		}
	}
	c.afterInput(now)
}

// acceptable is the segment acceptability test of RFC 9293 section 3.10.7.4.
func (c *Conn) acceptable(seq, segLen uint32) bool {
	wnd := c.rcvAdvEdge - c.rcvNxt
	if int32(wnd) < 0 {
		wnd = 0
	}
	if segLen == 0 {
		if wnd == 0 {
			return seq == c.rcvNxt
		}
		return seqInRange(seq, c.rcvNxt, c.rcvNxt+wnd)
	}
	if wnd == 0 {
		return false
	}
	end := seq + segLen - 1
	return seqInRange(seq, c.rcvNxt, c.rcvNxt+wnd) || seqInRange(end, c.rcvNxt, c.rcvNxt+wnd) ||
		(seqLT(seq, c.rcvNxt) && seqGT(end, c.rcvNxt+wnd))
}

// challengeRateLimit is the least time between two challenge ACKs of a
// connection (RFC 5961 section 7; Linux's per-socket
// tcp_invalid_ratelimit, 500 ms). A flood of spoofed RSTs or SYNs then
// gets at most two answers a second. (Linux's old stack-wide limit was a
// side channel, CVE-2016-5696, and is off by default now: there is none.)
const challengeRateLimit = 500 * time.Millisecond

// challengeACK answers a suspicious RST, SYN or ACK with an ACK carrying
// the current sequence numbers, at most once per challengeRateLimit.
func (c *Conn) challengeACK(now clock.Time) {
	if !c.oowACK(now) {
		c.s.stats.ChallengeACKsSkipped++
		return
	}
	c.s.stats.ChallengeACKs++
}

// oowACK sends an ACK in answer to an unacceptable segment unless one was
// sent less than challengeRateLimit ago (Linux tcp_oow_rate_limited: one
// budget per connection for challenge ACKs and PAWS replies). It reports
// whether the ACK goes.
func (c *Conn) oowACK(now clock.Time) bool {
	if c.lastOOWACK != 0 && now.Sub(c.lastOOWACK) < challengeRateLimit {
		return false
	}
	c.lastOOWACK = now
	c.ackNow = true
	return true
}

// pawsWindow is how many ticks older than TS.Recent a timestamp may be
// (Linux TCP_PAWS_WINDOW).
const pawsWindow = 1

// disorderedACK reports whether h is a duplicate ACK that PAWS would
// reject only because the path reordered it (Linux tcp_disordered_ack): a
// pure ACK at RCV.NXT, acknowledging SND.UNA, not changing the window, its
// timestamp within one RTO of TS.Recent. It carries nothing that could
// harm the connection, and its SACK blocks are worth having.
func (c *Conn) disorderedACK(h *wire.TCPHeader, seq, segLen uint32) bool {
	if h.Flags&wire.FlagACK == 0 || segLen != 0 || seq != c.rcvNxt || h.Ack != c.sndUna {
		return false
	}
	if int(h.Window)<<c.sndWScale != c.sndWnd {
		return false
	}
	age := time.Duration(c.tsRecent-h.Options.TSVal) * time.Millisecond
	return age <= c.currentRTO()
}

func (c *Conn) onReset() {
	switch c.state {
	case StateSynReceived:
		if c.listener != nil {
			c.destroy(nil) // back to LISTEN: the listener simply forgets it
			return
		}
		c.destroy(ErrConnRefused)
	case StateClosing, StateLastAck, StateTimeWait:
		c.destroy(nil)
	default:
		c.destroy(ErrConnReset)
	}
}

// inputSynSent handles a segment in SYN-SENT (RFC 9293 3.10.7.3).
func (c *Conn) inputSynSent(now clock.Time, h *wire.TCPHeader, payload []byte) {
	ackOK := false
	if h.Flags&wire.FlagACK != 0 {
		if seqLEQ(h.Ack, c.iss) || seqGT(h.Ack, c.sndNxt) {
			if h.Flags&wire.FlagRST == 0 {
				c.sendRST(h.Ack, 0, false)
			}
			return
		}
		ackOK = true
	}
	if h.Flags&wire.FlagRST != 0 {
		if ackOK {
			c.s.stats.AttemptFails++
			c.destroy(ErrConnRefused)
		}
		return
	}
	if h.Flags&wire.FlagSYN == 0 {
		return
	}
	c.irs = h.Seq
	c.rcvNxt = h.Seq + 1
	c.negotiate(h)
	c.sndWl1, c.sndWl2 = h.Seq, h.Ack
	if ackOK {
		c.synAcked(now)
		c.sndUna = h.Ack
		c.establish(now)
		c.ackNow = true
		if len(payload) > 0 || h.Flags&wire.FlagFIN != 0 {
			c.receive(now, h.Seq+1, payload, h.Flags&wire.FlagFIN != 0)
		}
		return
	}
	// Simultaneous open: our SYN crossed theirs. Answer with SYN-ACK now
	// (through ackNow: it is not a retransmission, so no backoff).
	c.state = StateSynReceived
	c.ackNow = true
}

// synAcked takes an RTT sample from the handshake (Karn: only if not resent).
func (c *Conn) synAcked(now clock.Time) {
	if c.synRetries == 0 {
		c.rtt.sample(now, now.Sub(c.lastSendAt), c.s.opts.MinRTO, c.s.opts.MaxRTO)
	} else {
		// RFC 6298 5.7: a retransmitted SYN leaves RTO at 3 s for data.
		c.rtt.rto = max(c.rtt.rto, 3*time.Second)
	}
	c.synRetries = 0
	c.backoff = 0
	c.rtoAt = clock.Never
}

// becomeEstablished completes a passive or simultaneous open.
func (c *Conn) becomeEstablished(now clock.Time, h *wire.TCPHeader) bool {
	if c.listener != nil && c.listenerHalfOpen {
		if !c.listener.established(c) {
			return false
		}
	}
	c.synAcked(now)
	c.sndUna = h.Ack
	c.sndWnd = int(h.Window) << c.sndWScale
	c.maxSndWnd = max(c.maxSndWnd, c.sndWnd)
	c.sndWl1, c.sndWl2 = h.Seq, h.Ack
	c.establish(now)
	return true
}

// establish enters ESTABLISHED and starts congestion control.
func (c *Conn) establish(now clock.Time) {
	c.state = StateEstablished
	c.rcvAdvEdge = c.rcvNxt + uint32(c.rcvWindow())
	c.ccs.Cwnd = c.s.opts.InitialCwnd * c.mss
	c.ccs.Ssthresh = InitialSsthresh
	c.fillCCState(now)
	c.cc.Init(&c.ccs)
	c.rcvSpace.init(now, c)
	c.armKeepalive(now)
	if c.finQueued {
		c.kick()
	}
	c.notify()
}

// processAck is the sender's ACK path (Linux tcp_ack).
func (c *Conn) processAck(now clock.Time, h *wire.TCPHeader, payloadLen int) {
	q := &c.rtx
	priorInflight := q.inflight()
	priorUna := c.sndUna
	c.rate.beginAck()
	ack := h.Ack
	acked, sacked := 0, 0
	var seqRTT, caRTT time.Duration = -1, -1
	rtxAcked := false // Karn: an ACK covering retransmitted data gives no sequence RTT
	var lastRtx clock.Time

	// Window update (RFC 9293 3.10.7.4, fifth check).
	if seqLT(c.sndWl1, h.Seq) || (c.sndWl1 == h.Seq && seqLEQ(c.sndWl2, ack)) {
		wnd := int(h.Window) << c.sndWScale
		if wnd != c.sndWnd {
			if wnd > 0 && c.persistAt != clock.Never {
				c.persistAt = clock.Never
				c.probes = 0
				if t := q.first(); t != nil && q.len() == 1 && t.len() == 1 && ack == c.sndUna {
					// The window opened and the zero-window probe was
					// not taken: send its byte again as new data.
					q.clear(c.s)
					c.sndNxt = c.sndUna
				}
			}
			c.sndWnd = wnd
			c.maxSndWnd = max(c.maxSndWnd, wnd)
		}
		if c.persistAt != clock.Never {
			c.retries = 0 // the peer answers our probes: it is alive
		}
		c.sndWl1, c.sndWl2 = h.Seq, ack
	}

	if seqGT(ack, c.sndUna) {
		for q.len() > 0 {
			t := q.first()
			if seqGT(t.endSeq, ack) {
				if seqGT(ack, t.seq) {
					q.split(c.s, 0, ack)
					continue
				}
				break
			}
			if t.flags&segSACKed == 0 {
				acked += t.len()
				c.rate.onDelivered(t)
				c.rack.update(now, t, c.rtt.minRTT)
				if t.flags&segEverRtx != 0 {
					rtxAcked = true
					lastRtx = max(lastRtx, t.xmitTime)
				} else {
					rtt := now.Sub(t.xmitTime)
					if seqRTT < 0 {
						seqRTT = rtt
					}
					caRTT = rtt
				}
			}
			q.popFront(c.s)
		}
		dataEnd := c.bufSeq + uint32(c.sndBuf.n)
		if n := int(seqMin(ack, dataEnd) - c.bufSeq); n > 0 {
			c.sndBuf.advance(n)
			c.bufSeq += uint32(n)
		}
		c.info.bytesAcked += uint64(ack - c.sndUna)
		if nc, ok := c.s.net.(neighborConfirmer); ok && now.Sub(c.confirmedAt) > time.Second {
			// Forward progress proves the next hop reachable (RFC 4861 7.3.1).
			nc.ConfirmNeighbor(c.id.remote.Addr())
			c.confirmedAt = now
		}
		c.sndUna = ack
		c.backoff = 0
		c.retries = 0
		c.probes = 0
		c.dupAcks = 0
		if c.rack.tlpOutstanding && seqGEQ(ack, c.rack.tlpHighSeq) {
			c.rack.tlpOutstanding = false
		}
		c.notify() // writable
	}
	if rtxAcked {
		seqRTT, caRTT = -1, -1
	}
	if c.sackOK && h.Options.NumSACK > 0 {
		var rtt time.Duration
		sacked, rtt = c.processSACK(now, &h.Options)
		if rtt >= 0 {
			caRTT = rtt
			if seqRTT < 0 {
				seqRTT = rtt
			}
		}
	}
	delivered := acked + sacked
	c.rate.delivered += uint64(delivered)
	if delivered > 0 {
		c.ccs.Delivered = c.rate.delivered
	}

	// RTT: sequence-based (Karn), else timestamps for retransmitted data.
	if seqRTT < 0 && c.tsOK && h.Options.HasTimestamp && h.Options.TSEcr != 0 && acked > 0 {
		// Only an echo of a timestamp sent no earlier than the last
		// retransmission measures it; an older echo (the peer answering a
		// duplicate) would fold the whole backoff into the RTT.
		if d := c.tsNow(now) - h.Options.TSEcr; int32(d) >= 0 && time.Duration(d)*time.Millisecond <= now.Sub(lastRtx)+time.Millisecond {
			seqRTT = time.Duration(d) * time.Millisecond
		}
	}
	if seqRTT >= 0 && (acked > 0 || sacked > 0) {
		c.rtt.sample(now, seqRTT, c.s.opts.MinRTO, c.s.opts.MaxRTO)
	}
	if caRTT >= 0 && caRTT < c.rtt.minRTT {
		c.rtt.minRTT = caRTT
		c.rtt.minRTTAt = now
	}

	// Loss detection.
	lost := 0
	if c.sackOK {
		if delivered > 0 || c.reoAt <= now {
			lost = c.rackDetectLoss(now)
		}
	} else if acked == 0 && payloadLen == 0 && ack == c.sndUna && q.len() > 0 &&
		h.Flags&(wire.FlagSYN|wire.FlagFIN) == 0 {
		c.dupAcks++
		if c.dupAcks == 3 && c.ccs.CAState < CARecovery {
			if q.markLost(q.first(), 0) {
				lost = q.first().len()
			}
		}
	} else if acked > 0 && c.ccs.CAState == CARecovery && !c.sackOK && seqLT(ack, c.recoverySeq) && q.len() > 0 {
		// NewReno partial ACK: the next hole is lost too (RFC 6582).
		if q.markLost(q.first(), 0) {
			lost = q.first().len()
		}
	}
	c.ccs.Lost += uint64(lost)

	c.updateRecovery(now, priorInflight, acked, lost, ack != priorUna)

	// Rate sample and congestion control.
	rs := c.rate.generate(now, delivered, lost, c.rtt.minRTT)
	rs.PriorInFlight = priorInflight
	rs.RTT = caRTT
	if delivered > 0 || lost > 0 {
		c.congControl(now, rs, delivered, acked > 0)
	}
	// The reported delivery rate follows every network-limited sample, and
	// an app-limited one only when it is higher (Linux tcp_rate_gen).
	if rs.HasRate() {
		rate := uint64(rs.Delivered) * uint64(time.Second) / uint64(rs.Interval)
		if !rs.IsAppLimited || rate > c.info.deliveryRate {
			c.info.deliveryRate = rate
		}
	}

	// Our FIN acknowledged?
	if c.finSent && ack == c.sndNxt {
		switch c.state {
		case StateFinWait1:
			c.setState(StateFinWait2)
			if c.closed {
				c.closeAt = now.Add(c.s.opts.FinTimeout)
			}
		case StateClosing:
			c.enterTimeWait(now)
		case StateLastAck:
			c.destroy(nil)
			return
		}
	}
	c.armRetransmitTimer(now, ack != priorUna)
	// SACK reneging (RFC 2018 section 8; Linux tcp_check_sack_reneging):
	// the cumulative ACK advanced to a segment the peer had SACKed, so the
	// peer discarded it (a Linux receiver prunes its out-of-order queue
	// under memory pressure). SACKed data is never resent by recovery, so
	// time out soon and let the RTO forget every SACK mark.
	if ack != priorUna && c.sackOK {
		if t := q.first(); t != nil && t.flags&segSACKed != 0 {
			c.reneged = true
			c.s.stats.SACKReneging++
			c.rtoAt = now.Add(max(c.rtt.srtt/2, 10*time.Millisecond))
			c.tlpAt = clock.Never
		}
	}
}

// processSACK applies the SACK blocks of an ACK to the scoreboard and
// returns the bytes newly SACKed and the RTT of the newest of them.
func (c *Conn) processSACK(now clock.Time, o *wire.TCPOptions) (int, time.Duration) {
	q := &c.rtx
	newly := 0
	var rtt time.Duration = -1
	for i := 0; i < o.NumSACK && i < len(o.SACK); i++ {
		b := o.SACK[i]
		if !seqLT(b.Start, b.End) || seqGT(b.End, c.sndNxt) || seqLT(b.Start, c.sndUna-uint32(max(c.maxSndWnd, 1))) {
			continue // invalid block: ignore (RFC 2018 gives no other remedy)
		}
		if seqLEQ(b.End, c.sndUna) || (i == 0 && o.NumSACK > 1 && seqLEQ(o.SACK[1].Start, b.Start) && seqLEQ(b.End, o.SACK[1].End)) {
			// D-SACK (RFC 2883): the peer got something twice.
			c.rack.reorderingSeen = true
			if c.rack.reoWndMult < 4 {
				c.rack.reoWndMult++
			}
			continue
		}
		start := seqMax(b.Start, c.sndUna)
		// Skip what the previous ACK's blocks already covered (they were
		// applied in full): ACKs repeat their blocks, and walking a long
		// SACKed tail on every ACK would make recovery quadratic.
		for _, pb := range c.sackCache[:c.sackCacheN] {
			if seqLEQ(pb.Start, start) && seqGT(pb.End, start) {
				start = pb.End
			}
		}
		if !seqLT(start, b.End) {
			continue
		}
		for idx := q.find(start); idx < q.len(); idx++ {
			t := q.at(idx)
			if !seqLT(t.seq, b.End) {
				break
			}
			if t.flags&segSACKed != 0 {
				continue
			}
			if seqLT(t.seq, start) {
				q.split(c.s, idx, start)
				continue
			}
			if seqGT(t.endSeq, b.End) {
				q.split(c.s, idx, b.End)
				t = q.at(idx)
			}
			if t.flags&segEverRtx == 0 {
				if q.hasSACK && seqLT(t.endSeq, q.highSACK) {
					c.rack.reorderingSeen = true
				}
				rtt = now.Sub(t.xmitTime)
			}
			c.rate.onDelivered(t)
			c.rack.update(now, t, c.rtt.minRTT)
			q.markSACKed(t)
			newly += t.len()
		}
		if !q.hasSACK || seqGT(b.End, q.highSACK) {
			q.highSACK = b.End
			q.hasSACK = true
		}
	}
	c.sackCacheN = copy(c.sackCache[:], o.SACK[:min(o.NumSACK, len(o.SACK))])
	return newly, rtt
}

// updateRecovery runs the loss-recovery state machine (Linux
// tcp_fastretrans_alert, reduced to what RACK leaves it to do).
func (c *Conn) updateRecovery(now clock.Time, priorInflight, acked, lost int, unaAdvanced bool) {
	st := c.ccs.CAState
	switch st {
	case CARecovery, CACWR:
		if seqGEQ(c.sndUna, c.recoverySeq) && unaAdvanced {
			c.endCwndReduction()
			c.setCAState(CAOpen)
			c.cc.OnEvent(&c.ccs, EventCompleteCwr)
		}
	case CALoss:
		if seqGEQ(c.sndUna, c.recoverySeq) && unaAdvanced {
			c.setCAState(CAOpen)
		}
	}
	st = c.ccs.CAState
	if c.rtx.lost > 0 && (st == CAOpen || st == CADisorder || st == CACWR) {
		c.enterRecovery(now, priorInflight)
		return
	}
	if st == CAOpen && (c.rtx.sacked > 0 || c.dupAcks > 0) {
		c.setCAState(CADisorder)
	} else if st == CADisorder && c.rtx.sacked == 0 && c.dupAcks == 0 {
		c.setCAState(CAOpen)
	}
}

func (c *Conn) setCAState(st CAState) {
	if c.ccs.CAState == st {
		return
	}
	c.ccs.CAState = st
	c.cc.SetState(&c.ccs, st)
}

// enterRecovery starts fast recovery with PRR (RFC 6937).
func (c *Conn) enterRecovery(now clock.Time, priorInflight int) {
	c.fillCCState(now)
	c.priorSsthresh = c.ccs.Ssthresh
	c.ccs.Ssthresh = c.cc.SsThresh(&c.ccs)
	c.recoverySeq = c.sndNxt
	c.prr = prrState{priorCwnd: max(c.ccs.Cwnd, 1)}
	c.setCAState(CARecovery)
}

// endCwndReduction completes a window reduction (tcp_end_cwnd_reduction).
func (c *Conn) endCwndReduction() {
	if c.ccController == nil && c.ccs.Ssthresh < InitialSsthresh {
		c.ccs.Cwnd = max(c.ccs.Ssthresh, 2*c.mss)
	}
}

// prrState is Proportional Rate Reduction bookkeeping (RFC 6937).
type prrState struct {
	priorCwnd    int
	prrDelivered int
	prrOut       int
}

// prrCwnd sets cwnd during recovery for classic algorithms.
func (c *Conn) prrCwnd(delivered, lost int, unaAdvanced bool) {
	if delivered <= 0 {
		return
	}
	p := &c.prr
	p.prrDelivered += delivered
	pipe := c.rtx.inflight()
	delta := c.ccs.Ssthresh - pipe
	var sndcnt int
	if delta < 0 {
		sndcnt = int((int64(c.ccs.Ssthresh)*int64(p.prrDelivered)+int64(p.priorCwnd)-1)/int64(p.priorCwnd)) - p.prrOut
	} else {
		sndcnt = max(p.prrDelivered-p.prrOut, delivered)
		if unaAdvanced && lost == 0 {
			sndcnt += c.mss
		}
		sndcnt = min(delta, sndcnt)
	}
	if p.prrOut == 0 {
		sndcnt = max(sndcnt, c.mss) // the fast retransmit itself
	}
	c.ccs.Cwnd = pipe + max(sndcnt, 0)
}

// congControl hands the ACK to the algorithm.
func (c *Conn) congControl(now clock.Time, rs *RateSample, delivered int, unaAdvanced bool) {
	c.ccs.RoundStart = false
	if rs.Delivered >= 0 && rs.PriorDelivered >= c.nextRoundDlv {
		c.ccs.RoundStart = true
		c.nextRoundDlv = c.rate.delivered
		c.ccs.CwndLimited = c.roundCwndLim
		c.roundCwndLim = false
	}
	c.fillCCState(now)
	if c.ccController != nil {
		c.ccController.CongControl(&c.ccs, rs)
	} else {
		switch c.ccs.CAState {
		case CARecovery, CACWR:
			c.prrCwnd(delivered, rs.Losses, unaAdvanced)
		default:
			if unaAdvanced {
				c.cc.CongAvoid(&c.ccs, delivered, rs)
			}
		}
	}
	c.ccs.Cwnd = max(c.ccs.Cwnd, c.mss)
	c.expandSendBuffer()
}

// expandSendBuffer lets the send buffer follow the congestion window (Linux
// tcp_sndbuf_expand), within tcp_wmem's bounds: room for two windows, or
// as many as the algorithm asks for (BBR: three). Under heavy loss a hole
// at SND.UNA stays open for round trips while the peer SACKs what follows;
// that data still sits in the buffer, and with too little room the sender
// runs out of new data, its rate samples turn app-limited and its rate
// sinks (measured: 10% loss each way, 100 Mbit/s × 100 ms, BBR: 69 Mbit/s
// with two windows, 74 with three, mean of six seeds).
func (c *Conn) expandSendBuffer() {
	o := &c.s.opts.SendBuffer
	windows := 2
	if e, ok := c.cc.(SendBufferExpander); ok {
		windows = max(e.SendBufferExpand(), 1)
	}
	want := min(max(windows*max(c.ccs.Cwnd, c.rtx.inflight()), o.Default), o.Max)
	if want > c.sndBuf.limit {
		c.sndBuf.limit = want
		c.notify()
	}
}

// fillCCState refreshes the read-only part of the algorithm's view.
func (c *Conn) fillCCState(now clock.Time) {
	s := &c.ccs
	s.Now = now
	s.MSS = c.mss
	s.SRTT = c.rtt.srtt
	s.MinRTT = c.rtt.minRTT
	s.InFlight = c.rtx.inflight()
	s.Delivered = c.rate.delivered
	s.AppLimited = c.rate.appLimited != 0
	s.CwndLimited = s.CwndLimited || c.roundCwndLim
}

// receive accepts in-window payload (and FIN) at seq.
func (c *Conn) receive(now clock.Time, seq uint32, payload []byte, fin bool) {
	off := int(int32(seq - c.rcvNxt))
	if off < 0 {
		if -off >= len(payload) {
			// Entirely old: a duplicate. Report it with D-SACK.
			if len(payload) > 0 {
				c.dsack = wire.SACKBlock{Start: seq, End: seq + uint32(len(payload))}
				c.hasDSACK = c.sackOK
			}
			c.ackNow = true
			if fin && seq+uint32(len(payload)) == c.rcvNxt-1 && c.finRcvd {
				return
			}
			if !fin || seq+uint32(len(payload)) != c.rcvNxt {
				return
			}
			payload = nil
			off = 0
		} else {
			// Partly old: D-SACK the old part (RFC 2883), as Linux.
			c.dsack = wire.SACKBlock{Start: seq, End: c.rcvNxt}
			c.hasDSACK = c.sackOK
			payload = payload[-off:]
			off = 0
		}
	}
	if fin {
		c.finPending = true
		c.finSeq = c.rcvNxt + uint32(off+len(payload))
	}
	// Trim to the window we offered.
	room := int(int32(c.rcvAdvEdge-c.rcvNxt)) - off
	room = min(room, c.rcvBuf.size()-c.rcvBuf.n-off)
	if len(payload) > room {
		payload = payload[:max(room, 0)]
		fin = false
	}
	if len(payload) > 0 {
		c.info.bytesReceived += uint64(len(payload))
		b := &c.rcvBuf
		b.ensure()
		if off == 0 {
			oldN := b.n
			b.copyIn(payload, b.n)
			b.n += len(payload)
			filled := false
			for len(b.ooo.r) > 0 && b.ooo.r[0].start <= b.n {
				b.n = max(b.n, b.ooo.r[0].end)
				b.ooo.r = b.ooo.r[1:]
				filled = true
			}
			c.rcvNxt += uint32(b.n - oldN)
			c.unackedBytes += len(payload)
			if filled || len(b.ooo.r) > 0 {
				c.ackNow = true // a hole was filled or remains: tell the sender now
			}
			c.notify()
		} else {
			b.copyIn(payload, b.n+off)
			b.ooo.add(b.n+off, b.n+off+len(payload))
			c.ackNow = true // out of order: immediate duplicate ACK with SACK
		}
		// The peer's segment size, at most what we advertised (Linux
		// tcp_measure_rcv_mss): a GRO super-segment from a receive
		// offload is many segments, and must not stretch the ACK
		// yardstick to 64 KiB.
		if l := min(len(payload), c.advMSS); l > c.rcvMSS {
			c.rcvMSS = l
		}
	}
	if c.finPending && c.rcvNxt == c.finSeq && !c.finRcvd {
		c.finRcvd = true
		c.rcvNxt++
		c.ackNow = true
		switch c.state {
		case StateSynReceived, StateEstablished:
			c.setState(StateCloseWait)
		case StateFinWait1:
			if c.finSent && c.sndUna == c.sndNxt {
				c.enterTimeWait(now)
			} else {
				c.setState(StateClosing)
			}
		case StateFinWait2:
			c.enterTimeWait(now)
		}
		c.notify()
	}
	if !c.ackNow {
		if c.unackedBytes >= 2*c.rcvMSS || c.quickAcks > 0 {
			c.ackNow = true
		} else if c.delackAt == clock.Never {
			c.delackAt = now.Add(c.s.opts.DelayedAck)
		}
	}
}

// readSeq returns the sequence number of the next byte the application reads.
func (c *Conn) readSeq() uint32 { return c.rcvNxt - uint32(c.rcvBuf.n) }

func (c *Conn) enterTimeWait(now clock.Time) {
	c.setState(StateTimeWait)
	c.rtoAt, c.tlpAt, c.reoAt, c.persistAt, c.keepAt = clock.Never, clock.Never, clock.Never, clock.Never, clock.Never
	c.closeAt = now.Add(c.s.opts.TimeWait)
	c.rtx.clear(c.s)
}

// afterInput sends what the segment made due and re-arms the timer.
func (c *Conn) afterInput(now clock.Time) {
	if c.state == StateClosed {
		return
	}
	c.armKeepalive(now)
	c.output(now)
	c.updateTimer()
}
