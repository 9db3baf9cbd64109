package ip

// Input. A frame is parsed outermost first — Ethernet (or nothing on a
// LinkNone interface, where the version nibble picks IPv4 or IPv6), then
// the IP header — and dispatched to ARP, NDP, ICMP or the transport
// registered for the protocol. Every check that fails drops the frame and
// counts one Drop* reason in Stats; nothing received is trusted or retained
// past the call (transports get a Packet aliasing the frame, valid only
// during HandlePacket).
//
// Acceptance (weak host model, like Linux): unicast to any of our
// addresses on any interface. Also, on the receiving interface: IPv4
// limited and directed broadcast, IPv6 all-nodes (ff02::1) and the
// solicited-node groups of its addresses. Broadcast and multicast are never
// handed to TCP. Fragments are not reassembled: counted and dropped.

import (
	"net/netip"

	"github.com/ustack/ustack/clock"
	"github.com/ustack/ustack/wire"
)

// InputOpts qualifies a received frame.
type InputOpts struct {
	// ChecksumVerified: the device has verified the transport checksum
	// (receive checksum offload).
	ChecksumVerified bool
}

var allNodes = netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 15: 1})

// Input processes one frame received on nic at now: an Ethernet frame, or
// a bare IP packet on a LinkNone interface. frame is only read during the
// call.
func (s *Stack) Input(now clock.Time, nic *Interface, frame []byte) {
	s.InputWith(now, nic, frame, InputOpts{})
}

// InputWith is Input with per-frame options from the link.
func (s *Stack) InputWith(now clock.Time, nic *Interface, frame []byte, opts InputOpts) {
	s.advance(now)
	s.stats.RxFrames++
	if nic == nil || nic.stack != s {
		s.stats.DropNotForUs++
		return
	}
	csum := opts.ChecksumVerified || nic.rxCsum
	if nic.linkType == LinkNone {
		s.inputIP(now, nic, frame, csum, false)
		return
	}
	eth, payload, err := wire.ParseEthernet(frame)
	if err != nil {
		s.countParseErr(err)
		return
	}
	if eth.Dst != nic.mac && eth.Dst[0]&1 == 0 {
		s.stats.DropNotForUs++ // unicast to another host (promiscuous device)
		return
	}
	switch eth.Type {
	case wire.EtherTypeIPv4:
		s.inputIPv4(now, nic, payload, csum, false)
	case wire.EtherTypeIPv6:
		s.inputIPv6(now, nic, payload, csum, false)
	case wire.EtherTypeARP:
		s.inputARP(nic, payload)
	default:
		s.stats.DropUnknownEtherType++
	}
}

// inputIP dispatches a bare IP packet on its version nibble.
func (s *Stack) inputIP(now clock.Time, nic *Interface, b []byte, csum, local bool) {
	if len(b) == 0 {
		s.stats.DropTruncated++
		return
	}
	switch b[0] >> 4 {
	case 4:
		s.inputIPv4(now, nic, b, csum, local)
	case 6:
		s.inputIPv6(now, nic, b, csum, local)
	default:
		s.stats.DropMalformed++
	}
}

func (s *Stack) countParseErr(err error) {
	switch err {
	case wire.ErrTruncated:
		s.stats.DropTruncated++
	case wire.ErrBadChecksum:
		s.stats.DropBadChecksum++
	default:
		s.stats.DropMalformed++
	}
}

// inputIPv4 processes an IPv4 packet. local is set for packets from the
// loopback queue.
func (s *Stack) inputIPv4(now clock.Time, nic *Interface, b []byte, csum, local bool) {
	h, payload, err := wire.ParseIPv4(b)
	if err != nil {
		s.countParseErr(err)
		return
	}
	if h.IsFragment() {
		s.stats.DropFragment++
		return
	}
	if h.Src.IsMulticast() || nic.isBroadcast(h.Src) || h.Src.IsLoopback() || (!local && s.IsLocalAddr(h.Src)) {
		s.stats.DropBadSource++
		return
	}
	bcast := false
	if !s.IsLocalAddr(h.Dst) {
		if !nic.isBroadcast(h.Dst) {
			s.stats.DropNotForUs++
			return
		}
		bcast = true
	}
	s.stats.RxIPv4++
	if h.Protocol == wire.ProtoICMP {
		s.inputICMPv4(now, nic, &h, payload, bcast)
		return
	}
	s.deliver(now, nic, h.Src, h.Dst, h.Protocol, h.TTL, h.TOS, payload, csum, bcast)
}

// inputIPv6 processes an IPv6 packet.
func (s *Stack) inputIPv6(now clock.Time, nic *Interface, b []byte, csum, local bool) {
	h, payload, err := wire.ParseIPv6(b)
	if err != nil {
		s.countParseErr(err)
		return
	}
	if h.Src.IsMulticast() || h.Src.IsLoopback() || (!local && s.IsLocalAddr(h.Src)) {
		s.stats.DropBadSource++
		return
	}
	mcast := false
	if !s.IsLocalAddr(h.Dst) {
		if !nic.acceptsMulticast6(h.Dst) {
			s.stats.DropNotForUs++
			return
		}
		mcast = true
	}
	proto, payload, err := wire.SkipIPv6ExtensionHeaders(h.NextHeader, payload)
	if err != nil {
		if err == wire.ErrFragment {
			s.stats.DropFragment++
		} else {
			s.countParseErr(err)
		}
		return
	}
	s.stats.RxIPv6++
	if proto == wire.ProtoICMPv6 {
		s.inputICMPv6(now, nic, &h, payload, mcast)
		return
	}
	s.deliver(now, nic, h.Src, h.Dst, proto, h.HopLimit, h.TrafficClass, payload, csum, mcast)
}

// acceptsMulticast6 reports whether nic listens to the IPv6 group a.
func (n *Interface) acceptsMulticast6(a netip.Addr) bool {
	if !a.IsMulticast() {
		return false
	}
	if a == allNodes {
		return true
	}
	for _, p := range n.addrs {
		if pa := p.Addr(); pa.Is6() && a == wire.SolicitedNodeMulticast(pa) {
			return true
		}
	}
	return false
}

// deliver hands a packet to its transport.
func (s *Stack) deliver(now clock.Time, nic *Interface, src, dst netip.Addr, proto, ttl, tos uint8, payload []byte, csum, group bool) {
	t := s.transports[proto]
	if t == nil {
		s.stats.DropNoTransport++
		return
	}
	if group && proto == wire.ProtoTCP {
		s.stats.DropNotForUs++
		return
	}
	var pkt *Packet
	if s.rxDepth < len(s.rxPkts) {
		pkt = &s.rxPkts[s.rxDepth]
	} else {
		pkt = new(Packet)
	}
	*pkt = Packet{
		NIC:              nic,
		Src:              src,
		Dst:              dst,
		Protocol:         proto,
		TTL:              ttl,
		TOS:              tos,
		Payload:          payload,
		ChecksumVerified: csum,
	}
	s.stats.RxDelivered++
	s.rxDepth++
	t.HandlePacket(now, pkt)
	s.rxDepth--
	*pkt = Packet{}
}
