package tcp

// Receive-buffer auto-tuning (dynamic right-sizing, the model of Linux
// tcp_rcv_space_adjust): once per round trip, measure how much the
// application consumed; if that grew, grow the buffer (and so the window we
// can offer) to a few times it, up to tcp_rmem's maximum, so that the window
// never limits a sender that the reader keeps up with.

import (
	"time"

	"github.com/ustack/ustack/clock"
)

type rcvSpace struct {
	start clock.Time
	seq   uint32 // read sequence at start
	space int    // bytes consumed in the best round so far
}

func (r *rcvSpace) init(now clock.Time, c *Conn) {
	r.start = now
	r.seq = c.readSeq()
	r.space = min(c.rcvBuf.size(), 10*c.advMSS)
}

// rcvRTT returns the receiver's RTT estimate: the SRTT if we have one (we
// sent data), else a default that errs long (growth only slows down).
func (c *Conn) rcvRTT() time.Duration {
	if c.rtt.srtt > 0 {
		return c.rtt.srtt
	}
	return 100 * time.Millisecond
}

// afterRead runs after the application consumed n bytes.
func (c *Conn) afterRead(n int) {
	now := c.s.net.Now()
	r := &c.rcvSpace
	if now.Sub(r.start) >= c.rcvRTT() {
		copied := int(c.readSeq() - r.seq)
		if copied > r.space {
			r.space = copied
			max := c.s.opts.RecvBuffer.Max
			target := min(4*copied+16*c.advMSS, max)
			c.rcvBuf.resize(target)
		}
		r.start = now
		r.seq = c.readSeq()
	}
	if c.windowUpdateDue() {
		c.kick()
	}
}
