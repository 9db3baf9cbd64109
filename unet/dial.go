package unet

// Active opens. The handshake runs in the engine; the dialer waits for the
// connection's Notify until it is established or closed, or until the
// context ends (the half-open connection is then dropped).

import (
	"context"
	"net"
	"net/netip"
	"strconv"

	"github.com/ustack/ustack/tcp"
)

// Dial connects to address on network "tcp", "tcp4" or "tcp6". The address
// must be a literal IP and a port ("10.0.0.1:80", "[fd00::1]:443"): the
// stack has no resolver.
func (s *Stack) Dial(network, address string) (net.Conn, error) {
	return s.DialContext(context.Background(), network, address)
}

// DialContext is Dial with a context: cancelling it or reaching its deadline
// abandons the handshake.
func (s *Stack) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	ap, err := parseAddr(network, address, false)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	c, err := s.DialTCP(ctx, netip.AddrPort{}, ap)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// DialTCP connects from local (its address and port may be zero: chosen by
// the stack) to remote. Errors are *net.OpError values; a refused connection
// matches syscall.ECONNREFUSED, a handshake that timed out
// syscall.ETIMEDOUT, an expired context os.ErrDeadlineExceeded or
// context.Canceled.
func (s *Stack) DialTCP(ctx context.Context, local, remote netip.AddrPort) (*Conn, error) {
	var src net.Addr
	if local.IsValid() {
		src = net.TCPAddrFromAddrPort(local)
	}
	dst := net.TCPAddrFromAddrPort(remote)
	fail := func(err error) (*Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Source: src, Addr: dst, Err: err}
	}
	if err := ctx.Err(); err != nil {
		return fail(ctxError(err))
	}
	if err := s.lock(); err != nil {
		return fail(err)
	}
	s.pollLocked(s.now()) // bring engine time up to date for the ISN and timers
	tc, err := s.host.TCP.Connect(local, remote)
	if err != nil {
		s.unlock()
		return fail(sysErr("connect", err))
	}
	c := newConn(s, tc)
	s.unlock()
	src = c.laddr
	for {
		if err := s.lock(); err != nil {
			return fail(err)
		}
		st, cerr, synced := tc.State(), tc.Err(), c.synced
		s.mu.Unlock()
		switch {
		case synced:
			// Established, perhaps already reset: Read reports that.
			return c, nil
		case st == tcp.StateClosed:
			c.once.Do(func() { close(c.done) })
			if cerr == nil {
				cerr = tcp.ErrConnRefused
			}
			return fail(sysErr("connect", cerr))
		case st != tcp.StateSynSent && st != tcp.StateSynReceived:
			return c, nil
		}
		select {
		case <-c.wr:
		case <-ctx.Done():
			c.once.Do(func() { close(c.done) })
			if s.lock() == nil {
				tc.Notify = nil
				tc.Abort()
				s.unlock()
			}
			return fail(ctxError(ctx.Err()))
		case <-s.quit:
			return fail(net.ErrClosed)
		}
	}
}

// parseAddr parses "host:port" for network. For a listener, an empty host
// means all local addresses.
func parseAddr(network, address string, listen bool) (netip.AddrPort, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return netip.AddrPort{}, net.UnknownNetworkError(network)
	}
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return netip.AddrPort{}, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		p, lerr := net.LookupPort(network, portStr)
		if lerr != nil {
			return netip.AddrPort{}, &net.AddrError{Err: "invalid port", Addr: address}
		}
		port = uint64(p)
	}
	var a netip.Addr
	switch {
	case host == "" && listen:
		if network == "tcp4" {
			a = netip.IPv4Unspecified()
		} else if network == "tcp6" {
			a = netip.IPv6Unspecified()
		}
	case host == "":
		return netip.AddrPort{}, &net.AddrError{Err: "missing host (no local system to dial)", Addr: address}
	default:
		a, err = netip.ParseAddr(host)
		if err != nil {
			return netip.AddrPort{}, &net.AddrError{Err: "not a literal IP address (unet has no resolver)", Addr: host}
		}
		a = a.Unmap().WithZone("")
		if network == "tcp4" && !a.Is4() || network == "tcp6" && !a.Is6() {
			return netip.AddrPort{}, &net.AddrError{Err: "no suitable address", Addr: host}
		}
	}
	return netip.AddrPortFrom(a, uint16(port)), nil
}
