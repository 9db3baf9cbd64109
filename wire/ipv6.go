package wire

// IPv6 fixed header (RFC 8200) and extension-header skipping.
//
//	ver(4) TC(8) flow(20) | payload-len(2) next-hdr(1) hop-limit(1) |
//	src(16) | dst(16)
//
// ParseIPv6 returns the payload trimmed to PayloadLen (extension headers
// included). Jumbograms (PayloadLen 0 + hop-by-hop jumbo option) are not
// supported: PayloadLen 0 means an empty payload.
//
// SkipIPv6ExtensionHeaders walks hop-by-hop (0), routing (43) and
// destination-options (60) headers, whose length is (hdr-ext-len+1)*8
// bytes, and stops at the first other next-header value. A fragment header
// (44) stops the walk with ErrFragment: ustack does not reassemble IPv6.

import (
	"encoding/binary"
	"net/netip"
)

// IPv6HeaderLen is the length of the fixed IPv6 header.
const IPv6HeaderLen = 40

// IPv6Header is the parsed form of the fixed IPv6 header.
type IPv6Header struct {
	TrafficClass uint8
	FlowLabel    uint32 // 20 bits
	PayloadLen   uint16
	NextHeader   uint8
	HopLimit     uint8
	Src, Dst     netip.Addr
}

func parseIPv6Fixed(b []byte) (IPv6Header, error) {
	var h IPv6Header
	if len(b) < IPv6HeaderLen {
		return h, ErrTruncated
	}
	w := binary.BigEndian.Uint32(b[0:4])
	if w>>28 != 6 {
		return h, ErrBadVersion
	}
	h.TrafficClass = uint8(w >> 20)
	h.FlowLabel = w & 0xfffff
	h.PayloadLen = binary.BigEndian.Uint16(b[4:6])
	h.NextHeader = b[6]
	h.HopLimit = b[7]
	h.Src = netip.AddrFrom16([16]byte(b[8:24]))
	h.Dst = netip.AddrFrom16([16]byte(b[24:40]))
	return h, nil
}

// ParseIPv6 parses the fixed header and returns the payload trimmed to
// PayloadLen.
func ParseIPv6(b []byte) (IPv6Header, []byte, error) {
	h, err := parseIPv6Fixed(b)
	if err != nil {
		return h, nil, err
	}
	if int(h.PayloadLen) > len(b)-IPv6HeaderLen {
		return h, nil, ErrBadLength
	}
	return h, b[IPv6HeaderLen : IPv6HeaderLen+int(h.PayloadLen)], nil
}

// ParseQuotedIPv6 parses the IPv6 header quoted inside an ICMPv6 error. The
// quote is usually truncated, so PayloadLen is not checked; the payload is
// whatever follows the header, trimmed to PayloadLen if that is shorter.
func ParseQuotedIPv6(b []byte) (IPv6Header, []byte, error) {
	h, err := parseIPv6Fixed(b)
	if err != nil {
		return h, nil, err
	}
	p := b[IPv6HeaderLen:]
	if int(h.PayloadLen) < len(p) {
		p = p[:h.PayloadLen]
	}
	return h, p, nil
}

// Encode writes the 40-byte fixed header for payloadLen bytes of payload
// into b (caller guarantees len(b) >= 40) and records PayloadLen in h.
func (h *IPv6Header) Encode(b []byte, payloadLen int) {
	_ = b[IPv6HeaderLen-1]
	h.PayloadLen = uint16(payloadLen)
	binary.BigEndian.PutUint32(b[0:4], 6<<28|uint32(h.TrafficClass)<<20|h.FlowLabel&0xfffff)
	binary.BigEndian.PutUint16(b[4:6], h.PayloadLen)
	b[6] = h.NextHeader
	b[7] = h.HopLimit
	s, d := h.Src.As16(), h.Dst.As16()
	copy(b[8:24], s[:])
	copy(b[24:40], d[:])
}

// SkipIPv6ExtensionHeaders skips hop-by-hop, routing and destination-options
// headers starting with next-header value next at the start of b. It returns
// the upper-layer protocol and its payload. On a fragment header it returns
// (ProtoFragment, b-at-fragment-header, ErrFragment); a header running past
// the end of b yields ErrTruncated.
func SkipIPv6ExtensionHeaders(next uint8, b []byte) (uint8, []byte, error) {
	for {
		switch next {
		case ProtoHopByHop, ProtoRouting, ProtoDstOpts:
			if len(b) < 8 {
				return next, nil, ErrTruncated
			}
			n := (int(b[1]) + 1) * 8
			if n > len(b) {
				return next, nil, ErrTruncated
			}
			next = b[0]
			b = b[n:]
		case ProtoFragment:
			return next, b, ErrFragment
		default:
			return next, b, nil
		}
	}
}
