package ip

// Output. A transport builds its segment at buf[off:] leaving at least
// HeaderRoom bytes in front; WritePacket routes it, writes the IP header and
// the link header into that headroom in place and hands the frame to the
// device — no copy on the fast path (neighbour resolved). When the next hop
// is still being resolved the packet is copied into that neighbour's small
// queue and sent when resolution completes (or dropped and counted when it
// fails). Packets to one of our own addresses are copied to a loopback queue
// and delivered by the next Poll. IPv4 packets carry DF (path MTU discovery)
// and an incrementing ID; the stack never fragments.

import (
	"net/netip"

	"github.com/ustack/ustack/clock"
	"github.com/ustack/ustack/wire"
)

// WritePacket sends the transport segment buf[off:] (checksum already set)
// from src to dst. buf[:off] is headroom (off >= HeaderRoom suffices) where
// the IP and link headers are written. If src is invalid one is chosen as
// FindRoute does. A packet queued for neighbour resolution counts as sent
// (nil error).
func (s *Stack) WritePacket(src, dst netip.Addr, proto uint8, tos uint8, buf []byte, off int) error {
	if off < 0 || off > len(buf) {
		return ErrHeadroom
	}
	rt, err := s.resolveRoute(dst, src)
	if err != nil {
		s.stats.DropNoRoute++
		return err
	}
	return s.sendRouted(&rt, proto, tos, s.cfg.DefaultTTL, buf, off)
}

// WritePacketGSO is WritePacket for a TCP super-segment larger than the MTU
// (buf[off:] is the TCP header and up to RouteInfo.GSOMaxSize bytes), which
// the interface's GSODevice segments into mss-byte pieces. The transport has
// put the pseudo-header sum in its checksum field (see GSO).
func (s *Stack) WritePacketGSO(src, dst netip.Addr, tos uint8, buf []byte, off, mss int) error {
	if off < 0 || off+wire.TCPHeaderLen > len(buf) || mss <= 0 {
		return ErrHeadroom
	}
	rt, err := s.resolveRoute(dst, src)
	if err != nil {
		s.stats.DropNoRoute++
		return err
	}
	if _, ok := rt.nic.dev.(GSODevice); !ok || rt.nic.gso == 0 || rt.local {
		s.stats.DropTooBig++
		return ErrTooBig
	}
	tcpHdr := int(buf[off+12]>>4) * 4
	s.gso = &GSO{MSS: mss, IPv6: dst.Is6()}
	s.gsoTCPHdr = tcpHdr
	err = s.sendRouted(&rt, wire.ProtoTCP, tos, s.cfg.DefaultTTL, buf, off)
	s.gso = nil
	return err
}

// sendRouted is WritePacket after routing.
func (s *Stack) sendRouted(rt *route, proto, tos, ttl uint8, buf []byte, off int) error {
	nic, dst := rt.nic, rt.dst
	hdr := wire.IPv4HeaderLen
	if dst.Is6() {
		hdr = wire.IPv6HeaderLen
	}
	if off < hdr+nic.linkHeaderLen() {
		return ErrHeadroom
	}
	seg := len(buf) - off
	if seg+hdr > rt.mtu && (nic.gso == 0 || seg > nic.gso || rt.local) || seg+hdr > 65535 && dst.Is4() || seg > 65535 {
		s.stats.DropTooBig++
		return ErrTooBig
	}
	start := s.writeIPHeader(buf, off, rt.src, dst, proto, tos, ttl)
	if rt.local {
		return s.loopback(nic, buf[start:])
	}
	return s.transmitIP(nic, rt.nextHop, buf, start)
}

// writeIPHeader writes the IPv4 or IPv6 header for the payload buf[off:]
// just in front of it and returns the header's offset.
func (s *Stack) writeIPHeader(buf []byte, off int, src, dst netip.Addr, proto, tos, ttl uint8) int {
	plen := len(buf) - off
	if dst.Is4() {
		start := off - wire.IPv4HeaderLen
		h := wire.IPv4Header{
			HeaderLen:    wire.IPv4HeaderLen,
			TOS:          tos,
			ID:           s.nextID(),
			DontFragment: true,
			TTL:          ttl,
			Protocol:     proto,
			Src:          src,
			Dst:          dst,
		}
		h.Encode(buf[start:], plen)
		return start
	}
	start := off - wire.IPv6HeaderLen
	h := wire.IPv6Header{
		TrafficClass: tos,
		NextHeader:   proto,
		HopLimit:     ttl,
		Src:          src,
		Dst:          dst,
	}
	h.Encode(buf[start:], plen)
	return start
}

// transmitIP sends the IP packet buf[start:] on nic towards nextHop,
// resolving the link address if needed. buf[:start] must have room for the
// link header.
func (s *Stack) transmitIP(nic *Interface, nextHop netip.Addr, buf []byte, start int) error {
	if nic.linkType == LinkNone {
		return s.devTx(nic, buf[start:], true)
	}
	var mac wire.MAC
	switch {
	case nic.noARP:
		mac = nic.peerMAC
	case nextHop.Is6() && nextHop.IsMulticast():
		mac = wire.IPv6MulticastMAC(nextHop)
	case nextHop.Is4() && nic.isBroadcast(nextHop):
		mac = wire.BroadcastMAC
	default:
		n := nic.neigh[nextHop]
		if n == nil || n.state == neighIncomplete {
			return s.enqueue(nic, n, nextHop, buf[start:])
		}
		if n.state == neighStale {
			s.used(n)
		}
		mac = n.mac
	}
	return s.ethTx(nic, mac, buf, start)
}

// ethTx writes an Ethernet header to mac in front of the IP packet at
// buf[start:] and transmits the frame.
func (s *Stack) ethTx(nic *Interface, mac wire.MAC, buf []byte, start int) error {
	et := wire.EtherTypeIPv4
	if buf[start]>>4 == 6 {
		et = wire.EtherTypeIPv6
	}
	eth := wire.EthernetHeader{Dst: mac, Src: nic.mac, Type: et}
	start -= wire.EthernetHeaderLen
	eth.Encode(buf[start:])
	return s.devTx(nic, buf[start:], true)
}

// devTx hands a frame to the device and counts it.
func (s *Stack) devTx(nic *Interface, frame []byte, isIP bool) error {
	s.stats.TxFrames++
	if isIP {
		s.stats.TxPackets++
	}
	var err error
	if g := s.gso; g != nil && isIP {
		// A super-segment from WritePacketGSO: the IP header starts after
		// the link header.
		g.L4Start = nic.linkHeaderLen()
		if g.IPv6 {
			g.L4Start += wire.IPv6HeaderLen
		} else {
			g.L4Start += wire.IPv4HeaderLen
		}
		g.HdrLen = g.L4Start + s.gsoTCPHdr
		err = nic.dev.(GSODevice).TransmitGSO(frame, *g)
	} else {
		err = nic.dev.Transmit(frame)
	}
	if err != nil {
		s.stats.TxErrors++
		return err
	}
	return nil
}

// loopback queues a packet to one of our own addresses for the next Poll.
func (s *Stack) loopback(nic *Interface, pkt []byte) error {
	if len(s.loop) >= s.cfg.LoopbackQueueLen {
		s.stats.DropLoopback++
		return ErrLoopbackFull
	}
	var b []byte
	if k := len(s.loopFree); k > 0 {
		b = s.loopFree[k-1][:0]
		s.loopFree = s.loopFree[:k-1]
	}
	s.loop = append(s.loop, append(b, pkt...))
	s.loopNIC = append(s.loopNIC, nic)
	return nil
}

// deliverLoopback delivers the packets queued by loopback before this call
// (packets they cause wait for the next Poll).
func (s *Stack) deliverLoopback(now clock.Time) {
	k := len(s.loop)
	for i := 0; i < k; i++ {
		pkt, nic := s.loop[i], s.loopNIC[i]
		s.stats.TxLoopback++
		s.inputIP(now, nic, pkt, true, true)
		s.loopFree = append(s.loopFree, pkt)
	}
	rest := copy(s.loop, s.loop[k:])
	clear(s.loop[rest:])
	s.loop = s.loop[:rest]
	copy(s.loopNIC, s.loopNIC[k:])
	clear(s.loopNIC[rest:])
	s.loopNIC = s.loopNIC[:rest]
}
