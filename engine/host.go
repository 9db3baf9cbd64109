// Package engine assembles a complete host — the IP layer, TCP and the
// registered congestion-control algorithms — behind one Poll/NextDeadline
// pair, and runs application callbacks between polls. The simulator drives
// hosts in virtual time; the real-time runtime drives the same Host from its
// event loop.
package engine

import (
	"github.com/ustack/ustack/clock"
	"github.com/ustack/ustack/ip"
	"github.com/ustack/ustack/tcp"

	_ "github.com/ustack/ustack/cc" // registers reno, cubic, bbr
)

// Config configures a host.
type Config struct {
	Name string
	IP   ip.Config
	TCP  tcp.Options
}

// Host is one network stack.
type Host struct {
	Name string
	IP   *ip.Stack
	TCP  *tcp.Stack

	ready []func(now clock.Time) // application work queued by Defer
}

// New creates a host with no interfaces.
func New(cfg Config) (*Host, error) {
	h := &Host{Name: cfg.Name}
	h.IP = ip.NewStack(cfg.IP)
	t, err := tcp.NewStack(h.IP, cfg.TCP)
	if err != nil {
		return nil, err
	}
	h.TCP = t
	h.IP.RegisterTransport(t)
	return h, nil
}

// Defer queues f to run at the next Poll, outside protocol processing.
// Connection Notify callbacks use it: they fire in the middle of segment
// processing, where calling back into the connection is not allowed.
func (h *Host) Defer(f func(now clock.Time)) { h.ready = append(h.ready, f) }

// Poll runs timers and protocol work due at now, then queued application
// work (which may make more protocol work due at now; NextDeadline says so).
func (h *Host) Poll(now clock.Time) {
	h.IP.Poll(now)
	for len(h.ready) > 0 {
		r := h.ready
		h.ready = nil
		for _, f := range r {
			f(now)
		}
		h.IP.Poll(now)
	}
}

// NextDeadline returns when the host next needs Poll.
func (h *Host) NextDeadline() clock.Time {
	if len(h.ready) > 0 {
		return h.IP.Now()
	}
	return h.IP.NextDeadline()
}
