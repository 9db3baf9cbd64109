package ip

import (
	"net/netip"

	"github.com/ustack/ustack/clock"
)

// HeaderRoom is the headroom a transport leaves in front of its segment when
// it calls Stack.WritePacket: enough for the largest link header plus an IPv6
// header, so the stack can prepend headers in place without copying.
const HeaderRoom = 64

// Packet is an inbound transport packet handed to a TransportProtocol. It and
// its Payload are valid only for the duration of the call.
type Packet struct {
	NIC      *Interface
	Src, Dst netip.Addr
	Protocol uint8
	TTL      uint8 // TTL or hop limit
	TOS      uint8 // TOS / traffic class (ECN in the low two bits)
	Payload  []byte
	// ChecksumVerified is set when the link has already verified the
	// transport checksum (offload); the transport may skip its own check.
	ChecksumVerified bool
}

// ControlKind classifies an ICMP error delivered to a transport.
type ControlKind uint8

const (
	ControlUnreachable  ControlKind = iota + 1 // destination/port/protocol unreachable, admin prohibited
	ControlPacketTooBig                        // ICMPv4 fragmentation needed / ICMPv6 packet too big
	ControlTimeExceeded                        // TTL / hop limit exceeded in transit
)

// ControlMessage is an ICMP error about a packet this host sent.
type ControlMessage struct {
	Kind ControlKind
	Code uint8
	// MTU is the new path MTU (IP packet size) for ControlPacketTooBig; the
	// stack has already updated its PMTU cache when the transport sees it.
	MTU int
	// Src and Dst are the addresses of the original packet (Src is ours).
	Src, Dst netip.Addr
	Protocol uint8
	// Payload is the quoted start of the original transport header (at
	// least 8 bytes: ports and, for TCP, the sequence number).
	Payload []byte
}

// TransportProtocol is a transport layered on a Stack (TCP). Timers of the
// transport go in the stack's single timer queue (Stack.Timers).
type TransportProtocol interface {
	Protocol() uint8
	HandlePacket(now clock.Time, pkt *Packet)
	HandleControl(now clock.Time, msg *ControlMessage)
}

// RouteInfo is the result of a route lookup for an outbound flow.
type RouteInfo struct {
	NIC *Interface
	Src netip.Addr // source address to use
	// MTU is the IP MTU towards the destination: the interface MTU, lowered
	// by any path MTU learned from ICMP.
	MTU int
	// GSOMaxSize is the largest transport segment (header included) the
	// link accepts for segmentation offload; 0 when the link has none.
	GSOMaxSize int
}

// Device is a link driver as seen by the stack.
type Device interface {
	// Transmit sends one frame (with the link header the interface is
	// configured for, or a bare IP packet on a LinkNone interface). The
	// device must not retain frame after it returns.
	Transmit(frame []byte) error
}

// GSO describes a TCP super-segment handed to a GSODevice: one packet whose
// payload the device (the host kernel behind a TAP, or a NIC) cuts into
// segments of MSS bytes, completing every checksum. The TCP checksum field
// holds the folded, uncomplemented pseudo-header sum over the whole
// super-segment's length (Linux CHECKSUM_PARTIAL).
type GSO struct {
	L4Start int  // offset of the TCP header in the frame
	HdrLen  int  // bytes of link, IP and TCP headers
	MSS     int  // payload bytes per segment
	IPv6    bool // the packet is IPv6
}

// GSODevice is a Device that accepts TCP super-segments (TSO). Interfaces
// whose device implements it and that have a GSOMaxSize report it in
// RouteInfo, and transports may then use Stack.WritePacketGSO.
type GSODevice interface {
	Device
	TransmitGSO(frame []byte, gso GSO) error
}
