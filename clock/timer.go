package clock

// Queue is the single timer structure of a stack: a binary min-heap of
// timers keyed by deadline. A component owns its Timer values and moves them
// with Set; the heap never allocates after it has grown to the number of live
// timers. Queue is not safe for concurrent use: the engine is single-threaded.
type Queue struct {
	h []*Timer
}

// Timer is one entry of a Queue. The zero value is an idle timer. Fire is
// called by Queue.Run when the deadline has been reached; it may re-arm the
// timer.
type Timer struct {
	when Time
	idx  int // position in the heap + 1; 0 when not queued
	Fire func(now Time)
}

// When returns the timer's deadline, or Never if it is not armed.
func (t *Timer) When() Time {
	if t.idx == 0 {
		return Never
	}
	return t.when
}

// Armed reports whether the timer is queued.
func (t *Timer) Armed() bool { return t.idx != 0 }

// Len returns the number of armed timers.
func (q *Queue) Len() int { return len(q.h) }

// Next returns the earliest deadline, or Never.
func (q *Queue) Next() Time {
	if len(q.h) == 0 {
		return Never
	}
	return q.h[0].when
}

// Set arms t for at, moving it if it is already armed. Setting Never stops it.
func (q *Queue) Set(t *Timer, at Time) {
	if at == Never {
		q.Stop(t)
		return
	}
	if t.idx != 0 {
		old := t.when
		t.when = at
		if at < old {
			q.up(t.idx - 1)
		} else if at > old {
			q.down(t.idx - 1)
		}
		return
	}
	t.when = at
	q.h = append(q.h, t)
	t.idx = len(q.h)
	q.up(len(q.h) - 1)
}

// Stop disarms t. Stopping an idle timer does nothing.
func (q *Queue) Stop(t *Timer) {
	if t.idx == 0 {
		return
	}
	i := t.idx - 1
	last := len(q.h) - 1
	if i != last {
		q.swap(i, last)
	}
	q.h[last] = nil
	q.h = q.h[:last]
	t.idx = 0
	if i != last {
		q.down(i)
		q.up(i)
	}
}

// Run fires every timer whose deadline is at or before now, earliest first.
// A timer re-armed by its own Fire for a time <= now fires again in the same
// call, so a Fire must always move its deadline forward.
func (q *Queue) Run(now Time) {
	for len(q.h) > 0 && q.h[0].when <= now {
		t := q.h[0]
		q.Stop(t)
		if t.Fire != nil {
			t.Fire(now)
		}
	}
}

func (q *Queue) less(i, j int) bool { return q.h[i].when < q.h[j].when }

func (q *Queue) swap(i, j int) {
	q.h[i], q.h[j] = q.h[j], q.h[i]
	q.h[i].idx = i + 1
	q.h[j].idx = j + 1
}

func (q *Queue) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !q.less(i, p) {
			break
		}
		q.swap(i, p)
		i = p
	}
}

func (q *Queue) down(i int) {
	n := len(q.h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && q.less(r, l) {
			m = r
		}
		if !q.less(m, i) {
			return
		}
		q.swap(i, m)
		i = m
	}
}
