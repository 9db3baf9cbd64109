package ip

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/ustack/ustack/wire"
)

// routedPair returns host a with default routes (both families) via
// router r on a shared segment.
func routedPair(t *testing.T) (a, r *node, g *segment) {
	a = ethNode(t, 1, "10.0.0.1/24", "2001:db8::1/64")
	r = ethNode(t, 2, "10.0.0.254/24", "2001:db8::fe/64")
	a.s.AddRoute(Route{Dst: pfx("0.0.0.0/0"), Gateway: addr("10.0.0.254"), NIC: a.nic})
	a.s.AddRoute(Route{Dst: pfx("::/0"), Gateway: addr("2001:db8::fe"), NIC: a.nic})
	return a, r, &segment{nodes: []*node{a, r}}
}

func lastData(t *testing.T, g *segment, proto uint8) []byte {
	for i := len(g.log) - 1; i >= 0; i-- {
		p := parseFrame(t, g.log[i], LinkEthernet)
		if p.proto == proto {
			return g.log[i][wire.EthernetHeaderLen:]
		}
	}
	t.Fatal("no data packet")
	return nil
}

func TestPMTUFromFragNeeded(t *testing.T) {
	a, _, g := routedPair(t)
	far := addr("192.0.2.7")
	payload := bytes.Repeat([]byte{0xab}, 1400)
	buf := make([]byte, HeaderRoom+len(payload))
	copy(buf[HeaderRoom:], payload)
	a.s.WritePacket(netip.Addr{}, far, wire.ProtoTCP, 0, buf, HeaderRoom)
	g.run(t, 0)
	orig := lastData(t, g, wire.ProtoTCP)

	sendErr := func(at float64, mtu uint16, quote []byte) {
		m := icmp4(wire.ICMPv4{Type: wire.ICMPv4DestUnreachable, Code: wire.ICMPv4FragNeeded, MTU: mtu, Data: quote})
		a.s.Input(sec(at), a.nic, eth(mac(1), mac(2), wire.EtherTypeIPv4, ip4(addr("10.0.0.254"), addr("10.0.0.1"), wire.ProtoICMP, m)))
	}
	sendErr(1, 1400, orig[:28])
	if len(a.tcp.ctls) != 1 {
		t.Fatalf("controls %+v", a.tcp.ctls)
	}
	c := a.tcp.ctls[0]
	if c.Kind != ControlPacketTooBig || c.MTU != 1400 || c.Src != addr("10.0.0.1") || c.Dst != far ||
		c.Protocol != wire.ProtoTCP || !bytes.Equal(c.Payload, payload[:8]) {
		t.Fatalf("control %+v", c)
	}
	if ri, _ := a.s.FindRoute(far, netip.Addr{}); ri.MTU != 1400 {
		t.Fatalf("route MTU %d", ri.MTU)
	}
	if a.s.PathMTU(far) != 1400 || a.s.Stats().PMTUUpdates != 1 {
		t.Fatal("PMTU cache")
	}
	// Never below 576.
	sendErr(2, 300, orig[:28])
	if ri, _ := a.s.FindRoute(far, netip.Addr{}); ri.MTU != 576 || a.tcp.ctls[1].MTU != 576 {
		t.Fatalf("route MTU %d", ri.MTU)
	}
	// An increase is ignored.
	sendErr(3, 1450, orig[:28])
	if ri, _ := a.s.FindRoute(far, netip.Addr{}); ri.MTU != 576 {
		t.Fatalf("route MTU %d", ri.MTU)
	}
	// MTU 0 (old router): plateau below the quoted length (1420 → 1006).
	a.s.pmtu = map[netip.Addr]pmtuEntry{}
	sendErr(4, 0, orig[:28])
	if got := a.s.PathMTU(far); got != 1006 {
		t.Fatalf("plateau PMTU %d", got)
	}
	// Expiry after 10 minutes.
	a.s.Poll(sec(4) + 10*60*sec(1) + 1)
	if ri, _ := a.s.FindRoute(far, netip.Addr{}); ri.MTU != 1500 || len(a.s.pmtu) != 0 {
		t.Fatalf("route MTU %d after expiry, cache %v", ri.MTU, a.s.pmtu)
	}
	// Bad quotes: too short, not our source.
	n := len(a.tcp.ctls)
	now := 700.0
	sendErr(now, 1000, orig[:24])
	other := bytes.Clone(orig[:28])
	copy(other[12:16], []byte{10, 0, 0, 99})
	sendErr(now, 1000, other)
	sendErr(now, 1000, nil)
	if len(a.tcp.ctls) != n || a.s.Stats().ICMPBadQuote != 3 {
		t.Fatalf("bad quotes delivered: %d, stats %+v", len(a.tcp.ctls)-n, a.s.Stats())
	}
	// Port unreachable and time exceeded.
	m := icmp4(wire.ICMPv4{Type: wire.ICMPv4DestUnreachable, Code: wire.ICMPv4PortUnreachable, Data: orig[:28]})
	a.s.Input(sec(now), a.nic, eth(mac(1), mac(2), wire.EtherTypeIPv4, ip4(far, addr("10.0.0.1"), wire.ProtoICMP, m)))
	m = icmp4(wire.ICMPv4{Type: wire.ICMPv4TimeExceeded, Data: orig[:28]})
	a.s.Input(sec(now), a.nic, eth(mac(1), mac(2), wire.EtherTypeIPv4, ip4(addr("198.51.100.1"), addr("10.0.0.1"), wire.ProtoICMP, m)))
	if k := a.tcp.ctls[len(a.tcp.ctls)-2:]; k[0].Kind != ControlUnreachable || k[0].Code != wire.ICMPv4PortUnreachable || k[1].Kind != ControlTimeExceeded {
		t.Fatalf("controls %+v", k)
	}
}

func TestPMTUFromPacketTooBig(t *testing.T) {
	a, _, g := routedPair(t)
	far := addr("2001:db8:99::7")
	buf := make([]byte, HeaderRoom+1400)
	copy(buf[HeaderRoom:], "12345678")
	a.s.WritePacket(netip.Addr{}, far, wire.ProtoTCP, 0, buf, HeaderRoom)
	g.run(t, 0)
	orig := lastData(t, g, wire.ProtoTCP)
	rsrc, dst := addr("2001:db8::fe"), addr("2001:db8::1")
	ptb := func(mtu uint32, quote []byte) {
		m := icmp6(rsrc, dst, wire.ICMPv6{Type: wire.ICMPv6PacketTooBig, MTU: mtu, Data: quote})
		a.s.Input(sec(1), a.nic, eth(mac(1), mac(2), wire.EtherTypeIPv6, ip6(rsrc, dst, wire.ProtoICMPv6, 64, m)))
	}
	ptb(1300, orig[:1232])
	if len(a.tcp.ctls) != 1 {
		t.Fatalf("controls %+v (stats %+v)", a.tcp.ctls, a.s.Stats())
	}
	c := a.tcp.ctls[0]
	if c.Kind != ControlPacketTooBig || c.MTU != 1300 || c.Dst != far || c.Src != dst || string(c.Payload[:8]) != "12345678" {
		t.Fatalf("control %+v", c)
	}
	if ri, _ := a.s.FindRoute(far, netip.Addr{}); ri.MTU != 1300 {
		t.Fatalf("route MTU %d", ri.MTU)
	}
	ptb(1000, orig[:48])
	if ri, _ := a.s.FindRoute(far, netip.Addr{}); ri.MTU != 1280 {
		t.Fatalf("route MTU %d, want clamp to 1280", ri.MTU)
	}
	// Quote too short for the transport header.
	ptb(1280, orig[:44])
	if len(a.tcp.ctls) != 2 || a.s.Stats().ICMPBadQuote != 1 {
		t.Fatalf("short quote: %d controls, stats %+v", len(a.tcp.ctls), a.s.Stats())
	}
	// Unreachable.
	m := icmp6(rsrc, dst, wire.ICMPv6{Type: wire.ICMPv6DestUnreachable, Code: wire.ICMPv6PortUnreachable, Data: orig[:48]})
	a.s.Input(sec(1), a.nic, eth(mac(1), mac(2), wire.EtherTypeIPv6, ip6(rsrc, dst, wire.ProtoICMPv6, 64, m)))
	if c := a.tcp.ctls[len(a.tcp.ctls)-1]; c.Kind != ControlUnreachable || c.Code != wire.ICMPv6PortUnreachable {
		t.Fatalf("control %+v", c)
	}
}

func TestZeroAllocs(t *testing.T) {
	dev := &discardDev{}
	s := NewStack(Config{})
	nic, err := s.AddInterface(InterfaceConfig{Name: "e", MAC: mac(1), Addrs: []netip.Prefix{pfx("10.0.0.1/24"), pfx("2001:db8::1/64")}}, dev)
	if err != nil {
		t.Fatal(err)
	}
	tr := &fakeTransport{proto: wire.ProtoTCP, noRecord: true}
	s.RegisterTransport(tr)
	// Resolve the neighbours the normal way (ARP reply / NA).
	buf := make([]byte, HeaderRoom+1000)
	for _, dst := range []string{"10.0.0.2", "2001:db8::2"} {
		if err := s.WritePacket(netip.Addr{}, addr(dst), wire.ProtoTCP, 0, buf, HeaderRoom); err != nil {
			t.Fatal(err)
		}
	}
	rep := wire.ARP{Op: wire.ARPReply, SenderMAC: mac(2), SenderIP: addr("10.0.0.2"), TargetMAC: mac(1), TargetIP: addr("10.0.0.1")}
	pl := make([]byte, wire.ARPLen)
	rep.Encode(pl)
	s.Input(0, nic, eth(mac(1), mac(2), wire.EtherTypeARP, pl))
	na := icmp6(addr("2001:db8::2"), addr("2001:db8::1"), wire.ICMPv6{Type: wire.ICMPv6NeighborAdvertisement, Target: addr("2001:db8::2"), Solicited: true, Override: true, TargetLL: mac(2), HasTargetLL: true})
	s.Input(0, nic, eth(mac(1), mac(2), wire.EtherTypeIPv6, ip6(addr("2001:db8::2"), addr("2001:db8::1"), wire.ProtoICMPv6, 255, na)))
	if s.Stats().NeighborResolved != 2 {
		t.Fatalf("not resolved: %+v", s.Stats())
	}
	src4, dst4 := addr("10.0.0.1"), addr("10.0.0.2")
	src6, dst6 := addr("2001:db8::1"), addr("2001:db8::2")
	in4 := eth(mac(1), mac(2), wire.EtherTypeIPv4, ip4(dst4, src4, wire.ProtoTCP, make([]byte, 1000)))
	in6 := eth(mac(1), mac(2), wire.EtherTypeIPv6, ip6(dst6, src6, wire.ProtoTCP, 64, make([]byte, 1000)))
	sent := dev.n
	allocs := testing.AllocsPerRun(1000, func() {
		if err := s.WritePacket(src4, dst4, wire.ProtoTCP, 0, buf, HeaderRoom); err != nil {
			t.Fatal(err)
		}
		if err := s.WritePacket(src6, dst6, wire.ProtoTCP, 0, buf, HeaderRoom); err != nil {
			t.Fatal(err)
		}
		s.Input(1, nic, in4)
		s.Input(1, nic, in6)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per send+receive", allocs)
	}
	if dev.n-sent != 2*1001 || tr.count != 2*1001 {
		t.Fatalf("sent %d received %d", dev.n-sent, tr.count)
	}
}

func BenchmarkInputTCP(b *testing.B) {
	s := NewStack(Config{})
	nic, _ := s.AddInterface(InterfaceConfig{Name: "e", MAC: mac(1), Addrs: []netip.Prefix{pfx("10.0.0.1/24")}}, &discardDev{})
	s.RegisterTransport(&fakeTransport{proto: wire.ProtoTCP, noRecord: true})
	in := eth(mac(1), mac(2), wire.EtherTypeIPv4, ip4(addr("10.0.0.2"), addr("10.0.0.1"), wire.ProtoTCP, make([]byte, 1400)))
	b.ReportAllocs()
	for b.Loop() {
		s.Input(1, nic, in)
	}
}

func BenchmarkWritePacket(b *testing.B) {
	s := NewStack(Config{})
	s.AddInterface(InterfaceConfig{Name: "e", MAC: mac(1), Addrs: []netip.Prefix{pfx("10.0.0.1/24")},
		StaticNeighbors: map[netip.Addr]wire.MAC{addr("10.0.0.2"): mac(2)}}, &discardDev{})
	buf := make([]byte, HeaderRoom+1400)
	src, dst := addr("10.0.0.1"), addr("10.0.0.2")
	b.ReportAllocs()
	for b.Loop() {
		s.WritePacket(src, dst, wire.ProtoTCP, 0, buf, HeaderRoom)
	}
}
