// The real clock and timer: CLOCK_MONOTONIC read through Go's monotonic
// time, and a timerfd armed at absolute CLOCK_MONOTONIC instants. A timerfd
// wakes a thread blocked in read(2) within tens of microseconds and takes
// no timer slack, where time.Sleep overshoots by up to a millisecond (the
// runtime's netpoller waits in whole milliseconds).

package netem

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ustack/ustack/clock"
)

// RealClock is the monotonic clock, as nanoseconds since it was created.
type RealClock struct {
	base     time.Time
	baseMono int64 // CLOCK_MONOTONIC at base, in ns
}

// NewRealClock returns a clock whose epoch is now.
func NewRealClock() *RealClock {
	var ts unix.Timespec
	c := &RealClock{base: time.Now()}
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	c.baseMono = ts.Nano()
	return c
}

// Now implements Clock.
func (c *RealClock) Now() clock.Time { return clock.Time(time.Since(c.base)) }

// Since is a convenience for reports.
func (c *RealClock) Since(t clock.Time) time.Duration { return c.Now().Sub(t) }

// timerFD is a Timer over a blocking timerfd. The scheduler sleeps in
// read(2), so the kernel wakes its thread directly, whatever the Go
// scheduler is doing (a timerfd in the netpoller is only noticed when a P
// goes idle or sysmon polls, up to 10 ms late when the readers and the
// other direction keep both Ps of a 2-CPU machine busy). The price is that
// a sleeping scheduler keeps its P until sysmon retakes it; Open therefore
// raises GOMAXPROCS by two while the bridge runs (see reserveProcs).
type timerFD struct {
	c  *RealClock
	fd int

	mu     sync.Mutex
	closed bool
}

// NewTimer returns a Timer on the real clock c.
func NewTimer(c *RealClock) (Timer, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return &timerFD{c: c, fd: fd}, nil
}

func (t *timerFD) Arm(at clock.Time) {
	var spec unix.ItimerSpec
	if at != clock.Never {
		abs := t.c.baseMono + int64(at)
		if abs < 1 {
			abs = 1 // zero would disarm
		}
		spec.Value = unix.NsecToTimespec(abs)
	}
	t.mu.Lock()
	if !t.closed {
		unix.TimerfdSettime(t.fd, unix.TFD_TIMER_ABSTIME, &spec, nil)
	}
	t.mu.Unlock()
}

// Wait blocks in read(2) until the timer expires.
func (t *timerFD) Wait() {
	var b [8]byte
	for {
		if _, err := unix.Read(t.fd, b[:]); err != unix.EINTR {
			return
		}
	}
}

// Close releases the timerfd; call it only once Wait can no longer be
// called (closing does not unblock a read).
func (t *timerFD) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	return unix.Close(t.fd)
}

var procsMu sync.Mutex

// reserveProcs raises GOMAXPROCS by n and returns the function that
// lowers it again: each scheduler asleep in read(2) holds a P, and without
// spare Ps an idle process would run its readers only when sysmon (which
// backs off to 10 ms when idle) took a P back.
func reserveProcs(n int) (release func()) {
	procsMu.Lock()
	runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + n)
	procsMu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			procsMu.Lock()
			runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0)-n, 1))
			procsMu.Unlock()
		})
	}
}

// SetNice sets the nice value of every thread of the process (Linux nice
// values are per thread; threads created later inherit their creator's).
// A negative value makes the emulator's timing hold up better on a busy
// machine; it needs CAP_SYS_NICE.
func SetNice(nice int) error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	var first error
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.Setpriority(unix.PRIO_PROCESS, tid, nice); err != nil && first == nil {
			first = fmt.Errorf("setpriority %d: %w", nice, err)
		}
	}
	return first
}

// setRealtime locks the calling goroutine to its thread and gives the
// thread SCHED_FIFO priority prio. The goroutine must exit without
// unlocking, so the thread dies with it instead of returning to the pool.
func setRealtime(prio int) error {
	runtime.LockOSThread()
	return unix.SchedSetAttr(0, &unix.SchedAttr{Policy: unix.SCHED_FIFO, Priority: uint32(prio)}, 0)
}
