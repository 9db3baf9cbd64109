package wire

// ICMP for IPv4 (RFC 792, RFC 1191 for the next-hop MTU).
//
//	type(1) code(1) checksum(2) | rest-of-header(4) | data
//
// The rest-of-header word is interpreted per type: echo request/reply carry
// ID and Seq; destination-unreachable carries the next-hop MTU in its low
// 16 bits (meaningful for code FragNeeded); for every other type the word
// is kept raw in ID (high half) and Seq (low half) so that encode(parse(x))
// reproduces it. Data is the echo payload or, for errors, the quoted
// original datagram (see ParseQuotedIPv4). The checksum covers the whole
// message and is always verified.

import "encoding/binary"

// ICMPv4 message types.
const (
	ICMPv4EchoReply       = 0
	ICMPv4DestUnreachable = 3
	ICMPv4EchoRequest     = 8
	ICMPv4TimeExceeded    = 11
)

// ICMPv4 destination-unreachable codes.
const (
	ICMPv4NetUnreachable   = 0
	ICMPv4HostUnreachable  = 1
	ICMPv4ProtoUnreachable = 2
	ICMPv4PortUnreachable  = 3
	ICMPv4FragNeeded       = 4
)

// ICMPv4 time-exceeded codes.
const (
	ICMPv4TTLExceeded        = 0
	ICMPv4ReassemblyExceeded = 1
)

const icmpv4HeaderLen = 8

// ICMPv4 is the parsed form of an ICMPv4 message.
type ICMPv4 struct {
	Type, Code uint8
	ID, Seq    uint16 // echo; raw rest-of-header for types other than 3
	MTU        uint16 // DestUnreachable: next-hop MTU (code FragNeeded)
	Data       []byte // echo data, or quoted original IP packet for errors
}

// ParseICMPv4 parses an ICMPv4 message and verifies its checksum. Data
// aliases b.
func ParseICMPv4(b []byte) (ICMPv4, error) {
	var m ICMPv4
	if len(b) < icmpv4HeaderLen {
		return m, ErrTruncated
	}
	if FoldChecksum(Checksum(b, 0)) != 0 {
		return m, ErrBadChecksum
	}
	m.Type, m.Code = b[0], b[1]
	if m.Type == ICMPv4DestUnreachable {
		m.MTU = binary.BigEndian.Uint16(b[6:8])
	} else {
		m.ID = binary.BigEndian.Uint16(b[4:6])
		m.Seq = binary.BigEndian.Uint16(b[6:8])
	}
	m.Data = b[icmpv4HeaderLen:]
	return m, nil
}

// Len returns the encoded length: 8 + len(Data).
func (m *ICMPv4) Len() int { return icmpv4HeaderLen + len(m.Data) }

// Encode writes the message with its checksum into b (caller guarantees
// len(b) >= m.Len()) and returns m.Len().
func (m *ICMPv4) Encode(b []byte) int {
	n := m.Len()
	_ = b[n-1]
	b[0], b[1], b[2], b[3] = m.Type, m.Code, 0, 0
	if m.Type == ICMPv4DestUnreachable {
		binary.BigEndian.PutUint16(b[4:6], 0)
		binary.BigEndian.PutUint16(b[6:8], m.MTU)
	} else {
		binary.BigEndian.PutUint16(b[4:6], m.ID)
		binary.BigEndian.PutUint16(b[6:8], m.Seq)
	}
	copy(b[icmpv4HeaderLen:n], m.Data)
	binary.BigEndian.PutUint16(b[2:4], FoldChecksum(Checksum(b[:n], 0)))
	return n
}
