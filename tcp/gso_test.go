package tcp

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/ustack/ustack/ip"
	"github.com/ustack/ustack/wire"
)

// gsoNet is testNet with a TSO-capable route.
type gsoNet struct {
	*testNet
	writes []gsoWrite
}

type gsoWrite struct {
	seg []byte
	mss int
}

func (n *gsoNet) FindRoute(dst, src netip.Addr) (ip.RouteInfo, error) {
	return ip.RouteInfo{Src: localAddr, MTU: n.mtu, GSOMaxSize: 65000}, nil
}

func (n *gsoNet) WritePacketGSO(src, dst netip.Addr, tos uint8, buf []byte, off, mss int) error {
	n.writes = append(n.writes, gsoWrite{bytes.Clone(buf[off:]), mss})
	return nil
}

func TestGSOSuperSegment(t *testing.T) {
	tn := &testNet{mtu: 1500}
	gn := &gsoNet{testNet: tn}
	s, err := NewStack(gn, Options{CongestionControl: "test-fixed", Seed: 1, NoDelay: true})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, net: tn, s: s, peerWin: 16384, ourWin: 1024}
	c := h.established()
	data := bytes.Repeat([]byte("0123456789abcdef"), 1024) // the default send buffer
	if n, err := c.Write(data); err != nil || n != len(data) {
		t.Fatalf("write %d %v", n, err)
	}
	h.advance(ms(20))
	if len(gn.writes) == 0 {
		t.Fatalf("no super-segment; plain segments: %d", len(h.take()))
	}
	w := gn.writes[0]
	hdr, payload, err := wire.ParseTCP(w.seg)
	if err != nil {
		t.Fatal(err)
	}
	if w.mss != c.mss || len(payload) < 2*c.mss || len(payload)%c.mss != 0 {
		t.Fatalf("super-segment of %d bytes with mss %d (conn mss %d)", len(payload), w.mss, c.mss)
	}
	if !bytes.Equal(payload, data[:len(payload)]) {
		t.Fatal("super-segment payload differs from what was written")
	}
	// Checksum field: the folded, uncomplemented pseudo-header sum.
	want := ^wire.FoldChecksum(wire.PseudoHeaderSum(localAddr, remoteAddr, wire.ProtoTCP, len(w.seg)))
	if got := binary.BigEndian.Uint16(w.seg[16:]); got != want {
		t.Fatalf("checksum field %#04x, want pseudo-header sum %#04x", got, want)
	}
	// The scoreboard keeps one entry per MSS, so a SACK of an inner
	// segment marks exactly that segment.
	if got, want := c.rtx.len(), len(payload)/c.mss; got != want {
		t.Fatalf("scoreboard entries %d, want %d", got, want)
	}
	if hdr.Seq != c.sndUna {
		t.Fatalf("super-segment starts at %d, SND.UNA %d", hdr.Seq, c.sndUna)
	}
}

// TestSACKBlocksFitMTU: while we owe the peer SACK blocks, full data
// segments shrink to make room for them (Linux tcp_current_mss), and no
// segment ever exceeds the path MTU.
func TestSACKBlocksFitMTU(t *testing.T) {
	h := established(t, func(o *Options) { o.NoDelay = true })
	c := h.c
	// The peer's data arrives with a hole: we now owe it a SACK block.
	ooo := h.fromPeer()
	ooo.seq += 1000
	ooo.data = make([]byte, 100)
	h.send(ms(20), ooo)
	h.take()
	if _, err := c.Write(make([]byte, 8000)); err != nil {
		t.Fatal(err)
	}
	h.advance(ms(30))
	out := h.take()
	if len(out) == 0 {
		t.Fatal("nothing sent")
	}
	limit := 1500 - wire.IPv4HeaderLen
	for _, e := range out {
		hdr, payload, err := wire.ParseTCP(e.b)
		if err != nil {
			t.Fatal(err)
		}
		if len(e.b) > limit {
			t.Errorf("segment of %d bytes exceeds the MTU's %d", len(e.b), limit)
		}
		if len(payload) > 0 && hdr.Options.NumSACK == 0 {
			t.Errorf("data segment without the SACK block we owe")
		}
	}
}
