package cc

// Tests for Reno, and the deterministic ACK-clock model shared with the
// CUBIC and HyStart++ tests.
//
// The model (classicClock) is the simplest sender that exercises a classic
// algorithm the way the TCP core does: every round trip it sends
// floor(cwnd/MSS) full segments, and gets one ACK per segment back, evenly
// spread over the round (the first ACK of a round carries RoundStart). The
// RTT of each ACK comes from a function of (round, index), so tests can
// model a flat path, a queue building up, or jitter. A loss is modelled as
// the core handles it: SsThresh, Recovery for one round trip (in which PRR
// brings cwnd to ssthresh and CongAvoid is not called), then Open again.

import (
	"testing"
	"time"

	"github.com/ustack/ustack/clock"
	"github.com/ustack/ustack/tcp"
)

const classicMSS = 1000

type classicClock struct {
	t     *testing.T
	cc    tcp.CongestionControl
	c     tcp.CCState
	round int
	// rtt gives the RTT sample of ACK i of round r. The round lasts as
	// long as the RTT of its first ACK.
	rtt func(r, i int) time.Duration
}

func newClassicClock(t *testing.T, cc tcp.CongestionControl, rtt time.Duration) *classicClock {
	k := &classicClock{
		t:  t,
		cc: cc,
		c: tcp.CCState{
			Now:         clock.Time(time.Second),
			MSS:         classicMSS,
			Cwnd:        10 * classicMSS,
			Ssthresh:    tcp.InitialSsthresh,
			CwndLimited: true,
		},
		rtt: func(int, int) time.Duration { return rtt },
	}
	cc.Init(&k.c)
	return k
}

// runRound runs one round trip of ACKs.
func (k *classicClock) runRound() {
	n := max(k.c.Cwnd/k.c.MSS, 1)
	start := k.c.Now
	dur := k.rtt(k.round, 0)
	delivered := int64(n * k.c.MSS)
	for i := range n {
		rtt := k.rtt(k.round, i)
		k.c.Now = start + clock.Time(int64(dur)*int64(i+1)/int64(n))
		k.c.RoundStart = i == 0
		k.c.SRTT = rtt
		if k.c.MinRTT == 0 || rtt < k.c.MinRTT {
			k.c.MinRTT = rtt
		}
		k.c.InFlight = (n - i - 1) * k.c.MSS
		k.c.Delivered += uint64(k.c.MSS)
		rs := &tcp.RateSample{
			Delivered:     delivered,
			Interval:      dur,
			AckInterval:   dur,
			SendInterval:  dur,
			RTT:           rtt,
			AckedSacked:   k.c.MSS,
			PriorInFlight: k.c.InFlight + k.c.MSS,
		}
		k.cc.CongAvoid(&k.c, k.c.MSS, rs)
	}
	k.c.RoundStart = false
	k.round++
}

func (k *classicClock) runRounds(n int) {
	for range n {
		k.runRound()
	}
}

// loss models a loss detected by SACK: the threshold is recomputed, PRR
// brings the window down to it over one round trip, and recovery ends.
func (k *classicClock) loss() {
	ss := k.cc.SsThresh(&k.c)
	k.c.Ssthresh = ss
	k.c.CAState = tcp.CARecovery
	k.cc.SetState(&k.c, tcp.CARecovery)
	k.c.Now = k.c.Now.Add(k.rtt(k.round, 0))
	k.c.Cwnd = ss
	k.cc.OnEvent(&k.c, tcp.EventCompleteCwr)
	k.c.CAState = tcp.CAOpen
	k.cc.SetState(&k.c, tcp.CAOpen)
}

func (k *classicClock) segs() float64 { return float64(k.c.Cwnd) / float64(k.c.MSS) }

func ccMode(cc tcp.CongestionControl) string { return cc.(tcp.Reporter).Info().Mode }

func TestRenoSlowStartDoublesPerRTT(t *testing.T) {
	k := newClassicClock(t, NewReno(), 50*time.Millisecond)
	if m := ccMode(k.cc); m != modeSlowStart {
		t.Fatalf("mode after Init = %q, want slow_start", m)
	}
	for r := 1; r <= 6; r++ {
		k.runRound()
		if want := 10 * classicMSS << r; k.c.Cwnd != want {
			t.Fatalf("after %d rounds cwnd = %d, want %d", r, k.c.Cwnd, want)
		}
	}
}

func TestRenoSlowStartStopsAtSsthresh(t *testing.T) {
	k := newClassicClock(t, NewReno(), 50*time.Millisecond)
	k.c.Ssthresh = 15 * classicMSS
	k.runRound() // 10 ACKs: 5 MSS of slow start, 5 MSS left over for AI
	if k.c.Cwnd != 15*classicMSS {
		t.Fatalf("cwnd = %d, want ssthresh %d", k.c.Cwnd, 15*classicMSS)
	}
	if m := ccMode(k.cc); m != modeCongAvoid {
		t.Fatalf("mode = %q, want cong_avoid", m)
	}
	if r := k.cc.(*Reno); r.cwndCnt != 5*classicMSS {
		t.Fatalf("leftover AI credit = %d, want %d", r.cwndCnt, 5*classicMSS)
	}
}

func TestRenoCongAvoidOneMSSPerRTT(t *testing.T) {
	k := newClassicClock(t, NewReno(), 50*time.Millisecond)
	k.c.Cwnd, k.c.Ssthresh = 100*classicMSS, 100*classicMSS
	for r := 1; r <= 50; r++ {
		k.runRound()
		if want := (100 + r) * classicMSS; k.c.Cwnd != want {
			t.Fatalf("after %d CA rounds cwnd = %d, want %d", r, k.c.Cwnd, want)
		}
	}
}

func TestRenoCongAvoidByteAccurate(t *testing.T) {
	// ACKs of odd sizes: growth is one MSS per cwnd bytes acknowledged.
	r := NewReno()
	c := &tcp.CCState{MSS: 1460, Cwnd: 20 * 1460, Ssthresh: 10 * 1460, CwndLimited: true}
	r.Init(c)
	total := 0
	for total+700 <= 3*20*1460 {
		r.CongAvoid(c, 700, &tcp.RateSample{RTT: -1})
		total += 700
	}
	// 3 windows' worth (at a growing window) gives 2 MSS, not 3.
	if c.Cwnd != 22*1460 {
		t.Fatalf("cwnd = %d, want %d", c.Cwnd, 22*1460)
	}
}

func TestRenoABCLimit(t *testing.T) {
	r := NewReno()
	c := &tcp.CCState{MSS: classicMSS, Cwnd: 10 * classicMSS, Ssthresh: tcp.InitialSsthresh, CwndLimited: true}
	r.Init(c)
	r.CongAvoid(c, 5*classicMSS, &tcp.RateSample{RTT: -1}) // a stretch ACK
	if c.Cwnd != 12*classicMSS {
		t.Fatalf("cwnd after 5-MSS stretch ACK = %d, want %d (L = 2 MSS)", c.Cwnd, 12*classicMSS)
	}
}

func TestRenoSsthreshHalves(t *testing.T) {
	r := NewReno()
	c := &tcp.CCState{MSS: classicMSS, Cwnd: 100 * classicMSS, Ssthresh: tcp.InitialSsthresh}
	r.Init(c)
	if got := r.SsThresh(c); got != 50*classicMSS {
		t.Fatalf("ssthresh(100 MSS) = %d, want %d", got, 50*classicMSS)
	}
	c.Cwnd = 3 * classicMSS
	if got := r.SsThresh(c); got != 2*classicMSS {
		t.Fatalf("ssthresh(3 MSS) = %d, want floor of 2 MSS", got)
	}
}

func TestRenoLossThenLinearGrowth(t *testing.T) {
	k := newClassicClock(t, NewReno(), 50*time.Millisecond)
	k.c.Cwnd, k.c.Ssthresh = 80*classicMSS, 80*classicMSS
	k.loss()
	if k.c.Cwnd != 40*classicMSS || k.c.Ssthresh != 40*classicMSS {
		t.Fatalf("after loss cwnd/ssthresh = %d/%d, want 40 MSS both", k.c.Cwnd, k.c.Ssthresh)
	}
	k.runRounds(10)
	if k.c.Cwnd != 50*classicMSS {
		t.Fatalf("10 rounds after loss cwnd = %d, want %d", k.c.Cwnd, 50*classicMSS)
	}
}

func TestRenoNoGrowthWhenNotCwndLimited(t *testing.T) {
	for _, ss := range []int{tcp.InitialSsthresh, 10 * classicMSS} {
		k := newClassicClock(t, NewReno(), 50*time.Millisecond)
		k.c.Ssthresh = ss
		k.c.CwndLimited = false
		k.runRounds(5)
		if k.c.Cwnd != 10*classicMSS {
			t.Fatalf("ssthresh %d: cwnd grew to %d while not cwnd-limited", ss, k.c.Cwnd)
		}
	}
}

func TestRenoUndo(t *testing.T) {
	k := newClassicClock(t, NewReno(), 50*time.Millisecond)
	k.c.Cwnd, k.c.Ssthresh = 60*classicMSS, 60*classicMSS
	ss := k.cc.SsThresh(&k.c)
	k.c.Ssthresh = ss
	k.cc.SetState(&k.c, tcp.CARecovery)
	if m := ccMode(k.cc); m != modeRecovery {
		t.Fatalf("mode in recovery = %q", m)
	}
	k.c.Cwnd = 35 * classicMSS // PRR part way
	// A second SsThresh inside the same episode must not overwrite the
	// saved pre-loss state.
	k.cc.SsThresh(&k.c)
	cwnd := k.cc.(tcp.Undoer).UndoCwnd(&k.c)
	if cwnd != 60*classicMSS || k.c.Ssthresh != 60*classicMSS {
		t.Fatalf("undo gave cwnd %d ssthresh %d, want 60 MSS both", cwnd, k.c.Ssthresh)
	}
	k.c.Cwnd = cwnd
	k.cc.SetState(&k.c, tcp.CAOpen)
	if m := ccMode(k.cc); m != modeCongAvoid {
		t.Fatalf("mode after undo = %q", m)
	}
}

func TestRegistry(t *testing.T) {
	for _, name := range []string{"reno", "cubic"} {
		cc, err := tcp.NewCongestionControl(name)
		if err != nil {
			t.Fatal(err)
		}
		if cc.Name() != name {
			t.Fatalf("NewCongestionControl(%q).Name() = %q", name, cc.Name())
		}
		a, _ := tcp.NewCongestionControl(name)
		if a == cc {
			t.Fatalf("%s: factory returned a shared instance", name)
		}
	}
}
