package clock

import (
	"math/rand"
	"sort"
	"testing"
)

func TestQueueOrder(t *testing.T) {
	var q Queue
	rng := rand.New(rand.NewSource(1))
	timers := make([]*Timer, 200)
	var fired []Time
	for i := range timers {
		tm := &Timer{}
		tm.Fire = func(now Time) { fired = append(fired, tm.when) }
		timers[i] = tm
		q.Set(tm, Time(rng.Intn(1000)))
	}
	// Move half of them, stop a quarter.
	for i := 0; i < 100; i++ {
		q.Set(timers[i], Time(rng.Intn(1000)))
	}
	for i := 100; i < 150; i++ {
		q.Stop(timers[i])
	}
	if q.Len() != 150 {
		t.Fatalf("len %d want 150", q.Len())
	}
	q.Run(500)
	for _, f := range fired {
		if f > 500 {
			t.Fatalf("fired %v after now", f)
		}
	}
	if !sort.SliceIsSorted(fired, func(i, j int) bool { return fired[i] < fired[j] }) {
		t.Fatalf("not fired in order: %v", fired)
	}
	if q.Next() <= 500 {
		t.Fatalf("next %v should be after 500", q.Next())
	}
	q.Run(Never - 1)
	if q.Len() != 0 || len(fired) != 150 {
		t.Fatalf("left %d fired %d", q.Len(), len(fired))
	}
}

func TestTimeAddSaturates(t *testing.T) {
	if Never.Add(5) != Never || Time(Never-1).Add(1<<40) != Never {
		t.Fatal("no saturation")
	}
}
