package cc

// HyStart++ (RFC 9406): leaving the initial slow start when the round-trip
// delay starts to rise, before the queue at the bottleneck overflows.
//
// The round trip is the unit. The core marks the first ACK of every round
// (CCState.RoundStart); HyStart++ keeps the minimum RTT sample of the current
// round and of the previous one. Once a round has at least N_RTT_SAMPLE
// samples, and both minima are known, a rise of the round minimum by
//
//	RttThresh = clamp(lastRoundMinRTT/8, 4ms, 16ms)
//
// over the previous round's minimum ends standard slow start and starts
// Conservative Slow Start (CSS): the window keeps growing, but at a quarter
// of the slow-start rate, and the round minimum at entry becomes the CSS
// baseline. If a later round's minimum falls back below the baseline, the
// rise was jitter and standard slow start resumes. After CSS_ROUNDS rounds
// of CSS (the partial round in which CSS began counts as the first) slow start ends
// for good: the caller sets Ssthresh to the current window and continues in
// congestion avoidance. A loss at any point ends HyStart++ as well.
//
// Because the comparison is between per-round minima of at least eight
// samples, RTT noise that does not lift the whole round's floor by the
// threshold does not end slow start.

import (
	"math"
	"time"
)

// RFC 9406 section 4.3 constants.
const (
	hystartMinRTTThresh     = 4 * time.Millisecond
	hystartMaxRTTThresh     = 16 * time.Millisecond
	hystartMinRTTDivisor    = 8
	hystartNRTTSample       = 8
	hystartCSSGrowthDivisor = 4
	hystartCSSRounds        = 5
)

// hystartInf stands for RFC 9406's "infinity" RTT.
const hystartInf = time.Duration(math.MaxInt64)

type hystartPhase uint8

const (
	hystartSS   hystartPhase = iota // standard slow start, watching for a delay rise
	hystartCSS                      // conservative slow start
	hystartDone                     // slow start is over (CSS completed, or a loss)
)

// hystartPP is the HyStart++ state of one connection.
type hystartPP struct {
	phase              hystartPhase
	lastRoundMinRTT    time.Duration
	currentRoundMinRTT time.Duration
	rttSampleCount     int
	cssBaselineMinRTT  time.Duration
	cssRounds          int // rounds completed in CSS, counting the (partial) one CSS started in
}

func (h *hystartPP) reset() {
	*h = hystartPP{
		phase:              hystartSS,
		lastRoundMinRTT:    hystartInf,
		currentRoundMinRTT: hystartInf,
		cssBaselineMinRTT:  hystartInf,
	}
}

// rttThresh is RFC 9406's RttThresh for a previous-round minimum.
func hystartRTTThresh(lastRoundMin time.Duration) time.Duration {
	return max(hystartMinRTTThresh, min(lastRoundMin/hystartMinRTTDivisor, hystartMaxRTTThresh))
}

// onAck processes one ACK received in slow start. roundStart says the ACK
// begins a new round; rtt is its RTT sample (<= 0: none). It returns true
// when CSS has run its CSS_ROUNDS rounds and slow start must end now (the
// caller sets Ssthresh to Cwnd).
func (h *hystartPP) onAck(roundStart bool, rtt time.Duration) bool {
	if h.phase == hystartDone {
		return false
	}
	if roundStart {
		h.lastRoundMinRTT = h.currentRoundMinRTT
		h.currentRoundMinRTT = hystartInf
		h.rttSampleCount = 0
		if h.phase == hystartCSS {
			h.cssRounds++
			if h.cssRounds >= hystartCSSRounds {
				h.phase = hystartDone
				return true
			}
		}
	}
	if rtt > 0 {
		h.currentRoundMinRTT = min(h.currentRoundMinRTT, rtt)
		h.rttSampleCount++
	}
	if h.rttSampleCount < hystartNRTTSample {
		return false
	}
	switch h.phase {
	case hystartSS:
		if h.currentRoundMinRTT != hystartInf && h.lastRoundMinRTT != hystartInf &&
			h.currentRoundMinRTT >= h.lastRoundMinRTT+hystartRTTThresh(h.lastRoundMinRTT) {
			h.cssBaselineMinRTT = h.currentRoundMinRTT
			h.cssRounds = 0
			h.phase = hystartCSS
		}
	case hystartCSS:
		if h.currentRoundMinRTT < h.cssBaselineMinRTT {
			// The delay rise was spurious: back to standard slow start.
			h.cssBaselineMinRTT = hystartInf
			h.cssRounds = 0
			h.phase = hystartSS
		}
	}
	return false
}

// inCSS reports whether the connection is in conservative slow start.
func (h *hystartPP) inCSS() bool { return h.phase == hystartCSS }
