// Benchmarks and allocation tests of the hot path: a paced sender pushing
// full-size frames through a bottleneck pipe, optionally with a receiver
// that answers every second frame with an ACK over the reverse pipe (the
// shape of a bulk TCP transfer).

package sim

import (
	"testing"
	"time"

	"github.com/ustack/ustack/clock"
)

// pacer sends a size-byte frame every interval, forever.
type pacer struct {
	out      device
	next     clock.Time
	interval time.Duration
	buf      []byte
	sent     int
	acks     int
}

func (p *pacer) Poll(now clock.Time) {
	for p.next <= now {
		p.buf[0] = byte(p.sent)
		p.out.Transmit(p.buf)
		p.sent++
		p.next = p.next.Add(p.interval)
	}
}

func (p *pacer) NextDeadline() clock.Time { return p.next }

func (p *pacer) ackSink(now clock.Time, frame []byte) { p.acks++ }

// acker answers every second data frame with a 64-byte ACK.
type acker struct {
	out     device
	got     int
	pending int
	ack     []byte
}

func (a *acker) sink(now clock.Time, frame []byte) {
	a.got++
	if a.got%2 == 0 {
		a.pending++
	}
}

func (a *acker) Poll(now clock.Time) {
	for ; a.pending > 0; a.pending-- {
		a.out.Transmit(a.ack)
	}
}

func (a *acker) NextDeadline() clock.Time { return clock.Never }

// bulk builds a 100 Mbit/s, 100 ms RTT path with a paced sender at line
// rate (1500 B every 120 us) and an ACKing receiver.
func bulk(seed uint64, fwd PathConfig) (*Network, *pacer, *acker) {
	n := NewNetwork(seed)
	s := &pacer{interval: 120 * time.Microsecond, buf: make([]byte, 1500)}
	r := &acker{ack: make([]byte, 64)}
	rev := PathConfig{Rate: 100_000_000, Delay: 50 * time.Millisecond}
	ab, ba := n.NewLink(fwd, rev, r.sink, s.ackSink)
	ab.SetReceiver(r)
	ba.SetReceiver(s)
	s.out, r.out = ab, ba
	n.AddNode(s)
	return n, s, r
}

var bulkPath = PathConfig{Rate: 100_000_000, Delay: 50 * time.Millisecond, Buffer: 1 << 20}

var faultyPath = PathConfig{Rate: 100_000_000, Delay: 50 * time.Millisecond, Buffer: 1 << 20,
	Loss: 0.01, Jitter: 100 * time.Microsecond, Reorder: 0.01, ReorderDelay: time.Millisecond, Duplicate: 0.01,
	Policer: &TokenBucket{Rate: 200_000_000, Burst: 1 << 16}}

func TestZeroAllocsSteadyState(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  PathConfig
	}{{"plain", bulkPath}, {"faulty", faultyPath}} {
		n, s, r := bulk(1, tc.cfg)
		n.RunUntil(clock.Time(time.Second)) // warm up pools, rings, heaps
		before := s.sent
		allocs := testing.AllocsPerRun(10, func() {
			n.RunUntil(n.Now().Add(100 * time.Millisecond))
		})
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per 100 ms (%d packets)", tc.name, allocs, (s.sent-before)/11)
		}
		if r.got == 0 || s.acks == 0 {
			t.Fatalf("%s: nothing flowed", tc.name)
		}
	}
}

// TestBulkDeterministic runs 10 s of the faulty bulk path twice with the same
// seed and checks the counters match exactly.
func TestBulkDeterministic(t *testing.T) {
	run := func(seed uint64) (PipeStats, int, int) {
		n, s, r := bulk(seed, faultyPath)
		n.RunUntil(clock.Time(10 * time.Second))
		var st PipeStats
		for _, e := range n.heap {
			if e.pipe != nil && e.pipe.Config().Loss > 0 {
				st = *e.pipe.Stats()
			}
		}
		return st, r.got, s.acks
	}
	a, ag, aa := run(11)
	b, bg, ba := run(11)
	if a.String() != b.String() || ag != bg || aa != ba {
		t.Fatalf("seed 11: runs differ:\n%v\n%v", &a, &b)
	}
	c, _, _ := run(12)
	if a.String() == c.String() {
		t.Fatalf("seeds 11 and 12 give identical stats")
	}
	t.Logf("seed 11: %v", &a)
}

func benchBulk(b *testing.B, cfg PathConfig) {
	n, s, r := bulk(1, cfg)
	n.RunUntil(clock.Time(time.Second))
	s0, r0, a0 := s.sent, r.got, s.acks
	b.ReportAllocs()
	b.ResetTimer()
	// One op = one data frame sent (and its share of ACKs).
	n.RunUntil(n.Now().Add(time.Duration(b.N) * 120 * time.Microsecond))
	b.StopTimer()
	pk := (s.sent - s0) + (s.acks - a0)
	if pk > 0 {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(pk), "ns/pkt")
	}
	_ = r0
}

// BenchmarkPipeBulk: data at line rate over 100 Mbit/s x 100 ms, ACK every
// second frame; ns/pkt counts data frames and ACKs.
func BenchmarkPipeBulk(b *testing.B) { benchBulk(b, bulkPath) }

// BenchmarkPipeBulkFaulty adds loss, jitter (every frame through the
// reorder heap), reordering, duplication and a policer.
func BenchmarkPipeBulkFaulty(b *testing.B) { benchBulk(b, faultyPath) }

// BenchmarkPipeTransmitDeliver measures the pipe alone: Transmit one frame
// and run the network until it is delivered, with no nodes.
func BenchmarkPipeTransmitDeliver(b *testing.B) {
	n := NewNetwork(1)
	got := 0
	p := n.NewPipe(PathConfig{Rate: 100_000_000, Delay: 50 * time.Millisecond}, func(clock.Time, []byte) { got++ })
	frame := make([]byte, 1500)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.Transmit(frame)
		n.RunUntil(n.Now().Add(120 * time.Microsecond))
	}
	n.RunUntil(clock.Never - 1)
	if got != b.N {
		b.Fatalf("delivered %d of %d", got, b.N)
	}
}
