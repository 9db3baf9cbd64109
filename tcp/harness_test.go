package tcp

// The packet-level test harness, in the style of smoltcp's socket tests:
// a test is a trace of segments the peer sends (send), segments the stack
// must emit at exact times (recv) and quiet periods (recvNothing). The fake
// network owns the timer queue and the clock; time moves only when a test
// says so, by running the queue deadline by deadline up to the next instant
// of the trace.
//
// Segments are written as seg values — a template (fromPeer, toPeer) with one
// or two fields changed — and compared field by field with what the stack
// sent: flags, sequence numbers, window, every option, payload.
//
// The connection under test is 192.0.2.1:80 (the stack) talking to
// 198.51.100.2:49152 (the scripted peer, whose ISS is rISS). The stack's ISS
// is a keyed hash, read from its SYN or SYN-ACK into harness.L.

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ustack/ustack/clock"
	"github.com/ustack/ustack/ip"
	"github.com/ustack/ustack/wire"
)

var (
	localAddr  = netip.MustParseAddr("192.0.2.1")
	remoteAddr = netip.MustParseAddr("198.51.100.2")
	localEP    = netip.AddrPortFrom(localAddr, 80)
	remoteEP   = netip.AddrPortFrom(remoteAddr, 49152)
)

// rISS is the peer's initial sequence number.
const rISS uint32 = 10000

const (
	ACK = wire.FlagACK
	SYN = wire.FlagSYN
	FIN = wire.FlagFIN
	RST = wire.FlagRST
	PSH = wire.FlagPSH
)

func ms(n float64) clock.Time { return clock.Time(n * float64(time.Millisecond)) }

// testCC is a fixed-window algorithm: the initial window stays as it is
// until a loss halves it; afterwards slow start climbs back to ssthresh and
// stops. Expected traces never depend on window growth.
type testCC struct{}

func (testCC) Name() string            { return "test-fixed" }
func (testCC) Init(c *CCState)         { c.Ssthresh = c.Cwnd }
func (testCC) SsThresh(c *CCState) int { return max(c.InFlight/2, 2*c.MSS) }
func (testCC) CongAvoid(c *CCState, acked int, _ *RateSample) {
	if c.Cwnd < c.Ssthresh {
		c.Cwnd = min(c.Cwnd+acked, c.Ssthresh)
	}
}
func (testCC) SetState(*CCState, CAState) {}
func (testCC) OnEvent(*CCState, CCEvent)  {}

func init() {
	RegisterCongestionControl("test-fixed", func() CongestionControl { return testCC{} })
}

// testNet is the fake IP layer: a clock, the timer queue and a capture of
// every segment written.
type testNet struct {
	q   clock.Queue
	now clock.Time
	mtu int
	out []emitted
}

type emitted struct {
	at       clock.Time
	src, dst netip.Addr
	b        []byte
}

func (n *testNet) Timers() *clock.Queue { return &n.q }
func (n *testNet) Now() clock.Time      { return n.now }
func (n *testNet) FindRoute(dst, src netip.Addr) (ip.RouteInfo, error) {
	return ip.RouteInfo{Src: localAddr, MTU: n.mtu}, nil
}
func (n *testNet) WritePacket(src, dst netip.Addr, proto uint8, tos uint8, buf []byte, off int) error {
	n.out = append(n.out, emitted{at: n.now, src: src, dst: dst, b: bytes.Clone(buf[off:])})
	return nil
}
func (n *testNet) IsLocalAddr(a netip.Addr) bool { return a == localAddr }

// seg is a segment as a test writes it. Options are absent unless set.
type seg struct {
	flags        wire.TCPFlags
	seq, ack     uint32
	win          uint16
	mss          uint16
	hasWS        bool
	ws           uint8
	sackOK       bool
	ts           bool
	tsval, tsecr uint32
	sack         []wire.SACKBlock
	data         []byte
	srcPort      uint16 // 0: the usual port
}

func (s seg) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s seq=%d ack=%d win=%d", s.flags, s.seq, s.ack, s.win)
	if s.mss != 0 {
		fmt.Fprintf(&b, " mss=%d", s.mss)
	}
	if s.hasWS {
		fmt.Fprintf(&b, " ws=%d", s.ws)
	}
	if s.sackOK {
		b.WriteString(" sackOK")
	}
	if s.ts {
		fmt.Fprintf(&b, " ts=%d/%d", s.tsval, s.tsecr)
	}
	for _, x := range s.sack {
		fmt.Fprintf(&b, " sack=%d-%d", x.Start, x.End)
	}
	if len(s.data) > 0 {
		fmt.Fprintf(&b, " len=%d", len(s.data))
	}
	return b.String()
}

// equal compares everything but the payload bytes' identity.
func (s seg) equal(o seg) bool {
	if s.flags != o.flags || s.seq != o.seq || s.ack != o.ack || s.win != o.win || s.mss != o.mss ||
		s.hasWS != o.hasWS || s.ws != o.ws || s.sackOK != o.sackOK || s.ts != o.ts ||
		s.tsval != o.tsval || s.tsecr != o.tsecr || len(s.sack) != len(o.sack) || !bytes.Equal(s.data, o.data) {
		return false
	}
	for i := range s.sack {
		if s.sack[i] != o.sack[i] {
			return false
		}
	}
	return true
}

// encode builds the wire bytes of s from the peer, checksummed.
func (s seg) encode() []byte {
	h := wire.TCPHeader{SrcPort: remoteEP.Port(), DstPort: localEP.Port(), Seq: s.seq, Ack: s.ack, Flags: s.flags, Window: s.win}
	if s.srcPort != 0 {
		h.SrcPort = s.srcPort
	}
	h.Options = wire.NoTCPOptions()
	h.Options.MSS = s.mss
	if s.hasWS {
		h.Options.WScale = int8(s.ws)
	}
	h.Options.SACKPermitted = s.sackOK
	h.Options.HasTimestamp = s.ts
	h.Options.TSVal, h.Options.TSEcr = s.tsval, s.tsecr
	h.Options.NumSACK = copy(h.Options.SACK[:], s.sack)
	b := make([]byte, h.Len()+len(s.data))
	n := h.Encode(b)
	copy(b[n:], s.data)
	wire.SetTCPChecksum(remoteAddr, localAddr, b)
	return b
}

// decode turns an emitted segment back into a seg.
func decode(b []byte) (seg, error) {
	h, payload, err := wire.ParseTCP(b)
	if err != nil {
		return seg{}, err
	}
	s := seg{flags: h.Flags, seq: h.Seq, ack: h.Ack, win: h.Window, mss: h.Options.MSS,
		sackOK: h.Options.SACKPermitted, ts: h.Options.HasTimestamp,
		tsval: h.Options.TSVal, tsecr: h.Options.TSEcr}
	if h.Options.WScale >= 0 {
		s.hasWS, s.ws = true, uint8(h.Options.WScale)
	}
	s.sack = append(s.sack, h.Options.SACK[:h.Options.NumSACK]...)
	if len(payload) > 0 {
		s.data = bytes.Clone(payload)
	}
	return s, nil
}

// harness drives one stack and, usually, one connection under test.
type harness struct {
	t   testing.TB
	net *testNet
	s   *Stack
	c   *Conn
	l   *Listener
	L   uint32 // the stack's ISS
	// peer-side window settings used by the templates
	peerWin uint16 // window field the peer sends
	ourWin  uint16 // window field the stack is expected to send
	ts      bool   // timestamps negotiated: templates carry them
}

// newHarness creates a stack with the test algorithm and seed 1; opts
// adjust the settings.
func newHarness(t testing.TB, opts ...func(*Options)) *harness {
	t.Helper()
	// Explicit buffer sizes: the window scale the traces expect (7) follows
	// from the receive buffer's maximum, not from whatever the default is.
	o := Options{CongestionControl: "test-fixed", Seed: 1,
		SendBuffer: BufSizes{4096, 16384, 4 << 20}, RecvBuffer: BufSizes{4096, 131072, 6 << 20}}
	for _, f := range opts {
		f(&o)
	}
	n := &testNet{mtu: 1500}
	s, err := NewStack(n, o)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, net: n, s: s, peerWin: 16384, ourWin: 1024}
}

// advance runs every timer due up to and including to, each at its own
// deadline, and leaves the clock at to.
func (h *harness) advance(to clock.Time) {
	h.t.Helper()
	if to < h.net.now {
		h.t.Fatalf("time goes backwards: %v -> %v", h.net.now, to)
	}
	for i := 0; h.net.q.Next() <= to; i++ {
		if i > 1_000_000 {
			h.t.Fatalf("timer queue does not settle before %v", to)
		}
		if next := h.net.q.Next(); next > h.net.now {
			h.net.now = next
		}
		h.net.q.Run(h.net.now)
	}
	h.net.now = to
}

// send delivers s from the peer at time at (after running timers due by then).
func (h *harness) send(at clock.Time, s seg) {
	h.t.Helper()
	h.advance(at)
	h.s.HandlePacket(at, &ip.Packet{Src: remoteAddr, Dst: localAddr, Protocol: wire.ProtoTCP, Payload: s.encode()})
}

// take returns what the stack emitted since the last call.
func (h *harness) take() []emitted {
	out := h.net.out
	h.net.out = nil
	return out
}

// recv runs timers up to at and checks that exactly want was emitted, all
// at time at.
func (h *harness) recv(at clock.Time, want ...seg) {
	h.t.Helper()
	h.advance(at)
	got := h.take()
	var gs []seg
	ok := len(got) == len(want)
	for i, e := range got {
		s, err := decode(e.b)
		if err != nil {
			h.t.Fatalf("emitted segment %d does not parse: %v", i, err)
		}
		if !wire.VerifyTCPChecksum(e.src, e.dst, e.b) || e.src != localAddr || e.dst != remoteAddr {
			h.t.Fatalf("emitted segment %d: bad checksum or addresses %v -> %v", i, e.src, e.dst)
		}
		gs = append(gs, s)
		if i < len(want) && (!s.equal(want[i]) || e.at != at) {
			ok = false
		}
	}
	if !ok {
		var b strings.Builder
		fmt.Fprintf(&b, "at %v:\n want:\n", at)
		for _, w := range want {
			fmt.Fprintf(&b, "  %v  %v\n", at, w)
		}
		b.WriteString(" got:\n")
		for i, s := range gs {
			fmt.Fprintf(&b, "  %v  %v\n", got[i].at, s)
		}
		h.t.Fatal(b.String())
	}
}

// recvNothing runs timers up to until and checks that nothing was emitted.
func (h *harness) recvNothing(until clock.Time) {
	h.t.Helper()
	h.advance(until)
	if got := h.take(); len(got) > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "expected nothing until %v, got:\n", until)
		for _, e := range got {
			s, _ := decode(e.b)
			fmt.Fprintf(&b, "  %v  %v\n", e.at, s)
		}
		h.t.Fatal(b.String())
	}
}

// tsval is the stack's timestamp clock at time at.
func (h *harness) tsval(at clock.Time) uint32 { return uint32(int64(at)/int64(time.Millisecond)) + h.L }

// fromPeer is the template of an established peer segment: ACK at the
// start of both sequence spaces.
func (h *harness) fromPeer() seg {
	return seg{flags: ACK, seq: rISS + 1, ack: h.L + 1, win: h.peerWin}
}

// toPeer is the template of the stack's segment on an established
// connection: a pure ACK at the start of both sequence spaces.
func (h *harness) toPeer() seg {
	return seg{flags: ACK, seq: h.L + 1, ack: rISS + 1, win: h.ourWin}
}

// peerSYN is the peer's SYN: MSS 1460, window scale 2, SACK permitted.
func peerSYN() seg {
	return seg{flags: SYN, seq: rISS, win: 65535, mss: 1460, hasWS: true, ws: 2, sackOK: true}
}

// listen opens the listener on port 80.
func (h *harness) listen(backlog int) *Listener {
	h.t.Helper()
	l, err := h.s.Listen(localEP, backlog)
	if err != nil {
		h.t.Fatal(err)
	}
	h.l = l
	return l
}

// synAck reads the stack's SYN-ACK (answering syn at time at) and learns L.
func (h *harness) synAck(at clock.Time, syn seg) seg {
	h.t.Helper()
	h.advance(at)
	out := h.take()
	if len(out) != 1 {
		h.t.Fatalf("expected one SYN-ACK, got %d segments", len(out))
	}
	s, err := decode(out[0].b)
	if err != nil || s.flags != SYN|ACK {
		h.t.Fatalf("expected SYN-ACK, got %v (%v)", s, err)
	}
	h.L = s.seq
	return s
}

// established opens a connection passively: the peer's SYN (syn, usually
// peerSYN with a change) at 0, the final ACK at 10 ms (one RTT sample of
// 10 ms: SRTT 10 ms, RTO 200 ms). The connection is accepted.
func (h *harness) establishedWith(syn seg) *Conn {
	h.t.Helper()
	h.listen(8)
	h.send(0, syn)
	h.synAck(0, syn)
	if !syn.hasWS {
		h.ourWin = 65535
		if h.peerWin == 16384 {
			h.peerWin = 65535
		}
	}
	ack := h.fromPeer()
	if syn.ts {
		h.ts = true
		ack.ts, ack.tsval, ack.tsecr = true, syn.tsval+10, h.tsval(0)
	}
	h.send(ms(10), ack)
	c, err := h.l.Accept()
	if err != nil {
		h.t.Fatalf("accept: %v", err)
	}
	if c.State() != StateEstablished {
		h.t.Fatalf("state %v", c.State())
	}
	h.c = c
	h.recvNothing(ms(10))
	return c
}

func (h *harness) established() *Conn { return h.establishedWith(peerSYN()) }

// established returns a harness with an accepted connection (no timestamps).
func established(t testing.TB, opts ...func(*Options)) *harness {
	t.Helper()
	h := newHarness(t, opts...)
	h.established()
	return h
}

// finWait1 is established, then the application closes: FIN sent at 10 ms.
func finWait1(t testing.TB) *harness {
	t.Helper()
	h := established(t)
	h.c.CloseWrite()
	fin := h.toPeer()
	fin.flags = FIN | ACK
	h.recv(ms(10), fin)
	h.state(StateFinWait1)
	return h
}

// finWait2 is finWait1 with the FIN acknowledged at 20 ms.
func finWait2(t testing.TB) *harness {
	t.Helper()
	h := finWait1(t)
	ack := h.fromPeer()
	ack.ack = h.L + 2
	h.send(ms(20), ack)
	h.recvNothing(ms(20))
	h.state(StateFinWait2)
	return h
}

// closeWait is established, then the peer's FIN at 20 ms, acknowledged at once.
func closeWait(t testing.TB) *harness {
	t.Helper()
	h := established(t)
	fin := h.fromPeer()
	fin.flags = FIN | ACK
	h.send(ms(20), fin)
	ack := h.toPeer()
	ack.ack = rISS + 2
	h.recv(ms(20), ack)
	h.state(StateCloseWait)
	return h
}

// lastAck is closeWait, then the application closes: FIN at 30 ms.
func lastAck(t testing.TB) *harness {
	t.Helper()
	h := closeWait(t)
	h.advance(ms(30))
	h.c.CloseWrite()
	fin := h.toPeer()
	fin.flags, fin.ack = FIN|ACK, rISS+2
	h.recv(ms(30), fin)
	h.state(StateLastAck)
	return h
}

// timeWait is finWait2, then the peer's FIN at 30 ms, acknowledged.
func timeWait(t testing.TB) *harness {
	t.Helper()
	h := finWait2(t)
	fin := h.fromPeer()
	fin.flags, fin.ack = FIN|ACK, h.L+2
	h.send(ms(30), fin)
	ack := h.toPeer()
	ack.seq, ack.ack = h.L+2, rISS+2
	h.recv(ms(30), ack)
	h.state(StateTimeWait)
	return h
}

// state asserts the connection state.
func (h *harness) state(want State) {
	h.t.Helper()
	if got := h.c.State(); got != want {
		h.t.Fatalf("state %v, want %v", got, want)
	}
}

// write queues p and fails the test if not all of it was taken.
func (h *harness) write(p []byte) {
	h.t.Helper()
	if n, err := h.c.Write(p); n != len(p) || err != nil {
		h.t.Fatalf("write: %d %v", n, err)
	}
}

// read reads everything readable.
func (h *harness) read() []byte {
	h.t.Helper()
	var out []byte
	buf := make([]byte, 65536)
	for {
		n, err := h.c.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil || n == 0 {
			return out
		}
	}
}

// payload returns n bytes of a recognisable pattern starting at offset off.
func payload(off, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((off + i) * 7)
	}
	return b
}

// checkInvariants verifies the sender's bookkeeping against the scoreboard.
func checkInvariants(t testing.TB, c *Conn) {
	t.Helper()
	if c.state == StateClosed {
		return
	}
	q := &c.rtx
	if seqGT(c.sndUna, c.sndNxt) {
		t.Fatalf("SND.UNA %d > SND.NXT %d", c.sndUna, c.sndNxt)
	}
	out, sacked, lost, rtx := 0, 0, 0, 0
	prev := c.sndUna
	for i := 0; i < q.len(); i++ {
		s := q.at(i)
		if s.seq != prev || !seqLT(s.seq, s.endSeq) {
			t.Fatalf("segment %d [%d,%d) not contiguous from %d (una %d nxt %d)", i, s.seq, s.endSeq, prev, c.sndUna, c.sndNxt)
		}
		prev = s.endSeq
		out += s.len()
		switch {
		case s.flags&segSACKed != 0:
			sacked += s.len()
		default:
			if s.flags&segLost != 0 {
				lost += s.len()
			}
			if s.flags&segRtxLive != 0 {
				rtx += s.len()
			}
		}
	}
	if q.len() > 0 && prev != c.sndNxt {
		t.Fatalf("queue ends at %d, SND.NXT %d", prev, c.sndNxt)
	}
	if q.out != out || q.sacked != sacked || q.lost != lost || q.retransOut != rtx {
		t.Fatalf("scoreboard counters out=%d sacked=%d lost=%d rtx=%d, recount %d %d %d %d",
			q.out, q.sacked, q.lost, q.retransOut, out, sacked, lost, rtx)
	}
	if q.sacked < 0 || q.lost < 0 || q.retransOut < 0 || q.inflight() < 0 {
		t.Fatalf("negative scoreboard counter: %+v", *q)
	}
	// A segment retransmitted without being marked lost (a TLP probe)
	// counts twice in pipe (RFC 6675, as Linux): bound by twice the flight.
	if q.inflight() > 2*int(c.sndNxt-c.sndUna) {
		t.Fatalf("in flight %d > 2*(SND.NXT-SND.UNA) %d", q.inflight(), c.sndNxt-c.sndUna)
	}
	if c.rcvBuf.n < 0 || c.rcvBuf.n > len(c.rcvBuf.buf) || c.sndBuf.n < 0 {
		t.Fatalf("buffers: rcv %d/%d snd %d", c.rcvBuf.n, len(c.rcvBuf.buf), c.sndBuf.n)
	}
}
