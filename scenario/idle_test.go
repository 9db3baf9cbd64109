package scenario

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/ustack/ustack/clock"
	"github.com/ustack/ustack/tcp"
)

// openIdle opens n established, idle connections from B to a listener on A
// and returns the network's pair (hosts keep both ends of each connection).
func openIdle(tb testing.TB, n int) (*Pair, []*tcp.Conn) {
	p := Path{Rate: 1e9, RTT: time.Millisecond, Buffer: 1 << 20}
	pr, err := NewPair(1, p, tcp.Options{}, tcp.Options{EphemeralPorts: [2]uint16{10000, 60000}})
	if err != nil {
		tb.Fatal(err)
	}
	l, err := pr.A.TCP.Listen(netip.AddrPortFrom(pr.AddrA, 80), n)
	if err != nil {
		tb.Fatal(err)
	}
	var conns []*tcp.Conn
	pr.Net.At(0, func(clock.Time) {
		for i := 0; i < n; i++ {
			c, err := pr.B.TCP.Connect(netip.AddrPort{}, netip.AddrPortFrom(pr.AddrA, 80))
			if err != nil {
				tb.Fatal(err)
			}
			conns = append(conns, c)
		}
		pr.Net.Wake(pr.B)
	})
	pr.Net.RunUntil(sec(2))
	for {
		c, err := l.Accept()
		if err != nil {
			break
		}
		conns = append(conns, c)
	}
	if len(conns) != 2*n {
		tb.Fatalf("established %d of %d connection ends", len(conns), 2*n)
	}
	return pr, conns
}

func TestIdleConnections(t *testing.T) {
	_, conns := openIdle(t, 500)
	for _, c := range conns {
		if c.State() != tcp.StateEstablished {
			t.Fatalf("state %v", c.State())
		}
	}
}

// BenchmarkIdleConnMemory reports heap bytes per idle established
// connection end (the target is under 8 KiB), measured over 10k connections.
func BenchmarkIdleConnMemory(b *testing.B) {
	const n = 10000
	for i := 0; i < b.N; i++ {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		pr, conns := openIdle(b, n)
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(len(conns)), "B/conn")
		runtime.KeepAlive(pr)
		runtime.KeepAlive(conns)
	}
}
