package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

// TestFairNetns runs the fairness mode end to end on a small cell: two
// kernel BBR downloads one second apart, measured 3 s to 6 s after the
// second start, once (about 15 s). It checks only that the run completes
// and both flows got something: the timing of a shared machine is too
// noisy for assertions about the shares.
func TestFairNetns(t *testing.T) {
	skipWithoutNetns(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Fair(ctx, FairOptions{
		Flows: []int{2}, Gaps: []time.Duration{time.Second}, After: 3 * time.Second, Window: 3 * time.Second,
		Reps: 1, Senders: []Sender{KernelBBR}, SkipAccuracy: true,
		Prefix: fmt.Sprintf("ufair%d", os.Getpid()%100000), Log: testLog{t},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", FairMarkdown(res))
	if len(res.Runs) != 1 {
		t.Fatalf("%d runs, want 1", len(res.Runs))
	}
	r := res.Runs[0]
	if r.Error != "" {
		t.Fatal(r.Error)
	}
	if len(r.Goodputs) != 2 {
		t.Fatalf("%d goodputs, want 2", len(r.Goodputs))
	}
	for i, g := range r.Goodputs {
		if g <= 0 {
			t.Errorf("flow %d: goodput %v", i+1, g)
		}
	}
}
