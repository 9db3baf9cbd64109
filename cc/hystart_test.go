package cc

// Tests for HyStart++ (RFC 9406) as used by CUBIC: unit tests of the
// per-round state machine, ACK-clock tests of the slow-start exit, and a
// packet-level bottleneck simulation showing what the exit is for: not
// overshooting a one-BDP buffer by a whole window.

import (
	"testing"
	"time"

	"github.com/ustack/ustack/clock"
	"github.com/ustack/ustack/tcp"
)

func TestHyStartRTTThresh(t *testing.T) {
	for _, tc := range []struct{ last, want time.Duration }{
		{10 * time.Millisecond, 4 * time.Millisecond},      // clamped up to MIN_RTT_THRESH
		{100 * time.Millisecond, 12500 * time.Microsecond}, // lastRoundMinRTT/8
		{time.Second, 16 * time.Millisecond},               // clamped down to MAX_RTT_THRESH
	} {
		if got := hystartRTTThresh(tc.last); got != tc.want {
			t.Errorf("RttThresh(%v) = %v, want %v", tc.last, got, tc.want)
		}
	}
}

// feed gives h one round of n samples of rtt.
func hystartFeed(h *hystartPP, n int, rtt time.Duration) (exit bool) {
	for i := range n {
		if h.onAck(i == 0, rtt) {
			exit = true
		}
	}
	return exit
}

func TestHyStartNeedsEightSamples(t *testing.T) {
	var h hystartPP
	h.reset()
	hystartFeed(&h, 20, 100*time.Millisecond)
	// A round with only 7 samples, all far above the threshold.
	hystartFeed(&h, 7, 200*time.Millisecond)
	if h.phase != hystartSS {
		t.Fatalf("left slow start on 7 samples")
	}
	// The 8th sample decides.
	h.onAck(false, 200*time.Millisecond)
	if h.phase != hystartCSS || h.cssBaselineMinRTT != 200*time.Millisecond {
		t.Fatalf("phase %d baseline %v after 8 samples, want CSS at 200ms", h.phase, h.cssBaselineMinRTT)
	}
}

func TestHyStartRoundsAndCSS(t *testing.T) {
	var h hystartPP
	h.reset()
	// No decision without a previous round.
	hystartFeed(&h, 1, 0) // an ACK without an RTT sample counts for nothing
	if hystartFeed(&h, 30, 100*time.Millisecond); h.phase != hystartSS {
		t.Fatal("left slow start in the first round")
	}
	// Just below the threshold (12.5 ms): stay.
	if hystartFeed(&h, 30, 112*time.Millisecond); h.phase != hystartSS {
		t.Fatal("left slow start on a rise below RttThresh")
	}
	// At the threshold over the previous round: CSS.
	if hystartFeed(&h, 30, 126*time.Millisecond); h.phase != hystartCSS {
		t.Fatal("did not enter CSS on a rise of RttThresh")
	}
	// CSS lasts CSS_ROUNDS rounds, the entry round counting as the first:
	// four more full rounds, and the start of the next one ends it.
	for r := range 4 {
		if hystartFeed(&h, 30, 126*time.Millisecond) {
			t.Fatalf("CSS ended after %d rounds", r+1)
		}
	}
	if !h.onAck(true, 126*time.Millisecond) || h.phase != hystartDone {
		t.Fatal("CSS did not end after CSS_ROUNDS rounds")
	}
	if h.onAck(true, time.Second) || h.phase != hystartDone {
		t.Fatal("HyStart++ active after it ended")
	}
}

func TestHyStartCSSResumesSlowStart(t *testing.T) {
	var h hystartPP
	h.reset()
	hystartFeed(&h, 30, 100*time.Millisecond)
	hystartFeed(&h, 30, 120*time.Millisecond)
	if h.phase != hystartCSS {
		t.Fatal("no CSS")
	}
	// A round whose minimum is back under the baseline: spurious exit.
	hystartFeed(&h, 8, 119*time.Millisecond)
	if h.phase != hystartSS || h.cssBaselineMinRTT != hystartInf {
		t.Fatalf("phase %d baseline %v, want slow start again", h.phase, h.cssBaselineMinRTT)
	}
}

// TestCubicHyStartExit: slow start on a 100 ms path whose RTT rises by
// 20 ms (above RttThresh = 12.5 ms) from round 4 on.
func TestCubicHyStartExit(t *testing.T) {
	cu := NewCubic()
	k := newClassicClock(t, cu, 100*time.Millisecond)
	k.rtt = func(r, i int) time.Duration {
		if r >= 4 {
			return 120 * time.Millisecond
		}
		return 100 * time.Millisecond
	}
	k.runRounds(4) // 10 -> 160 segments
	if k.c.Cwnd != 160*classicMSS || ccMode(cu) != modeSlowStart {
		t.Fatalf("cwnd %d mode %q before the rise", k.c.Cwnd, ccMode(cu))
	}
	k.runRound()
	if ccMode(cu) != modeCSS || k.c.Ssthresh != tcp.InitialSsthresh {
		t.Fatalf("mode %q ssthresh %d after the rise, want css", ccMode(cu), k.c.Ssthresh)
	}
	// The entry round: 7 ACKs of slow start; the 8th sample triggers CSS and
	// that ACK and the rest grow the window by a quarter of what they ack.
	if want := (160+7)*classicMSS + (160-7)*classicMSS/4; k.c.Cwnd != want {
		t.Fatalf("cwnd after the CSS entry round = %d, want %d", k.c.Cwnd, want)
	}
	// CSS rounds grow the window by a quarter.
	for r := range 4 {
		w := k.c.Cwnd
		k.runRound()
		if want := w + (w/classicMSS)*classicMSS/4; k.c.Cwnd != want {
			t.Fatalf("CSS round %d: cwnd %d -> %d, want %d", r, w, k.c.Cwnd, want)
		}
		if ccMode(cu) != modeCSS {
			t.Fatalf("CSS round %d: mode %q", r, ccMode(cu))
		}
	}
	// The first ACK of the next round ends slow start at the current window.
	w := k.c.Cwnd
	k.runRound()
	if k.c.Ssthresh != w || ccMode(cu) != modeCongAvoid {
		t.Fatalf("after CSS: ssthresh %d (cwnd was %d), mode %q", k.c.Ssthresh, w, ccMode(cu))
	}
	if k.c.Cwnd > w+w/20+classicMSS {
		t.Fatalf("first round of congestion avoidance grew %d -> %d", w, k.c.Cwnd)
	}
}

func TestCubicHyStartIgnoresNoise(t *testing.T) {
	// Per-ACK jitter of up to 40 ms on a 100 ms path, and a one-off step of
	// 10 ms (below RttThresh): the per-round minimum stays within the
	// threshold, so slow start runs on.
	rng := &hystartTestRand{s: 1}
	k := newClassicClock(t, NewCubic(), 100*time.Millisecond)
	k.rtt = func(r, i int) time.Duration {
		base := 100 * time.Millisecond
		if r >= 5 {
			base += 10 * time.Millisecond
		}
		if i == 0 {
			return base // the round's duration
		}
		return base + time.Duration(rng.next()%uint64(40*time.Millisecond))
	}
	for r := 1; r <= 12; r++ {
		k.runRound()
		if want := 10 * classicMSS << r; k.c.Cwnd != want || ccMode(k.cc) != modeSlowStart {
			t.Fatalf("round %d: cwnd %d mode %q, want %d in slow start", r, k.c.Cwnd, ccMode(k.cc), want)
		}
	}
}

func TestCubicHyStartResumesAfterSpuriousCSS(t *testing.T) {
	k := newClassicClock(t, NewCubic(), 100*time.Millisecond)
	k.rtt = func(r, i int) time.Duration {
		if r == 3 || r == 4 {
			return 120 * time.Millisecond
		}
		return 100 * time.Millisecond
	}
	k.runRounds(4)
	if ccMode(k.cc) != modeCSS {
		t.Fatalf("mode %q, want css", ccMode(k.cc))
	}
	k.runRounds(2)
	if ccMode(k.cc) != modeSlowStart {
		t.Fatalf("mode %q after the RTT came back down, want slow_start", ccMode(k.cc))
	}
	w := k.c.Cwnd
	k.runRound()
	if want := w + (w/classicMSS)*classicMSS; k.c.Cwnd != want {
		t.Fatalf("resumed slow start did not double: %d -> %d, want %d", w, k.c.Cwnd, want)
	}
}

func TestCubicHyStartOnlyInitialSlowStart(t *testing.T) {
	// A finite ssthresh (after a loss) means standard slow start: no CSS.
	k := newClassicClock(t, NewCubic(), 100*time.Millisecond)
	k.c.Ssthresh = 1000 * classicMSS
	k.rtt = func(r, i int) time.Duration { return time.Duration(100+20*r) * time.Millisecond }
	k.runRounds(6)
	if k.c.Cwnd != 640*classicMSS || ccMode(k.cc) != modeSlowStart {
		t.Fatalf("cwnd %d mode %q, want plain slow start", k.c.Cwnd, ccMode(k.cc))
	}
	// And HyStart++ off means plain slow start too.
	cu := NewCubic()
	cu.HyStart = false
	k = newClassicClock(t, cu, 100*time.Millisecond)
	k.rtt = func(r, i int) time.Duration { return time.Duration(100+20*r) * time.Millisecond }
	k.runRounds(6)
	if k.c.Cwnd != 640*classicMSS {
		t.Fatalf("HyStart off: cwnd %d, want 640 MSS", k.c.Cwnd)
	}
}

type hystartTestRand struct{ s uint64 }

func (r *hystartTestRand) next() uint64 { // splitmix64
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// bottleneckRun is a packet-level model of one bulk flow in slow start
// through a single bottleneck: link rate, propagation RTT and a drop-tail
// buffer. The sender transmits whenever the window allows; each packet is
// queued (or dropped when the buffer is full), served at the link rate, and
// acknowledged one propagation RTT after it leaves the queue. Rounds are
// delimited as the core does (a packet sent after the previous round's
// first ACK, acknowledged). The run stops when the packet sent just after
// the first drop would have been acknowledged, roughly when the sender
// learns of the loss; it returns the number of packets dropped by then, the
// largest queue seen (packets), and whether slow start was left (CSS or
// congestion avoidance) before that.
func bottleneckRun(t *testing.T, cu *Cubic, rate float64, prop time.Duration, bufPkts int) (drops, maxQueue int, ssExit bool) {
	const mss = 1500
	type pkt struct {
		sent      clock.Time
		ack       clock.Time
		delivered uint64 // Delivered when sent
	}
	c := tcp.CCState{Now: 0, MSS: mss, Cwnd: 10 * mss, Ssthresh: tcp.InitialSsthresh, CwndLimited: true}
	cu.Init(&c)
	var (
		pending    []pkt // in flight and not dropped, in ACK order
		inflight   int
		linkFree   clock.Time // when the link finishes its queue
		nextRound  uint64
		firstDrop  = clock.Never
		txTime     = time.Duration(float64(mss) / rate * float64(time.Second))
		stopAt     = clock.Never
		sentSinceA int
	)
	send := func() {
		for inflight+mss <= c.Cwnd {
			now := c.Now
			queued := 0
			if linkFree > now {
				queued = int((linkFree - now + clock.Time(txTime) - 1) / clock.Time(txTime))
			}
			maxQueue = max(maxQueue, queued)
			inflight += mss
			sentSinceA++
			if queued >= bufPkts {
				drops++
				if firstDrop == clock.Never {
					firstDrop = now
					stopAt = now.Add(prop + time.Duration(bufPkts)*txTime)
				}
				continue // never acknowledged (the model stops before recovery)
			}
			linkFree = max(linkFree, now) + clock.Time(txTime)
			pending = append(pending, pkt{sent: now, ack: linkFree.Add(prop), delivered: c.Delivered})
		}
	}
	send()
	for len(pending) > 0 {
		p := pending[0]
		pending = pending[1:]
		if p.ack > stopAt {
			break
		}
		c.Now = p.ack
		inflight -= mss
		c.Delivered += mss
		c.RoundStart = p.delivered >= nextRound
		if c.RoundStart {
			nextRound = c.Delivered
		}
		rtt := p.ack.Sub(p.sent)
		if c.MinRTT == 0 || rtt < c.MinRTT {
			c.MinRTT = rtt
		}
		c.SRTT = rtt
		c.InFlight = inflight
		cu.CongAvoid(&c, mss, &tcp.RateSample{RTT: rtt, AckedSacked: mss, Delivered: -1})
		if m := cu.Info().Mode; m != modeSlowStart {
			ssExit = true
		}
		send()
		if len(pending) == 0 && c.Now > 10*clock.Time(time.Second) {
			t.Fatal("bottleneck model: flow stalled")
		}
	}
	if firstDrop == clock.Never && !ssExit {
		t.Fatal("bottleneck model: run ended without a drop or a slow-start exit")
	}
	return drops, maxQueue, ssExit
}

// TestCubicHyStartLimitsOvershoot: a 40 ms path at several bandwidths and
// drop-tail buffers of one to four BDPs. Plain slow start keeps doubling
// until the buffer overflows and then for about one more round trip, until
// the loss is noticed: it loses about a whole window. HyStart++ sees the
// standing queue (the per-round minimum RTT rising by RttThresh), switches
// to CSS, and in that last round trip grows by a quarter instead of
// doubling: it loses far less.
//
// What it cannot do, in this unpaced ACK-clocked model, is avoid the first
// overflow of a buffer of only one BDP: the rise of a round's minimum RTT
// is seen one round after the window went past the BDP, and by then that
// round has doubled the window past BDP + buffer. There HyStart++ is only
// required not to be worse.
func TestCubicHyStartLimitsOvershoot(t *testing.T) {
	prop := 40 * time.Millisecond
	for _, bdp := range []int{100, 250, 333, 500} {
		for _, bufBDPs := range []int{1, 2, 4} {
			rate := float64(bdp*1500) / prop.Seconds()
			buf := bdp * bufBDPs
			plain := NewCubic()
			plain.HyStart = false
			dropsPlain, _, _ := bottleneckRun(t, plain, rate, prop, buf)
			drops, _, exit := bottleneckRun(t, NewCubic(), rate, prop, buf)
			t.Logf("BDP %d pkts, buffer %d: plain slow start dropped %d, HyStart++ %d", bdp, buf, dropsPlain, drops)
			if !exit {
				t.Errorf("BDP %d buffer %d: HyStart++ never left slow start", bdp, buf)
			}
			if dropsPlain < bdp {
				t.Errorf("model check: plain slow start dropped only %d packets", dropsPlain)
			}
			limit := dropsPlain / 2
			if bufBDPs == 1 {
				limit = dropsPlain
			}
			if drops > limit {
				t.Errorf("BDP %d buffer %d: HyStart++ dropped %d packets, plain slow start %d", bdp, buf, drops, dropsPlain)
			}
		}
	}
}
