package tcp

// Delivery-rate sampling (draft-cheng-iccrg-delivery-rate-estimation, the
// model of Linux tcp_rate.c), in three hooks:
//
//   onSent      stamps each (re)transmitted segment with the connection's
//               delivered count and times;
//   onDelivered runs for each segment an ACK newly acknowledges or SACKs and
//               keeps the stamps of the most recently sent one;
//   generate    runs once per ACK and turns them into a RateSample:
//               delivered bytes over max(send interval, ack interval).
//
// App-limited periods (the application, not the network, was the limit) are
// marked so that congestion control can discard their low samples.

import (
	"time"

	"github.com/ustack/ustack/clock"
)

type rateSampler struct {
	delivered     uint64     // bytes delivered so far
	deliveredTime clock.Time // when delivered last changed
	firstTxTime   clock.Time // send time of the segment that started the current flight
	appLimited    uint64     // 0, or delivered count at which the app-limited period ends

	// Per-ACK accumulation.
	rs             RateSample
	priorTime      clock.Time
	sampleXmitTime clock.Time
	sampleEndSeq   uint32
	sampled        bool
}

// onSent stamps t as it leaves. inFlightEmpty says nothing else was in flight.
func (r *rateSampler) onSent(now clock.Time, t *txSeg, inFlightEmpty bool) {
	if inFlightEmpty {
		r.firstTxTime = now
		r.deliveredTime = now
	}
	t.firstTxTime = r.firstTxTime
	t.deliveredTime = r.deliveredTime
	t.delivered = r.delivered
	t.appLimited = r.appLimited != 0
}

// beginAck resets the per-ACK accumulator.
func (r *rateSampler) beginAck() {
	r.rs = RateSample{Delivered: -1, RTT: -1}
	r.priorTime = 0
	r.sampled = false
}

// onDelivered is called for each segment newly acked or SACKed by this ACK.
func (r *rateSampler) onDelivered(t *txSeg) {
	if t.deliveredTime == 0 {
		return // already sampled (SACKed earlier, now cumulatively acked)
	}
	if !r.sampled || t.delivered > r.rs.PriorDelivered ||
		(t.delivered == r.rs.PriorDelivered && t.xmitTime > r.sampleXmitTime) {
		r.sampled = true
		r.rs.PriorDelivered = t.delivered
		r.priorTime = t.deliveredTime
		r.rs.IsAppLimited = t.appLimited
		r.rs.IsRetrans = t.flags&segEverRtx != 0
		r.sampleXmitTime = t.xmitTime
		r.sampleEndSeq = t.endSeq
		// The next flight's send phase starts from this segment's send time.
		r.firstTxTime = t.xmitTime
		r.rs.SendInterval = t.xmitTime.Sub(t.firstTxTime)
	}
	t.deliveredTime = 0
}

// generate finishes the sample for this ACK.
func (r *rateSampler) generate(now clock.Time, newlyDelivered, lost int, minRTT time.Duration) *RateSample {
	rs := &r.rs
	if r.appLimited != 0 && r.delivered > r.appLimited {
		r.appLimited = 0
	}
	if newlyDelivered > 0 {
		r.deliveredTime = now
	}
	rs.AckedSacked = newlyDelivered
	rs.Losses = lost
	if !r.sampled || r.priorTime == 0 {
		rs.Delivered = -1
		rs.Interval = -1
		return rs
	}
	rs.PriorTime = r.priorTime
	rs.Delivered = int64(r.delivered - rs.PriorDelivered)
	rs.AckInterval = now.Sub(r.priorTime)
	rs.Interval = max(rs.SendInterval, rs.AckInterval)
	// An interval shorter than the minimum RTT is an artefact of ACK
	// compression or a stretched send phase: no valid sample.
	if rs.Interval < minRTT {
		rs.Interval = -1
	}
	return rs
}

// checkAppLimited marks the flight app-limited when the sender has nothing
// to send, is not window-limited and has no losses to repair.
func (r *rateSampler) checkAppLimited(inflight, cwnd, mss int, nothingToSend, lostPending bool) {
	if nothingToSend && inflight < cwnd-mss && !lostPending {
		r.appLimited = max(r.delivered+uint64(inflight), 1)
	}
}
