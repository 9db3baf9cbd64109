package link

// Transmit retry: the cure for LKL's raw backend, whose ports died after a
// single "No buffer space available".
//
// A write that fails with ENOBUFS (qdisc or driver queue full), EAGAIN
// (socket send buffer full on a non-blocking fd) or EINTR is transient: the
// same frame is tried again after a short wait, doubling from
// RetryPolicy.BaseDelay up to MaxDelay, at most Attempts more times (about
// 3 ms in total with the defaults). EAGAIN waits in poll(POLLOUT) so it
// resumes the moment the socket drains; ENOBUFS has no readiness event and
// sleeps; EINTR retries at once. Every transient error is counted
// (Stats.TxRetries and per errno). When the budget is exhausted the frame
// is dropped (Stats.TxDropped, error wrapping ErrDropped) and the link stays
// as usable as before: the next write starts afresh. Waiting is bounded so
// the event loop, which does the writing, never stalls for long; TCP
// recovers the dropped frame like any other loss.

import (
	"errors"
	"fmt"
	"syscall"
	"time"
)

// RetryPolicy bounds how long a write waits out transient errors. Zero
// fields take the defaults.
type RetryPolicy struct {
	Attempts  int           // retries after the first try (default 8; <0: none)
	BaseDelay time.Duration // first wait (default 20µs)
	MaxDelay  time.Duration // cap of one wait (default 1ms)
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Attempts == 0 {
		p.Attempts = 8
	}
	if p.Attempts < 0 {
		p.Attempts = 0
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = 20 * time.Microsecond
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = time.Millisecond
	}
	if p.MaxDelay < p.BaseDelay {
		p.MaxDelay = p.BaseDelay
	}
	return p
}

// retrier runs one frame's send attempts under a RetryPolicy.
type retrier struct {
	policy RetryPolicy
	c      *counters
	// sleep defaults to time.Sleep; tests replace it.
	sleep func(d time.Duration)
}

func newRetrier(p RetryPolicy, c *counters) *retrier {
	return &retrier{policy: p.withDefaults(), c: c, sleep: time.Sleep}
}

// dropError is returned when the retry budget is spent; it matches both
// ErrDropped and the last errno.
type dropError struct {
	errno syscall.Errno
	tries int
}

func (e *dropError) Error() string {
	return fmt.Sprintf("frame dropped after %d tries: %v", e.tries, e.errno)
}

func (e *dropError) Is(target error) bool { return target == ErrDropped }
func (e *dropError) Unwrap() error        { return e.errno }

// isTransient reports whether err is a retryable back-pressure errno.
func isTransient(err error) bool {
	var en syscall.Errno
	if !errors.As(err, &en) {
		return false
	}
	return en == syscall.ENOBUFS || en == syscall.EAGAIN || en == syscall.EINTR
}

// do calls send until it succeeds, fails with a non-transient error (counted
// in TxErrors and returned as is) or the retry budget is spent (counted in
// TxDropped, returned wrapping ErrDropped). waitWritable, if not nil, waits
// up to d for the fd to drain after EAGAIN; otherwise do sleeps.
func (r *retrier) do(send func() error, waitWritable func(d time.Duration)) error {
	delay := r.policy.BaseDelay
	for attempt := 0; ; attempt++ {
		err := send()
		if err == nil {
			return nil
		}
		var en syscall.Errno
		if !errors.As(err, &en) || !isTransient(en) {
			r.c.txErrors.Add(1)
			return err
		}
		r.c.txRetries.Add(1)
		switch en {
		case syscall.ENOBUFS:
			r.c.txENOBUFS.Add(1)
		case syscall.EAGAIN:
			r.c.txEAGAIN.Add(1)
		case syscall.EINTR:
			r.c.txEINTR.Add(1)
		}
		if attempt >= r.policy.Attempts {
			r.c.txDropped.Add(1)
			return &dropError{errno: en, tries: attempt + 1}
		}
		switch {
		case en == syscall.EINTR:
			continue
		case en == syscall.EAGAIN && waitWritable != nil:
			waitWritable(delay)
		default:
			r.sleep(delay)
		}
		delay *= 2
		if delay > r.policy.MaxDelay {
			delay = r.policy.MaxDelay
		}
	}
}
