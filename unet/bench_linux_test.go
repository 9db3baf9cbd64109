package unet

// Local throughput and cost: what a single connection gets through a TAP
// with and without virtio offloads, next to the kernel over a veth pair, and
// what each costs in CPU time per GB moved. Root only (namespaces, taps).
//
//	go test ./unet -run XXX -bench 'TapGoodput|KernelVeth' -benchtime 3x

import (
	"io"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/ustack/ustack/internal/netnstest"
	"github.com/ustack/ustack/ip"
	"github.com/ustack/ustack/link"
)

const benchBytes = 512 << 20

// cpuTime returns the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// sendN writes n bytes to c and closes it.
func sendN(c net.Conn, n int) error {
	buf := make([]byte, 256<<10)
	for n > 0 {
		m, err := c.Write(buf[:min(n, len(buf))])
		if err != nil {
			return err
		}
		n -= m
	}
	return c.Close()
}

// drainOne accepts one connection on l, reads it to EOF and reports the
// result on the returned channel.
func drainOne(l net.Listener) <-chan error {
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- err
			return
		}
		_, err = io.Copy(io.Discard, c)
		c.Close()
		done <- err
	}()
	return done
}

// measure runs f (which moves n bytes) and reports goodput and CPU per GB.
func measure(b *testing.B, n int, f func() error) {
	b.Helper()
	var wall, cpu time.Duration
	for i := 0; i < b.N; i++ {
		c0, t0 := cpuTime(), time.Now()
		if err := f(); err != nil {
			b.Fatal(err)
		}
		wall += time.Since(t0)
		cpu += cpuTime() - c0
	}
	gb := float64(n) * float64(b.N) / 1e9
	b.ReportMetric(gb*8/wall.Seconds(), "Gbit/s")
	b.ReportMetric(cpu.Seconds()/gb, "CPU-s/GB")
}

// offloadCases are the link feature sets a benchmark runs with.
var offloadCases = []struct {
	name    string
	offload link.Features
}{{"plain", 0}, {"offload-0x8883", 0x8883}}

// benchStack is a stack with l attached at addr; t.Cleanup closes it.
func benchStack(b *testing.B, l link.Link, addr string) *Stack {
	b.Helper()
	s, err := New(Config{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if _, err := s.AddLink(l, ip.InterfaceConfig{Addrs: []netip.Prefix{netip.MustParsePrefix(addr)}}); err != nil {
		b.Fatal(err)
	}
	return s
}

// benchTap is a fresh namespace whose kernel has 10.9.0.1/24 on tap ub0,
// and a stack on the tap at 10.9.0.2/24.
func benchTap(b *testing.B, offload link.Features) (*netnstest.NS, *Stack) {
	b.Helper()
	ns := newTestNetns(b)
	var tap *link.Tap
	if err := ns.Run(func() (err error) {
		tap, err = link.OpenTap(link.TapConfig{Name: "ub0", Up: true, Offload: offload})
		return err
	}); err != nil {
		b.Fatal(err)
	}
	ns.IP("addr", "add", "10.9.0.1/24", "dev", "ub0")
	ns.WaitRunning("ub0")
	return ns, benchStack(b, tap, "10.9.0.2/24")
}

// bulk moves benchBytes over a connection from dial to l's first accepted
// connection and waits until the receiver saw the end.
func bulk(l net.Listener, dial func() (net.Conn, error)) error {
	done := drainOne(l)
	c, err := dial()
	if err != nil {
		return err
	}
	if err := sendN(c, benchBytes); err != nil {
		return err
	}
	return <-done
}

// dialIn dials addr from inside ns (the kernel's TCP).
func dialIn(ns *netnstest.NS, addr string) func() (net.Conn, error) {
	return func() (c net.Conn, err error) {
		err = ns.Run(func() (err error) {
			c, err = net.Dial("tcp", addr)
			return err
		})
		return c, err
	}
}

// BenchmarkTapGoodput: a unet sender (as ustack serving a download) to a
// kernel receiver in a fresh namespace, through a tap.
func BenchmarkTapGoodput(b *testing.B) {
	for _, v := range offloadCases {
		b.Run(v.name, func(b *testing.B) {
			ns, s := benchTap(b, v.offload)
			kl := ns.Listen("tcp", "10.9.0.1:9000")
			b.ResetTimer()
			measure(b, benchBytes, func() error {
				return bulk(kl, func() (net.Conn, error) { return s.Dial("tcp", "10.9.0.1:9000") })
			})
		})
	}
}

// BenchmarkTapReceive: the other direction, a kernel sender to a unet
// receiver (as ustack receiving an upload) through a tap.
func BenchmarkTapReceive(b *testing.B) {
	for _, v := range offloadCases {
		b.Run(v.name, func(b *testing.B) {
			ns, s := benchTap(b, v.offload)
			ul, err := s.Listen("tcp", "10.9.0.2:9000")
			if err != nil {
				b.Fatal(err)
			}
			defer ul.Close()
			b.ResetTimer()
			measure(b, benchBytes, func() error { return bulk(ul, dialIn(ns, "10.9.0.2:9000")) })
			st := s.Stats()
			b.ReportMetric(float64(st.TCP.SegsIn)/float64(st.TCP.SegsOut), "segs-in/ACK")
		})
	}
}

// BenchmarkPacketGoodput: a unet sender on an AF_PACKET raw link (the
// raw-socket mode of `ustack run`) at one end of a veth pair, to a kernel
// receiver in another namespace at the other end.
func BenchmarkPacketGoodput(b *testing.B) {
	for _, v := range offloadCases {
		b.Run(v.name, func(b *testing.B) {
			a, z := newTestNetns(b), newTestNetns(b)
			// The ustack side's veth has no kernel address: the kernel there
			// ignores the frames the packet socket also sees.
			netnstest.Veth(a, "kp0", "10.9.3.9/32", z, "kp1", "10.9.2.1/24")
			a.IP("addr", "flush", "dev", "kp0")
			a.WaitRunning("kp0")
			z.WaitRunning("kp1")
			var pl *link.Packet
			if err := a.Run(func() (err error) {
				pl, err = link.OpenPacket(link.PacketConfig{Interface: "kp0", Mode: link.PacketRaw, Offload: v.offload})
				return err
			}); err != nil {
				b.Fatal(err)
			}
			s := benchStack(b, pl, "10.9.2.2/24")
			kl := z.Listen("tcp", "10.9.2.1:9000")
			b.ResetTimer()
			measure(b, benchBytes, func() error {
				return bulk(kl, func() (net.Conn, error) { return s.Dial("tcp", "10.9.2.1:9000") })
			})
		})
	}
}

// BenchmarkKernelVeth is the baseline: the kernel's own TCP between two
// namespaces joined by a veth pair, in the same process.
func BenchmarkKernelVeth(b *testing.B) {
	a, z := newTestNetns(b), newTestNetns(b)
	netnstest.Veth(a, "kv0", "10.9.1.1/24", z, "kv1", "10.9.1.2/24")
	a.WaitRunning("kv0")
	z.WaitRunning("kv1")
	kl := z.Listen("tcp", "10.9.1.2:9000")
	b.ResetTimer()
	measure(b, benchBytes, func() error { return bulk(kl, dialIn(a, "10.9.1.2:9000")) })
}
