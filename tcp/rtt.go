package tcp

import (
	"time"

	"github.com/ustack/ustack/clock"
)

// rttEstimator is the RFC 6298 retransmission-timeout estimator, plus the
// windowed minimum RTT that rate sampling and congestion control use.

type rttEstimator struct {
	srtt, rttvar time.Duration
	rto          time.Duration
	minRTT       time.Duration
	minRTTAt     clock.Time
	hasSample    bool
}

const (
	minRTTWindow = 300 * time.Second // Linux tcp_min_rtt_wlen
	clockGranule = time.Millisecond  // G in RFC 6298
)

func (e *rttEstimator) init(initialRTO time.Duration) {
	*e = rttEstimator{rto: initialRTO}
}

// sample feeds one RTT measurement.
func (e *rttEstimator) sample(now clock.Time, rtt, minRTO, maxRTO time.Duration) {
	if rtt <= 0 {
		rtt = time.Microsecond
	}
	if !e.hasSample {
		e.srtt = rtt
		e.rttvar = rtt / 2
		e.hasSample = true
	} else {
		d := e.srtt - rtt
		if d < 0 {
			d = -d
		}
		e.rttvar = (3*e.rttvar + d) / 4
		e.srtt = (7*e.srtt + rtt) / 8
	}
	// As Linux (tcp_rtt_estimator keeps rttvar >= tcp_rto_min), the floor
	// applies to the variance term, not to the whole RTO: RTO >= SRTT +
	// MinRTO. With RFC 6298's max(MinRTO, SRTT + 4*RTTVAR), an RTT near
	// MinRTO (e.g. 100 ms plus a full 1-BDP queue) leaves the RTO a few ms
	// above the RTT, and a lost retransmission or a queueing spike ends in
	// a timeout before RACK/SACK can repair it.
	e.rto = e.srtt + max(clockGranule, 4*e.rttvar, minRTO)
	e.rto = min(max(e.rto, minRTO), maxRTO)
	if e.minRTT == 0 || rtt <= e.minRTT || now.Sub(e.minRTTAt) > minRTTWindow {
		e.minRTT = rtt
		e.minRTTAt = now
	}
}
