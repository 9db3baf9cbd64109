package scenario

import (
	"testing"
	"time"

	"github.com/ustack/ustack/tcp"
)

// BenchmarkVirtual60s measures how long a 60 s transfer over a 100 Mbit/s,
// 100 ms path (1% loss, 1-BDP buffer) takes to simulate. The design goal is
// well under a second of real time per run.
func BenchmarkVirtual60s(b *testing.B) {
	for _, cc := range []string{"bbr", "cubic"} {
		b.Run(cc, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				p := Path{Rate: 100e6, RTT: 100 * time.Millisecond, Loss: 0.01, ChecksumOffload: true}
				pr, err := NewPair(uint64(i+1), p, tcp.Options{}, tcp.Options{})
				if err != nil {
					b.Fatal(err)
				}
				f := pr.StartFlow(0, pr.A, pr.B, -1, FlowOptions{CC: cc})
				pr.Net.RunUntil(sec(60))
				if f.Err != nil {
					b.Fatal(f.Err)
				}
				b.ReportMetric(f.Goodput(0, sec(60))/1e6, "Mbit/s")
				b.ReportMetric(float64(pr.AB.Stats().PacketsIn+pr.BA.Stats().PacketsIn), "packets")
			}
		})
	}
}
