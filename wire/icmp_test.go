package wire

import (
	"bytes"
	"net/netip"
	"reflect"
	"testing"
)

// ICMPv4 echo request, ID 0x1234 seq 1, data "abcdefgh" (checksum 0x5435).
var icmpv4Echo = []byte{
	0x08, 0x00, 0x54, 0x35, 0x12, 0x34, 0x00, 0x01,
	0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
}

// ICMPv6 echo request 2001:db8::1 -> 2001:db8::2, ID 0x4242 seq 7, "ping".
var icmpv6Echo = []byte{0x80, 0x00, 0x03, 0x2a, 0x42, 0x42, 0x00, 0x07, 0x70, 0x69, 0x6e, 0x67}

// Neighbor solicitation fe80::1 -> ff02::1:ff00:2 for target fe80::2 with
// source link-layer address 02:00:00:00:00:01 (checksum 0x7a97).
var (
	nsSrc, nsDst = netip.MustParseAddr("fe80::1"), netip.MustParseAddr("ff02::1:ff00:2")
	icmpv6NS     = []byte{
		0x87, 0x00, 0x7a, 0x97, 0x00, 0x00, 0x00, 0x00,
		0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
		0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
	}
)

func TestICMPv4Echo(t *testing.T) {
	m, err := ParseICMPv4(icmpv4Echo)
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != ICMPv4EchoRequest || m.ID != 0x1234 || m.Seq != 1 || string(m.Data) != "abcdefgh" {
		t.Fatalf("%+v", m)
	}
	b := make([]byte, m.Len())
	if n := m.Encode(b); n != 16 || !bytes.Equal(b, icmpv4Echo) {
		t.Fatalf("encode % x", b)
	}
	bad := append([]byte(nil), icmpv4Echo...)
	bad[9] ^= 1
	if _, err := ParseICMPv4(bad); err != ErrBadChecksum {
		t.Fatal(err)
	}
	if _, err := ParseICMPv4(icmpv4Echo[:7]); err != ErrTruncated {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		m, _ := ParseICMPv4(icmpv4Echo)
		m.Encode(b)
	}); n != 0 {
		t.Fatalf("allocs %v", n)
	}
}

func TestICMPv4FragNeeded(t *testing.T) {
	quote := withPayload(ipv4TCPHeader, 28)[:28]
	m := ICMPv4{Type: ICMPv4DestUnreachable, Code: ICMPv4FragNeeded, MTU: 1400, Data: quote}
	b := make([]byte, m.Len())
	m.Encode(b)
	if b[6] != 0x05 || b[7] != 0x78 {
		t.Fatalf("mtu bytes % x", b[4:8])
	}
	got, err := ParseICMPv4(b)
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("%+v %v", got, err)
	}
	ih, tp, err := ParseQuotedIPv4(got.Data)
	if err != nil || ih.Protocol != ProtoTCP || len(tp) != 8 {
		t.Fatal(err)
	}
}

func TestICMPv6Echo(t *testing.T) {
	m, err := ParseICMPv6(ipv6Src, ipv6Dst, icmpv6Echo)
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != ICMPv6EchoRequest || m.ID != 0x4242 || m.Seq != 7 || string(m.Data) != "ping" {
		t.Fatalf("%+v", m)
	}
	b := make([]byte, m.Len())
	if n := m.Encode(ipv6Src, ipv6Dst, b); n != len(icmpv6Echo) || !bytes.Equal(b, icmpv6Echo) {
		t.Fatalf("encode % x", b)
	}
	// Wrong pseudo-header (addresses swapped is symmetric, so change one).
	if _, err := ParseICMPv6(ipv6Src, nsDst, icmpv6Echo); err != ErrBadChecksum {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		m, _ := ParseICMPv6(ipv6Src, ipv6Dst, icmpv6Echo)
		m.Encode(ipv6Src, ipv6Dst, b)
	}); n != 0 {
		t.Fatalf("allocs %v", n)
	}
}

func TestICMPv6NS(t *testing.T) {
	m, err := ParseICMPv6(nsSrc, nsDst, icmpv6NS)
	if err != nil {
		t.Fatal(err)
	}
	want := ICMPv6{Type: ICMPv6NeighborSolicitation, Target: netip.MustParseAddr("fe80::2"),
		SourceLL: MAC{2, 0, 0, 0, 0, 1}, HasSourceLL: true}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("%+v", m)
	}
	b := make([]byte, m.Len())
	m.Encode(nsSrc, nsDst, b)
	if !bytes.Equal(b, icmpv6NS) {
		t.Fatalf("encode % x", b)
	}
	if SolicitedNodeMulticast(m.Target) != netip.MustParseAddr("ff02::1:ff00:2") {
		t.Fatal("solicited-node")
	}
	if IPv6MulticastMAC(nsDst) != (MAC{0x33, 0x33, 0xff, 0, 0, 2}) {
		t.Fatal("multicast MAC")
	}
	if SolicitedNodeMulticast(netip.MustParseAddr("2001:db8::1:2:3:4567:89ab")) != netip.MustParseAddr("ff02::1:ff67:89ab") {
		t.Fatal("solicited-node 2")
	}
}

// fixICMPv6 recomputes the checksum of an ICMPv6 message in place.
func fixICMPv6(src, dst netip.Addr, b []byte) {
	b[2], b[3] = 0, 0
	c := FoldChecksum(Checksum(b, PseudoHeaderSum(src, dst, ProtoICMPv6, len(b))))
	b[2], b[3] = byte(c>>8), byte(c)
}

func TestICMPv6NDPOptionErrors(t *testing.T) {
	cases := []struct {
		name string
		opts []byte
		err  error
	}{
		{"zero length", []byte{1, 0, 0, 0, 0, 0, 0, 0}, ErrBadOption},
		{"past end", []byte{1, 2, 0, 0, 0, 0, 0, 0}, ErrBadOption},
		{"one byte", []byte{1}, ErrBadOption},
		{"mtu wrong size", []byte{5, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, ErrBadOption},
		{"unknown skipped", []byte{99, 1, 0, 0, 0, 0, 0, 0, 2, 1, 1, 2, 3, 4, 5, 6}, nil},
	}
	for _, c := range cases {
		b := append(append([]byte(nil), icmpv6NS[:24]...), c.opts...)
		b[0] = ICMPv6NeighborAdvertisement
		fixICMPv6(nsSrc, nsDst, b)
		m, err := ParseICMPv6(nsSrc, nsDst, b)
		if err != c.err {
			t.Errorf("%s: got %v want %v", c.name, err, c.err)
		}
		if err == nil && (!m.HasTargetLL || m.TargetLL != (MAC{1, 2, 3, 4, 5, 6})) {
			t.Errorf("%s: %+v", c.name, m)
		}
	}
	// Too short for NS.
	b := append([]byte(nil), icmpv6NS[:20]...)
	fixICMPv6(nsSrc, nsDst, b)
	if _, err := ParseICMPv6(nsSrc, nsDst, b); err != ErrTruncated {
		t.Fatal(err)
	}
}

func TestICMPv6RoundTrips(t *testing.T) {
	quote := make([]byte, 48)
	msgs := []ICMPv6{
		{Type: ICMPv6PacketTooBig, MTU: 1280, Data: quote},
		{Type: ICMPv6DestUnreachable, Code: ICMPv6PortUnreachable, Data: quote},
		{Type: ICMPv6TimeExceeded, Data: quote},
		{Type: ICMPv6ParameterProblem, Code: 1, Pointer: 40, Data: quote},
		{Type: ICMPv6EchoReply, ID: 1, Seq: 2, Data: []byte("x")},
		{Type: ICMPv6NeighborAdvertisement, Target: nsSrc, Router: true, Solicited: true, Override: true,
			TargetLL: MAC{2, 0, 0, 0, 0, 1}, HasTargetLL: true},
		{Type: ICMPv6RouterSolicitation, SourceLL: MAC{2, 0, 0, 0, 0, 9}, HasSourceLL: true},
		{Type: ICMPv6RouterAdvertisement, MTU: 1500, SourceLL: MAC{2, 0, 0, 0, 0, 9}, HasSourceLL: true,
			RA: ICMPv6RouterAdvert{CurHopLimit: 64, Managed: true, RouterLifetime: 1800, ReachableTime: 30000, RetransTimer: 1000},
			PrefixInfo: NDPPrefixInfo{Prefix: netip.MustParsePrefix("2001:db8:1::/64"), OnLink: true, Autonomous: true,
				ValidLifetime: 86400, PreferredLifetime: 14400}},
		{Type: 200, ID: 0xdead, Seq: 0xbeef, Data: []byte("unknown")},
	}
	for _, m := range msgs {
		b := make([]byte, m.Len())
		if n := m.Encode(nsSrc, nsDst, b); n != len(b) {
			t.Fatalf("type %d: n=%d len=%d", m.Type, n, len(b))
		}
		got, err := ParseICMPv6(nsSrc, nsDst, b)
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Fatalf("type %d: %v\n got %+v\nwant %+v", m.Type, err, got, m)
		}
	}
}
