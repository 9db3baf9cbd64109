package scenario

// BBR behaves as BBR v1 should: goodput near the loss-limited rate under
// random loss, a short queue with a deep buffer, sharing among BBR flows,
// PROBE_RTT every ~10 s, and the long-term rate through a policer.

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ustack/ustack/sim"
)

// TestBBRGoodputUnderLoss: on 100 Mbit/s × 100 ms with a 1-BDP buffer BBR
// gets ≥ 90% of rate × (1 − loss), the rate being the link's (headers
// included in the 10% allowance), up to 5% random loss, while CUBIC
// collapses.
//
// Linux's BBR v1 paces at its delivery-rate estimate, about (1 − p) × the
// link under random loss p, and misses this at 5% (84.7 Mbit/s, 89%);
// cc/bbr.go compensates the PROBE_BW pacing rate for random loss (see
// BBR.updateLossComp), which reaches ≈ 88 Mbit/s.
func TestBBRGoodputUnderLoss(t *testing.T) {
	dur := 30 * time.Second
	losses := []float64{0, 0.01, 0.02, 0.05}
	if testing.Short() {
		dur, losses = 15*time.Second, []float64{0.01, 0.05}
	}
	for _, loss := range losses {
		p := Path100M
		p.Loss = loss
		c, err := RunGoodput(benchSeed, p, "bbr", dur, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("bbr loss %g%%: %.1f Mbit/s = %.1f%% of rate×(1−loss); retrans %.1f%%",
			loss*100, c.Goodput/1e6, 100*c.Fraction(), 100*c.Retrans)
		if c.Goodput < 0.9*p.Limit() {
			t.Errorf("seed %d: BBR at %g%% loss: %.1f Mbit/s < 90%% of %.1f", benchSeed, loss*100, c.Goodput/1e6, p.Limit()/1e6)
		}
		if c.Mode != "probe_bw" && c.Mode != "probe_rtt" {
			t.Errorf("seed %d: BBR ends in mode %q", benchSeed, c.Mode)
		}
	}
	p := Path100M
	p.Loss = 0.02
	c, err := RunGoodput(benchSeed, p, "cubic", 15*time.Second, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cubic loss 2%%: %.1f Mbit/s = %.1f%%", c.Goodput/1e6, 100*c.Fraction())
	if c.Fraction() > 0.3 {
		t.Errorf("seed %d: CUBIC at 2%% loss at %.0f%% of the limit, expected a collapse (< 30%%)", benchSeed, 100*c.Fraction())
	}
}

// TestBBRQueueing: with a 10-BDP buffer and no loss, BBR keeps the RTT near
// the base RTT while CUBIC fills the buffer.
func TestBBRQueueing(t *testing.T) {
	q, err := RunQueueTable(BenchOptions{Seed: benchSeed, Quick: true})
	if err != nil {
		t.Fatal(err)
	}
	var sb testWriter
	q.Print(&sb)
	t.Log("\n" + string(sb))
	bbr, cubic := q.Cells[0], q.Cells[1]
	base := Path100M.RTT
	if float64(bbr.SRTT50) > 1.25*float64(base) {
		t.Errorf("seed %d: BBR median sRTT %v > 1.25 × %v", benchSeed, bbr.SRTT50, base)
	}
	if bbr.QDelay50 > base/4 {
		t.Errorf("seed %d: BBR median queueing delay %v", benchSeed, bbr.QDelay50)
	}
	if bbr.Goodput < 0.9*float64(Path100M.Rate) {
		t.Errorf("seed %d: BBR goodput %.1f Mbit/s", benchSeed, bbr.Goodput/1e6)
	}
	// CUBIC keeps a standing queue of several BDPs (several × base RTT).
	if float64(cubic.SRTT50) < 3*float64(base) || cubic.MaxQueue < 3*Path100M.BDP() {
		t.Errorf("seed %d: CUBIC median sRTT %v, max queue %d B: expected it to fill the buffer", benchSeed, cubic.SRTT50, cubic.MaxQueue)
	}
}

type testWriter []byte

func (w *testWriter) Write(p []byte) (int, error) { *w = append(*w, p...); return len(p), nil }

// TestBBRFairness: BBR flows started 0, 2 and 4 s apart share one
// bottleneck (1-BDP buffer), measured over the 10 s that begin 20 s after
// the last start.
//
// "bbr" (Linux's v1 rules), seed 1: two flows end within ±25% of a fair
// share; four started together within ±35%; four started apart are held
// only to sanity bounds (Jain ≥ 0.7, every flow ≥ 5% of its share). Over
// seeds 1-24 it starves late-comers: 19 of the 48 staggered 4-flow cells
// have a flow under a quarter of its share (lowest 6%). v1's cwnds and
// max-filtered estimates keep a shallow buffer full at about 20% loss,
// where a 1.25 probe delivers no more than before, so every flow keeps
// whatever share it had when its STARTUP ended.
//
// "bbr-hi" (the congestive-loss cap, window-driven while it allows more
// than the model; cc/bbr.go updateInflightHi), seeds 1-6 (a single seed
// says little: which flow ends where depends on how each STARTUP met the
// others), asserted: 2 and 4 flows started 0, 2 and 4 s apart, each flow
// within ±25% of a fair share, the target (worst of these 36
// cells 18%). Over seeds 1-72, four flows: all 216 cells within ±25%
// (worst 18%, 17%, 21% at gaps 0, 2, 4 s); two flows, seeds 1-24: 72 of
// 72 (worst 19%).
func TestBBRFairness(t *testing.T) {
	window := 10 * time.Second
	cell := func(seed uint64, cc string, n int, gap time.Duration) (c FairCell, fair, minShare float64) {
		t.Helper()
		c, err := RunFair(seed, repeat(cc, n), gap, 1, 20*time.Second, window)
		if err != nil {
			t.Fatal(err)
		}
		var tot float64
		for _, g := range c.Goodputs {
			tot += g
		}
		fair = tot / float64(n)
		minShare = slices.Min(c.Goodputs) / fair
		t.Logf("%s seed %d, %d flows Δ%v: %.1f Mbit/s, Jain %.3f, worst %+.0f%%, smallest %.2f of a share",
			cc, seed, n, gap, scale(c.Goodputs, 1e-6), c.Jain(), 100*c.Worst(), minShare)
		if tot < 0.85*float64(Path100M.Rate) {
			t.Errorf("%s seed %d: %d flows Δ%v: total %.1f Mbit/s", cc, seed, n, gap, tot/1e6)
		}
		return c, fair, minShare
	}
	gaps := []time.Duration{0, 2 * time.Second, 4 * time.Second}
	for _, n := range []int{2, 4} {
		for _, gap := range gaps {
			c, _, minShare := cell(benchSeed, "bbr", n, gap)
			switch {
			case n == 2 && c.Worst() > 0.25:
				t.Errorf("bbr seed %d: 2 flows Δ%v: %.1f Mbit/s, a flow %.0f%% off the fair share", benchSeed, gap, scale(c.Goodputs, 1e-6), 100*c.Worst())
			case n == 4 && gap == 0 && (c.Worst() > 0.35 || c.Jain() < 0.95):
				t.Errorf("bbr seed %d: 4 flows started together: %.1f Mbit/s, Jain %.3f, a flow %.0f%% off the fair share", benchSeed, scale(c.Goodputs, 1e-6), c.Jain(), 100*c.Worst())
			case n == 4 && (c.Jain() < 0.7 || minShare < 0.05):
				t.Errorf("bbr seed %d: 4 flows Δ%v: %.1f Mbit/s, Jain %.3f", benchSeed, gap, scale(c.Goodputs, 1e-6), c.Jain())
			}
		}
	}
	seeds := []uint64{1, 2, 3, 4, 5, 6}
	if testing.Short() {
		seeds = seeds[:2]
	}
	for _, seed := range seeds {
		for _, n := range []int{2, 4} {
			for _, gap := range gaps {
				c, _, minShare := cell(seed, "bbr-hi", n, gap)
				if c.Worst() > 0.25 {
					t.Errorf("bbr-hi seed %d: %d flows Δ%v: %.1f Mbit/s, a flow %.0f%% off the fair share (smallest %.2f of a share)",
						seed, n, gap, scale(c.Goodputs, 1e-6), 100*c.Worst(), minShare)
				}
			}
		}
	}
	// BBR against CUBIC: printed, not asserted (BBR v1 takes most of a
	// shallow buffer; CUBIC most of a deep one).
	for _, b := range []float64{1, 10} {
		c, err := RunFair(benchSeed, []string{"bbr", "cubic"}, 0, b, 20*time.Second, window)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("BBR vs CUBIC, buffer %g BDP: BBR %.1f, CUBIC %.1f Mbit/s", b, c.Goodputs[0]/1e6, c.Goodputs[1]/1e6)
	}
}

// TestBBRConvergence: where TestBBRFairness's four staggered "bbr" flows
// fail the ±25% target, it is convergence time, counted in rounds. On the
// 100 ms path 20 s is 200 rounds; four BBR flows in a 1-BDP buffer do get
// there later, and on a 10 ms path (the BBR paper's 100 Mbit/s × 10 ms
// setting) they are there within the 20 s.
//
// Asserted over a 10 s window:
//   - 10 ms RTT, 20 s after the last start, "bbr" and "bbr-hi", flows
//     started 0, 2 and 4 s apart, seeds 1-3: each flow within ±25% of a
//     fair share (seeds 1-24: "bbr-hi" 72 of 72 cells, worst 10%; "bbr"
//     70 of 72, worst 35%).
//   - 100 ms RTT, 120 s after the last start, "bbr-hi", 2 s apart, seeds
//     1-6: each flow within ±25% (seeds 1-12: 12 of 12, worst 11%): it
//     stays converged. "bbr" is printed, not asserted: 18 of 24 within
//     ±25% at 120 s and at 180 s, worst 56%.
func TestBBRConvergence(t *testing.T) {
	window := 10 * time.Second
	type job struct {
		seed       uint64
		cc         string
		rtt, after time.Duration
		gap        time.Duration
		bound      float64 // largest deviation from a fair share; 0: none
	}
	var jobs []job
	for seed := uint64(1); seed <= 3; seed++ {
		for _, cc := range []string{"bbr", "bbr-hi"} {
			for _, gap := range []time.Duration{0, 2 * time.Second, 4 * time.Second} {
				jobs = append(jobs, job{seed, cc, 10 * time.Millisecond, 20 * time.Second, gap, 0.25})
			}
		}
	}
	seeds := uint64(6)
	if testing.Short() {
		seeds = 2
	}
	for seed := uint64(1); seed <= seeds; seed++ {
		jobs = append(jobs, job{seed, "bbr-hi", 100 * time.Millisecond, 120 * time.Second, 2 * time.Second, 0.25})
	}
	jobs = append(jobs, job{benchSeed, "bbr", 100 * time.Millisecond, 120 * time.Second, 2 * time.Second, 0})
	for _, j := range jobs {
		name := fmt.Sprintf("%s/rtt=%v/after=%v/gap=%v/seed=%d", j.cc, j.rtt, j.after, j.gap, j.seed)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, err := RunConverge(j.seed, j.cc, j.rtt, j.gap, j.after, window)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%.1f Mbit/s over %v–%v, Jain %.3f, worst %+.0f%%", scale(c.Goodputs, 1e-6), c.Window[0], c.Window[1], c.Jain(), 100*c.Worst())
			if j.bound > 0 && c.Worst() > j.bound {
				t.Errorf("a flow %.0f%% off the fair share (bound %.0f%%)", 100*c.Worst(), 100*j.bound)
			}
		})
	}
}

// TestBBRProbeRTT: a long flow enters PROBE_RTT about every 10 s and holds
// in-flight at 4 packets for at least 200 ms each time, then returns to
// PROBE_BW. No jitter is needed: min_rtt is refreshed only by strictly
// lower samples (as Linux), so equal samples on a clean path don't
// postpone PROBE_RTT.
func TestBBRProbeRTT(t *testing.T) {
	dur := 45 * time.Second
	if testing.Short() {
		dur = 25 * time.Second
	}
	tr, err := RunProbeRTT(benchSeed, Path100M, dur)
	if err != nil {
		t.Fatal(err)
	}
	var sb testWriter
	tr.Print(&sb)
	t.Log("\n" + string(sb))
	want := int(dur/(10*time.Second+300*time.Millisecond)) - 0
	if len(tr.Episodes) < want-1 || len(tr.Episodes) < 2 {
		t.Fatalf("seed %d: %d PROBE_RTT episodes in %v, want about %d", benchSeed, len(tr.Episodes), dur, want)
	}
	// The first comes 10 s after the first min_rtt sample; then ~10 s
	// after the previous one ended.
	if e := tr.Episodes[0].Enter; e < 10*time.Second || e > 11*time.Second {
		t.Errorf("seed %d: first PROBE_RTT at %v", benchSeed, e)
	}
	for i, e := range tr.Episodes {
		if e.Leave == dur {
			continue // still in it
		}
		if d := e.Leave - e.Enter; d < 200*time.Millisecond || d > 200*time.Millisecond+3*Path100M.RTT {
			t.Errorf("seed %d: PROBE_RTT %d lasted %v", benchSeed, i, d)
		}
		if e.AtMin < 190*time.Millisecond { // 10 ms sampling
			t.Errorf("seed %d: PROBE_RTT %d: in-flight ≤ 4 packets for only %v", benchSeed, i, e.AtMin)
		}
		if e.MinCwnd > 4 || e.MaxInFlight > 4 {
			t.Errorf("seed %d: PROBE_RTT %d: min cwnd %d, max in-flight %d packets", benchSeed, i, e.MinCwnd, e.MaxInFlight)
		}
		if i > 0 {
			if gap := e.Enter - tr.Episodes[i-1].Leave; gap < 10*time.Second || gap > 10*time.Second+2*Path100M.RTT {
				t.Errorf("seed %d: PROBE_RTT %d began %v after the previous one ended", benchSeed, i, gap)
			}
		}
	}
	// Each PROBE_RTT leaves to PROBE_BW (the pipe was full long before).
	for _, m := range tr.Modes {
		if m.From == "probe_rtt" && m.To != "probe_bw" {
			t.Errorf("seed %d: PROBE_RTT left to %s at %v", benchSeed, m.To, m.At)
		}
	}
}

// TestBBRPolicer: through a token-bucket policer BBR detects policing and
// uses the long-term rate: its bandwidth estimate and pacing rate settle
// near the policer's rate, and its goodput is that rate.
func TestBBRPolicer(t *testing.T) {
	rates := []uint64{10e6, 30e6}
	if testing.Short() {
		rates = rates[1:]
	}
	for _, rate := range rates {
		c, err := RunPolicer(benchSeed, "bbr", sim.TokenBucket{Rate: rate, Burst: 100000}, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		pol := float64(rate)
		t.Logf("policer %.0f Mbit/s: goodput %.1f, bw %.1f, pacing %.1f (gain %.2f), bw within ±15%% in %.0f%% of samples, drops %d, retrans %.1f%%",
			pol/1e6, c.Goodput/1e6, c.Bandwidth/1e6, c.Pacing/1e6, c.Gain, 100*c.InRange, c.Drops, 100*c.Retrans)
		if c.Goodput < 0.85*pol || c.Goodput > 1.02*pol {
			t.Errorf("seed %d: goodput %.1f Mbit/s through a %.0f Mbit/s policer", benchSeed, c.Goodput/1e6, pol/1e6)
		}
		if c.InRange < 0.7 {
			t.Errorf("seed %d: bw estimate within ±15%% of the policer in only %.0f%% of samples", benchSeed, 100*c.InRange)
		}
		if c.Pacing < 0.85*pol || c.Pacing > 1.15*pol {
			t.Errorf("seed %d: final pacing rate %.1f Mbit/s, policer %.0f", benchSeed, c.Pacing/1e6, pol/1e6)
		}
		// Without policer detection BBR would keep probing above the
		// policer and lose far more: retransmissions stay modest.
		if c.Retrans > 0.15 {
			t.Errorf("seed %d: %.0f%% retransmitted", benchSeed, 100*c.Retrans)
		}
	}
}
