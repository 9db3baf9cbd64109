package unet

// Conn is a net.Conn over a tcp.Conn. Each blocking call loops: take the
// engine lock, try the non-blocking tcp call, release the lock (which sends
// whatever the call made due), and if the call would block, wait outside the
// lock for the connection's Notify, the deadline, Close or the stack's end.
// Notify runs inside protocol processing and only signals the capacity-one
// channels rd and wr; a signal that arrives while no one waits is kept and at
// worst causes one extra retry. Reads are serialised by rmu and writes by wmu,
// as package net serialises them on a socket, so each channel has at most
// one waiter.

import (
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/ustack/ustack/tcp"
)

// Conn is a TCP connection of a Stack. It implements net.Conn and the
// half-close and option methods of *net.TCPConn.
type Conn struct {
	s            *Stack
	tc           *tcp.Conn
	laddr, raddr *net.TCPAddr

	rd, wr chan struct{} // cap 1: signalled by Notify
	done   chan struct{} // closed by Close
	once   sync.Once
	rmu    sync.Mutex // serialises Read
	wmu    sync.Mutex // serialises Write
	rdl    deadline
	wdl    deadline
	abort  bool // SetLinger(0): Close resets
	synced bool // the handshake completed (guarded by the engine lock)
}

var _ net.Conn = (*Conn)(nil)

// newConn wraps tc; the engine lock must be held.
func newConn(s *Stack, tc *tcp.Conn) *Conn {
	c := &Conn{
		s:     s,
		tc:    tc,
		laddr: net.TCPAddrFromAddrPort(tc.LocalAddr()),
		raddr: net.TCPAddrFromAddrPort(tc.RemoteAddr()),
		rd:    make(chan struct{}, 1),
		wr:    make(chan struct{}, 1),
		done:  make(chan struct{}),
		rdl:   makeDeadline(),
		wdl:   makeDeadline(),
	}
	tc.Notify = c.notify
	return c
}

// notify is the tcp.Conn's Notify: it must not call into the engine.
func (c *Conn) notify() {
	if st := c.tc.State(); st != tcp.StateSynSent && st != tcp.StateSynReceived && st != tcp.StateClosed {
		c.synced = true
	}
	signal(c.rd)
	signal(c.wr)
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (c *Conn) opErr(op string, err error) error {
	return opError(op, c.laddr, c.raddr, err)
}

// Read reads received data. It blocks until data arrives, the peer closes
// (io.EOF), the connection fails, the read deadline passes
// (os.ErrDeadlineExceeded) or Close is called (net.ErrClosed).
func (c *Conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		if isClosed(c.done) {
			return 0, c.opErr("read", net.ErrClosed)
		}
		dl := c.rdl.wait()
		if isClosed(dl) {
			return 0, c.opErr("read", os.ErrDeadlineExceeded)
		}
		if err := c.s.lock(); err != nil {
			return 0, c.opErr("read", err)
		}
		n, err := c.tc.Read(p)
		c.s.unlock()
		switch {
		case err == nil:
			return n, nil
		case err == io.EOF:
			return 0, io.EOF
		case err != tcp.ErrWouldBlock:
			return 0, c.opErr("read", sysErr("read", err))
		}
		select {
		case <-c.rd:
		case <-dl:
		case <-c.done:
		case <-c.s.quit:
		}
	}
}

// Write queues all of p for sending, blocking while the send buffer is full.
// It returns fewer than len(p) bytes only with an error: the connection
// failed, the write deadline passed, or Close was called.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	n := 0
	for {
		if isClosed(c.done) {
			return n, c.opErr("write", net.ErrClosed)
		}
		dl := c.wdl.wait()
		if isClosed(dl) {
			return n, c.opErr("write", os.ErrDeadlineExceeded)
		}
		if err := c.s.lock(); err != nil {
			return n, c.opErr("write", err)
		}
		k, err := c.tc.Write(p[n:])
		c.s.unlock()
		n += k
		switch {
		case err == nil:
			if n == len(p) {
				return n, nil
			}
			continue
		case err != tcp.ErrWouldBlock:
			return n, c.opErr("write", sysErr("write", err))
		}
		select {
		case <-c.wr:
		case <-dl:
		case <-c.done:
		case <-c.s.quit:
		}
	}
}

// Close closes the connection. Pending and later Reads and Writes fail with
// net.ErrClosed. Queued data is still sent, followed by FIN, in the
// background (unless SetLinger(0) was called, or received data was left
// unread: then the connection is reset, as Linux does).
func (c *Conn) Close() error {
	err := c.opErr("close", net.ErrClosed)
	c.once.Do(func() {
		err = nil
		close(c.done)
		if c.s.lock() != nil {
			return
		}
		c.tc.Notify = nil
		if c.abort {
			c.tc.Abort()
		} else {
			c.tc.Close()
		}
		c.s.unlock()
	})
	return err
}

// do runs f on the tcp.Conn with the engine locked, failing once the
// connection or the stack is closed.
func (c *Conn) do(op string, f func() error) error {
	if isClosed(c.done) {
		return c.opErr(op, net.ErrClosed)
	}
	if err := c.s.lock(); err != nil {
		return c.opErr(op, err)
	}
	err := f()
	c.s.unlock()
	if err != nil {
		return c.opErr(op, err)
	}
	return nil
}

// CloseWrite shuts down the sending side: FIN follows the queued data. Reads
// still work; the peer's Read returns io.EOF.
func (c *Conn) CloseWrite() error {
	return c.do("close", func() error { return sysErr("shutdown", c.tc.CloseWrite()) })
}

// CloseRead shuts down the receiving side: received data is discarded and
// Read returns io.EOF.
func (c *Conn) CloseRead() error {
	err := c.do("close", func() error { c.tc.CloseRead(); return nil })
	signal(c.rd)
	return err
}

// LocalAddr returns the local address (a *net.TCPAddr).
func (c *Conn) LocalAddr() net.Addr { return c.laddr }

// RemoteAddr returns the peer's address (a *net.TCPAddr).
func (c *Conn) RemoteAddr() net.Addr { return c.raddr }

// LocalAddrPort returns the local address.
func (c *Conn) LocalAddrPort() netip.AddrPort { return c.tc.LocalAddr() }

// RemoteAddrPort returns the peer's address.
func (c *Conn) RemoteAddrPort() netip.AddrPort { return c.tc.RemoteAddr() }

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	if isClosed(c.done) {
		return c.opErr("set", net.ErrClosed)
	}
	c.rdl.set(t)
	c.wdl.set(t)
	return nil
}

// SetReadDeadline sets the deadline of pending and future Reads.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if isClosed(c.done) {
		return c.opErr("set", net.ErrClosed)
	}
	c.rdl.set(t)
	return nil
}

// SetWriteDeadline sets the deadline of pending and future Writes.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if isClosed(c.done) {
		return c.opErr("set", net.ErrClosed)
	}
	c.wdl.set(t)
	return nil
}

// Info returns a snapshot of the connection's TCP state (as ss -ti). It
// keeps working after Close while the engine still has the connection.
func (c *Conn) Info() tcp.Info {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.tc.Info()
}

// SetNoDelay disables (true) or enables Nagle's algorithm.
func (c *Conn) SetNoDelay(noDelay bool) error {
	return c.do("set", func() error { c.tc.SetNoDelay(noDelay); return nil })
}

// SetKeepAlive turns keepalive probes on or off (timing from tcp.Options).
func (c *Conn) SetKeepAlive(keepalive bool) error {
	return c.do("set", func() error { c.tc.SetKeepAlive(keepalive); return nil })
}

// SetCongestionControl switches the connection's congestion control
// algorithm (TCP_CONGESTION), e.g. "bbr", "cubic", "reno".
func (c *Conn) SetCongestionControl(name string) error {
	return c.do("set", func() error { return c.tc.SetCongestionControl(name) })
}

// SetMaxPacingRate caps the pacing rate in bytes per second (0: no cap).
func (c *Conn) SetMaxPacingRate(bytesPerSecond uint64) error {
	return c.do("set", func() error { c.tc.SetMaxPacingRate(bytesPerSecond); return nil })
}

// SetLinger with sec == 0 makes Close reset the connection at once,
// discarding unsent data; any other value restores the default graceful
// background close.
func (c *Conn) SetLinger(sec int) error {
	return c.do("set", func() error { c.abort = sec == 0; return nil })
}
