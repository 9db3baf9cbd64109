package cc

// Reno: the standard TCP congestion control of RFC 5681, with the window
// kept in bytes and grown by byte counting (RFC 3465), in the shape of
// Linux's tcp_reno_cong_avoid / tcp_reno_ssthresh / tcp_reno_undo_cwnd.
//
//   - Slow start (Cwnd < Ssthresh): every ACK adds the bytes it newly
//     acknowledged, at most L = 2*MSS per ACK (RFC 3465 appropriate byte
//     counting), so the window doubles every round trip. The window stops
//     at Ssthresh; bytes beyond it carry over into congestion avoidance, as
//     in Linux's tcp_slow_start.
//   - Congestion avoidance: acknowledged bytes accumulate in a counter; each
//     time a full window's worth has been acknowledged the window grows by
//     one MSS (Linux's tcp_cong_avoid_ai with w = cwnd, in bytes), i.e.
//     exactly one MSS per round trip of a fully used window.
//   - The window grows only when the core says it was the limiting factor
//     during the last round (CCState.CwndLimited).
//   - On loss the new threshold is max(cwnd/2, 2*MSS); the core then brings
//     the window down with PRR and calls CongAvoid again only when recovery
//     is over.
//   - If the loss turns out to be spurious (UndoCwnd), the window and
//     threshold from before the reduction are restored.
//
// The helpers at the end of this file (classic slow start and additive
// increase) are shared with CUBIC.

import (
	"github.com/ustack/ustack/tcp"
)

// renoABCLimit is RFC 3465's L: the most a single ACK may grow the window
// in slow start, in MSS.
const renoABCLimit = 2

// Reno is RFC 5681 congestion control with byte counting. Create it with
// NewReno (or through the registry, as "reno").
type Reno struct {
	state   tcp.CAState // last state reported by SetState
	cwndCnt int         // bytes acknowledged towards the next MSS of growth in congestion avoidance
	prior   classicPrior
	mode    string
}

var (
	_ tcp.CongestionControl = (*Reno)(nil)
	_ tcp.Undoer            = (*Reno)(nil)
	_ tcp.Reporter          = (*Reno)(nil)
)

// NewReno returns a Reno instance ready for Init.
func NewReno() *Reno { return &Reno{mode: modeSlowStart} }

// Name implements tcp.CongestionControl.
func (r *Reno) Name() string { return "reno" }

// Init implements tcp.CongestionControl. The core has already set the
// initial window and threshold; Reno keeps them.
func (r *Reno) Init(c *tcp.CCState) {
	*r = Reno{state: c.CAState}
	r.mode = classicMode(c, r.state, false)
}

// SsThresh implements tcp.CongestionControl: half the window, at least two
// segments (Linux tcp_reno_ssthresh).
func (r *Reno) SsThresh(c *tcp.CCState) int {
	if !inReduction(r.state) {
		r.prior = classicPrior{valid: true, cwnd: c.Cwnd, ssthresh: c.Ssthresh}
	}
	return max(c.Cwnd/2, 2*mssOf(c))
}

// CongAvoid implements tcp.CongestionControl.
func (r *Reno) CongAvoid(c *tcp.CCState, acked int, rs *tcp.RateSample) {
	defer func() { r.mode = classicMode(c, r.state, false) }()
	if !c.CwndLimited || acked <= 0 {
		return
	}
	if c.Cwnd < c.Ssthresh {
		acked = classicSlowStart(c, acked, renoABCLimit*mssOf(c))
		if acked <= 0 {
			return
		}
	}
	classicCongAvoidAI(c, &r.cwndCnt, c.Cwnd, acked)
}

// SetState implements tcp.CongestionControl. Entering a window reduction
// discards partial additive-increase credit, as Linux does when it starts a
// reduction (tcp_init_cwnd_reduction, tcp_enter_loss).
func (r *Reno) SetState(c *tcp.CCState, st tcp.CAState) {
	if inReduction(st) {
		r.cwndCnt = 0
	}
	r.state = st
	r.mode = classicMode(c, st, false)
}

// OnEvent implements tcp.CongestionControl. Reno keeps no timing state, so
// only a timeout matters: it discards partial growth credit.
func (r *Reno) OnEvent(c *tcp.CCState, ev tcp.CCEvent) {
	if ev == tcp.EventLoss {
		r.cwndCnt = 0
	}
}

// UndoCwnd implements tcp.Undoer: the window from before the last
// reduction, if larger than the current one (Linux tcp_reno_undo_cwnd). It
// also raises Ssthresh back to its pre-reduction value, as Linux's
// tcp_undo_cwnd_reduction does with prior_ssthresh.
func (r *Reno) UndoCwnd(c *tcp.CCState) int {
	if !r.prior.valid {
		return c.Cwnd
	}
	c.Ssthresh = max(c.Ssthresh, r.prior.ssthresh)
	return max(c.Cwnd, r.prior.cwnd)
}

// Info implements tcp.Reporter.
func (r *Reno) Info() tcp.CCInfo { return tcp.CCInfo{Mode: r.mode} }

// Modes reported by Info.
const (
	modeSlowStart = "slow_start"
	modeCSS       = "css"
	modeCongAvoid = "cong_avoid"
	modeRecovery  = "recovery"
)

// classicPrior is the state saved when a window reduction starts, for undo.
type classicPrior struct {
	valid          bool
	cwnd, ssthresh int
}

// inReduction reports whether st is a window-reduction state, during which
// the core runs PRR and does not call CongAvoid.
func inReduction(st tcp.CAState) bool {
	return st == tcp.CARecovery || st == tcp.CALoss || st == tcp.CACWR
}

// classicMode names the phase a classic algorithm is in.
func classicMode(c *tcp.CCState, st tcp.CAState, css bool) string {
	switch {
	case inReduction(st):
		return modeRecovery
	case c.Cwnd < c.Ssthresh && css:
		return modeCSS
	case c.Cwnd < c.Ssthresh:
		return modeSlowStart
	}
	return modeCongAvoid
}

// mssOf is the connection's MSS, guarded against a zero value.
func mssOf(c *tcp.CCState) int { return max(c.MSS, 1) }

// classicSlowStart grows the window by the acknowledged bytes, at most
// limit per ACK (limit <= 0: no limit), without passing Ssthresh. It returns
// the acknowledged bytes left over once the window reached Ssthresh, which
// the caller should feed to congestion avoidance (Linux tcp_slow_start).
func classicSlowStart(c *tcp.CCState, acked, limit int) int {
	inc := acked
	if limit > 0 {
		inc = min(inc, limit)
	}
	cwnd := min(c.Cwnd+inc, c.Ssthresh)
	used := cwnd - c.Cwnd
	c.Cwnd = max(cwnd, c.Cwnd)
	if cwnd < c.Ssthresh || used >= acked {
		return 0
	}
	return acked - used
}

// classicCongAvoidAI is Linux's tcp_cong_avoid_ai in bytes: grow the window
// by one MSS for every w bytes acknowledged, keeping the remainder in *cnt.
func classicCongAvoidAI(c *tcp.CCState, cnt *int, w, acked int) {
	mss := mssOf(c)
	w = max(w, mss)
	// Credit accumulated against a larger w (before the window shrank) is
	// applied gently: one MSS, not several.
	if *cnt >= w {
		*cnt = 0
		c.Cwnd += mss
	}
	*cnt += acked
	if *cnt >= w {
		n := *cnt / w
		*cnt -= n * w
		c.Cwnd += n * mss
	}
}
