// Test dummies: a node that sends a numbered packet train through a device,
// and a sink that records arrivals.

package sim

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/ustack/ustack/clock"
)

// device mirrors ip.Device (interface{ Transmit(frame []byte) error }); the
// ip package is not imported so that sim's tests build on their own.
type device interface {
	Transmit(frame []byte) error
}

var _ device = (*Pipe)(nil)

const ms = clock.Time(time.Millisecond)

// train sends count frames of size bytes, the first at start and then one
// every interval (0 = all at once). Each frame carries its index.
type train struct {
	dev      device
	start    clock.Time
	interval time.Duration
	count    int
	size     int
	sent     int
	polls    int
	buf      []byte
}

func newTrain(dev device, start clock.Time, interval time.Duration, count, size int) *train {
	return &train{dev: dev, start: start, interval: interval, count: count, size: size, buf: make([]byte, size)}
}

func (t *train) due() clock.Time {
	return t.start.Add(time.Duration(t.sent) * t.interval)
}

func (t *train) Poll(now clock.Time) {
	t.polls++
	for t.sent < t.count && t.due() <= now {
		binary.BigEndian.PutUint64(t.buf, uint64(t.sent))
		t.dev.Transmit(t.buf)
		t.sent++
	}
}

func (t *train) NextDeadline() clock.Time {
	if t.sent >= t.count {
		return clock.Never
	}
	return t.due()
}

type arrival struct {
	t    clock.Time
	seq  uint64
	size int
}

// recorder is a sink that records arrivals.
type recorder struct {
	got []arrival
}

func (r *recorder) sink(now clock.Time, frame []byte) {
	r.got = append(r.got, arrival{t: now, seq: binary.BigEndian.Uint64(frame), size: len(frame)})
	// The frame is the sink's to scribble on during the call.
	for i := range frame {
		frame[i] = 0xee
	}
}

// seqs returns the sequence numbers in arrival order.
func (r *recorder) seqs() []uint64 {
	s := make([]uint64, len(r.got))
	for i, a := range r.got {
		s[i] = a.seq
	}
	return s
}

// runTrain builds a network with one pipe and one train and runs it to
// quiescence.
func runTrain(t testing.TB, seed uint64, cfg PathConfig, interval time.Duration, count, size int) (*Network, *Pipe, *recorder) {
	t.Helper()
	n := NewNetwork(seed)
	rec := &recorder{}
	p := n.NewPipe(cfg, rec.sink)
	tr := newTrain(p, 0, interval, count, size)
	n.AddNode(tr)
	n.RunUntil(clock.Never - 1)
	if err := n.Err(); err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	if tr.sent != count {
		t.Fatalf("seed %d: sent %d of %d", seed, tr.sent, count)
	}
	return n, p, rec
}
