// Package clock defines the engine's notion of time.
//
// Protocol code never reads the wall clock. Every entry point of the engine
// takes the current time as a Time, and every component reports the next
// Time at which it wants to run. In simulation, Time is virtual and advances
// in jumps from one event to the next; in the real-time runtime it is read
// from the monotonic clock once per event-loop iteration, at the edge.
package clock

import (
	"math"
	"time"
)

// Time is an instant in nanoseconds since an arbitrary epoch (the start of a
// simulation, or the start of the process in the real-time runtime).
type Time int64

// Never is a deadline that is never reached.
const Never Time = math.MaxInt64

// Add returns t+d, saturating at Never.
func (t Time) Add(d time.Duration) Time {
	if t == Never {
		return Never
	}
	s := t + Time(d)
	if d > 0 && s < t {
		return Never
	}
	return s
}

// Sub returns the duration t-u.
func (t Time) Sub(u Time) time.Duration { return time.Duration(t - u) }

// Before reports whether t is before u.
func (t Time) Before(u Time) bool { return t < u }

// After reports whether t is after u.
func (t Time) After(u Time) bool { return t > u }

// Duration returns t as a duration since the epoch.
func (t Time) Duration() time.Duration { return time.Duration(t) }

// String formats t as a duration since the epoch, for traces.
func (t Time) String() string {
	if t == Never {
		return "never"
	}
	return time.Duration(t).String()
}

// Min returns the earlier of a and b.
func Min(a, b Time) Time {
	if a < b {
		return a
	}
	return b
}
