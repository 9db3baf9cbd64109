package ip

import (
	"net/netip"
	"testing"

	"github.com/ustack/ustack/wire"
)

// FuzzInput feeds arbitrary frames to Input on an Ethernet interface and,
// unwrapped, on a LinkNone interface of a stack with addresses of both
// families, a route, a resolved and an unresolved neighbour and a
// transport. The stack must never panic, and every frame must be accounted.
func FuzzInput(f *testing.F) {
	a4, b4 := addr("10.0.0.1"), addr("10.0.0.2")
	a6, b6 := addr("2001:db8::1"), addr("2001:db8::2")
	tcp4 := ip4(b4, a4, wire.ProtoTCP, []byte("0123456789abcdefghij"))
	tcp6 := ip6(b6, a6, wire.ProtoTCP, 64, []byte("0123456789abcdefghij"))
	sent := ip4(a4, addr("192.0.2.1"), wire.ProtoTCP, []byte("0123456789abcdefghij"))
	sent6 := ip6(a6, addr("2001:db8:1::1"), wire.ProtoTCP, 64, []byte("0123456789abcdefghij"))
	arp := make([]byte, wire.ARPLen)
	(&wire.ARP{Op: wire.ARPRequest, SenderMAC: mac(2), SenderIP: b4, TargetIP: a4}).Encode(arp)
	ns := icmp6(b6, wire.SolicitedNodeMulticast(a6), wire.ICMPv6{Type: wire.ICMPv6NeighborSolicitation, Target: a6, SourceLL: mac(2), HasSourceLL: true})
	na := icmp6(addr("2001:db8::3"), a6, wire.ICMPv6{Type: wire.ICMPv6NeighborAdvertisement, Target: addr("2001:db8::3"), Solicited: true, TargetLL: mac(3), HasTargetLL: true})
	seeds := [][]byte{
		eth(mac(1), mac(2), wire.EtherTypeIPv4, tcp4),
		eth(mac(1), mac(2), wire.EtherTypeIPv6, tcp6),
		eth(wire.BroadcastMAC, mac(2), wire.EtherTypeARP, arp),
		eth(wire.IPv6MulticastMAC(wire.SolicitedNodeMulticast(a6)), mac(2), wire.EtherTypeIPv6, ip6(b6, wire.SolicitedNodeMulticast(a6), wire.ProtoICMPv6, 255, ns)),
		eth(mac(1), mac(3), wire.EtherTypeIPv6, ip6(addr("2001:db8::3"), a6, wire.ProtoICMPv6, 255, na)),
		eth(mac(1), mac(2), wire.EtherTypeIPv4, ip4(b4, a4, wire.ProtoICMP, icmp4(wire.ICMPv4{Type: wire.ICMPv4EchoRequest, ID: 1, Seq: 2, Data: []byte("hi")}))),
		eth(mac(1), mac(2), wire.EtherTypeIPv4, ip4(b4, a4, wire.ProtoICMP, icmp4(wire.ICMPv4{Type: wire.ICMPv4DestUnreachable, Code: wire.ICMPv4FragNeeded, MTU: 1200, Data: sent}))),
		eth(mac(1), mac(2), wire.EtherTypeIPv6, ip6(b6, a6, wire.ProtoICMPv6, 64, icmp6(b6, a6, wire.ICMPv6{Type: wire.ICMPv6EchoRequest, ID: 1, Seq: 2}))),
		eth(mac(1), mac(2), wire.EtherTypeIPv6, ip6(b6, a6, wire.ProtoICMPv6, 64, icmp6(b6, a6, wire.ICMPv6{Type: wire.ICMPv6PacketTooBig, MTU: 1300, Data: sent6}))),
		eth(mac(1), mac(2), wire.EtherTypeIPv6, ip6(b6, a6, wire.ProtoHopByHop, 64, append([]byte{wire.ProtoTCP, 0, 0, 0, 0, 0, 0, 0}, make([]byte, 20)...))),
		{},
		{0x45},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		s := NewStack(Config{Seed: 7})
		eDev, nDev := &fakeDev{}, &fakeDev{}
		e, err := s.AddInterface(InterfaceConfig{Name: "e", MAC: mac(1),
			Addrs:           []netip.Prefix{pfx("10.0.0.1/24"), pfx("2001:db8::1/64"), pfx("fe80::1/64")},
			StaticNeighbors: map[netip.Addr]wire.MAC{b4: mac(2)}}, eDev)
		if err != nil {
			t.Fatal(err)
		}
		n, err := s.AddInterface(InterfaceConfig{Name: "n", LinkType: LinkNone, Addrs: []netip.Prefix{pfx("10.1.0.1/24"), pfx("2001:db8:1::1/64")}}, nDev)
		if err != nil {
			t.Fatal(err)
		}
		s.AddRoute(Route{Dst: pfx("0.0.0.0/0"), Gateway: b4, NIC: e})
		s.AddRoute(Route{Dst: pfx("::/0"), Gateway: addr("2001:db8::3"), NIC: e})
		tr := &fakeTransport{proto: wire.ProtoTCP}
		s.RegisterTransport(tr)
		buf := make([]byte, HeaderRoom+20)
		s.WritePacket(netip.Addr{}, addr("2001:db8::3"), wire.ProtoTCP, 0, buf, HeaderRoom) // incomplete entry
		s.Input(0, e, frame)
		s.Input(1, n, frame)
		if len(frame) > wire.EthernetHeaderLen {
			s.Input(2, n, frame[wire.EthernetHeaderLen:])
		}
		for i := 3; i < 10; i++ {
			s.Poll(sec(float64(i)))
		}
		st := s.Stats()
		if st.RxFrames < 2 {
			t.Fatalf("frames not counted: %+v", st)
		}
		for _, c := range tr.ctls {
			if len(c.Payload) < 8 || !s.IsLocalAddr(c.Src) {
				t.Fatalf("bad control %+v", c)
			}
			if c.Kind == ControlPacketTooBig && (c.MTU < 576 || c.Dst.Is6() && c.MTU < 1280) {
				t.Fatalf("PMTU below minimum: %+v", c)
			}
		}
	})
}
