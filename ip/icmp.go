package ip

// ICMP. The stack answers echo requests itself (not those sent to an IPv4
// broadcast address; IPv6 multicast ones are answered from the receiving
// interface's address, RFC 4443 4.2) and turns ICMP errors about packets we
// sent into ControlMessages for the transport of the quoted packet:
//
//	ICMPv4 dest unreachable / frag needed, ICMPv6 packet too big
//	                                    -> ControlPacketTooBig (+ PMTU cache)
//	ICMPv4 / ICMPv6 dest unreachable    -> ControlUnreachable
//	ICMPv4 / ICMPv6 time exceeded       -> ControlTimeExceeded
//
// The quoted packet is validated before use: a parsable IP header whose
// source is one of our addresses, not a non-first fragment, and at least 8
// bytes of transport header (ports and TCP sequence number). Anything else
// is counted in ICMPBadQuote and ignored. A reported MTU only ever lowers
// the path MTU and never below 576 / 1280; an ICMPv4 "fragmentation needed"
// without an MTU (pre-RFC 1191 router) uses the plateau below the quoted
// packet's length. NDP (types 135/136) is handled in neighbor.go; router
// discovery and redirects are ignored.

import (
	"net/netip"

	"github.com/ustack/ustack/clock"
	"github.com/ustack/ustack/wire"
)

// RFC 1191 section 7 MTU plateaus.
var mtuPlateaus = [...]int{32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68}

func (s *Stack) inputICMPv4(now clock.Time, nic *Interface, h *wire.IPv4Header, b []byte, bcast bool) {
	m, err := wire.ParseICMPv4(b)
	if err != nil {
		s.countParseErr(err)
		return
	}
	s.stats.ICMPIn++
	switch m.Type {
	case wire.ICMPv4EchoRequest:
		s.stats.ICMPEchoIn++
		if bcast {
			return
		}
		rt, err := s.resolveRoute(h.Src, h.Dst)
		if err != nil {
			s.stats.DropNoRoute++
			return
		}
		reply := wire.ICMPv4{Type: wire.ICMPv4EchoReply, ID: m.ID, Seq: m.Seq, Data: m.Data}
		n := reply.Len()
		buf := s.txBuf[:HeaderRoom+n]
		reply.Encode(buf[HeaderRoom:])
		s.stats.ICMPOut++
		s.stats.ICMPEchoOut++
		s.sendRouted(&rt, wire.ProtoICMP, h.TOS, s.cfg.DefaultTTL, buf, HeaderRoom)
	case wire.ICMPv4DestUnreachable, wire.ICMPv4TimeExceeded:
		s.stats.ICMPErrorsIn++
		if bcast {
			s.stats.ICMPBadQuote++
			return
		}
		s.icmpError4(now, &m)
	default:
		s.stats.ICMPUnsupported++
	}
}

func (s *Stack) icmpError4(now clock.Time, m *wire.ICMPv4) {
	q, qp, err := wire.ParseQuotedIPv4(m.Data)
	if err != nil || len(qp) < 8 || q.FragOffset != 0 || !s.IsLocalAddr(q.Src) || q.Dst.IsMulticast() {
		s.stats.ICMPBadQuote++
		return
	}
	ctl := ControlMessage{
		Kind:     ControlUnreachable,
		Code:     m.Code,
		Src:      q.Src,
		Dst:      q.Dst,
		Protocol: q.Protocol,
		Payload:  qp,
	}
	switch {
	case m.Type == wire.ICMPv4TimeExceeded:
		ctl.Kind = ControlTimeExceeded
	case m.Code == wire.ICMPv4FragNeeded:
		ctl.Kind = ControlPacketTooBig
		mtu := int(m.MTU)
		if mtu == 0 || (q.TotalLen >= 68 && mtu >= int(q.TotalLen)) {
			// No (or a useless) next-hop MTU: guess from the size of
			// the packet that did not fit.
			mtu = plateauBelow(int(q.TotalLen))
		}
		ctl.MTU = s.lowerPMTU(q.Dst, q.Src, mtu)
		if ctl.MTU == 0 {
			s.stats.ICMPBadQuote++
			return
		}
	}
	s.control(now, &ctl)
}

// plateauBelow returns the largest RFC 1191 plateau below size.
func plateauBelow(size int) int {
	for _, p := range mtuPlateaus {
		if p < size {
			return p
		}
	}
	return 68
}

// lowerPMTU applies a "packet too big" report of mtu for the path src→dst
// and returns the resulting path MTU (0 if the path has no route).
func (s *Stack) lowerPMTU(dst, src netip.Addr, mtu int) int {
	ri, err := s.FindRoute(dst, src)
	if err != nil {
		return 0
	}
	min := MinPMTU4
	if dst.Is6() {
		min = MinPMTU6
	}
	if mtu < min {
		mtu = min
	}
	if mtu >= ri.MTU {
		return ri.MTU
	}
	s.stats.PMTUUpdates++
	return s.SetPathMTU(dst, mtu)
}

// control hands an ICMP error to the transport of the quoted protocol.
func (s *Stack) control(now clock.Time, ctl *ControlMessage) {
	t := s.transports[ctl.Protocol]
	if t == nil {
		return
	}
	s.ctl = *ctl
	t.HandleControl(now, &s.ctl)
	s.ctl = ControlMessage{}
}

func (s *Stack) inputICMPv6(now clock.Time, nic *Interface, h *wire.IPv6Header, b []byte, mcast bool) {
	m, err := wire.ParseICMPv6(h.Src, h.Dst, b)
	if err != nil {
		s.countParseErr(err)
		return
	}
	s.stats.ICMPIn++
	switch m.Type {
	case wire.ICMPv6NeighborSolicitation, wire.ICMPv6NeighborAdvertisement:
		s.inputNDP(nic, h.HopLimit, h.Src, h.Dst, &m)
	case wire.ICMPv6EchoRequest:
		s.stats.ICMPEchoIn++
		if h.Src.IsUnspecified() {
			s.stats.DropBadSource++
			return
		}
		src := h.Dst
		if mcast {
			if src = nic.sourceFor(h.Src); !src.IsValid() {
				s.stats.DropNoRoute++
				return
			}
		}
		zoned := h.Src
		if h.Src.IsLinkLocalUnicast() {
			zoned = h.Src.WithZone(nic.name) // answer on the interface it came from
		}
		rt, err := s.resolveRoute(zoned, src)
		if err != nil {
			s.stats.DropNoRoute++
			return
		}
		reply := wire.ICMPv6{Type: wire.ICMPv6EchoReply, ID: m.ID, Seq: m.Seq, Data: m.Data}
		n := reply.Len()
		buf := s.txBuf[:HeaderRoom+n]
		reply.Encode(rt.src, rt.dst, buf[HeaderRoom:])
		s.stats.ICMPOut++
		s.stats.ICMPEchoOut++
		s.sendRouted(&rt, wire.ProtoICMPv6, h.TrafficClass, s.cfg.DefaultTTL, buf, HeaderRoom)
	case wire.ICMPv6DestUnreachable, wire.ICMPv6PacketTooBig, wire.ICMPv6TimeExceeded:
		s.stats.ICMPErrorsIn++
		s.icmpError6(now, &m)
	default:
		s.stats.ICMPUnsupported++
	}
}

func (s *Stack) icmpError6(now clock.Time, m *wire.ICMPv6) {
	q, qp, err := wire.ParseQuotedIPv6(m.Data)
	if err != nil || !s.IsLocalAddr(q.Src) || q.Dst.IsMulticast() {
		s.stats.ICMPBadQuote++
		return
	}
	proto, tp, err := wire.SkipIPv6ExtensionHeaders(q.NextHeader, qp)
	if err != nil || len(tp) < 8 {
		s.stats.ICMPBadQuote++
		return
	}
	ctl := ControlMessage{
		Kind:     ControlUnreachable,
		Code:     m.Code,
		Src:      q.Src,
		Dst:      q.Dst,
		Protocol: proto,
		Payload:  tp,
	}
	switch m.Type {
	case wire.ICMPv6TimeExceeded:
		ctl.Kind = ControlTimeExceeded
	case wire.ICMPv6PacketTooBig:
		ctl.Kind = ControlPacketTooBig
		mtu := int(min(m.MTU, 65535))
		ctl.MTU = s.lowerPMTU(q.Dst, q.Src, mtu)
		if ctl.MTU == 0 {
			s.stats.ICMPBadQuote++
			return
		}
	}
	s.control(now, &ctl)
}
