// One direction of the bridge: frames read on the ingress link go through a
// sim.Pipe whose network clock follows the real clock, and come out on the
// egress link when the pipe delivers them.
//
// Locking: mu guards the model (network, pipe, pending output, armed
// deadline, counters). wmu serializes writes on the egress link; it is
// taken while mu is still held and mu released before the system call, so
// batches reach the wire in the order the model delivered them, and the
// model is never blocked behind a system call except by a writer that is
// waiting for the previous batch.

package netem

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/ustack/ustack/clock"
	"github.com/ustack/ustack/link"
	"github.com/ustack/ustack/sim"
)

// Clock is the real-time clock the emulator reads (a fake in tests).
type Clock interface {
	Now() clock.Time
}

// Timer wakes the scheduler. Arm sets (or replaces) the instant at which
// Wait returns; Arm(clock.Never) disarms it. Wait blocks until the armed
// instant has passed (it may return early, e.g. if re-armed to an earlier
// instant). Arm may be called from any goroutine, Wait from one only.
type Timer interface {
	Arm(t clock.Time)
	Wait()
	Close() error
}

// frameWriter is the egress side of a link.
type frameWriter interface {
	WriteBatch(frames [][]byte, metas []link.TxMeta) (int, error)
}

// DirStats are the counters of one direction.
type DirStats struct {
	Name string
	Path sim.PipeStats
	// Oversize counts frames longer than the interface MTU allows (GRO or
	// TSO left on somewhere); they were forwarded anyway.
	Oversize uint64
	// Written and WriteErrors count frames handed to the egress link and
	// those it refused or dropped.
	Written, WriteErrors uint64
	// Late is how long after its scheduled arrival each frame was handed
	// to the egress link (before the system call).
	Late sim.Histogram
	// Wake is how late the scheduler's timer woke it, relative to the
	// instant it was armed for (the spin absorbs up to the arming margin).
	Wake sim.Histogram
	// InFlight is the number of frames accepted and not yet delivered.
	InFlight int
}

type dir struct {
	name     string
	clk      Clock
	tm       Timer
	spin     time.Duration
	maxFrame int // larger frames count as Oversize (0: no check)

	mu       sync.Mutex
	net      *sim.Network
	pipe     *sim.Pipe
	out      [][]byte      // delivered, waiting for the egress link
	armed    clock.Time    // next departure the scheduler will wake for
	target   clock.Time    // instant the timer is armed at
	coarse   bool          // the timer is armed coarseAhead before a departure
	early    time.Duration // timer armed this long before a departure
	wakeLat  time.Duration // moving mean of the timer's wake-up lateness
	wakeDev  time.Duration // and of its deviation
	wakeSeen bool
	oversize uint64
	late     sim.Histogram
	wake     sim.Histogram
	wakeNow  clock.Time // real time of the current release, for Late

	wmu    sync.Mutex
	w      frameWriter
	wbatch [][]byte

	freeMu sync.Mutex
	free   [][]byte

	written, writeErrs atomic.Uint64
	spinUntil          atomic.Int64 // clock.Time the spinning scheduler waits for
}

const bufSize = 2048 // pooled copies; longer frames are allocated exactly

func newDir(cfg sim.PathConfig, seed uint64, clk Clock, tm Timer, w frameWriter, spin time.Duration, maxFrame int) *dir {
	d := &dir{
		name: cfg.Name, clk: clk, tm: tm, spin: spin, maxFrame: maxFrame, w: w,
		armed: clock.Never, target: clock.Never,
		early: spin / 2,
	}
	d.net = sim.NewNetwork(seed)
	d.net.RunUntil(clk.Now())
	d.pipe = d.net.NewPipe(cfg, d.sink)
	return d
}

// sink runs under mu, inside RunUntil; now is the frame's scheduled arrival.
func (d *dir) sink(now clock.Time, frame []byte) {
	var b []byte
	if len(frame) <= bufSize {
		d.freeMu.Lock()
		if k := len(d.free); k > 0 {
			b = d.free[k-1][:len(frame)]
			d.free = d.free[:k-1]
		}
		d.freeMu.Unlock()
		if b == nil {
			b = make([]byte, len(frame), bufSize)
		}
	} else {
		b = make([]byte, len(frame))
	}
	copy(b, frame)
	d.out = append(d.out, b)
	d.late.Record(d.wakeNow.Sub(now))
}

// input offers frames read at real time now. Frames due at once (zero
// delay) are written before it returns.
func (d *dir) input(now clock.Time, bufs [][]byte, lens []int) {
	d.mu.Lock()
	d.wakeNow = now
	d.net.RunUntil(now)
	for i, n := range lens {
		f := bufs[i][:n]
		if d.maxFrame > 0 && n > d.maxFrame {
			d.oversize++
		}
		d.pipe.Transmit(f)
	}
	next := d.net.Next()
	if next <= now {
		d.net.RunUntil(now)
		next = d.net.Next()
	}
	if next < d.armed {
		d.armed = next
		d.spinUntil.Store(int64(next)) // cut a spin short
		d.arm(next.Add(-d.early))
	}
	d.flushLocked()
}

// arm sets the timer; under mu.
func (d *dir) arm(t clock.Time) {
	d.target = t
	d.coarse = false
	d.tm.Arm(t)
}

// coarseAhead is how long before a departure far in the future the
// scheduler wakes first. Measured on a 2-vCPU VM: a timerfd wake-up after
// a 20-50 ms sleep is ~120 µs late (median), after a 1 ms one ~40 µs.
const coarseAhead = time.Millisecond

// release delivers every frame due by real time now, writes them, and
// says what the scheduler does next: sleep on the timer (false) or spin
// until spinUntil (true).
func (d *dir) release(now clock.Time) (spin bool) {
	d.mu.Lock()
	d.wakeNow = now
	d.net.RunUntil(now)
	next := d.net.Next()
	switch {
	case next == clock.Never:
		d.armed = clock.Never
		d.arm(clock.Never)
	case next.Sub(now) > 2*coarseAhead:
		// A long sleep: the CPU may go deep idle and wake late, so wake
		// coarseAhead before the departure and sleep again, briefly.
		d.armed = next
		d.arm(next.Add(-coarseAhead))
		d.coarse = true
	case next.Sub(now) > d.spin:
		d.armed = next
		d.arm(next.Add(-d.early))
	default:
		// Spin until next, or until a reader brings an earlier departure
		// (it lowers spinUntil, and re-arms the timer, which makes the
		// next Wait return at once).
		d.armed = next
		d.spinUntil.Store(int64(next))
		spin = true
	}
	d.flushLocked()
	return spin
}

// woke records the scheduler's wake-up lateness relative to the timer, to
// tune how early the timer is armed: the mean lateness plus twice its mean
// deviation (both moving averages), capped at the spin window.
func (d *dir) woke(now clock.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.target == clock.Never || d.spin <= 0 || d.coarse {
		return
	}
	over := now.Sub(d.target)
	if over >= 0 {
		d.wake.Record(over)
	}
	if over < 0 || over > 2*time.Millisecond {
		return // re-armed earlier, or an outlier (preemption)
	}
	if !d.wakeSeen {
		// First sample, as RFC 6298 starts an RTT estimator.
		d.wakeSeen = true
		d.wakeLat, d.wakeDev = over, over/2
	} else {
		dev := over - d.wakeLat
		if dev < 0 {
			dev = -dev
		}
		d.wakeLat += (over - d.wakeLat) / 8
		d.wakeDev += (dev - d.wakeDev) / 8
	}
	d.early = min(d.wakeLat+2*d.wakeDev, d.spin)
}

// flushLocked writes the pending output. It is called with mu held and
// returns with mu released.
func (d *dir) flushLocked() {
	if len(d.out) == 0 {
		d.mu.Unlock()
		return
	}
	d.wmu.Lock()
	d.wbatch = append(d.wbatch[:0], d.out...)
	clear(d.out)
	d.out = d.out[:0]
	d.mu.Unlock()

	n, _ := d.w.WriteBatch(d.wbatch, nil)
	d.written.Add(uint64(n))
	if e := len(d.wbatch) - n; e > 0 {
		d.writeErrs.Add(uint64(e))
	}
	d.freeMu.Lock()
	for i, b := range d.wbatch {
		if cap(b) == bufSize {
			d.free = append(d.free, b[:0])
		}
		d.wbatch[i] = nil
	}
	d.freeMu.Unlock()
	d.wmu.Unlock()
}

// stats returns a snapshot.
func (d *dir) stats() DirStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return DirStats{
		Name:        d.name,
		Path:        *d.pipe.Stats(),
		Oversize:    d.oversize,
		Written:     d.written.Load(),
		WriteErrors: d.writeErrs.Load(),
		Late:        d.late,
		Wake:        d.wake,
		InFlight:    d.pipe.InFlight(),
	}
}

// schedule is the scheduler loop; it returns when stop is set (the caller
// then arms the timer so a pending Wait returns).
func (d *dir) schedule(stop *atomic.Bool) {
	for !stop.Load() {
		if !d.release(d.clk.Now()) {
			d.tm.Wait()
			d.woke(d.clk.Now())
			continue
		}
		for !stop.Load() && int64(d.clk.Now()) < d.spinUntil.Load() {
		}
	}
}
