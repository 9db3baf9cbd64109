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

// BenchmarkTapGoodput: a unet sender (as ustack serving a download) to a
// kernel receiver in a fresh namespace, through a tap.
func BenchmarkTapGoodput(b *testing.B) {
	for _, v := range []struct {
		name    string
		offload link.Features
	}{{"plain", 0}, {"offload-0x8883", 0x8883}} {
		b.Run(v.name, func(b *testing.B) {
			ns := newTestNetns(b)
			var tap *link.Tap
			if err := ns.Run(func() (err error) {
				tap, err = link.OpenTap(link.TapConfig{Name: "ub0", Up: true, Offload: v.offload})
				return err
			}); err != nil {
				b.Fatal(err)
			}
			ns.IP("addr", "add", "10.9.0.1/24", "dev", "ub0")
			ns.WaitRunning("ub0")
			s, err := New(Config{Name: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if _, err := s.AddLink(tap, ip.InterfaceConfig{Addrs: []netip.Prefix{netip.MustParsePrefix("10.9.0.2/24")}}); err != nil {
				b.Fatal(err)
			}
			kl := ns.Listen("tcp", "10.9.0.1:9000")
			b.ResetTimer()
			measure(b, benchBytes, func() error {
				done := drainOne(kl)
				c, err := s.Dial("tcp", "10.9.0.1:9000")
				if err != nil {
					return err
				}
				if err := sendN(c, benchBytes); err != nil {
					return err
				}
				return <-done
			})
		})
	}
}

// BenchmarkTapReceive: the other direction, a kernel sender to a unet
// receiver (as ustack receiving an upload) through a tap.
func BenchmarkTapReceive(b *testing.B) {
	for _, v := range []struct {
		name    string
		offload link.Features
	}{{"plain", 0}, {"offload-0x8883", 0x8883}} {
		b.Run(v.name, func(b *testing.B) {
			ns := newTestNetns(b)
			var tap *link.Tap
			if err := ns.Run(func() (err error) {
				tap, err = link.OpenTap(link.TapConfig{Name: "ub0", Up: true, Offload: v.offload})
				return err
			}); err != nil {
				b.Fatal(err)
			}
			ns.IP("addr", "add", "10.9.0.1/24", "dev", "ub0")
			ns.WaitRunning("ub0")
			s, err := New(Config{Name: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if _, err := s.AddLink(tap, ip.InterfaceConfig{Addrs: []netip.Prefix{netip.MustParsePrefix("10.9.0.2/24")}}); err != nil {
				b.Fatal(err)
			}
			ul, err := s.Listen("tcp", "10.9.0.2:9000")
			if err != nil {
				b.Fatal(err)
			}
			defer ul.Close()
			b.ResetTimer()
			measure(b, benchBytes, func() error {
				done := drainOne(ul)
				var c net.Conn
				if err := ns.Run(func() (err error) {
					c, err = net.Dial("tcp", "10.9.0.2:9000")
					return err
				}); err != nil {
					return err
				}
				if err := sendN(c, benchBytes); err != nil {
					return err
				}
				return <-done
			})
			st := s.Stats()
			b.ReportMetric(float64(st.TCP.SegsIn)/float64(st.TCP.SegsOut), "segs-in/ACK")
		})
	}
}

// BenchmarkPacketGoodput: a unet sender on an AF_PACKET raw link (the
// raw-socket mode of `ustack run`) at one end of a veth pair, to a kernel
// receiver in another namespace at the other end.
func BenchmarkPacketGoodput(b *testing.B) {
	for _, v := range []struct {
		name    string
		offload link.Features
	}{{"plain", 0}, {"vnet-0x8883", 0x8883}} {
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
			s, err := New(Config{Name: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if _, err := s.AddLink(pl, ip.InterfaceConfig{Addrs: []netip.Prefix{netip.MustParsePrefix("10.9.2.2/24")}}); err != nil {
				b.Fatal(err)
			}
			kl := z.Listen("tcp", "10.9.2.1:9000")
			b.ResetTimer()
			measure(b, benchBytes, func() error {
				done := drainOne(kl)
				c, err := s.Dial("tcp", "10.9.2.1:9000")
				if err != nil {
					return err
				}
				if err := sendN(c, benchBytes); err != nil {
					return err
				}
				return <-done
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
	measure(b, benchBytes, func() error {
		done := drainOne(kl)
		var c net.Conn
		if err := a.Run(func() (err error) {
			c, err = net.Dial("tcp", "10.9.1.2:9000")
			return err
		}); err != nil {
			return err
		}
		if err := sendN(c, benchBytes); err != nil {
			return err
		}
		return <-done
	})
}
