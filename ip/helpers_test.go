package ip

// Test harness: stacks joined by in-memory fake devices. A fakeDev records
// transmitted frames; a segment moves them to the other members' Input at
// the time the test chooses, until the segment is quiet. No goroutines, no
// real time.

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/ustack/ustack/clock"
	"github.com/ustack/ustack/wire"
)

type fakeDev struct {
	frames  [][]byte
	err     error
	lastGSO GSO
}

func (d *fakeDev) Transmit(f []byte) error {
	d.frames = append(d.frames, bytes.Clone(f))
	return d.err
}

// TransmitGSO makes every fake device TSO-capable; it records the GSO.
func (d *fakeDev) TransmitGSO(f []byte, g GSO) error {
	d.lastGSO = g
	return d.Transmit(f)
}

func (d *fakeDev) take() [][]byte {
	f := d.frames
	d.frames = nil
	return f
}

// discardDev counts frames without copying (allocation tests).
type discardDev struct{ n int }

func (d *discardDev) Transmit(f []byte) error { d.n++; return nil }

type gotPacket struct {
	src, dst netip.Addr
	proto    uint8
	ttl, tos uint8
	payload  []byte
	csum     bool
	nic      *Interface
}

type fakeTransport struct {
	proto    uint8
	pkts     []gotPacket
	ctls     []ControlMessage
	count    int
	noRecord bool
}

func (t *fakeTransport) Protocol() uint8 { return t.proto }

func (t *fakeTransport) HandlePacket(now clock.Time, p *Packet) {
	t.count++
	if t.noRecord {
		return
	}
	t.pkts = append(t.pkts, gotPacket{p.Src, p.Dst, p.Protocol, p.TTL, p.TOS, bytes.Clone(p.Payload), p.ChecksumVerified, p.NIC})
}

func (t *fakeTransport) HandleControl(now clock.Time, m *ControlMessage) {
	c := *m
	c.Payload = bytes.Clone(m.Payload)
	t.ctls = append(t.ctls, c)
}

type node struct {
	s   *Stack
	nic *Interface
	dev *fakeDev
	tcp *fakeTransport
}

func mac(last byte) wire.MAC { return wire.MAC{0x02, 0, 0, 0, 0, last} }

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func addr(s string) netip.Addr  { return netip.MustParseAddr(s) }

func newNode(t testing.TB, cfg InterfaceConfig) *node {
	t.Helper()
	n := &node{s: NewStack(Config{Seed: 1}), dev: &fakeDev{}, tcp: &fakeTransport{proto: wire.ProtoTCP}}
	nic, err := n.s.AddInterface(cfg, n.dev)
	if err != nil {
		t.Fatalf("AddInterface: %v", err)
	}
	n.nic = nic
	n.s.RegisterTransport(n.tcp)
	return n
}

func ethNode(t testing.TB, last byte, addrs ...string) *node {
	var ps []netip.Prefix
	for _, a := range addrs {
		ps = append(ps, pfx(a))
	}
	return newNode(t, InterfaceConfig{Name: "eth0", MAC: mac(last), Addrs: ps})
}

// segment is a shared medium (hub): every frame reaches every other member.
type segment struct {
	nodes []*node
	log   [][]byte
}

func (g *segment) run(t testing.TB, now clock.Time) {
	t.Helper()
	for range 100 {
		moved := false
		for i, n := range g.nodes {
			for _, f := range n.dev.take() {
				moved = true
				g.log = append(g.log, f)
				for j, m := range g.nodes {
					if j != i {
						m.s.Input(now, m.nic, f)
					}
				}
			}
		}
		if !moved {
			return
		}
	}
	t.Fatal("segment never went quiet")
}

// send writes a transport segment with the given payload from n.
func (n *node) send(src, dst string, payload string) error {
	buf := make([]byte, HeaderRoom+len(payload))
	copy(buf[HeaderRoom:], payload)
	var s netip.Addr
	if src != "" {
		s = addr(src)
	}
	return n.s.WritePacket(s, addr(dst), wire.ProtoTCP, 0, buf, HeaderRoom)
}

func sec(n float64) clock.Time { return clock.Time(n * float64(time.Second)) }

// Packet builders.

func ip4(src, dst netip.Addr, proto uint8, payload []byte) []byte {
	b := make([]byte, wire.IPv4HeaderLen+len(payload))
	h := wire.IPv4Header{TTL: 64, Protocol: proto, Src: src, Dst: dst, DontFragment: true}
	h.Encode(b, len(payload))
	copy(b[wire.IPv4HeaderLen:], payload)
	return b
}

func ip6(src, dst netip.Addr, next, hop uint8, payload []byte) []byte {
	b := make([]byte, wire.IPv6HeaderLen+len(payload))
	h := wire.IPv6Header{NextHeader: next, HopLimit: hop, Src: src, Dst: dst}
	h.Encode(b, len(payload))
	copy(b[wire.IPv6HeaderLen:], payload)
	return b
}

func eth(dst, src wire.MAC, typ wire.EtherType, payload []byte) []byte {
	b := make([]byte, wire.EthernetHeaderLen+len(payload))
	h := wire.EthernetHeader{Dst: dst, Src: src, Type: typ}
	h.Encode(b)
	copy(b[wire.EthernetHeaderLen:], payload)
	return b
}

func icmp4(m wire.ICMPv4) []byte {
	b := make([]byte, m.Len())
	m.Encode(b)
	return b
}

func icmp6(src, dst netip.Addr, m wire.ICMPv6) []byte {
	b := make([]byte, m.Len())
	m.Encode(src, dst, b)
	return b
}

// parsedFrame is a decoded Ethernet frame for assertions.
type parsedFrame struct {
	eth   wire.EthernetHeader
	arp   wire.ARP
	v4    wire.IPv4Header
	v6    wire.IPv6Header
	proto uint8
	l4    []byte
}

func parseFrame(t testing.TB, f []byte, link LinkType) parsedFrame {
	t.Helper()
	var p parsedFrame
	b := f
	typ := wire.EtherTypeIPv4
	if link == LinkEthernet {
		var err error
		p.eth, b, err = wire.ParseEthernet(f)
		if err != nil {
			t.Fatalf("bad ethernet frame: %v", err)
		}
		typ = p.eth.Type
	} else if len(b) > 0 && b[0]>>4 == 6 {
		typ = wire.EtherTypeIPv6
	}
	var err error
	switch typ {
	case wire.EtherTypeARP:
		p.arp, err = wire.ParseARP(b)
	case wire.EtherTypeIPv4:
		p.v4, p.l4, err = wire.ParseIPv4(b)
		p.proto = p.v4.Protocol
	case wire.EtherTypeIPv6:
		p.v6, p.l4, err = wire.ParseIPv6(b)
		if err == nil {
			p.proto, p.l4, err = wire.SkipIPv6ExtensionHeaders(p.v6.NextHeader, p.l4)
		}
	}
	if err != nil {
		t.Fatalf("bad frame %x: %v", f, err)
	}
	return p
}
