package cc

// Windowed min/max filter: Kathleen Nichols' algorithm, as Linux's
// lib/win_minmax.c. It tracks the maximum (or minimum) of a stream of
// samples over a sliding window of "time" (any monotonic counter: BBR uses
// packet-timed round trips) in constant space and time, by keeping the best,
// second-best and third-best samples, each at least as recent as the one
// before it and spread over the window. The estimate is always the value of
// a sample inside the window, and almost always the exact windowed extremum;
// when the data moves monotonically against the filter the error is bounded
// by the sub-window spacing (a quarter and a half of the window).
//
// Times and values are uint64 (Linux: u32). Time differences are computed
// with unsigned wrap-around, as in Linux, so a counter that wraps still works.

type winMinMaxSample struct {
	t uint64 // time the sample was taken
	v uint64 // value
}

// winMinMax is a windowed running min or max. The zero value is a filter
// holding the value 0 at time 0; use reset to start it elsewhere. A given
// filter must be fed with only one of runningMax or runningMin.
type winMinMax struct {
	s [3]winMinMaxSample
}

// get returns the current windowed estimate.
func (m *winMinMax) get() uint64 { return m.s[0].v }

// reset forgets all samples and restarts the filter with (t, v).
func (m *winMinMax) reset(t, v uint64) uint64 {
	val := winMinMaxSample{t: t, v: v}
	m.s = [3]winMinMaxSample{val, val, val}
	return v
}

// subwinUpdate ages the 1st, 2nd and 3rd choices as time advances.
func (m *winMinMax) subwinUpdate(win uint64, val winMinMaxSample) uint64 {
	dt := val.t - m.s[0].t
	switch {
	case dt > win:
		// The whole window passed without a new best: promote the 2nd
		// and 3rd choices. The 2nd may be out of the window too (the 3rd
		// was checked to be inside by the caller), so do it up to twice.
		m.s[0], m.s[1], m.s[2] = m.s[1], m.s[2], val
		if val.t-m.s[0].t > win {
			m.s[0], m.s[1], m.s[2] = m.s[1], m.s[2], val
		}
	case m.s[1].t == m.s[0].t && dt > win/4:
		// A quarter of the window passed without a new best: take a 2nd
		// choice from the 2nd quarter of the window.
		m.s[1], m.s[2] = val, val
	case m.s[2].t == m.s[1].t && dt > win/2:
		// Half the window passed without a new best: take a 3rd choice
		// from the last half of the window.
		m.s[2] = val
	}
	return m.s[0].v
}

// runningMax adds the sample (t, v) to a max filter over a window of win
// time units and returns the windowed maximum.
func (m *winMinMax) runningMax(win, t, v uint64) uint64 {
	val := winMinMaxSample{t: t, v: v}
	if val.v >= m.s[0].v || val.t-m.s[2].t > win {
		// New max, or nothing left in the window: forget the past.
		return m.reset(t, v)
	}
	if val.v >= m.s[1].v {
		m.s[1], m.s[2] = val, val
	} else if val.v >= m.s[2].v {
		m.s[2] = val
	}
	return m.subwinUpdate(win, val)
}

// runningMin adds the sample (t, v) to a min filter over a window of win
// time units and returns the windowed minimum.
func (m *winMinMax) runningMin(win, t, v uint64) uint64 {
	val := winMinMaxSample{t: t, v: v}
	if val.v <= m.s[0].v || val.t-m.s[2].t > win {
		// New min, or nothing left in the window: forget the past.
		return m.reset(t, v)
	}
	if val.v <= m.s[1].v {
		m.s[1], m.s[2] = val, val
	} else if val.v <= m.s[2].v {
		m.s[2] = val
	}
	return m.subwinUpdate(win, val)
}
