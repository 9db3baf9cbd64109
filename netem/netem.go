// Package netem is a real-time path emulator: it bridges two network
// interfaces (typically veth ends in two network namespaces) through the
// same path model the simulator uses, so a kernel TCP, ustack, or any other
// stack can be measured over a path with a chosen rate, delay, loss,
// drop-tail buffer, jitter and reordering on a host whose kernel has no
// netem qdisc.
//
// Model. Each direction is one sim.Pipe inside its own sim.Network, and the
// network's virtual clock is driven by the real monotonic clock: before a
// frame read from the wire is handed to Pipe.Transmit the network is run up
// to the real time of the read (RunUntil(now)), so the frame enters the
// pipe at the instant it arrived, and frames whose scheduled arrival is due
// are delivered by running the network up to the real time again. Every
// modelling decision (serialization at Rate with carried fractional
// nanoseconds, drop-tail Buffer, Loss, Jitter, Reorder, Duplicate, MTU)
// is therefore exactly sim's; see sim/pipe.go. Frames are Ethernet frames
// as read from an AF_PACKET socket, so Rate counts link-header bytes too
// (like tc's rate on an Ethernet device) but no preamble or FCS.
//
// Threads. Per direction there is one reader goroutine (blocked in the
// netpoller on the ingress link) and one scheduler goroutine. A reader
// transmits the frames of a whole batch into the pipe under the direction's
// mutex and, when the pipe has frames due right away (zero delay), writes
// them out itself. The scheduler sleeps on a timerfd armed at the next
// departure minus the measured wake-up latency (a departure more than 2 ms
// away is first slept for until 1 ms before it: an idle CPU wakes late from
// a long sleep), spins for the remaining few microseconds when the next
// departure is closer than SpinWindow, and
// writes every frame due at once with one WriteBatch (sendmmsg). A reader
// that makes the next departure earlier re-arms the timer. Writes on one
// egress link are serialized in departure order by a write mutex taken
// before the model mutex is released.
//
// Offloads. The rate model is honest only if frames stay at most MTU
// sized: GRO/LRO on the bridged interfaces and TSO/GSO/checksum offload on
// the endpoints must be off (see SetOffloads); frames larger than the
// interface MTU are still forwarded but counted as Oversize.
package netem

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ustack/ustack/sim"
)

// Config configures a Bridge.
type Config struct {
	A, B string // interfaces to bridge

	// AB is the path from A to B (frames read on A, written to B); BA the
	// reverse. Rate 0 means unlimited, Buffer 0 unlimited.
	AB, BA sim.PathConfig

	// Seed keys the random streams (loss, jitter, reordering).
	Seed uint64

	// SpinWindow: when the next departure is this close, the scheduler
	// spins instead of sleeping (default 50µs; negative disables spinning).
	SpinWindow time.Duration

	// Batch is the most frames read or written per system call (default 64).
	Batch int

	// Realtime, if positive, runs the two scheduler threads with
	// SCHED_FIFO at this priority (1-99), so other load on the machine
	// delays departures less. Needs CAP_SYS_NICE. A scheduler spins at most
	// SpinWindow before sleeping, and the kernel's RT throttling bounds it.
	Realtime int
}

// DefaultSpinWindow is Config.SpinWindow's default.
const DefaultSpinWindow = 50 * time.Microsecond

func (c *Config) spin() time.Duration {
	switch {
	case c.SpinWindow == 0:
		return DefaultSpinWindow
	case c.SpinWindow < 0:
		return 0
	}
	return c.SpinWindow
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.A == "" || c.B == "" {
		return errors.New("netem: need two interfaces")
	}
	if c.A == c.B {
		return fmt.Errorf("netem: cannot bridge %s to itself", c.A)
	}
	for _, p := range []*sim.PathConfig{&c.AB, &c.BA} {
		if err := checkPath(p); err != nil {
			return err
		}
	}
	return nil
}

func checkPath(p *sim.PathConfig) error {
	prob := func(name string, v float64) error {
		if !(v >= 0 && v <= 1) {
			return fmt.Errorf("netem: %s: %s %v outside [0, 1]", p.Name, name, v)
		}
		return nil
	}
	for _, e := range []error{prob("loss", p.Loss), prob("reorder", p.Reorder), prob("duplicate", p.Duplicate)} {
		if e != nil {
			return e
		}
	}
	if p.Delay < 0 || p.Jitter < 0 || p.ReorderDelay < 0 || p.Buffer < 0 {
		return fmt.Errorf("netem: %s: negative delay, jitter or buffer", p.Name)
	}
	return nil
}

// Describe formats a path configuration on one line.
func Describe(p sim.PathConfig) string {
	var b strings.Builder
	if p.Rate == 0 {
		b.WriteString("rate=unlimited")
	} else {
		b.WriteString("rate=" + FormatRate(p.Rate))
	}
	fmt.Fprintf(&b, " delay=%v loss=%g%%", p.Delay, p.Loss*100)
	if p.Buffer > 0 {
		fmt.Fprintf(&b, " buffer=%dB", p.Buffer)
	} else {
		b.WriteString(" buffer=unlimited")
	}
	if p.Jitter > 0 {
		fmt.Fprintf(&b, " jitter=%v", p.Jitter)
	}
	if p.Reorder > 0 {
		fmt.Fprintf(&b, " reorder=%g%%/%v", p.Reorder*100, p.ReorderDelay)
	}
	if p.Duplicate > 0 {
		fmt.Fprintf(&b, " dup=%g%%", p.Duplicate*100)
	}
	return b.String()
}
