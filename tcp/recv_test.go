package tcp

// The receiving side: in-order and out-of-order data, SACK and D-SACK
// blocks, the advertised window (scaled, closing, reopening), delayed and
// quick ACKs, receive-buffer auto-tuning.

import (
	"bytes"
	"testing"

	"github.com/ustack/ustack/wire"
)

// data is a peer segment carrying payload bytes off..off+n of its stream.
func (h *harness) data(off, n int) seg {
	d := h.fromPeer()
	d.flags, d.seq, d.data = PSH|ACK, rISS+1+uint32(off), payload(off, n)
	return d
}

// ackTo is the stack's pure ACK of the peer's stream up to off.
func (h *harness) ackTo(off int, sack ...wire.SACKBlock) seg {
	a := h.toPeer()
	a.ack = rISS + 1 + uint32(off)
	a.sack = sack
	return a
}

// w7 is the window field for a 128 KiB buffer at scale 7 holding unread
// bytes that have not been read: the right edge stays put (it never
// shrinks), the window shrinks, rounded up. After reads, the window offered
// is the free space rounded down.
func w7(unread int) uint16 { return uint16((131072 - unread + 127) >> 7) }

// withWin sets the window field.
func withWin(s seg, w uint16) seg { s.win = w; return s }

// rb is a SACK block in the peer's stream offsets.
func rb(start, end int) wire.SACKBlock {
	return wire.SACKBlock{Start: rISS + 1 + uint32(start), End: rISS + 1 + uint32(end)}
}

func TestRecvInOrder(t *testing.T) {
	h := established(t)
	h.send(ms(20), h.data(0, 1000))
	h.recv(ms(20), withWin(h.ackTo(1000), 1017))
	h.send(ms(21), h.data(1000, 460))
	h.recv(ms(21), withWin(h.ackTo(1460), w7(1460)))
	if got := h.read(); !bytes.Equal(got, payload(0, 1460)) {
		t.Fatalf("read %d bytes, wrong content", len(got))
	}
	// Overlapping retransmission: only the new part counts; the old part
	// is reported with D-SACK.
	h.send(ms(30), h.data(1000, 1000))
	h.recv(ms(30), withWin(h.ackTo(2000, rb(1000, 1460)), 1019)) // (131072-540)/128 rounded down
	if got := h.read(); !bytes.Equal(got, payload(1460, 540)) {
		t.Fatalf("read %d bytes after overlap", len(got))
	}
}

func TestRecvOutOfOrderSACK(t *testing.T) {
	h := established(t)
	h.send(ms(20), h.data(1000, 1000))
	h.recv(ms(20), h.ackTo(0, rb(1000, 2000)))
	h.send(ms(21), h.data(3000, 1000))
	h.recv(ms(21), h.ackTo(0, rb(3000, 4000), rb(1000, 2000)))
	h.send(ms(22), h.data(5000, 1000))
	h.recv(ms(22), h.ackTo(0, rb(5000, 6000), rb(3000, 4000), rb(1000, 2000)))
	h.send(ms(23), h.data(7000, 1000))
	h.recv(ms(23), h.ackTo(0, rb(7000, 8000), rb(5000, 6000), rb(3000, 4000), rb(1000, 2000)))
	// A fifth block: only the four most recent fit.
	h.send(ms(24), h.data(9000, 1000))
	h.recv(ms(24), h.ackTo(0, rb(9000, 10000), rb(7000, 8000), rb(5000, 6000), rb(3000, 4000)))
	// Extending an old block makes it the most recent.
	h.send(ms(25), h.data(2000, 500))
	h.recv(ms(25), h.ackTo(0, rb(1000, 2500), rb(9000, 10000), rb(7000, 8000), rb(5000, 6000)))
	// Filling the first hole: immediate ACK, the rest still SACKed.
	h.send(ms(26), h.data(0, 1000))
	h.recv(ms(26), withWin(h.ackTo(2500, rb(9000, 10000), rb(7000, 8000), rb(5000, 6000), rb(3000, 4000)), 1005))
	if n := h.c.Readable(); n != 2500 {
		t.Fatalf("readable %d", n)
	}
}

func TestRecvSACKWithTimestampsThreeBlocks(t *testing.T) {
	h := establishedTS(t)
	// Out-of-order segments do not update TS.Recent: every ACK echoes the
	// 110 of the handshake's last ACK. Three blocks fit next to the
	// timestamp option.
	acks := [][]wire.SACKBlock{
		{rb(1000, 2000)},
		{rb(3000, 4000), rb(1000, 2000)},
		{rb(5000, 6000), rb(3000, 4000), rb(1000, 2000)},
		{rb(7000, 8000), rb(5000, 6000), rb(3000, 4000)},
	}
	for i, off := range []int{1000, 3000, 5000, 7000} {
		at := ms(20 + float64(i))
		d := h.data(off, 1000)
		d.ts, d.tsval, d.tsecr = true, 200, h.tsval(ms(10))
		h.send(at, d)
		a := h.ackTo(0, acks[i]...)
		a.ts, a.tsval, a.tsecr = true, h.tsval(at), 110
		h.recv(at, a)
	}
}

func TestRecvAllFilledImmediateAck(t *testing.T) {
	h := established(t)
	h.c.quickAcks = 0 // past the start of the connection
	h.send(ms(20), h.data(1000, 1000))
	h.recv(ms(20), h.ackTo(0, rb(1000, 2000)))
	h.send(ms(21), h.data(0, 1000))
	h.recv(ms(21), withWin(h.ackTo(2000), w7(2000)))
}

func TestRecvDuplicateDSACK(t *testing.T) {
	h := established(t)
	h.read()
	h.send(ms(20), h.data(0, 1000))
	h.recv(ms(20), withWin(h.ackTo(1000), w7(1000)))
	h.read()
	h.send(ms(30), h.data(0, 1000))
	h.recv(ms(30), h.ackTo(1000, rb(0, 1000)))
	// The D-SACK is reported once.
	h.send(ms(40), h.data(2000, 1000))
	h.recv(ms(40), h.ackTo(1000, rb(2000, 3000)))
	// A duplicate of part of an out-of-order block is not reported as
	// D-SACK (RFC 2883 allows it; Linux does it): just the block.
	h.send(ms(50), h.data(2000, 500))
	h.recv(ms(50), h.ackTo(1000, rb(2000, 3000)))
	// A duplicate that overlaps new data: D-SACK for the old part.
	h.send(ms(60), h.data(500, 1000))
	h.recv(ms(60), withWin(h.ackTo(1500, rb(500, 1000), rb(2000, 3000)), 1021))
}

func TestRecvWindowScaledAndClosing(t *testing.T) {
	// 4 KiB buffer: window 4096 is 1024 << 2... scale is 0 here (the
	// buffer's maximum fits 16 bits), so the field is the byte count.
	h := newHarness(t, func(o *Options) { o.RecvBuffer = BufSizes{2048, 4096, 4096} })
	h.ourWin = 4096
	h.established()
	if i := h.c.Info(); i.RcvWScale != 0 || !i.WS {
		t.Fatalf("rcv scale %d", i.RcvWScale)
	}
	for i := 0; i < 4; i++ {
		h.send(ms(20+float64(i)), h.data(1024*i, 1024))
		a := h.ackTo(1024 * (i + 1))
		a.win = uint16(4096 - 1024*(i+1))
		h.recv(ms(20+float64(i)), a)
	}
	// Zero window: a byte beyond it is dropped and answered.
	h.send(ms(30), h.data(4096, 1))
	zero := h.ackTo(4096)
	zero.win = 0
	h.recv(ms(30), zero)
	// A zero-window probe at RCV.NXT-... just the same.
	// Reading a little does not reopen the window (SWS avoidance)...
	if n, _ := h.c.Read(make([]byte, 1000)); n != 1000 {
		t.Fatal("short read")
	}
	h.recvNothing(ms(40))
	// ...reading half the buffer does.
	if n, _ := h.c.Read(make([]byte, 1048)); n != 1048 {
		t.Fatal("short read")
	}
	up := h.ackTo(4096)
	up.win = 2048
	h.recv(ms(40), up)
	h.read()
	up.win = 4096
	h.recv(ms(40), up)
}

func TestRecvWindowScale7(t *testing.T) {
	h := established(t)
	// 128 KiB buffer, scale 7: the field is 1024; it never shrinks while
	// the buffer fills, it just slides.
	h.send(ms(20), h.data(0, 65536))
	a := h.ackTo(65536)
	a.win = 512
	h.recv(ms(20), a)
	h.send(ms(21), h.data(65536, 65536))
	a = h.ackTo(131072)
	a.win = 0
	h.recv(ms(21), a)
	// Reading it all reopens the window, grown by auto-tuning: the reader
	// took 64 KiB (the first Read) in one RTT, so the buffer becomes
	// 4*64 KiB + 16*MSS = 285504 bytes.
	h.read()
	a.win = 285504 >> 7
	h.recv(ms(21), a)
}

func TestDelayedAck(t *testing.T) {
	h := established(t)
	h.c.quickAcks = 0 // past the start of the connection
	// One full segment: ACK after 40 ms.
	h.send(ms(20), h.data(0, 1460))
	h.recvNothing(ms(60) - 1)
	h.recv(ms(60), withWin(h.ackTo(1460), w7(1460)))
	// Two full segments: ACK at once on the second.
	h.send(ms(100), h.data(1460, 1460))
	h.recvNothing(ms(101))
	h.send(ms(101), h.data(2920, 1460))
	h.recv(ms(101), withWin(h.ackTo(4380), w7(4380)))
	// A small segment: delayed too.
	h.send(ms(200), h.data(4380, 10))
	h.recvNothing(ms(240) - 1)
	h.recv(ms(240), withWin(h.ackTo(4390), w7(4390)))
	if st := h.s.Stats(); st.DelayedACKs != 2 {
		t.Fatalf("delayed ACKs %d", st.DelayedACKs)
	}
}

func TestDelayedAckPiggybacked(t *testing.T) {
	h := established(t)
	h.c.quickAcks = 0
	h.send(ms(20), h.data(0, 100))
	h.recvNothing(ms(30))
	// A reply within the delay carries the ACK; no separate ACK follows.
	h.write([]byte("reply"))
	d := withWin(h.ackTo(100), w7(100))
	d.flags, d.data = PSH|ACK, []byte("reply")
	h.recv(ms(30), d)
	h.recvNothing(ms(100))
}

func TestQuickAcksAtStart(t *testing.T) {
	h := established(t)
	// The first 16 ACKs go out at once, even for small segments.
	for i := 0; i < 16; i++ {
		h.send(ms(20+float64(i)), h.data(100*i, 100))
		h.recv(ms(20+float64(i)), withWin(h.ackTo(100*(i+1)), w7(100*(i+1))))
	}
	h.send(ms(40), h.data(1600, 100))
	h.recvNothing(ms(80) - 1)
	h.recv(ms(80), withWin(h.ackTo(1700), w7(1700)))
}

func TestRecvAutoTuning(t *testing.T) {
	h := established(t)
	h.c.quickAcks = 0
	if i := h.c.Info(); i.RcvSpace != 131072 {
		t.Fatalf("initial buffer %d", i.RcvSpace)
	}
	// The reader keeps up: 64 KiB per RTT (10 ms), read at once.
	off := 0
	var last seg
	for round := 0; round < 6; round++ {
		at := 20 + 10*float64(round)
		for i := 0; i < 4; i++ {
			h.send(ms(at), h.data(off, 16384))
			off += 16384
		}
		h.advance(ms(at))
		for _, e := range h.take() {
			last, _ = decode(e.b)
		}
		h.read()
		h.advance(ms(at))
		for _, e := range h.take() {
			last, _ = decode(e.b)
		}
	}
	i := h.c.Info()
	if i.RcvSpace <= 131072 {
		t.Fatalf("buffer did not grow: %d", i.RcvSpace)
	}
	if int(last.win)<<7 <= 131072 || last.ack != rISS+1+uint32(off) {
		t.Fatalf("last ACK %v: window not grown beyond 128 KiB (buffer %d)", last, i.RcvSpace)
	}
	if i.RcvSpace > 6<<20 {
		t.Fatalf("buffer %d beyond tcp_rmem max", i.RcvSpace)
	}
}

func TestRecvNoAutoTuningWhenReaderIdle(t *testing.T) {
	h := established(t)
	for round := 0; round < 6; round++ {
		h.send(ms(20+10*float64(round)), h.data(16384*round, 16384))
	}
	h.take()
	if i := h.c.Info(); i.RcvSpace != 131072 {
		t.Fatalf("buffer grew to %d without reads", i.RcvSpace)
	}
}

func TestRecvWindowClosesExactly(t *testing.T) {
	h := established(t)
	h.c.quickAcks = 1 << 30 // ACK every segment
	// The reader sleeps; the peer sends 1000-byte segments (not a multiple
	// of the scale unit, 128). The window must close exactly when the
	// buffer is full, however the rounding fell on the way.
	for i := 0; i < 131; i++ {
		h.send(ms(20+float64(i)/10), h.data(1000*i, 1000))
		h.recv(ms(20+float64(i)/10), withWin(h.ackTo(1000*(i+1)), w7(1000*(i+1))))
	}
	h.send(ms(40), h.data(131000, 1000))
	h.recv(ms(40), withWin(h.ackTo(131072), 0))
	if h.c.Readable() != 131072 {
		t.Fatalf("readable %d", h.c.Readable())
	}
}

// TestRecvNoWindowUpdatePerRead: while the window the peer knows is more
// than half the buffer, reading does not draw a pure window update; the
// larger window goes out with the next ACK (as Linux tcp_cleanup_rbuf).
func TestRecvNoWindowUpdatePerRead(t *testing.T) {
	h := established(t)
	h.c.quickAcks = 0
	h.send(ms(20), h.data(0, 1460))
	h.recvNothing(ms(20)) // delayed
	h.send(ms(21), h.data(1460, 1460))
	h.recv(ms(21), withWin(h.ackTo(2920), w7(2920)))
	if got := h.read(); len(got) != 2920 {
		t.Fatalf("read %d", len(got))
	}
	h.recvNothing(ms(22))
	// The next ACK carries the whole window again.
	h.send(ms(23), h.data(2920, 1460))
	h.send(ms(24), h.data(4380, 1460))
	h.recv(ms(24), withWin(h.ackTo(5840), (131072-2920)>>7)) // free space, rounded down
}
