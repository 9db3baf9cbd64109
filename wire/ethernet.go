package wire

// Ethernet II framing (IEEE 802.3 with EtherType >= 0x0600).
//
// A frame is dst MAC (6) | src MAC (6) | EtherType (2) | payload. The FCS is
// handled by the NIC/driver and is not part of what we see. 802.1Q VLAN
// tags are not interpreted: a tagged frame parses with Type 0x8100 and the
// tag left at the start of the payload. Minimum-frame padding is not
// stripped here; the network layer trims by its own length field.

import (
	"encoding/binary"
	"errors"
)

// MAC is a 48-bit IEEE 802 MAC address.
type MAC [6]byte

// BroadcastMAC is ff:ff:ff:ff:ff:ff.
var BroadcastMAC = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

const hexDigits = "0123456789abcdef"

// String formats m as lowercase "aa:bb:cc:dd:ee:ff".
func (m MAC) String() string {
	var buf [17]byte
	for i, b := range m {
		if i > 0 {
			buf[i*3-1] = ':'
		}
		buf[i*3] = hexDigits[b>>4]
		buf[i*3+1] = hexDigits[b&0xf]
	}
	return string(buf[:])
}

// IsBroadcast reports whether m is ff:ff:ff:ff:ff:ff.
func (m MAC) IsBroadcast() bool { return m == BroadcastMAC }

// IsMulticast reports whether the group bit is set (includes broadcast).
func (m MAC) IsMulticast() bool { return m[0]&1 != 0 }

// IsZero reports whether m is 00:00:00:00:00:00.
func (m MAC) IsZero() bool { return m == MAC{} }

var errBadMAC = errors.New("wire: invalid MAC address syntax")

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// ParseMAC parses "aa:bb:cc:dd:ee:ff" (or with '-' separators; hex digits
// of either case).
func ParseMAC(s string) (MAC, error) {
	var m MAC
	if len(s) != 17 {
		return m, errBadMAC
	}
	sep := s[2]
	if sep != ':' && sep != '-' {
		return m, errBadMAC
	}
	for i := range m {
		if i > 0 && s[i*3-1] != sep {
			return MAC{}, errBadMAC
		}
		hi, ok1 := unhex(s[i*3])
		lo, ok2 := unhex(s[i*3+1])
		if !ok1 || !ok2 {
			return MAC{}, errBadMAC
		}
		m[i] = hi<<4 | lo
	}
	return m, nil
}

// EtherType identifies the payload protocol of an Ethernet frame.
type EtherType uint16

const (
	EtherTypeIPv4 EtherType = 0x0800
	EtherTypeARP  EtherType = 0x0806
	EtherTypeVLAN EtherType = 0x8100
	EtherTypeIPv6 EtherType = 0x86DD
)

func (t EtherType) String() string {
	switch t {
	case EtherTypeIPv4:
		return "IPv4"
	case EtherTypeARP:
		return "ARP"
	case EtherTypeVLAN:
		return "VLAN"
	case EtherTypeIPv6:
		return "IPv6"
	}
	var buf [6]byte
	buf[0], buf[1] = '0', 'x'
	for i := 0; i < 4; i++ {
		buf[2+i] = hexDigits[(t>>(12-4*i))&0xf]
	}
	return string(buf[:])
}

// EthernetHeaderLen is the length of an untagged Ethernet II header.
const EthernetHeaderLen = 14

// EthernetHeader is the parsed form of an Ethernet II header.
type EthernetHeader struct {
	Dst, Src MAC
	Type     EtherType
}

// ParseEthernet parses the 14-byte header and returns the rest as payload.
func ParseEthernet(b []byte) (EthernetHeader, []byte, error) {
	var h EthernetHeader
	if len(b) < EthernetHeaderLen {
		return h, nil, ErrTruncated
	}
	copy(h.Dst[:], b[0:6])
	copy(h.Src[:], b[6:12])
	h.Type = EtherType(binary.BigEndian.Uint16(b[12:14]))
	return h, b[EthernetHeaderLen:], nil
}

// Encode writes the 14-byte header to b; the caller guarantees len(b) >= 14.
func (h *EthernetHeader) Encode(b []byte) {
	_ = b[13]
	copy(b[0:6], h.Dst[:])
	copy(b[6:12], h.Src[:])
	binary.BigEndian.PutUint16(b[12:14], uint16(h.Type))
}
