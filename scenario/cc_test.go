package scenario

// The engine recovers as a TCP should: classic congestion control on the
// reference path (100 Mbit/s × 100 ms, 1-BDP drop-tail buffer).

import (
	"testing"
	"time"
)

const benchSeed = 1

// TestRecoveryFromSlowStartOvershoot: slow start overshoots a 1-BDP buffer
// and loses hundreds of segments; SACK recovery repairs them without a
// timeout or a long stall, and the flow then runs at the link rate.
func TestRecoveryFromSlowStartOvershoot(t *testing.T) {
	for _, cc := range []string{"cubic", "reno"} {
		t.Run(cc, func(t *testing.T) {
			c, err := RunOvershoot(benchSeed, cc, 20*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("seed %d: drops %d (first at %v), RTOs %d, ≥90%% from %v, last 10 s %.1f Mbit/s, worst 1 s after 3 s %.1f Mbit/s; per second %.0f",
				benchSeed, c.Drops, c.FirstDrop, c.Timeouts, c.Recovered, c.Last10/1e6, c.MinAfter3/1e6, scale(c.PerSecond, 1e-6))
			if c.Drops < 100 || c.FirstDrop < 0 || c.FirstDrop > 3*time.Second {
				t.Errorf("seed %d: expected hundreds of drops at the end of slow start, got %d (first at %v)", benchSeed, c.Drops, c.FirstDrop)
			}
			if c.Timeouts != 0 {
				t.Errorf("seed %d: %d retransmission timeouts; SACK recovery should repair slow start's losses", benchSeed, c.Timeouts)
			}
			if c.Recovered < 0 || c.Recovered > c.FirstDrop+2*time.Second {
				t.Errorf("seed %d: first second at ≥ 90%% of the link at %v, first drop at %v", benchSeed, c.Recovered, c.FirstDrop)
			}
			if c.Last10 < 0.9*float64(Path100M.Rate) {
				t.Errorf("seed %d: last 10 s at %.1f Mbit/s, want ≥ 90 Mbit/s", benchSeed, c.Last10/1e6)
			}
			if c.MinAfter3 < 0.5*float64(Path100M.Rate) {
				t.Errorf("seed %d: a 1 s window after 3 s at %.1f Mbit/s (< 50%% of the link)", benchSeed, c.MinAfter3/1e6)
			}
		})
	}
}

// TestClassicGoodputUnderLoss: CUBIC and Reno fill a clean path and
// collapse under random loss, as loss-based algorithms do.
func TestClassicGoodputUnderLoss(t *testing.T) {
	dur := 20 * time.Second
	for _, cc := range []string{"cubic", "reno"} {
		for _, loss := range []float64{0, 0.01} {
			p := Path100M
			p.Loss = loss
			c, err := RunGoodput(benchSeed, p, cc, dur, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s loss %g%%: %.1f Mbit/s (%.0f%% of limit)", cc, loss*100, c.Goodput/1e6, 100*c.Fraction())
			if loss == 0 && c.Fraction() < 0.9 {
				t.Errorf("seed %d: %s on a clean path at %.0f%% of the link, want ≥ 90%%", benchSeed, cc, 100*c.Fraction())
			}
			if loss > 0 && c.Fraction() > 0.3 {
				t.Errorf("seed %d: %s at %g%% loss at %.0f%% of the limit; a loss-based algorithm should collapse (< 30%%)", benchSeed, cc, loss*100, 100*c.Fraction())
			}
		}
	}
}

func scale(v []float64, k float64) []float64 {
	s := make([]float64, len(v))
	for i := range v {
		s[i] = v[i] * k
	}
	return s
}
