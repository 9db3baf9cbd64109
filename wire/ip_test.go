package wire

import (
	"bytes"
	"net/netip"
	"testing"
)

// Real captured IPv4 headers with their checksums.
var (
	// 192.168.0.1 -> 192.168.0.199 UDP, total length 115 (the classic
	// Wikipedia example, checksum 0xb861).
	ipv4UDPHeader = []byte{
		0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
		0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
	}
	// 20.42.65.85 -> 192.168.0.21 TCP, total length 505, TTL 112.
	ipv4TCPHeader = []byte{
		0x45, 0x00, 0x01, 0xf9, 0x34, 0x64, 0x40, 0x00, 0x70, 0x06,
		0xbe, 0x5e, 0x14, 0x2a, 0x41, 0x55, 0xc0, 0xa8, 0x00, 0x15,
	}
)

func withPayload(h []byte, total int) []byte {
	b := make([]byte, total+6) // + trailing padding that must be trimmed
	copy(b, h)
	for i := len(h); i < len(b); i++ {
		b[i] = byte(i)
	}
	return b
}

func TestIPv4Parse(t *testing.T) {
	pkt := withPayload(ipv4UDPHeader, 0x73)
	h, p, err := ParseIPv4(pkt)
	if err != nil {
		t.Fatal(err)
	}
	want := IPv4Header{
		HeaderLen: 20, TotalLen: 0x73, DontFragment: true, TTL: 64,
		Protocol: ProtoUDP, Checksum: 0xb861,
		Src: netip.MustParseAddr("192.168.0.1"), Dst: netip.MustParseAddr("192.168.0.199"),
	}
	if h != want {
		t.Fatalf("got %+v", h)
	}
	if len(p) != 0x73-20 || &p[0] != &pkt[20] {
		t.Fatalf("payload len %d", len(p))
	}
	// Encode reproduces the captured header byte for byte.
	var b [IPv4HeaderLen]byte
	h2 := h
	h2.Checksum = 0
	h2.Encode(b[:], len(p))
	if !bytes.Equal(b[:], ipv4UDPHeader) || h2 != h {
		t.Fatalf("encode % x / %+v", b, h2)
	}

	pkt = withPayload(ipv4TCPHeader, 505)
	h, _, err = ParseIPv4(pkt)
	if err != nil || h.Protocol != ProtoTCP || h.ID != 0x3464 || h.TTL != 112 || h.Checksum != 0xbe5e {
		t.Fatalf("%+v %v", h, err)
	}
	h.Encode(b[:], int(h.TotalLen)-20)
	if !bytes.Equal(b[:], ipv4TCPHeader) {
		t.Fatalf("encode % x", b)
	}
}

func TestIPv4Errors(t *testing.T) {
	good := withPayload(ipv4UDPHeader, 0x73)
	mod := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	fix := func(b []byte) { // recompute header checksum over IHL
		ihl := int(b[0]&0xf) * 4
		b[10], b[11] = 0, 0
		c := FoldChecksum(Checksum(b[:ihl], 0))
		b[10], b[11] = byte(c>>8), byte(c)
	}
	cases := []struct {
		name string
		b    []byte
		err  error
	}{
		{"empty", nil, ErrTruncated},
		{"short", good[:19], ErrTruncated},
		{"v6", mod(func(b []byte) { b[0] = 0x65; fix(b) }), ErrBadVersion},
		{"ihl4", mod(func(b []byte) { b[0] = 0x44; fix(b) }), ErrBadLength},
		{"ihl0", mod(func(b []byte) { b[0] = 0x40 }), ErrBadLength},
		{"ihl past end", mod(func(b []byte) { b[0] = 0x4f })[:40], ErrTruncated},
		{"totallen<ihl", mod(func(b []byte) { b[2], b[3] = 0, 19; fix(b) }), ErrBadLength},
		{"totallen>len", mod(func(b []byte) { b[2], b[3] = 0xff, 0xff; fix(b) }), ErrBadLength},
		{"checksum", mod(func(b []byte) { b[8]-- }), ErrBadChecksum},
	}
	for _, c := range cases {
		if _, _, err := ParseIPv4(c.b); err != c.err {
			t.Errorf("%s: got %v want %v", c.name, err, c.err)
		}
	}
	// Options: IHL 6 with a NOP-padded option word is accepted and skipped.
	b := make([]byte, 30)
	copy(b, ipv4UDPHeader[:20])
	b[0], b[2], b[3] = 0x46, 0, 30
	b[20], b[21], b[22], b[23] = 1, 1, 1, 0
	fix(b)
	h, p, err := ParseIPv4(b)
	if err != nil || h.HeaderLen != 24 || len(p) != 6 {
		t.Fatalf("options: %+v %d %v", h, len(p), err)
	}
	// TotalLen == header length: empty payload.
	b = append([]byte(nil), ipv4UDPHeader...)
	b[3] = 20
	fix(b)
	if _, p, err := ParseIPv4(b); err != nil || len(p) != 0 {
		t.Fatalf("empty payload: %v", err)
	}
}

func TestIPv4Fragments(t *testing.T) {
	h := IPv4Header{ID: 7, MoreFragments: true, FragOffset: 1480, TTL: 1, Protocol: ProtoICMP,
		Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2")}
	b := make([]byte, 28)
	h.Encode(b, 8)
	got, p, err := ParseIPv4(b)
	if err != nil || got != h || len(p) != 8 || !got.IsFragment() {
		t.Fatalf("%+v %v", got, err)
	}
	if b[6] != 0x20 || b[7] != 185 {
		t.Fatalf("flags/offset % x", b[6:8])
	}
}

func TestParseQuotedIPv4(t *testing.T) {
	// An ICMP error quotes header + 8 bytes of a 505-byte datagram.
	q := withPayload(ipv4TCPHeader, 28)[:28]
	h, p, err := ParseQuotedIPv4(q)
	if err != nil || h.Protocol != ProtoTCP || len(p) != 8 {
		t.Fatalf("%+v %d %v", h, len(p), err)
	}
	if _, _, err := ParseIPv4(q); err != ErrBadLength {
		t.Fatalf("strict parse of quote: %v", err)
	}
	if _, _, err := ParseQuotedIPv4(q[:10]); err != ErrTruncated {
		t.Fatal(err)
	}
}

func TestIPv4Allocs(t *testing.T) {
	pkt := withPayload(ipv4UDPHeader, 0x73)
	var out [20]byte
	if n := testing.AllocsPerRun(100, func() {
		h, _, err := ParseIPv4(pkt)
		if err != nil {
			panic(err)
		}
		h.Encode(out[:], 10)
	}); n != 0 {
		t.Fatalf("allocs = %v", n)
	}
}

var ipv6Src, ipv6Dst = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")

func TestIPv6(t *testing.T) {
	h := IPv6Header{TrafficClass: 0xb8, FlowLabel: 0xabcde, NextHeader: ProtoTCP, HopLimit: 64, Src: ipv6Src, Dst: ipv6Dst}
	pkt := make([]byte, 40+12+3)
	h.Encode(pkt, 12)
	want := []byte{0x6b, 0x8a, 0xbc, 0xde, 0x00, 0x0c, 0x06, 0x40}
	if !bytes.Equal(pkt[:8], want) {
		t.Fatalf("encode % x", pkt[:8])
	}
	got, p, err := ParseIPv6(pkt)
	if err != nil || got != h || len(p) != 12 {
		t.Fatalf("%+v %d %v", got, len(p), err)
	}
	if _, _, err := ParseIPv6(pkt[:39]); err != ErrTruncated {
		t.Fatal(err)
	}
	if _, _, err := ParseIPv6(pkt[:51]); err != ErrBadLength {
		t.Fatal(err)
	}
	bad := append([]byte(nil), pkt...)
	bad[0] = 0x4b
	if _, _, err := ParseIPv6(bad); err != ErrBadVersion {
		t.Fatal(err)
	}
	// Quoted: payload length says 12, only 4 present.
	if qh, qp, err := ParseQuotedIPv6(pkt[:44]); err != nil || qh != h || len(qp) != 4 {
		t.Fatalf("quoted %v %d", err, len(qp))
	}
}

func TestIPv6ExtensionHeaders(t *testing.T) {
	// hop-by-hop (8 bytes) -> dest opts (16 bytes) -> routing (8) -> TCP
	b := make([]byte, 8+16+8+4)
	b[0], b[1] = ProtoDstOpts, 0
	b[8], b[9] = ProtoRouting, 1
	b[24], b[25] = ProtoTCP, 0
	copy(b[32:], "tcp!")
	proto, p, err := SkipIPv6ExtensionHeaders(ProtoHopByHop, b)
	if err != nil || proto != ProtoTCP || string(p) != "tcp!" {
		t.Fatalf("%d %q %v", proto, p, err)
	}
	// No extension headers at all.
	if proto, p, err := SkipIPv6ExtensionHeaders(ProtoICMPv6, b); err != nil || proto != ProtoICMPv6 || len(p) != len(b) {
		t.Fatal(proto, err)
	}
	// Fragment header.
	b[24] = ProtoFragment
	if proto, p, err := SkipIPv6ExtensionHeaders(ProtoHopByHop, b); err != ErrFragment || proto != ProtoFragment || len(p) != 4 {
		t.Fatal(proto, err)
	}
	// Length running past the end.
	b[9] = 200
	if _, _, err := SkipIPv6ExtensionHeaders(ProtoHopByHop, b); err != ErrTruncated {
		t.Fatal(err)
	}
	// Shorter than the minimum 8 bytes.
	if _, _, err := SkipIPv6ExtensionHeaders(ProtoDstOpts, b[:7]); err != ErrTruncated {
		t.Fatal(err)
	}
}
