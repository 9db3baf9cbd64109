// The benchmark: paths × senders × directions × repetitions.
//
// For each path a fresh emulator is started between the client and server
// namespaces (rate and one-way delay RTT/2 in both directions, random loss
// in both directions, a drop-tail buffer of one BDP). Within a path the
// repetitions are the outer loop, so slow drifts of the machine spread
// over all senders. Each transfer runs for a fixed duration while the
// client pings the server every 50 ms; the echo crosses the same
// bottleneck queues as the data, so the ping RTT is the RTT under load.
// Between transfers the path is left to go quiet.

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/ustack/ustack/netem"
	"github.com/ustack/ustack/netem/topo"
	"github.com/ustack/ustack/sim"
)

// Path is one emulated path.
type Path struct {
	Rate uint64        // bits/s, both directions
	RTT  time.Duration // base round-trip time
	Loss float64       // random loss, each direction
}

func (p Path) String() string {
	return fmt.Sprintf("%s × %v, loss %g%%", netem.FormatRate(p.Rate), p.RTT, p.Loss*100)
}

// Family is the path without its loss.
func (p Path) Family() string { return fmt.Sprintf("%s × %v RTT", netem.FormatRate(p.Rate), p.RTT) }

// Ideal is rate × (1 − loss), in bits/s.
func (p Path) Ideal() float64 { return float64(p.Rate) * (1 - p.Loss) }

// Config returns the emulator configuration of the path.
func (p Path) Config() (ab, ba sim.PathConfig) {
	buf := max(netem.BDP(p.Rate, p.RTT), netem.MinBuffer)
	c := sim.PathConfig{Rate: p.Rate, Delay: p.RTT / 2, Loss: p.Loss, Buffer: buf}
	return c, c
}

func paths(rate uint64, rtt time.Duration, losses ...float64) []Path {
	var ps []Path
	for _, l := range losses {
		ps = append(ps, Path{rate, rtt, l / 100})
	}
	return ps
}

// FullPaths are the paths of the full benchmark.
func FullPaths() []Path {
	var ps []Path
	ps = append(ps, paths(100e6, 100*time.Millisecond, 0, 0.1, 1, 2, 5, 10)...)
	ps = append(ps, paths(10e6, 200*time.Millisecond, 0, 1, 5)...)
	ps = append(ps, paths(1e9, 10*time.Millisecond, 0, 1)...)
	return ps
}

// QuickPaths are the paths of -quick.
func QuickPaths() []Path { return paths(100e6, 100*time.Millisecond, 0, 1) }

// Options configure a benchmark run.
type Options struct {
	Quick    bool
	Reps     int           // repetitions of every cell (default 2, quick 1)
	Duration time.Duration // per transfer (default 6s, quick 5s)
	// LossyDuration is the length of the BBR senders' transfers on paths
	// with 5% loss or more (default 15s; quick: Duration). There a
	// transfer's goodput depends much on how STARTUP went, so short runs
	// rank the senders by luck; CUBIC gets almost nothing there at any
	// length, so its transfers stay short.
	LossyDuration time.Duration
	Paths         []Path // default FullPaths or QuickPaths
	// UploadLosses: uploads run only on paths with these losses (default
	// 0 and 1%; quick: 0). Nil means the default, empty means none.
	UploadLosses []float64
	Senders      []Sender // default all four
	Ustack       UstackConfig
	Prefix       string    // namespace prefix (default "ue2e")
	Log          io.Writer // progress (default os.Stderr)
	SkipAccuracy bool
	// GRO says on which endpoints' veths generic receive offload is on
	// (topo.SetGRO), for the kernel server and the ustack TAP alike.
	GRO GRO
}

// GRO names the endpoint veths with generic receive offload on.
type GRO string

const (
	GROOff    GRO = ""       // neither (frames reach both kernels one by one)
	GROServer GRO = "server" // the server's veth: uploads arrive coalesced
	GROBoth   GRO = "both"   // the client's too: downloads arrive coalesced
)

// ParseGRO parses "off", "server" or "both".
func ParseGRO(s string) (GRO, error) {
	switch s {
	case "off":
		return GROOff, nil
	case "server":
		return GROServer, nil
	case "both":
		return GROBoth, nil
	}
	return GROOff, fmt.Errorf("GRO %q: want off, server or both", s)
}

func (g GRO) String() string {
	if g == GROOff {
		return "off"
	}
	return string(g)
}

func (o *Options) defaults() {
	if o.Reps <= 0 {
		o.Reps = 2
		if o.Quick {
			o.Reps = 1
		}
	}
	if o.Duration <= 0 {
		o.Duration = 6 * time.Second
		if o.Quick {
			o.Duration = 5 * time.Second
		}
	}
	if o.LossyDuration <= 0 {
		o.LossyDuration = 15 * time.Second
		if o.Quick {
			o.LossyDuration = o.Duration
		}
	}
	o.LossyDuration = max(o.LossyDuration, o.Duration)
	if o.Paths == nil {
		o.Paths = FullPaths()
		if o.Quick {
			o.Paths = QuickPaths()
		}
	}
	if o.UploadLosses == nil {
		o.UploadLosses = []float64{0, 0.01}
		if o.Quick {
			o.UploadLosses = []float64{0}
		}
	}
	if o.Senders == nil {
		o.Senders = Senders
	}
	if o.Prefix == "" {
		o.Prefix = "ue2e"
	}
	if o.Log == nil {
		o.Log = os.Stderr
	}
}

// Sample is one transfer's measurements.
type Sample struct {
	Goodput float64 `json:"goodput_bps"`
	Bytes   uint64  `json:"bytes"`
	// Retrans is the sender's retransmitted segments (-1: unknown).
	Retrans int64 `json:"retrans"`
	// RTT under load from ping: median and 99th percentile, and how many
	// echoes were answered of those sent.
	RTT50   time.Duration `json:"rtt_p50_ns"`
	RTT99   time.Duration `json:"rtt_p99_ns"`
	Pings   int           `json:"pings"`
	PingsTx int           `json:"pings_sent"`
	// Sender-side socket RTT where the sender is a kernel socket we can
	// read (uploads), for comparison.
	SenderSRTT time.Duration `json:"sender_srtt_ns,omitempty"`
}

// Cell is one (path, sender, direction) with its repetitions.
type Cell struct {
	Path     Path     `json:"path"`
	Sender   string   `json:"sender"`
	Download bool     `json:"download"`
	Samples  []Sample `json:"samples"`
	Errors   []string `json:"errors,omitempty"`
}

// Median and Min of goodput over the samples (0 if none).
func (c *Cell) Median() float64 { return medianF(c.goodputs()) }
func (c *Cell) Min() float64 {
	g := c.goodputs()
	if len(g) == 0 {
		return 0
	}
	return g[0]
}

func (c *Cell) goodputs() []float64 {
	var g []float64
	for _, s := range c.Samples {
		g = append(g, s.Goodput)
	}
	sort.Float64s(g)
	return g
}

func medianF(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// medianD is the median of durations (0 if none).
func medianD(v []time.Duration) time.Duration {
	f := make([]float64, len(v))
	for i, d := range v {
		f[i] = float64(d)
	}
	return time.Duration(medianF(f))
}

// PathStats are the emulator's counters for one path.
type PathStats struct {
	Path    Path          `json:"path"`
	IdleRTT time.Duration `json:"idle_rtt_ns"`
	Summary []string      `json:"netem"`
}

// Results is everything a run measured.
type Results struct {
	Started  time.Time     `json:"started"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	Host     string        `json:"host"`
	Quick    bool          `json:"quick"`
	Reps     int           `json:"reps"`
	Duration time.Duration `json:"duration_ns"`
	// LossyDuration is the BBR senders' transfer length at ≥ 5% loss.
	LossyDuration time.Duration `json:"lossy_duration_ns,omitempty"`
	Accuracy      *Accuracy     `json:"accuracy,omitempty"`
	Cells         []*Cell       `json:"cells"`
	Paths         []PathStats   `json:"paths"`
	Notes         []string      `json:"notes,omitempty"`
	Senders       []Sender      `json:"senders"`
	// UstackArgs are the extra arguments every `ustack run` got.
	UstackArgs []string `json:"ustack_args,omitempty"`
	// GRO is where generic receive offload was on ("": nowhere).
	GRO GRO `json:"gro,omitempty"`
	// Load is /proc/loadavg at the start and the end: other work on the
	// machine disturbs the emulator's timing.
	Load []string `json:"loadavg,omitempty"`
}

// Cell returns the cell for (path, sender, direction), or nil.
func (r *Results) Cell(p Path, sender string, download bool) *Cell {
	for _, c := range r.Cells {
		if c.Path == p && c.Sender == sender && c.Download == download {
			return c
		}
	}
	return nil
}

// env is the running benchmark environment.
type env struct {
	o         *Options
	tp        *topo.Topo
	srv       *Server
	endpoints map[string]Endpoint
	log       func(format string, args ...any)
	tmpDir    string // removed by close
}

const serverPort = 5201

// Bench runs the benchmark.
func Bench(ctx context.Context, o Options) (*Results, error) {
	o.defaults()
	res := &Results{Started: time.Now(), Quick: o.Quick, Reps: o.Reps, Duration: o.Duration, LossyDuration: o.LossyDuration, Senders: o.Senders,
		UstackArgs: o.Ustack.ExtraArgs, GRO: o.GRO}
	res.Host = hostInfo()
	res.Load = append(res.Load, loadavg())
	defer func() { res.Load = append(res.Load, loadavg()) }()
	e, notes, err := startEnv(ctx, &o)
	if err != nil {
		return nil, err
	}
	defer e.close()
	res.Notes = append(res.Notes, notes...)

	if !o.SkipAccuracy {
		if res.Accuracy, err = e.accuracy(ctx); err != nil {
			return nil, err
		}
	}
	for _, p := range o.Paths {
		if err := e.path(ctx, p, res); err != nil {
			return res, err
		}
	}
	res.Elapsed = time.Since(res.Started)
	return res, nil
}

// startEnv builds the topology, starts the bulk server in it and an
// endpoint for each of o.Senders (`ustack run` for the ustack ones; they
// are skipped, with a note, when o.Ustack.Bin is empty). On error
// everything started is stopped and removed again; otherwise the caller
// must call close.
func startEnv(ctx context.Context, o *Options) (e *env, notes []string, err error) {
	e = &env{o: o, endpoints: map[string]Endpoint{}}
	e.log = func(format string, args ...any) { fmt.Fprintf(o.Log, format+"\n", args...) }
	if e.tp, err = topo.New(o.Prefix); err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			e.close()
			e = nil
		}
	}()
	switch o.GRO {
	case GROOff:
	case GROServer, GROBoth:
		if err = e.tp.SetGRO(e.tp.Server, topo.ServerIf, true); err != nil {
			return e, nil, err
		}
		if o.GRO == GROBoth {
			if err = e.tp.SetGRO(e.tp.Client, topo.ClientIf, true); err != nil {
				return e, nil, err
			}
		}
	default:
		return e, nil, fmt.Errorf("e2e: GRO %q: want off, server or both", string(o.GRO))
	}
	if e.srv, err = Listen(e.tp.Server, fmt.Sprintf("%s:%d", topo.ServerAddr, serverPort)); err != nil {
		return e, nil, err
	}
	if o.Ustack.Dir == "" {
		if e.tmpDir, err = os.MkdirTemp("", "ustack-e2e-"); err != nil {
			return e, nil, err
		}
		o.Ustack.Dir = e.tmpDir
	}
	for i, s := range o.Senders {
		if !s.Ustack {
			e.endpoints[s.Name] = &kernelEndpoint{s: s, srv: e.srv}
			continue
		}
		if o.Ustack.Bin == "" {
			notes = append(notes, fmt.Sprintf("%s: skipped (no ustack binary)", s.Name))
			continue
		}
		ep, err := startUstack(ctx, e.tp, o.Ustack, s, i+1, fmt.Sprintf("%s:%d", topo.ServerAddr, serverPort))
		if err != nil {
			return e, nil, err
		}
		e.endpoints[s.Name] = ep
	}
	return e, notes, nil
}

// close stops the endpoints and the server and removes the namespaces.
func (e *env) close() {
	for _, ep := range e.endpoints {
		ep.Close()
	}
	if e.srv != nil {
		e.srv.Close()
	}
	if err := e.tp.Close(); err != nil {
		e.log("cleanup: %v", err)
	}
	if e.tmpDir != "" {
		os.RemoveAll(e.tmpDir)
	}
}

// hostInfo describes the machine for the report.
func hostInfo() string {
	h, _ := os.Hostname()
	s := fmt.Sprintf("%s, %d CPUs, %s/%s", h, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		s += ", Linux " + strings.TrimSpace(string(b))
	}
	return s
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// bridge starts the emulator for a path.
func (e *env) bridge(p Path) (*netem.Bridge, error) {
	ab, ba := p.Config()
	return e.tp.Bridge(netem.Config{AB: ab, BA: ba, Seed: uint64(time.Now().UnixNano())})
}

// idleRTT pings for d and returns the sorted samples.
func (e *env) idleRTT(d time.Duration) ([]time.Duration, error) {
	pg, err := StartPing(e.tp.Client, topo.ServerAddr.AsSlice(), 20*time.Millisecond)
	if err != nil {
		return nil, err
	}
	time.Sleep(d)
	s, _ := pg.Stop()
	return s, nil
}

// openPath bridges the namespaces with path p and measures its idle RTT;
// the caller closes the bridge.
func (e *env) openPath(p Path) (*netem.Bridge, PathStats, error) {
	ps := PathStats{Path: p}
	br, err := e.bridge(p)
	if err != nil {
		return nil, ps, err
	}
	idle, err := e.idleRTT(500 * time.Millisecond)
	if err != nil {
		br.Close()
		return nil, ps, err
	}
	ps.IdleRTT = Quantile(idle, 0.5)
	e.log("path %s: idle RTT %v", p, ps.IdleRTT.Round(10*time.Microsecond))
	return br, ps, nil
}

// closePath returns ps with br's counters.
func closePath(br *netem.Bridge, ps PathStats) PathStats {
	ab, ba := br.Stats()
	ps.Summary = []string{netem.FormatStats(ab), netem.FormatStats(ba)}
	return ps
}

func (e *env) path(ctx context.Context, p Path, res *Results) error {
	br, ps, err := e.openPath(p)
	if err != nil {
		return err
	}
	defer br.Close()
	upload := false
	for _, l := range e.o.UploadLosses {
		if l == p.Loss {
			upload = true
		}
	}
	for rep := 0; rep < e.o.Reps; rep++ {
		for _, s := range e.o.Senders {
			ep := e.endpoints[s.Name]
			if ep == nil {
				continue
			}
			for _, download := range []bool{true, false} {
				if !download && !upload {
					continue
				}
				c := res.Cell(p, s.Name, download)
				if c == nil {
					c = &Cell{Path: p, Sender: s.Name, Download: download}
					res.Cells = append(res.Cells, c)
				}
				if err := ctx.Err(); err != nil {
					return err
				}
				smp, err := e.transfer(ctx, br, p, ep, download)
				dir := "upload"
				if download {
					dir = "download"
				}
				if err != nil {
					c.Errors = append(c.Errors, err.Error())
					e.log("  rep %d %-13s %-8s error: %v", rep+1, s.Name, dir, err)
					continue
				}
				c.Samples = append(c.Samples, smp)
				e.log("  rep %d %-13s %-8s %8.2f Mbit/s  retrans %5d  rtt p50 %v p99 %v",
					rep+1, s.Name, dir, smp.Goodput/1e6, smp.Retrans,
					smp.RTT50.Round(100*time.Microsecond), smp.RTT99.Round(100*time.Microsecond))
			}
		}
	}
	res.Paths = append(res.Paths, closePath(br, ps))
	return nil
}

// transfer runs one measured transfer and waits for the path to go quiet.
func (e *env) transfer(ctx context.Context, br *netem.Bridge, p Path, ep Endpoint, download bool) (Sample, error) {
	smp := Sample{Retrans: -1}
	pg, err := StartPing(e.tp.Client, topo.ServerAddr.AsSlice(), 50*time.Millisecond)
	if err != nil {
		return smp, err
	}
	o := RunOptions{Download: download, Duration: e.o.transferDuration(p, ep.Sender()), CC: ep.Sender().CC}
	if download {
		o.CC = ep.DownloadCC()
		o.AtEnd = ep.Snapshot
	}
	tr, err := RunTransfer(ctx, e.tp.Client, ep.Addr(), o)
	rtts, sent := pg.Stop()
	if err == nil {
		smp.Goodput, smp.Bytes = tr.Goodput(), tr.Bytes
		smp.RTT50, smp.RTT99 = Quantile(rtts, 0.5), Quantile(rtts, 0.99)
		smp.Pings, smp.PingsTx = len(rtts), sent
		if download {
			if n, ok := ep.Retrans(tr.Local); ok {
				smp.Retrans = int64(n)
			}
		} else if tr.Sender != nil {
			smp.Retrans = int64(tr.Sender.TotalRetrans)
			smp.SenderSRTT = tr.Sender.SRTT
		}
	}
	if !quiet(br, p) {
		e.log("  path not quiet after 15 s")
	}
	return smp, err
}

// quiet waits until no frame has entered the emulator for two RTTs (at
// least 300 ms, at most 15 s): the reset of the last connection went
// through and nothing of it is still being retransmitted. It reports
// whether the path went quiet.
func quiet(br *netem.Bridge, p Path) bool {
	gap := max(2*p.RTT, 300*time.Millisecond)
	deadline := time.Now().Add(15 * time.Second)
	count := func() uint64 {
		ab, ba := br.Stats()
		return ab.Path.PacketsIn + ba.Path.PacketsIn
	}
	last, since := count(), time.Now()
	for time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		if n := count(); n != last {
			last, since = n, time.Now()
		} else if time.Since(since) >= gap {
			return true
		}
	}
	return false
}

// Accuracy is the emulator check: a kernel BBR download on a lossless
// 100 Mbit/s path, and the idle ping RTT against the configured one.
type Accuracy struct {
	Path          Path          `json:"path"`
	IdleRTT50     time.Duration `json:"idle_rtt_p50_ns"`
	IdleRTTMin    time.Duration `json:"idle_rtt_min_ns"`
	IdleRTTMax    time.Duration `json:"idle_rtt_max_ns"`
	Goodput       float64       `json:"goodput_bps"`
	SteadyGoodput float64       `json:"steady_goodput_bps"`
	// WireRate is what the emulator delivered server→client during the
	// steady window, Ethernet headers included.
	Late99  time.Duration `json:"late_p99_ns"`
	RTTOK   bool          `json:"rtt_ok"`
	RateOK  bool          `json:"rate_ok"`
	Summary []string      `json:"netem"`
}

// AccuracyPath is the path of the accuracy check.
var AccuracyPath = Path{Rate: 100e6, RTT: 40 * time.Millisecond}

func (a *Accuracy) String() string {
	ok := func(b bool) string {
		if b {
			return "ok"
		}
		return "FAIL"
	}
	return fmt.Sprintf("emulator accuracy (%s, 1 BDP buffer):\n"+
		"  idle ping RTT: median %v (min %v, max %v), configured %v ± 1ms: %s\n"+
		"  kernel BBR download: %.2f Mbit/s over the whole transfer, %.2f Mbit/s after 2 s (want ≥ 95): %s\n"+
		"  frames delivered late by the scheduler: p99 %v",
		a.Path, a.IdleRTT50.Round(time.Microsecond), a.IdleRTTMin.Round(time.Microsecond), a.IdleRTTMax.Round(time.Microsecond),
		a.Path.RTT, ok(a.RTTOK), a.Goodput/1e6, a.SteadyGoodput/1e6, ok(a.RateOK), a.Late99)
}

func (e *env) accuracy(ctx context.Context) (*Accuracy, error) {
	dur := 10 * time.Second
	if e.o.Quick {
		dur = 6 * time.Second
	}
	acc, err := MeasureAccuracy(ctx, e.tp, e.srv, dur)
	if err != nil {
		return nil, fmt.Errorf("accuracy check: %w", err)
	}
	e.log("%s", acc)
	return acc, nil
}

// MeasureAccuracy runs the accuracy check in a topology with the bulk
// server running: one second of idle pings, then a kernel BBR download of
// duration dur (the steady goodput leaves out the first 2 s).
func MeasureAccuracy(ctx context.Context, tp *topo.Topo, srv *Server, dur time.Duration) (*Accuracy, error) {
	a := &Accuracy{Path: AccuracyPath}
	ab, ba := a.Path.Config()
	br, err := tp.Bridge(netem.Config{AB: ab, BA: ba, Seed: uint64(time.Now().UnixNano())})
	if err != nil {
		return nil, err
	}
	defer br.Close()
	pg, err := StartPing(tp.Client, topo.ServerAddr.AsSlice(), 20*time.Millisecond)
	if err != nil {
		return nil, err
	}
	time.Sleep(time.Second)
	idle, _ := pg.Stop()
	if len(idle) == 0 {
		return nil, errors.New("no ping reply")
	}
	a.IdleRTT50, a.IdleRTTMin, a.IdleRTTMax = Quantile(idle, 0.5), idle[0], idle[len(idle)-1]
	d := a.IdleRTT50 - a.Path.RTT
	a.RTTOK = d >= -time.Millisecond && d <= time.Millisecond
	tr, err := RunTransfer(ctx, tp.Client, srv.Addr().String(),
		RunOptions{Download: true, CC: "bbr", Duration: dur, Warmup: 2 * time.Second})
	if err != nil {
		return nil, err
	}
	srv.SenderStats(tr.Local, 5*time.Second)
	a.Goodput, a.SteadyGoodput = tr.Goodput(), tr.SteadyGoodput()
	a.RateOK = a.SteadyGoodput >= 95e6
	sab, sba := br.Stats()
	a.Late99 = max(sab.Late.Quantile(0.99), sba.Late.Quantile(0.99))
	a.Summary = []string{netem.FormatStats(sab), netem.FormatStats(sba)}
	quiet(br, a.Path)
	return a, nil
}

// transferDuration is how long a transfer of sender s on path p lasts:
// LossyDuration for the BBR senders ("bbr", "bbr-hi") at 5% loss or more.
func (o *Options) transferDuration(p Path, s Sender) time.Duration {
	if p.Loss >= 0.05 && strings.HasPrefix(s.CC, "bbr") {
		return o.LossyDuration
	}
	return o.Duration
}
