package tcp

// Conn is one TCP connection: the state machine of RFC 9293 plus the sender
// machinery of a modern TCP (SACK scoreboard, RACK-TLP, rate sampling,
// pacing, pluggable congestion control).
//
// The file split follows Linux: input.go processes segments, output.go
// decides what to send, timer.go multiplexes the connection's timers onto
// its one entry in the stack's timer queue, scoreboard.go keeps the
// retransmission queue, rate.go and rack.go are small modules fed from the
// ACK path. This file holds the state and the socket-style API.

import (
	"io"
	"net/netip"
	"time"

	"github.com/ustack/ustack/clock"
	"github.com/ustack/ustack/ip"
	"github.com/ustack/ustack/wire"
)

// State is a TCP connection state (RFC 9293 section 3.3.2).
type State uint8

const (
	StateClosed State = iota
	StateListen
	StateSynSent
	StateSynReceived
	StateEstablished
	StateFinWait1
	StateFinWait2
	StateCloseWait
	StateClosing
	StateLastAck
	StateTimeWait
)

var stateNames = [...]string{"CLOSED", "LISTEN", "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED",
	"FIN-WAIT-1", "FIN-WAIT-2", "CLOSE-WAIT", "CLOSING", "LAST-ACK", "TIME-WAIT"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "?"
}

// synchronized reports whether the state is past the handshake.
func (s State) synchronized() bool { return s >= StateEstablished }

// Conn is a TCP connection. Its methods are not safe for concurrent use; the
// runtime serialises access to a stack.
type Conn struct {
	s                *Stack
	id               fourTuple
	state            State
	listener         *Listener // set while the connection waits in a listener's queues
	listenerHalfOpen bool      // counted in the listener's SYN queue
	route            ip.RouteInfo
	timer            clock.Timer

	// Send sequence space.
	iss, sndUna, sndNxt uint32
	sndWnd              int // peer's window, scaled, bytes
	maxSndWnd           int
	sndWl1, sndWl2      uint32
	bufSeq              uint32 // sequence number of sndBuf's first byte
	sndBuf              sendBuffer
	finQueued           bool // the application shut down writing: FIN follows the data
	finSent             bool
	rtx                 rtxQueue

	// Negotiated options.
	sndWScale, rcvWScale uint8
	wsOK, sackOK, tsOK   bool
	peerMSS              int
	mss                  int // payload bytes per full segment, options excluded
	advMSS               int // MSS we announce

	// Receive sequence space.
	irs, rcvNxt  uint32
	rcvBuf       recvBuffer
	rcvAdvEdge   uint32 // right edge of the window we last advertised
	finRcvd      bool
	finPending   bool   // a FIN arrived (perhaps ahead of missing data)
	finSeq       uint32 // its sequence number
	rcvMSS       int    // largest segment received (at most advMSS): the delayed-ACK yardstick
	unackedBytes int    // bytes received since our last ACK
	tsRecent     uint32
	lastAckSent  uint32
	rcvSpace     rcvSpace // receive-buffer auto-tuning

	// ACK generation.
	segsUnacked int  // full segments received since our last ACK
	ackNow      bool // send an ACK at the next output
	quickAcks   int  // ACK every segment while > 0 (start of connection)
	dsack       wire.SACKBlock
	hasDSACK    bool

	// Timers: absolute deadlines, clock.Never when off. One clock.Timer
	// carries the earliest of them.
	rtoAt, tlpAt, reoAt, persistAt, delackAt clock.Time
	keepAt, closeAt, paceAt                  clock.Time
	backoff                                  int // RTO backoff exponent
	probes                                   int // zero-window or keepalive probes sent without answer
	retries                                  int // consecutive RTO expirations
	synRetries                               int

	// Congestion control and loss recovery.
	rtt           rttEstimator
	cc            CongestionControl
	ccs           CCState
	ccController  Controller
	rate          rateSampler
	rack          rackState
	recoverySeq   uint32 // high_seq: recovery ends when this is acked
	priorSsthresh int
	prr           prrState
	dupAcks       int
	nextRoundDlv  uint64
	roundCwndLim  bool
	lastSendAt    clock.Time
	sackCache     [4]wire.SACKBlock // the previous ACK's SACK blocks, already applied
	sackCacheN    int
	reneged       bool       // the peer discarded SACKed data; the next RTO forgets SACKs
	lastOOWACK    clock.Time // when the last challenge or PAWS ACK was sent (0: never)
	confirmedAt   clock.Time
	paceNext      clock.Time
	paceWait      bool // output last stopped for the pacer (not cwnd, windows or data)

	// Application side.
	noDelay   bool
	keepalive bool
	Notify    func() // called when the connection may have become readable, writable or closed
	err       error  // sticky error (reset, timeout)
	softError error
	readShut  bool
	closed    bool // the application called Close
	accepted  bool

	info connCounters
}

type connCounters struct {
	bytesSent, bytesRetrans, bytesAcked, bytesReceived uint64
	segsOut, segsIn, dataSegsOut, dataSegsIn           uint64
	totalRetrans, lostSegs                             uint64
	deliveryRate                                       uint64
	startedAt                                          clock.Time
}

// LocalAddr returns the local address and port.
func (c *Conn) LocalAddr() netip.AddrPort { return c.id.local }

// RemoteAddr returns the peer's address and port.
func (c *Conn) RemoteAddr() netip.AddrPort { return c.id.remote }

// State returns the connection state.
func (c *Conn) State() State { return c.state }

// Err returns the error that ended the connection, if any.
func (c *Conn) Err() error { return c.err }

// SetNoDelay disables (true) or enables Nagle's algorithm.
func (c *Conn) SetNoDelay(v bool) { c.noDelay = v; c.kick() }

// SetKeepAlive turns keepalive probes on or off.
func (c *Conn) SetKeepAlive(v bool) {
	c.keepalive = v
	c.armKeepalive(c.s.net.Now())
	c.updateTimer()
}

// SetCongestionControl switches this connection's algorithm (TCP_CONGESTION).
func (c *Conn) SetCongestionControl(name string) error {
	cc, err := NewCongestionControl(name)
	if err != nil {
		return err
	}
	c.setCC(cc)
	return nil
}

// SetMaxPacingRate caps the pacing rate in bytes per second (0: no cap).
func (c *Conn) SetMaxPacingRate(bps uint64) { c.ccs.MaxPacingRate = bps }

func (c *Conn) setCC(cc CongestionControl) {
	c.cc = cc
	c.ccController, _ = cc.(Controller)
	c.ccs.PacingRate = 0
	c.ccs.SendQuantum = 0
	if c.state.synchronized() {
		c.fillCCState(c.s.net.Now())
		c.cc.Init(&c.ccs)
	}
}

// Readable returns the number of bytes ready to read.
func (c *Conn) Readable() int { return c.rcvBuf.n }

// Writable returns how many bytes Write would accept now.
func (c *Conn) Writable() int {
	if c.finQueued || c.err != nil {
		return 0
	}
	return c.sndBuf.free()
}

// Read copies received bytes into p. It returns ErrWouldBlock when nothing
// is ready, io.EOF after the peer's FIN, or the connection's error.
func (c *Conn) Read(p []byte) (int, error) {
	if c.rcvBuf.n > 0 {
		if len(p) == 0 {
			return 0, nil
		}
		n := c.rcvBuf.read(p)
		c.afterRead(n)
		return n, nil
	}
	switch {
	case c.err != nil:
		return 0, c.err
	case c.finRcvd || c.readShut:
		return 0, io.EOF
	case c.state == StateClosed:
		return 0, ErrNotConnected
	}
	return 0, ErrWouldBlock
}

// Write queues p for sending and returns how much was taken; ErrWouldBlock
// when the send buffer is full.
func (c *Conn) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.finQueued || c.closed {
		return 0, ErrWriteAfterShutdown
	}
	switch c.state {
	case StateSynSent, StateSynReceived, StateEstablished, StateCloseWait:
	default:
		return 0, ErrNotConnected
	}
	if len(p) == 0 {
		return 0, nil
	}
	n := c.sndBuf.write(p)
	if n == 0 {
		return 0, ErrWouldBlock
	}
	c.kick()
	return n, nil
}

// CloseWrite sends FIN after the queued data (shutdown(SHUT_WR)).
func (c *Conn) CloseWrite() error {
	if c.err != nil {
		return c.err
	}
	switch c.state {
	case StateSynSent:
		c.finQueued = true
		return nil
	case StateSynReceived, StateEstablished, StateCloseWait:
	default:
		return nil
	}
	if !c.finQueued {
		c.finQueued = true
		c.kick()
	}
	return nil
}

// CloseRead discards further received data (shutdown(SHUT_RD)).
func (c *Conn) CloseRead() {
	c.readShut = true
	c.rcvBuf.advance(c.rcvBuf.n)
}

// Close closes both directions. Unread received data makes it an abortive
// close (RST), as in Linux; otherwise FIN follows the queued data and the
// connection finishes in the background.
func (c *Conn) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	c.readShut = true
	if c.state == StateClosed || c.state == StateTimeWait {
		return nil
	}
	if c.state == StateSynSent {
		c.destroy(nil)
		return nil
	}
	if c.rcvBuf.n > 0 {
		c.Abort()
		return nil
	}
	return c.CloseWrite()
}

// Abort resets the connection (SO_LINGER 0 close).
func (c *Conn) Abort() {
	if c.state == StateClosed {
		return
	}
	if c.state != StateSynSent && c.state != StateTimeWait {
		c.sendRST(c.sndNxt, 0, false)
	}
	c.closed = true
	c.destroy(ErrConnAborted)
}

// kick asks for output at the next poll.
func (c *Conn) kick() {
	if c.state == StateClosed {
		return
	}
	c.s.net.Timers().Set(&c.timer, c.s.net.Now())
}

// notify tells the application that something changed.
func (c *Conn) notify() {
	if c.Notify != nil {
		c.Notify()
	}
}

// Connect opens a connection from local (address and/or port may be zero) to
// remote. The handshake runs at the next poll; the connection becomes
// writable when established.
func (s *Stack) Connect(local, remote netip.AddrPort) (*Conn, error) {
	if !remote.IsValid() || remote.Port() == 0 {
		return nil, ErrHostUnreachable
	}
	rt, err := s.net.FindRoute(remote.Addr(), local.Addr())
	if err != nil {
		return nil, err
	}
	port := local.Port()
	if port == 0 {
		if port, err = s.pickPort(rt.Src, remote); err != nil {
			return nil, err
		}
	}
	id := fourTuple{netip.AddrPortFrom(rt.Src, port), remote}
	if _, used := s.conns[id]; used {
		return nil, ErrAddrInUse
	}
	now := s.net.Now()
	c := s.newConn(now, id, rt)
	c.iss = s.isn(now, id)
	c.sndUna, c.sndNxt, c.bufSeq = c.iss, c.iss, c.iss+1
	c.state = StateSynSent
	s.stats.ActiveOpens++
	c.kick()
	return c, nil
}

func (s *Stack) newConn(now clock.Time, id fourTuple, rt ip.RouteInfo) *Conn {
	c := &Conn{s: s, id: id, route: rt, noDelay: s.opts.NoDelay}
	c.timer.Fire = c.onTimer
	c.rtoAt, c.tlpAt, c.reoAt, c.persistAt, c.delackAt = clock.Never, clock.Never, clock.Never, clock.Never, clock.Never
	c.keepAt, c.closeAt, c.paceAt = clock.Never, clock.Never, clock.Never
	c.rtt.init(s.opts.InitialRTO)
	c.advMSS = mssForMTU(id.remote.Addr(), rt.MTU)
	c.peerMSS = defaultMSS(id.remote.Addr())
	c.mss = min(c.advMSS, c.peerMSS)
	c.sndBuf.limit = s.opts.SendBuffer.Default
	c.rcvBuf.target = s.opts.RecvBuffer.Default
	c.rcvWScale = 0
	if !s.opts.NoWindowScaling {
		for c.rcvWScale < 14 && (65535<<c.rcvWScale) < s.opts.RecvBuffer.Max {
			c.rcvWScale++
		}
	}
	cc, _ := NewCongestionControl(s.opts.CongestionControl)
	c.cc = cc
	c.ccController, _ = cc.(Controller)
	c.ccs.Ssthresh = InitialSsthresh
	c.quickAcks = 16
	c.info.startedAt = now
	s.conns[id] = c
	return c
}

func mssForMTU(a netip.Addr, mtu int) int {
	if a.Is4() {
		return max(mtu-wire.IPv4HeaderLen-wire.TCPHeaderLen, 88)
	}
	return max(mtu-wire.IPv6HeaderLen-wire.TCPHeaderLen, 1220)
}

func defaultMSS(a netip.Addr) int {
	if a.Is4() {
		return 536
	}
	return 1220
}

// destroy removes the connection from the stack, records err and wakes the
// application.
func (c *Conn) destroy(err error) {
	if err != nil && c.err == nil {
		c.err = err
	}
	if c.state == StateEstablished || c.state == StateCloseWait {
		if err == ErrConnReset {
			c.s.stats.EstabResets++
		}
	}
	c.state = StateClosed
	c.s.net.Timers().Stop(&c.timer)
	if c.s.conns[c.id] == c {
		delete(c.s.conns, c.id)
	}
	if c.s.lastConn == c {
		c.s.lastConn = nil
	}
	if c.listener != nil {
		c.listener.remove(c)
	}
	c.rtx.clear(c.s)
	c.notify()
}

// setState moves to a new state and wakes the application.
func (c *Conn) setState(st State) {
	if c.state == st {
		return
	}
	c.state = st
	c.notify()
}

// optLen is the option space every non-SYN segment carries (timestamps).
func (c *Conn) optLen() int {
	if c.tsOK {
		return 12
	}
	return 0
}

// timeSince returns now - t clamped at zero.
func timeSince(now, t clock.Time) time.Duration {
	if t >= now {
		return 0
	}
	return now.Sub(t)
}
