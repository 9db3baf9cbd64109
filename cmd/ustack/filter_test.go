package main

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/ustack/ustack/link"
	"github.com/ustack/ustack/relay"
)

// fakeLink returns queued frames from ReadBatch.
type fakeLink struct {
	link.Link // nil: only the methods below are used
	hdr       link.HeaderType
	frames    [][][]byte // one batch per call
}

func (f *fakeLink) Header() link.HeaderType { return f.hdr }

func (f *fakeLink) ReadBatch(bufs [][]byte, lens []int, metas []link.RxMeta) (int, error) {
	if len(f.frames) == 0 {
		return 0, net.ErrClosed
	}
	b := f.frames[0]
	f.frames = f.frames[1:]
	for i, fr := range b {
		lens[i] = copy(bufs[i], fr)
		metas[i] = link.RxMeta{}
	}
	return len(b), nil
}

func ipv4(proto byte, l4 []byte, fragOff uint16) []byte {
	p := make([]byte, 20, 20+len(l4))
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[6:], fragOff)
	p[9] = proto
	return append(p, l4...)
}

func ipv6(next byte, l4 []byte) []byte {
	p := make([]byte, 40, 40+len(l4))
	p[0] = 0x60
	p[6] = next
	return append(p, l4...)
}

func tcpPorts(src, dst uint16) []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b, src)
	binary.BigEndian.PutUint16(b[2:], dst)
	return b
}

func eth(etherType uint16, payload []byte) []byte {
	f := make([]byte, 14, 14+len(payload))
	binary.BigEndian.PutUint16(f[12:], etherType)
	return append(f, payload...)
}

func TestFilter(t *testing.T) {
	f := newFilterLink(&fakeLink{hdr: link.HeaderEthernet}, []relay.PortRange{{First: 443, Last: 443}, {First: 61000, Last: 65535}})
	for _, tc := range []struct {
		name  string
		frame []byte
		want  bool
	}{
		{"arp", eth(0x0806, make([]byte, 28)), true},
		{"tcp to frontend", eth(0x0800, ipv4(6, tcpPorts(5555, 443), 0)), true},
		{"tcp to ephemeral", eth(0x0800, ipv4(6, tcpPorts(80, 61234), 0)), true},
		{"tcp to sshd", eth(0x0800, ipv4(6, tcpPorts(5555, 22), 0)), false},
		{"udp", eth(0x0800, ipv4(17, tcpPorts(5555, 443), 0)), false},
		{"fragment", eth(0x0800, ipv4(6, tcpPorts(5555, 443), 100)), false},
		{"icmp unreachable", eth(0x0800, ipv4(1, []byte{3, 4, 0, 0}, 0)), true},
		{"icmp echo request", eth(0x0800, ipv4(1, []byte{8, 0, 0, 0}, 0)), false},
		{"icmp6 in ipv4", eth(0x0800, ipv4(58, []byte{135, 0, 0, 0}, 0)), false},
		{"tcp6 to frontend", eth(0x86dd, ipv6(6, tcpPorts(5555, 443))), true},
		{"tcp6 to sshd", eth(0x86dd, ipv6(6, tcpPorts(5555, 22))), false},
		{"ndp", eth(0x86dd, ipv6(58, []byte{135, 0, 0, 0})), true},
		{"ping6", eth(0x86dd, ipv6(58, []byte{128, 0, 0, 0})), false},
		{"short", eth(0x0800, []byte{0x45}), false},
		{"lldp", eth(0x88cc, make([]byte, 30)), false},
	} {
		if got := f.pass(tc.frame, 0); got != tc.want {
			t.Errorf("%s: pass = %v, want %v", tc.name, got, tc.want)
		}
	}

	// Cooked: bare IP, family from the version nibble.
	c := newFilterLink(&fakeLink{hdr: link.HeaderNone}, []relay.PortRange{{First: 443, Last: 443}})
	if !c.pass(ipv4(6, tcpPorts(1, 443), 0), 0) || c.pass(ipv4(6, tcpPorts(1, 22), 0), 0) {
		t.Error("cooked filter")
	}

	// ReadBatch compacts a batch and skips batches with nothing to pass.
	fl := &fakeLink{hdr: link.HeaderNone, frames: [][][]byte{
		{ipv4(6, tcpPorts(1, 22), 0)},
		{ipv4(6, tcpPorts(1, 22), 0), ipv4(6, tcpPorts(1, 443), 0), ipv4(17, nil, 0), ipv4(6, tcpPorts(2, 443), 0)},
	}}
	c = newFilterLink(fl, []relay.PortRange{{First: 443, Last: 443}})
	bufs := make([][]byte, 4)
	for i := range bufs {
		bufs[i] = make([]byte, 100)
	}
	lens, metas := make([]int, 4), make([]link.RxMeta, 4)
	n, err := c.ReadBatch(bufs, lens, metas)
	if err != nil || n != 2 {
		t.Fatalf("ReadBatch = %d, %v", n, err)
	}
	for i, src := range []uint16{1, 2} {
		if got := binary.BigEndian.Uint16(bufs[i][20:]); got != src || lens[i] != 40 {
			t.Errorf("frame %d: source port %d len %d", i, got, lens[i])
		}
	}
	if d := c.dropped.Load(); d != 3 {
		t.Errorf("dropped %d, want 3", d)
	}
}
