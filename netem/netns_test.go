package netem_test

// Root-only tests in throw-away namespaces (see package topo): the
// emulator between a kernel client and a kernel server. They print what
// they measure and assert only gross correctness, because timing on a
// shared machine is noisy.

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/ustack/ustack/netem"
	"github.com/ustack/ustack/netem/e2e"
	"github.com/ustack/ustack/netem/topo"
	"github.com/ustack/ustack/sim"
)

func newTopo(t *testing.T) *topo.Topo {
	t.Helper()
	if err := topo.Available(); err != nil {
		t.Skip(err)
	}
	tp, err := topo.New(fmt.Sprintf("ust%d", os.Getpid()%100000))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tp.Close(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return tp
}

func startBridge(t *testing.T, tp *topo.Topo, ab, ba sim.PathConfig) *netem.Bridge {
	t.Helper()
	br, err := tp.Bridge(netem.Config{AB: ab, BA: ba, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a, b := br.Stats()
		t.Logf("%s\n%s", netem.FormatStats(a), netem.FormatStats(b))
		br.Close()
	})
	return br
}

func startServer(t *testing.T, tp *topo.Topo) *e2e.Server {
	t.Helper()
	srv, err := e2e.Listen(tp.Server, topo.ServerAddr.String()+":5201")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// TestPathNetns: a 10 Mbit/s × 40 ms path gives about 40 ms of RTT when
// idle and about 10 Mbit/s of goodput to a bulk download.
func TestPathNetns(t *testing.T) {
	tp := newTopo(t)
	const rate = 10_000_000
	const rtt = 40 * time.Millisecond
	buf := netem.BDP(rate, rtt)
	p := sim.PathConfig{Rate: rate, Delay: rtt / 2, Buffer: buf}
	startBridge(t, tp, p, p)
	startServer(t, tp)

	ping, err := e2e.StartPing(tp.Client, topo.ServerAddr.AsSlice(), 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	idle, sent := ping.Stop()
	if len(idle) < sent/2 {
		t.Fatalf("%d of %d pings answered", len(idle), sent)
	}
	med := e2e.Quantile(idle, 0.5)
	t.Logf("idle RTT: %d samples, min %v median %v max %v (configured %v)", len(idle), idle[0], med, idle[len(idle)-1], rtt)
	if med < rtt || med > rtt+10*time.Millisecond {
		t.Errorf("idle RTT median %v, want about %v", med, rtt)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, cc := range []string{"cubic", "bbr"} {
		tr, err := e2e.RunTransfer(ctx, tp.Client, topo.ServerAddr.String()+":5201", e2e.RunOptions{Download: true, CC: cc, Duration: 4 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		g := tr.Goodput()
		t.Logf("%s download: %.2f Mbit/s over %v (path %d Mbit/s)", cc, g/1e6, tr.Window.Round(time.Millisecond), rate/1_000_000)
		if g < rate/2 || g > rate*1.05 {
			t.Errorf("%s goodput %.2f Mbit/s, want within 50%% below %d Mbit/s", cc, g/1e6, rate/1_000_000)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestThroughputNetns measures the emulator's forwarding capacity without
// rate, delay or loss. It is long, so it runs only with
// USTACK_NETEM_THROUGHPUT=1.
func TestThroughputNetns(t *testing.T) {
	if os.Getenv("USTACK_NETEM_THROUGHPUT") == "" {
		t.Skip("set USTACK_NETEM_THROUGHPUT=1 to measure forwarding capacity")
	}
	tp := newTopo(t)
	startBridge(t, tp, sim.PathConfig{}, sim.PathConfig{})
	startServer(t, tp)
	ctx := context.Background()
	for _, dl := range []bool{true, false} {
		tr, err := e2e.RunTransfer(ctx, tp.Client, topo.ServerAddr.String()+":5201", e2e.RunOptions{Download: dl, CC: "cubic", Duration: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		retr := uint32(0)
		if tr.Sender != nil {
			retr = tr.Sender.TotalRetrans
		}
		t.Logf("download=%v: %.0f Mbit/s (client retrans %d)", dl, tr.Goodput()/1e6, retr)
	}
}
