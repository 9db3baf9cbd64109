package cc

// CUBIC (RFC 9438), computed the way Linux's tcp_cubic.c computes it, with
// windows in bytes and the cubic curve in float64.
//
// Congestion avoidance follows the curve
//
//	W_cubic(t) = C*(t-K)^3 + W_max,   C = 0.4 segments/s^3
//
// where t is the time since the current congestion-avoidance epoch began
// (the first ACK processed in congestion avoidance after a loss or after
// slow start), W_max is the window before the last reduction and
// K = cbrt((W_max - cwnd_epoch)/C) the time at which the curve returns to
// W_max. Below W_max the curve is concave (fast, then levelling off at
// W_max); beyond, it is convex (slow, then accelerating). If the epoch
// starts at or above W_max, the curve starts there with K = 0.
//
// On every ACK the target is the curve one RTT ahead, W_cubic(t + delay_min)
// as Linux does, with delay_min CUBIC's own minimum RTT sample. The window is
// then grown by one MSS every cnt acknowledged bytes, with
// cnt = cwnd*MSS/(target-cwnd): over one round it reaches the target. As in
// Linux, cnt is at least 2*MSS (never more than 1.5x per round trip), is
// 100*cwnd (almost no growth) when the target is not above the window, and
// at most 20*MSS (5% per round) when there is no W_max yet.
//
// Reno-friendly region: an estimate W_est of what standard AIMD TCP with the
// same loss rate would have starts at cwnd_epoch and grows by
// alpha*acked/cwnd segments per ACK, alpha = 3(1-beta)/(1+beta); it grows
// with alpha = 1 once it reaches the window from before the last reduction
// (RFC 9438 section 4.3). When W_est is above the window, cnt is lowered so
// the window follows W_est instead of the curve.
//
// On loss (SsThresh): W_max is the current window, or (fast convergence)
// cwnd*(1+beta)/2 if the window is below the previous W_max, ssthresh is
// max(cwnd*beta, 2*MSS) with beta = 0.7, and the epoch ends; the next
// congestion-avoidance ACK starts a new one. A retransmission timeout
// (SetState(CALoss) or EventLoss) resets W_max, the epoch and delay_min, as
// Linux's bictcp_reset does. After an idle period (EventTxStart) the epoch
// start is moved forward by the idle time so that the curve does not count
// time in which nothing was sent. Undo restores cwnd, ssthresh, W_max, K, the
// epoch and W_est saved at the reduction (RFC 9438 section 4.9).
//
// The initial slow start is ended by HyStart++ (hystart.go) while Ssthresh
// is still tcp.InitialSsthresh; later slow starts (after a timeout) run to
// the threshold found by loss.

import (
	"math"
	"time"

	"github.com/ustack/ustack/clock"
	"github.com/ustack/ustack/tcp"
)

// CUBIC constants (RFC 9438 section 5).
const (
	// CubicBeta is the multiplicative decrease factor.
	CubicBeta = 0.7
	// CubicC is the cubic scaling constant, in segments/s^3.
	CubicC = 0.4
	// cubicAlphaAIMD is the additive increase of the Reno-friendly estimate.
	cubicAlphaAIMD = 3 * (1 - CubicBeta) / (1 + CubicBeta)
	// cubicDelayHoldoff: RTT samples are ignored for delay_min during the
	// first second of an epoch (inflated by the queue that caused the loss).
	cubicDelayHoldoff = time.Second
)

// Cubic is RFC 9438 CUBIC with HyStart++. Create it with NewCubic (or
// through the registry, as "cubic"); the exported switches may be changed
// before Init.
type Cubic struct {
	// FastConvergence lowers W_max when a loss comes before the window got
	// back to the previous W_max (RFC 9438 section 4.7). Default on.
	FastConvergence bool
	// RenoFriendly enables the Reno-friendly region (section 4.3). Default on.
	RenoFriendly bool
	// HyStart enables HyStart++ in the initial slow start. Default on.
	HyStart bool

	state   tcp.CAState
	cnt     int // bytes to acknowledge per MSS of growth (Linux ca->cnt, in bytes)
	cwndCnt int // bytes acknowledged towards the next MSS of growth
	cssAcc  int // acknowledged bytes not yet turned into CSS growth (< CSS_GROWTH_DIVISOR)

	wMax       float64 // W_max, bytes; 0 when there is none (Linux last_max_cwnd)
	cwndPrior  float64 // window before the last reduction, bytes (W_est's alpha switch)
	epochValid bool
	epochStart clock.Time
	k          float64 // K, seconds
	origin     float64 // the curve's plateau, bytes (Linux bic_origin_point)
	wEst       float64 // Reno-friendly estimate, bytes (Linux tcp_cwnd)
	delayMin   time.Duration

	lastAck     clock.Time // when the last ACK was processed (for idle detection)
	haveLastAck bool

	hs    hystartPP
	prior cubicPrior
	mode  string
}

// cubicPrior is what a reduction saves for undo (RFC 9438 section 4.9).
type cubicPrior struct {
	classicPrior
	wMax, cwndPrior, k, origin, wEst float64
	epochValid                       bool
	epochStart                       clock.Time
	hystartInitial                   bool
}

var (
	_ tcp.CongestionControl = (*Cubic)(nil)
	_ tcp.Undoer            = (*Cubic)(nil)
	_ tcp.Reporter          = (*Cubic)(nil)
)

// NewCubic returns a CUBIC instance with fast convergence, the Reno-friendly
// region and HyStart++ enabled.
func NewCubic() *Cubic {
	cu := &Cubic{FastConvergence: true, RenoFriendly: true, HyStart: true, mode: modeSlowStart}
	cu.hs.reset()
	return cu
}

// Name implements tcp.CongestionControl.
func (cu *Cubic) Name() string { return "cubic" }

// Init implements tcp.CongestionControl.
func (cu *Cubic) Init(c *tcp.CCState) {
	*cu = Cubic{
		FastConvergence: cu.FastConvergence,
		RenoFriendly:    cu.RenoFriendly,
		HyStart:         cu.HyStart,
		state:           c.CAState,
	}
	cu.hs.reset()
	cu.updateMode(c)
}

// SsThresh implements tcp.CongestionControl (Linux bictcp_recalc_ssthresh).
func (cu *Cubic) SsThresh(c *tcp.CCState) int {
	if !inReduction(cu.state) {
		cu.prior = cubicPrior{
			classicPrior:   classicPrior{valid: true, cwnd: c.Cwnd, ssthresh: c.Ssthresh},
			wMax:           cu.wMax,
			cwndPrior:      cu.cwndPrior,
			k:              cu.k,
			origin:         cu.origin,
			wEst:           cu.wEst,
			epochValid:     cu.epochValid,
			epochStart:     cu.epochStart,
			hystartInitial: cu.hs.phase != hystartDone,
		}
	}
	cwnd := float64(c.Cwnd)
	cu.epochValid = false
	if cu.FastConvergence && cwnd < cu.wMax {
		cu.wMax = cwnd * (1 + CubicBeta) / 2
	} else {
		cu.wMax = cwnd
	}
	cu.cwndPrior = cwnd
	cu.hs.phase = hystartDone
	return max(int(cwnd*CubicBeta), 2*mssOf(c))
}

// CongAvoid implements tcp.CongestionControl (Linux bictcp_acked +
// cubictcp_cong_avoid).
func (cu *Cubic) CongAvoid(c *tcp.CCState, acked int, rs *tcp.RateSample) {
	defer func() {
		cu.lastAck, cu.haveLastAck = c.Now, true
		cu.updateMode(c)
	}()
	rtt := time.Duration(-1)
	if rs != nil {
		rtt = rs.RTT
	}
	if rtt > 0 && !(cu.epochValid && c.Now.Sub(cu.epochStart) < cubicDelayHoldoff) {
		if cu.delayMin == 0 || rtt < cu.delayMin {
			cu.delayMin = rtt
		}
	}

	if c.Cwnd < c.Ssthresh && cu.hystartActive(c) {
		if cu.hs.onAck(c.RoundStart, rtt) {
			c.Ssthresh = c.Cwnd // CSS is over: congestion avoidance from here
		}
	}

	if !c.CwndLimited || acked <= 0 {
		return
	}
	if c.Cwnd < c.Ssthresh {
		if cu.hystartActive(c) && cu.hs.inCSS() {
			cu.cssAcc += acked
			inc := cu.cssAcc / hystartCSSGrowthDivisor
			cu.cssAcc -= inc * hystartCSSGrowthDivisor
			c.Cwnd = min(c.Cwnd+inc, c.Ssthresh)
			return
		}
		acked = classicSlowStart(c, acked, 0)
		if acked <= 0 {
			return
		}
	}
	cu.update(c, acked)
	classicCongAvoidAI(c, &cu.cwndCnt, cu.cnt, acked)
}

// hystartActive reports whether HyStart++ governs this slow start: it is
// enabled and this is the initial slow start (RFC 9406 section 4.2).
func (cu *Cubic) hystartActive(c *tcp.CCState) bool {
	return cu.HyStart && c.Ssthresh >= tcp.InitialSsthresh && cu.hs.phase != hystartDone
}

// targetRTT is the RTT by which the curve is looked ahead.
func (cu *Cubic) targetRTT(c *tcp.CCState) time.Duration {
	switch {
	case cu.delayMin > 0:
		return cu.delayMin
	case c.MinRTT > 0:
		return c.MinRTT
	}
	return max(c.SRTT, 0)
}

// update computes cnt for this ACK (Linux bictcp_update).
func (cu *Cubic) update(c *tcp.CCState, acked int) {
	mss := float64(mssOf(c))
	cwnd := max(float64(c.Cwnd), mss)
	if !cu.epochValid {
		cu.epochValid = true
		cu.epochStart = c.Now
		cu.wEst = cwnd
		if cu.wMax <= cwnd {
			cu.k = 0
			cu.origin = cwnd
		} else {
			cu.k = math.Cbrt((cu.wMax - cwnd) / (CubicC * mss))
			cu.origin = cu.wMax
		}
	}

	t := (c.Now.Sub(cu.epochStart) + cu.targetRTT(c)).Seconds() - cu.k
	target := cu.origin + CubicC*mss*t*t*t

	cnt := 100 * cwnd
	if target > cwnd {
		cnt = min(cwnd*mss/(target-cwnd), cnt)
	}
	if cu.wMax == 0 && cnt > 20*mss {
		cnt = 20 * mss // no W_max yet: grow at least 5% per round
	}

	if cu.RenoFriendly {
		alpha := cubicAlphaAIMD
		if cu.wEst >= cu.cwndPrior {
			alpha = 1
		}
		cu.wEst += alpha * float64(acked) * mss / cwnd
		if cu.wEst > cwnd {
			cnt = min(cnt, cwnd*mss/(cu.wEst-cwnd))
		}
	}
	cu.cnt = int(max(cnt, 2*mss))
}

// SetState implements tcp.CongestionControl. A timeout resets the curve
// (Linux bictcp_state on TCP_CA_Loss).
func (cu *Cubic) SetState(c *tcp.CCState, st tcp.CAState) {
	if st == tcp.CALoss {
		cu.resetCurve()
	}
	if inReduction(st) {
		cu.cwndCnt = 0
		cu.cssAcc = 0
	}
	cu.state = st
	cu.updateMode(c)
}

// resetCurve forgets W_max, the epoch and delay_min (Linux bictcp_reset).
// RFC 9438 section 4.8: after a timeout the first epoch starts with K = 0
// and W_max = the window at its start.
func (cu *Cubic) resetCurve() {
	cu.wMax, cu.k, cu.origin, cu.wEst = 0, 0, 0, 0
	cu.epochValid = false
	cu.delayMin = 0
	cu.cnt, cu.cwndCnt = 0, 0
	cu.hs.phase = hystartDone
}

// OnEvent implements tcp.CongestionControl.
func (cu *Cubic) OnEvent(c *tcp.CCState, ev tcp.CCEvent) {
	switch ev {
	case tcp.EventTxStart:
		// Idle: shift the epoch so the curve ignores the time in which
		// nothing was in flight (Linux cubictcp_cwnd_event).
		if cu.epochValid && cu.haveLastAck {
			if idle := c.Now.Sub(cu.lastAck); idle > 0 {
				cu.epochStart = cu.epochStart.Add(idle)
				if cu.epochStart.After(c.Now) {
					cu.epochStart = c.Now
				}
			}
		}
	case tcp.EventLoss:
		cu.resetCurve()
	}
	cu.updateMode(c)
}

// UndoCwnd implements tcp.Undoer: if the window is below the one saved at
// the last reduction, restore it together with the threshold and the curve
// (RFC 9438 section 4.9); otherwise keep the current state.
func (cu *Cubic) UndoCwnd(c *tcp.CCState) int {
	p := cu.prior
	if !p.valid || c.Cwnd >= p.cwnd {
		return c.Cwnd
	}
	cu.prior.valid = false
	cu.wMax, cu.cwndPrior, cu.k, cu.origin, cu.wEst = p.wMax, p.cwndPrior, p.k, p.origin, p.wEst
	cu.epochValid, cu.epochStart = p.epochValid, p.epochStart
	cu.cwndCnt = 0
	c.Ssthresh = max(c.Ssthresh, p.ssthresh)
	if p.hystartInitial && c.Ssthresh >= tcp.InitialSsthresh {
		cu.hs.reset()
	}
	return p.cwnd
}

func (cu *Cubic) updateMode(c *tcp.CCState) {
	cu.mode = classicMode(c, cu.state, cu.hystartActive(c) && cu.hs.inCSS())
}

// Info implements tcp.Reporter.
func (cu *Cubic) Info() tcp.CCInfo {
	return tcp.CCInfo{Mode: cu.mode, MinRTT: cu.delayMin}
}
