package unet

// Errors as package net reports them: every failure of a Conn, Listener or
// dial is a *net.OpError; engine errors become *os.SyscallError values
// carrying the errno a kernel socket would give (so errors.Is(err,
// syscall.ECONNREFUSED) works) while still matching the tcp package's own
// sentinel (errors.Is(err, tcp.ErrConnRefused)). Deadlines use the timer +
// cancel-channel shape of net/pipe.go.

import (
	"context"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/ustack/ustack/ip"
	"github.com/ustack/ustack/tcp"
)

// errnoError is an errno that also unwraps to the engine error it stands for.
type errnoError struct {
	errno syscall.Errno
	cause error
}

func (e *errnoError) Error() string   { return e.errno.Error() }
func (e *errnoError) Unwrap() []error { return []error{e.errno, e.cause} }
func (e *errnoError) Timeout() bool   { return e.errno.Timeout() }
func (e *errnoError) Temporary() bool { return e.errno.Temporary() }

var errnoOf = map[error]syscall.Errno{
	tcp.ErrConnRefused:        syscall.ECONNREFUSED,
	tcp.ErrConnReset:          syscall.ECONNRESET,
	tcp.ErrConnAborted:        syscall.ECONNABORTED,
	tcp.ErrTimeout:            syscall.ETIMEDOUT,
	tcp.ErrNotConnected:       syscall.ENOTCONN,
	tcp.ErrAddrInUse:          syscall.EADDRINUSE,
	tcp.ErrNoPorts:            syscall.EADDRNOTAVAIL,
	tcp.ErrHostUnreachable:    syscall.EHOSTUNREACH,
	tcp.ErrWriteAfterShutdown: syscall.EPIPE,
	ip.ErrNoRoute:             syscall.ENETUNREACH,
	ip.ErrNoSource:            syscall.EADDRNOTAVAIL,
	ip.ErrBadAddress:          syscall.EADDRNOTAVAIL,
	ip.ErrNeighborFailed:      syscall.EHOSTUNREACH,
}

// sysErr converts an engine error into what a socket system call named
// syscallName would have returned.
func sysErr(syscallName string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	if err == tcp.ErrClosed {
		return net.ErrClosed
	}
	if e, ok := errnoOf[err]; ok {
		return os.NewSyscallError(syscallName, &errnoError{e, err})
	}
	return err
}

// opError wraps err as package net does.
func opError(op string, src, dst net.Addr, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	return &net.OpError{Op: op, Net: "tcp", Source: src, Addr: dst, Err: err}
}

// ctxError maps a context error as net.DialContext does: "i/o timeout"
// (matching os.ErrDeadlineExceeded and context.DeadlineExceeded) or
// "operation was canceled" (matching context.Canceled).
func ctxError(err error) error {
	switch err {
	case context.DeadlineExceeded:
		return timeoutError{}
	case context.Canceled:
		return canceledError{}
	}
	return err
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
func (timeoutError) Is(err error) bool {
	return err == context.DeadlineExceeded || err == os.ErrDeadlineExceeded
}

type canceledError struct{}

func (canceledError) Error() string     { return "operation was canceled" }
func (canceledError) Is(err error) bool { return err == context.Canceled }

// deadline is a settable absolute deadline whose expiry closes a channel
// (net/pipe.go's pipeDeadline).
type deadline struct {
	mu     sync.Mutex // guards timer and cancel
	timer  *time.Timer
	cancel chan struct{} // never nil
}

func makeDeadline() deadline { return deadline{cancel: make(chan struct{})} }

// set arms the deadline for t; the zero time disarms it. A time in the past
// expires it at once.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer fired: wait for it to close cancel
	}
	d.timer = nil
	closed := isClosed(d.cancel)
	if t.IsZero() {
		if closed {
			d.cancel = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			d.cancel = make(chan struct{})
		}
		c := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(c) })
		return
	}
	if !closed {
		close(d.cancel)
	}
}

// wait returns a channel closed when the deadline passes.
func (d *deadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
