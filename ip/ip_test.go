package ip

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/ustack/ustack/clock"
	"github.com/ustack/ustack/wire"
)

func TestARPResolutionReleasesQueue(t *testing.T) {
	a := ethNode(t, 1, "10.0.0.1/24")
	b := ethNode(t, 2, "10.0.0.2/24")
	g := &segment{nodes: []*node{a, b}}

	// One more than the default queue of 101 packets: the last is dropped.
	var sent []string
	for i := 0; i < 102; i++ {
		p := fmt.Sprintf("p%d", i)
		sent = append(sent, p)
		if err := a.send("", "10.0.0.2", p); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	if got := len(a.dev.frames); got != 1 {
		t.Fatalf("before resolution: %d frames sent, want 1 ARP request", got)
	}
	req := parseFrame(t, a.dev.frames[0], LinkEthernet)
	if req.eth.Type != wire.EtherTypeARP || req.arp.Op != wire.ARPRequest || req.eth.Dst != wire.BroadcastMAC ||
		req.arp.TargetIP != addr("10.0.0.2") || req.arp.SenderIP != addr("10.0.0.1") {
		t.Fatalf("unexpected request %+v", req)
	}
	if st := a.s.Stats(); st.DropNeighborQueue != 1 || st.ARPRequestsOut != 1 {
		t.Fatalf("stats %+v", st)
	}
	g.run(t, sec(0.001))

	if len(b.tcp.pkts) != 101 {
		t.Fatalf("b got %d packets, want 101", len(b.tcp.pkts))
	}
	for i, want := range sent[:101] {
		p := b.tcp.pkts[i]
		if string(p.payload) != want || p.src != addr("10.0.0.1") || p.dst != addr("10.0.0.2") || p.ttl != 64 || p.proto != wire.ProtoTCP {
			t.Errorf("packet %d = %+v", i, p)
		}
	}
	sa, sb := a.s.Stats(), b.s.Stats()
	if sa.NeighborResolved != 1 || sa.ARPRepliesIn != 1 || sb.ARPRequestsIn != 1 || sb.ARPRepliesOut != 1 {
		t.Errorf("stats a=%+v b=%+v", sa, sb)
	}
	// b learned a from the request: replying needs no ARP.
	if err := b.send("", "10.0.0.1", "back"); err != nil {
		t.Fatal(err)
	}
	if f := b.dev.take(); len(f) != 1 || parseFrame(t, f[0], LinkEthernet).eth.Type != wire.EtherTypeIPv4 {
		t.Fatalf("b's reply was not sent directly: %d frames", len(f))
	}
	// Outgoing IPv4 header: DF, incrementing ID.
	a.send("", "10.0.0.2", "x")
	a.send("", "10.0.0.2", "y")
	fr := a.dev.take()
	p1, p2 := parseFrame(t, fr[0], LinkEthernet), parseFrame(t, fr[1], LinkEthernet)
	if !p1.v4.DontFragment || p2.v4.ID != p1.v4.ID+1 || p1.eth.Dst != mac(2) || p1.eth.Src != mac(1) {
		t.Errorf("headers %+v %+v", p1, p2)
	}
}

func TestARPTimeoutDropsAndCounts(t *testing.T) {
	a := ethNode(t, 1, "10.0.0.1/24")
	a.send("", "10.0.0.9", "p1")
	a.send("", "10.0.0.9", "p2")
	if n := a.s.NextDeadline(); n != sec(1) {
		t.Fatalf("next deadline %v, want 1s", n)
	}
	for _, at := range []float64{1, 2, 3} {
		a.s.Poll(sec(at))
	}
	var reqs int
	for _, f := range a.dev.take() {
		if parseFrame(t, f, LinkEthernet).arp.Op == wire.ARPRequest {
			reqs++
		}
	}
	st := a.s.Stats()
	if reqs != 3 || st.NeighborFailed != 1 || st.DropNeighborFail != 2 {
		t.Fatalf("requests=%d stats=%+v", reqs, st)
	}
	if len(a.nic.neigh) != 0 || a.s.NextDeadline() != clock.Never {
		t.Fatalf("entry or timer left behind: %v %v", a.nic.Neighbors(), a.s.NextDeadline())
	}
	// A new attempt starts a new resolution.
	a.send("", "10.0.0.9", "p3")
	if len(a.dev.take()) != 1 {
		t.Fatal("no new request")
	}
}

func TestNeighborAgingAndProbe(t *testing.T) {
	a := ethNode(t, 1, "10.0.0.1/24")
	b := ethNode(t, 2, "10.0.0.2/24")
	g := &segment{nodes: []*node{a, b}}
	a.send("", "10.0.0.2", "hi")
	g.run(t, 0)
	if a.nic.neigh[addr("10.0.0.2")].state != neighReachable {
		t.Fatal("not reachable")
	}
	a.s.Poll(sec(46)) // beyond 1.5 × 30 s
	if st := a.nic.neigh[addr("10.0.0.2")].state; st != neighStale {
		t.Fatalf("state %v, want stale", st)
	}
	// Use while stale: the packet goes out at once; a unicast probe
	// follows after the delay unless the transport confirms.
	a.send("", "10.0.0.2", "again")
	if fr := a.dev.take(); len(fr) != 1 || parseFrame(t, fr[0], LinkEthernet).proto != wire.ProtoTCP {
		t.Fatalf("%d frames, want the data only", len(fr))
	}
	a.s.Poll(sec(51))
	fr := a.dev.take()
	if len(fr) != 1 {
		t.Fatalf("%d frames, want a probe", len(fr))
	}
	probe := parseFrame(t, fr[0], LinkEthernet)
	if probe.arp.Op != wire.ARPRequest || probe.eth.Dst != mac(2) {
		t.Fatalf("probe %+v", probe)
	}
	b.s.Input(sec(51), b.nic, fr[0])
	g.run(t, sec(51))
	if st := a.nic.neigh[addr("10.0.0.2")].state; st != neighReachable {
		t.Fatalf("state %v after probe reply, want reachable", st)
	}
	// Forward progress reported by the transport avoids the probe.
	a.s.Poll(sec(100))
	a.send("", "10.0.0.2", "more")
	a.s.ConfirmNeighbor(addr("10.0.0.2"))
	a.s.Poll(sec(106))
	if fr := a.dev.take(); len(fr) != 1 || a.nic.neigh[addr("10.0.0.2")].state != neighReachable {
		t.Fatalf("%d frames, state %v", len(fr), a.nic.neigh[addr("10.0.0.2")].state)
	}
	// Host disappears: probes go unanswered and the entry is removed.
	a.s.Poll(sec(160))
	a.send("", "10.0.0.2", "lost")
	for _, at := range []float64{165, 166, 167, 168} {
		a.s.Poll(sec(at))
	}
	if _, ok := a.nic.neigh[addr("10.0.0.2")]; ok {
		t.Fatal("unanswered entry not removed")
	}
	// Unused stale entries are garbage collected.
	a.send("", "10.0.0.2", "again")
	g.run(t, sec(200))
	a.s.Poll(sec(200 + 46))
	a.s.Poll(sec(200 + 46 + 61))
	if len(a.nic.neigh) != 0 {
		t.Fatalf("stale entry kept: %v", a.nic.Neighbors())
	}
}

func TestGratuitousARPUpdatesExisting(t *testing.T) {
	a := ethNode(t, 1, "10.0.0.1/24")
	b := ethNode(t, 2, "10.0.0.2/24")
	g := &segment{nodes: []*node{a, b}}
	a.send("", "10.0.0.2", "hi")
	g.run(t, 0)
	garp := wire.ARP{Op: wire.ARPRequest, SenderMAC: mac(7), SenderIP: addr("10.0.0.2"), TargetIP: addr("10.0.0.2")}
	pl := make([]byte, wire.ARPLen)
	garp.Encode(pl)
	a.s.Input(sec(1), a.nic, eth(wire.BroadcastMAC, mac(7), wire.EtherTypeARP, pl))
	if n := a.nic.neigh[addr("10.0.0.2")]; n.mac != mac(7) || n.state != neighStale {
		t.Fatalf("entry %+v", n)
	}
	// Unknown senders are not learned from gratuitous ARP.
	garp.SenderIP, garp.TargetIP = addr("10.0.0.3"), addr("10.0.0.3")
	garp.Encode(pl)
	a.s.Input(sec(1), a.nic, eth(wire.BroadcastMAC, mac(8), wire.EtherTypeARP, pl))
	if _, ok := a.nic.neigh[addr("10.0.0.3")]; ok {
		t.Fatal("learned from gratuitous ARP")
	}
	if len(a.dev.frames) != 0 {
		t.Fatal("answered gratuitous ARP")
	}
}

func TestNDPResolution(t *testing.T) {
	a := ethNode(t, 1, "2001:db8::1/64")
	b := ethNode(t, 2, "2001:db8::2/64")
	g := &segment{nodes: []*node{a, b}}
	a.send("", "2001:db8::2", "one")
	a.send("", "2001:db8::2", "two")
	ns := parseFrame(t, a.dev.frames[0], LinkEthernet)
	if ns.proto != wire.ProtoICMPv6 || ns.v6.Dst != wire.SolicitedNodeMulticast(addr("2001:db8::2")) ||
		ns.eth.Dst != wire.IPv6MulticastMAC(ns.v6.Dst) || ns.v6.HopLimit != 255 {
		t.Fatalf("ns %+v", ns)
	}
	g.run(t, 0)
	if len(b.tcp.pkts) != 2 || string(b.tcp.pkts[1].payload) != "two" || b.tcp.pkts[0].src != addr("2001:db8::1") {
		t.Fatalf("b got %+v", b.tcp.pkts)
	}
	sa, sb := a.s.Stats(), b.s.Stats()
	if sa.NDPSolicitsOut != 1 || sa.NDPAdvertsIn != 1 || sb.NDPSolicitsIn != 1 || sb.NDPAdvertsOut != 1 || sa.NeighborResolved != 1 {
		t.Fatalf("stats a=%+v b=%+v", sa, sb)
	}
	// b learned a (STALE) from the NS source link-layer option.
	if n := b.nic.neigh[addr("2001:db8::1")]; n == nil || n.mac != mac(1) {
		t.Fatal("b did not learn a")
	}
	if err := b.send("", "2001:db8::1", "back"); err != nil {
		t.Fatal(err)
	}
	g.run(t, sec(1))
	if len(a.tcp.pkts) != 1 || string(a.tcp.pkts[0].payload) != "back" {
		t.Fatalf("a got %+v", a.tcp.pkts)
	}
	// NDP with hop limit != 255 is rejected.
	m := wire.ICMPv6{Type: wire.ICMPv6NeighborSolicitation, Target: addr("2001:db8::2"), SourceLL: mac(9), HasSourceLL: true}
	src, dst := addr("2001:db8::9"), wire.SolicitedNodeMulticast(addr("2001:db8::2"))
	before := b.s.Stats().DropMalformed
	b.s.Input(sec(2), b.nic, eth(wire.IPv6MulticastMAC(dst), mac(9), wire.EtherTypeIPv6, ip6(src, dst, wire.ProtoICMPv6, 64, icmp6(src, dst, m))))
	if b.s.Stats().DropMalformed != before+1 || b.nic.neigh[src] != nil {
		t.Fatal("accepted NS with hop limit 64")
	}
}

func TestNDPTimeout(t *testing.T) {
	a := ethNode(t, 1, "2001:db8::1/64")
	a.send("", "2001:db8::9", "x")
	for _, at := range []float64{1, 2, 3} {
		a.s.Poll(sec(at))
	}
	if st := a.s.Stats(); st.NDPSolicitsOut != 3 || st.DropNeighborFail != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPing4(t *testing.T) {
	a := ethNode(t, 1, "10.0.0.1/24")
	b := ethNode(t, 2, "10.0.0.2/24")
	g := &segment{nodes: []*node{a, b}}
	req := icmp4(wire.ICMPv4{Type: wire.ICMPv4EchoRequest, ID: 7, Seq: 9, Data: []byte("ping data")})
	b.s.Input(0, b.nic, eth(mac(2), mac(1), wire.EtherTypeIPv4, ip4(addr("10.0.0.1"), addr("10.0.0.2"), wire.ProtoICMP, req)))
	g.run(t, 0) // b resolves a, then sends the reply
	var reply *parsedFrame
	for _, f := range g.log {
		p := parseFrame(t, f, LinkEthernet)
		if p.proto == wire.ProtoICMP {
			reply = &p
		}
	}
	if reply == nil {
		t.Fatal("no echo reply")
	}
	m, err := wire.ParseICMPv4(reply.l4)
	if err != nil || m.Type != wire.ICMPv4EchoReply || m.ID != 7 || m.Seq != 9 || string(m.Data) != "ping data" ||
		reply.v4.Src != addr("10.0.0.2") || reply.v4.Dst != addr("10.0.0.1") {
		t.Fatalf("reply %+v %+v %v", reply.v4, m, err)
	}
	if st := b.s.Stats(); st.ICMPEchoIn != 1 || st.ICMPEchoOut != 1 {
		t.Fatalf("stats %+v", st)
	}
	// Broadcast ping is not answered.
	b.s.Input(0, b.nic, eth(wire.BroadcastMAC, mac(1), wire.EtherTypeIPv4, ip4(addr("10.0.0.1"), addr("10.0.0.255"), wire.ProtoICMP, req)))
	if len(b.dev.frames) != 0 {
		t.Fatal("answered broadcast ping")
	}
	// Bad ICMP checksum.
	bad := bytes.Clone(req)
	bad[8] ^= 1
	b.s.Input(0, b.nic, eth(mac(2), mac(1), wire.EtherTypeIPv4, ip4(addr("10.0.0.1"), addr("10.0.0.2"), wire.ProtoICMP, bad)))
	if b.s.Stats().DropBadChecksum != 1 || len(b.dev.frames) != 0 {
		t.Fatal("bad ICMP checksum not dropped")
	}
}

func TestPing6(t *testing.T) {
	a := ethNode(t, 1, "2001:db8::1/64")
	b := ethNode(t, 2, "2001:db8::2/64", "fe80::2/64")
	g := &segment{nodes: []*node{a, b}}
	src, dst := addr("2001:db8::1"), addr("2001:db8::2")
	req := icmp6(src, dst, wire.ICMPv6{Type: wire.ICMPv6EchoRequest, ID: 3, Seq: 4, Data: []byte("v6 ping")})
	b.s.Input(0, b.nic, eth(mac(2), mac(1), wire.EtherTypeIPv6, ip6(src, dst, wire.ProtoICMPv6, 64, req)))
	// Multicast (all-nodes) ping is answered too, from a unicast address.
	all := addr("ff02::1")
	req2 := icmp6(src, all, wire.ICMPv6{Type: wire.ICMPv6EchoRequest, ID: 3, Seq: 5})
	b.s.Input(0, b.nic, eth(wire.IPv6MulticastMAC(all), mac(1), wire.EtherTypeIPv6, ip6(src, all, wire.ProtoICMPv6, 64, req2)))
	g.run(t, 0)
	var seqs []uint16
	for _, f := range g.log {
		p := parseFrame(t, f, LinkEthernet)
		if p.proto != wire.ProtoICMPv6 {
			continue
		}
		m, err := wire.ParseICMPv6(p.v6.Src, p.v6.Dst, p.l4)
		if err != nil {
			t.Fatal(err)
		}
		if m.Type == wire.ICMPv6EchoReply {
			if p.v6.Src != dst || p.v6.Dst != src || m.ID != 3 {
				t.Fatalf("reply %+v %+v", p.v6, m)
			}
			seqs = append(seqs, m.Seq)
		}
	}
	if len(seqs) != 2 || seqs[0] != 4 || seqs[1] != 5 {
		t.Fatalf("replies %v", seqs)
	}
}

func TestGatewayRouting(t *testing.T) {
	a := ethNode(t, 1, "10.0.0.1/24", "2001:db8::1/64")
	r := ethNode(t, 2, "10.0.0.254/24", "fe80::1/64")
	g := &segment{nodes: []*node{a, r}}
	if _, err := a.s.FindRoute(addr("192.0.2.7"), netip.Addr{}); !errors.Is(err, ErrNoRoute) {
		t.Fatalf("FindRoute without default: %v", err)
	}
	if err := a.s.AddRoute(Route{Dst: pfx("0.0.0.0/0"), Gateway: addr("10.0.0.254"), NIC: a.nic}); err != nil {
		t.Fatal(err)
	}
	if err := a.s.AddRoute(Route{Dst: pfx("::/0"), Gateway: addr("fe80::1"), NIC: a.nic}); err != nil {
		t.Fatal(err)
	}
	ri, err := a.s.FindRoute(addr("192.0.2.7"), netip.Addr{})
	if err != nil || ri.NIC != a.nic || ri.Src != addr("10.0.0.1") || ri.MTU != 1500 {
		t.Fatalf("FindRoute = %+v, %v", ri, err)
	}
	a.send("", "192.0.2.7", "far")
	a.send("", "2001:db8:ffff::7", "far6")
	g.run(t, 0)
	var got4, got6 bool
	for _, f := range g.log {
		p := parseFrame(t, f, LinkEthernet)
		if p.proto != wire.ProtoTCP {
			continue
		}
		if p.eth.Dst != mac(2) {
			t.Fatalf("data frame not sent to the gateway: %v", p.eth.Dst)
		}
		got4 = got4 || p.v4.Dst == addr("192.0.2.7")
		got6 = got6 || p.v6.Dst == addr("2001:db8:ffff::7")
	}
	if !got4 || !got6 {
		t.Fatalf("frames via gateway: v4=%v v6=%v", got4, got6)
	}
	// The router is a host: not for it.
	if r.s.Stats().DropNotForUs != 2 || len(r.tcp.pkts) != 0 {
		t.Fatalf("router stats %+v", r.s.Stats())
	}
	// Longest prefix wins; RemoveRoute.
	r2 := Route{Dst: pfx("192.0.2.0/24"), Gateway: addr("10.0.0.253"), NIC: a.nic, MTU: 1400}
	if err := a.s.AddRoute(r2); err != nil {
		t.Fatal(err)
	}
	if ri, _ := a.s.FindRoute(addr("192.0.2.7"), netip.Addr{}); ri.MTU != 1400 {
		t.Fatalf("more specific route not used: %+v", ri)
	}
	if err := a.s.RemoveRoute(r2); err != nil {
		t.Fatal(err)
	}
	if ri, _ := a.s.FindRoute(addr("192.0.2.7"), netip.Addr{}); ri.MTU != 1500 {
		t.Fatalf("route not removed: %+v", ri)
	}
	// Bad routes.
	for _, bad := range []Route{
		{Dst: pfx("0.0.0.0/0"), Gateway: addr("fe80::1"), NIC: a.nic},
		{Dst: pfx("0.0.0.0/0"), Gateway: addr("10.0.0.1"), NIC: a.nic},
		{Dst: pfx("0.0.0.0/0"), Src: addr("10.9.9.9"), NIC: a.nic},
		{Dst: pfx("0.0.0.0/0")},
	} {
		if err := a.s.AddRoute(bad); err == nil {
			t.Errorf("AddRoute(%+v) accepted", bad)
		}
	}
}

func TestMultipleInterfaces(t *testing.T) {
	h := NewStack(Config{})
	d1, d2 := &fakeDev{}, &fakeDev{}
	n1, err := h.AddInterface(InterfaceConfig{Name: "a", MAC: mac(1), Addrs: []netip.Prefix{pfx("10.1.0.1/24")}}, d1)
	if err != nil {
		t.Fatal(err)
	}
	n2, err := h.AddInterface(InterfaceConfig{Name: "b", LinkType: LinkNone, MTU: 9000, Addrs: []netip.Prefix{pfx("10.2.0.1/24")}}, d2)
	if err != nil {
		t.Fatal(err)
	}
	if ri, _ := h.FindRoute(addr("10.2.0.9"), netip.Addr{}); ri.NIC != n2 || ri.MTU != 9000 || ri.Src != addr("10.2.0.1") {
		t.Fatalf("route %+v", ri)
	}
	if ri, _ := h.FindRoute(addr("10.1.0.9"), netip.Addr{}); ri.NIC != n1 {
		t.Fatalf("route %+v", ri)
	}
	// Weak host: a packet to n2's address arriving on n1 is accepted.
	tr := &fakeTransport{proto: wire.ProtoTCP}
	h.RegisterTransport(tr)
	h.Input(0, n1, eth(mac(1), mac(9), wire.EtherTypeIPv4, ip4(addr("10.1.0.9"), addr("10.2.0.1"), wire.ProtoTCP, []byte("hello"))))
	if len(tr.pkts) != 1 || tr.pkts[0].nic != n1 {
		t.Fatalf("got %+v", tr.pkts)
	}
	if h.InterfaceByName("b") != n2 || len(h.Interfaces()) != 2 {
		t.Fatal("lookup by name")
	}
	if err := h.RemoveAddress(n2, pfx("10.2.0.1/24")); err != nil {
		t.Fatal(err)
	}
	if _, err := h.FindRoute(addr("10.2.0.9"), netip.Addr{}); err == nil {
		t.Fatal("on-link route survived address removal")
	}
}

func TestLinkNone(t *testing.T) {
	cfg := func(a ...string) InterfaceConfig {
		var ps []netip.Prefix
		for _, s := range a {
			ps = append(ps, pfx(s))
		}
		return InterfaceConfig{Name: "tun0", LinkType: LinkNone, Addrs: ps}
	}
	a := newNode(t, cfg("10.0.0.1/32", "2001:db8::1/128"))
	b := newNode(t, cfg("10.0.0.2/32", "2001:db8::2/128"))
	a.s.AddRoute(Route{Dst: pfx("0.0.0.0/0"), NIC: a.nic})
	a.s.AddRoute(Route{Dst: pfx("::/0"), NIC: a.nic})
	b.s.AddRoute(Route{Dst: pfx("0.0.0.0/0"), NIC: b.nic})
	b.s.AddRoute(Route{Dst: pfx("::/0"), NIC: b.nic})
	g := &segment{nodes: []*node{a, b}}
	if err := a.send("", "10.0.0.2", "v4"); err != nil {
		t.Fatal(err)
	}
	if err := a.send("", "2001:db8::2", "v6"); err != nil {
		t.Fatal(err)
	}
	if len(a.dev.frames) != 2 || a.dev.frames[0][0] != 0x45 || a.dev.frames[1][0]>>4 != 6 {
		t.Fatalf("frames %x", a.dev.frames)
	}
	g.run(t, 0)
	if len(b.tcp.pkts) != 2 || string(b.tcp.pkts[0].payload) != "v4" || string(b.tcp.pkts[1].payload) != "v6" {
		t.Fatalf("b got %+v", b.tcp.pkts)
	}
	// Ping over a LinkNone interface.
	req := icmp4(wire.ICMPv4{Type: wire.ICMPv4EchoRequest, ID: 1, Seq: 1})
	b.s.Input(0, b.nic, ip4(addr("10.0.0.1"), addr("10.0.0.2"), wire.ProtoICMP, req))
	if len(b.dev.frames) != 1 || parseFrame(t, b.dev.frames[0], LinkNone).proto != wire.ProtoICMP {
		t.Fatal("no echo reply on LinkNone")
	}
	// Garbage version nibble.
	b.s.Input(0, b.nic, []byte{0x75, 0, 0})
	b.s.Input(0, b.nic, nil)
	if st := b.s.Stats(); st.DropMalformed != 1 || st.DropTruncated != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestNoARP(t *testing.T) {
	a := newNode(t, InterfaceConfig{Name: "p2p", MAC: mac(1), NoARP: true, PeerMAC: mac(2), Addrs: []netip.Prefix{pfx("10.0.0.1/24"), pfx("2001:db8::1/64")}})
	a.send("", "10.0.0.2", "x")
	a.send("", "2001:db8::2", "y")
	fr := a.dev.take()
	if len(fr) != 2 {
		t.Fatalf("%d frames", len(fr))
	}
	for _, f := range fr {
		if p := parseFrame(t, f, LinkEthernet); p.eth.Dst != mac(2) || p.proto != wire.ProtoTCP {
			t.Fatalf("frame %+v", p)
		}
	}
	// Default peer MAC is broadcast.
	c := newNode(t, InterfaceConfig{Name: "p2p", MAC: mac(3), NoARP: true, Addrs: []netip.Prefix{pfx("10.0.0.3/24")}})
	c.send("", "10.0.0.2", "x")
	if p := parseFrame(t, c.dev.frames[0], LinkEthernet); p.eth.Dst != wire.BroadcastMAC {
		t.Fatalf("dst %v", p.eth.Dst)
	}
	// ARP requests are not answered on a NoARP interface.
	q := wire.ARP{Op: wire.ARPRequest, SenderMAC: mac(2), SenderIP: addr("10.0.0.2"), TargetIP: addr("10.0.0.1")}
	pl := make([]byte, wire.ARPLen)
	q.Encode(pl)
	a.s.Input(0, a.nic, eth(wire.BroadcastMAC, mac(2), wire.EtherTypeARP, pl))
	if len(a.dev.frames) != 0 || a.s.Stats().DropNoARP != 1 {
		t.Fatal("ARP answered on NoARP interface")
	}
}

func TestStaticNeighbor(t *testing.T) {
	a := newNode(t, InterfaceConfig{Name: "e", MAC: mac(1), Addrs: []netip.Prefix{pfx("10.0.0.1/24")},
		StaticNeighbors: map[netip.Addr]wire.MAC{addr("10.0.0.2"): mac(2)}})
	a.send("", "10.0.0.2", "x")
	if p := parseFrame(t, a.dev.frames[0], LinkEthernet); p.eth.Dst != mac(2) || p.proto != wire.ProtoTCP {
		t.Fatalf("frame %+v", p)
	}
	a.s.Poll(sec(1000))
	if a.nic.neigh[addr("10.0.0.2")].state != neighPermanent {
		t.Fatal("static entry aged")
	}
}

func TestLoopback(t *testing.T) {
	a := ethNode(t, 1, "10.0.0.1/24")
	if err := a.send("", "10.0.0.1", "self"); err != nil {
		t.Fatal(err)
	}
	if len(a.dev.frames) != 0 || a.s.NextDeadline() != 0 {
		t.Fatal("loopback packet hit the wire or is not pending")
	}
	a.s.Poll(0)
	if len(a.tcp.pkts) != 1 || a.tcp.pkts[0].src != addr("10.0.0.1") || string(a.tcp.pkts[0].payload) != "self" {
		t.Fatalf("got %+v", a.tcp.pkts)
	}
	if a.s.NextDeadline() != clock.Never {
		t.Fatal("queue not drained")
	}
}

func TestWritePacketErrors(t *testing.T) {
	a := ethNode(t, 1, "10.0.0.1/24")
	buf := make([]byte, HeaderRoom+1481)
	if err := a.s.WritePacket(netip.Addr{}, addr("10.0.0.2"), 6, 0, buf, HeaderRoom); !errors.Is(err, ErrTooBig) {
		t.Errorf("oversize: %v", err)
	}
	if err := a.s.WritePacket(netip.Addr{}, addr("10.0.0.2"), 6, 0, buf, 20); !errors.Is(err, ErrHeadroom) {
		t.Errorf("headroom: %v", err)
	}
	if err := a.s.WritePacket(addr("10.0.0.5"), addr("10.0.0.2"), 6, 0, buf[:100], HeaderRoom); !errors.Is(err, ErrBadAddress) {
		t.Errorf("foreign src: %v", err)
	}
	if err := a.s.WritePacket(netip.Addr{}, addr("224.0.0.1"), 6, 0, buf[:100], HeaderRoom); !errors.Is(err, ErrBadAddress) {
		t.Errorf("multicast dst: %v", err)
	}
	if err := a.s.WritePacket(netip.Addr{}, addr("192.0.2.1"), 6, 0, buf[:100], HeaderRoom); !errors.Is(err, ErrNoRoute) {
		t.Errorf("no route: %v", err)
	}
	if err := a.s.WritePacket(netip.Addr{}, addr("2001:db8::1"), 6, 0, buf[:100], HeaderRoom); !errors.Is(err, ErrNoRoute) {
		t.Errorf("no v6 route: %v", err)
	}
	// GSO: oversize segments allowed up to GSOMaxSize.
	g := newNode(t, InterfaceConfig{Name: "g", MAC: mac(1), GSOMaxSize: 16000, Addrs: []netip.Prefix{pfx("10.0.0.1/24")},
		StaticNeighbors: map[netip.Addr]wire.MAC{addr("10.0.0.2"): mac(2)}})
	big := make([]byte, HeaderRoom+16000)
	if err := g.s.WritePacket(netip.Addr{}, addr("10.0.0.2"), 6, 0, big, HeaderRoom); err != nil {
		t.Errorf("GSO: %v", err)
	}
	if ri, _ := g.s.FindRoute(addr("10.0.0.2"), netip.Addr{}); ri.GSOMaxSize != 16000 {
		t.Errorf("GSOMaxSize %d", ri.GSOMaxSize)
	}
	// WritePacketGSO hands the device the offsets it needs.
	big[HeaderRoom+12] = 5 << 4 // TCP data offset: 20 bytes
	if err := g.s.WritePacketGSO(netip.Addr{}, addr("10.0.0.2"), 0, big, HeaderRoom, 1460); err != nil {
		t.Fatalf("WritePacketGSO: %v", err)
	}
	want := GSO{L4Start: 14 + 20, HdrLen: 14 + 20 + 20, MSS: 1460}
	if got := g.dev.lastGSO; got != want {
		t.Errorf("GSO %+v, want %+v", got, want)
	}
}

func TestAddInterfaceValidation(t *testing.T) {
	s := NewStack(Config{})
	d := &fakeDev{}
	bad := []InterfaceConfig{
		{Name: "zero-mac"},
		{Name: "mcast-mac", MAC: wire.MAC{1, 0, 0, 0, 0, 1}},
		{Name: "mtu", MAC: mac(1), MTU: 10},
		{Name: "v6-small-mtu", MAC: mac(1), MTU: 1000, Addrs: []netip.Prefix{pfx("2001:db8::1/64")}},
		{Name: "net-addr", MAC: mac(1), Addrs: []netip.Prefix{pfx("10.0.0.0/24")}},
		{Name: "bcast-addr", MAC: mac(1), Addrs: []netip.Prefix{pfx("10.0.0.255/24")}},
		{Name: "mcast-addr", MAC: mac(1), Addrs: []netip.Prefix{pfx("224.0.0.1/24")}},
		{Name: "linktype", LinkType: 9},
		{Name: "static", MAC: mac(1), StaticNeighbors: map[netip.Addr]wire.MAC{addr("10.0.0.2"): wire.BroadcastMAC}},
		{Name: "gso", MAC: mac(1), GSOMaxSize: 70000},
	}
	for _, c := range bad {
		if _, err := s.AddInterface(c, d); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%s: err %v", c.Name, err)
		}
	}
	if _, err := s.AddInterface(InterfaceConfig{Name: "ok", MAC: mac(1)}, nil); err == nil {
		t.Error("nil device accepted")
	}
	n, err := s.AddInterface(InterfaceConfig{Name: "ok", MAC: mac(1), Addrs: []netip.Prefix{pfx("10.0.0.1/24")}}, d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddInterface(InterfaceConfig{Name: "ok", MAC: mac(2)}, d); err == nil {
		t.Error("duplicate name accepted")
	}
	if err := s.AddAddress(n, pfx("10.0.0.1/24")); !errors.Is(err, ErrAddressExists) {
		t.Errorf("duplicate address: %v", err)
	}
	if err := s.RemoveAddress(n, pfx("10.0.0.7/24")); !errors.Is(err, ErrNoSuchAddress) {
		t.Errorf("remove missing: %v", err)
	}
	if len(s.Interfaces()) != 1 || len(s.Routes()) != 1 {
		t.Errorf("failed AddInterface left state behind: %d ifaces %d routes", len(s.Interfaces()), len(s.Routes()))
	}
}

func TestChecksumOffloadFlag(t *testing.T) {
	a := ethNode(t, 1, "10.0.0.1/24")
	f := eth(mac(1), mac(2), wire.EtherTypeIPv4, ip4(addr("10.0.0.2"), addr("10.0.0.1"), wire.ProtoTCP, []byte("x")))
	a.s.Input(0, a.nic, f)
	a.s.InputWith(0, a.nic, f, InputOpts{ChecksumVerified: true})
	if a.tcp.pkts[0].csum || !a.tcp.pkts[1].csum {
		t.Fatalf("flags %v %v", a.tcp.pkts[0].csum, a.tcp.pkts[1].csum)
	}
	o := newNode(t, InterfaceConfig{Name: "o", MAC: mac(1), ChecksumOffload: true, Addrs: []netip.Prefix{pfx("10.0.0.1/24")}})
	o.s.Input(0, o.nic, f)
	if !o.tcp.pkts[0].csum {
		t.Fatal("interface offload flag not applied")
	}
}

func TestMalformedFramesCounted(t *testing.T) {
	a := ethNode(t, 1, "10.0.0.1/24", "2001:db8::1/64")
	src4, dst4 := addr("10.0.0.2"), addr("10.0.0.1")
	good := ip4(src4, dst4, wire.ProtoTCP, []byte("payload"))
	badSum := bytes.Clone(good)
	badSum[10] ^= 0xff
	frag := ip4(src4, dst4, wire.ProtoTCP, []byte("payload"))
	frag[6] |= 0x20 // MF
	frag[10], frag[11] = 0, 0
	sum := wire.FoldChecksum(wire.Checksum(frag[:20], 0))
	frag[10], frag[11] = byte(sum>>8), byte(sum)
	frag6 := ip6(addr("2001:db8::2"), addr("2001:db8::1"), wire.ProtoFragment, 64, make([]byte, 16))
	arpShort := make([]byte, 10)
	cases := []struct {
		name  string
		frame []byte
		field func(Stats) uint64
	}{
		{"short ethernet", []byte{1, 2, 3}, func(s Stats) uint64 { return s.DropTruncated }},
		{"unknown ethertype", eth(mac(1), mac(2), 0x88cc, good), func(s Stats) uint64 { return s.DropUnknownEtherType }},
		{"other unicast MAC", eth(mac(5), mac(2), wire.EtherTypeIPv4, good), func(s Stats) uint64 { return s.DropNotForUs }},
		{"truncated ipv4", eth(mac(1), mac(2), wire.EtherTypeIPv4, good[:10]), func(s Stats) uint64 { return s.DropTruncated }},
		{"ipv4 length beyond frame", eth(mac(1), mac(2), wire.EtherTypeIPv4, good[:25]), func(s Stats) uint64 { return s.DropMalformed }},
		{"bad ipv4 checksum", eth(mac(1), mac(2), wire.EtherTypeIPv4, badSum), func(s Stats) uint64 { return s.DropBadChecksum }},
		{"ipv4 fragment", eth(mac(1), mac(2), wire.EtherTypeIPv4, frag), func(s Stats) uint64 { return s.DropFragment }},
		{"ipv6 fragment", eth(mac(1), mac(2), wire.EtherTypeIPv6, frag6), func(s Stats) uint64 { return s.DropFragment }},
		{"ipv4 not for us", eth(mac(1), mac(2), wire.EtherTypeIPv4, ip4(src4, addr("10.0.0.77"), wire.ProtoTCP, nil)), func(s Stats) uint64 { return s.DropNotForUs }},
		{"ipv6 not for us", eth(mac(1), mac(2), wire.EtherTypeIPv6, ip6(addr("2001:db8::2"), addr("2001:db8::77"), wire.ProtoTCP, 64, nil)), func(s Stats) uint64 { return s.DropNotForUs }},
		{"martian source", eth(mac(1), mac(2), wire.EtherTypeIPv4, ip4(addr("224.0.0.1"), dst4, wire.ProtoTCP, nil)), func(s Stats) uint64 { return s.DropBadSource }},
		{"own source", eth(mac(1), mac(2), wire.EtherTypeIPv4, ip4(dst4, dst4, wire.ProtoTCP, nil)), func(s Stats) uint64 { return s.DropBadSource }},
		{"no transport", eth(mac(1), mac(2), wire.EtherTypeIPv4, ip4(src4, dst4, wire.ProtoUDP, nil)), func(s Stats) uint64 { return s.DropNoTransport }},
		{"tcp to broadcast", eth(wire.BroadcastMAC, mac(2), wire.EtherTypeIPv4, ip4(src4, addr("10.0.0.255"), wire.ProtoTCP, nil)), func(s Stats) uint64 { return s.DropNotForUs }},
		{"short arp", eth(wire.BroadcastMAC, mac(2), wire.EtherTypeARP, arpShort), func(s Stats) uint64 { return s.DropTruncated }},
		{"ipv6 in ipv4 ethertype", eth(mac(1), mac(2), wire.EtherTypeIPv4, ip6(addr("2001:db8::2"), addr("2001:db8::1"), wire.ProtoTCP, 64, nil)), func(s Stats) uint64 { return s.DropMalformed }},
	}
	for _, c := range cases {
		before := c.field(a.s.Stats())
		a.s.Input(0, a.nic, c.frame)
		if got := c.field(a.s.Stats()); got != before+1 {
			t.Errorf("%s: counter %d -> %d", c.name, before, got)
		}
	}
	if len(a.tcp.pkts) != 0 || len(a.dev.frames) != 0 {
		t.Fatalf("malformed input delivered or answered: %d %d", len(a.tcp.pkts), len(a.dev.frames))
	}
}

func TestStatsInvariant(t *testing.T) {
	// Every frame is delivered/consumed or dropped for exactly one reason.
	a := ethNode(t, 1, "10.0.0.1/24")
	a.s.Input(0, a.nic, eth(mac(1), mac(2), wire.EtherTypeIPv4, ip4(addr("10.0.0.2"), addr("10.0.0.1"), wire.ProtoTCP, nil)))
	a.s.Input(0, a.nic, []byte{0})
	st := a.s.Stats()
	if st.RxFrames != 2 || st.RxDelivered != 1 || st.DropTruncated != 1 {
		t.Fatalf("%+v", st)
	}
}
