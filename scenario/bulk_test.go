package scenario

import (
	"fmt"
	"testing"
	"time"

	"github.com/ustack/ustack/clock"
	"github.com/ustack/ustack/tcp"
)

func sec(s float64) clock.Time { return clock.Time(s * float64(time.Second)) }

func TestBulkSmoke(t *testing.T) {
	p := Path{Rate: 10e6, RTT: 20 * time.Millisecond}
	pr, err := NewPair(1, p, tcp.Options{}, tcp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := pr.StartFlow(0, pr.A, pr.B, 1<<20, FlowOptions{Hash: true})
	if err := pr.RunFlows(sec(30), f); err != nil {
		t.Fatal(err)
	}
	t.Logf("1 MiB in %v", f.End.Sub(f.Start))
}

// TestBulkMatrix moves data over hostile paths with every algorithm and
// checks that every byte arrives, in order, and both sides close cleanly.
func TestBulkMatrix(t *testing.T) {
	type tc struct {
		name string
		path Path
		size int64
	}
	base := Path{Rate: 20e6, RTT: 40 * time.Millisecond}
	with := func(f func(*Path)) Path { p := base; f(&p); return p }
	cases := []tc{
		{"clean-10MB", base, 10 << 20},
		{"loss1-4MB", with(func(p *Path) { p.Loss = 0.01 }), 4 << 20},
		{"loss5-2MB", with(func(p *Path) { p.Loss = 0.05; p.RevLoss = 0.05 }), 2 << 20},
		{"loss20-1MB", with(func(p *Path) { p.Loss = 0.20; p.RevLoss = 0.20 }), 1 << 20},
		{"reorder-4MB", with(func(p *Path) { p.Reorder = 0.05; p.ReorderDelay = 5 * time.Millisecond }), 4 << 20},
		{"jitter-2MB", with(func(p *Path) { p.Jitter = 8 * time.Millisecond }), 2 << 20},
		{"dup-4MB", with(func(p *Path) { p.Duplicate = 0.05 }), 4 << 20},
		{"smallbuf-4MB", with(func(p *Path) { p.Buffer = 8 * 1514 }), 4 << 20},
		{"everything-2MB", with(func(p *Path) {
			p.Loss, p.RevLoss, p.Reorder, p.ReorderDelay, p.Duplicate, p.Buffer = 0.03, 0.02, 0.03, 3*time.Millisecond, 0.02, 20*1514
		}), 2 << 20},
	}
	for _, cc := range []string{"cubic", "reno", "bbr"} {
		for _, c := range cases {
			for seed := uint64(1); seed <= 2; seed++ {
				name := fmt.Sprintf("%s/%s/seed%d", cc, c.name, seed)
				t.Run(name, func(t *testing.T) {
					pr, err := NewPair(seed, c.path, tcp.Options{CongestionControl: cc}, tcp.Options{CongestionControl: cc})
					if err != nil {
						t.Fatal(err)
					}
					f := pr.StartFlow(0, pr.A, pr.B, c.size, FlowOptions{Hash: true})
					if err := pr.RunFlows(sec(600), f); err != nil {
						t.Fatal(err)
					}
				})
			}
		}
	}
}

// TestBulkBothWaysConcurrent runs uploads and downloads at once.
func TestBulkBothWaysConcurrent(t *testing.T) {
	p := Path{Rate: 50e6, RTT: 30 * time.Millisecond, Loss: 0.005, RevLoss: 0.005}
	pr, err := NewPair(7, p, tcp.Options{}, tcp.Options{CongestionControl: "bbr"})
	if err != nil {
		t.Fatal(err)
	}
	flows := []*Flow{
		pr.StartFlow(0, pr.A, pr.B, 8<<20, FlowOptions{Hash: true}),
		pr.StartFlow(sec(0.1), pr.B, pr.A, 8<<20, FlowOptions{Hash: true}),
		pr.StartFlow(sec(0.3), pr.A, pr.B, 3<<20, FlowOptions{Hash: true, CC: "reno"}),
		pr.StartFlow(sec(0.5), pr.B, pr.A, 3<<20, FlowOptions{Hash: true, CC: "cubic"}),
	}
	if err := pr.RunFlows(sec(600), flows...); err != nil {
		t.Fatal(err)
	}
}

// TestBulk100MB moves 100 MB over a lossy long path.
func TestBulk100MB(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	p := Path{Rate: 100e6, RTT: 100 * time.Millisecond, Loss: 0.01}
	pr, err := NewPair(3, p, tcp.Options{}, tcp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := pr.StartFlow(0, pr.A, pr.B, 100<<20, FlowOptions{Hash: true, CC: "bbr"})
	if err := pr.RunFlows(sec(600), f); err != nil {
		t.Fatal(err)
	}
	t.Logf("100 MB in %v (%.1f Mbit/s)", f.End.Sub(f.Start), float64(f.Received)*8/f.End.Sub(f.Start).Seconds()/1e6)
}
