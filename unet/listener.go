package unet

// Listener is a net.Listener over a tcp.Listener. Accept waits like Read
// does (see conn.go); several goroutines may Accept at once, so after taking
// a connection an Accept passes the signal on if more are queued.

import (
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/ustack/ustack/tcp"
)

// ListenOptions are the per-listener settings.
type ListenOptions struct {
	// Backlog bounds the SYN and accept queues; default 128.
	Backlog int
	// CongestionControl, if set, is the algorithm of accepted connections
	// instead of the stack default.
	CongestionControl string
}

// Listener is a TCP listener of a Stack. It implements net.Listener.
type Listener struct {
	s     *Stack
	tl    *tcp.Listener
	addr  *net.TCPAddr
	ready chan struct{} // cap 1: signalled by the tcp.Listener's Notify
	done  chan struct{} // closed by Close
	once  sync.Once
	dl    deadline
}

var _ net.Listener = (*Listener)(nil)

// Listen listens on a local address: network is "tcp", "tcp4" or "tcp6";
// address is "host:port" with a literal IP or an empty host (all local
// addresses) and a port that may be 0 (an ephemeral port is chosen).
func (s *Stack) Listen(network, address string) (net.Listener, error) {
	ap, err := parseAddr(network, address, true)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	return s.ListenTCP(ap, ListenOptions{})
}

// ListenTCP listens on addr. An unspecified or invalid address listens on
// all local addresses; port 0 picks a free ephemeral port.
func (s *Stack) ListenTCP(addr netip.AddrPort, opts ListenOptions) (*Listener, error) {
	opErr := func(err error) error {
		return &net.OpError{Op: "listen", Net: "tcp", Addr: net.TCPAddrFromAddrPort(addr), Err: err}
	}
	if opts.CongestionControl != "" {
		if _, err := tcp.NewCongestionControl(opts.CongestionControl); err != nil {
			return nil, opErr(err)
		}
	}
	if err := s.lock(); err != nil {
		return nil, opErr(err)
	}
	defer s.unlock()
	var tl *tcp.Listener
	var err error
	if addr.Port() != 0 {
		tl, err = s.host.TCP.Listen(addr, opts.Backlog)
	} else {
		rng := s.host.TCP.Options().EphemeralPorts
		lo, hi := int(rng[0]), int(rng[1])
		if lo <= 0 || hi < lo {
			lo, hi = 32768, 60999
		}
		span := hi - lo + 1
		start := int(randSeed() % uint64(span))
		err = tcp.ErrNoPorts
		for i := 0; i < span; i++ {
			p := uint16(lo + (start+i)%span)
			tl, err = s.host.TCP.Listen(netip.AddrPortFrom(addr.Addr(), p), opts.Backlog)
			if err != tcp.ErrAddrInUse {
				break
			}
		}
	}
	if err != nil {
		return nil, opErr(sysErr("bind", err))
	}
	tl.CongestionControl = opts.CongestionControl
	l := &Listener{
		s:     s,
		tl:    tl,
		addr:  net.TCPAddrFromAddrPort(tl.Addr()),
		ready: make(chan struct{}, 1),
		done:  make(chan struct{}),
		dl:    makeDeadline(),
	}
	if !tl.Addr().Addr().IsValid() || tl.Addr().Addr().IsUnspecified() {
		l.addr = &net.TCPAddr{IP: net.IPv6unspecified, Port: int(tl.Addr().Port())}
		if addr.Addr().Is4() {
			l.addr.IP = net.IPv4zero
		}
	}
	tl.Notify = func() { signal(l.ready) }
	return l, nil
}

func (l *Listener) opErr(err error) error {
	return &net.OpError{Op: "accept", Net: "tcp", Addr: l.addr, Err: err}
}

// Accept waits for and returns the next connection.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.AcceptTCP()
	if err != nil {
		return nil, err
	}
	return c, nil
}

// AcceptTCP waits for and returns the next connection. It fails with
// net.ErrClosed after Close and os.ErrDeadlineExceeded after the deadline.
func (l *Listener) AcceptTCP() (*Conn, error) {
	for {
		if isClosed(l.done) {
			return nil, l.opErr(net.ErrClosed)
		}
		dl := l.dl.wait()
		if isClosed(dl) {
			return nil, l.opErr(os.ErrDeadlineExceeded)
		}
		if err := l.s.lock(); err != nil {
			return nil, l.opErr(err)
		}
		tc, err := l.tl.Accept()
		if err == nil {
			c := newConn(l.s, tc)
			more := l.tl.Pending() > 0
			l.s.unlock()
			if more {
				signal(l.ready)
			}
			return c, nil
		}
		l.s.unlock()
		if err != tcp.ErrWouldBlock {
			return nil, l.opErr(sysErr("accept", err))
		}
		select {
		case <-l.ready:
		case <-dl:
		case <-l.done:
		case <-l.s.quit:
		}
	}
}

// Close stops listening; connections not yet accepted are reset and
// pending Accepts return net.ErrClosed.
func (l *Listener) Close() error {
	err := error(&net.OpError{Op: "close", Net: "tcp", Addr: l.addr, Err: net.ErrClosed})
	l.once.Do(func() {
		err = nil
		close(l.done)
		if l.s.lock() != nil {
			return
		}
		l.tl.Notify = nil
		l.tl.Close()
		l.s.unlock()
	})
	return err
}

// Addr returns the listening address (a *net.TCPAddr).
func (l *Listener) Addr() net.Addr { return l.addr }

// AddrPort returns the listening address.
func (l *Listener) AddrPort() netip.AddrPort { return l.tl.Addr() }

// SetDeadline sets the deadline of pending and future Accepts.
func (l *Listener) SetDeadline(t time.Time) error {
	if isClosed(l.done) {
		return &net.OpError{Op: "set", Net: "tcp", Addr: l.addr, Err: net.ErrClosed}
	}
	l.dl.set(t)
	return nil
}
