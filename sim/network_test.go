// Tests of the scheduler: At ordering, RunUntil/RunWhile/Step, polling of
// due nodes and of nodes that received input, same-instant exchanges over
// zero-delay pipes, and the livelock guard.

package sim

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ustack/ustack/clock"
)

func TestAtOrdering(t *testing.T) {
	n := NewNetwork(1)
	var log []string
	add := func(at clock.Time, s string) {
		n.At(at, func(now clock.Time) {
			if now != at && at >= 0 {
				t.Errorf("%s ran at %v, scheduled %v", s, now, at)
			}
			log = append(log, s)
		})
	}
	add(3*ms, "c1")
	add(1*ms, "a")
	add(3*ms, "c2")
	add(2*ms, "b")
	add(3*ms, "c3")
	n.At(2*ms, func(now clock.Time) {
		log = append(log, "b2")
		// Scheduled for the current instant from a callback: runs now.
		n.At(now, func(clock.Time) { log = append(log, "b3") })
	})
	n.RunUntil(3 * ms)
	want := []string{"a", "b", "b2", "b3", "c1", "c2", "c3"}
	if !slices.Equal(log, want) {
		t.Fatalf("order %v, want %v", log, want)
	}
	if n.Now() != 3*ms {
		t.Fatalf("now %v", n.Now())
	}
	// In the past: runs at the next step, at the current time.
	log = nil
	n.At(ms, func(now clock.Time) {
		if now != 3*ms {
			t.Errorf("past callback ran at %v", now)
		}
		log = append(log, "past")
	})
	if !n.Step() || !slices.Equal(log, []string{"past"}) {
		t.Fatalf("log %v", log)
	}
	if n.Step() {
		t.Fatal("Step with nothing left returned true")
	}
}

func TestRunUntilAdvancesIdle(t *testing.T) {
	n := NewNetwork(1)
	n.RunUntil(5 * ms)
	if n.Now() != 5*ms {
		t.Fatalf("now %v", n.Now())
	}
	fired := clock.Time(-1)
	n.At(7*ms, func(now clock.Time) { fired = now })
	n.RunUntil(6 * ms)
	if fired != -1 || n.Now() != 6*ms {
		t.Fatalf("fired %v now %v", fired, n.Now())
	}
	n.RunUntil(7 * ms)
	if fired != 7*ms {
		t.Fatalf("fired %v", fired)
	}
}

func TestRunWhile(t *testing.T) {
	n := NewNetwork(1)
	rec := &recorder{}
	p := n.NewPipe(PathConfig{Delay: time.Millisecond}, rec.sink)
	n.AddNode(newTrain(p, 0, time.Millisecond, 100, 64))
	// Condition becomes false: stops at the instant it does.
	if !n.RunWhile(func() bool { return len(rec.got) < 10 }, clock.Time(time.Second)) {
		t.Fatal("condition should have become false")
	}
	if n.Now() != 10*ms || len(rec.got) != 10 {
		t.Fatalf("now %v, got %d", n.Now(), len(rec.got))
	}
	// Limit reached first: clock at the limit, events up to it processed.
	if n.RunWhile(func() bool { return true }, 50*ms+ms/2) {
		t.Fatal("condition never becomes false")
	}
	if n.Now() != 50*ms+ms/2 || len(rec.got) != 50 {
		t.Fatalf("now %v, got %d", n.Now(), len(rec.got))
	}
	// Nothing left to do: returns false without spinning.
	n2 := NewNetwork(1)
	if n2.RunWhile(func() bool { return true }, clock.Never) {
		t.Fatal("idle network")
	}
}

// periodic wants a poll every period and records the times it got them.
type periodic struct {
	next   clock.Time
	period time.Duration
	polls  []clock.Time
	stop   clock.Time
}

func (p *periodic) Poll(now clock.Time) {
	p.polls = append(p.polls, now)
	for p.next <= now {
		p.next = p.next.Add(p.period)
	}
	if p.next > p.stop {
		p.next = clock.Never
	}
}

func (p *periodic) NextDeadline() clock.Time { return p.next }

func TestNodeDeadlines(t *testing.T) {
	n := NewNetwork(1)
	a := &periodic{next: ms, period: 3 * time.Millisecond, stop: 10 * ms}
	b := &periodic{next: 2 * ms, period: 4 * time.Millisecond, stop: 10 * ms}
	n.AddNode(a)
	n.AddNode(b)
	n.AddNode(a) // no effect
	n.RunUntil(clock.Time(time.Second))
	if !slices.Equal(a.polls, []clock.Time{ms, 4 * ms, 7 * ms, 10 * ms}) ||
		!slices.Equal(b.polls, []clock.Time{2 * ms, 6 * ms, 10 * ms}) {
		t.Fatalf("a %v b %v", a.polls, b.polls)
	}
	// Work given between runs is noticed (deadlines are re-read).
	a.next, a.stop = 0, clock.Never
	a.polls = nil
	n.RunUntil(clock.Time(time.Second) + 5*ms)
	if len(a.polls) != 3 || a.polls[0] != clock.Time(time.Second) || a.polls[2] != clock.Time(time.Second)+5*ms {
		t.Fatalf("a %v", a.polls)
	}
}

// echo is a host that answers each frame it receives with a frame carrying
// seq+1, flushed on its next Poll, until seq reaches limit.
type echo struct {
	out     device
	pending []uint64
	limit   uint64
	rx      []arrival
	polls   int
}

func (e *echo) sink(now clock.Time, frame []byte) {
	var r recorder
	r.sink(now, frame)
	e.rx = append(e.rx, r.got[0])
	e.pending = append(e.pending, r.got[0].seq)
}

func (e *echo) Poll(now clock.Time) {
	e.polls++
	for _, s := range e.pending {
		if s+1 <= e.limit {
			tr := newTrain(e.out, now, 0, 1, 64)
			tr.sent = int(s + 1)
			tr.count = tr.sent + 1
			tr.Poll(now)
		}
	}
	e.pending = e.pending[:0]
}

func (e *echo) NextDeadline() clock.Time { return clock.Never }

func pingPong(t *testing.T, cfg PathConfig, limit uint64, receivers bool) (*Network, *echo, *echo) {
	n := NewNetwork(1)
	a, b := &echo{limit: limit}, &echo{limit: limit}
	ab, ba := n.NewLink(cfg, cfg, b.sink, a.sink)
	a.out, b.out = ab, ba
	if receivers {
		ab.SetReceiver(b)
		ba.SetReceiver(a)
	} else {
		n.AddNode(a)
		n.AddNode(b)
	}
	n.At(ms, func(clock.Time) { ab.Transmit(make([]byte, 64)) })
	n.RunUntil(clock.Time(time.Second))
	if err := n.Err(); err != nil {
		t.Fatal(err)
	}
	return n, a, b
}

func TestPollAfterInput(t *testing.T) {
	// 1 ms each way: frame k arrives at 1ms + (k+1) ms.
	for _, recv := range []bool{true, false} {
		_, a, b := pingPong(t, PathConfig{Delay: time.Millisecond}, 9, recv)
		if len(b.rx) != 5 || len(a.rx) != 5 {
			t.Fatalf("receivers=%v: a got %d, b got %d", recv, len(a.rx), len(b.rx))
		}
		for i, r := range b.rx {
			if r.seq != uint64(2*i) || r.t != clock.Time(2+2*i)*ms {
				t.Fatalf("b rx %d: %+v", i, r)
			}
		}
		if recv && (a.polls != 5 || b.polls != 5) {
			t.Fatalf("polls a=%d b=%d, want one per received frame", a.polls, b.polls)
		}
	}
}

func TestSameInstantExchange(t *testing.T) {
	// Zero delay, infinite rate: the whole exchange happens at 1 ms.
	n, a, b := pingPong(t, PathConfig{}, 1001, true)
	if len(b.rx) != 501 || len(a.rx) != 501 {
		t.Fatalf("a got %d, b got %d", len(a.rx), len(b.rx))
	}
	for _, r := range append(a.rx, b.rx...) {
		if r.t != ms {
			t.Fatalf("frame %d at %v", r.seq, r.t)
		}
	}
	if n.Now() != clock.Time(time.Second) {
		t.Fatalf("now %v", n.Now())
	}
}

// spinner always wants to be polled at the same instant.
type spinner struct{ at clock.Time }

func (s *spinner) Poll(clock.Time)          {}
func (s *spinner) NextDeadline() clock.Time { return s.at }

func TestLivelockGuard(t *testing.T) {
	n := NewNetwork(99)
	n.MaxIterations = 1000
	n.AddNode(&spinner{at: 5 * ms})
	n.RunUntil(clock.Time(time.Second))
	err := n.Err()
	if err == nil || !strings.Contains(err.Error(), "livelock") || !strings.Contains(err.Error(), "seed 99") {
		t.Fatalf("err %v", err)
	}
	if n.Now() != 5*ms || n.Step() {
		t.Fatalf("now %v", n.Now())
	}
	t.Log(err)

	// A pipe feeding itself at one instant is caught too.
	n = NewNetwork(1)
	n.MaxIterations = 1000
	var p *Pipe
	p = n.NewPipe(PathConfig{}, func(_ clock.Time, f []byte) { p.Transmit(f) })
	p.Transmit([]byte{1})
	n.RunUntil(ms)
	if n.Err() == nil {
		t.Fatal("no error for a self-feeding pipe")
	}
}

func TestWake(t *testing.T) {
	n := NewNetwork(1)
	idle := &periodic{next: clock.Never, stop: clock.Never, period: time.Millisecond}
	n.AddNode(idle)
	n.At(3*ms, func(clock.Time) {})
	poller := &periodic{next: 2 * ms, stop: 2 * ms, period: time.Millisecond}
	n.AddNode(poller)
	n.At(2*ms, func(clock.Time) {})
	// Wake from outside a node's poll path: polled at the current instant.
	n.RunUntil(2 * ms)
	n.Wake(idle)
	n.RunUntil(4 * ms)
	if !slices.Equal(idle.polls, []clock.Time{2 * ms}) {
		t.Fatalf("idle polled at %v", idle.polls)
	}
}

func TestDeriveSeed(t *testing.T) {
	n := NewNetwork(5)
	if n.DeriveSeed("a") != NewNetwork(5).DeriveSeed("a") || n.DeriveSeed("a") == n.DeriveSeed("b") ||
		n.DeriveSeed("a") == NewNetwork(6).DeriveSeed("a") {
		t.Fatal("DeriveSeed")
	}
	if n.NewRand("x").Uint64() != NewNetwork(5).NewRand("x").Uint64() {
		t.Fatal("NewRand not deterministic")
	}
}
