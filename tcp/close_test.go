package tcp

// Closing: FIN through every state (RFC 9293 3.6), half-close, TIME-WAIT,
// abortive close; keepalive; listener backlog and close.

import (
	"errors"
	"io"
	"testing"
	"time"
)

func TestFinWait1ToFinWait2ToTimeWait(t *testing.T) {
	h := timeWait(t)
	// TIME-WAIT ACKs a retransmitted FIN...
	fin := h.fromPeer()
	fin.flags, fin.ack = FIN|ACK, h.L+2
	h.send(ms(1000), fin)
	ack := h.toPeer()
	ack.seq, ack.ack = h.L+2, rISS+2
	h.recv(ms(1000), ack)
	// ...and restarts (RFC 9293 3.10.7.4): it ends TimeWait after it.
	end := ms(1000).Add(60 * time.Second)
	h.advance(end - 1)
	h.state(StateTimeWait)
	h.advance(end)
	h.state(StateClosed)
	if len(h.s.Conns()) != 0 {
		t.Fatal("connection not removed")
	}
	if _, err := h.c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read after close: %v", err)
	}
}

func TestTimeWaitDuration(t *testing.T) {
	h := timeWait(t)
	end := ms(30).Add(60 * time.Second)
	h.recvNothing(end - 1)
	h.state(StateTimeWait)
	h.advance(end)
	h.state(StateClosed)
	// The port answers with RST again.
	h.send(end.Add(1e6), h.fromPeer())
	h.recv(end.Add(1e6), seg{flags: RST, seq: h.L + 1})
}

func TestTimeWaitOption(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.TimeWait = 2 * time.Second })
	h.established()
	h.c.CloseWrite()
	h.advance(ms(10))
	h.take()
	fin := h.fromPeer()
	fin.flags, fin.ack = FIN|ACK, h.L+2
	h.send(ms(20), fin)
	h.state(StateTimeWait)
	h.advance(ms(2020) - 1)
	h.state(StateTimeWait)
	h.advance(ms(2020))
	h.state(StateClosed)
}

func TestFinWait1DataStillReadable(t *testing.T) {
	h := finWait1(t)
	// Half-close: the peer keeps sending and we keep reading.
	d := h.fromPeer()
	d.flags, d.data = PSH|ACK, []byte("more")
	h.send(ms(20), d)
	ack := h.toPeer()
	ack.seq, ack.ack = h.L+2, rISS+5
	h.recv(ms(20), ack)
	if got := string(h.read()); got != "more" {
		t.Fatalf("read %q", got)
	}
	if _, err := h.c.Write([]byte("x")); !errors.Is(err, ErrWriteAfterShutdown) {
		t.Fatalf("write after CloseWrite: %v", err)
	}
}

func TestFinWait2HalfClose(t *testing.T) {
	h := finWait2(t)
	// FIN-WAIT-2 after CloseWrite (not Close): no timeout, data flows in.
	h.recvNothing(ms(200e3))
	h.state(StateFinWait2)
	d := h.fromPeer()
	d.flags, d.ack, d.data = PSH|ACK, h.L+2, []byte("late")
	h.send(ms(200e3), d)
	ack := h.toPeer()
	ack.seq, ack.ack = h.L+2, rISS+5
	h.recv(ms(200e3), withWin(ack, w7(4)))
	if got := string(h.read()); got != "late" {
		t.Fatalf("read %q", got)
	}
}

func TestFinWait2OrphanTimeout(t *testing.T) {
	h := established(t)
	h.c.Close()
	fin := h.toPeer()
	fin.flags = FIN | ACK
	h.recv(ms(10), fin)
	h.send(ms(20), h.ackOf(1))
	h.state(StateFinWait2)
	end := ms(20).Add(60 * time.Second)
	h.advance(end - 1)
	h.state(StateFinWait2)
	h.advance(end)
	h.state(StateClosed)
}

func TestClosingSimultaneousClose(t *testing.T) {
	h := finWait1(t)
	// The peer's FIN crosses ours: it does not acknowledge our FIN.
	fin := h.fromPeer()
	fin.flags = FIN | ACK
	h.send(ms(20), fin)
	ack := h.toPeer()
	ack.seq, ack.ack = h.L+2, rISS+2
	h.recv(ms(20), ack)
	h.state(StateClosing)
	// Its ACK of our FIN: TIME-WAIT.
	a := h.fromPeer()
	a.seq, a.ack = rISS+2, h.L+2
	h.send(ms(30), a)
	h.state(StateTimeWait)
	h.recvNothing(ms(1000))
}

func TestFinWait1FinAckTogether(t *testing.T) {
	h := finWait1(t)
	fin := h.fromPeer()
	fin.flags, fin.ack = FIN|ACK, h.L+2
	h.send(ms(20), fin)
	ack := h.toPeer()
	ack.seq, ack.ack = h.L+2, rISS+2
	h.recv(ms(20), ack)
	h.state(StateTimeWait)
}

func TestFinRetransmitted(t *testing.T) {
	h := finWait1(t)
	rto := h.c.Info().RTO
	fin := h.toPeer()
	fin.flags = FIN | ACK
	// A lone FIN in flight: its PTO (2*SRTT + 200 ms) is later than the
	// RTO, so no probe is armed; the RTO resends it.
	h.recvNothing(ms(10).Add(rto) - 1)
	h.recv(ms(10).Add(rto), fin)
}

func TestCloseWaitReadEOF(t *testing.T) {
	h := closeWait(t)
	if _, err := h.c.Read(make([]byte, 10)); err != io.EOF {
		t.Fatalf("read: %v, want EOF", err)
	}
	// Still writable in CLOSE-WAIT.
	h.write([]byte("bye"))
	d := h.toPeer()
	d.flags, d.ack, d.data = PSH|ACK, rISS+2, []byte("bye")
	h.recv(ms(20), d)
}

func TestCloseWaitDataThenFin(t *testing.T) {
	h := established(t)
	d := h.fromPeer()
	d.flags, d.data = FIN|PSH|ACK, []byte("end")
	h.send(ms(20), d)
	ack := h.toPeer()
	ack.ack = rISS + 5
	h.recv(ms(20), withWin(ack, w7(3)))
	h.state(StateCloseWait)
	buf := make([]byte, 10)
	if n, err := h.c.Read(buf); n != 3 || err != nil {
		t.Fatalf("read %d %v", n, err)
	}
	if _, err := h.c.Read(buf); err != io.EOF {
		t.Fatalf("read: %v", err)
	}
}

func TestFinOutOfOrder(t *testing.T) {
	h := established(t)
	// The FIN arrives ahead of the data before it.
	d := h.fromPeer()
	d.flags, d.seq, d.data = FIN|ACK, rISS+1+100, payload(100, 100)
	h.send(ms(20), d)
	h.recv(ms(20), h.ackTo(0, rb(100, 200)))
	h.state(StateEstablished)
	h.send(ms(21), h.data(0, 100))
	ack := h.ackTo(201)
	ack.win = w7(200)
	h.recv(ms(21), ack)
	h.state(StateCloseWait)
	if got := h.read(); len(got) != 200 {
		t.Fatalf("read %d", len(got))
	}
}

func TestLastAck(t *testing.T) {
	h := lastAck(t)
	a := h.fromPeer()
	a.seq, a.ack = rISS+2, h.L+2
	h.send(ms(40), a)
	h.recvNothing(ms(1000))
	h.state(StateClosed)
	if h.c.Err() != nil {
		t.Fatalf("graceful close left error %v", h.c.Err())
	}
}

func TestLastAckFinRetransmitted(t *testing.T) {
	h := lastAck(t)
	rto := h.c.Info().RTO
	fin := h.toPeer()
	fin.flags, fin.ack = FIN|ACK, rISS+2
	h.recvNothing(ms(30).Add(rto) - 1)
	h.recv(ms(30).Add(rto), fin)
}

func TestCloseWithUnreadDataResets(t *testing.T) {
	h := established(t)
	h.send(ms(20), h.data(0, 10))
	h.recv(ms(20), withWin(h.ackTo(10), w7(10)))
	h.c.Close()
	h.recv(ms(20), seg{flags: RST, seq: h.L + 1})
	h.state(StateClosed)
}

func TestAbort(t *testing.T) {
	h := established(t)
	h.write(payload(0, 100))
	h.recv(ms(10), h.out(0, 100))
	h.c.Abort()
	h.recv(ms(10), seg{flags: RST, seq: h.L + 101})
	h.recvNothing(ms(5000))
	if _, err := h.c.Read(make([]byte, 1)); !errors.Is(err, ErrConnAborted) {
		t.Fatalf("read: %v", err)
	}
}

func TestKeepalive(t *testing.T) {
	h := established(t, func(o *Options) {
		o.KeepaliveIdle = 10 * time.Second
		o.KeepaliveInterval = time.Second
		o.KeepaliveCount = 3
	})
	h.c.SetKeepAlive(true)
	probe := h.toPeer()
	probe.seq = h.L // SND.UNA-1
	start := ms(10)
	h.recvNothing(start.Add(10*time.Second) - 1)
	h.recv(start.Add(10*time.Second), probe)
	// An answer restarts the idle period.
	at := start.Add(10*time.Second + 5*time.Millisecond)
	h.send(at, h.fromPeer())
	h.recvNothing(at.Add(10*time.Second) - 1)
	h.recv(at.Add(10*time.Second), probe)
	// Unanswered: probes every second, then the connection times out.
	at = at.Add(10 * time.Second)
	h.recv(at.Add(1*time.Second), probe)
	h.recv(at.Add(2*time.Second), probe)
	h.recvNothing(at.Add(3*time.Second) - 1)
	h.state(StateEstablished)
	h.recvNothing(at.Add(3 * time.Second))
	h.state(StateClosed)
	if _, err := h.c.Read(make([]byte, 1)); !errors.Is(err, ErrTimeout) {
		t.Fatalf("read: %v", err)
	}
}

func TestKeepaliveOff(t *testing.T) {
	h := established(t, func(o *Options) { o.KeepaliveIdle = time.Second })
	h.recvNothing(ms(100e3))
	h.c.SetKeepAlive(true)
	h.c.SetKeepAlive(false)
	h.recvNothing(ms(200e3))
}

func TestListenerBacklog(t *testing.T) {
	h := newHarness(t)
	l := h.listen(1)
	h.send(0, peerSYN())
	h.synAck(0, peerSYN())
	h.send(ms(10), h.fromPeer())
	// A second client while the first waits in the accept queue: dropped.
	syn2 := peerSYN()
	syn2.srcPort = 40000
	h.send(ms(20), syn2)
	h.recvNothing(ms(20))
	if st := h.s.Stats(); st.ListenDrops != 1 {
		t.Fatalf("listen drops %d", st.ListenDrops)
	}
	c, err := l.Accept()
	if err != nil || c.RemoteAddr() != remoteEP || c.State() != StateEstablished {
		t.Fatalf("accept: %v %v", c, err)
	}
	if _, err := l.Accept(); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("accept on empty queue: %v", err)
	}
	// Now there is room: the retried SYN is answered.
	h.send(ms(1000), syn2)
	if out := h.take(); len(out) != 1 {
		t.Fatalf("retried SYN: %d segments", len(out))
	}
	if l.Pending() != 0 {
		t.Fatal("pending before the handshake completed")
	}
}

func TestListenerFullAcceptQueueDropsAck(t *testing.T) {
	h := newHarness(t)
	l := h.listen(1)
	h.send(0, peerSYN())
	h.synAck(0, peerSYN())
	syn2 := peerSYN()
	syn2.srcPort = 40000
	// Both SYNs arrive before either handshake completes: the SYN queue
	// has room for one only.
	h.send(ms(1), syn2)
	h.recvNothing(ms(1))
	h.send(ms(10), h.fromPeer())
	if l.Pending() != 1 {
		t.Fatalf("pending %d", l.Pending())
	}
}

func TestListenerClose(t *testing.T) {
	h := newHarness(t)
	l := h.listen(8)
	h.send(0, peerSYN())
	h.synAck(0, peerSYN())
	h.send(ms(10), h.fromPeer())
	syn2 := peerSYN()
	syn2.srcPort = 40000
	h.send(ms(20), syn2)
	h.take()
	// Close resets the queued (and half-open) connections...
	l.Close()
	out := h.take()
	if len(out) != 2 {
		t.Fatalf("close sent %d segments, want 2 RSTs", len(out))
	}
	for _, e := range out {
		if s, _ := decode(e.b); s.flags != RST {
			t.Fatalf("close sent %v", s)
		}
	}
	if _, err := l.Accept(); !errors.Is(err, ErrClosed) {
		t.Fatalf("accept after close: %v", err)
	}
	if len(h.s.Conns()) != 0 {
		t.Fatalf("%d connections left", len(h.s.Conns()))
	}
	// ...and the port is closed.
	h.send(ms(30), peerSYN())
	h.recv(ms(30), seg{flags: RST | ACK, ack: rISS + 1})
}

func TestListenerRSTInSynReceived(t *testing.T) {
	h := newHarness(t)
	l := h.listen(8)
	h.send(0, peerSYN())
	h.synAck(0, peerSYN())
	h.send(ms(5), seg{flags: RST, seq: rISS + 1})
	h.recvNothing(ms(5000))
	if len(h.s.Conns()) != 0 || l.Pending() != 0 {
		t.Fatal("half-open connection not forgotten")
	}
	// The SYN queue slot was released.
	h.send(ms(6000), peerSYN())
	h.synAck(ms(6000), peerSYN())
}
