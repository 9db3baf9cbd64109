package cc

import (
	"math"
	"testing"
	"time"

	"github.com/ustack/ustack/clock"
	"github.com/ustack/ustack/tcp"
)

const (
	bbrTestRate = 1.25e6 // 10 Mbit/s, bytes/s
	bbrTestRTT  = 40 * time.Millisecond
)

type bbrModeEvent struct {
	at       clock.Time
	from, to string
}

func bbrRecordModes(s *bbrSim) *[]bbrModeEvent {
	var ev []bbrModeEvent
	s.cc.OnModeChange = func(now clock.Time, from, to string) {
		ev = append(ev, bbrModeEvent{now, from, to})
	}
	return &ev
}

// bbrEvenPkts rounds bytes up to an even number of packets, as the
// quantization budget does.
func bbrEvenPkts(bytes, mss int) int {
	p := (bytes + mss - 1) / mss
	return (p + 1) &^ 1 * mss
}

func TestBBRRegisteredAndInterfaces(t *testing.T) {
	cc1, err := tcp.NewCongestionControl("bbr")
	if err != nil {
		t.Fatal(err)
	}
	cc2, _ := tcp.NewCongestionControl("bbr")
	b1, ok := cc1.(*BBR)
	if !ok {
		t.Fatalf("registry returned %T", cc1)
	}
	if b1.Name() != "bbr" {
		t.Fatalf("Name() = %q", b1.Name())
	}
	if b1.rng == cc2.(*BBR).rng {
		t.Errorf("two registry instances got the same seed")
	}
	var _ tcp.Controller = b1
	var _ tcp.Reporter = b1
	var _ tcp.Undoer = b1
}

func TestBBRInit(t *testing.T) {
	b := NewBBR(1)
	c := tcp.CCState{MSS: 1000, Cwnd: 10000, Ssthresh: 123}
	b.Init(&c)
	if c.Ssthresh != tcp.InitialSsthresh {
		t.Errorf("ssthresh = %d, want infinite", c.Ssthresh)
	}
	// No RTT yet: high_gain * cwnd / 1 ms, less the 1% margin.
	want := uint64(10000 * 1000 * bbrHighGain * 99 / (bbrUnit * 100))
	if c.PacingRate != want {
		t.Errorf("initial pacing rate = %d, want %d", c.PacingRate, want)
	}
	// About 1 ms at the pacing rate, in whole segments.
	if want := int(want>>bbrPacingShift) / 1000 * 1000; c.SendQuantum != want {
		t.Errorf("initial send quantum = %d, want %d", c.SendQuantum, want)
	}
	i := b.Info()
	if i.Mode != "startup" || i.PacingGain < 2.88 || i.PacingGain > 2.89 || i.CwndGain != i.PacingGain || i.Bandwidth != 0 || i.MinRTT != 0 {
		t.Errorf("Info after Init = %+v", i)
	}

	// With an SRTT, the initial rate uses it.
	b = NewBBR(1)
	c = tcp.CCState{MSS: 1000, Cwnd: 10000, SRTT: 100 * time.Millisecond, MinRTT: 90 * time.Millisecond}
	b.Init(&c)
	if want := bbrRateBytesPerSec(100000, bbrHighGain); c.PacingRate != want {
		t.Errorf("pacing rate from srtt = %d, want %d", c.PacingRate, want)
	}
	if b.Info().MinRTT != 90*time.Millisecond {
		t.Errorf("min_rtt not taken from the core: %v", b.Info().MinRTT)
	}
}

func TestBBRSendQuantum(t *testing.T) {
	for _, tc := range []struct {
		rate uint64
		want int // segments
	}{
		{125000, 1},        // 1 Mbit/s, below bbr_min_tso_rate: 1 MSS
		{150000, 2},        // 1.2 Mbit/s: 2 MSS minimum
		{12500000, 8},      // 100 Mbit/s: ~1 ms = 12207 bytes = 8 segments
		{1250000000, 45},   // 10 Gbit/s: capped at 64 KiB = 45 segments
		{125000000000, 45}, // 1 Tbit/s: same cap
	} {
		b := NewBBR(1)
		b.pacingRate = tc.rate
		c := tcp.CCState{MSS: 1448}
		b.publish(&c)
		if c.SendQuantum != tc.want*1448 || c.PacingRate != tc.rate {
			t.Errorf("rate %d: quantum %d, want %d", tc.rate, c.SendQuantum, tc.want*1448)
		}
	}
}

// TestBBRStartupDoublesAndExits checks STARTUP on a 100 Mbit/s, 100 ms path:
// the bw estimate about doubles each round, and DRAIN starts after three
// rounds without 25% growth.
func TestBBRStartupDoublesAndExits(t *testing.T) {
	const rate = 12.5e6
	s := newBBRSim(t, rate, 100*time.Millisecond, 1)
	modes := bbrRecordModes(s)
	var bws []uint64
	var lastRate uint64
	s.onAck = func(rs *tcp.RateSample) {
		b := s.cc
		inStartup := b.mode == bbrStartup || len(*modes) == 1 && (*modes)[0].at == s.now
		if b.roundStart && inStartup {
			bws = append(bws, b.maxBW())
		}
		if b.mode == bbrStartup && b.hasSeenRTT {
			if s.c.PacingRate < lastRate {
				t.Fatalf("%v: STARTUP lowered the pacing rate %d -> %d", s.now, lastRate, s.c.PacingRate)
			}
			lastRate = s.c.PacingRate
			if want := bbrRateBytesPerSec(b.maxBW(), bbrHighGain); b.maxBW() > 0 && s.c.PacingRate < want {
				t.Fatalf("%v: pacing %d below high_gain*bw %d", s.now, s.c.PacingRate, want)
			}
		}
	}
	s.run(3 * time.Second)

	if len(*modes) < 2 || (*modes)[0].to != "drain" || (*modes)[1].to != "probe_bw" {
		t.Fatalf("mode changes = %v, want startup->drain->probe_bw", *modes)
	}
	// Growth: while the estimate is well below the bottleneck, each round
	// about doubles it.
	grew := 0
	for i := 1; i < len(bws); i++ {
		if bws[i-1] < rate/40 || bws[i] > rate/2 {
			continue
		}
		r := float64(bws[i]) / float64(bws[i-1])
		if r < 1.7 || r > 2.4 {
			t.Errorf("round %d: bw %d -> %d, ratio %.2f, want ~2", i, bws[i-1], bws[i], r)
		}
		grew++
	}
	if grew < 3 {
		t.Errorf("only %d doubling rounds observed: %v", grew, bws)
	}
	// Exit: the last three round starts (the last is the one that entered
	// DRAIN) grew less than 25% over the round before them, which itself
	// grew at least 25%.
	n := len(bws)
	if n < 5 {
		t.Fatalf("too few rounds: %v", bws)
	}
	base := bws[n-4]
	if base*bbrFullBWThresh>>bbrScale <= bws[n-5] {
		t.Errorf("round before the flat ones did not grow 25%%: %v", bws)
	}
	for _, bw := range bws[n-3:] {
		if bw >= base*bbrFullBWThresh>>bbrScale {
			t.Errorf("a flat round grew 25%%: %v", bws)
		}
	}
	if got := s.cc.maxBW(); math.Abs(float64(got)/rate-1) > 0.02 {
		t.Errorf("bw estimate %d, want ~%v", got, rate)
	}
	if !s.cc.fullBWReached {
		t.Error("full bw not reached")
	}
}

// TestBBRDrain checks DRAIN paces at 1/high_gain and ends on the first ACK
// that finds inflight at or below the BDP target.
func TestBBRDrain(t *testing.T) {
	s := newBBRSim(t, bbrTestRate, bbrTestRTT, 1)
	modes := bbrRecordModes(s)
	prevMode := bbrStartup
	drainAcks := 0
	checked := false
	s.onAck = func(rs *tcp.RateSample) {
		b := s.cc
		bw := b.maxBW()
		target := bbrEvenPkts(b.bdp(&s.c, bw, bbrUnit)+3*b.tsoSegsGoal(&s.c)*s.mss, s.mss)
		switch {
		case b.mode == bbrDrain:
			drainAcks++
			if s.c.InFlight <= target {
				t.Fatalf("%v: still in DRAIN with inflight %d <= target %d", s.now, s.c.InFlight, target)
			}
			if want := bbrRateBytesPerSec(bw, bbrDrainGain); s.c.PacingRate != want {
				t.Fatalf("%v: DRAIN pacing %d, want %d", s.now, s.c.PacingRate, want)
			}
			if b.cwndGain != bbrHighGain {
				t.Fatalf("DRAIN cwnd gain %d", b.cwndGain)
			}
		case prevMode == bbrDrain && b.mode == bbrProbeBW:
			checked = true
			if s.c.InFlight > target {
				t.Fatalf("%v: left DRAIN with inflight %d > target %d", s.now, s.c.InFlight, target)
			}
			// What is left at the bottleneck is at most the
			// quantization budget beyond the BDP: a few packets.
			if q := s.linkFree.Sub(s.now); q > bbrDur(target-s.bdpBytes(), s.rate) {
				t.Errorf("left DRAIN with %v of queue", q)
			}
		}
		prevMode = b.mode
	}
	s.run(2 * time.Second)
	if !checked || drainAcks == 0 {
		t.Fatalf("DRAIN not observed (%d acks); modes %v", drainAcks, *modes)
	}
}

// TestBBRProbeBWCycle checks the PROBE_BW gain cycle: phases advance one at
// a time in order 1.25, 0.75, 1 x6; 1.0 phases last just over min_rtt; the
// first phase is never the 0.75 one; pacing = 0.99*gain*bw; cwnd ~ 2*BDP.
func TestBBRProbeBWCycle(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		s := newBBRSim(t, bbrTestRate, bbrTestRTT, seed)
		modes := bbrRecordModes(s)
		prevIdx := -1
		var phaseStart clock.Time
		seen := map[int]int{}
		cwndChecked := 0
		s.onAck = func(rs *tcp.RateSample) {
			b := s.cc
			if b.mode != bbrProbeBW {
				prevIdx = -1
				return
			}
			if prevIdx == -1 {
				if b.cycleIdx == 1 {
					t.Fatalf("seed %d: PROBE_BW started in the 0.75 phase", seed)
				}
			} else if b.cycleIdx != prevIdx {
				if b.cycleIdx != (prevIdx+1)%bbrCycleLen {
					t.Fatalf("seed %d %v: phase %d -> %d", seed, s.now, prevIdx, b.cycleIdx)
				}
				d := s.now.Sub(phaseStart)
				switch gain := bbrPacingGain[prevIdx]; {
				case gain == bbrUnit:
					if d <= b.minRTT || d > b.minRTT+2*time.Millisecond {
						t.Errorf("seed %d: 1.0 phase lasted %v, min_rtt %v", seed, d, b.minRTT)
					}
				case gain > bbrUnit:
					if d <= b.minRTT {
						t.Errorf("seed %d: 1.25 phase lasted %v < min_rtt %v", seed, d, b.minRTT)
					}
				default:
					if d > b.minRTT+2*time.Millisecond {
						t.Errorf("seed %d: 0.75 phase lasted %v, min_rtt %v", seed, d, b.minRTT)
					}
				}
				seen[prevIdx]++
			}
			if b.cycleIdx != prevIdx {
				phaseStart = b.cycleStamp
				prevIdx = b.cycleIdx
			}
			if b.pacingGain != bbrPacingGain[b.cycleIdx] || b.cwndGain != bbrCwndGain {
				t.Fatalf("gains %d/%d in phase %d", b.pacingGain, b.cwndGain, b.cycleIdx)
			}
			bw := b.bwEstimate()
			want := float64(bw) * float64(b.pacingGain) / bbrUnit * 0.99
			if s.c.PacingRate != bbrRateBytesPerSec(bw, b.pacingGain) || math.Abs(float64(s.c.PacingRate)-want) > 2 {
				t.Fatalf("pacing rate %d, want %.0f", s.c.PacingRate, want)
			}
			if s.now > clock.Time(2*time.Second) {
				bdp := float64(bw) * b.minRTT.Seconds()
				if float64(s.c.Cwnd) < 2*bdp || float64(s.c.Cwnd) > 2*bdp*1.15 {
					t.Fatalf("%v: cwnd %d, 2*BDP %.0f", s.now, s.c.Cwnd, 2*bdp)
				}
				cwndChecked++
			}
		}
		s.run(10 * time.Second)
		for _, m := range *modes {
			if m.to == "probe_rtt" {
				t.Fatalf("seed %d: unexpected PROBE_RTT at %v", seed, m.at)
			}
		}
		for i := 0; i < bbrCycleLen; i++ {
			if seen[i] < 20 {
				t.Errorf("seed %d: phase %d completed only %d times", seed, i, seen[i])
			}
		}
		if bw := s.cc.maxBW(); math.Abs(float64(bw)/bbrTestRate-1) > 0.01 {
			t.Errorf("seed %d: bw %d", seed, bw)
		}
		if cwndChecked == 0 {
			t.Error("cwnd never checked")
		}
		// The link stays busy: ~10 Mbit/s for 10 s, minus STARTUP ramp.
		if s.delivered < uint64(bbrTestRate*9.5) {
			t.Errorf("seed %d: delivered only %d", seed, s.delivered)
		}
	}
}

func TestBBRRandomStartPhase(t *testing.T) {
	counts := map[int]int{}
	var c tcp.CCState
	for seed := uint64(0); seed < 2000; seed++ {
		b := NewBBR(seed)
		b.resetProbeBWMode(&c)
		counts[b.cycleIdx]++
		b2 := NewBBR(seed)
		b2.resetProbeBWMode(&c)
		if b2.cycleIdx != b.cycleIdx {
			t.Fatal("same seed, different phase")
		}
	}
	if counts[1] != 0 {
		t.Errorf("started in the 0.75 phase %d times", counts[1])
	}
	for _, i := range []int{0, 2, 3, 4, 5, 6, 7} {
		if counts[i] < 2000/7*7/10 {
			t.Errorf("phase %d chosen %d times of 2000", i, counts[i])
		}
	}
}

// TestBBRProbeRTT runs a path whose RTT drifts up by 10 µs per second, so no
// sample ever matches an old min_rtt: PROBE_RTT must come every ~10 s, hold
// inflight at 4 packets for >= 200 ms and a round, and restore cwnd. The
// short-RTT variant spans ~20 rounds in PROBE_RTT, longer than the bw
// filter's window, and checks the app-limited bubble keeps the bw estimate.
func TestBBRProbeRTT(t *testing.T) {
	for _, rtt := range []time.Duration{bbrTestRTT, 10 * time.Millisecond} {
		s := newBBRSim(t, bbrTestRate, rtt, 7)
		s.drift = 1e-5
		modes := bbrRecordModes(s)
		type probe struct {
			enter, firstLow, exit clock.Time
			cwndBefore, cwndAfter int
			sinceStamp            time.Duration
			exitMinRTT            time.Duration
			exitTo                string
		}
		var probes []*probe
		var cur *probe
		prevMode := bbrStartup
		prevCwnd := 0
		prevStamp := clock.Time(0)
		minBW := uint64(math.MaxUint64)
		s.onAck = func(rs *tcp.RateSample) {
			b := s.cc
			if b.mode == bbrProbeRTT {
				if prevMode != bbrProbeRTT {
					cur = &probe{enter: s.now, cwndBefore: prevCwnd, sinceStamp: s.now.Sub(prevStamp)}
					probes = append(probes, cur)
				}
				if s.c.Cwnd > bbrCwndMinTarget*s.mss {
					t.Fatalf("%v: cwnd %d in PROBE_RTT", s.now, s.c.Cwnd)
				}
				if cur.firstLow == 0 && s.c.InFlight <= bbrCwndMinTarget*s.mss {
					cur.firstLow = s.now
				}
				if s.c.InFlight > bbrCwndMinTarget*s.mss && cur.firstLow != 0 {
					t.Fatalf("%v: inflight %d after the PROBE_RTT dip", s.now, s.c.InFlight)
				}
			} else if prevMode == bbrProbeRTT {
				cur.exit = s.now
				cur.cwndAfter = s.c.Cwnd
				cur.exitMinRTT = b.minRTT
				cur.exitTo = b.mode.String()
			}
			if b.fullBWReached && s.now > clock.Time(time.Second) {
				minBW = min(minBW, b.bwEstimate())
			}
			prevMode, prevCwnd, prevStamp = b.mode, s.c.Cwnd, b.minRTTStamp
		}
		s.run(45 * time.Second)

		if len(probes) != 4 {
			t.Fatalf("rtt %v: %d PROBE_RTTs in 45 s, want 4; modes %v", rtt, len(probes), *modes)
		}
		for i, p := range probes {
			if p.sinceStamp <= 10*time.Second || p.sinceStamp > 10*time.Second+2*time.Millisecond {
				t.Errorf("rtt %v probe %d: entered %v after the last min_rtt refresh", rtt, i, p.sinceStamp)
			}
			if i > 0 {
				gap := p.enter.Sub(probes[i-1].enter)
				if gap < 10*time.Second || gap > 10*time.Second+200*time.Millisecond+4*rtt {
					t.Errorf("rtt %v probe %d: %v since the previous PROBE_RTT", rtt, i, gap)
				}
			}
			if p.exit == 0 || p.firstLow == 0 {
				t.Fatalf("rtt %v probe %d did not complete: %+v", rtt, i, *p)
			}
			if low := p.exit.Sub(p.firstLow); low < 200*time.Millisecond || low > 200*time.Millisecond+3*rtt {
				t.Errorf("rtt %v probe %d: %v at 4 packets", rtt, i, low)
			}
			if p.exit.Sub(p.enter) < rtt {
				t.Errorf("rtt %v probe %d: lasted %v, less than a round", rtt, i, p.exit.Sub(p.enter))
			}
			if p.exitTo != "probe_bw" {
				t.Errorf("rtt %v probe %d: exited to %s", rtt, i, p.exitTo)
			}
			if p.cwndAfter < p.cwndBefore*9/10 {
				t.Errorf("rtt %v probe %d: cwnd %d before, %d after", rtt, i, p.cwndBefore, p.cwndAfter)
			}
			// The dip measured the current (drifted) propagation delay.
			wantRTT := rtt + bbrDur(s.mss, s.rate) + time.Duration(s.drift*float64(p.exit))
			if d := p.exitMinRTT - wantRTT; d < -time.Millisecond || d > time.Millisecond {
				t.Errorf("rtt %v probe %d: min_rtt %v, want ~%v", rtt, i, p.exitMinRTT, wantRTT)
			}
		}
		if float64(minBW) < 0.98*bbrTestRate {
			t.Errorf("rtt %v: bw estimate fell to %d during the run", rtt, minBW)
		}
	}
}

// TestBBRMinRTTFilter checks the 10 s min_rtt window directly.
func TestBBRMinRTTFilter(t *testing.T) {
	b := NewBBR(1)
	c := tcp.CCState{MSS: 1000, Cwnd: 100000}
	b.Init(&c)
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	step := func(at time.Duration, rtt time.Duration, delayed bool) {
		c.Now = clock.Time(at)
		c.Delivered += 1000
		c.InFlight = 50000
		rs := tcp.RateSample{
			PriorDelivered: c.Delivered - 1000, Delivered: 1000, Interval: ms(10),
			RTT: rtt, AckedSacked: 1000, PriorInFlight: 50000, IsAckDelayed: delayed,
		}
		b.CongControl(&c, &rs)
	}
	step(0, ms(50), false)
	step(ms(1000), ms(40), false)
	if b.minRTT != ms(40) || b.minRTTStamp != clock.Time(ms(1000)) {
		t.Fatalf("min_rtt %v at %v", b.minRTT, b.minRTTStamp)
	}
	step(ms(5000), ms(60), false)
	step(ms(11000), ms(60), false) // exactly 10 s: not yet expired
	if b.minRTT != ms(40) || b.mode == bbrProbeRTT {
		t.Fatalf("min_rtt %v mode %v at 10 s", b.minRTT, b.mode)
	}
	step(ms(11000)+1, ms(60), true) // expired, but a delayed ACK's RTT is not trusted
	if b.minRTT != ms(40) {
		t.Fatalf("delayed-ACK sample replaced an expired min_rtt: %v", b.minRTT)
	}
	if b.mode != bbrProbeRTT || c.Cwnd != 4*1000 {
		t.Fatalf("expired min_rtt: mode %v cwnd %d, want probe_rtt at 4 packets", b.mode, c.Cwnd)
	}
	step(ms(11001), ms(60), false) // expired: any sample replaces it
	if b.minRTT != ms(60) || b.Info().MinRTT != ms(60) {
		t.Fatalf("expired min_rtt not replaced: %v", b.minRTT)
	}
}

// TestBBRAppLimitedKeepsBW: app-limited samples must not lower the bw
// estimate, however long they last; the same samples not marked
// app-limited age it out after the 10-round window.
func TestBBRAppLimitedKeepsBW(t *testing.T) {
	for _, ignore := range []bool{false, true} {
		s := newBBRSim(t, bbrTestRate, bbrTestRTT, 3)
		s.run(3 * time.Second)
		bw0 := s.cc.maxBW()
		if math.Abs(float64(bw0)/bbrTestRate-1) > 0.01 {
			t.Fatalf("bw before app-limited phase %d", bw0)
		}
		s.ignoreAppLimited = ignore
		s.setAppRate(bbrTestRate / 5)
		minBW := bw0
		lowSamples := 0
		s.onAck = func(rs *tcp.RateSample) {
			minBW = min(minBW, s.cc.Info().Bandwidth)
			if rs.HasRate() && float64(rs.Delivered)/rs.Interval.Seconds() < bbrTestRate/2 {
				lowSamples++
			}
		}
		s.run(4 * time.Second)
		if lowSamples < 500 {
			t.Fatalf("ignore=%v: only %d low-rate samples", ignore, lowSamples)
		}
		if !ignore && minBW != bw0 {
			t.Errorf("app-limited samples lowered bw %d -> %d", bw0, minBW)
		}
		if ignore && float64(minBW) > bbrTestRate/4 {
			t.Errorf("unmarked low samples did not age out of the bw filter: %d", minBW)
		}
	}
}

// TestBBRIdleRestart: restarting from idle while app-limited paces PROBE_BW
// at 1.0*bw and defers PROBE_RTT until data is acked.
func TestBBRIdleRestart(t *testing.T) {
	s := newBBRSim(t, bbrTestRate, bbrTestRTT, 1)
	s.run(2 * time.Second)
	for s.cc.mode != bbrProbeBW || s.cc.cycleIdx != 0 {
		s.run(time.Millisecond)
	}
	bw := s.cc.bwEstimate()
	if s.c.PacingRate != bbrRateBytesPerSec(bw, bbrPacingGain[0]) {
		t.Fatalf("1.25 phase pacing %d", s.c.PacingRate)
	}
	c := s.c
	c.AppLimited = false
	s.cc.OnEvent(&c, tcp.EventTxStart) // not app-limited: ignored
	if c.PacingRate != bbrRateBytesPerSec(bw, bbrPacingGain[0]) || s.cc.idleRestart {
		t.Fatal("TX_START without app-limited changed state")
	}
	c.AppLimited = true
	s.cc.OnEvent(&c, tcp.EventTxStart)
	if want := bbrRateBytesPerSec(bw, bbrUnit); c.PacingRate != want || !s.cc.idleRestart {
		t.Fatalf("idle restart pacing %d, want %d", c.PacingRate, want)
	}
	// An expired min_rtt does not start PROBE_RTT on the restart ACK...
	s.cc.minRTTStamp = c.Now.Add(-11 * time.Second)
	c.Now = c.Now.Add(time.Millisecond)
	c.Delivered += 1000
	rs := tcp.RateSample{PriorDelivered: c.Delivered - 1000, Delivered: 1000, Interval: 50 * time.Millisecond,
		RTT: 50 * time.Millisecond, AckedSacked: 1000, PriorInFlight: c.InFlight, IsAppLimited: true}
	s.cc.CongControl(&c, &rs)
	if s.cc.mode == bbrProbeRTT || s.cc.idleRestart {
		t.Fatalf("mode %v idleRestart %v after restart ACK", s.cc.mode, s.cc.idleRestart)
	}
	// ... but does on the next one (min_rtt was refreshed by the expired
	// filter taking the sample, so expire it again).
	s.cc.minRTTStamp = c.Now.Add(-11 * time.Second)
	c.Now = c.Now.Add(time.Millisecond)
	c.Delivered += 1000
	rs.PriorDelivered = c.Delivered - 1000
	s.cc.CongControl(&c, &rs)
	if s.cc.mode != bbrProbeRTT {
		t.Fatalf("mode %v, want probe_rtt", s.cc.mode)
	}
}

// TestBBRPacketConservation drives recovery by hand from a steady state.
func TestBBRPacketConservation(t *testing.T) {
	s := newBBRSim(t, bbrTestRate, bbrTestRTT, 1)
	s.run(3 * time.Second)
	b := s.cc
	c := s.c
	mss := s.mss
	cwnd0 := c.Cwnd
	ss := b.SsThresh(&c)
	if ss != c.Ssthresh {
		t.Fatalf("SsThresh changed ssthresh: %d -> %d", c.Ssthresh, ss)
	}
	if b.priorCwnd != cwnd0 {
		t.Fatalf("prior cwnd %d, want %d", b.priorCwnd, cwnd0)
	}
	c.CAState = tcp.CARecovery
	b.SetState(&c, tcp.CARecovery)

	ack := func(losses int, roundStart bool) *tcp.RateSample {
		c.Now = c.Now.Add(time.Millisecond)
		c.Delivered += uint64(mss)
		c.Lost += uint64(losses)
		c.InFlight -= mss + losses
		prior := b.nextRTTDelivered - 1
		if roundStart {
			prior = b.nextRTTDelivered
		}
		rs := &tcp.RateSample{PriorDelivered: prior, Delivered: 50 * int64(mss), Interval: bbrTestRTT,
			RTT: bbrTestRTT, AckedSacked: mss, Losses: losses, PriorInFlight: c.InFlight + mss + losses}
		b.CongControl(&c, rs)
		return rs
	}
	// First ACK of recovery: cwnd = inflight + acked, and a round starts.
	c.InFlight = cwnd0 - 10*mss
	ack(3*mss, false)
	if c.Cwnd != c.InFlight+mss {
		t.Fatalf("entering recovery: cwnd %d, want inflight+acked %d", c.Cwnd, c.InFlight+mss)
	}
	if b.nextRTTDelivered != c.Delivered || !b.packetConservation {
		t.Fatal("recovery did not start a conservation round")
	}
	// Same round: one packet out per packet acked, less what was lost.
	cw := c.Cwnd
	ack(2*mss, false)
	if want := max(cw-2*mss, c.InFlight+mss); c.Cwnd != want {
		t.Fatalf("conservation: cwnd %d, want %d", c.Cwnd, want)
	}
	// Next round: conservation ends; cwnd grows by acked toward target.
	cw = c.Cwnd
	ack(0, true)
	if b.packetConservation || c.Cwnd != cw+mss {
		t.Fatalf("after the first round: conservation %v cwnd %d, want %d", b.packetConservation, c.Cwnd, cw+mss)
	}
	// Leaving recovery restores the cwnd saved on entry (capped at target).
	c.CAState = tcp.CAOpen
	b.SetState(&c, tcp.CAOpen)
	ack(0, false)
	target := b.quantizationBudget(&c, b.bdp(&c, b.bwEstimate(), b.cwndGain)+b.ackAggregationCwnd())
	if want := min(cwnd0+mss, target); c.Cwnd != want {
		t.Fatalf("leaving recovery: cwnd %d, want %d (saved %d, target %d)", c.Cwnd, want, cwnd0, target)
	}
}

func TestBBRLossAndUndo(t *testing.T) {
	s := newBBRSim(t, bbrTestRate, bbrTestRTT, 1)
	s.run(3 * time.Second)
	b := s.cc
	c := s.c
	b.fullBWCnt = 2
	b.SetState(&c, tcp.CALoss)
	if b.prevCAState != tcp.CALoss || b.fullBW != 0 || !b.roundStart {
		t.Fatalf("SetState(Loss): prev %v fullBW %d roundStart %v", b.prevCAState, b.fullBW, b.roundStart)
	}
	if !b.ltIsSampling {
		t.Fatal("an RTO did not start long-term sampling")
	}
	b.fullBW = 5
	if got := b.UndoCwnd(&c); got != c.Cwnd {
		t.Fatalf("UndoCwnd = %d, want %d", got, c.Cwnd)
	}
	if b.fullBW != 0 || b.fullBWCnt != 0 || b.ltIsSampling || b.ltUseBW {
		t.Fatal("UndoCwnd did not reset full-bw and LT state")
	}
}

// TestBBRPolicer puts a 2 Mbit/s token-bucket policer in front of a
// 10 Mbit/s link: BBR must detect it, pace at the policed rate with gain 1
// for 48 rounds, then resume normal probing.
func TestBBRPolicer(t *testing.T) {
	const police = 250000.0
	s := newBBRSim(t, bbrTestRate, bbrTestRTT, 1)
	s.policeRate = police
	s.policeDepth = 100000
	s.tokens = s.policeDepth
	var detectedAt clock.Time
	ltRounds, resets := 0, 0
	var ltLost, ltDelivered uint64
	prevUse := false
	// Linux counts lt_bw rounds in bbr_lt_bw_sampling, at the start of
	// the ACK, so neither the round that starts on the ACK leaving
	// PROBE_RTT for PROBE_BW nor the one on the detecting ACK counts: go
	// by the mode and lt_use_bw before the ACK.
	prevMode := s.cc.mode
	s.onAck = func(rs *tcp.RateSample) {
		b := s.cc
		modeAtStart := prevMode
		prevMode = b.mode
		if b.ltUseBW {
			if !prevUse {
				if detectedAt == 0 {
					detectedAt = s.now
				}
				ltRounds = 0
				if math.Abs(float64(b.ltBW)/police-1) > 0.1 {
					t.Errorf("lt_bw %d, policer %v", b.ltBW, police)
				}
			}
			if b.Info().Bandwidth != b.ltBW {
				t.Fatalf("Info bandwidth %d, lt_bw %d", b.Info().Bandwidth, b.ltBW)
			}
			if b.mode == bbrProbeBW {
				if b.pacingGain != bbrUnit || s.c.PacingRate != bbrRateBytesPerSec(b.ltBW, bbrUnit) {
					t.Fatalf("policed: gain %d pacing %d", b.pacingGain, s.c.PacingRate)
				}
			}
			if prevUse && modeAtStart == bbrProbeBW && b.roundStart {
				ltRounds++
			}
			// Segments sent at the pre-detection rate are still
			// being lost for a round or two; count from then on.
			if s.now > detectedAt.Add(3*bbrTestRTT) {
				ltLost += uint64(rs.Losses)
				ltDelivered += uint64(rs.AckedSacked)
			}
		} else if prevUse {
			resets++
			if modeAtStart == bbrProbeBW && b.roundStart {
				ltRounds++ // the round that ended lt_bw's use
			}
			if modeAtStart == bbrProbeBW && ltRounds != bbrLTBWMaxRtts {
				t.Errorf("used lt_bw for %d PROBE_BW rounds, want %d", ltRounds, bbrLTBWMaxRtts)
			}
		}
		prevUse = b.ltUseBW
	}
	s.run(20 * time.Second)
	if detectedAt == 0 || detectedAt > clock.Time(2*time.Second) {
		t.Fatalf("policer detected at %v", detectedAt)
	}
	if resets == 0 {
		t.Error("lt_bw never expired after 48 rounds")
	}
	if ltDelivered == 0 || float64(ltLost) > 0.03*float64(ltDelivered) {
		t.Errorf("while policed: lost %d of %d delivered", ltLost, ltDelivered)
	}
	// Goodput is the policed rate.
	if g := float64(s.delivered) / 20; g < 0.9*police || g > police*1.1+s.policeDepth/20 {
		t.Errorf("goodput %.0f B/s, policer %v", g, police)
	}
}

// TestBBRDeterministic: same seed, same path, same trace.
func TestBBRDeterministic(t *testing.T) {
	run := func() ([]bbrModeEvent, uint64, int) {
		s := newBBRSim(t, bbrTestRate, bbrTestRTT, 42)
		s.drift = 1e-5
		m := bbrRecordModes(s)
		s.run(25 * time.Second)
		return *m, s.delivered, s.c.Cwnd
	}
	m1, d1, c1 := run()
	m2, d2, c2 := run()
	if d1 != d2 || c1 != c2 || len(m1) != len(m2) {
		t.Fatalf("runs differ: %d/%d %d/%d %d/%d", d1, d2, c1, c2, len(m1), len(m2))
	}
	for i := range m1 {
		if m1[i] != m2[i] {
			t.Fatalf("mode change %d differs: %v vs %v", i, m1[i], m2[i])
		}
	}
}

// TestBBRMaxPacingRate: the user's cap applies to every pacing rate.
func TestBBRMaxPacingRate(t *testing.T) {
	s := newBBRSim(t, bbrTestRate, bbrTestRTT, 1)
	s.c.MaxPacingRate = 500000
	s.onAck = func(rs *tcp.RateSample) {
		if s.c.PacingRate > 500000 {
			t.Fatalf("pacing %d above cap", s.c.PacingRate)
		}
	}
	s.run(3 * time.Second)
	if g := float64(s.delivered) / 3; g > 500000*1.05 {
		t.Errorf("goodput %.0f above the pacing cap", g)
	}
}

// TestBBRPolicerNeedsNoQueue: lossy long-term intervals at a steady rate
// mean a policer only if the RTT shows no standing queue; the same losses
// with every RTT sample a quarter or more above min_rtt are a shared
// bottleneck overflowing, and bandwidth probing must go on.
func TestBBRPolicerNeedsNoQueue(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	for _, tc := range []struct {
		rtt      time.Duration
		policed  bool
		describe string
	}{
		{ms(102), true, "no queue"},
		{ms(120), true, "a queue under min_rtt/4"},
		{ms(126), false, "a queue over min_rtt/4"},
		{ms(180), false, "a full buffer"},
	} {
		b := NewBBR(1)
		c := tcp.CCState{MSS: 1000, Cwnd: 100000}
		b.Init(&c)
		b.minRTT = ms(100)
		b.mode = bbrProbeBW
		// 12 rounds of 100 ms, 10 ACKs each; every ACK delivers 800
		// bytes and marks 200 lost (25% of delivered: over the 20%
		// threshold) at the same rate throughout.
		for round := 0; round < 12 && !b.ltUseBW; round++ {
			for ack := 0; ack < 10; ack++ {
				c.Now = c.Now.Add(ms(10))
				c.Delivered += 800
				c.Lost += 200
				b.roundStart = ack == 0
				b.ltBWSampling(&c, 1, false, tc.rtt)
			}
		}
		if b.ltUseBW != tc.policed {
			t.Errorf("%s (RTT %v, min_rtt 100ms): policed %v, want %v", tc.describe, tc.rtt, b.ltUseBW, tc.policed)
		}
		if b.Info().Policed != b.ltUseBW {
			t.Errorf("%s: Info().Policed %v, lt_use_bw %v", tc.describe, b.Info().Policed, b.ltUseBW)
		}
	}
}

// bbrTestRound drives b through one packet-timed round: 10 ACKs 10 ms
// apart, each delivering deliv bytes and marking lost bytes lost, with
// inflight bytes in flight. Only the round's first ACK acks data sent after
// the previous round began, so a round is judged at the first ACK of the
// next one. perACK, if set, runs before each ACK reaches b.
func bbrTestRound(b *BBR, c *tcp.CCState, rtt time.Duration, deliv, lost uint64, inflight int, perACK func()) {
	const gap = 10 * time.Millisecond
	for ack := 0; ack < 10; ack++ {
		c.Now = c.Now.Add(gap)
		c.Delivered += deliv
		c.Lost += lost
		c.InFlight = inflight
		rs := tcp.RateSample{Delivered: int64(deliv), Interval: 10 * gap, RTT: rtt, AckedSacked: int(deliv),
			PriorDelivered: b.nextRTTDelivered - 1, PriorInFlight: inflight}
		if ack == 0 {
			rs.PriorDelivered = b.nextRTTDelivered
		}
		if perACK != nil {
			perACK()
		}
		b.CongControl(c, &rs)
	}
}

// TestBBRInflightHi drives the congestive-loss bound round by round: a
// first round with ≥ 2% loss and a standing queue sets the cap to 0.7 ×
// in flight (at least the round's delivery rate × min_rtt), the next
// round cannot cut again, once capped any loss with a queue cuts, a round
// without a queue does not, the queue is measured from the connection's
// 300 s minimum RTT where BBR's own min_rtt is higher, the cap regrows 1,
// 2, 4... packets per round while it holds cwnd down (up to 16 with a
// queue, 8 without), and an undo lifts it.
func TestBBRInflightHi(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	const mss = 1000
	b := NewBBRHi(1)
	c := tcp.CCState{MSS: mss, Cwnd: 400 * mss}
	b.Init(&c)
	b.minRTT = ms(100)
	b.mode = bbrProbeBW
	b.fullBWReached = true
	// roundOf runs one round with 300 packets in flight, holding the
	// model at 2 MB/s: a BDP of 200 packets, BBR's own target 400 and more.
	roundOf := func(b *BBR, rtt time.Duration, deliv, lost uint64) {
		bbrTestRound(b, &c, rtt, deliv, lost, 300*mss, func() { b.bw.reset(b.rttCnt, 2e6) })
	}
	round := func(rtt time.Duration, deliv, lost uint64) { t.Helper(); roundOf(b, rtt, deliv, lost) }
	hi := func() int { return b.inflightHi / mss }

	// Before any cap, 1% loss with a queue is not congestive.
	round(ms(180), 9900, 100)
	round(ms(180), 9900, 100)
	if hi() != 0 {
		t.Fatalf("cap %d after 1%% loss; the first cut needs 2%%", hi())
	}
	round(ms(180), 9000, 1000) // 10% loss, a full queue
	if hi() != 0 {
		t.Fatalf("cap %d during the first round; it is judged when the next begins", hi())
	}
	round(ms(180), 10000, 0) // round 2 begins: round 1 was congestive
	if want := 300 * bbrHiBeta >> bbrScale; hi() != want {
		t.Fatalf("after a congestive round: cap %d packets, want 0.7 × 300 = %d", hi(), want)
	}
	if c.Cwnd != b.inflightHi {
		t.Fatalf("cwnd %d, want the cap %d", c.Cwnd, b.inflightHi)
	}
	cut := hi()
	// Rounds with a queue and no loss: the step doubles up to 16 packets.
	for i, step := range []int{1, 2, 4, 8, 16, 16} {
		round(ms(180), 10000, 0)
		cut += step
		if hi() != cut {
			t.Fatalf("growth round %d with a queue: cap %d, want %d", i, hi(), cut)
		}
	}
	// Queue-free rounds: the step is held to 8.
	for range 3 {
		round(ms(101), 10000, 0)
	}
	if b.hiGrowth != bbrHiMaxGrowthFree {
		t.Fatalf("queue-free growth step %d, want %d", b.hiGrowth, bbrHiMaxGrowthFree)
	}
	// Persistent congestion: a cut every other round, since the losses
	// of the round after a cut were sent before it. Once capped, 0.5%
	// loss with a queue is congestive, and later cuts have no BDP floor.
	round(ms(180), 9950, 50)
	grown := b.inflightHi // the cap as that round ran
	round(ms(180), 9950, 50)
	first := min(300*mss, grown) * bbrHiBeta >> bbrScale
	if b.inflightHi != first {
		t.Fatalf("0.5%% loss with a queue, capped: cap %d B, want 0.7 × min(300 packets, %d B) = %d B", b.inflightHi, grown, first)
	}
	round(ms(180), 9000, 1000)
	if b.inflightHi != first {
		t.Fatalf("round after a cut: cap %d B, want %d B (no second cut, no growth)", b.inflightHi, first)
	}
	round(ms(180), 9000, 1000)
	if want := first * bbrHiBeta >> bbrScale; b.inflightHi != want {
		t.Fatalf("two rounds after a cut: cap %d B, want 0.7 × %d B = %d B", b.inflightHi, first, want)
	}
	// Loss without a queue (random loss, a policer) is not congestive.
	before := hi()
	round(ms(101), 9000, 1000)
	round(ms(101), 9000, 1000)
	if hi() < before {
		t.Fatalf("10%% loss without a queue: cap cut %d -> %d", before, hi())
	}
	// BBR's min_rtt, refreshed in a PROBE_RTT that did not empty a shared
	// queue, is 160 ms; the connection has seen 100. A round at 180 ms is
	// queued against the latter (180 < 1.25 × 160).
	b.minRTT, c.MinRTT = ms(160), ms(100)
	round(ms(180), 9950, 50)
	round(ms(180), 9950, 50)
	if hi() >= before {
		t.Fatalf("loss at 180 ms against a 100 ms path minimum: cap %d, not cut", hi())
	}
	b.UndoCwnd(&c)
	if hi() != 0 {
		t.Fatalf("cap %d after an undo, want none", hi())
	}
	if b.Name() != "bbr-hi" {
		t.Errorf("Name() = %q", b.Name())
	}

	// A cut leaves at least what the round delivered per min_rtt, so it
	// takes away no more than the queue: 90 kB in a 100 ms round with a
	// 400 ms min_rtt is 360 packets, more than 0.7 × 300 in flight.
	f, cf := NewBBRHi(1), tcp.CCState{MSS: mss, Cwnd: 400 * mss}
	f.Init(&cf)
	f.minRTT, f.mode, f.fullBWReached = ms(400), bbrProbeBW, true
	for range 2 {
		bbrTestRound(f, &cf, ms(600), 9000, 1000, 300*mss, func() { f.bw.reset(f.rttCnt, 4e6) })
	}
	if want := 360 * mss; f.inflightHi != want {
		t.Errorf("cut after a round that delivered 360 packets per min_rtt: cap %d B, want %d B", f.inflightHi, want)
	}

	// Plain "bbr" (Linux's v1 rules) never caps.
	v1 := NewBBR(1)
	v1.Init(&c)
	v1.minRTT, v1.mode, v1.fullBWReached = ms(100), bbrProbeBW, true
	for range 6 {
		roundOf(v1, ms(180), 9000, 1000)
	}
	if v1.inflightHi != 0 || v1.Info().InflightHi != 0 {
		t.Errorf("bbr set a cap: %d", v1.inflightHi)
	}
}

// TestBBRInflightHiDriven: when the cap allows more than BBR's model
// (inflightHi per sRTT above the bandwidth estimate), the cap sets the
// pacing rate and cwnd, grows while it holds cwnd or in rounds that used
// the window, and 1% loss with a standing queue cuts it (once capped, any
// loss with a queue does, whichever sets the rate: TestBBRInflightHi).
func TestBBRInflightHiDriven(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	const mss = 1000
	setup := func(modelBW uint64) (*BBR, *tcp.CCState) {
		b := NewBBRHi(1)
		c := &tcp.CCState{MSS: mss, Cwnd: 60 * mss, SRTT: ms(150)}
		b.Init(c)
		b.minRTT = ms(100)
		b.mode = bbrProbeBW
		b.fullBWReached = true
		b.cycleIdx, b.pacingGain, b.cwndGain = 2, bbrUnit, bbrCwndGain // a cruise phase
		b.cycleStamp = c.Now
		b.bw.reset(0, modelBW)
		b.inflightHi, b.hiGrowth = 60*mss, 1
		return b, c
	}
	// round runs one round with 60 packets in flight, the window used or
	// not, staying in the cruise phase.
	round := func(b *BBR, c *tcp.CCState, rtt time.Duration, deliv, lost uint64, cwndLimited bool) {
		c.CwndLimited = cwndLimited
		bbrTestRound(b, c, rtt, deliv, lost, 60*mss, func() { b.cycleStamp = c.Now })
	}

	// Model 10 kB/s (10 packets/s × 1000 B); the cap, 60 packets per
	// 150 ms, is 400 kB/s: the cap sets the rate.
	b, c := setup(10e3)
	round(b, c, ms(180), 1000, 0, true)
	if !b.hiDriven {
		t.Fatal("cap above the model, but the model sets the rate")
	}
	if want := bbrBWToPacingRate(c, 60*mss*1000/150, bbrUnit); c.PacingRate != want {
		t.Errorf("pacing rate %d B/s, want the cap's %d", c.PacingRate, want)
	}
	if c.Cwnd != b.inflightHi {
		t.Errorf("cwnd %d, want the cap %d", c.Cwnd, b.inflightHi)
	}
	// The cap grows while it holds cwnd below BBR's target for the cap's
	// rate, 2 × rate × min_rtt, i.e. while sRTT ≤ 2 × min_rtt (here 150
	// ms), whether or not the window was used.
	before := b.inflightHi
	round(b, c, ms(180), 1000, 0, false)
	round(b, c, ms(180), 1000, 0, false)
	if b.inflightHi <= before {
		t.Fatalf("sRTT 150 ms: cap %d, no growth", b.inflightHi)
	}
	// Beyond that (sRTT 250 ms: the target, not the cap, holds cwnd) it
	// grows only in rounds that used the window.
	c.SRTT = ms(250)
	round(b, c, ms(180), 1000, 0, false)
	before = b.inflightHi
	round(b, c, ms(180), 1000, 0, false)
	round(b, c, ms(180), 1000, 0, false)
	if !b.hiDriven || b.inflightHi != before {
		t.Fatalf("sRTT 250 ms, window not used: cap %d -> %d (cap-driven %v)", before, b.inflightHi, b.hiDriven)
	}
	round(b, c, ms(180), 1000, 0, true)
	round(b, c, ms(180), 1000, 0, true)
	if b.inflightHi <= before {
		t.Fatalf("sRTT 250 ms, window used: cap %d, no growth", b.inflightHi)
	}
	c.SRTT = ms(150)
	// 1% loss with a queue is congestive.
	grown := b.inflightHi
	round(b, c, ms(180), 990, 10, true)
	round(b, c, ms(180), 1000, 0, true)
	if want := min(60*mss, grown) * bbrHiBeta >> bbrScale; b.inflightHi != want {
		t.Errorf("1%% loss, cap-driven: cap %d, want 0.7 × min(in flight, cap) = %d", b.inflightHi, want)
	}

	// Model 4 MB/s: the model sets the rate.
	b, c = setup(4e6)
	b.inflightHi = 300 * mss
	round(b, c, ms(180), 1000, 0, true)
	if b.hiDriven {
		t.Fatal("model above the cap, but the cap sets the rate")
	}

	// Plain "bbr" has no cap, so nothing drives it but the model.
	v1 := NewBBR(1)
	cv := &tcp.CCState{MSS: mss, Cwnd: 60 * mss, SRTT: ms(150)}
	v1.Init(cv)
	if v1.hiRate(cv) != 0 {
		t.Errorf("bbr: cap rate %d", v1.hiRate(cv))
	}
}
