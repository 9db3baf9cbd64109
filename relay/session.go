// One relayed connection: dial, PROXY header, two copy loops, idle timer.
//
// The copy loops are plain read/write loops over pooled buffers rather than
// io.Copy: every read stamps the session's last-activity time and every write
// adds to the frontend's byte counters, which io.Copy's ReaderFrom/WriterTo
// shortcuts would bypass. Ending: EOF on one side half-closes the other
// (CloseWrite) and ends that loop; the session closes both connections when
// both loops have ended. Any other error, the idle timer and Relay.Close call
// abort, which closes both connections so that both loops end.
package relay

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

type session struct {
	r      *Relay
	fe     *frontend
	client net.Conn
	port   uint16

	mu      sync.Mutex
	backend net.Conn
	aborted bool        // abort was called
	ended   bool        // run is finishing: the idle timer must not fire
	idle    *time.Timer // nil without an idle timeout

	last atomic.Int64 // last activity, nanoseconds since r.epoch
}

// closeWriter is a connection that can half-close (*net.TCPConn, unet.Conn).
type closeWriter interface{ CloseWrite() error }

func (s *session) run() {
	defer func() {
		s.r.mu.Lock()
		delete(s.r.sessions, s)
		s.r.mu.Unlock()
		s.fe.active.Add(-1)
		s.r.sessionWG.Done()
	}()
	fe, r := s.fe, s.r
	baddr := fe.cfg.BackendAddr(s.port)

	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.DialTimeout)
	b, err := r.cfg.Dial(ctx, "tcp", baddr)
	cancel()
	if err == nil && fe.cfg.Proxy != ProxyNone {
		var hdr [proxyV2HdrLen + proxyV2Addr6]byte // the longest of both forms
		h := AppendProxy(hdr[:0], fe.cfg.Proxy, addrPort(s.client.RemoteAddr()), addrPort(s.client.LocalAddr()))
		if _, err = b.Write(h); err != nil {
			b.Close()
		}
	}
	if err != nil {
		s.client.Close()
		if r.ctx.Err() != nil { // closing: not the backend's fault
			return
		}
		fe.backendErrors.Add(1)
		fe.logf(r.log, "relay: %s: client %s: backend %s: %v", fe.name, s.client.RemoteAddr(), baddr, cleanErr(err))
		return
	}
	s.mu.Lock()
	s.backend = b
	aborted := s.aborted
	s.mu.Unlock()
	if aborted {
		b.Close()
		return
	}

	s.touch()
	if fe.cfg.Idle > 0 {
		s.mu.Lock()
		s.idle = time.AfterFunc(fe.cfg.Idle, s.checkIdle)
		s.mu.Unlock()
	}
	done := make(chan struct{})
	go func() {
		s.pump(b, s.client, &fe.toBackend)
		close(done)
	}()
	s.pump(s.client, b, &fe.toClient)
	<-done
	s.mu.Lock()
	s.ended = true
	if s.idle != nil {
		s.idle.Stop()
	}
	s.mu.Unlock()
	s.client.Close()
	b.Close()
}

// pump copies src to dst until EOF (then half-closes dst) or an error (then
// aborts the session).
func (s *session) pump(dst, src net.Conn, count *atomic.Uint64) {
	bp := s.r.pool.Get().(*[]byte)
	defer s.r.pool.Put(bp)
	buf := *bp
	for {
		n, err := src.Read(buf)
		if n > 0 {
			s.touch()
			w, werr := dst.Write(buf[:n])
			count.Add(uint64(w))
			if werr != nil {
				s.abort()
				return
			}
		}
		if err != nil {
			if err == io.EOF {
				if cw, ok := dst.(closeWriter); ok {
					if cw.CloseWrite() == nil {
						return
					}
				}
				// No half-close: the peer would wait forever for
				// an EOF, so end the whole session.
			}
			s.abort()
			return
		}
	}
}

func (s *session) touch() { s.last.Store(int64(time.Since(s.r.epoch))) }

// checkIdle runs on the idle timer: close the session if nothing moved for
// Idle, else re-arm for the remaining time.
func (s *session) checkIdle() {
	idle := s.fe.cfg.Idle
	quiet := time.Since(s.r.epoch) - time.Duration(s.last.Load())
	s.mu.Lock()
	if s.ended || s.aborted {
		s.mu.Unlock()
		return
	}
	if quiet < idle {
		s.idle.Reset(idle - quiet)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.fe.idle.Add(1)
	s.abort()
}

// abort closes both connections; the loops then end with errors.
func (s *session) abort() {
	s.mu.Lock()
	s.aborted = true
	b := s.backend
	s.mu.Unlock()
	s.client.Close()
	if b != nil {
		b.Close()
	}
}

// addrPort converts a connection address to netip form (invalid if unknown).
func addrPort(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort()
	case nil:
		return netip.AddrPort{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.AddrPort{}
	}
	return ap
}

// cleanErr drops the "dial tcp 127.0.0.1:1:" prefix the log line already
// carries, keeping "connect: connection refused".
func cleanErr(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}
