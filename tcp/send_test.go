package tcp

// The sending side: segmentation at the MSS, Nagle and TCP_NODELAY, the
// peer's window, zero-window probing with backoff.

import (
	"testing"
)

// out is the stack's data segment carrying bytes off..off+n of its stream.
func (h *harness) out(off, n int) seg {
	d := h.toPeer()
	d.flags, d.seq, d.data = PSH|ACK, h.L+1+uint32(off), payload(off, n)
	return d
}

// ackOf is the peer's ACK of the stack's stream up to off.
func (h *harness) ackOf(off int) seg {
	a := h.fromPeer()
	a.ack = h.L + 1 + uint32(off)
	return a
}

func TestSendSegmentsAtMSS(t *testing.T) {
	h := established(t)
	h.write(payload(0, 3000))
	h.recv(ms(10), h.out(0, 1460), h.out(1460, 1460))
	// Nagle holds the 80-byte tail until everything is acknowledged.
	h.send(ms(20), h.ackOf(1460))
	h.recvNothing(ms(20))
	h.send(ms(21), h.ackOf(2920))
	h.recv(ms(21), h.out(2920, 80))
	h.send(ms(31), h.ackOf(3000))
	h.recvNothing(ms(1000))
	if i := h.c.Info(); i.InFlight != 0 || i.SendQueue != 0 || i.BytesAcked != 3000 {
		t.Fatalf("after all acked: %+v", i)
	}
}

func TestNagle(t *testing.T) {
	h := established(t)
	h.write([]byte("a"))
	a := h.toPeer()
	a.flags, a.data = PSH|ACK, []byte("a")
	h.recv(ms(10), a)
	h.advance(ms(12))
	h.write([]byte("b"))
	h.write([]byte("c"))
	h.recvNothing(ms(20))
	ack := h.ackOf(1)
	h.send(ms(20), ack)
	bc := h.toPeer()
	bc.seq, bc.flags, bc.data = h.L+2, PSH|ACK, []byte("bc")
	h.recv(ms(20), bc)
}

func TestNoDelay(t *testing.T) {
	h := established(t)
	h.c.SetNoDelay(true)
	h.write([]byte("a"))
	h.advance(ms(10))
	h.write([]byte("b"))
	a, b := h.toPeer(), h.toPeer()
	a.flags, a.data = PSH|ACK, []byte("a")
	b.seq, b.flags, b.data = h.L+2, PSH|ACK, []byte("b")
	h.recv(ms(10), a, b)
}

func TestNagleFINNotHeld(t *testing.T) {
	h := established(t)
	h.write(payload(0, 1500))
	h.recv(ms(10), h.out(0, 1460))
	// Closing pushes the small tail out with the FIN.
	h.c.CloseWrite()
	tail := h.out(1460, 40)
	tail.flags |= FIN
	h.recv(ms(10), tail)
}

func TestPeerWindowRespected(t *testing.T) {
	h := established(t)
	w := h.fromPeer()
	w.win = 730 // 2920 bytes at scale 2
	h.send(ms(15), w)
	h.write(payload(0, 10000))
	h.recv(ms(15), h.out(0, 1460), h.out(1460, 1460))
	h.recvNothing(ms(25))
	// The window slides with the ACK.
	a := h.ackOf(1460)
	a.win = 730
	h.send(ms(25), a)
	h.recv(ms(25), h.out(2920, 1460))
	// A window that opens without new ACKs lets more out.
	a.win = 1095 // 4380
	h.send(ms(26), a)
	h.recv(ms(26), h.out(4380, 1460))
}

func TestSenderSWSAvoidance(t *testing.T) {
	h := established(t)
	h.write(payload(0, 8760))
	h.recv(ms(10), h.out(0, 1460), h.out(1460, 1460), h.out(2920, 1460), h.out(4380, 1460),
		h.out(5840, 1460), h.out(7300, 1460))
	// 8760 bytes in flight; the peer's window leaves 1000 usable: less
	// than an MSS and less than half the largest window seen, so nothing
	// goes while data is in flight (sender SWS avoidance).
	a := h.ackOf(0)
	a.win = 2440 // 9760
	h.send(ms(20), a)
	h.write(payload(8760, 5000))
	h.recvNothing(ms(25))
	// Everything acknowledged: full segments go; Nagle holds the 620-byte
	// tail while they are unacknowledged.
	a = h.ackOf(8760)
	a.win = 2440
	h.send(ms(30), a)
	h.recv(ms(30), h.out(8760, 1460), h.out(10220, 1460), h.out(11680, 1460))
	h.send(ms(40), h.ackOf(13140))
	h.recv(ms(40), h.out(13140, 620))
}

func TestZeroWindowProbe(t *testing.T) {
	h := established(t)
	z := h.fromPeer()
	z.win = 0
	h.send(ms(20), z)
	h.write(payload(0, 100))
	h.recvNothing(ms(20))
	rto := h.c.Info().RTO
	// Probes: one byte of new data, at RTO, then doubling intervals; the
	// peer answers each one with a zero window.
	at := ms(20)
	iv := rto
	for i := 0; i < 6; i++ {
		at = at.Add(iv)
		h.recvNothing(at - 1)
		h.recv(at, h.out(0, 1))
		h.send(at.Add(5e6), z) // answered 5 ms later, window still 0
		iv *= 2
	}
	h.state(StateEstablished)
	if st := h.s.Stats(); st.ZeroWindowProbes != 6 {
		t.Fatalf("stats %+v", st)
	}
	// The window opens (the probe byte was not taken): everything goes.
	open := h.fromPeer()
	at = at.Add(100e6)
	h.send(at, open)
	h.recv(at, h.out(0, 100))
	h.send(at.Add(10e6), h.ackOf(100))
	h.recvNothing(at.Add(10e9))
}

func TestZeroWindowProbeKeepsConnectionAlive(t *testing.T) {
	h := established(t)
	z := h.fromPeer()
	z.win = 0
	h.send(ms(20), z)
	h.write(payload(0, 100))
	// The reader stays away for an hour; the peer answers every probe.
	for at := ms(20); at < ms(3600e3); at = at.Add(1e9) {
		h.advance(at)
		if len(h.take()) > 0 {
			h.send(at, z)
		}
		if h.c.State() != StateEstablished {
			t.Fatalf("connection died at %v while the peer answered probes: %v", at, h.c.Err())
		}
	}
	if i := h.c.Info(); i.Cwnd < 10*1460 {
		t.Fatalf("zero-window probing cut the window: cwnd %d", i.Cwnd)
	}
}

func TestSendBufferFull(t *testing.T) {
	h := established(t)
	n, err := h.c.Write(make([]byte, 100000))
	if n != 16384 || err != nil {
		t.Fatalf("write took %d %v, want the 16 KiB send buffer", n, err)
	}
	if _, err := h.c.Write([]byte("x")); err != ErrWouldBlock {
		t.Fatalf("full buffer: %v", err)
	}
}

// TestRwndLimitedIsAppLimited: in loss recovery, a flight the peer's
// receive window holds back (data waiting, cwnd mostly unused) is marked
// application-limited: its delivery rate says nothing about the path. The
// same flight outside recovery is not (as in Linux), nor is one the cwnd
// holds back.
func TestRwndLimitedIsAppLimited(t *testing.T) {
	for _, tc := range []struct {
		name     string
		win      uint16 // peer window, scale 2
		recovery bool
		limited  bool
	}{
		{"recovery, 2-segment window", 730, true, true},
		{"open, 2-segment window", 730, false, false},
		{"recovery, 256 KB window (cwnd-limited)", 65535, true, false},
	} {
		h := established(t)
		w := h.fromPeer()
		w.win = tc.win
		h.send(ms(15), w)
		if tc.recovery {
			h.c.ccs.CAState = CARecovery
		}
		before := h.c.rate.appLimited
		h.write(payload(0, 16000)) // the harness's send buffer is 16 KB
		h.advance(ms(16))
		h.take()
		inflight := h.c.rtx.inflight()
		marked := h.c.rate.appLimited != before && h.c.rate.appLimited == h.c.rate.delivered+uint64(inflight)
		if marked != tc.limited {
			t.Errorf("%s: in flight %d, cwnd %d, app-limited mark %d (was %d): marked %v, want %v",
				tc.name, inflight, h.c.ccs.Cwnd, h.c.rate.appLimited, before, marked, tc.limited)
		}
	}
}
