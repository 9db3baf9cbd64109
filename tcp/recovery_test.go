package tcp

// Loss recovery on the sending side: RACK marking a hole lost from SACKs
// after the reordering window, fast retransmit, RTO with RFC 6298 backoff,
// tail loss probes, giving up after Retries2, PMTU reduction.

import (
	"errors"
	"testing"
	"time"

	"github.com/ustack/ustack/clock"
	"github.com/ustack/ustack/ip"
	"github.com/ustack/ustack/wire"
)

// lb is a SACK block in the stack's stream offsets.
func (h *harness) lb(start, end int) wire.SACKBlock {
	return wire.SACKBlock{Start: h.L + 1 + uint32(start), End: h.L + 1 + uint32(end)}
}

// sackOf is the peer's ACK up to off with SACK blocks.
func (h *harness) sackOf(off int, blocks ...wire.SACKBlock) seg {
	a := h.ackOf(off)
	a.sack = blocks
	return a
}

// flight writes n full segments at 10 ms and checks they all leave.
func (h *harness) flight(n int) {
	h.t.Helper()
	h.write(payload(0, 1460*n))
	var want []seg
	for i := 0; i < n; i++ {
		want = append(want, h.out(1460*i, 1460))
	}
	h.recv(ms(10), want...)
}

func TestRACKReorderWindow(t *testing.T) {
	h := established(t)
	h.flight(4)
	// Segment 2 SACKed 10 ms later: segment 1, sent at the same time, is
	// lost only once the reordering window (min RTT / 4 = 2.5 ms) passed.
	h.send(ms(20), h.sackOf(0, h.lb(1460, 2920)))
	h.recvNothing(ms(22.5) - 1)
	h.recv(ms(22.5), h.out(0, 1460))
	if i := h.c.Info(); i.CAState != CARecovery || i.LostBytes != 1460 || i.SackedBytes != 1460 {
		t.Fatalf("after RACK: %v lost %d sacked %d", i.CAState, i.LostBytes, i.SackedBytes)
	}
	// The retransmission is acknowledged with the rest: recovery ends.
	h.send(ms(32.5), h.ackOf(5840))
	h.recvNothing(ms(2000))
	if i := h.c.Info(); i.CAState != CAOpen || i.InFlight != 0 || i.TotalRetrans != 1 {
		t.Fatalf("after recovery: %+v", i)
	}
}

func TestRACKThreeSACKedImmediate(t *testing.T) {
	h := established(t)
	h.flight(4)
	// Three segments SACKed: no reordering allowance (RFC 8985 6.2),
	// segment 1 is lost at once.
	h.send(ms(20), h.sackOf(0, h.lb(1460, 5840)))
	h.recv(ms(20), h.out(0, 1460))
	if st := h.s.Stats(); st.RACKLossMarks != 1 || st.RetransSegs != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRACKTwoHoles(t *testing.T) {
	h := established(t)
	h.flight(6)
	h.send(ms(20), h.sackOf(0, h.lb(1460, 2920)))
	h.send(ms(20.5), h.sackOf(0, h.lb(4380, 8760), h.lb(1460, 2920)))
	// Segments 1 and 3 are lost: 4 segments delivered after them.
	h.recv(ms(20.5), h.out(0, 1460), h.out(2920, 1460))
	h.send(ms(31), h.sackOf(1460, h.lb(4380, 8760)))
	h.recvNothing(ms(31))
	h.send(ms(31), h.ackOf(8760))
	h.recvNothing(ms(3000))
}

func TestRTOBackoff(t *testing.T) {
	h := established(t)
	h.write(payload(0, 1000))
	h.recv(ms(10), h.out(0, 1000))
	rto := h.c.Info().RTO
	if rto < 200*time.Millisecond {
		t.Fatalf("RTO %v below the 200 ms minimum", rto)
	}
	at := ms(10)
	for i := 0; i < 4; i++ {
		at = at.Add(rto << i)
		h.recvNothing(at - 1)
		h.recv(at, h.out(0, 1000))
	}
	if i := h.c.Info(); i.Backoff != 4 || i.CAState != CALoss {
		t.Fatalf("backoff %d state %v", i.Backoff, i.CAState)
	}
	// The ACK ends the loss state and the backoff.
	h.send(at.Add(10e6), h.ackOf(1000))
	h.recvNothing(at.Add(100e9))
	if i := h.c.Info(); i.Backoff != 0 || i.CAState != CAOpen {
		t.Fatalf("after ACK: backoff %d state %v", i.Backoff, i.CAState)
	}
}

func TestRTOMinimum(t *testing.T) {
	// An active open whose handshake RTT is 0: the RTO is the 200 ms
	// minimum (the initial 1 s is the SYN's: TestSynRetransmitAndTimeout).
	h := newHarness(t)
	h.connect()
	h.c.Write(payload(0, 100))
	h.send(0, seg{flags: SYN | ACK, seq: rISS, ack: h.L + 1, win: 65535, mss: 1460, hasWS: true, ws: 2})
	d := h.out(0, 100) // carries the handshake's ACK
	h.recv(0, d)
	rto := h.c.Info().RTO
	if rto < 200*time.Millisecond || rto > 201*time.Millisecond {
		t.Fatalf("RTO %v, want the 200 ms minimum", rto)
	}
	h.recvNothing(clock.Time(rto) - 1)
	h.recv(clock.Time(rto), d)
	h.recvNothing(clock.Time(3*rto) - 1)
	h.recv(clock.Time(3*rto), d)
}

func TestRTOGivesUp(t *testing.T) {
	h := established(t, func(o *Options) { o.Retries2 = 3 })
	h.write(payload(0, 100))
	h.recv(ms(10), h.out(0, 100))
	rto := h.c.Info().RTO
	at := ms(10)
	for i := 0; i < 3; i++ {
		at = at.Add(rto << i)
		h.recv(at, h.out(0, 100))
	}
	at = at.Add(rto << 3)
	h.recvNothing(at)
	h.state(StateClosed)
	if _, err := h.c.Write([]byte("x")); !errors.Is(err, ErrTimeout) {
		t.Fatalf("write: %v", err)
	}
}

func TestTLP(t *testing.T) {
	h := established(t)
	h.flight(3)
	// No ACK: the probe (the last segment again) goes after 2*SRTT.
	h.recvNothing(ms(30) - 1)
	h.recv(ms(30), h.out(2920, 1460))
	if st := h.s.Stats(); st.TLPProbes != 1 {
		t.Fatalf("TLP probes %d", st.TLPProbes)
	}
	// The probe's ACK SACKs it; RACK marks the rest lost, PRR lets one
	// retransmission out per segment delivered.
	h.send(ms(40), h.sackOf(0, h.lb(2920, 4380)))
	h.recv(ms(40), h.out(0, 1460))
	h.send(ms(50), h.sackOf(1460, h.lb(2920, 4380)))
	h.recv(ms(50), h.out(1460, 1460))
	h.send(ms(60), h.ackOf(4380))
	h.recvNothing(ms(5000))
	if i := h.c.Info(); i.CAState != CAOpen || i.InFlight != 0 {
		t.Fatalf("after recovery: %v in flight %d", i.CAState, i.InFlight)
	}
}

func TestTLPSendsNewData(t *testing.T) {
	h := established(t)
	// Eleven segments queued, the initial window lets ten out.
	h.write(payload(0, 11*1460))
	var want []seg
	for i := 0; i < 10; i++ {
		want = append(want, h.out(1460*i, 1460))
	}
	h.recv(ms(10), want...)
	// The probe carries the new segment (RFC 8985 7.3), past cwnd.
	h.recvNothing(ms(30) - 1)
	h.recv(ms(30), h.out(14600, 1460))
	// Only one probe per flight.
	rto := h.c.Info().RTO
	h.recvNothing(ms(30).Add(rto) - 1)
}

func TestPMTUTooBig(t *testing.T) {
	h := established(t)
	h.flight(3)
	quote := h.out(0, 1460)
	q := make([]byte, 8)
	copy(q, []byte{0, 80, 0xc0, 0x00})
	q[0], q[1], q[2], q[3] = 0, 80, byte(remoteEP.Port()>>8), byte(remoteEP.Port())
	q[4], q[5], q[6], q[7] = byte(quote.seq>>24), byte(quote.seq>>16), byte(quote.seq>>8), byte(quote.seq)
	h.advance(ms(15))
	h.s.HandleControl(ms(15), &ip.ControlMessage{Kind: ip.ControlPacketTooBig, MTU: 1000,
		Src: localAddr, Dst: remoteAddr, Protocol: wire.ProtoTCP, Payload: q})
	// MSS 960: every segment goes again in two pieces.
	h.recv(ms(15), h.out(0, 960), h.out(960, 500), h.out(1460, 960), h.out(2420, 500),
		h.out(2920, 960), h.out(3880, 500))
	if i := h.c.Info(); i.MSS != 960 {
		t.Fatalf("MSS %d", i.MSS)
	}
	// New data uses the new MSS.
	h.write(payload(4380, 2000))
	h.recv(ms(15), h.out(4380, 960), h.out(5340, 960))
	// A quote outside the flight is ignored.
	q[4] ^= 0x80
	h.s.HandleControl(ms(16), &ip.ControlMessage{Kind: ip.ControlPacketTooBig, MTU: 600,
		Src: localAddr, Dst: remoteAddr, Protocol: wire.ProtoTCP, Payload: q})
	h.recvNothing(ms(16))
	if i := h.c.Info(); i.MSS != 960 {
		t.Fatalf("MSS %d after a bogus quote", i.MSS)
	}
}

func TestNoTLPInRecovery(t *testing.T) {
	h := established(t)
	h.flight(4)
	h.send(ms(20), h.sackOf(0, h.lb(1460, 2920)))
	h.recv(ms(22.5), h.out(0, 1460))
	// In recovery: no tail loss probe; the RTO (restarted by the
	// retransmission... or not) is what fires next, with the whole tail.
	h.recvNothing(ms(100))
	checkInvariants(t, h.c)
}

// TestHeadRetransmissionRestartsRTO: a retransmission of the first
// unacknowledged segment restarts the RTO (RFC 6298 5.3, as Linux
// tcp_xmit_retransmit_queue). The head is lost twice; RACK resends it a
// second time long after the first flight, and no RTO fires while that
// copy is on its way — the timer counts from the latest copy, not from the
// last cumulative ACK.
func TestHeadRetransmissionRestartsRTO(t *testing.T) {
	h := established(t)
	h.write(payload(0, 5*1460))
	var want []seg
	for i := 0; i < 5; i++ {
		want = append(want, h.out(1460*i, 1460))
	}
	h.recv(ms(10), want...)
	rto := h.c.Info().RTO
	// Segments 1–4 SACKed: segment 0 is lost, resent at once.
	h.send(ms(20), h.sackOf(0, h.lb(1460, 7300)))
	h.recv(ms(20), h.out(0, 1460))
	// New data goes after the retransmission (the delivered segments
	// freed the window).
	h.write(payload(7300, 1460))
	h.recv(ms(20), h.out(7300, 1460))
	// The retransmission is lost too: the new segment, sent after it, is
	// SACKed well past its RTT, and RACK resends segment 0 a third time,
	// late in the RTO that started with the first flight.
	late := ms(10).Add(rto - 20*time.Millisecond)
	h.send(late, h.sackOf(0, h.lb(7300, 8760), h.lb(1460, 7300)))
	h.recv(late, h.out(0, 1460))
	// The first flight's RTO passes: no timeout while the third copy is
	// in flight...
	h.recvNothing(ms(10).Add(rto) + 1)
	rto = h.c.Info().RTO // (the SACKs' RTT samples moved it)
	h.recvNothing(late.Add(rto) - 1)
	if st := h.s.Stats(); st.Timeouts != 0 {
		t.Fatalf("%d RTOs while the resent head was in flight", st.Timeouts)
	}
	// ...and the RTO still covers it: one full RTO after the last copy.
	h.recv(late.Add(rto), h.out(0, 1460))
	if st := h.s.Stats(); st.Timeouts != 1 {
		t.Fatalf("timeouts %d, want 1 after an RTO of silence", st.Timeouts)
	}
	checkInvariants(t, h.c)
}

// expandingCC is testCC asking for a send buffer of three windows, as BBR.
type expandingCC struct{ testCC }

func (expandingCC) Name() string          { return "test-fixed-x3" }
func (expandingCC) SendBufferExpand() int { return 3 }

func init() {
	RegisterCongestionControl("test-fixed-x3", func() CongestionControl { return expandingCC{} })
}

// TestSendBufferFollowsCwnd: the send buffer grows to two congestion
// windows, or to as many as the algorithm asks for (Linux
// tcp_sndbuf_expand, bbr_sndbuf_expand).
func TestSendBufferFollowsCwnd(t *testing.T) {
	for _, tc := range []struct {
		cc      string
		windows int
	}{{"test-fixed", 2}, {"test-fixed-x3", 3}} {
		h := established(t, func(o *Options) { o.CongestionControl = tc.cc })
		h.write(payload(0, 16384)) // the default buffer
		h.advance(ms(10))
		h.send(ms(20), h.ackOf(1460))
		cwnd := h.c.Info().Cwnd
		if got, want := h.c.sndBuf.limit, tc.windows*cwnd; got != want {
			t.Errorf("%s: send buffer %d, want %d × cwnd %d", tc.cc, got, tc.windows, cwnd)
		}
	}
}
