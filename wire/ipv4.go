package wire

// IPv4 header (RFC 791).
//
//	ver/IHL(1) TOS(1) total-len(2) | ID(2) flags/frag-off(2) |
//	TTL(1) proto(1) checksum(2) | src(4) | dst(4) | options (IHL*4-20)
//
// ParseIPv4 validates version, IHL >= 5, IHL*4 <= TotalLen <= len(b) and the
// header checksum, and returns the payload trimmed to TotalLen (so Ethernet
// padding is dropped). Options are skipped, not interpreted. FragOffset is
// kept in bytes (wire value * 8). Encode always writes a 20-byte header
// without options.

import (
	"encoding/binary"
	"net/netip"
)

// IPv4HeaderLen is the length of an IPv4 header without options.
const IPv4HeaderLen = 20

// IP protocol numbers (also IPv6 next-header values).
const (
	ProtoHopByHop = 0
	ProtoICMP     = 1
	ProtoTCP      = 6
	ProtoUDP      = 17
	ProtoRouting  = 43
	ProtoFragment = 44
	ProtoICMPv6   = 58
	ProtoNoNext   = 59
	ProtoDstOpts  = 60
)

const (
	ipv4FlagDF       = 0x4000
	ipv4FlagMF       = 0x2000
	ipv4FragOffMask  = 0x1fff
	ipv4MaxTotalLen  = 0xffff
	ipv4MaxHeaderLen = 60
)

// IPv4Header is the parsed form of an IPv4 header.
type IPv4Header struct {
	HeaderLen     int // bytes, 20..60
	TOS           uint8
	TotalLen      uint16
	ID            uint16
	DontFragment  bool
	MoreFragments bool
	FragOffset    uint16 // in bytes (multiple of 8)
	TTL           uint8
	Protocol      uint8
	Checksum      uint16
	Src, Dst      netip.Addr
}

// IsFragment reports whether the packet is a fragment (MF set or non-zero
// offset).
func (h *IPv4Header) IsFragment() bool { return h.MoreFragments || h.FragOffset != 0 }

// parseIPv4Fixed fills the header fields and validates version and IHL
// against len(b) only.
func parseIPv4Fixed(b []byte) (IPv4Header, error) {
	var h IPv4Header
	if len(b) < IPv4HeaderLen {
		return h, ErrTruncated
	}
	if b[0]>>4 != 4 {
		return h, ErrBadVersion
	}
	h.HeaderLen = int(b[0]&0x0f) * 4
	if h.HeaderLen < IPv4HeaderLen {
		return h, ErrBadLength
	}
	if h.HeaderLen > len(b) {
		return h, ErrTruncated
	}
	h.TOS = b[1]
	h.TotalLen = binary.BigEndian.Uint16(b[2:4])
	h.ID = binary.BigEndian.Uint16(b[4:6])
	ff := binary.BigEndian.Uint16(b[6:8])
	h.DontFragment = ff&ipv4FlagDF != 0
	h.MoreFragments = ff&ipv4FlagMF != 0
	h.FragOffset = (ff & ipv4FragOffMask) * 8
	h.TTL = b[8]
	h.Protocol = b[9]
	h.Checksum = binary.BigEndian.Uint16(b[10:12])
	h.Src = netip.AddrFrom4([4]byte(b[12:16]))
	h.Dst = netip.AddrFrom4([4]byte(b[16:20]))
	return h, nil
}

// ParseIPv4 parses and validates an IPv4 header and returns the payload
// trimmed to TotalLen.
func ParseIPv4(b []byte) (IPv4Header, []byte, error) {
	h, err := parseIPv4Fixed(b)
	if err != nil {
		return h, nil, err
	}
	if int(h.TotalLen) < h.HeaderLen || int(h.TotalLen) > len(b) {
		return h, nil, ErrBadLength
	}
	if FoldChecksum(Checksum(b[:h.HeaderLen], 0)) != 0 {
		return h, nil, ErrBadChecksum
	}
	return h, b[h.HeaderLen:h.TotalLen], nil
}

// ParseQuotedIPv4 parses the IPv4 header quoted inside an ICMP error
// message. Quotes are usually truncated (header + 8 bytes), so TotalLen is
// not checked against len(b) and the header checksum is not verified; the
// returned payload is whatever follows the header, trimmed to TotalLen if
// that is shorter.
func ParseQuotedIPv4(b []byte) (IPv4Header, []byte, error) {
	h, err := parseIPv4Fixed(b)
	if err != nil {
		return h, nil, err
	}
	end := len(b)
	if int(h.TotalLen) >= h.HeaderLen && int(h.TotalLen) < end {
		end = int(h.TotalLen)
	}
	return h, b[h.HeaderLen:end], nil
}

// Encode writes a 20-byte header (no options) for a packet carrying
// payloadLen bytes into b (caller guarantees len(b) >= 20 and
// 20+payloadLen <= 65535). It records HeaderLen, TotalLen and the computed
// Checksum in h as well. Src and Dst must be IPv4 addresses (others are
// written as 0.0.0.0).
func (h *IPv4Header) Encode(b []byte, payloadLen int) {
	_ = b[IPv4HeaderLen-1]
	h.HeaderLen = IPv4HeaderLen
	h.TotalLen = uint16(IPv4HeaderLen + payloadLen)
	b[0] = 0x45
	b[1] = h.TOS
	binary.BigEndian.PutUint16(b[2:4], h.TotalLen)
	binary.BigEndian.PutUint16(b[4:6], h.ID)
	ff := (h.FragOffset / 8) & ipv4FragOffMask
	if h.DontFragment {
		ff |= ipv4FlagDF
	}
	if h.MoreFragments {
		ff |= ipv4FlagMF
	}
	binary.BigEndian.PutUint16(b[6:8], ff)
	b[8] = h.TTL
	b[9] = h.Protocol
	b[10], b[11] = 0, 0
	putAddr4(b[12:16], h.Src)
	putAddr4(b[16:20], h.Dst)
	h.Checksum = FoldChecksum(Checksum(b[:IPv4HeaderLen], 0))
	binary.BigEndian.PutUint16(b[10:12], h.Checksum)
}
