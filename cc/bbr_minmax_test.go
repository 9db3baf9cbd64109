package cc

import "testing"

// bbrTestRand is a tiny deterministic generator for the tests (splitmix64).
type bbrTestRand struct{ s uint64 }

func (r *bbrTestRand) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (r *bbrTestRand) intn(n int) int { return int(r.next() % uint64(n)) }

func TestWinMinMaxMaxBasic(t *testing.T) {
	var m winMinMax
	m.reset(0, 10)
	if got := m.runningMax(10, 1, 5); got != 10 {
		t.Fatalf("max after smaller sample = %d, want 10", got)
	}
	if got := m.runningMax(10, 2, 20); got != 20 {
		t.Fatalf("max after larger sample = %d, want 20", got)
	}
	// 20 at t=2 stays the max through t=12 (dt == win is still in window).
	for tm := uint64(3); tm <= 12; tm++ {
		if got := m.runningMax(10, tm, 7); got != 20 {
			t.Fatalf("t=%d: max = %d, want 20", tm, got)
		}
	}
	// At t=13 the 20 has aged out; 7s were taken as sub-window choices.
	if got := m.runningMax(10, 13, 6); got != 7 {
		t.Fatalf("t=13: max = %d, want 7 (2nd choice)", got)
	}
}

func TestWinMinMaxExpiresWhenWindowEmpty(t *testing.T) {
	var m winMinMax
	m.reset(0, 100)
	// A sample more than a window after the 3rd choice resets the filter.
	if got := m.runningMax(10, 11, 1); got != 1 {
		t.Fatalf("max = %d, want 1 after the window emptied", got)
	}
	var n winMinMax
	n.reset(0, 1)
	if got := n.runningMin(10, 11, 100); got != 100 {
		t.Fatalf("min = %d, want 100 after the window emptied", got)
	}
}

func TestWinMinMaxMinWindowing(t *testing.T) {
	var m winMinMax
	m.reset(0, 50)
	if got := m.runningMin(100, 10, 40); got != 40 {
		t.Fatalf("min = %d, want 40", got)
	}
	// Larger samples do not displace the min while it is in the window.
	for tm := uint64(11); tm <= 110; tm++ {
		if got := m.runningMin(100, tm, 60+tm); got != 40 {
			t.Fatalf("t=%d: min = %d, want 40", tm, got)
		}
	}
	// Past the window, the min moves to a later (sub-window) choice,
	// which must be one of the samples still inside the window.
	got := m.runningMin(100, 111, 500)
	if got == 40 || got < 60+11 || got > 500 {
		t.Fatalf("t=111: min = %d, want a sample from inside the window", got)
	}
}

func TestWinMinMaxWraparound(t *testing.T) {
	var m winMinMax
	start := ^uint64(0) - 3
	m.reset(start, 10)
	if got := m.runningMax(10, start+5, 3); got != 10 { // wraps past zero
		t.Fatalf("max across wrap = %d, want 10", got)
	}
	if got := m.runningMax(10, start+20, 3); got != 3 {
		t.Fatalf("max after window across wrap = %d, want 3", got)
	}
}

// TestWinMinMaxAgainstBruteForce checks the filter's guarantees on random
// streams: the estimate is the value of a sample inside the window, it is
// never beyond the true windowed extremum, never short of the newest sample,
// and exact whenever the true extremum is the newest or the filter is fresh.
func TestWinMinMaxAgainstBruteForce(t *testing.T) {
	const win = 10
	for seed := uint64(1); seed <= 50; seed++ {
		r := bbrTestRand{s: seed}
		for _, isMax := range []bool{true, false} {
			var m winMinMax
			type smp struct{ t, v uint64 }
			var hist []smp
			tm := uint64(0)
			v0 := uint64(r.intn(1000))
			m.reset(tm, v0)
			hist = append(hist, smp{tm, v0})
			exact := 0
			for i := 0; i < 2000; i++ {
				tm += uint64(r.intn(3)) // several samples per time unit, or gaps
				v := uint64(r.intn(1000))
				var got uint64
				if isMax {
					got = m.runningMax(win, tm, v)
				} else {
					got = m.runningMin(win, tm, v)
				}
				hist = append(hist, smp{tm, v})
				best := v
				inWindow := false
				for _, h := range hist {
					if tm-h.t > win {
						continue
					}
					if h.v == got {
						inWindow = true
					}
					if isMax && h.v > best || !isMax && h.v < best {
						best = h.v
					}
				}
				if !inWindow {
					t.Fatalf("seed %d max=%v i=%d: estimate %d is not a sample in the window", seed, isMax, i, got)
				}
				if isMax && (got > best || got < v) || !isMax && (got < best || got > v) {
					t.Fatalf("seed %d max=%v i=%d: estimate %d outside [newest %d, true %d]", seed, isMax, i, got, v, best)
				}
				if got == best {
					exact++
				}
			}
			if exact < 2000*8/10 {
				t.Errorf("seed %d max=%v: exact only %d/2000 times", seed, isMax, exact)
			}
		}
	}
}
