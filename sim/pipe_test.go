// Tests of the pipe model: serialization, delay, drop-tail, loss,
// duplication, reordering, jitter, policer and MTU, each against a dummy
// packet train and a recording sink.

package sim

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/ustack/ustack/clock"
)

func TestSerializationExact(t *testing.T) {
	// 1500 B at 12 Mbit/s = 1 ms per frame.
	_, p, rec := runTrain(t, 1, PathConfig{Rate: 12_000_000}, 0, 10, 1500)
	if len(rec.got) != 10 {
		t.Fatalf("got %d frames", len(rec.got))
	}
	for i, a := range rec.got {
		if want := clock.Time(i+1) * ms; a.t != want || a.seq != uint64(i) {
			t.Errorf("frame %d: arrived %v seq %d, want %v seq %d", i, a.t, a.seq, want, i)
		}
	}
	s := p.Stats()
	if s.MaxQueueBytes != 15000 {
		t.Errorf("max queue %d, want 15000", s.MaxQueueBytes)
	}
	// Queue delays are 0,1,...,9 ms.
	if s.QueueDelay.Min() != 0 || s.QueueDelay.Max() != 9*time.Millisecond || s.QueueDelay.Mean() != 4500*time.Microsecond {
		t.Errorf("queue delay %v", &s.QueueDelay)
	}
	if q := s.QueueDelay.Quantile(0.5); q < 3900*time.Microsecond || q > 4100*time.Microsecond { // 4 ms, within a bucket
		t.Errorf("median queue delay %v", q)
	}
	t.Logf("%v", s)
}

func TestSerializationFractional(t *testing.T) {
	// 1000 B at 3 Mbit/s = 2.666.. ms: the remainder is carried, so 3000
	// frames take exactly 8 s.
	_, _, rec := runTrain(t, 1, PathConfig{Rate: 3_000_000}, 0, 3000, 1000)
	if last := rec.got[len(rec.got)-1].t; last != 8000*ms {
		t.Fatalf("last arrival %v, want 8s", last)
	}
	for i := 1; i < len(rec.got); i++ {
		d := rec.got[i].t - rec.got[i-1].t
		if d != 2666666 && d != 2666667 {
			t.Fatalf("spacing %v", d)
		}
	}
}

func TestDelayExact(t *testing.T) {
	cfg := PathConfig{Rate: 12_000_000, Delay: 10 * time.Millisecond}
	_, _, rec := runTrain(t, 1, cfg, 0, 5, 1500)
	for i, a := range rec.got {
		if want := clock.Time(i+11) * ms; a.t != want {
			t.Errorf("frame %d at %v, want %v", i, a.t, want)
		}
	}
	// Infinite rate: everything arrives at exactly Delay, in FIFO order.
	_, _, rec = runTrain(t, 1, PathConfig{Delay: 7 * time.Millisecond}, 0, 100, 100)
	for i, a := range rec.got {
		if a.t != 7*ms || a.seq != uint64(i) {
			t.Fatalf("frame %d: %v seq %d", i, a.t, a.seq)
		}
	}
	// Sent 1 ms apart, delay 7 ms.
	_, _, rec = runTrain(t, 1, PathConfig{Delay: 7 * time.Millisecond}, time.Millisecond, 10, 100)
	for i, a := range rec.got {
		if a.t != clock.Time(7+i)*ms {
			t.Fatalf("frame %d: %v", i, a.t)
		}
	}
}

func TestDropTail(t *testing.T) {
	// 10 frames fit (the one being serialized counts); the rest of a
	// back-to-back burst is dropped.
	cfg := PathConfig{Rate: 12_000_000, Buffer: 15000}
	_, p, rec := runTrain(t, 1, cfg, 0, 25, 1500)
	s := p.Stats()
	if len(rec.got) != 10 || s.DropBuffer != 15 || s.MaxQueueBytes != 15000 || s.DropBytes != 15*1500 {
		t.Fatalf("delivered %d, %v", len(rec.got), s)
	}
	for i, a := range rec.got {
		if a.seq != uint64(i) {
			t.Fatalf("frame %d has seq %d", i, a.seq)
		}
	}
	// Sending at exactly the line rate never drops, even with room for
	// a single frame.
	cfg.Buffer = 1500
	_, p, rec = runTrain(t, 1, cfg, time.Millisecond, 100, 1500)
	if len(rec.got) != 100 || p.Stats().MaxQueueBytes != 1500 {
		t.Fatalf("delivered %d, %v", len(rec.got), p.Stats())
	}
	// Twice the line rate with a 10-frame buffer: half gets through
	// (plus the buffer's worth).
	cfg.Buffer = 15000
	_, p, rec = runTrain(t, 1, cfg, 500*time.Microsecond, 1000, 1500)
	if got := len(rec.got); got < 509 || got > 511 {
		t.Fatalf("delivered %d, %v", got, p.Stats())
	}
	if q := p.Stats().QueueDelay.Quantile(0.99); q < 8*time.Millisecond || q > 10*time.Millisecond {
		t.Fatalf("p99 queue delay %v", q)
	}
	t.Logf("%v", p.Stats())
}

func TestLossRateAndDeterminism(t *testing.T) {
	const count = 100_000
	cfg := PathConfig{Delay: time.Millisecond, Loss: 0.1}
	run := func(seed uint64) []uint64 {
		_, p, rec := runTrain(t, seed, cfg, time.Microsecond, count, 64)
		s := p.Stats()
		if s.DropLoss+s.PacketsDelivered != count {
			t.Fatalf("seed %d: %v", seed, s)
		}
		// 4.5 sigma: sqrt(1e5*0.1*0.9) ~ 95.
		if d := math.Abs(float64(s.DropLoss) - count*0.1); d > 430 {
			t.Fatalf("seed %d: lost %d of %d", seed, s.DropLoss, count)
		}
		return rec.seqs()
	}
	a, b, c := run(42), run(42), run(43)
	if !slices.Equal(a, b) {
		t.Fatalf("seed 42: two runs differ")
	}
	if slices.Equal(a, c) {
		t.Fatalf("seeds 42 and 43 lose the same packets")
	}
}

func TestStreamsIndependent(t *testing.T) {
	// Enabling duplication on a pipe, or adding another pipe before it, must
	// not change which packets a named pipe loses.
	lost := func(extraPipe bool, dup float64) []uint64 {
		n := NewNetwork(7)
		if extraPipe {
			n.NewPipe(PathConfig{Name: "other", Loss: 0.5}, func(clock.Time, []byte) {})
		}
		rec := &recorder{}
		p := n.NewPipe(PathConfig{Name: "a->b", Loss: 0.2, Duplicate: dup}, rec.sink)
		n.AddNode(newTrain(p, 0, time.Microsecond, 1000, 64))
		n.RunUntil(clock.Time(time.Second))
		return slices.Compact(rec.seqs())
	}
	base := lost(false, 0)
	if !slices.Equal(base, lost(true, 0)) {
		t.Fatal("seed 7: adding a pipe changed another pipe's losses")
	}
	if !slices.Equal(base, lost(false, 0.3)) {
		t.Fatal("seed 7: enabling duplication changed the losses")
	}
}

func TestDuplicate(t *testing.T) {
	const count = 20_000
	_, p, rec := runTrain(t, 5, PathConfig{Duplicate: 0.05, Delay: time.Millisecond}, time.Microsecond, count, 100)
	s := p.Stats()
	if d := math.Abs(float64(s.Duplicated) - count*0.05); d > 140 { // 4.5 sigma
		t.Fatalf("seed 5: duplicated %d of %d", s.Duplicated, count)
	}
	if len(rec.got) != count+int(s.Duplicated) || s.PacketsDelivered != uint64(len(rec.got)) {
		t.Fatalf("delivered %d, %v", len(rec.got), s)
	}
	// Duplicates arrive back to back, and both copies are intact even
	// though the sink scribbles over each.
	dups := 0
	for i := 1; i < len(rec.got); i++ {
		if rec.got[i].seq == rec.got[i-1].seq {
			dups++
			if rec.got[i].t != rec.got[i-1].t {
				t.Fatal("duplicate at a different time")
			}
		} else if rec.got[i].seq != rec.got[i-1].seq+1 {
			t.Fatalf("out of order at %d", i)
		}
	}
	if dups != int(s.Duplicated) {
		t.Fatalf("saw %d duplicates, stats say %d", dups, s.Duplicated)
	}
}

func TestReorder(t *testing.T) {
	const count = 20_000
	cfg := PathConfig{Rate: 100_000_000, Delay: 5 * time.Millisecond, Reorder: 0.1, ReorderDelay: 100 * time.Microsecond}
	_, p, rec := runTrain(t, 9, cfg, 0, count, 1000) // 80 us per frame
	s := p.Stats()
	if d := math.Abs(float64(s.Reordered) - count*0.1); d > 190 {
		t.Fatalf("seed 9: reordered %d of %d", s.Reordered, count)
	}
	// Held back by 100 us with 80 us spacing, each held-back frame is
	// overtaken by exactly its successor (one inversion; a run of held
	// frames makes a single inversion).
	inversions := 0
	for i := 1; i < len(rec.got); i++ {
		if rec.got[i].seq < rec.got[i-1].seq {
			inversions++
		}
	}
	if inversions == 0 || inversions > int(s.Reordered) || float64(inversions) < 0.85*float64(s.Reordered) {
		t.Fatalf("seed 9: %d inversions for %d reordered", inversions, s.Reordered)
	}
	if len(rec.got) != count {
		t.Fatalf("delivered %d", len(rec.got))
	}
	t.Logf("reordered %d, inversions %d", s.Reordered, inversions)
}

func TestJitter(t *testing.T) {
	const count = 10_000
	cfg := PathConfig{Delay: 10 * time.Millisecond, Jitter: 2 * time.Millisecond}
	_, _, rec := runTrain(t, 3, cfg, 100*time.Microsecond, count, 100)
	var sum time.Duration
	inv := 0
	last := clock.Time(-1)
	for i, a := range rec.got {
		if a.t < last {
			t.Fatal("arrivals not in time order")
		}
		last = a.t
		d := a.t.Sub(clock.Time(a.seq) * clock.Time(100*time.Microsecond))
		if d < 10*time.Millisecond || d >= 12*time.Millisecond {
			t.Fatalf("frame %d delay %v", a.seq, d)
		}
		sum += d
		if i > 0 && a.seq < rec.got[i-1].seq {
			inv++
		}
	}
	if mean := sum / count; mean < 10950*time.Microsecond || mean > 11050*time.Microsecond {
		t.Fatalf("seed 3: mean delay %v", mean)
	}
	if inv == 0 {
		t.Fatal("seed 3: 2 ms of jitter over 100 us spacing should reorder")
	}
}

func TestPolicer(t *testing.T) {
	// Offer 2 Mbit/s for 10 s to a 1 Mbit/s policer with a 3000 B burst:
	// the delivered bytes are rate*time + burst, within one frame.
	cfg := PathConfig{Policer: &TokenBucket{Rate: 1_000_000, Burst: 3000}}
	const size = 500
	count := 10 * 2_000_000 / 8 / size // 2 Mbit/s for 10 s
	_, p, rec := runTrain(t, 1, cfg, 2*time.Millisecond, count, size)
	s := p.Stats()
	got := int(s.BytesDelivered)
	// The last frame is sent at 10 s - 2 ms.
	want := 1_000_000/8*10 + 3000
	if got > want || got < want-2*size {
		t.Fatalf("delivered %d bytes, want ~%d: %v", got, want, s)
	}
	if s.DropPolicer == 0 || s.PacketsDelivered+s.DropPolicer != uint64(count) || len(rec.got) != int(s.PacketsDelivered) {
		t.Fatalf("%v", s)
	}
	// Conforming traffic is never dropped.
	_, p, _ = runTrain(t, 1, cfg, 4*time.Millisecond, 1000, size)
	if p.Stats().DropPolicer != 0 {
		t.Fatalf("conforming traffic dropped: %v", p.Stats())
	}
	// Frames bigger than the burst never conform.
	_, p, _ = runTrain(t, 1, cfg, time.Second, 3, 3001)
	if p.Stats().DropPolicer != 3 {
		t.Fatalf("%v", p.Stats())
	}
}

func TestMTU(t *testing.T) {
	n := NewNetwork(1)
	rec := &recorder{}
	p := n.NewPipe(PathConfig{MTU: 1280}, rec.sink)
	var drops []Event
	p.SetCapture(func(ev Event) {
		if ev.Kind == EventDrop {
			ev.Frame = nil
			drops = append(drops, ev)
		}
	})
	for _, size := range []int{1280, 1281, 1500, 100, 9000} {
		b := make([]byte, size)
		b[7] = byte(size & 0xff)
		p.Transmit(b)
	}
	n.RunUntil(ms)
	s := p.Stats()
	if s.DropMTU != 3 || len(rec.got) != 2 || rec.got[0].size != 1280 || rec.got[1].size != 100 {
		t.Fatalf("%v %v", s, rec.got)
	}
	if len(drops) != 3 || drops[0].Reason != DropMTU || drops[0].Pipe != p {
		t.Fatalf("capture %v", drops)
	}
}

func TestCapture(t *testing.T) {
	n := NewNetwork(1)
	rec := &recorder{}
	p := n.NewPipe(PathConfig{Rate: 12_000_000, Delay: time.Millisecond, Buffer: 3000}, rec.sink)
	var kinds []EventKind
	var times []clock.Time
	p.SetCapture(func(ev Event) {
		kinds = append(kinds, ev.Kind)
		times = append(times, ev.Time)
	})
	n.AddNode(newTrain(p, 0, 0, 3, 1500))
	n.RunUntil(clock.Time(time.Second))
	wantK := []EventKind{EventEnqueue, EventEnqueue, EventEnqueue, EventDrop, EventDeliver, EventDeliver}
	wantT := []clock.Time{0, 0, 0, 0, 2 * ms, 3 * ms}
	if !slices.Equal(kinds, wantK) || !slices.Equal(times, wantT) {
		t.Fatalf("events %v at %v", kinds, times)
	}
}

func TestHistogram(t *testing.T) {
	var h Histogram
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for _, q := range []float64{0.5, 0.9, 0.99} {
		want := q * 1000 * float64(time.Microsecond)
		if got := float64(h.Quantile(q)); math.Abs(got-want)/want > 0.04 {
			t.Errorf("q%.2f = %v, want ~%v", q, time.Duration(got), time.Duration(want))
		}
	}
	if h.Min() != time.Microsecond || h.Max() != time.Millisecond || h.Count() != 1000 {
		t.Errorf("%v", &h)
	}
	for i := 0; i < histBuckets; i++ {
		lo, hi := histRange(i)
		if histBucket(lo) != i || histBucket(hi) != i || lo > hi {
			t.Fatalf("bucket %d: [%d,%d]", i, lo, hi)
		}
		if i > 0 {
			if _, phi := histRange(i - 1); phi+1 != lo {
				t.Fatalf("gap before bucket %d", i)
			}
		}
	}
}

func TestSetConfig(t *testing.T) {
	n := NewNetwork(1)
	rec := &recorder{}
	p := n.NewPipe(PathConfig{Delay: 10 * time.Millisecond}, rec.sink)
	tr := newTrain(p, 0, time.Millisecond, 4, 64)
	n.AddNode(tr)
	n.At(2*ms, func(clock.Time) {
		cfg := p.Config()
		cfg.Delay = time.Millisecond
		p.SetConfig(cfg)
	})
	n.RunUntil(clock.Time(time.Second))
	// Frames 0,1 take 10 ms; frames 2,3 (sent at 2 and 3 ms) take 1 ms
	// and overtake them.
	want := []arrival{{3 * ms, 2, 64}, {4 * ms, 3, 64}, {10 * ms, 0, 64}, {11 * ms, 1, 64}}
	if !slices.Equal(rec.got, want) {
		t.Fatalf("got %v", rec.got)
	}
}
