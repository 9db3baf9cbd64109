package wire

// Fuzz targets: every parser must survive arbitrary input, and where the
// format allows it, encode(parse(x)) must parse back to the same value.
// Checksummed formats (IPv4 header, ICMPv4, ICMPv6) are additionally
// parsed after fixing up the checksum so the fuzzer can get past it.

import (
	"bytes"
	"net/netip"
	"reflect"
	"testing"
)

func FuzzChecksum(f *testing.F) {
	f.Add([]byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}, uint32(0))
	f.Add(bytes.Repeat([]byte{0xff}, 67), uint32(0xffffffff))
	f.Fuzz(func(t *testing.T, b []byte, init uint32) {
		pre := append([]byte{byte(init >> 24), byte(init >> 16), byte(init >> 8), byte(init)}, b...)
		if got, want := FoldChecksum(Checksum(b, init)), refChecksum(pre); got != want {
			t.Fatalf("got %#04x want %#04x", got, want)
		}
	})
}

func FuzzParseEthernet(f *testing.F) {
	f.Add(arpRequestFrame)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, p, err := ParseEthernet(b)
		if err != nil {
			return
		}
		out := make([]byte, EthernetHeaderLen)
		h.Encode(out)
		h2, p2, err := ParseEthernet(append(out, p...))
		if err != nil || h2 != h || !bytes.Equal(p, p2) || !bytes.Equal(out, b[:EthernetHeaderLen]) {
			t.Fatalf("round trip: %+v %+v %v", h, h2, err)
		}
	})
}

func FuzzParseARP(f *testing.F) {
	f.Add(arpRequestFrame[EthernetHeaderLen:])
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseARP(b)
		if err != nil {
			return
		}
		out := make([]byte, ARPLen)
		if a.Encode(out) != ARPLen || !bytes.Equal(out, b[:ARPLen]) {
			t.Fatalf("encode mismatch\n% x\n% x", out, b[:ARPLen])
		}
		if a2, err := ParseARP(out); err != nil || a2 != a {
			t.Fatalf("round trip: %+v %+v %v", a, a2, err)
		}
	})
}

func FuzzParseIPv4(f *testing.F) {
	f.Add(withPayload(ipv4UDPHeader, 0x73))
	f.Add(ipv4TCPHeader)
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseIPv4(b)
		ParseQuotedIPv4(b)
		// Fix the header checksum so the rest of the parser is reachable.
		if len(b) >= 20 {
			b = append([]byte(nil), b...)
			if ihl := int(b[0]&0xf) * 4; ihl >= 20 && ihl <= len(b) {
				b[10], b[11] = 0, 0
				c := FoldChecksum(Checksum(b[:ihl], 0))
				b[10], b[11] = byte(c>>8), byte(c)
			}
		}
		h, p, err := ParseIPv4(b)
		if err != nil {
			return
		}
		if len(p) != int(h.TotalLen)-h.HeaderLen {
			t.Fatalf("payload %d, header %+v", len(p), h)
		}
		out := make([]byte, IPv4HeaderLen+len(p))
		h2 := h
		h2.Encode(out, len(p))
		copy(out[IPv4HeaderLen:], p)
		h3, p3, err := ParseIPv4(out)
		if err != nil || h3 != h2 || !bytes.Equal(p, p3) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, h2, h3)
		}
		h2.HeaderLen, h2.TotalLen, h2.Checksum = h.HeaderLen, h.TotalLen, h.Checksum
		if h2 != h {
			t.Fatalf("fields changed: %+v %+v", h, h2)
		}
	})
}

func FuzzParseIPv6(f *testing.F) {
	pkt := make([]byte, 40+len(tcpSYN6))
	h := IPv6Header{NextHeader: ProtoTCP, HopLimit: 64, Src: ipv6Src, Dst: ipv6Dst}
	h.Encode(pkt, len(tcpSYN6))
	copy(pkt[40:], tcpSYN6)
	f.Add(pkt)
	ext := make([]byte, 40+8+16+4)
	h = IPv6Header{NextHeader: ProtoHopByHop, HopLimit: 1, Src: nsSrc, Dst: nsDst}
	h.Encode(ext, 28)
	ext[40], ext[48], ext[49] = ProtoDstOpts, ProtoFragment, 1
	f.Add(ext)
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseQuotedIPv6(b)
		h, p, err := ParseIPv6(b)
		if err != nil {
			// Still exercise the extension-header walker on raw bytes.
			if len(b) > 0 {
				SkipIPv6ExtensionHeaders(b[0]%64, b[1:])
			}
			return
		}
		proto, up, err := SkipIPv6ExtensionHeaders(h.NextHeader, p)
		if err == nil && (len(up) > len(p) || (len(up) > 0 && &up[len(up)-1] != &p[len(p)-1])) {
			t.Fatalf("upper-layer payload (proto %d) is not a suffix", proto)
		}
		out := make([]byte, IPv6HeaderLen+len(p))
		h2 := h
		h2.Encode(out, len(p))
		copy(out[IPv6HeaderLen:], p)
		if !bytes.Equal(out, b[:len(out)]) {
			t.Fatalf("encode mismatch")
		}
		h3, p3, err := ParseIPv6(out)
		if err != nil || h3 != h || !bytes.Equal(p, p3) {
			t.Fatalf("round trip: %v %+v %+v", err, h, h3)
		}
	})
}

func FuzzParseICMPv4(f *testing.F) {
	f.Add(icmpv4Echo)
	m := ICMPv4{Type: ICMPv4DestUnreachable, Code: ICMPv4FragNeeded, MTU: 1400, Data: ipv4TCPHeader}
	b := make([]byte, m.Len())
	m.Encode(b)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseICMPv4(b)
		if len(b) >= 4 {
			b = append([]byte(nil), b...)
			b[2], b[3] = 0, 0
			c := FoldChecksum(Checksum(b, 0))
			b[2], b[3] = byte(c>>8), byte(c)
		}
		m, err := ParseICMPv4(b)
		if err != nil {
			if len(b) >= 8 {
				t.Fatalf("fixed-up message rejected: %v", err)
			}
			return
		}
		if m.Type == ICMPv4DestUnreachable {
			ParseQuotedIPv4(m.Data)
		}
		out := make([]byte, m.Len())
		if m.Encode(out) != len(b) {
			t.Fatal("length changed")
		}
		m2, err := ParseICMPv4(out)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, m, m2)
		}
	})
}

func icmpv6Equal(a, b ICMPv6) bool {
	da, db := a.Data, b.Data
	a.Data, b.Data = nil, nil
	return reflect.DeepEqual(a, b) && bytes.Equal(da, db)
}

func FuzzParseICMPv6(f *testing.F) {
	f.Add(icmpv6Echo)
	f.Add(icmpv6NS)
	ra := ICMPv6{Type: ICMPv6RouterAdvertisement, MTU: 1500, HasSourceLL: true,
		PrefixInfo: NDPPrefixInfo{Prefix: netip.MustParsePrefix("2001:db8::/64"), OnLink: true}}
	b := make([]byte, ra.Len())
	ra.Encode(ipv6Src, ipv6Dst, b)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseICMPv6(ipv6Src, ipv6Dst, b)
		if len(b) >= 4 {
			b = append([]byte(nil), b...)
			fixICMPv6(ipv6Src, ipv6Dst, b)
		}
		m, err := ParseICMPv6(ipv6Src, ipv6Dst, b)
		if err == ErrBadChecksum {
			t.Fatal("fixed-up checksum rejected")
		}
		if err != nil {
			return
		}
		switch m.Type {
		case ICMPv6DestUnreachable, ICMPv6PacketTooBig, ICMPv6TimeExceeded, ICMPv6ParameterProblem:
			if _, p, err := ParseQuotedIPv6(m.Data); err == nil && len(p) > 0 {
				SkipIPv6ExtensionHeaders(p[0], p)
			}
		}
		out := make([]byte, m.Len())
		m.Encode(ipv6Src, ipv6Dst, out)
		m2, err := ParseICMPv6(ipv6Src, ipv6Dst, out)
		if err != nil || !icmpv6Equal(m, m2) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, m, m2)
		}
	})
}

func FuzzParseTCP(f *testing.F) {
	f.Add(tcpSYN4)
	f.Add(tcpData4)
	f.Add(tcpWithOptions(1, 3, 3, 200))
	f.Add(tcpWithOptions(99, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, p, err := ParseTCP(b)
		VerifyTCPChecksum(tcpSrc4, tcpDst4, b)
		if err != nil {
			return
		}
		if h.DataOffset+len(p) != len(b) || h.Options.NumSACK < 0 || h.Options.NumSACK > 4 ||
			h.Options.WScale < -1 || h.Options.WScale > TCPMaxWScale {
			t.Fatalf("inconsistent parse %+v", h)
		}
		n := h.Len()
		if n < TCPHeaderLen || n > 60 || n%4 != 0 {
			t.Fatalf("bad Len %d for %+v", n, h.Options)
		}
		out := make([]byte, n+len(p))
		h2 := h
		if h2.Encode(out) != n {
			t.Fatal("Encode length")
		}
		copy(out[n:], p)
		SetTCPChecksum(ipv6Src, ipv6Dst, out)
		if !VerifyTCPChecksum(ipv6Src, ipv6Dst, out) {
			t.Fatal("SetTCPChecksum/VerifyTCPChecksum disagree")
		}
		h3, p3, err := ParseTCP(out)
		if err != nil || !bytes.Equal(p, p3) {
			t.Fatalf("reparse: %v", err)
		}
		// Everything except the data offset and checksum survives; SACK
		// blocks that do not fit next to the other options are dropped.
		want := h
		want.DataOffset, want.Checksum = n, h3.Checksum
		_, ns := want.Options.layout()
		want.Options.NumSACK = ns
		for i := ns; i < len(want.Options.SACK); i++ {
			want.Options.SACK[i] = SACKBlock{}
		}
		if h3 != want {
			t.Fatalf("round trip:\n got %+v\nwant %+v", h3, want)
		}
	})
}
