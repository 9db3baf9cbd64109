package ip

// Counters of a Stack. A received frame is either consumed — handed to a
// transport, or processed by ARP, NDP or ICMP (which have their own
// counters) — or dropped and counted under one Drop* reason. A packet the
// stack is asked to send is transmitted, queued for neighbour resolution,
// or dropped and counted (and WritePacket returns an error where the
// caller can act on it).

// Stats holds the counters of a Stack. All fields only grow.
type Stats struct {
	// Receive side.
	RxFrames    uint64 // frames passed to Input
	RxIPv4      uint64 // well-formed IPv4 packets addressed to us
	RxIPv6      uint64 // well-formed IPv6 packets addressed to us
	RxDelivered uint64 // packets handed to a transport

	// Transmit side.
	TxPackets  uint64 // IP packets handed to a device (including ICMP, excluding ARP)
	TxFrames   uint64 // frames handed to a device (IP and ARP)
	TxErrors   uint64 // Device.Transmit returned an error
	TxLoopback uint64 // packets to our own addresses delivered locally

	// Receive drops, one reason per dropped frame.
	DropTruncated        uint64 // frame or header shorter than it claims
	DropMalformed        uint64 // bad version, header length, options, field values
	DropBadChecksum      uint64 // IPv4 header or ICMP checksum wrong
	DropNotForUs         uint64 // MAC or IP destination not ours
	DropBadSource        uint64 // multicast/broadcast source address
	DropUnknownEtherType uint64 // neither IPv4, IPv6 nor ARP
	DropFragment         uint64 // IPv4/IPv6 fragments (reassembly not supported)
	DropNoTransport      uint64 // no transport registered for the protocol
	DropNoARP            uint64 // ARP/NDP on an interface without resolution

	// Transmit drops.
	DropNoRoute       uint64 // no route (or no source) for an outbound packet
	DropTooBig        uint64 // packet exceeds the link MTU
	DropNeighborQueue uint64 // neighbour queue full: packet dropped
	DropNeighborFail  uint64 // queued packets dropped when resolution failed
	DropNeighborTable uint64 // neighbour cache full
	DropLoopback      uint64 // local delivery queue full

	// ARP.
	ARPRequestsIn  uint64
	ARPRepliesIn   uint64
	ARPRequestsOut uint64
	ARPRepliesOut  uint64

	// NDP.
	NDPSolicitsIn  uint64
	NDPAdvertsIn   uint64
	NDPSolicitsOut uint64
	NDPAdvertsOut  uint64

	// Neighbour cache.
	NeighborResolved uint64 // resolutions completed (incomplete → reachable/stale)
	NeighborFailed   uint64 // resolutions that timed out

	// ICMP (v4 and v6 together).
	ICMPIn          uint64 // well-formed ICMP messages received
	ICMPOut         uint64 // ICMP messages sent (including NDP)
	ICMPEchoIn      uint64 // echo requests received
	ICMPEchoOut     uint64 // echo replies sent
	ICMPErrorsIn    uint64 // error messages (unreachable, too big, time exceeded)
	ICMPBadQuote    uint64 // error messages whose quoted packet was unusable
	ICMPUnsupported uint64 // ICMP types the stack ignores
	PMTUUpdates     uint64 // path MTU cache lowered by an ICMP error
}
