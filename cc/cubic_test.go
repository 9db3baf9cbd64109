package cc

// Tests for CUBIC's congestion avoidance, driven by the ACK-clock model of
// reno_test.go. The reference is RFC 9438's curve
// W_cubic(t) = C*(t-K)^3 + W_max, in segments and seconds.

import (
	"math"
	"testing"
	"time"

	"github.com/ustack/ustack/clock"
	"github.com/ustack/ustack/tcp"
)

// newCubicAtLoss returns a CUBIC connection in congestion avoidance that has
// learnt the path's RTT and has just recovered from a loss at a window of
// wmax segments.
func newCubicAtLoss(t *testing.T, cu *Cubic, rtt time.Duration, wmax int) *classicClock {
	k := newClassicClock(t, cu, rtt)
	k.c.CwndLimited = false // one round to learn delay_min, without growth
	k.runRound()
	k.c.CwndLimited = true
	k.c.Cwnd, k.c.Ssthresh = wmax*classicMSS, wmax*classicMSS
	k.loss()
	return k
}

func cubicW(t, k, wmax float64) float64 { return CubicC*math.Pow(t-k, 3) + wmax }

func TestCubicCurveAfterLoss(t *testing.T) {
	cu := NewCubic()
	k := newCubicAtLoss(t, cu, 100*time.Millisecond, 1000)
	if k.c.Ssthresh != 700*classicMSS || k.c.Cwnd != 700*classicMSS {
		t.Fatalf("after loss at 1000 MSS: cwnd %d ssthresh %d, want 700 MSS", k.c.Cwnd, k.c.Ssthresh)
	}
	if cu.wMax != 1000*classicMSS {
		t.Fatalf("W_max = %v, want %d", cu.wMax, 1000*classicMSS)
	}

	// K = cbrt(W_max*(1-beta)/C) = cbrt(1000*0.3/0.4) = cbrt(750) s.
	wantK := math.Cbrt(1000 * (1 - CubicBeta) / CubicC)
	if math.Abs(wantK-9.0856) > 1e-4 {
		t.Fatalf("test arithmetic: K = %v", wantK)
	}
	// Rounds of 100 ms up to 2K; window sampled at the end of each round.
	var ts, ws []float64
	for range int(2*wantK/0.1) + 1 {
		k.runRound()
		el := k.c.Now.Sub(cu.epochStart).Seconds()
		ts = append(ts, el)
		ws = append(ws, k.segs())
	}
	if math.Abs(cu.k-wantK) > 1e-9 {
		t.Fatalf("K = %v, want %v", cu.k, wantK)
	}
	at := func(sec float64) float64 { // window at elapsed time sec
		for i, x := range ts {
			if x >= sec {
				return ws[i]
			}
		}
		return ws[len(ws)-1]
	}
	// The window follows the curve: the target is W_cubic one RTT ahead, and
	// the window reaches it over that round trip.
	for i, x := range ts {
		want := cubicW(x, wantK, 1000)
		if d := ws[i] - want; math.Abs(d) > 2+0.002*want {
			t.Fatalf("t=%.2fs: cwnd %.1f MSS, W_cubic %.1f", x, ws[i], want)
		}
	}
	// Back to W_max at t = K.
	if w := at(wantK); math.Abs(w-1000) > 10 {
		t.Fatalf("cwnd at t=K is %.1f MSS, want ~1000", w)
	}
	// Concave below W_max: the first half of [0,K] gains more than the second.
	first, second := at(wantK/2)-at(0), at(wantK)-at(wantK/2)
	if !(first > 3*second && second > 0) {
		t.Fatalf("not concave: growth %.1f then %.1f MSS", first, second)
	}
	// Plateau around W_max.
	if d := at(wantK+1) - at(wantK-1); d > 5 {
		t.Fatalf("growth across the plateau [K-1s, K+1s] = %.1f MSS", d)
	}
	// Convex above W_max: the second half of [K,2K] gains more than the first.
	first, second = at(1.5*wantK)-at(wantK), at(2*wantK)-at(1.5*wantK)
	if !(second > 3*first && first > 0) {
		t.Fatalf("not convex: growth %.1f then %.1f MSS", first, second)
	}
	if ccMode(k.cc) != modeCongAvoid {
		t.Fatalf("mode = %q", ccMode(k.cc))
	}
}

func TestCubicFastConvergence(t *testing.T) {
	for _, fc := range []bool{true, false} {
		cu := NewCubic()
		cu.FastConvergence = fc
		k := newCubicAtLoss(t, cu, 100*time.Millisecond, 1000)
		k.runRounds(30) // about 915 MSS: below the old W_max
		w := float64(k.c.Cwnd)
		k.loss()
		wantWmax := w
		if fc {
			wantWmax = w * (1 + CubicBeta) / 2
		}
		if math.Abs(cu.wMax-wantWmax) > 1e-6 {
			t.Fatalf("fast convergence %v: W_max = %.0f after loss at %.0f, want %.0f", fc, cu.wMax, w, wantWmax)
		}
		if want := int(w * CubicBeta); k.c.Ssthresh != want {
			t.Fatalf("ssthresh = %d, want %d", k.c.Ssthresh, want)
		}
		k.runRound()
		wantK := math.Cbrt((wantWmax - float64(int(w*CubicBeta))) / (CubicC * classicMSS))
		if math.Abs(cu.k-wantK) > 1e-9 {
			t.Fatalf("K = %v, want %v", cu.k, wantK)
		}
	}
	// A loss above the old W_max sets W_max to the window.
	cu := NewCubic()
	k := newCubicAtLoss(t, cu, 100*time.Millisecond, 100)
	k.c.Cwnd = 150 * classicMSS
	k.loss()
	if cu.wMax != 150*classicMSS {
		t.Fatalf("W_max = %v after loss above old W_max, want %d", cu.wMax, 150*classicMSS)
	}
}

func TestCubicRenoFriendlyRegion(t *testing.T) {
	// Small RTT and window: the cubic curve is nearly flat for K = 2.5 s
	// (2500 round trips) while Reno would grow a segment per round trip, so
	// the Reno-friendly estimate governs.
	const wmax = 20
	cu := NewCubic()
	k := newCubicAtLoss(t, cu, time.Millisecond, wmax)
	west := float64(k.segs()) // 14
	for r := 1; r <= 60; r++ {
		k.runRound()
		if west < wmax {
			west += cubicAlphaAIMD
		} else {
			west++
		}
		if d := k.segs() - west; math.Abs(d) > 2 {
			t.Fatalf("round %d: cwnd %.1f MSS, Reno-friendly estimate %.1f", r, k.segs(), west)
		}
	}
	el := k.c.Now.Sub(cu.epochStart).Seconds()
	if wc := cubicW(el+0.001, cu.k, wmax); k.segs() < 2*wc {
		t.Fatalf("cwnd %.1f MSS not above the cubic curve %.1f", k.segs(), wc)
	}

	// Without the Reno-friendly region the window stays on the curve.
	cu = NewCubic()
	cu.RenoFriendly = false
	k = newCubicAtLoss(t, cu, time.Millisecond, wmax)
	k.runRounds(60)
	if k.segs() > 15 {
		t.Fatalf("without Reno-friendliness cwnd = %.1f MSS, want ~14", k.segs())
	}
}

func TestCubicNoGrowthWhenNotCwndLimited(t *testing.T) {
	cu := NewCubic()
	k := newCubicAtLoss(t, cu, 10*time.Millisecond, 100)
	k.c.CwndLimited = false
	w := k.c.Cwnd
	k.runRounds(50)
	if k.c.Cwnd != w {
		t.Fatalf("congestion avoidance: cwnd %d -> %d while not cwnd-limited", w, k.c.Cwnd)
	}
	k = newClassicClock(t, NewCubic(), 10*time.Millisecond)
	k.c.CwndLimited = false
	k.runRounds(5)
	if k.c.Cwnd != 10*classicMSS {
		t.Fatalf("slow start: cwnd grew to %d while not cwnd-limited", k.c.Cwnd)
	}
}

func TestCubicTimeoutResets(t *testing.T) {
	cu := NewCubic()
	k := newCubicAtLoss(t, cu, 10*time.Millisecond, 100)
	k.runRounds(10)
	// Retransmission timeout: ssthresh from beta, then Loss state.
	ss := cu.SsThresh(&k.c)
	k.c.Ssthresh = ss
	k.c.CAState = tcp.CALoss
	cu.SetState(&k.c, tcp.CALoss)
	cu.OnEvent(&k.c, tcp.EventLoss)
	if cu.wMax != 0 || cu.epochValid || cu.delayMin != 0 {
		t.Fatalf("after RTO: W_max %v epoch %v delay_min %v, want all reset", cu.wMax, cu.epochValid, cu.delayMin)
	}
	if ccMode(cu) != modeRecovery {
		t.Fatalf("mode in Loss = %q", ccMode(cu))
	}
	k.c.Cwnd = classicMSS
	k.c.CAState = tcp.CAOpen
	cu.SetState(&k.c, tcp.CAOpen)
	for k.c.Cwnd < k.c.Ssthresh {
		k.runRound()
	}
	if k.c.Cwnd != ss {
		t.Fatalf("slow start after RTO ended at %d, want ssthresh %d", k.c.Cwnd, ss)
	}
	// First epoch after a timeout: K = 0, plateau at the epoch's window.
	w0 := k.c.Cwnd
	k.runRound()
	if cu.k != 0 || cu.origin != float64(w0) {
		t.Fatalf("post-RTO epoch: K %v origin %v, want 0 and %d", cu.k, cu.origin, w0)
	}
	// With no W_max the curve is flat at first; Linux still grows 5% per
	// round trip (cnt <= 20 segments).
	w1 := k.segs()
	k.runRounds(5)
	if g := k.segs() / w1; g < 1.2 || g > 1.35 {
		t.Fatalf("growth over 5 rounds without W_max = %.3f, want ~1.05^5 = 1.276", g)
	}
}

func TestCubicIdleShiftsEpoch(t *testing.T) {
	cu := NewCubic()
	k := newCubicAtLoss(t, cu, 50*time.Millisecond, 200)
	k.runRounds(10)
	start, last := cu.epochStart, k.c.Now
	k.c.Now = k.c.Now.Add(5 * time.Second)
	cu.OnEvent(&k.c, tcp.EventTxStart)
	if got, want := cu.epochStart, start.Add(5*time.Second); got != want {
		t.Fatalf("epoch start %v after 5 s idle (last ACK %v), want %v", got, last, want)
	}
	w := k.c.Cwnd
	k.runRound()
	// Still in the concave part: growth continues from where it was.
	if k.c.Cwnd-w > 5*classicMSS {
		t.Fatalf("after idle cwnd jumped %d -> %d", w, k.c.Cwnd)
	}
	// The epoch start is never moved past now.
	cu.epochStart = k.c.Now
	cu.lastAck = clock.Time(0)
	cu.OnEvent(&k.c, tcp.EventTxStart)
	if cu.epochStart != k.c.Now {
		t.Fatalf("epoch start %v moved past now %v", cu.epochStart, k.c.Now)
	}
}

func TestCubicUndo(t *testing.T) {
	cu := NewCubic()
	k := newCubicAtLoss(t, cu, 50*time.Millisecond, 500)
	k.runRounds(20)
	cwnd, ssthresh, wmax, epoch := k.c.Cwnd, k.c.Ssthresh, cu.wMax, cu.epochStart
	ss := cu.SsThresh(&k.c)
	k.c.Ssthresh = ss
	cu.SetState(&k.c, tcp.CARecovery)
	k.c.Cwnd = ss
	if cu.wMax == wmax {
		t.Fatal("loss did not change W_max")
	}
	got := cu.UndoCwnd(&k.c)
	if got != cwnd || k.c.Ssthresh != ssthresh || cu.wMax != wmax || cu.epochStart != epoch || !cu.epochValid {
		t.Fatalf("undo: cwnd %d ssthresh %d W_max %v epoch %v; want %d %d %v %v",
			got, k.c.Ssthresh, cu.wMax, cu.epochStart, cwnd, ssthresh, wmax, epoch)
	}
	// Nothing to undo when the window is already above the saved one.
	k.c.Cwnd = got
	cu.SetState(&k.c, tcp.CAOpen)
	if again := cu.UndoCwnd(&k.c); again != k.c.Cwnd {
		t.Fatalf("second undo returned %d, want current %d", again, k.c.Cwnd)
	}
}

func TestCubicSlowStartUndoResumesHyStart(t *testing.T) {
	cu := NewCubic()
	k := newClassicClock(t, cu, 50*time.Millisecond)
	k.runRounds(3)
	w := k.c.Cwnd
	k.c.Ssthresh = cu.SsThresh(&k.c)
	cu.SetState(&k.c, tcp.CARecovery)
	k.c.Cwnd = k.c.Ssthresh
	if got := cu.UndoCwnd(&k.c); got != w || k.c.Ssthresh != tcp.InitialSsthresh {
		t.Fatalf("undo in slow start: cwnd %d ssthresh %d", got, k.c.Ssthresh)
	}
	k.c.Cwnd = w
	cu.SetState(&k.c, tcp.CAOpen)
	if !cu.hystartActive(&k.c) || ccMode(cu) != modeSlowStart {
		t.Fatalf("HyStart++ not re-armed after undo (mode %q)", ccMode(cu))
	}
}
