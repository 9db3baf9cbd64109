package scenario

// Experiments: several bulk flows from A to B sharing the A→B bottleneck of
// one Pair, run for a fixed virtual time and measured over a window. Each
// flow is its own connection (own port), so they compete in the pipe's
// single drop-tail queue exactly as flows through one bottleneck router do.
// While running, the sender of every flow is sampled (tcp.Conn.Info) at a
// fixed period, and a BBR sender's mode changes are recorded through
// cc.BBR.OnModeChange. The tests and `ustack bench sim` are built on this.

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/ustack/ustack/cc"
	"github.com/ustack/ustack/clock"
	"github.com/ustack/ustack/sim"
	"github.com/ustack/ustack/tcp"
)

// FlowSpec is one flow of an Experiment.
type FlowSpec struct {
	CC    string        // congestion control of the sender
	Start time.Duration // when the receiver connects
}

// Experiment is a set of flows over one path, run for Duration of virtual
// time and measured from Warmup to Duration.
type Experiment struct {
	Seed     uint64
	Path     Path
	TCP      tcp.Options // both hosts (CongestionControl is per flow)
	Flows    []FlowSpec
	Duration time.Duration
	Warmup   time.Duration // start of the measurement window
	// Sample is the period at which senders' Info is sampled (default
	// 100 ms); SampleFrom delays the first sample (default Warmup).
	Sample     time.Duration
	SampleFrom time.Duration
	// Setup, if set, is called after the pair is built, before flows start
	// (e.g. to change one pipe's configuration).
	Setup func(pr *Pair)
}

// ModeChange is one BBR mode transition.
type ModeChange struct {
	At       time.Duration
	From, To string
}

// InfoSample is one periodic sample of a sender.
type InfoSample struct {
	At   time.Duration
	Info tcp.Info
}

// FlowResult is what was measured of one flow.
type FlowResult struct {
	Spec    FlowSpec
	Flow    *Flow
	Goodput float64 // bits/s over the measurement window
	// PerSecond is the goodput in each whole second from 0 to Duration.
	PerSecond []float64
	Samples   []InfoSample // sender, every Sample from SampleFrom
	Modes     []ModeChange // BBR only
	Final     tcp.Info     // sender at Duration
}

// Result is what was measured of an Experiment.
type Result struct {
	Exp   Experiment
	Flows []FlowResult
	// AB is the A→B pipe's statistics over the measurement window
	// (counters and queue delay reset at Warmup).
	AB sim.PipeStats
	// TCPA is the sending host's TCP counters over the whole run
	// (timeouts, TLP probes, RACK loss marks...).
	TCPA tcp.Stats
}

// Limit is the best possible aggregate goodput on the path in bits/s as
// the tables count it: rate × (1 − loss). (Headers take another ~4.4% of
// the link at MSS 1448 in 1514-byte frames, so no TCP reaches 100%.)
func (p Path) Limit() float64 { return float64(p.Rate) * (1 - p.Loss) }

// Run runs the experiment.
func (e Experiment) Run() (*Result, error) {
	if e.Sample == 0 {
		e.Sample = 100 * time.Millisecond
	}
	if e.SampleFrom == 0 {
		e.SampleFrom = e.Warmup
	}
	pr, err := NewPair(e.Seed, e.Path, e.TCP, e.TCP)
	if err != nil {
		return nil, err
	}
	if e.Setup != nil {
		e.Setup(pr)
	}
	res := &Result{Exp: e, Flows: make([]FlowResult, len(e.Flows))}
	flows := make([]*Flow, len(e.Flows))
	for i, s := range e.Flows {
		fr := &res.Flows[i]
		fr.Spec = s
		flows[i] = pr.StartFlow(clock.Time(s.Start), pr.A, pr.B, -1, FlowOptions{
			CC: s.CC,
			// Fixed ports and BBR seeds: the defaults count flows and
			// BBR instances process-wide, so results would depend on
			// what ran before.
			Port: uint16(6000 + i),
			OnAccept: func(now clock.Time, c *tcp.Conn) {
				if b, ok := c.CongestionControl().(*cc.BBR); ok {
					b.Reseed(pr.Net.DeriveSeed(fmt.Sprintf("bbr%d", i)))
					b.OnModeChange = func(now clock.Time, from, to string) {
						fr.Modes = append(fr.Modes, ModeChange{time.Duration(now), from, to})
					}
				}
			},
		})
		fr.Flow = flows[i]
	}
	pr.Net.At(clock.Time(e.Warmup), func(clock.Time) { *pr.AB.Stats() = sim.PipeStats{} })
	for t := e.SampleFrom; t <= e.Duration; t += e.Sample {
		pr.Net.At(clock.Time(t), func(now clock.Time) {
			for i, f := range flows {
				if f.Sender != nil {
					res.Flows[i].Samples = append(res.Flows[i].Samples, InfoSample{time.Duration(now), f.Sender.Info()})
				}
			}
		})
	}
	pr.Net.RunUntil(clock.Time(e.Duration))
	if err := pr.Net.Err(); err != nil {
		return nil, fmt.Errorf("seed %d: %w", e.Seed, err)
	}
	for i, f := range flows {
		if f.Err != nil {
			return nil, fmt.Errorf("seed %d: flow %d: %w", e.Seed, i, f.Err)
		}
		fr := &res.Flows[i]
		fr.Goodput = f.Goodput(clock.Time(e.Warmup), clock.Time(e.Duration))
		for s := time.Duration(0); s+time.Second <= e.Duration; s += time.Second {
			fr.PerSecond = append(fr.PerSecond, f.Goodput(clock.Time(s), clock.Time(s+time.Second)))
		}
		if f.Sender != nil {
			fr.Final = f.Sender.Info()
		}
	}
	res.AB = *pr.AB.Stats()
	res.TCPA = pr.A.TCP.Stats()
	return res, nil
}

// Total returns the aggregate goodput of all flows over the window.
func (r *Result) Total() float64 {
	var s float64
	for _, f := range r.Flows {
		s += f.Goodput
	}
	return s
}

// Goodputs returns the flows' goodputs over the window.
func (r *Result) Goodputs() []float64 {
	g := make([]float64, len(r.Flows))
	for i, f := range r.Flows {
		g[i] = f.Goodput
	}
	return g
}

// MedianSRTT returns the median of a flow's sampled smoothed RTT.
func (f *FlowResult) MedianSRTT() time.Duration {
	return f.srttQuantile(0.5)
}

func (f *FlowResult) srttQuantile(q float64) time.Duration {
	if len(f.Samples) == 0 {
		return 0
	}
	v := make([]time.Duration, len(f.Samples))
	for i, s := range f.Samples {
		v[i] = s.Info.SRTT
	}
	slices.Sort(v)
	return v[int(math.Round(q*float64(len(v)-1)))]
}

// Retransmitted returns the fraction of sent data bytes retransmitted.
func (f *FlowResult) Retransmitted() float64 {
	if f.Final.BytesSent == 0 {
		return 0
	}
	return float64(f.Final.BytesRetrans) / float64(f.Final.BytesSent)
}

// Episodes returns the [enter, leave) intervals of a BBR mode; an episode
// still open at the end is closed at end.
func (f *FlowResult) Episodes(mode string, end time.Duration) [][2]time.Duration {
	var ep [][2]time.Duration
	open := false
	for _, m := range f.Modes {
		if m.To == mode && !open {
			ep = append(ep, [2]time.Duration{m.At, end})
			open = true
		} else if m.From == mode && open {
			ep[len(ep)-1][1] = m.At
			open = false
		}
	}
	return ep
}

func clockAt(d time.Duration) clock.Time { return clock.Time(d) }
