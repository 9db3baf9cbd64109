package tcp

import (
	"testing"

	"github.com/ustack/ustack/wire"
)

// TestSACKReneging: the peer SACKs the third segment, then its cumulative
// ACK stops exactly there — it dropped the SACKed data. The sender must not
// wait for a full RTO (and then never resend SACKed data): it times out
// after about SRTT/2, forgets the SACKs and retransmits the segment.
func TestSACKReneging(t *testing.T) {
	h := established(t, func(o *Options) { o.NoDelay = true })
	c := h.c
	mss := uint32(c.mss)
	if _, err := c.Write(make([]byte, 4*mss)); err != nil {
		t.Fatal(err)
	}
	h.advance(ms(20))
	if n := len(h.take()); n != 4 {
		t.Fatalf("sent %d segments, want 4", n)
	}
	start := h.L + 1
	// ACK of segment 1, SACK of segment 3.
	a := h.fromPeer()
	a.ack = start + mss
	a.sack = []wire.SACKBlock{{Start: start + 2*mss, End: start + 3*mss}}
	h.send(ms(120), a)
	// Segment 2 arrives: the cumulative ACK moves to segment 3, which the
	// peer had SACKed: it reneged.
	b := h.fromPeer()
	b.ack = start + 2*mss
	h.send(ms(125), b)
	if c.rtx.first() == nil || c.rtx.first().flags&segSACKed == 0 {
		t.Fatal("test setup: the head segment should be SACKed")
	}
	if got := h.s.Stats().SACKReneging; got != 1 {
		t.Fatalf("SACKReneging = %d, want 1", got)
	}
	h.take()
	// Well before a full RTO (>= 200 ms after the ACK), segment 3 goes again.
	h.advance(ms(125) + ms(100))
	var resent bool
	for _, e := range h.take() {
		hdr, payload, err := wire.ParseTCP(e.b)
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Seq == start+2*mss && len(payload) > 0 {
			resent = true
		}
	}
	if !resent {
		t.Fatal("the reneged segment was not retransmitted within 100 ms")
	}
	checkInvariants(t, c)
}
