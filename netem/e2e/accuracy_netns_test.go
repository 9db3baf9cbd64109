package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/ustack/ustack/netem/topo"
)

// TestAccuracyNetns is the emulator accuracy check of the benchmark as a
// root-only test: it prints the verdict against the strict criteria (BBR
// ≥ 95 Mbit/s on a lossless 100 Mbit/s path, idle ping RTT within 1 ms of
// the configured one) but fails only on gross errors, since a shared
// machine's timing is noisy.
func TestAccuracyNetns(t *testing.T) {
	skipWithoutNetns(t)
	tp, err := topo.New(fmt.Sprintf("uacc%d", os.Getpid()%100000))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := tp.Close(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}()
	srv, err := Listen(tp.Server, topo.ServerAddr.String()+":5201")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := MeasureAccuracy(ctx, tp, srv, 6*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s\n%s\n%s", a, a.Summary[0], a.Summary[1])
	if !a.RTTOK || !a.RateOK {
		t.Logf("strict criteria not met (a busy machine?)")
	}
	rtt := a.Path.RTT
	if a.IdleRTT50 < rtt || a.IdleRTT50 > rtt+5*time.Millisecond {
		t.Errorf("idle RTT %v, configured %v", a.IdleRTT50, rtt)
	}
	if a.SteadyGoodput < 0.7*float64(a.Path.Rate) || a.SteadyGoodput > float64(a.Path.Rate) {
		t.Errorf("BBR goodput %.1f Mbit/s on a %v path", a.SteadyGoodput/1e6, a.Path)
	}
}
