package sim

import (
	"math"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestJain(t *testing.T) {
	for _, tc := range []struct {
		x    []float64
		want float64
	}{
		{[]float64{50, 50}, 1},
		{[]float64{100, 0}, 0.5},        // one flow has everything: 1/n
		{[]float64{100, 0, 0, 0}, 0.25}, // 1/n
		{[]float64{60, 40}, 100 * 100 / (2 * (3600 + 1600.0))},
		{[]float64{30, 30, 20, 20}, 100 * 100 / (4 * (900 + 900 + 400 + 400.0))},
		{[]float64{7}, 1},
		{nil, 0},
		{[]float64{0, 0}, 0},
	} {
		if got := Jain(tc.x); !near(got, tc.want) {
			t.Errorf("Jain(%v) = %v, want %v", tc.x, got, tc.want)
		}
	}
	// Scale-free: the unit of the goodputs does not matter.
	if !near(Jain([]float64{3e6, 1e6}), Jain([]float64{3, 1})) {
		t.Error("Jain depends on the scale")
	}
}
