package tcp

import (
	"bytes"
	"testing"
	"time"

	"github.com/ustack/ustack/clock"
)

// TestPacingSlack: when the pacer's wake-up comes late, Options.PacingSlack
// of the lateness is made up for with a longer burst; without it, or when
// the sender last stopped for another reason (here: no data), a burst gets
// one send quantum of credit only.
func TestPacingSlack(t *testing.T) {
	const rate = 1_000_000 // bytes/s: the quantum is two segments
	for _, tc := range []struct {
		slack time.Duration
		want  int // segments sent at the late wake-up
	}{
		{0, 4},                    // two quanta: the burst due and one of credit
		{time.Second, 10},         // the 4.5 quanta of lateness made up for, and the burst due
		{6 * time.Millisecond, 6}, // made up for only up to the slack
	} {
		h := established(t, func(o *Options) {
			o.PacingSlack = tc.slack
			o.InitialCwnd = 100
			o.NoDelay = true
			o.SendBuffer.Default = 1 << 20
		})
		c := h.c
		c.SetMaxPacingRate(rate)
		qt := clock.Time(time.Duration(2 * c.mss * int(time.Second) / rate))
		dataSegs := func() int {
			n := 0
			for _, e := range h.take() {
				if s, err := decode(e.b); err == nil && len(s.data) > 0 {
					n++
				}
			}
			return n
		}

		// The sender stops for want of data, then for the pacer.
		h.write(bytes.Repeat([]byte{'a'}, 2*c.mss))
		h.advance(ms(10))
		if n := dataSegs(); n != 2 {
			t.Fatalf("slack %v: first burst %d segments, want 2", tc.slack, n)
		}
		ack := h.fromPeer()
		ack.ack += uint32(2 * c.mss)
		h.send(ms(20), ack)
		h.advance(ms(10) + 10*qt)
		h.write(bytes.Repeat([]byte{'b'}, 50*c.mss))
		h.advance(h.net.now)
		if n := dataSegs(); n != 4 {
			t.Fatalf("slack %v: after running out of data: %d segments, want 4 (one quantum of credit)", tc.slack, n)
		}
		next := c.paceAt
		if next == clock.Never {
			t.Fatalf("slack %v: pacer not armed", tc.slack)
		}
		// The pacer's wake-up comes 4.5 quanta late.
		late := next + 9*qt/2
		h.net.now = late
		h.net.q.Run(late)
		if n := dataSegs(); n != tc.want {
			t.Fatalf("slack %v: %d segments at a wake-up %v late, want %d", tc.slack, n, time.Duration(9*qt/2), tc.want)
		}
	}
}
