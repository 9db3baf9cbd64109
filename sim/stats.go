// Pipe statistics.
//
// Counters are plain integers updated on the hot path. Queueing delay (the
// time a packet waits in the bottleneck queue before its serialization
// starts) is recorded in a fixed-size log-linear histogram: values below
// 16 ns are exact, above that every power of two is split into 16 buckets,
// so quantiles are accurate to within about 3% (the bucket midpoint is
// reported). Recording never allocates; mean, min and max are exact.

package sim

import (
	"fmt"
	"math"
	"math/bits"
	"strings"
	"time"
)

const (
	histSub     = 4 // mantissa bits per power of two
	histBuckets = (64 - histSub + 1) << histSub
)

// Histogram is a log-linear histogram of non-negative durations.
type Histogram struct {
	count    uint64
	sum      int64
	min, max int64
	b        [histBuckets]uint64
}

func histBucket(v uint64) int {
	if v < 1<<histSub {
		return int(v)
	}
	e := bits.Len64(v) - 1
	m := (v >> (e - histSub)) & (1<<histSub - 1)
	return (e-histSub+1)<<histSub + int(m)
}

// histRange returns the smallest and largest values of bucket i.
func histRange(i int) (lo, hi uint64) {
	if i < 1<<histSub {
		return uint64(i), uint64(i)
	}
	e := i>>histSub + histSub - 1
	m := uint64(i & (1<<histSub - 1))
	lo = (1<<histSub + m) << (e - histSub)
	return lo, lo + 1<<(e-histSub) - 1
}

// Record adds one observation (negative values count as 0).
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	if h.count == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.count++
	h.sum += v
	h.b[histBucket(uint64(v))]++
}

// Count returns the number of observations.
func (h *Histogram) Count() uint64 { return h.count }

// Min returns the smallest observation (0 if empty).
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Max returns the largest observation (0 if empty).
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean returns the exact mean (0 if empty).
func (h *Histogram) Mean() time.Duration {
	if h.count == 0 {
		return 0
	}
	return time.Duration(h.sum / int64(h.count))
}

// Quantile returns an estimate of the q-quantile, 0 <= q <= 1 (the midpoint
// of the bucket holding it, clamped to [Min, Max]). It is 0 if empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.count == 0 {
		return 0
	}
	if q <= 0 {
		return time.Duration(h.min)
	}
	if q >= 1 {
		return time.Duration(h.max)
	}
	rank := uint64(math.Ceil(q * float64(h.count)))
	rank = max(rank, 1)
	rank = min(rank, h.count)
	var cum uint64
	for i := range h.b {
		cum += h.b[i]
		if cum >= rank {
			lo, hi := histRange(i)
			v := int64(lo + (hi-lo)/2)
			v = max(v, h.min)
			v = min(v, h.max)
			return time.Duration(v)
		}
	}
	return time.Duration(h.max)
}

// String summarizes the histogram: n, min, median, p99, max, mean.
func (h *Histogram) String() string {
	return fmt.Sprintf("n=%d min=%v p50=%v p99=%v max=%v mean=%v",
		h.count, h.Min(), h.Quantile(0.5), h.Quantile(0.99), h.Max(), h.Mean())
}

// PipeStats are the counters of one pipe. Packet counts are per frame
// offered to Transmit; a duplicated packet counts once in PacketsIn and
// twice in PacketsDelivered.
type PipeStats struct {
	PacketsIn, BytesIn               uint64 // offered to Transmit
	PacketsDelivered, BytesDelivered uint64 // handed to the sink

	DropBuffer  uint64 // drop-tail: queue would exceed Buffer bytes
	DropLoss    uint64 // random loss
	DropPolicer uint64 // token bucket non-conforming
	DropMTU     uint64 // larger than MTU
	DropBytes   uint64 // bytes of all dropped packets

	Duplicated uint64 // packets delivered twice
	Reordered  uint64 // packets held back by ReorderDelay

	MaxQueueBytes int // peak bottleneck queue occupancy, in bytes

	// QueueDelay is the time each accepted packet waited before its
	// serialization began (0 on an infinite-rate pipe).
	QueueDelay Histogram
}

// Dropped returns the total number of dropped packets.
func (s *PipeStats) Dropped() uint64 {
	return s.DropBuffer + s.DropLoss + s.DropPolicer + s.DropMTU
}

// String formats the counters on one line, plus the queue delay summary.
func (s *PipeStats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "in=%d/%dB delivered=%d/%dB drop{buffer=%d loss=%d policer=%d mtu=%d} dup=%d reorder=%d maxq=%dB qdelay{%v}",
		s.PacketsIn, s.BytesIn, s.PacketsDelivered, s.BytesDelivered,
		s.DropBuffer, s.DropLoss, s.DropPolicer, s.DropMTU,
		s.Duplicated, s.Reordered, s.MaxQueueBytes, &s.QueueDelay)
	return b.String()
}

// Jain is Jain's fairness index of flows' shares, (Σx)²/(n·Σx²): 1 when
// all are equal, 1/n when one flow has everything, 0 for no flow or no
// traffic. The unit of the shares does not matter.
func Jain(x []float64) float64 {
	var s, s2 float64
	for _, v := range x {
		s += v
		s2 += v * v
	}
	if s2 == 0 {
		return 0
	}
	return s * s / (float64(len(x)) * s2)
}
