// Package e2e is the end-to-end benchmark: a kernel TCP client downloads
// from and uploads to servers (the kernel's own TCP with CUBIC or BBR, or
// the same server behind `ustack run`) over a path emulated in user space
// by package netem, in namespaces built by package topo, and writes the
// results as JSON, a markdown table and a PNG plot.
//
// This file is the traffic: a bulk server and client on kernel sockets.
// A connection starts with one request line from the client:
//
//	"D <cc>\n"  download: the server sends until the client goes away;
//	            <cc> is the server socket's congestion control ("-" keeps
//	            the namespace default)
//	"U\n"       upload: the server reads and discards until EOF
//
// Transfers have a fixed duration measured by the client: it reads
// TCP_INFO at the start and the end of the window (bytes received for a
// download, bytes acknowledged for an upload), then resets the connection
// (SO_LINGER 0) so nothing of it lingers on the path for the next
// measurement.
package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ustack/ustack/netem/topo"
)

// TCPInfo reads TCP_INFO of a TCP connection.
func TCPInfo(c net.Conn) (*unix.TCPInfo, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, errors.New("not a syscall.Conn")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	var info *unix.TCPInfo
	var ierr error
	err = rc.Control(func(fd uintptr) {
		info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	})
	if err != nil {
		return nil, err
	}
	return info, ierr
}

// SetCongestion sets TCP_CONGESTION on a connection.
func SetCongestion(c net.Conn, cc string) error {
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION, cc)
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("TCP_CONGESTION %s: %w", cc, serr)
	}
	return nil
}

// SenderStats are a sending socket's counters at the end of a transfer.
type SenderStats struct {
	CC            string
	TotalRetrans  uint32 // segments retransmitted
	BytesSent     uint64 // including retransmissions
	BytesRetrans  uint64
	SegsOut       uint32
	MinRTT, SRTT  time.Duration
	DeliveryRate  uint64 // bytes/s, the kernel's last estimate
	RcvWndLimited time.Duration
}

func senderStats(c net.Conn) (SenderStats, error) {
	i, err := TCPInfo(c)
	if err != nil {
		return SenderStats{}, err
	}
	return SenderStats{
		TotalRetrans: i.Total_retrans, BytesSent: i.Bytes_sent, BytesRetrans: i.Bytes_retrans,
		SegsOut: i.Segs_out, MinRTT: time.Duration(i.Min_rtt) * time.Microsecond,
		SRTT: time.Duration(i.Rtt) * time.Microsecond, DeliveryRate: i.Delivery_rate,
		RcvWndLimited: time.Duration(i.Rwnd_limited) * time.Microsecond,
	}, nil
}

// Server is the bulk server, listening in a namespace.
type Server struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	done  map[netip.AddrPort]chan SenderStats // by client address
	conns map[net.Conn]bool                   // open, for Close
	// MaxDuration bounds a download, in case the client's reset is lost.
	MaxDuration time.Duration
}

// Listen starts a server on addr inside namespace ns.
func Listen(ns, addr string) (*Server, error) {
	s := &Server{done: map[netip.AddrPort]chan SenderStats{}, conns: map[net.Conn]bool{}, MaxDuration: 2 * time.Minute}
	err := topo.In(ns, func() error {
		var err error
		s.ln, err = net.Listen("tcp4", addr)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the listening address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops accepting, closes the open connections and waits for them
// to finish. A download whose client went away without its reset getting
// through (the benchmark stopped, the emulator gone) would otherwise keep
// writing into a dead path until MaxDuration.
func (s *Server) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			s.serve(c)
		}()
	}
}

// result returns the channel on which the sender statistics of the
// download from client address a are published.
func (s *Server) result(a netip.AddrPort) chan SenderStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.done[a]
	if !ok {
		ch = make(chan SenderStats, 1)
		s.done[a] = ch
	}
	return ch
}

// SenderStats waits (up to timeout) for the statistics of the download
// whose client address was a, and forgets them.
func (s *Server) SenderStats(a netip.AddrPort, timeout time.Duration) (SenderStats, bool) {
	ch := s.result(a)
	defer func() {
		s.mu.Lock()
		delete(s.done, a)
		s.mu.Unlock()
	}()
	select {
	case st := <-ch:
		return st, true
	case <-time.After(timeout):
		return SenderStats{}, false
	}
}

func (s *Server) serve(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return
	}
	c.SetReadDeadline(time.Time{})
	f := strings.Fields(line)
	if len(f) == 0 {
		return
	}
	switch f[0] {
	case "D":
		cc := ""
		if len(f) > 1 && f[1] != "-" {
			cc = f[1]
			if err := SetCongestion(c, cc); err != nil {
				return
			}
		}
		buf := make([]byte, 256<<10)
		for i := range buf {
			buf[i] = byte(i * 7)
		}
		c.SetWriteDeadline(time.Now().Add(s.MaxDuration))
		for {
			if _, err := c.Write(buf); err != nil {
				break
			}
		}
		// Publish for the bench when it asked for a congestion control
		// (kernel cells); behind a relay nobody collects them.
		st, err := senderStats(c)
		if err == nil && cc != "" {
			st.CC = cc
			if a, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
				select {
				case s.result(a) <- st:
				default:
				}
			}
		}
	case "U":
		io.Copy(io.Discard, r)
	}
}

// Transfer is one measured transfer.
type Transfer struct {
	Download bool
	Bytes    uint64        // received (download) or acknowledged (upload) in the window
	Window   time.Duration // the measured window
	// SteadyBytes and SteadyWindow cover the window after the warm-up
	// (zero without one).
	SteadyBytes  uint64
	SteadyWindow time.Duration
	Local        netip.AddrPort
	// Sender is the sending socket's counters when the client is the
	// sender (uploads).
	Sender *SenderStats
	// ClientInfo is the client socket's TCP_INFO at the end of the window.
	ClientInfo *unix.TCPInfo
}

// Goodput is bits per second over the window.
func (t *Transfer) Goodput() float64 { return rate(t.Bytes, t.Window) }

// SteadyGoodput is bits per second after the warm-up.
func (t *Transfer) SteadyGoodput() float64 { return rate(t.SteadyBytes, t.SteadyWindow) }

func rate(b uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(b) * 8 / d.Seconds()
}

// RunOptions describe a transfer.
type RunOptions struct {
	Download bool
	// CC is the request's congestion control for a download, or the client
	// socket's for an upload ("" or "-": the default).
	CC       string
	Duration time.Duration
	// Warmup, if set, also measures the window after it (SteadyBytes).
	Warmup time.Duration
	// AtEnd is called at the end of the window, before the connection is
	// reset, with the client's address (e.g. to read the sender's state).
	AtEnd func(local netip.AddrPort)
	// End, if set, replaces Duration and Warmup with wall-clock times:
	// the transfer ends at End and its steady window is [SteadyFrom, End]
	// (SteadyFrom must come after the connection is set up). Flows
	// started at different times then measure the same interval.
	SteadyFrom, End time.Time
}

// RunTransfer connects from namespace ns to addr and transfers for o.Duration.
func RunTransfer(ctx context.Context, ns, addr string, o RunOptions) (*Transfer, error) {
	var c net.Conn
	err := topo.In(ns, func() error {
		d := net.Dialer{Timeout: 10 * time.Second}
		var err error
		c, err = d.DialContext(ctx, "tcp4", addr)
		return err
	})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.(*net.TCPConn).SetLinger(0)
	t := &Transfer{Download: o.Download}
	t.Local, _ = netip.ParseAddrPort(c.LocalAddr().String())
	cc := o.CC
	if cc == "" {
		cc = "-"
	}
	req := "U\n"
	if o.Download {
		req = "D " + cc + "\n"
	} else if cc != "-" {
		if err := SetCongestion(c, cc); err != nil {
			return nil, err
		}
	}
	if _, err := io.WriteString(c, req); err != nil {
		return nil, err
	}
	count := func() (uint64, *unix.TCPInfo, error) {
		i, err := TCPInfo(c)
		if err != nil {
			return 0, nil, err
		}
		if o.Download {
			return i.Bytes_received, i, nil
		}
		return i.Bytes_acked, i, nil
	}
	b0, _, err := count()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	errc := make(chan error, 1)
	stop := make(chan struct{})
	go func() {
		var err error
		if o.Download {
			buf := make([]byte, 1<<20)
			for err == nil {
				_, err = c.Read(buf)
			}
		} else {
			buf := make([]byte, 256<<10)
			for err == nil {
				_, err = c.Write(buf)
			}
		}
		select {
		case <-stop:
			err = nil
		default:
		}
		errc <- err
	}()
	wait := func(d time.Duration) error {
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-timer.C:
			return nil
		case err := <-errc:
			return fmt.Errorf("transfer ended after %v: %v", time.Since(start).Round(time.Millisecond), err)
		case <-ctx.Done():
			c.Close()
			<-errc
			return ctx.Err()
		}
	}
	end, warm := start.Add(o.Duration), time.Time{}
	if o.Warmup > 0 && o.Warmup < o.Duration {
		warm = start.Add(o.Warmup)
	}
	if !o.End.IsZero() {
		end, warm = o.End, o.SteadyFrom
		if !warm.After(start) || !warm.Before(end) {
			return nil, fmt.Errorf("steady window %s–%s does not lie after the connection's setup (%s)",
				warm.Format("15:04:05.000"), end.Format("15:04:05.000"), start.Format("15:04:05.000"))
		}
	}
	var bw uint64
	var tw time.Time
	if !warm.IsZero() {
		if err := wait(time.Until(warm)); err != nil {
			return nil, err
		}
		if bw, _, err = count(); err != nil {
			return nil, err
		}
		tw = time.Now()
	}
	if err := wait(time.Until(end)); err != nil {
		return nil, err
	}
	b1, i1, err := count()
	now := time.Now()
	if err != nil {
		return nil, err
	}
	t.Window = now.Sub(start)
	t.Bytes = b1 - b0
	if !tw.IsZero() {
		t.SteadyBytes, t.SteadyWindow = b1-bw, now.Sub(tw)
	}
	t.ClientInfo = i1
	if !o.Download {
		if st, err := senderStats(c); err == nil {
			st.CC = cc
			t.Sender = &st
		}
	}
	if o.AtEnd != nil {
		o.AtEnd(t.Local)
	}
	close(stop)
	c.Close()
	<-errc
	return t, nil
}
