package tcp

// Connection establishment: passive and active open, option negotiation,
// simultaneous open, SYN retransmission, and segments for closed ports.

import (
	"errors"
	"testing"
	"time"

	"github.com/ustack/ustack/ip"
	"github.com/ustack/ustack/wire"
)

func TestPassiveOpen(t *testing.T) {
	h := newHarness(t)
	h.listen(8)
	h.send(0, peerSYN())
	h.synAck(0, peerSYN())
	// synAck learned L; now check the whole SYN-ACK by replaying the check.
	h.recvNothing(ms(5))
	c, err := h.l.Accept()
	if !errors.Is(err, ErrWouldBlock) || c != nil {
		t.Fatalf("accept before the handshake completed: %v %v", c, err)
	}
	h.send(ms(10), h.fromPeer())
	h.recvNothing(ms(10))
	c, err = h.l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	h.state(StateEstablished)
	i := c.Info()
	if !i.WS || !i.SACK || i.TS || i.SndWScale != 2 || i.RcvWScale != 7 || i.MSS != 1460 {
		t.Fatalf("negotiated %+v", i)
	}
	if i.SndWnd != 16384<<2 {
		t.Fatalf("peer window %d, want %d (scaled)", i.SndWnd, 16384<<2)
	}
	if i.SRTT != 10*time.Millisecond || i.RTO < 200*time.Millisecond || i.RTO > 210*time.Millisecond {
		t.Fatalf("handshake RTT: srtt %v rto %v", i.SRTT, i.RTO)
	}
	// Our window is scaled by 7: 128 KiB is 1024.
	d := h.fromPeer()
	d.flags, d.data = PSH|ACK, payload(0, 100)
	h.send(ms(20), d)
	ack := h.toPeer()
	ack.ack = rISS + 101
	h.recv(ms(20), ack)
}

func TestPassiveOpenSynAck(t *testing.T) {
	h := newHarness(t)
	h.listen(8)
	syn := peerSYN()
	h.send(0, syn)
	sa := h.synAck(0, syn)
	want := seg{flags: SYN | ACK, seq: h.L, ack: rISS + 1, win: 65535, mss: 1460, hasWS: true, ws: 7, sackOK: true}
	if !sa.equal(want) {
		t.Fatalf("SYN-ACK %v, want %v", sa, want)
	}
}

func TestPassiveOpenTimestamps(t *testing.T) {
	h := newHarness(t)
	h.listen(8)
	syn := peerSYN()
	syn.ts, syn.tsval = true, 500
	h.send(0, syn)
	sa := h.synAck(0, syn)
	want := seg{flags: SYN | ACK, seq: h.L, ack: rISS + 1, win: 65535, mss: 1460, hasWS: true, ws: 7, sackOK: true,
		ts: true, tsval: h.tsval(0), tsecr: 500}
	if !sa.equal(want) {
		t.Fatalf("SYN-ACK %v, want %v", sa, want)
	}
	ack := h.fromPeer()
	ack.ts, ack.tsval, ack.tsecr = true, 510, h.tsval(0)
	h.send(ms(10), ack)
	c, err := h.l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	if i := c.Info(); !i.TS || i.MSS != 1448 {
		t.Fatalf("TS %v MSS %d, want timestamps and 1460-12", i.TS, i.MSS)
	}
	// A full segment is MSS 1448 (options excluded); Nagle holds the rest.
	h.write(payload(0, 2000))
	d := h.toPeer()
	d.flags, d.data = PSH|ACK, payload(0, 1448)
	d.ts, d.tsval, d.tsecr = true, h.tsval(ms(10)), 510
	h.recv(ms(10), d)
	ack = h.fromPeer()
	ack.ack = h.L + 1 + 1448
	ack.ts, ack.tsval, ack.tsecr = true, 520, h.tsval(ms(10))
	h.send(ms(20), ack)
	d.seq, d.data, d.tsval, d.tsecr = h.L+1+1448, payload(1448, 552), h.tsval(ms(20)), 520
	h.recv(ms(20), d)
}

func TestPassiveOpenNoOptions(t *testing.T) {
	h := newHarness(t)
	h.listen(8)
	syn := seg{flags: SYN, seq: rISS, win: 8192}
	h.send(0, syn)
	sa := h.synAck(0, syn)
	want := seg{flags: SYN | ACK, seq: h.L, ack: rISS + 1, win: 65535, mss: 1460}
	if !sa.equal(want) {
		t.Fatalf("SYN-ACK %v, want %v", sa, want)
	}
	ack := h.fromPeer()
	ack.win = 8192
	h.send(ms(10), ack)
	c, _ := h.l.Accept()
	h.c = c
	if i := c.Info(); i.WS || i.SACK || i.TS || i.MSS != 536 || i.SndWnd != 8192 || i.RcvWScale != 0 {
		t.Fatalf("negotiated %+v, want nothing and the default MSS 536", i)
	}
	// No scaling: the window field is the byte count, capped at 65535.
	d := h.fromPeer()
	d.win, d.flags, d.data = 8192, PSH|ACK, payload(0, 100)
	h.send(ms(20), d)
	a := h.toPeer()
	a.ack, a.win = rISS+101, 65535
	h.recv(ms(20), a)
}

func TestSynAckRetransmit(t *testing.T) {
	h := newHarness(t)
	h.listen(8)
	h.send(0, peerSYN())
	sa := h.synAck(0, peerSYN())
	h.recvNothing(ms(1000) - 1)
	h.recv(ms(1000), sa)
	h.recvNothing(ms(3000) - 1)
	h.recv(ms(3000), sa)
	// A retransmitted SYN is answered at once.
	h.send(ms(3500), peerSYN())
	h.recv(ms(3500), sa)
}

// connect opens actively and reads the SYN.
func (h *harness) connect() seg {
	h.t.Helper()
	c, err := h.s.Connect(localEP, remoteEP)
	if err != nil {
		h.t.Fatal(err)
	}
	h.c = c
	h.advance(h.net.now)
	out := h.take()
	if len(out) != 1 {
		h.t.Fatalf("expected the SYN, got %d segments", len(out))
	}
	s, _ := decode(out[0].b)
	h.L = s.seq
	return s
}

func TestActiveOpen(t *testing.T) {
	h := newHarness(t)
	syn := h.connect()
	want := seg{flags: SYN, seq: h.L, win: 65535, mss: 1460, hasWS: true, ws: 7, sackOK: true, ts: true, tsval: h.tsval(0)}
	if !syn.equal(want) {
		t.Fatalf("SYN %v, want %v", syn, want)
	}
	h.state(StateSynSent)
	sa := seg{flags: SYN | ACK, seq: rISS, ack: h.L + 1, win: 65535, mss: 1400, hasWS: true, ws: 3, sackOK: true}
	h.send(ms(10), sa)
	h.recv(ms(10), h.toPeer())
	h.state(StateEstablished)
	i := h.c.Info()
	if !i.WS || !i.SACK || i.TS || i.SndWScale != 3 || i.MSS != 1400 || i.SRTT != 10*time.Millisecond {
		t.Fatalf("negotiated %+v", i)
	}
	// The SYN-ACK's window was not scaled; the next one is.
	if i.SndWnd != 65535 {
		t.Fatalf("window after SYN-ACK %d", i.SndWnd)
	}
	up := h.fromPeer()
	up.win = 100
	h.send(ms(20), up)
	if i := h.c.Info(); i.SndWnd != 800 {
		t.Fatalf("window 100<<3 = %d, want 800", i.SndWnd)
	}
}

func TestActiveOpenPeerWithoutWS(t *testing.T) {
	h := newHarness(t)
	h.connect()
	sa := seg{flags: SYN | ACK, seq: rISS, ack: h.L + 1, win: 5000, mss: 1460, sackOK: true}
	h.send(ms(10), sa)
	a := h.toPeer()
	a.win = 65535 // unscaled: capped at 65535
	h.recv(ms(10), a)
	up := h.fromPeer()
	up.win = 3000
	h.send(ms(20), up)
	if i := h.c.Info(); i.WS || i.SndWnd != 3000 || i.RcvWScale != 0 {
		t.Fatalf("WS %v window %d rcv scale %d; want no scaling", i.WS, i.SndWnd, i.RcvWScale)
	}
}

func TestActiveOpenTimestamps(t *testing.T) {
	h := newHarness(t)
	h.connect()
	sa := seg{flags: SYN | ACK, seq: rISS, ack: h.L + 1, win: 65535, mss: 1460, hasWS: true, ws: 2, sackOK: true,
		ts: true, tsval: 7000, tsecr: h.tsval(0)}
	h.send(ms(30), sa)
	a := h.toPeer()
	a.ts, a.tsval, a.tsecr = true, h.tsval(ms(30)), 7000
	h.recv(ms(30), a)
	if i := h.c.Info(); !i.TS || i.MSS != 1448 || i.SRTT != 30*time.Millisecond {
		t.Fatalf("TS %v MSS %d SRTT %v", i.TS, i.MSS, i.SRTT)
	}
}

func TestActiveOpenDataOnSynAck(t *testing.T) {
	h := newHarness(t)
	h.connect()
	sa := seg{flags: SYN | ACK, seq: rISS, ack: h.L + 1, win: 65535, mss: 1460, hasWS: true, ws: 2, data: []byte("hello")}
	h.send(ms(10), sa)
	a := h.toPeer()
	a.ack = rISS + 6
	h.recv(ms(10), a)
	if got := string(h.read()); got != "hello" {
		t.Fatalf("read %q", got)
	}
}

func TestSynRetransmitAndTimeout(t *testing.T) {
	h := newHarness(t)
	syn := h.connect()
	at := time.Duration(0)
	for i, rto := range []time.Duration{1, 2, 4, 8, 16, 32} {
		prev := at
		at += rto * time.Second
		h.recvNothing(ms(float64(at/time.Millisecond)) - 1)
		syn.tsval = h.tsval(ms(float64(at / time.Millisecond)))
		h.recv(ms(float64(at/time.Millisecond)), syn)
		_ = prev
		_ = i
	}
	// The 6th retransmission went at 63 s; at 127 s the attempt fails.
	h.recvNothing(ms(127000) - 1)
	h.state(StateSynSent)
	h.recvNothing(ms(127000))
	h.state(StateClosed)
	if _, err := h.c.Read(make([]byte, 10)); !errors.Is(err, ErrTimeout) {
		t.Fatalf("read: %v, want ErrTimeout", err)
	}
	if _, err := h.c.Write([]byte("x")); !errors.Is(err, ErrTimeout) {
		t.Fatalf("write: %v, want ErrTimeout", err)
	}
}

func TestSimultaneousOpen(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.NoTimestamps = true })
	h.connect()
	// Our SYN crosses the peer's.
	h.send(ms(5), seg{flags: SYN, seq: rISS, win: 65535, mss: 1460, hasWS: true, ws: 2, sackOK: true})
	h.recv(ms(5), seg{flags: SYN | ACK, seq: h.L, ack: rISS + 1, win: 65535, mss: 1460, hasWS: true, ws: 7, sackOK: true})
	h.state(StateSynReceived)
	// The peer's SYN-ACK (its SYN again, acknowledging ours) completes it.
	h.send(ms(10), seg{flags: SYN | ACK, seq: rISS, ack: h.L + 1, win: 65535, mss: 1460, hasWS: true, ws: 2, sackOK: true})
	h.state(StateEstablished)
	h.recv(ms(10), h.toPeer())
	h.recvNothing(ms(5000))
	if i := h.c.Info(); i.SndWnd != 65535 || !i.WS || !i.SACK || i.Backoff != 0 || i.SRTT != 5*time.Millisecond {
		t.Fatalf("after simultaneous open: %+v", i)
	}
}

func TestSimultaneousOpenPlainAck(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.NoTimestamps = true })
	h.connect()
	h.send(ms(5), seg{flags: SYN, seq: rISS, win: 65535, mss: 1460, hasWS: true, ws: 2, sackOK: true})
	h.recv(ms(5), seg{flags: SYN | ACK, seq: h.L, ack: rISS + 1, win: 65535, mss: 1460, hasWS: true, ws: 7, sackOK: true})
	// An RFC 9293 peer answers our SYN-ACK with a plain ACK.
	h.send(ms(10), h.fromPeer())
	h.state(StateEstablished)
	h.recvNothing(ms(5000))
}

func TestClosedPort(t *testing.T) {
	h := newHarness(t)
	// SYN: RST+ACK acknowledging the SYN (and its data).
	syn := peerSYN()
	syn.data = []byte("abc")
	h.send(0, syn)
	h.recv(0, seg{flags: RST | ACK, seq: 0, ack: rISS + 4})
	// ACK: RST from the acknowledged sequence number, no ACK.
	h.send(ms(1), seg{flags: ACK, seq: rISS + 1, ack: 12345, win: 100})
	h.recv(ms(1), seg{flags: RST, seq: 12345})
	// FIN without ACK: RST+ACK covering the FIN.
	h.send(ms(2), seg{flags: FIN, seq: rISS + 1, win: 100})
	h.recv(ms(2), seg{flags: RST | ACK, ack: rISS + 2})
	// RST: never answered.
	h.send(ms(3), seg{flags: RST, seq: rISS + 1})
	h.recvNothing(ms(10))
	if st := h.s.Stats(); st.NoConnection != 4 || st.OutRsts != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestListenerAnswersAckWithRst(t *testing.T) {
	h := newHarness(t)
	h.listen(8)
	h.send(0, seg{flags: ACK, seq: rISS + 1, ack: 777, win: 100})
	h.recv(0, seg{flags: RST, seq: 777})
	h.send(ms(1), seg{flags: RST | ACK, seq: rISS + 1, ack: 777, win: 100})
	h.send(ms(1), seg{flags: FIN | ACK, seq: rISS + 1, ack: 777, win: 100})
	h.recv(ms(1), seg{flags: RST, seq: 777})
	h.send(ms(2), seg{flags: PSH, seq: rISS + 1, win: 100, data: []byte("x")})
	h.recvNothing(ms(10))
}

func TestBadChecksumDropped(t *testing.T) {
	h := newHarness(t)
	h.listen(8)
	b := peerSYN().encode()
	b[16] ^= 0xff
	h.s.HandlePacket(0, ipPacket(b))
	h.recvNothing(ms(10))
	if st := h.s.Stats(); st.BadChecksum != 1 || st.PassiveOpens != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func ipPacket(b []byte) *ip.Packet {
	return &ip.Packet{Src: remoteAddr, Dst: localAddr, Protocol: wire.ProtoTCP, Payload: b}
}
