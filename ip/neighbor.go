package ip

// Neighbour cache, ARP (RFC 826) and IPv6 neighbour discovery (RFC 4861,
// address resolution and unreachability detection only; no DAD, no router
// discovery).
//
// Each Ethernet interface with resolution has a map from next-hop address
// to entry. States, simplified from RFC 4861 7.3.2:
//
//	INCOMPLETE  resolution in progress: requests are sent every
//	            NeighborRetransmit, at most NeighborRetries; packets wait in
//	            a bounded queue. On failure the queue is dropped (counted)
//	            and the entry deleted.
//	REACHABLE   confirmed (ARP reply or request to us, solicited NA) within
//	            NeighborReachable (jittered); then STALE.
//	STALE       link address known but unconfirmed: still used; the first
//	            use moves it to DELAY. An unused entry is deleted after
//	            NeighborStaleTimeout.
//	DELAY       used while STALE: waits NeighborDelay for a confirmation
//	            (an ARP/NA, or a transport calling ConfirmNeighbor on
//	            forward progress), then PROBE.
//	PROBE       unicast requests on the retry schedule; no answer deletes
//	            the entry.
//	PERMANENT   static entries from the interface configuration.
//
// Every entry owns one timer in the stack's queue for its current state.
// Learning is conservative: new entries are created only for addresses we
// resolve or for hosts that address an ARP request / NS to us; other
// traffic (gratuitous ARP, unsolicited NA) only updates existing entries.

import (
	"net/netip"

	"github.com/ustack/ustack/clock"
	"github.com/ustack/ustack/wire"
)

type neighState uint8

const (
	neighIncomplete neighState = iota
	neighReachable
	neighStale
	neighDelay
	neighProbe
	neighPermanent
)

func (st neighState) String() string {
	switch st {
	case neighIncomplete:
		return "incomplete"
	case neighReachable:
		return "reachable"
	case neighStale:
		return "stale"
	case neighDelay:
		return "delay"
	case neighProbe:
		return "probe"
	case neighPermanent:
		return "permanent"
	}
	return "?"
}

type neighbor struct {
	nic    *Interface
	addr   netip.Addr
	mac    wire.MAC
	state  neighState
	probes int // requests sent in the current resolution or probe
	queue  [][]byte
	timer  clock.Timer
}

// NeighborState is a neighbour cache entry as reported by Neighbors.
type NeighborState struct {
	Addr  netip.Addr
	MAC   wire.MAC
	State string // "incomplete", "reachable", "stale", "permanent"
}

// Neighbors returns the interface's neighbour cache (for diagnostics).
func (n *Interface) Neighbors() []NeighborState {
	out := make([]NeighborState, 0, len(n.neigh))
	for _, e := range n.neigh {
		out = append(out, NeighborState{Addr: e.addr, MAC: e.mac, State: e.state.String()})
	}
	return out
}

// newNeighbor creates an INCOMPLETE entry, evicting a STALE one if the
// cache is full. It returns nil when nothing can be evicted.
func (s *Stack) newNeighbor(nic *Interface, addr netip.Addr) *neighbor {
	if len(nic.neigh) >= s.cfg.MaxNeighbors {
		var victim *neighbor
		for _, e := range nic.neigh {
			if e.state == neighStale {
				victim = e
				break
			}
		}
		if victim == nil {
			s.stats.DropNeighborTable++
			return nil
		}
		s.deleteNeighbor(victim)
	}
	n := &neighbor{nic: nic, addr: addr, state: neighIncomplete}
	n.timer.Fire = n.fire
	nic.neigh[addr] = n
	return n
}

func (s *Stack) deleteNeighbor(n *neighbor) {
	s.timers.Stop(&n.timer)
	if len(n.queue) > 0 {
		s.stats.DropNeighborFail += uint64(len(n.queue))
		n.queue = nil
	}
	if n.nic.neigh[n.addr] == n {
		delete(n.nic.neigh, n.addr)
	}
}

// enqueue holds the IP packet pkt until nextHop is resolved, starting
// resolution if n is nil.
func (s *Stack) enqueue(nic *Interface, n *neighbor, nextHop netip.Addr, pkt []byte) error {
	if n == nil {
		if n = s.newNeighbor(nic, nextHop); n == nil {
			return ErrNeighborFailed
		}
		n.probes = 1
		s.timers.Set(&n.timer, s.now.Add(s.cfg.NeighborRetransmit))
		defer s.solicit(n, false)
	}
	if len(n.queue) >= s.cfg.NeighborQueueLen {
		s.stats.DropNeighborQueue++
		return nil
	}
	frame := make([]byte, wire.EthernetHeaderLen+len(pkt))
	copy(frame[wire.EthernetHeaderLen:], pkt)
	n.queue = append(n.queue, frame)
	return nil
}

// fire runs the entry's timer: retry or give up resolution, age
// REACHABLE to STALE, delete unused STALE entries.
func (n *neighbor) fire(now clock.Time) {
	s := n.nic.stack
	switch {
	case n.state == neighDelay:
		n.state = neighProbe
		n.probes = 1
		s.timers.Set(&n.timer, now.Add(s.cfg.NeighborRetransmit))
		s.solicit(n, true)
	case n.state == neighIncomplete || n.state == neighProbe:
		if n.probes < s.cfg.NeighborRetries {
			n.probes++
			s.timers.Set(&n.timer, now.Add(s.cfg.NeighborRetransmit))
			s.solicit(n, n.state == neighProbe)
			return
		}
		s.stats.NeighborFailed++
		s.deleteNeighbor(n)
	case n.state == neighReachable:
		n.state = neighStale
		s.timers.Set(&n.timer, now.Add(s.cfg.NeighborStaleTimeout))
	case n.state == neighStale:
		s.deleteNeighbor(n)
	}
}

// used notes the use of a STALE entry: re-verify it unless confirmed
// within NeighborDelay.
func (s *Stack) used(n *neighbor) {
	n.state = neighDelay
	s.timers.Set(&n.timer, s.now.Add(s.cfg.NeighborDelay))
}

// ConfirmNeighbor tells the stack that the path to dst made forward
// progress (e.g. TCP saw new data acknowledged), so the neighbour used to
// reach dst is reachable (RFC 4861 7.3.1). It is cheap and may be called
// on every such event.
func (s *Stack) ConfirmNeighbor(dst netip.Addr) {
	rt, err := s.resolveRoute(dst, netip.Addr{})
	if err != nil || rt.local {
		return
	}
	n := rt.nic.neigh[rt.nextHop]
	if n == nil || n.state == neighIncomplete || n.state == neighPermanent {
		return
	}
	if n.state != neighReachable {
		s.confirm(n, n.mac, true)
	}
}

// confirm records mac for n. reachable distinguishes a confirmation of
// two-way reachability from mere link-address information (STALE).
func (s *Stack) confirm(n *neighbor, mac wire.MAC, reachable bool) {
	if n.state == neighPermanent {
		return
	}
	was := n.state
	n.mac = mac
	n.probes = 0
	if reachable {
		n.state = neighReachable
		s.timers.Set(&n.timer, s.now.Add(s.jitter(s.cfg.NeighborReachable)))
	} else {
		n.state = neighStale
		s.timers.Set(&n.timer, s.now.Add(s.cfg.NeighborStaleTimeout))
	}
	if was == neighIncomplete {
		s.stats.NeighborResolved++
		q := n.queue
		n.queue = nil
		for _, f := range q {
			s.ethTx(n.nic, mac, f, wire.EthernetHeaderLen)
		}
	}
}

// solicit sends an ARP request or neighbour solicitation for n: broadcast
// / solicited-node multicast while resolving, unicast to the cached link
// address when probing.
func (s *Stack) solicit(n *neighbor, unicast bool) {
	nic := n.nic
	if n.addr.Is4() {
		src := nic.sourceFor(n.addr)
		if !src.IsValid() {
			src = netip.IPv4Unspecified()
		}
		dst := wire.BroadcastMAC
		if unicast {
			dst = n.mac
		}
		s.sendARP(nic, wire.ARPRequest, dst, wire.MAC{}, src, n.addr)
		return
	}
	src := nic.sourceFor(n.addr)
	if !src.IsValid() {
		for _, o := range s.ifaces {
			if src = o.sourceFor(n.addr); src.IsValid() {
				break
			}
		}
		if !src.IsValid() {
			return // nothing to solicit from; resolution will time out
		}
	}
	dst, mac := wire.SolicitedNodeMulticast(n.addr), wire.MAC{}
	if unicast {
		dst, mac = n.addr, n.mac
	} else {
		mac = wire.IPv6MulticastMAC(dst)
	}
	m := wire.ICMPv6{
		Type:        wire.ICMPv6NeighborSolicitation,
		Target:      n.addr,
		SourceLL:    nic.mac,
		HasSourceLL: true,
	}
	s.stats.NDPSolicitsOut++
	s.sendICMPv6Frame(nic, mac, src, dst, &m)
}

// sendICMPv6Frame sends an NDP message (hop limit 255) straight to mac.
func (s *Stack) sendICMPv6Frame(nic *Interface, mac wire.MAC, src, dst netip.Addr, m *wire.ICMPv6) {
	b := s.resBuf[:HeaderRoom+m.Len()]
	m.Encode(src, dst, b[HeaderRoom:])
	start := s.writeIPHeader(b, HeaderRoom, src, dst, wire.ProtoICMPv6, 0, 255)
	s.stats.ICMPOut++
	s.ethTx(nic, mac, b, start)
}

// sendARP sends one ARP packet from nic.
func (s *Stack) sendARP(nic *Interface, op uint16, dstMAC, targetMAC wire.MAC, senderIP, targetIP netip.Addr) {
	b := s.resBuf[:60] // minimum Ethernet frame without FCS
	clear(b)
	eth := wire.EthernetHeader{Dst: dstMAC, Src: nic.mac, Type: wire.EtherTypeARP}
	eth.Encode(b)
	a := wire.ARP{Op: op, SenderMAC: nic.mac, SenderIP: senderIP, TargetMAC: targetMAC, TargetIP: targetIP}
	a.Encode(b[wire.EthernetHeaderLen:])
	if op == wire.ARPRequest {
		s.stats.ARPRequestsOut++
	} else {
		s.stats.ARPRepliesOut++
	}
	s.devTx(nic, b, false)
}

// inputARP processes an ARP packet received on nic.
func (s *Stack) inputARP(nic *Interface, b []byte) {
	if !nic.resolves() {
		s.stats.DropNoARP++
		return
	}
	a, err := wire.ParseARP(b)
	if err != nil {
		s.countParseErr(err)
		return
	}
	switch a.Op {
	case wire.ARPRequest:
		s.stats.ARPRequestsIn++
	case wire.ARPReply:
		s.stats.ARPRepliesIn++
	default:
		s.stats.DropMalformed++
		return
	}
	sip, tip := a.SenderIP.Unmap(), a.TargetIP.Unmap()
	if !sip.Is4() || !tip.Is4() || a.SenderMAC[0]&1 != 0 || a.SenderMAC == (wire.MAC{}) || a.SenderMAC == nic.mac {
		s.stats.DropMalformed++
		return
	}
	forUs := nic.hasAddr(tip)
	if sip.IsUnspecified() {
		// ARP probe (RFC 5227): answer to defend our address, learn
		// nothing.
		if a.Op == wire.ARPRequest && forUs {
			s.sendARP(nic, wire.ARPReply, a.SenderMAC, a.SenderMAC, tip, sip)
		}
		return
	}
	if sip.IsMulticast() || nic.isBroadcast(sip) || nic.hasAddr(sip) {
		s.stats.DropBadSource++
		return
	}
	n := nic.neigh[sip]
	switch {
	case forUs && sip != tip:
		// A request or reply addressed to us: the sender is talking to
		// us, so it is reachable.
		if n == nil {
			n = s.newNeighbor(nic, sip)
		}
		if n != nil {
			s.confirm(n, a.SenderMAC, true)
		}
	case n != nil && n.state != neighPermanent:
		// Gratuitous ARP or a request between third parties: refresh
		// what we already know (RFC 826 merge).
		if n.state == neighIncomplete || n.mac != a.SenderMAC {
			s.confirm(n, a.SenderMAC, false)
		}
	}
	if a.Op == wire.ARPRequest && forUs && sip != tip {
		s.sendARP(nic, wire.ARPReply, a.SenderMAC, a.SenderMAC, tip, sip)
	}
}

// inputNDP processes a neighbour solicitation or advertisement (already
// parsed, checksum verified) received on nic from src to dst.
func (s *Stack) inputNDP(nic *Interface, hopLimit uint8, src, dst netip.Addr, m *wire.ICMPv6) {
	if m.Type == wire.ICMPv6NeighborSolicitation {
		s.stats.NDPSolicitsIn++
	} else {
		s.stats.NDPAdvertsIn++
	}
	if !nic.resolves() {
		s.stats.DropNoARP++
		return
	}
	t := m.Target
	if hopLimit != 255 || m.Code != 0 || !t.Is6() || t.IsMulticast() {
		s.stats.DropMalformed++
		return
	}
	lladdrOK := func(mac wire.MAC) bool { return mac[0]&1 == 0 && mac != (wire.MAC{}) && mac != nic.mac }
	if m.Type == wire.ICMPv6NeighborSolicitation {
		if !nic.hasAddr(t) {
			s.stats.DropNotForUs++
			return
		}
		na := wire.ICMPv6{
			Type:        wire.ICMPv6NeighborAdvertisement,
			Target:      t,
			Solicited:   true,
			Override:    true,
			TargetLL:    nic.mac,
			HasTargetLL: true,
		}
		if src.IsUnspecified() {
			// DAD probe: answer to all nodes, learn nothing.
			if m.HasSourceLL || dst != wire.SolicitedNodeMulticast(t) {
				s.stats.DropMalformed++
				return
			}
			na.Solicited = false
			all := netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 15: 1})
			s.stats.NDPAdvertsOut++
			s.sendICMPv6Frame(nic, wire.IPv6MulticastMAC(all), t, all, &na)
			return
		}
		if m.HasSourceLL {
			if !lladdrOK(m.SourceLL) {
				s.stats.DropMalformed++
				return
			}
			// RFC 4861 7.2.3: create or update as STALE.
			n := nic.neigh[src]
			if n == nil {
				n = s.newNeighbor(nic, src)
			}
			if n != nil && (n.state == neighIncomplete || n.mac != m.SourceLL) {
				s.confirm(n, m.SourceLL, false)
			}
		}
		// Reply through the normal output path (resolves src if the NS
		// carried no source link-layer option).
		b := s.txBuf[:HeaderRoom+na.Len()]
		na.Encode(t, src, b[HeaderRoom:])
		start := s.writeIPHeader(b, HeaderRoom, t, src, wire.ProtoICMPv6, 0, 255)
		s.stats.NDPAdvertsOut++
		s.stats.ICMPOut++
		s.transmitIP(nic, src, b, start)
		return
	}
	// Neighbour advertisement (RFC 4861 7.2.5).
	if m.Solicited && dst.IsMulticast() {
		s.stats.DropMalformed++
		return
	}
	if m.HasTargetLL && !lladdrOK(m.TargetLL) {
		s.stats.DropMalformed++
		return
	}
	n := nic.neigh[t]
	if n == nil || n.state == neighPermanent {
		return
	}
	if n.state == neighIncomplete {
		if m.HasTargetLL {
			s.confirm(n, m.TargetLL, m.Solicited)
		}
		return
	}
	changed := m.HasTargetLL && m.TargetLL != n.mac
	switch {
	case !m.Override && changed:
		// Keep the old address, but doubt it.
		if n.state != neighStale {
			n.state = neighStale
			s.timers.Set(&n.timer, s.now.Add(s.cfg.NeighborStaleTimeout))
		}
	case m.Solicited:
		mac := n.mac
		if m.HasTargetLL {
			mac = m.TargetLL
		}
		s.confirm(n, mac, true)
	case changed:
		s.confirm(n, m.TargetLL, false)
	}
}
