package tcp

// Listeners: a passive open creates a connection in SYN-RECEIVED for each
// acceptable SYN (the SYN queue, bounded by the backlog) and moves it to the
// accept queue when the handshake completes. A full accept queue drops the
// final ACK (the peer's retransmission will try again), as Linux does.

import (
	"net/netip"

	"github.com/ustack/ustack/clock"
	"github.com/ustack/ustack/ip"
	"github.com/ustack/ustack/wire"
)

// Listener accepts connections on a local address and port.
type Listener struct {
	s        *Stack
	addr     netip.AddrPort // unspecified address: any local address of the family... or both
	backlog  int
	synQueue int
	ready    []*Conn
	closed   bool
	// Notify is called when a connection becomes ready to accept.
	Notify func()
	// CongestionControl, if set, is used for accepted connections instead
	// of the stack default.
	CongestionControl string
}

// Listen starts accepting connections on addr. An unspecified address (or
// an invalid one) listens on all local addresses.
func (s *Stack) Listen(addr netip.AddrPort, backlog int) (*Listener, error) {
	if addr.Port() == 0 {
		return nil, ErrAddrInUse
	}
	if !addr.Addr().IsValid() {
		addr = netip.AddrPortFrom(netip.IPv6Unspecified(), addr.Port())
	}
	key := listenKey(addr)
	if _, used := s.listen[key]; used {
		return nil, ErrAddrInUse
	}
	if backlog <= 0 {
		backlog = 128
	}
	l := &Listener{s: s, addr: addr, backlog: backlog}
	s.listen[key] = l
	return l, nil
}

func listenKey(a netip.AddrPort) netip.AddrPort {
	if a.Addr().IsUnspecified() {
		return netip.AddrPortFrom(netip.IPv6Unspecified(), a.Port())
	}
	return a
}

// findListener returns the listener for a local endpoint: exact address
// first, then wildcard.
func (s *Stack) findListener(local netip.AddrPort) *Listener {
	if l := s.listen[local]; l != nil {
		return l
	}
	return s.listen[netip.AddrPortFrom(netip.IPv6Unspecified(), local.Port())]
}

// Addr returns the listening address.
func (l *Listener) Addr() netip.AddrPort { return l.addr }

// Accept returns an established connection, or ErrWouldBlock.
func (l *Listener) Accept() (*Conn, error) {
	if l.closed {
		return nil, ErrClosed
	}
	for len(l.ready) > 0 {
		c := l.ready[0]
		l.ready = l.ready[1:]
		c.listener = nil
		c.accepted = true
		return c, nil
	}
	return nil, ErrWouldBlock
}

// Pending returns the number of connections waiting in the accept queue.
func (l *Listener) Pending() int { return len(l.ready) }

// Close stops listening and resets connections not yet accepted.
func (l *Listener) Close() error {
	if l.closed {
		return nil
	}
	l.closed = true
	delete(l.s.listen, listenKey(l.addr))
	for _, c := range l.s.conns {
		if c.listener == l {
			c.Abort()
		}
	}
	l.ready = nil
	return nil
}

func (l *Listener) remove(c *Conn) {
	if c.state == StateClosed && !c.accepted {
		for i, r := range l.ready {
			if r == c {
				l.ready = append(l.ready[:i], l.ready[i+1:]...)
				break
			}
		}
	}
	if c.listenerHalfOpen {
		c.listenerHalfOpen = false
		l.synQueue--
	}
	c.listener = nil
}

// established moves c from the SYN queue to the accept queue.
func (l *Listener) established(c *Conn) bool {
	if len(l.ready) >= l.backlog {
		l.s.stats.ListenOverflows++
		return false
	}
	c.listenerHalfOpen = false
	l.synQueue--
	l.ready = append(l.ready, c)
	if l.Notify != nil {
		l.Notify()
	}
	return true
}

// input handles a segment for a listening endpoint (RFC 9293 3.10.7.2).
func (l *Listener) input(now clock.Time, id fourTuple, pkt *ip.Packet, h *wire.TCPHeader) {
	s := l.s
	switch {
	case h.Flags&wire.FlagRST != 0:
		return
	case h.Flags&wire.FlagACK != 0:
		s.stats.NoConnection++
		s.replyRST(id, h, 0)
		return
	case h.Flags&wire.FlagSYN == 0:
		return
	}
	if l.synQueue >= l.backlog || len(l.ready) >= l.backlog {
		s.stats.ListenDrops++
		return
	}
	if !s.net.IsLocalAddr(id.local.Addr()) || id.remote.Addr().IsMulticast() || !id.remote.Addr().IsValid() {
		return
	}
	rt, err := s.net.FindRoute(id.remote.Addr(), id.local.Addr())
	if err != nil {
		return
	}
	c := s.newConn(now, id, rt)
	if l.CongestionControl != "" {
		if cc, err := NewCongestionControl(l.CongestionControl); err == nil {
			c.cc = cc
			c.ccController, _ = cc.(Controller)
		}
	}
	c.listener = l
	c.listenerHalfOpen = true
	l.synQueue++
	c.irs = h.Seq
	c.rcvNxt = h.Seq + 1
	c.iss = s.isn(now, id)
	c.sndUna, c.sndNxt, c.bufSeq = c.iss, c.iss, c.iss+1
	c.negotiate(h)
	c.sndWnd = int(h.Window) // SYN windows are never scaled
	c.sndWl1, c.sndWl2 = h.Seq, 0
	c.state = StateSynReceived
	s.stats.PassiveOpens++
	c.sendSYN(now)
	c.updateTimer() // SYN-ACK retransmission
}
