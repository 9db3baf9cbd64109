package scenario

import (
	"os"
	"testing"
	"time"

	"github.com/ustack/ustack/tcp"
)

func TestDebugStall(t *testing.T) {
	if os.Getenv("EXPLORE") == "" {
		t.Skip("set EXPLORE=1")
	}
	p := Path{Rate: 20e6, RTT: 40 * time.Millisecond, Loss: 0.2, RevLoss: 0.2}
	pr, _ := NewPair(2, p, tcp.Options{CongestionControl: "cubic"}, tcp.Options{CongestionControl: "cubic"})
	f := pr.StartFlow(0, pr.A, pr.B, 1<<20, FlowOptions{})
	for s := 1.0; s < 600 && !f.Done; s += 5 {
		pr.Net.RunUntil(sec(s))
		if f.Sender != nil {
			i := f.Sender.Info()
			t.Logf("t=%v st=%v recv=%d sent=%d cwnd=%d inflight=%d una-nxt=%d lost=%d sacked=%d rtxout=%d ca=%v rto=%v backoff=%d sndwnd=%d", s, i.State, f.Received, f.Sent, i.Cwnd, i.InFlight, i.Unacked, i.LostBytes, i.SackedBytes, i.RetransOut, i.CAState, i.RTO, i.Backoff, i.SndWnd)
			r := f.Receiver.Info()
			t.Logf("   rcv st=%v rcvwnd=%d recvq=%d", r.State, r.RcvWnd, r.RecvQueue)
		}
	}
}
