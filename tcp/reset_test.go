package tcp

// RST handling and the RFC 5961 defences: exact-sequence resets, challenge
// ACKs for in-window RSTs and SYNs, unacceptable ACKs; RST in SYN-SENT;
// PAWS (RFC 7323).

import (
	"errors"
	"testing"

	"github.com/ustack/ustack/wire"
)

func TestRstExactSeqResets(t *testing.T) {
	h := established(t)
	rst := h.fromPeer()
	rst.flags = RST
	rst.ack, rst.win = 0, 0
	h.send(ms(20), rst)
	h.recvNothing(ms(1000))
	h.state(StateClosed)
	if _, err := h.c.Read(make([]byte, 1)); !errors.Is(err, ErrConnReset) {
		t.Fatalf("read: %v, want ErrConnReset", err)
	}
	if _, err := h.c.Write([]byte("x")); !errors.Is(err, ErrConnReset) {
		t.Fatalf("write: %v", err)
	}
	if st := h.s.Stats(); st.EstabResets != 1 {
		t.Fatalf("EstabResets %d", st.EstabResets)
	}
}

func TestRstDataReadableBeforeError(t *testing.T) {
	h := established(t)
	d := h.fromPeer()
	d.flags, d.data = PSH|ACK, payload(0, 10)
	h.send(ms(20), d)
	rst := h.fromPeer()
	rst.flags, rst.seq = RST, rISS+11
	h.send(ms(20), rst)
	buf := make([]byte, 100)
	if n, err := h.c.Read(buf); n != 10 || err != nil {
		t.Fatalf("read: %d %v", n, err)
	}
	if _, err := h.c.Read(buf); !errors.Is(err, ErrConnReset) {
		t.Fatalf("read: %v", err)
	}
}

func TestRstInWindowChallengeAck(t *testing.T) {
	h := established(t)
	rst := h.fromPeer()
	rst.flags, rst.seq = RST, rISS+1+1000
	h.send(ms(20), rst)
	h.recv(ms(20), h.toPeer())
	h.state(StateEstablished)
	rst.flags = RST | ACK
	rst.seq = rISS + 1 + 131071 // last byte of the window
	// Within 500 ms of the last one: no second challenge (RFC 5961
	// section 7 throttling, as Linux's per-socket limit).
	h.send(ms(30), rst)
	h.recvNothing(ms(30))
	h.send(ms(520)-1, rst)
	h.recvNothing(ms(520) - 1)
	h.send(ms(520), rst)
	h.recv(ms(520), h.toPeer())
	h.state(StateEstablished)
	if st := h.s.Stats(); st.ChallengeACKs != 2 || st.ChallengeACKsSkipped != 2 {
		t.Fatalf("challenge ACKs %d, skipped %d", st.ChallengeACKs, st.ChallengeACKsSkipped)
	}
}

func TestRstOutOfWindowIgnored(t *testing.T) {
	h := established(t)
	for i, seq := range []uint32{rISS + 1 + 131072, rISS, rISS + 1<<31, rISS + 1<<31 + 100000} {
		rst := h.fromPeer()
		rst.flags, rst.seq = RST, seq
		h.send(ms(20+float64(i)), rst)
	}
	h.recvNothing(ms(1000))
	h.state(StateEstablished)
}

func TestSynSentRstWithBadAckIgnored(t *testing.T) {
	h := newHarness(t)
	h.connect()
	h.send(ms(5), seg{flags: RST | ACK, seq: 0, ack: h.L + 5})
	h.send(ms(5), seg{flags: RST | ACK, seq: 0, ack: h.L})
	h.recvNothing(ms(10))
	h.state(StateSynSent)
	// RST without ACK: ignored too (RFC 9293 3.10.7.3).
	h.send(ms(10), seg{flags: RST, seq: rISS})
	h.recvNothing(ms(20))
	h.state(StateSynSent)
	// Acceptable ACK: the connection is refused.
	h.send(ms(20), seg{flags: RST | ACK, seq: 0, ack: h.L + 1})
	h.recvNothing(ms(5000))
	h.state(StateClosed)
	if _, err := h.c.Read(make([]byte, 1)); !errors.Is(err, ErrConnRefused) {
		t.Fatalf("read: %v, want ErrConnRefused", err)
	}
}

func TestSynSentBadAckGetsRst(t *testing.T) {
	h := newHarness(t)
	syn := h.connect()
	h.send(ms(5), seg{flags: SYN | ACK, seq: rISS, ack: h.L + 77, win: 1000})
	h.recv(ms(5), seg{flags: RST, seq: h.L + 77})
	h.state(StateSynSent)
	// A plain ACK (no SYN) with a good ACK number is dropped.
	h.send(ms(6), seg{flags: ACK, seq: rISS, ack: h.L + 1, win: 1000})
	h.recvNothing(ms(1000) - 1)
	syn.tsval = h.tsval(ms(1000))
	h.recv(ms(1000), syn)
}

func TestSynInEstablishedChallengeAck(t *testing.T) {
	h := established(t)
	syn := peerSYN()
	syn.seq = rISS + 1 + 500 // in window
	h.send(ms(20), syn)
	h.recv(ms(20), h.toPeer())
	// Out of window (the old ISN): an ACK as well.
	h.send(ms(30), peerSYN())
	h.recv(ms(30), h.toPeer())
	h.state(StateEstablished)
	if st := h.s.Stats(); st.ChallengeACKs != 1 {
		t.Fatalf("challenge ACKs %d", st.ChallengeACKs)
	}
}

func TestAckOfUnsentDataDropped(t *testing.T) {
	h := established(t)
	a := h.fromPeer()
	a.ack = h.L + 1 + 1000
	a.flags, a.data = PSH|ACK, payload(0, 100)
	h.send(ms(20), a)
	h.recv(ms(20), h.toPeer()) // ack still rISS+1: the data was dropped
	if h.c.Readable() != 0 {
		t.Fatalf("data of a segment with a bad ACK was accepted")
	}
	h.state(StateEstablished)
}

func TestOldAckChallenge(t *testing.T) {
	h := established(t)
	// Within MAX.SND.WND below SND.UNA: an old duplicate, ignored.
	a := h.fromPeer()
	a.ack = h.L + 1 - 1000
	h.send(ms(20), a)
	h.recvNothing(ms(30))
	// Below SND.UNA - MAX.SND.WND (65536): challenge ACK, data dropped.
	a.ack = h.L + 1 - 70000
	a.flags, a.data = PSH|ACK, payload(0, 100)
	h.send(ms(30), a)
	h.recv(ms(30), h.toPeer())
	if h.c.Readable() != 0 {
		t.Fatal("data accepted with an unacceptable ACK")
	}
	if st := h.s.Stats(); st.ChallengeACKs != 1 {
		t.Fatalf("challenge ACKs %d", st.ChallengeACKs)
	}
}

// establishedTS opens with timestamps: the peer's TSVal is 100 on the SYN
// and 110 on the final ACK.
func establishedTS(t testing.TB) *harness {
	t.Helper()
	h := newHarness(t)
	syn := peerSYN()
	syn.ts, syn.tsval = true, 100
	h.establishedWith(syn)
	return h
}

func TestTimestampsEchoed(t *testing.T) {
	h := establishedTS(t)
	d := h.fromPeer()
	d.flags, d.data = PSH|ACK, payload(0, 100)
	d.ts, d.tsval, d.tsecr = true, 200, h.tsval(ms(10))
	h.send(ms(20), d)
	a := h.toPeer()
	a.ack = rISS + 101
	a.ts, a.tsval, a.tsecr = true, h.tsval(ms(20)), 200
	h.recv(ms(20), a)
	// Out-of-order data does not update TS.Recent (RFC 7323 4.3)...
	d.seq, d.tsval, d.data = rISS+1+1100, 300, payload(1100, 100)
	h.send(ms(30), d)
	a.tsval, a.sack = h.tsval(ms(30)), []wire.SACKBlock{rb(1100, 1200)}
	h.recv(ms(30), a)
	// ...in-order data does.
	d.seq, d.tsval, d.data = rISS+101, 301, payload(100, 100)
	h.send(ms(40), d)
	a.ack, a.tsval, a.tsecr, a.sack = rISS+201, h.tsval(ms(40)), 301, []wire.SACKBlock{rb(1100, 1200)}
	a.win = 1023 // 200 bytes unread: (131072-200)/128 rounded up
	h.recv(ms(40), a)
}

func TestPAWSDrop(t *testing.T) {
	h := establishedTS(t)
	d := h.fromPeer()
	d.flags, d.data = PSH|ACK, payload(0, 100)
	d.ts, d.tsval, d.tsecr = true, 200, h.tsval(ms(10))
	h.send(ms(20), d)
	a := h.toPeer()
	a.ack = rISS + 101
	a.ts, a.tsval, a.tsecr = true, h.tsval(ms(20)), 200
	h.recv(ms(20), a)
	// An old timestamp: dropped, answered with an ACK echoing TS.Recent.
	d.seq, d.tsval, d.data = rISS+101, 150, payload(100, 100)
	h.send(ms(30), d)
	a.tsval = h.tsval(ms(30))
	h.recv(ms(30), a)
	if h.c.Readable() != 100 {
		t.Fatalf("readable %d: the PAWS-rejected data was accepted", h.c.Readable())
	}
	if st := h.s.Stats(); st.PAWSDrops != 1 {
		t.Fatalf("PAWS drops %d", st.PAWSDrops)
	}
	// An RST is not subject to PAWS.
	rst := h.fromPeer()
	rst.flags, rst.seq, rst.ts, rst.tsval = RST, rISS+101, true, 1
	h.send(ms(40), rst)
	h.state(StateClosed)
}

// TestPAWSReorderedACKs: ACKs the path reordered are not answered one by
// one (Linux tcp_disordered_ack, TCP_PAWS_WINDOW, tcp_oow_rate_limited).
func TestPAWSReorderedACKs(t *testing.T) {
	h := establishedTS(t)
	ack := h.fromPeer()
	ack.ts, ack.tsval, ack.tsecr = true, 300, h.tsval(ms(5))
	h.send(ms(10), ack) // TS.Recent = 300
	// One tick older: within the PAWS window.
	ack.tsval = 299
	h.send(ms(20), ack)
	// Older, but a duplicate ACK that changes nothing: accepted.
	ack.tsval = 290
	h.send(ms(30), ack)
	h.recvNothing(ms(30))
	if st := h.s.Stats(); st.PAWSDrops != 0 {
		t.Fatalf("PAWS drops %d for reordered duplicate ACKs", st.PAWSDrops)
	}
	// Older and updating the window: rejected. The first rejection in
	// 500 ms is answered, echoing TS.Recent; the next is not.
	ack.win++
	h.send(ms(40), ack)
	a := h.toPeer()
	a.ts, a.tsval, a.tsecr = true, h.tsval(ms(40)), 300
	h.recv(ms(40), a)
	h.send(ms(50), ack)
	h.recvNothing(ms(540) - 1)
	h.send(ms(540), ack)
	a.tsval = h.tsval(ms(540))
	h.recv(ms(540), a)
	// Data with an old timestamp is always answered.
	d := h.fromPeer()
	d.flags, d.data = PSH|ACK, payload(0, 100)
	d.ts, d.tsval, d.tsecr = true, 290, h.tsval(ms(5))
	h.send(ms(550), d)
	a.tsval = h.tsval(ms(550))
	h.recv(ms(550), a)
	if st := h.s.Stats(); st.PAWSDrops != 4 {
		t.Fatalf("PAWS drops %d, want 4", st.PAWSDrops)
	}
	if h.c.Readable() != 0 {
		t.Fatalf("PAWS-rejected data was accepted")
	}
}
