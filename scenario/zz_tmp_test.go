package scenario

import (
	"os"
	"testing"
	"time"
)

func TestTmpGoodput(t *testing.T) {
	if os.Getenv("TMP") == "" {
		t.Skip()
	}
	for _, cc := range []string{"bbr", "cubic"} {
		for _, l := range []float64{0, 0.001, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2} {
			p := Path{Rate: 100e6, RTT: 100 * time.Millisecond, Loss: l}
			st := time.Now()
			r, err := Experiment{Seed: 1, Path: p, Flows: []FlowSpec{{CC: cc}}, Duration: 30 * time.Second, Warmup: 5 * time.Second}.Run()
			if err != nil {
				t.Fatal(err)
			}
			f := r.Flows[0]
			t.Logf("%s loss %.3f: %.1f Mbit/s = %.1f%% of limit; retrans %.2f%% modes %d real %v", cc, l, f.Goodput/1e6, 100*f.Goodput/p.Limit(), 100*f.Retransmitted(), len(f.Modes), time.Since(st))
		}
	}
}
