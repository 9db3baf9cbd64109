package wire

// ARP (RFC 826) for the Ethernet/IPv4 pair only.
//
// Layout: htype(2)=1 | ptype(2)=0x0800 | hlen(1)=6 | plen(1)=4 | op(2) |
// sender MAC(6) | sender IP(4) | target MAC(6) | target IP(4) = 28 bytes.
// Anything with other hardware/protocol types or address sizes is rejected
// with ErrUnsupported. Trailing bytes (Ethernet padding) are ignored.

import (
	"encoding/binary"
	"net/netip"
)

// ARPLen is the length of an Ethernet/IPv4 ARP packet.
const ARPLen = 28

// ARP operation codes.
const (
	ARPRequest = 1
	ARPReply   = 2
)

const (
	arpHTypeEthernet = 1
	arpPTypeIPv4     = 0x0800
)

// ARP is the parsed form of an Ethernet/IPv4 ARP packet.
type ARP struct {
	Op        uint16
	SenderMAC MAC
	SenderIP  netip.Addr
	TargetMAC MAC
	TargetIP  netip.Addr
}

// ParseARP parses an Ethernet/IPv4 ARP packet.
func ParseARP(b []byte) (ARP, error) {
	var a ARP
	if len(b) < ARPLen {
		return a, ErrTruncated
	}
	if binary.BigEndian.Uint16(b[0:2]) != arpHTypeEthernet ||
		binary.BigEndian.Uint16(b[2:4]) != arpPTypeIPv4 ||
		b[4] != 6 || b[5] != 4 {
		return a, ErrUnsupported
	}
	a.Op = binary.BigEndian.Uint16(b[6:8])
	copy(a.SenderMAC[:], b[8:14])
	a.SenderIP = netip.AddrFrom4([4]byte(b[14:18]))
	copy(a.TargetMAC[:], b[18:24])
	a.TargetIP = netip.AddrFrom4([4]byte(b[24:28]))
	return a, nil
}

// putAddr4 writes a as 4 bytes; non-IPv4 (including invalid) addresses are
// written as 0.0.0.0. IPv4-mapped IPv6 addresses are unmapped.
func putAddr4(b []byte, a netip.Addr) {
	a = a.Unmap()
	if a.Is4() {
		v := a.As4()
		copy(b, v[:])
		return
	}
	b[0], b[1], b[2], b[3] = 0, 0, 0, 0
}

// Encode writes the 28-byte packet to b (caller guarantees len(b) >= 28)
// and returns ARPLen.
func (a *ARP) Encode(b []byte) int {
	_ = b[ARPLen-1]
	binary.BigEndian.PutUint16(b[0:2], arpHTypeEthernet)
	binary.BigEndian.PutUint16(b[2:4], arpPTypeIPv4)
	b[4], b[5] = 6, 4
	binary.BigEndian.PutUint16(b[6:8], a.Op)
	copy(b[8:14], a.SenderMAC[:])
	putAddr4(b[14:18], a.SenderIP)
	copy(b[18:24], a.TargetMAC[:])
	putAddr4(b[24:28], a.TargetIP)
	return ARPLen
}
