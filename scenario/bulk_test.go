package scenario

import (
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
