package tcp

// What to send and when (Linux tcp_output.c): retransmissions of segments
// marked lost first, then new data as the congestion window, the peer's
// window, Nagle's algorithm and the pacer allow, then FIN; a pure ACK or a
// window update when nothing else carries one.
//
// Pacing: when a pacing rate is set, data leaves in bursts of at most one
// send quantum, and the next burst may start only once the previous one
// has "drained" at the pacing rate (an earliest-departure-time pacer, the
// role of the fq qdisc for Linux BBR). Up to one quantum of credit is kept
// so that a late timer does not cost throughput; when output last stopped
// for the pacer, up to Options.PacingSlack (the runner's timer lateness),
// if that is more. Measured end to end at 1 Gbit/s × 10 ms behind a TAP:
// the quantum is 64 KiB, 0.55 ms at the rate, while the real-time event
// loop's timers woke the pacer 0.1-1 ms late and, on a loaded machine,
// 2-5 ms late a few dozen times a second. Pacing-limited all along (cwnd,
// send buffer and the peer's window never held it), the sender lost
// 20% of its sending time to this and delivered ~700 Mbit/s at a
// pacing rate of ~950.

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/ustack/ustack/clock"
	"github.com/ustack/ustack/ip"
	"github.com/ustack/ustack/wire"
)

// output sends everything that is due now.
func (c *Conn) output(now clock.Time) {
	switch c.state {
	case StateClosed, StateListen, StateTimeWait:
		if c.ackNow && c.state == StateTimeWait {
			c.sendACK(now)
		}
		return
	case StateSynSent, StateSynReceived:
		if c.sndNxt == c.iss || c.rtoAt <= now {
			if c.rtoAt <= now && c.sndNxt != c.iss {
				c.synRetries++
				c.backoff++
				if c.synRetries > c.s.opts.SynRetries {
					c.s.stats.AttemptFails++
					c.destroy(ErrTimeout)
					return
				}
			}
			c.sendSYN(now)
		} else if c.ackNow && c.state == StateSynReceived {
			c.sendSYN(now)
		}
		return
	}
	sentData := false
	rate := c.pacingRate()
	quantum := c.sendQuantum(rate)
	var credit time.Duration // how far behind now paceNext may fall
	if rate > 0 {
		credit = time.Duration(uint64(quantum) * uint64(time.Second) / rate)
		if c.paceWait {
			credit = max(credit, c.s.opts.PacingSlack)
		}
	}
	for {
		if rate > 0 && c.paceNext > now {
			c.paceAt = c.paceNext
			c.paceWait = true
			break
		}
		c.paceAt = clock.Never
		burst := 0
		for burst < quantum {
			n := c.sendOne(now, quantum-burst)
			if n <= 0 {
				break
			}
			burst += n
			sentData = true
		}
		if burst == 0 {
			c.paceWait = false
			break
		}
		if rate > 0 {
			base := max(c.paceNext, now.Add(-credit))
			c.paceNext = base.Add(time.Duration(uint64(burst) * uint64(time.Second) / rate))
		}
	}
	if !sentData && (c.ackNow || c.windowUpdateDue()) {
		c.sendACK(now)
	}
	c.checkAppLimited()
}

// pacingRate returns the rate to pace at in bytes/s, or 0 for no pacing.
func (c *Conn) pacingRate() uint64 {
	r := c.ccs.PacingRate
	if r == 0 && c.s.opts.PaceAll && c.rtt.srtt > 0 {
		// Linux tcp_update_pacing_rate: 200% of cwnd/srtt in slow start, 120% after.
		ratio := uint64(120)
		if c.ccs.Cwnd < c.ccs.Ssthresh/2 {
			ratio = 200
		}
		r = uint64(c.ccs.Cwnd) * uint64(time.Second) / uint64(c.rtt.srtt) * ratio / 100
	}
	if c.ccs.MaxPacingRate > 0 && (r == 0 || r > c.ccs.MaxPacingRate) {
		r = c.ccs.MaxPacingRate
	}
	return r
}

// sendQuantum sizes bursts like Linux tcp_tso_autosize: ~1 ms at the pacing
// rate, at least two segments, at most 64 KiB.
func (c *Conn) sendQuantum(rate uint64) int {
	if q := c.ccs.SendQuantum; q > 0 {
		return max(q, c.mss)
	}
	if rate == 0 {
		return 1 << 30
	}
	q := int(rate >> 10)
	return min(max(q, 2*c.mss), 65536)
}

// sendOne sends one segment (a retransmission, new data or a FIN) if the
// windows allow, and returns the sequence space it used.
//
// budget is what the current pacing burst has left; it only bounds how many
// segments a TSO super-segment may carry.
func (c *Conn) sendOne(now clock.Time, budget int) int {
	q := &c.rtx
	cwnd := c.ccs.Cwnd
	inflight := q.inflight()
	// 1. Retransmit what is marked lost.
	if t, idx := q.nextToRetransmit(); t != nil {
		if inflight+t.len() > cwnd && inflight > 0 {
			c.roundCwndLim = true
			return 0
		}
		if t.len() > c.mss && t.flags&segFIN == 0 {
			q.split(c.s, idx, t.seq+uint32(c.mss))
			t = q.at(idx)
		}
		c.transmit(now, t, true)
		if idx == 0 && c.persistAt == clock.Never {
			// The head was resent: its RTO counts from now (RFC 6298
			// 5.3; Linux tcp_xmit_retransmit_queue). Otherwise, when a
			// retransmission is lost too and RACK resends it again, the
			// timer still runs from the last cumulative ACK and fires
			// while the third copy is on its way: a spurious RTO.
			c.rtoAt = now.Add(c.currentRTO())
		}
		return t.len()
	}
	// 2. New data.
	dataEnd := c.bufSeq + uint32(c.sndBuf.n)
	avail := int(int32(dataEnd - c.sndNxt))
	if avail > 0 {
		wndLeft := int(int32(c.sndUna + uint32(c.sndWnd) - c.sndNxt))
		cwndLeft := cwnd - inflight
		mss := c.curMSS()
		n := min(avail, mss)
		if cwndLeft < n {
			c.roundCwndLim = true
			if cwndLeft < c.mss && inflight > 0 {
				return 0
			}
			n = max(min(n, cwndLeft), min(n, c.mss))
		}
		if wndLeft < n {
			if wndLeft <= 0 {
				c.armPersist(now)
				return 0
			}
			// Send a partial segment only if it is a good part of the
			// window or nothing is in flight (sender SWS avoidance).
			if wndLeft < c.maxSndWnd/2 && q.len() > 0 {
				return 0
			}
			n = wndLeft
		}
		// Nagle: hold a small segment while data is unacknowledged.
		if n < c.mss && n == avail && !c.noDelay && q.len() > 0 && !(c.finQueued) {
			return 0
		}
		if n == mss && avail > mss && c.route.GSOMaxSize > 0 {
			if sent := c.sendGSO(now, min(avail, wndLeft, cwndLeft, budget)); sent > 0 {
				return sent
			}
		}
		fin := c.finQueued && n == avail
		var flags segFlags
		end := c.sndNxt + uint32(n)
		if fin {
			flags |= segFIN
			end++
		}
		t := q.push(c.s, c.sndNxt, end, flags)
		c.sndNxt = end
		if fin {
			c.finSent = true
			c.finTransition()
		}
		c.transmit(now, t, false)
		c.armTLP(now) // RFC 8985 7.2: (re)start the PTO after new data
		return t.len()
	}
	// 3. A FIN on its own.
	if c.finQueued && !c.finSent && avail == 0 {
		if inflight >= cwnd && inflight > 0 {
			return 0
		}
		t := q.push(c.s, c.sndNxt, c.sndNxt+1, segFIN)
		c.sndNxt++
		c.finSent = true
		c.finTransition()
		c.transmit(now, t, false)
		c.armTLP(now)
		return 1
	}
	return 0
}

func (c *Conn) finTransition() {
	switch c.state {
	case StateEstablished, StateSynReceived:
		c.setState(StateFinWait1)
	case StateCloseWait:
		c.setState(StateLastAck)
	}
}

// sendGSO sends up to limit bytes of new data as one TSO super-segment of
// MSS-sized scoreboard entries (SACK stays per segment; only the wire
// crossing is batched). It returns 0 if fewer than two segments fit.
func (c *Conn) sendGSO(now clock.Time, limit int) int {
	g, ok := c.s.net.(gsoWriter)
	if !ok {
		return 0
	}
	mss := c.curMSS()
	hdr := wire.TCPHeaderLen + c.optLen() + (c.mss - mss)
	limit = min(limit, c.route.GSOMaxSize-hdr, 65535-wire.IPv6HeaderLen-hdr)
	avail := int(int32(c.bufSeq + uint32(c.sndBuf.n) - c.sndNxt))
	n := limit / mss * mss
	if limit >= avail && (c.noDelay || c.finQueued) {
		n = avail // the tail may go too: nothing would wait for it
	}
	if n < 2*mss {
		return 0
	}
	q := &c.rtx
	start := c.sndNxt
	fin := c.finQueued && n == avail
	for off := 0; off < n; off += mss {
		seq := start + uint32(off)
		end := seq + uint32(min(mss, n-off))
		var flags segFlags
		if fin && off+mss >= n {
			flags = segFIN
			end++
		}
		t := q.push(c.s, seq, end, flags)
		c.stamp(now, t, false)
		c.sndNxt = end
	}
	flags := wire.FlagACK | wire.FlagPSH
	if fin {
		flags |= wire.FlagFIN
		c.finSent = true
		c.finTransition()
	}
	c.emit(now, start, flags, int(start-c.bufSeq), n, g, mss)
	c.info.bytesSent += uint64(n)
	c.info.dataSegsOut += uint64((n + mss - 1) / mss)
	c.armTLP(now)
	return n
}

// gsoWriter is implemented by IP layers that take TCP super-segments.
type gsoWriter interface {
	WritePacketGSO(src, dst netip.Addr, tos uint8, buf []byte, off, mss int) error
}

// stamp does a (re)transmission's bookkeeping: scoreboard, rate sampling,
// congestion-control events, timers. The caller puts the bytes on the wire.
func (c *Conn) stamp(now clock.Time, t *txSeg, retrans bool) {
	q := &c.rtx
	if retrans {
		q.markRetransmitted(t)
		c.info.bytesRetrans += uint64(t.len())
		c.info.totalRetrans++
		c.ccs.Retrans += uint64(t.len())
		c.s.stats.RetransSegs++
	}
	wasEmpty := q.inflight() == t.len() && !retrans || q.inflight() == 0
	if c.ccs.CAState == CARecovery {
		c.prr.prrOut += t.len()
	}
	if q.inflight()-t.len() <= 0 && c.lastSendAt != 0 && now.Sub(c.lastSendAt) > c.rtt.rto && c.state.synchronized() {
		c.restartAfterIdle(now)
	}
	if q.inflight() == t.len() || q.inflight() == 0 {
		c.cc.OnEvent(&c.ccs, EventTxStart)
	}
	c.rate.onSent(now, t, wasEmpty)
	t.xmitTime = now
	q.touch(t)
	c.lastSendAt = now
	if c.rtoAt == clock.Never {
		c.rtoAt = now.Add(c.currentRTO())
	}
}

// transmit (re)sends segment t.
func (c *Conn) transmit(now clock.Time, t *txSeg, retrans bool) {
	c.stamp(now, t, retrans)
	payload := t.len()
	flags := wire.FlagACK
	if t.flags&segFIN != 0 {
		flags |= wire.FlagFIN
		payload--
	}
	if payload > 0 {
		flags |= wire.FlagPSH
	}
	c.sendSegment(now, t.seq, flags, int(t.seq-c.bufSeq), payload)
	c.info.bytesSent += uint64(payload)
	c.info.dataSegsOut++
}

// restartAfterIdle applies RFC 7661-style window restart after idle.
func (c *Conn) restartAfterIdle(now clock.Time) {
	c.cc.OnEvent(&c.ccs, EventCwndRestart)
	if c.ccController == nil {
		iw := c.s.opts.InitialCwnd * c.mss
		if c.ccs.Cwnd > iw {
			c.ccs.Ssthresh = max(c.ccs.Ssthresh, c.ccs.Cwnd*3/4)
			c.ccs.Cwnd = iw
		}
	}
}

// checkAppLimited marks the flight app-limited when we ran out of data.
func (c *Conn) checkAppLimited() {
	if !c.state.synchronized() {
		return
	}
	dataEnd := c.bufSeq + uint32(c.sndBuf.n)
	nothing := dataEnd == c.sndNxt && (!c.finQueued || c.finSent)
	inflight := c.rtx.inflight()
	c.rate.checkAppLimited(inflight, c.ccs.Cwnd, c.mss, nothing || c.rwndLimited(dataEnd, inflight), c.rtx.lost > c.rtx.retransOut)
}

// rwndLimited reports whether, in loss recovery and with under half the
// cwnd in flight, new data is waiting only for the peer's receive window.
// Not in Linux, which marks a flight application-limited
// only when the application has no data: a receiver whose window grows
// slowly (Linux's grows with what its application reads, which stalls
// behind a hole) then makes BBR's STARTUP see three rounds without growth
// and leave at a fraction of the path's rate. Traced end to end at 1%
// loss: the peer's window fell to 93 segments behind a loss 0.6 s into a
// transfer, delivery fell to 3-5 Mbit/s for three rounds, and STARTUP
// exited at 8.3 Mbit/s; the transfer averaged 18 Mbit/s against 69 in the
// other repetitions. Samples the receiver limits behind our own unrepaired
// losses say nothing about the path, as with an idle application (QUIC's
// BBR treats a flow-control-blocked sender the same way). Outside
// recovery a window-limited flight counts as Linux counts it: marking
// those too made STARTUP overshoot a 1-BDP buffer whenever the receiver's
// window trailed the sender's growth (simulated retransmissions at 1%
// loss rose from 1.6% to 3.5%).
func (c *Conn) rwndLimited(dataEnd uint32, inflight int) bool {
	if c.ccs.CAState < CARecovery || inflight >= c.ccs.Cwnd/2 || dataEnd == c.sndNxt {
		return false
	}
	next := min(uint32(c.mss), dataEnd-c.sndNxt)
	return seqGT(c.sndNxt+next, c.sndUna+uint32(c.sndWnd))
}

// currentRTO is the RTO with exponential backoff.
func (c *Conn) currentRTO() time.Duration {
	rto := c.rtt.rto
	for i := 0; i < c.backoff && rto < c.s.opts.MaxRTO; i++ {
		rto *= 2
	}
	return min(rto, c.s.opts.MaxRTO)
}

// tsNow is our timestamp clock: milliseconds.
func (c *Conn) tsNow(now clock.Time) uint32 {
	return uint32(int64(now)/int64(time.Millisecond)) + c.iss
}

// rcvWindow is the receive window we can offer from RCV.NXT.
func (c *Conn) rcvWindow() int {
	return min(c.rcvBuf.size()-c.rcvBuf.n, 65535<<c.rcvWScale)
}

// windowToAdvertise returns the window field and updates the advertised edge.
func (c *Conn) windowToAdvertise() uint16 {
	// Offer what the buffer holds, rounded down to the scale.
	w := c.rcvWindow() >> c.rcvWScale << c.rcvWScale
	edge := c.rcvNxt + uint32(w)
	if seqLT(edge, c.rcvAdvEdge) {
		edge = c.rcvAdvEdge // never shrink the window (RFC 9293 3.8.6.2.2)
	}
	c.rcvAdvEdge = edge
	// Round up to the scale so the peer sees at least what we promised.
	// The edge kept is the unrounded one: were the rounded-up edge kept,
	// every ACK could push it up to 2^scale-1 bytes further beyond the
	// buffer, and a full buffer would go on offering a window.
	f := (int(edge-c.rcvNxt) + (1 << c.rcvWScale) - 1) >> c.rcvWScale
	return uint16(min(f, 65535))
}

// windowUpdateDue reports whether reading opened enough window to send a
// pure window update. As Linux (tcp_cleanup_rbuf): only when the window
// the peer knows is at most half the buffer and the new one would be at
// least twice as large, which includes reopening a closed window.
// Otherwise the larger window rides on the next ACK: during a bulk
// transfer every read would else draw an ACK of its own (measured: 1.4
// segments per ACK instead of 2, and the ACK writes are the costliest
// part of receiving through a TAP).
func (c *Conn) windowUpdateDue() bool {
	if !c.state.synchronized() || c.finRcvd {
		return false
	}
	known := max(int(int32(c.rcvAdvEdge-c.rcvNxt)), 0)
	avail := c.rcvWindow()
	// Receiver-side silly window avoidance (RFC 9293 3.8.6.2.2): the
	// window opens by at least min(buffer/2, MSS).
	if avail-known < min(c.rcvBuf.size()/2, max(c.rcvMSS, c.mss)) {
		return false
	}
	return 2*known <= c.rcvBuf.size() && avail >= 2*known
}

// sendACK sends a pure ACK (with SACK blocks).
func (c *Conn) sendACK(now clock.Time) {
	c.sendSegment(now, c.sndNxt, wire.FlagACK, 0, 0)
}

// sendSYN sends our SYN or SYN-ACK.
func (c *Conn) sendSYN(now clock.Time) {
	flags := wire.FlagSYN
	if c.state == StateSynReceived {
		flags |= wire.FlagACK
	}
	c.sndNxt = c.iss + 1
	c.lastSendAt = now
	c.sendSegment(now, c.iss, flags, 0, 0)
	c.rtoAt = now.Add(c.currentRTO())
}

// sendRST sends a reset with the given sequence numbers.
func (c *Conn) sendRST(seq, ack uint32, withAck bool) {
	var h wire.TCPHeader
	h.SrcPort, h.DstPort = c.id.local.Port(), c.id.remote.Port()
	h.Seq = seq
	h.Flags = wire.FlagRST
	h.Options.WScale = -1
	if withAck {
		h.Ack = ack
		h.Flags |= wire.FlagACK
	}
	c.s.writeRaw(c.id, &h, nil, 0, 0)
	c.s.stats.OutRsts++
}

// sendSegment builds and sends one segment whose payload (if any) is taken
// from the send buffer at offset off.
func (c *Conn) sendSegment(now clock.Time, seq uint32, flags wire.TCPFlags, off, n int) {
	c.emit(now, seq, flags, off, n, nil, 0)
}

// curMSS is the payload of a full segment sent now: the MSS less room for
// the SACK blocks we owe the peer (Linux tcp_current_mss), so that a data
// segment carrying them still fits the path MTU.
func (c *Conn) curMSS() int {
	if !c.sackOK || (len(c.rcvBuf.ooo.r) == 0 && !c.hasDSACK) {
		return c.mss
	}
	blocks := len(c.rcvBuf.ooo.r)
	if c.hasDSACK {
		blocks++
	}
	return max(c.mss-sackOptLen(min(blocks, c.maxSACKBlocks())), 64)
}

// maxSACKBlocks is how many SACK blocks fit beside the other options.
func (c *Conn) maxSACKBlocks() int {
	if c.tsOK {
		return 3
	}
	return 4
}

// sackOptLen is the option space of n SACK blocks, padding included.
func sackOptLen(n int) int {
	if n == 0 {
		return 0
	}
	return 4 + 8*n
}

// emit is sendSegment, optionally as a TSO super-segment of gsoMSS-byte
// segments through g.
func (c *Conn) emit(now clock.Time, seq uint32, flags wire.TCPFlags, off, n int, g gsoWriter, gsoMSS int) {
	var h wire.TCPHeader
	h.SrcPort, h.DstPort = c.id.local.Port(), c.id.remote.Port()
	h.Seq = seq
	h.Flags = flags
	h.Options.WScale = -1
	syn := flags&wire.FlagSYN != 0
	if flags&wire.FlagACK != 0 {
		h.Ack = c.rcvNxt
	}
	if syn {
		h.Options.MSS = uint16(min(c.advMSS, 65535))
		active := c.state == StateSynSent
		if !c.s.opts.NoWindowScaling && (active || c.wsOK) {
			h.Options.WScale = int8(c.rcvWScale)
		}
		if !c.s.opts.NoSACK && (active || c.sackOK) {
			h.Options.SACKPermitted = true
		}
		if !c.s.opts.NoTimestamps && (active || c.tsOK) {
			h.Options.HasTimestamp = true
			h.Options.TSVal = c.tsNow(now)
			h.Options.TSEcr = c.tsRecent
		}
		w := c.rcvWindow()
		h.Window = uint16(min(w, 65535))
		c.rcvAdvEdge = c.rcvNxt + uint32(h.Window)
	} else {
		h.Window = c.windowToAdvertise()
		if c.tsOK {
			h.Options.HasTimestamp = true
			h.Options.TSVal = c.tsNow(now)
			h.Options.TSEcr = c.tsRecent
		}
		if c.sackOK && flags&wire.FlagRST == 0 {
			// As many blocks as fit beside this segment's payload: a
			// retransmission sized before the blocks were owed carries
			// fewer (or none), never more than the path MTU allows.
			seg := n
			if g != nil {
				seg = gsoMSS
			}
			room := mssForMTU(c.id.remote.Addr(), c.route.MTU) - seg - c.optLen()
			c.fillSACK(&h.Options, min(c.maxSACKBlocks(), (room-4)/8))
		}
	}
	if g != nil {
		c.s.writeGSO(c.id, &h, &c.sndBuf, off, n, gsoMSS, g)
	} else {
		c.s.writeRaw(c.id, &h, &c.sndBuf, off, n)
	}
	c.info.segsOut++
	if flags&wire.FlagACK != 0 {
		c.lastAckSent = c.rcvNxt
		c.ackNow = false
		c.unackedBytes = 0
		c.delackAt = clock.Never
		if c.quickAcks > 0 && c.state.synchronized() {
			c.quickAcks--
		}
	}
}

// fillSACK puts D-SACK and the most recent SACK blocks into o, at most limit.
func (c *Conn) fillSACK(o *wire.TCPOptions, limit int) {
	o.NumSACK = 0
	if limit <= 0 {
		return
	}
	if c.hasDSACK {
		o.SACK[0] = c.dsack
		o.NumSACK = 1
		c.hasDSACK = false
	}
	r := c.rcvBuf.ooo.r
	if len(r) == 0 {
		return
	}
	base := c.rcvNxt - uint32(c.rcvBuf.n)
	// Most recently changed ranges first (RFC 2018 section 4): pick by
	// descending stamp, each below the previous pick.
	prev := ^uint64(0)
	for o.NumSACK < limit {
		best := -1
		for i := range r {
			if r[i].stamp < prev && (best < 0 || r[i].stamp > r[best].stamp) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		prev = r[best].stamp
		o.SACK[o.NumSACK] = wire.SACKBlock{Start: base + uint32(r[best].start), End: base + uint32(r[best].end)}
		o.NumSACK++
	}
}

// writeRaw encodes h, appends plen payload bytes taken from src at offset
// srcOff, checksums and hands the segment to the network.
func (s *Stack) writeRaw(id fourTuple, h *wire.TCPHeader, src *sendBuffer, srcOff, plen int) {
	buf := s.scratch
	off := ip.HeaderRoom
	hl := h.Encode(buf[off:])
	if plen > 0 {
		src.copyOut(buf[off+hl:off+hl+plen], srcOff)
	}
	seg := buf[off : off+hl+plen]
	wire.SetTCPChecksum(id.local.Addr(), id.remote.Addr(), seg)
	s.stats.SegsOut++
	_ = s.net.WritePacket(id.local.Addr(), id.remote.Addr(), wire.ProtoTCP, 0, buf[:off+hl+plen], off)
}

// writeGSO is writeRaw for a TSO super-segment: the checksum field carries
// the folded, uncomplemented pseudo-header sum over the whole length, which
// the device completes per segment (Linux CHECKSUM_PARTIAL).
func (s *Stack) writeGSO(id fourTuple, h *wire.TCPHeader, src *sendBuffer, srcOff, plen, mss int, g gsoWriter) {
	buf := s.scratch
	off := ip.HeaderRoom
	hl := h.Encode(buf[off:])
	src.copyOut(buf[off+hl:off+hl+plen], srcOff)
	seg := buf[off : off+hl+plen]
	sum := ^wire.FoldChecksum(wire.PseudoHeaderSum(id.local.Addr(), id.remote.Addr(), wire.ProtoTCP, len(seg)))
	binary.BigEndian.PutUint16(seg[16:], sum)
	s.stats.SegsOut += uint64((plen + mss - 1) / mss)
	_ = g.WritePacketGSO(id.local.Addr(), id.remote.Addr(), 0, buf[:off+hl+plen], off, mss)
}
