// Flag syntax for rates, sizes, probabilities and buffers, close to tc's:
// rates "100mbit", "1.5gbit", "64kbit", "2000000" (bit/s), "12mbps"
// (bytes/s); sizes "64k", "1.5m", "1514" (bytes, binary multiples);
// probabilities "1%", "0.5%", "0.01"; buffers a size or "2bdp".

package netem

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseRate parses a rate in bits per second. "0" means unlimited.
func ParseRate(s string) (uint64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	units := []struct {
		suffix string
		mult   float64
	}{
		{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1},
		{"gbps", 8e9}, {"mbps", 8e6}, {"kbps", 8e3}, {"bps", 8},
		{"g", 1e9}, {"m", 1e6}, {"k", 1e3},
	}
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSuffix(t, u.suffix), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || v*mult > math.MaxUint64/2 {
		return 0, fmt.Errorf("bad rate %q (want e.g. 100mbit, 1gbit, 500kbit)", s)
	}
	return uint64(math.Round(v * mult)), nil
}

// FormatRate formats bits per second compactly ("100Mbit/s").
func FormatRate(bps uint64) string {
	switch {
	case bps >= 1e9 && bps%1e7 == 0:
		return strconv.FormatFloat(float64(bps)/1e9, 'f', -1, 64) + "Gbit/s"
	case bps >= 1e6 && bps%1e4 == 0:
		return strconv.FormatFloat(float64(bps)/1e6, 'f', -1, 64) + "Mbit/s"
	case bps >= 1e3 && bps%10 == 0:
		return strconv.FormatFloat(float64(bps)/1e3, 'f', -1, 64) + "kbit/s"
	}
	return strconv.FormatUint(bps, 10) + "bit/s"
}

// ParseSize parses a byte count with an optional k/m/g suffix (powers of
// 1024; a trailing "b" or "ib" is allowed).
func ParseSize(s string) (int, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "b"), "i")
	mult := 1.0
	switch {
	case strings.HasSuffix(t, "k"):
		mult, t = 1<<10, strings.TrimSuffix(t, "k")
	case strings.HasSuffix(t, "m"):
		mult, t = 1<<20, strings.TrimSuffix(t, "m")
	case strings.HasSuffix(t, "g"):
		mult, t = 1<<30, strings.TrimSuffix(t, "g")
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 || v*mult > math.MaxInt32 {
		return 0, fmt.Errorf("bad size %q (want e.g. 1514, 64k, 2m)", s)
	}
	return int(math.Round(v * mult)), nil
}

// ParseProb parses a probability given as a percentage ("1%", "0.1%") or a
// fraction ("0.01").
func ParseProb(s string) (float64, error) {
	t := strings.TrimSpace(s)
	div := 1.0
	if strings.HasSuffix(t, "%") {
		t, div = strings.TrimSuffix(t, "%"), 100
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || !(v/div >= 0 && v/div <= 1) {
		return 0, fmt.Errorf("bad probability %q (want e.g. 1%%, 0.5%%, 0.01)", s)
	}
	return v / div, nil
}

// BDP returns the bandwidth-delay product in bytes of a path with the
// given rate (bits/s) and round-trip time.
func BDP(rate uint64, rtt time.Duration) int {
	return int(float64(rate) / 8 * rtt.Seconds())
}

// MinBuffer is the smallest buffer a "bdp" buffer rounds up to: a dozen
// full-size frames, so a path with a tiny delay still has a queue.
const MinBuffer = 12 * 1514

// ParseBuffer parses a drop-tail buffer: a size ("256k", "0" = unlimited)
// or a multiple of the bandwidth-delay product ("1bdp", "0.5bdp") of a path
// with the given rate and round-trip time, at least MinBuffer.
func ParseBuffer(s string, rate uint64, rtt time.Duration) (int, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if strings.HasSuffix(t, "bdp") {
		m, err := strconv.ParseFloat(strings.TrimSuffix(t, "bdp"), 64)
		if err != nil || m <= 0 || m > 1000 {
			return 0, fmt.Errorf("bad buffer %q (want e.g. 1bdp, 0.5bdp, 256k)", s)
		}
		if rate == 0 {
			return 0, nil // no rate, no queue
		}
		return max(int(m*float64(BDP(rate, rtt))), MinBuffer), nil
	}
	n, err := ParseSize(t)
	if err != nil {
		return 0, fmt.Errorf("bad buffer %q (want e.g. 1bdp, 0.5bdp, 256k)", s)
	}
	return n, nil
}
