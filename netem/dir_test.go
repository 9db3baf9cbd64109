package netem

// The real-time scheduling of a direction, driven by a fake clock and a
// fake timer: frames must leave at their model departure times (within
// the fake clock's resolution), in order, and the timer must be armed
// early by the measured wake-up latency.

import (
	"bytes"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ustack/ustack/clock"
	"github.com/ustack/ustack/link"
	"github.com/ustack/ustack/sim"
)

// fakeClock advances by step on every reading, so spinning makes progress.
type fakeClock struct {
	now  atomic.Int64
	step int64
}

func (c *fakeClock) Now() clock.Time { return clock.Time(c.now.Add(c.step)) }

func (c *fakeClock) advanceTo(t clock.Time) {
	for {
		n := c.now.Load()
		if int64(t) <= n || c.now.CompareAndSwap(n, int64(t)) {
			return
		}
	}
}

// fakeTimer jumps the clock to the armed instant plus a wake-up latency.
type fakeTimer struct {
	c       *fakeClock
	latency time.Duration

	mu     sync.Mutex
	cond   *sync.Cond
	armed  clock.Time
	waits  int
	closed bool
}

func newFakeTimer(c *fakeClock, latency time.Duration) *fakeTimer {
	t := &fakeTimer{c: c, latency: latency, armed: clock.Never}
	t.cond = sync.NewCond(&t.mu)
	return t
}

func (t *fakeTimer) Arm(at clock.Time) {
	t.mu.Lock()
	t.armed = at
	t.mu.Unlock()
	t.cond.Broadcast()
}

func (t *fakeTimer) Wait() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.waits++
	for t.armed == clock.Never && !t.closed {
		t.cond.Wait()
	}
	if t.armed != clock.Never {
		t.c.advanceTo(t.armed.Add(t.latency))
		t.armed = clock.Never
	}
}

func (t *fakeTimer) Close() error {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.cond.Broadcast()
	return nil
}

// recorder is a frameWriter that notes when each frame was written.
type recorder struct {
	c      Clock
	mu     sync.Mutex
	frames [][]byte
	at     []clock.Time
}

func (r *recorder) WriteBatch(frames [][]byte, _ []link.TxMeta) (int, error) {
	now := r.c.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range frames {
		r.frames = append(r.frames, append([]byte(nil), f...))
		r.at = append(r.at, now)
	}
	return len(frames), nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.frames)
}

// frame returns a size-byte frame carrying seq.
func frame(seq, size int) []byte {
	f := make([]byte, size)
	binary.BigEndian.PutUint32(f, uint32(seq))
	return f
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestDirZeroDelayWritesInline(t *testing.T) {
	c := &fakeClock{step: 1}
	tm := newFakeTimer(c, 0)
	w := &recorder{c: c}
	d := newDir(sim.PathConfig{Name: "t"}, 1, c, tm, w, DefaultSpinWindow, 0)
	bufs := [][]byte{frame(0, 100), frame(1, 200)}
	d.input(c.Now(), bufs, []int{100, 200})
	if w.count() != 2 {
		t.Fatalf("%d frames written during input, want 2", w.count())
	}
	for i, f := range w.frames {
		if !bytes.Equal(f, bufs[i]) {
			t.Errorf("frame %d altered", i)
		}
	}
	if s := d.stats(); s.Written != 2 || s.Path.PacketsDelivered != 2 {
		t.Errorf("stats %+v", s)
	}
}

// TestDirSchedule: 50 frames offered at once to a 10 Mbit/s × 20 ms
// direction leave one serialization time apart, each at its departure,
// with a timer that wakes 30 µs late.
func TestDirSchedule(t *testing.T) {
	const (
		rate  = 10_000_000
		delay = 20 * time.Millisecond
		size  = 1514
		n     = 50
	)
	c := &fakeClock{step: 100} // 100 ns per clock reading
	tm := newFakeTimer(c, 30*time.Microsecond)
	w := &recorder{c: c}
	d := newDir(sim.PathConfig{Name: "t", Rate: rate, Delay: delay}, 1, c, tm, w, DefaultSpinWindow, 1514)
	var stop atomic.Bool
	done := make(chan struct{})
	go func() { d.schedule(&stop); close(done) }()

	bufs := make([][]byte, n)
	lens := make([]int, n)
	for i := range bufs {
		bufs[i], lens[i] = frame(i, size), size
	}
	t0 := c.Now()
	d.input(t0, bufs, lens)
	waitFor(t, "all frames", func() bool { return w.count() == n })
	stop.Store(true)
	tm.Close()
	<-done

	ser := float64(size*8) / rate * 1e9 // ns per frame
	var worst time.Duration
	for i, at := range w.at {
		if got := int(binary.BigEndian.Uint32(w.frames[i])); got != i {
			t.Fatalf("frame %d written in position %d", got, i)
		}
		want := t0.Add(delay + time.Duration(float64(i+1)*ser))
		late := at.Sub(want)
		if late < 0 {
			t.Errorf("frame %d left %v early", i, -late)
		}
		worst = max(worst, late)
	}
	t.Logf("worst lateness %v, timer armed %v early at the end, %d waits", worst, d.early, tm.waits)
	// The first departure may be late by the timer's latency minus the
	// initial guess (spin/2); the estimator then arms earlier and the spin
	// absorbs the rest.
	if worst > 10*time.Microsecond {
		t.Errorf("worst lateness %v, want ≤ 10µs", worst)
	}
	if d.early < 30*time.Microsecond {
		t.Errorf("timer armed %v early, want ≥ the 30µs wake-up latency", d.early)
	}
	if tm.waits > 2*n {
		t.Errorf("%d timer waits for %d frames", tm.waits, n)
	}
	s := d.stats()
	if s.Late.Max() > 10*time.Microsecond || s.Written != n || s.InFlight != 0 {
		t.Errorf("stats: %s", FormatStats(s))
	}
}

// TestDirEarlierFrameRearms: a frame whose departure is earlier than the
// one the scheduler sleeps for (a shorter delay after a config change)
// re-arms the timer.
func TestDirEarlierFrameRearms(t *testing.T) {
	c := &fakeClock{step: 100}
	tm := newFakeTimer(c, 0)
	w := &recorder{c: c}
	d := newDir(sim.PathConfig{Name: "t", Delay: time.Second}, 1, c, tm, w, DefaultSpinWindow, 0)
	var stop atomic.Bool
	done := make(chan struct{})
	go func() { d.schedule(&stop); close(done) }()
	defer func() { stop.Store(true); tm.Close(); <-done }()

	d.input(c.Now(), [][]byte{frame(0, 64)}, []int{64})
	d.mu.Lock()
	d.pipe.SetConfig(sim.PathConfig{Name: "t", Delay: time.Millisecond})
	d.mu.Unlock()
	t1 := c.Now()
	d.input(t1, [][]byte{frame(1, 64)}, []int{64})
	waitFor(t, "both frames", func() bool { return w.count() == 2 })
	if got := binary.BigEndian.Uint32(w.frames[0]); got != 1 {
		t.Errorf("first frame out is %d, want the short-delay one", got)
	}
	if late := w.at[0].Sub(t1.Add(time.Millisecond)); late < 0 || late > 10*time.Microsecond {
		t.Errorf("short-delay frame left %v after its departure", late)
	}
}

// TestDirLossAndBuffer: the model's drops are counted by reason.
func TestDirLossAndBuffer(t *testing.T) {
	c := &fakeClock{step: 1}
	tm := newFakeTimer(c, 0)
	w := &recorder{c: c}
	d := newDir(sim.PathConfig{Name: "t", Loss: 0.1}, 7, c, tm, w, DefaultSpinWindow, 0)
	const n = 20000
	for i := 0; i < n; i++ {
		d.input(c.Now(), [][]byte{frame(i, 64)}, []int{64})
	}
	s := d.stats()
	if s.Path.DropLoss < n*8/100 || s.Path.DropLoss > n*12/100 || s.Written+s.Path.DropLoss != n {
		t.Errorf("loss 10%%: %s", FormatStats(s))
	}

	d2 := newDir(sim.PathConfig{Name: "b", Rate: 1_000_000, Buffer: 10 * 1000}, 1, c, tm, w, DefaultSpinWindow, 0)
	bufs := make([][]byte, 30)
	lens := make([]int, 30)
	for i := range bufs {
		bufs[i], lens[i] = frame(i, 1000), 1000
	}
	d2.input(c.Now(), bufs, lens)
	if s := d2.stats(); s.Path.DropBuffer != 20 || s.InFlight != 10 {
		t.Errorf("10-frame buffer, 30 offered: %s, in flight %d", FormatStats(s), s.InFlight)
	}
}

func TestDirOversize(t *testing.T) {
	c := &fakeClock{step: 1}
	w := &recorder{c: c}
	d := newDir(sim.PathConfig{Name: "t"}, 1, c, newFakeTimer(c, 0), w, DefaultSpinWindow, 1514)
	d.input(c.Now(), [][]byte{frame(0, 1514), frame(1, 9000)}, []int{1514, 9000})
	if s := d.stats(); s.Oversize != 1 || s.Written != 2 {
		t.Errorf("oversize: %s", FormatStats(s))
	}
}
