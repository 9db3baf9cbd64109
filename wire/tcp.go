package wire

// TCP header and options (RFC 9293, RFC 7323 window scale/timestamps,
// RFC 2018 SACK).
//
//	src-port(2) dst-port(2) | seq(4) | ack(4) |
//	data-offset(4 bits) reserved(4 bits) flags(1) window(2) |
//	checksum(2) urgent(2) | options (data-offset*4 - 20, max 40)
//
// ParseTCP does not verify the checksum (use VerifyTCPChecksum, which needs
// the IP addresses). It checks 20 <= DataOffset <= len(b) and parses the
// options strictly: EOL ends the list, NOP is skipped, any other option must
// have length >= 2 that stays inside the option area, and the options we
// understand must have their exact sizes (MSS 4, WS 3, SACK-permitted 2,
// timestamps 10, SACK 2+8n with n >= 1); otherwise ErrBadOption. Unknown
// options are skipped. A window-scale shift above 14 is clamped to 14
// (RFC 7323 §2.3). The reserved/AE bits of byte 12 are ignored.
//
// Encode lays options out like Linux, every option 4-byte aligned with NOP
// padding, in the order MSS, SACK-permitted, timestamps, window scale,
// SACK blocks (as many blocks as fit in the 40-byte option space).
//
// NOTE: the zero TCPOptions has WScale 0, i.e. "window scale present with
// shift 0". Use WScale = -1 (or NoTCPOptions) for "absent".

import (
	"encoding/binary"
	"net/netip"
)

// TCPFlags are the eight flag bits of byte 13 of the TCP header.
type TCPFlags uint8

const (
	FlagFIN TCPFlags = 1 << iota
	FlagSYN
	FlagRST
	FlagPSH
	FlagACK
	FlagURG
	FlagECE
	FlagCWR
)

// String renders the set flags as letters in bit order, e.g. "S", "SA",
// "FPA", "R"; ECE is "E", CWR "C"; no flags is "-".
func (f TCPFlags) String() string {
	const letters = "FSRPAUEC"
	var buf [8]byte
	n := 0
	for i := 0; i < 8; i++ {
		if f&(1<<i) != 0 {
			buf[n] = letters[i]
			n++
		}
	}
	if n == 0 {
		return "-"
	}
	return string(buf[:n])
}

// Has reports whether all flags in g are set in f.
func (f TCPFlags) Has(g TCPFlags) bool { return f&g == g }

const (
	// TCPHeaderLen is the length of a TCP header without options.
	TCPHeaderLen = 20
	// TCPMaxOptionLen is the largest option area (data offset 15).
	TCPMaxOptionLen = 40
	// TCPMaxWScale is the largest window-scale shift (RFC 7323).
	TCPMaxWScale = 14
)

// TCP option kinds.
const (
	tcpOptEOL       = 0
	tcpOptNOP       = 1
	tcpOptMSS       = 2
	tcpOptWS        = 3
	tcpOptSACKPerm  = 4
	tcpOptSACK      = 5
	tcpOptTimestamp = 8
)

// SACKBlock is one SACK block: [Start, End) in sequence space.
type SACKBlock struct{ Start, End uint32 }

// TCPOptions is the parsed form of the TCP options we understand.
type TCPOptions struct {
	MSS           uint16 // 0 = absent
	WScale        int8   // -1 = absent; parse clamps to 14
	SACKPermitted bool
	SACK          [4]SACKBlock
	NumSACK       int
	HasTimestamp  bool
	TSVal, TSEcr  uint32
}

// NoTCPOptions returns a TCPOptions with every option absent.
func NoTCPOptions() TCPOptions { return TCPOptions{WScale: -1} }

// TCPHeader is the parsed form of a TCP header.
type TCPHeader struct {
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	DataOffset       int // header length in bytes, 20..60
	Flags            TCPFlags
	Window           uint16
	Checksum         uint16
	Urgent           uint16
	Options          TCPOptions
}

// ParseTCP parses a TCP segment header and options and returns the payload.
// The checksum is not verified.
func ParseTCP(b []byte) (TCPHeader, []byte, error) {
	var h TCPHeader
	if len(b) < TCPHeaderLen {
		return h, nil, ErrTruncated
	}
	h.SrcPort = binary.BigEndian.Uint16(b[0:2])
	h.DstPort = binary.BigEndian.Uint16(b[2:4])
	h.Seq = binary.BigEndian.Uint32(b[4:8])
	h.Ack = binary.BigEndian.Uint32(b[8:12])
	h.DataOffset = int(b[12]>>4) * 4
	h.Flags = TCPFlags(b[13])
	h.Window = binary.BigEndian.Uint16(b[14:16])
	h.Checksum = binary.BigEndian.Uint16(b[16:18])
	h.Urgent = binary.BigEndian.Uint16(b[18:20])
	if h.DataOffset < TCPHeaderLen || h.DataOffset > len(b) {
		return h, nil, ErrBadLength
	}
	if err := parseTCPOptions(b[TCPHeaderLen:h.DataOffset], &h.Options); err != nil {
		return h, nil, err
	}
	return h, b[h.DataOffset:], nil
}

func parseTCPOptions(b []byte, o *TCPOptions) error {
	*o = TCPOptions{WScale: -1}
	for len(b) > 0 {
		kind := b[0]
		if kind == tcpOptEOL {
			break
		}
		if kind == tcpOptNOP {
			b = b[1:]
			continue
		}
		if len(b) < 2 {
			return ErrBadOption
		}
		n := int(b[1])
		if n < 2 || n > len(b) {
			return ErrBadOption
		}
		opt := b[:n]
		switch kind {
		case tcpOptMSS:
			if n != 4 {
				return ErrBadOption
			}
			o.MSS = binary.BigEndian.Uint16(opt[2:4])
		case tcpOptWS:
			if n != 3 {
				return ErrBadOption
			}
			o.WScale = int8(min(opt[2], TCPMaxWScale))
		case tcpOptSACKPerm:
			if n != 2 {
				return ErrBadOption
			}
			o.SACKPermitted = true
		case tcpOptSACK:
			if n < 10 || (n-2)%8 != 0 {
				return ErrBadOption
			}
			// The 40-byte option area limits this to 4 blocks; the
			// min is defensive.
			o.NumSACK = min((n-2)/8, len(o.SACK))
			o.SACK = [4]SACKBlock{} // a repeated SACK option replaces blocks
			for i := 0; i < o.NumSACK; i++ {
				p := opt[2+8*i : 10+8*i]
				o.SACK[i] = SACKBlock{
					Start: binary.BigEndian.Uint32(p[0:4]),
					End:   binary.BigEndian.Uint32(p[4:8]),
				}
			}
		case tcpOptTimestamp:
			if n != 10 {
				return ErrBadOption
			}
			o.HasTimestamp = true
			o.TSVal = binary.BigEndian.Uint32(opt[2:6])
			o.TSEcr = binary.BigEndian.Uint32(opt[6:10])
		}
		b = b[n:]
	}
	return nil
}

// layout returns the padded length of the non-SACK options and the number
// of SACK blocks that will be encoded.
func (o *TCPOptions) layout() (fixed, nsack int) {
	if o.MSS != 0 {
		fixed += 4
	}
	if o.HasTimestamp || o.SACKPermitted {
		// SACK-permitted rides in the timestamp option's NOP padding.
		if o.HasTimestamp {
			fixed += 12
		} else {
			fixed += 4
		}
	}
	if o.WScale >= 0 {
		fixed += 4
	}
	nsack = max(min(o.NumSACK, len(o.SACK)), 0)
	if room := TCPMaxOptionLen - fixed - 4; room < 8 {
		nsack = 0
	} else {
		nsack = min(nsack, room/8)
	}
	return fixed, nsack
}

// OptionsLen returns the encoded option length (a multiple of 4, <= 40).
func (h *TCPHeader) OptionsLen() int {
	fixed, nsack := h.Options.layout()
	if nsack > 0 {
		return fixed + 4 + 8*nsack
	}
	return fixed
}

// Len returns the encoded header length: 20 + OptionsLen.
func (h *TCPHeader) Len() int { return TCPHeaderLen + h.OptionsLen() }

// Encode writes the header and options into b (caller guarantees
// len(b) >= h.Len()) with a zero checksum field, records the computed
// DataOffset in h and returns the header length. Use SetTCPChecksum once
// the payload is in place.
func (h *TCPHeader) Encode(b []byte) int {
	n := h.Len()
	_ = b[n-1]
	h.DataOffset = n
	binary.BigEndian.PutUint16(b[0:2], h.SrcPort)
	binary.BigEndian.PutUint16(b[2:4], h.DstPort)
	binary.BigEndian.PutUint32(b[4:8], h.Seq)
	binary.BigEndian.PutUint32(b[8:12], h.Ack)
	b[12] = uint8(n/4) << 4
	b[13] = uint8(h.Flags)
	binary.BigEndian.PutUint16(b[14:16], h.Window)
	b[16], b[17] = 0, 0
	binary.BigEndian.PutUint16(b[18:20], h.Urgent)

	o := &h.Options
	_, nsack := o.layout()
	p := b[TCPHeaderLen:n]
	if o.MSS != 0 {
		p[0], p[1] = tcpOptMSS, 4
		binary.BigEndian.PutUint16(p[2:4], o.MSS)
		p = p[4:]
	}
	if o.HasTimestamp {
		if o.SACKPermitted {
			p[0], p[1] = tcpOptSACKPerm, 2
		} else {
			p[0], p[1] = tcpOptNOP, tcpOptNOP
		}
		p[2], p[3] = tcpOptTimestamp, 10
		binary.BigEndian.PutUint32(p[4:8], o.TSVal)
		binary.BigEndian.PutUint32(p[8:12], o.TSEcr)
		p = p[12:]
	} else if o.SACKPermitted {
		p[0], p[1], p[2], p[3] = tcpOptNOP, tcpOptNOP, tcpOptSACKPerm, 2
		p = p[4:]
	}
	if o.WScale >= 0 {
		p[0], p[1], p[2], p[3] = tcpOptNOP, tcpOptWS, 3, uint8(o.WScale)
		p = p[4:]
	}
	if nsack > 0 {
		p[0], p[1], p[2], p[3] = tcpOptNOP, tcpOptNOP, tcpOptSACK, uint8(2+8*nsack)
		for i := 0; i < nsack; i++ {
			q := p[4+8*i : 12+8*i]
			binary.BigEndian.PutUint32(q[0:4], o.SACK[i].Start)
			binary.BigEndian.PutUint32(q[4:8], o.SACK[i].End)
		}
	}
	return n
}

// tcpChecksum returns the folded checksum over seg (with whatever is in its
// checksum field) plus the pseudo-header.
func tcpChecksum(src, dst netip.Addr, seg []byte) uint16 {
	return FoldChecksum(Checksum(seg, PseudoHeaderSum(src, dst, ProtoTCP, len(seg))))
}

// VerifyTCPChecksum reports whether the segment (header + payload) carries
// a correct checksum for src -> dst.
func VerifyTCPChecksum(src, dst netip.Addr, seg []byte) bool {
	if len(seg) < TCPHeaderLen {
		return false
	}
	return tcpChecksum(src, dst, seg) == 0
}

// SetTCPChecksum computes the checksum over seg (header + payload) and the
// pseudo-header for src -> dst and stores it in the header. Segments shorter
// than a TCP header are left untouched.
func SetTCPChecksum(src, dst netip.Addr, seg []byte) {
	if len(seg) < TCPHeaderLen {
		return
	}
	seg[16], seg[17] = 0, 0
	binary.BigEndian.PutUint16(seg[16:18], tcpChecksum(src, dst, seg))
}
