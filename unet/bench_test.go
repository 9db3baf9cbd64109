package unet

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/ustack/ustack/tcp"
)

// BenchmarkAcceptRate: connections per second a unet listener accepts (dial,
// accept, close both ends) between two stacks over the in-memory link.
func BenchmarkAcceptRate(b *testing.B) {
	p := newPair(b, pairOpts{tcp: tcp.Options{EphemeralPorts: [2]uint16{10000, 60000}, TimeWait: time.Millisecond}})
	l := listen(b, p.A)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	remote := remoteOf(l, addrA)
	b.ResetTimer()
	t0 := time.Now()
	for i := 0; i < b.N; i++ {
		c, err := p.B.DialTCP(b.Context(), netip.AddrPort{}, remote)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
	b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "conns/s")
}

// BenchmarkIdleConnMemory: heap per idle established connection (both ends,
// runtime wrappers included) at 10k connections. Target: under 8 KiB.
func BenchmarkIdleConnMemory(b *testing.B) {
	const n = 10000
	for i := 0; i < b.N; i++ {
		p := newPair(b, pairOpts{tcp: tcp.Options{EphemeralPorts: [2]uint16{10000, 60000}}})
		l, err := p.A.ListenTCP(netip.AddrPort{}, ListenOptions{Backlog: n})
		if err != nil {
			b.Fatal(err)
		}
		remote := remoteOf(l, addrA)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		conns := make([]*Conn, 0, 2*n)
		for j := 0; j < n; j++ {
			c, err := p.B.DialTCP(b.Context(), netip.AddrPort{}, remote)
			if err != nil {
				b.Fatal(err)
			}
			a, err := l.AcceptTCP()
			if err != nil {
				b.Fatal(err)
			}
			conns = append(conns, c, a)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(len(conns)), "B/conn")
		runtime.KeepAlive(conns)
		l.Close()
	}
}
