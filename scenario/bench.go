package scenario

// Benchmarks in simulation: the experiments behind `ustack bench sim` and
// the scenario tests, each returning its measurements and a printable
// table. Every run is in virtual time and deterministic from its seed; the
// tests run fewer cells than the command (BenchOptions.Quick, Only).
//
// Conventions of all tables: goodput is application bytes received per
// second (Mbit/s) over the measurement window, after startup; the limit of
// a path is rate × (1 − loss), and "%" is goodput / limit. At MSS 1448 in
// 1514-byte frames headers take 4.4% of the link, so 95.6% is the most any
// TCP can show. Hosts use 64 MB socket buffers (as LKL users set tcp_wmem
// and tcp_rmem), so that windows, not buffers, are what is measured.

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ustack/ustack/sim"
	"github.com/ustack/ustack/tcp"
)

// BenchTCP is the host TCP configuration of the benchmarks.
var BenchTCP = tcp.Options{
	SendBuffer: tcp.BufSizes{Min: 4096, Default: 16384, Max: 64 << 20},
	RecvBuffer: tcp.BufSizes{Min: 4096, Default: 131072, Max: 64 << 20},
}

// PayloadEfficiency is the fraction of a full frame that is payload (MSS
// 1448 with timestamps, in a 1514-byte Ethernet frame).
const PayloadEfficiency = 1448.0 / 1514.0

// BenchOptions select the size of a benchmark run.
type BenchOptions struct {
	Seed  uint64
	Quick bool     // shorter runs, fewer cells
	Only  []string // RunAll: run only these tables (by name)
}

func (o BenchOptions) dur(full, quick time.Duration) time.Duration {
	if o.Quick {
		return quick
	}
	return full
}

// Base paths of the tables.
var (
	Path100M = Path{Rate: 100e6, RTT: 100 * time.Millisecond}
	Path10M  = Path{Rate: 10e6, RTT: 200 * time.Millisecond}
	Path1G   = Path{Rate: 1e9, RTT: 20 * time.Millisecond}
)

func mbps(bps float64) string { return fmt.Sprintf("%.1f", bps/1e6) }

func pathName(p Path) string {
	rate := fmt.Sprintf("%g Mbit/s", float64(p.Rate)/1e6)
	if p.Rate >= 1e9 {
		rate = fmt.Sprintf("%g Gbit/s", float64(p.Rate)/1e9)
	}
	return fmt.Sprintf("%s × %v", rate, p.RTT)
}

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
}

// ---- Goodput under random loss ----

// GoodputCell is one flow alone on a path.
type GoodputCell struct {
	CC      string
	Path    Path
	Goodput float64 // bits/s over the window
	Retrans float64 // fraction of sent bytes retransmitted
	Mode    string  // BBR mode at the end
}

// Fraction is goodput / limit.
func (c GoodputCell) Fraction() float64 { return c.Goodput / c.Path.Limit() }

// RunGoodput runs one flow of cc alone on p for dur, measured after warmup.
func RunGoodput(seed uint64, p Path, cc string, dur, warmup time.Duration) (GoodputCell, error) {
	r, err := Experiment{Seed: seed, Path: p, TCP: BenchTCP, Flows: []FlowSpec{{CC: cc}},
		Duration: dur, Warmup: warmup, Sample: dur}.Run()
	if err != nil {
		return GoodputCell{}, fmt.Errorf("%s %s loss %g: %w", cc, pathName(p), p.Loss, err)
	}
	f := r.Flows[0]
	return GoodputCell{CC: cc, Path: p, Goodput: f.Goodput, Retrans: f.Retransmitted(), Mode: f.Final.CCInfo.Mode}, nil
}

// GoodputRow is one path in the goodput table.
type GoodputRow struct {
	Path  Path
	Cells []GoodputCell // one per algorithm, in the table's order
}

// GoodputTable is BBR next to CUBIC and Reno on lossy paths.
type GoodputTable struct {
	CCs  []string
	Rows []GoodputRow
	Dur  time.Duration
}

// GoodputLosses are the loss rates of the 100 Mbit/s rows.
var GoodputLosses = []float64{0, 0.001, 0.01, 0.02, 0.05, 0.10, 0.15, 0.20}

// RunGoodputTable runs every (path, algorithm) cell.
func RunGoodputTable(o BenchOptions) (*GoodputTable, error) {
	t := &GoodputTable{CCs: []string{"bbr", "cubic", "reno"}, Dur: o.dur(30*time.Second, 15*time.Second)}
	var paths []Path
	for _, l := range GoodputLosses {
		p := Path100M
		p.Loss = l
		paths = append(paths, p)
	}
	for _, base := range []Path{Path10M, Path1G} {
		for _, l := range []float64{0, 0.01} {
			p := base
			p.Loss = l
			paths = append(paths, p)
		}
	}
	for _, p := range paths {
		row := GoodputRow{Path: p}
		for _, cc := range t.CCs {
			c, err := RunGoodput(o.Seed, p, cc, t.Dur, 5*time.Second)
			if err != nil {
				return nil, err
			}
			row.Cells = append(row.Cells, c)
		}
		t.Rows = append(t.Rows, row)
	}
	return t, nil
}

// Print writes the table.
func (t *GoodputTable) Print(w io.Writer) {
	fmt.Fprintf(w, "Goodput, one flow, buffer 1 BDP, random loss on the data path; Mbit/s from 5 s to %v (%% of rate×(1−loss)):\n", t.Dur)
	tw := newTable(w)
	fmt.Fprint(tw, "path\tloss\tlimit\t")
	for _, cc := range t.CCs {
		fmt.Fprintf(tw, "%s\t", strings.ToUpper(cc))
	}
	fmt.Fprint(tw, "BBR/CUBIC\tBBR retrans\t\n")
	for _, r := range t.Rows {
		fmt.Fprintf(tw, "%s\t%g%%\t%s\t", pathName(r.Path), r.Path.Loss*100, mbps(r.Path.Limit()))
		for _, c := range r.Cells {
			fmt.Fprintf(tw, "%s (%.0f%%)\t", mbps(c.Goodput), 100*c.Fraction())
		}
		fmt.Fprintf(tw, "%s\t%.1f%%\t\n", ratio(r.Cells[0].Goodput, r.Cells[1].Goodput), 100*r.Cells[0].Retrans)
	}
	tw.Flush()
	fmt.Fprintf(w, "(headers cap any TCP at %.1f%% of the limit)\n", 100*PayloadEfficiency)
}

func ratio(a, b float64) string {
	if b <= 0 {
		return "inf"
	}
	return fmt.Sprintf("%.1f×", a/b)
}

// ---- Queueing delay with a deep buffer ----

// QueueCell is one flow alone with a 10-BDP buffer.
type QueueCell struct {
	CC                 string
	Goodput            float64
	SRTT50, SRTT99     time.Duration // sender's smoothed RTT, sampled every 10 ms
	QDelay50, QDelay99 time.Duration // bottleneck queue delay of every packet
	MaxQueue           int           // bytes
	Drops              uint64
}

// QueueTable is BBR and CUBIC on 100 Mbit/s × 100 ms with a 10-BDP buffer.
type QueueTable struct {
	Path          Path
	Cells         []QueueCell
	Warmup, Dur   time.Duration
	BufferInBytes int
}

// RunQueueTable runs it.
func RunQueueTable(o BenchOptions) (*QueueTable, error) {
	p := Path100M
	p.Buffer = 10 * p.BDP()
	t := &QueueTable{Path: p, Warmup: 10 * time.Second, Dur: o.dur(40*time.Second, 30*time.Second), BufferInBytes: p.Buffer}
	for _, cc := range []string{"bbr", "cubic"} {
		r, err := Experiment{Seed: o.Seed, Path: p, TCP: BenchTCP, Flows: []FlowSpec{{CC: cc}},
			Duration: t.Dur, Warmup: t.Warmup, Sample: 10 * time.Millisecond}.Run()
		if err != nil {
			return nil, fmt.Errorf("queue %s: %w", cc, err)
		}
		f := &r.Flows[0]
		t.Cells = append(t.Cells, QueueCell{CC: cc, Goodput: f.Goodput,
			SRTT50: f.srttQuantile(0.5), SRTT99: f.srttQuantile(0.99),
			QDelay50: r.AB.QueueDelay.Quantile(0.5), QDelay99: r.AB.QueueDelay.Quantile(0.99),
			MaxQueue: r.AB.MaxQueueBytes, Drops: r.AB.DropBuffer})
	}
	return t, nil
}

// Print writes the table.
func (t *QueueTable) Print(w io.Writer) {
	fmt.Fprintf(w, "Queueing, %s, buffer 10 BDP (%.1f MB = %v), no loss; from %v to %v:\n",
		pathName(t.Path), float64(t.BufferInBytes)/1e6, time.Duration(float64(t.BufferInBytes)*8/float64(t.Path.Rate)*1e9), t.Warmup, t.Dur)
	tw := newTable(w)
	fmt.Fprint(tw, "cc\tgoodput\tsRTT p50\tp50/base\tsRTT p99\tqueue delay p50\tp99\tmax queue\tdrops\t\n")
	for _, c := range t.Cells {
		fmt.Fprintf(tw, "%s\t%s\t%v\t%.2f×\t%v\t%v\t%v\t%.0f kB\t%d\t\n", strings.ToUpper(c.CC), mbps(c.Goodput),
			c.SRTT50.Round(100*time.Microsecond), float64(c.SRTT50)/float64(t.Path.RTT), c.SRTT99.Round(100*time.Microsecond),
			c.QDelay50.Round(10*time.Microsecond), c.QDelay99.Round(10*time.Microsecond), float64(c.MaxQueue)/1e3, c.Drops)
	}
	tw.Flush()
}

// ---- Fairness and convergence ----

// FairCell is n flows sharing the bottleneck.
type FairCell struct {
	CCs      []string
	RTT      time.Duration // the path's base RTT
	Gap      time.Duration // start of flow i is i×Gap
	Buffer   float64       // in BDPs
	Goodputs []float64
	Window   [2]time.Duration
}

// Jain is the cell's fairness index.
func (c FairCell) Jain() float64 { return sim.Jain(c.Goodputs) }

// Worst is the largest relative deviation of a flow from the fair share.
func (c FairCell) Worst() float64 {
	var s float64
	for _, g := range c.Goodputs {
		s += g
	}
	fair := s / float64(len(c.Goodputs))
	w := 0.0
	for _, g := range c.Goodputs {
		w = max(w, math.Abs(g/fair-1))
	}
	return w
}

// RunFair runs flows of the given algorithms started gap apart on
// 100 Mbit/s × 100 ms with a buffer of bdps BDPs, measured over
// [last start + after, last start + after + window].
func RunFair(seed uint64, ccs []string, gap time.Duration, bdps float64, after, window time.Duration) (FairCell, error) {
	p := Path100M
	p.Buffer = int(bdps * float64(p.BDP()))
	return RunFairPath(seed, p, ccs, gap, after, window)
}

// RunFairPath is RunFair on path p (its Buffer in bytes).
func RunFairPath(seed uint64, p Path, ccs []string, gap time.Duration, after, window time.Duration) (FairCell, error) {
	var fl []FlowSpec
	for i, cc := range ccs {
		fl = append(fl, FlowSpec{CC: cc, Start: time.Duration(i) * gap})
	}
	last := time.Duration(len(ccs)-1) * gap
	r, err := Experiment{Seed: seed, Path: p, TCP: BenchTCP, Flows: fl, Duration: last + after + window,
		Warmup: last + after, Sample: window}.Run()
	if err != nil {
		return FairCell{}, err
	}
	return FairCell{CCs: ccs, RTT: p.RTT, Gap: gap, Buffer: float64(p.Buffer) / float64(p.BDP()), Goodputs: r.Goodputs(),
		Window: [2]time.Duration{last + after, last + after + window}}, nil
}

// ConvergeCells are the convergence rows of the fairness table: four
// flows started 2 s apart in a 1-BDP buffer, measured later than the
// issue's 20 s, or on a shorter RTT (BBR converges in rounds, and 20 s is
// 200 rounds at 100 ms but 2000 at 10 ms).
var ConvergeCells = []struct {
	RTT, After time.Duration
}{
	{100 * time.Millisecond, 60 * time.Second},
	{100 * time.Millisecond, 120 * time.Second},
	{10 * time.Millisecond, 20 * time.Second},
}

// RunConverge runs one convergence cell: four flows of cc started gap
// apart on 100 Mbit/s with the given base RTT and a 1-BDP buffer,
// measured over the window that begins after the last start.
func RunConverge(seed uint64, cc string, rtt, gap, after, window time.Duration) (FairCell, error) {
	p := Path100M
	p.RTT = rtt
	p.Buffer = p.BDP()
	return RunFairPath(seed, p, repeat(cc, 4), gap, after, window)
}

// FairTable is the fairness table.
type FairTable struct {
	Same     []FairCell // n BBR flows
	Mixed    []FairCell // BBR against CUBIC
	Converge []FairCell // 4 BBR flows 2 s apart, later or on a shorter RTT
}

func repeat(s string, n int) []string {
	v := make([]string, n)
	for i := range v {
		v[i] = s
	}
	return v
}

// RunFairTable runs 2 and 4 BBR flows started 0, 2 and 4 s apart, for
// "bbr" and "bbr-hi", and one BBR flow against one CUBIC flow with shallow
// and deep buffers.
func RunFairTable(o BenchOptions) (*FairTable, error) {
	t := &FairTable{}
	window := o.dur(20*time.Second, 10*time.Second)
	for _, cc := range []string{"bbr", "bbr-hi"} {
		for _, n := range []int{2, 4} {
			for _, gap := range []time.Duration{0, 2 * time.Second, 4 * time.Second} {
				c, err := RunFair(o.Seed, repeat(cc, n), gap, 1, 20*time.Second, window)
				if err != nil {
					return nil, err
				}
				t.Same = append(t.Same, c)
			}
		}
	}
	for _, b := range []float64{1, 10} {
		c, err := RunFair(o.Seed, []string{"bbr", "cubic"}, 0, b, 20*time.Second, window)
		if err != nil {
			return nil, err
		}
		t.Mixed = append(t.Mixed, c)
	}
	for _, cc := range []string{"bbr", "bbr-hi"} {
		for _, cv := range ConvergeCells {
			c, err := RunConverge(o.Seed, cc, cv.RTT, 2*time.Second, cv.After, window)
			if err != nil {
				return nil, err
			}
			t.Converge = append(t.Converge, c)
		}
	}
	return t, nil
}

// Print writes the table.
func (t *FairTable) Print(w io.Writer) {
	fmt.Fprintf(w, "Fairness, %s, flows started Δ apart, goodput (Mbit/s) 20 s after the last start:\n", pathName(Path100M))
	printFairCells(w, append(append([]FairCell{}, t.Same...), t.Mixed...))
	if len(t.Converge) > 0 {
		fmt.Fprintf(w, "\nConvergence, 100 Mbit/s, 1-BDP buffer, 4 flows started 2 s apart, measured later or on a shorter RTT:\n")
		printFairCells(w, t.Converge)
	}
}

func printFairCells(w io.Writer, cells []FairCell) {
	tw := newTable(w)
	fmt.Fprint(tw, "flows\tRTT\tbuffer\tΔ\twindow\tper-flow goodput\ttotal\tJain\tworst vs fair\t\n")
	for _, c := range cells {
		g := make([]string, len(c.Goodputs))
		var tot float64
		for i, v := range c.Goodputs {
			g[i] = fmt.Sprintf("%s %s", strings.ToUpper(c.CCs[i]), mbps(v))
			tot += v
		}
		fmt.Fprintf(tw, "%d\t%v\t%g BDP\t%v\t%v–%v\t%s\t%s\t%.3f\t%+.0f%%\t\n", len(c.CCs), c.RTT, c.Buffer, c.Gap, c.Window[0], c.Window[1],
			strings.Join(g, ", "), mbps(tot), c.Jain(), 100*c.Worst())
	}
	tw.Flush()
}

// ---- PROBE_RTT ----

// ProbeRTTEpisode is one stay in PROBE_RTT.
type ProbeRTTEpisode struct {
	Enter, Leave time.Duration
	AtMin        time.Duration // time with in-flight <= 4 packets (10 ms samples)
	MinCwnd      int           // packets
	MaxInFlight  int           // packets, sampled after the first RTT in the mode
}

// ProbeRTTTrace is a long BBR flow's mode trace.
type ProbeRTTTrace struct {
	Path     Path
	Dur      time.Duration
	Modes    []ModeChange
	Episodes []ProbeRTTEpisode
	Goodput  float64
}

// RunProbeRTT runs one BBR flow for dur on p, sampling every 10 ms.
func RunProbeRTT(seed uint64, p Path, dur time.Duration) (*ProbeRTTTrace, error) {
	const period = 10 * time.Millisecond
	r, err := Experiment{Seed: seed, Path: p, TCP: BenchTCP, Flows: []FlowSpec{{CC: "bbr"}},
		Duration: dur, Warmup: 5 * time.Second, Sample: period, SampleFrom: period}.Run()
	if err != nil {
		return nil, err
	}
	f := &r.Flows[0]
	t := &ProbeRTTTrace{Path: p, Dur: dur, Modes: f.Modes, Goodput: f.Goodput}
	for _, ep := range f.Episodes("probe_rtt", dur) {
		e := ProbeRTTEpisode{Enter: ep[0], Leave: ep[1], MinCwnd: math.MaxInt}
		for _, s := range f.Samples {
			if s.At < ep[0] || s.At >= ep[1] {
				continue
			}
			mss := s.Info.MSS
			if s.Info.InFlight <= 4*mss {
				e.AtMin += period
			}
			e.MinCwnd = min(e.MinCwnd, s.Info.Cwnd/mss)
			if s.At >= ep[0]+p.RTT+20*time.Millisecond { // the queue has drained
				e.MaxInFlight = max(e.MaxInFlight, (s.Info.InFlight+mss-1)/mss)
			}
		}
		t.Episodes = append(t.Episodes, e)
	}
	return t, nil
}

// Print writes the trace.
func (t *ProbeRTTTrace) Print(w io.Writer) {
	fmt.Fprintf(w, "PROBE_RTT, one BBR flow on %s, buffer 1 BDP, %v (goodput %s Mbit/s):\n", pathName(t.Path), t.Dur, mbps(t.Goodput))
	fmt.Fprint(w, "  modes:")
	for _, m := range t.Modes {
		fmt.Fprintf(w, " %.3fs→%s", m.At.Seconds(), m.To)
	}
	fmt.Fprintln(w)
	tw := newTable(w)
	fmt.Fprint(tw, "enter\tsince previous\tduration\tin-flight ≤ 4 pkts\tmin cwnd\tmax in-flight after 1 RTT\t\n")
	for i, e := range t.Episodes {
		since := "-"
		if i > 0 {
			since = (e.Enter - t.Episodes[i-1].Enter).Round(time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%v\t%s\t%v\t%v\t%d pkts\t%d pkts\t\n", e.Enter.Round(time.Millisecond), since,
			(e.Leave - e.Enter).Round(time.Millisecond), e.AtMin, e.MinCwnd, e.MaxInFlight)
	}
	tw.Flush()
}

// ---- Policer ----

// PolicerCell is one BBR flow through a token-bucket policer.
type PolicerCell struct {
	Policer   sim.TokenBucket
	Goodput   float64
	Bandwidth float64 // final CCInfo bandwidth, bits/s
	Pacing    float64 // final pacing rate, bits/s
	Gain      float64 // final pacing gain
	InRange   float64 // fraction of 500 ms samples with bw within ±15% of the policer
	Drops     uint64
	Retrans   float64
}

// PolicerTable is BBR through policers on 100 Mbit/s × 100 ms.
type PolicerTable struct {
	CCs   []string
	Cells [][]PolicerCell // per policer rate, per CC (BBR first)
	Dur   time.Duration
}

// RunPolicer runs one flow of cc through a policer on the A→B path.
func RunPolicer(seed uint64, cc string, tb sim.TokenBucket, dur time.Duration) (PolicerCell, error) {
	p := Path100M
	p.Policer = &tb
	r, err := Experiment{Seed: seed, Path: p, TCP: BenchTCP, Flows: []FlowSpec{{CC: cc}},
		Duration: dur, Warmup: 10 * time.Second, Sample: 500 * time.Millisecond}.Run()
	if err != nil {
		return PolicerCell{}, err
	}
	f := &r.Flows[0]
	c := PolicerCell{Policer: tb, Goodput: f.Goodput, Bandwidth: float64(f.Final.CCInfo.Bandwidth) * 8,
		Pacing: float64(f.Final.PacingRate) * 8, Gain: f.Final.CCInfo.PacingGain, Drops: r.AB.DropPolicer, Retrans: f.Retransmitted()}
	n := 0
	for _, s := range f.Samples {
		if math.Abs(float64(s.Info.CCInfo.Bandwidth)*8/float64(tb.Rate)-1) <= 0.15 {
			n++
		}
	}
	if len(f.Samples) > 0 {
		c.InRange = float64(n) / float64(len(f.Samples))
	}
	return c, nil
}

// RunPolicerTable runs BBR and CUBIC through 10, 30 and 50 Mbit/s policers
// with 100 kB buckets.
func RunPolicerTable(o BenchOptions) (*PolicerTable, error) {
	t := &PolicerTable{CCs: []string{"bbr", "cubic"}, Dur: o.dur(40*time.Second, 30*time.Second)}
	for _, rate := range []uint64{10e6, 30e6, 50e6} {
		var row []PolicerCell
		for _, cc := range t.CCs {
			c, err := RunPolicer(o.Seed, cc, sim.TokenBucket{Rate: rate, Burst: 100000}, t.Dur)
			if err != nil {
				return nil, err
			}
			row = append(row, c)
		}
		t.Cells = append(t.Cells, row)
	}
	return t, nil
}

// Print writes the table.
func (t *PolicerTable) Print(w io.Writer) {
	fmt.Fprintf(w, "Policer (token bucket, 100 kB) on %s A→B, buffer 1 BDP; from 10 s to %v:\n", pathName(Path100M), t.Dur)
	tw := newTable(w)
	fmt.Fprint(tw, "policer\tBBR goodput\tBBR bw\tpacing\tgain\tbw within ±15%\tpolicer drops\tretrans\tCUBIC goodput\tretrans\t\n")
	for _, row := range t.Cells {
		b, c := row[0], row[1]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.2f\t%.0f%%\t%d\t%.1f%%\t%s\t%.1f%%\t\n", mbps(float64(b.Policer.Rate)), mbps(b.Goodput), mbps(b.Bandwidth),
			mbps(b.Pacing), b.Gain, 100*b.InRange, b.Drops, 100*b.Retrans, mbps(c.Goodput), 100*c.Retrans)
	}
	tw.Flush()
}

// ---- Recovery from slow-start overshoot ----

// OvershootCell is one classic flow on a clean path with a 1-BDP buffer.
type OvershootCell struct {
	CC         string
	Drops      uint64        // bottleneck drops over the run
	FirstDrop  time.Duration // time of the first drop
	Timeouts   uint64
	Recovered  time.Duration // first second (after the first drop) at >= 90% of the rate
	Last10     float64       // goodput over the last 10 s, bits/s
	MinAfter3  float64       // smallest 1 s goodput after the first 3 s, bits/s
	PerSecond  []float64
	RetransSeg uint64
}

// RunOvershoot runs cc alone on 100 Mbit/s × 100 ms, 1 BDP, no loss, for dur.
func RunOvershoot(seed uint64, cc string, dur time.Duration) (OvershootCell, error) {
	c := OvershootCell{CC: cc, FirstDrop: -1, Recovered: -1}
	r, err := Experiment{Seed: seed, Path: Path100M, TCP: BenchTCP, Flows: []FlowSpec{{CC: cc}},
		Duration: dur, Sample: dur, SampleFrom: dur,
		Setup: func(pr *Pair) {
			pr.AB.SetCapture(func(e sim.Event) {
				if e.Kind == sim.EventDrop && c.FirstDrop < 0 {
					c.FirstDrop = time.Duration(e.Time)
				}
			})
		}}.Run()
	if err != nil {
		return c, err
	}
	f := &r.Flows[0]
	c.Drops = r.AB.Dropped()
	c.Timeouts = r.TCPA.Timeouts
	c.RetransSeg = f.Final.TotalRetrans
	c.PerSecond = f.PerSecond
	c.Last10 = f.Flow.Goodput(clockAt(dur-10*time.Second), clockAt(dur))
	c.MinAfter3 = math.Inf(1)
	for i, g := range f.PerSecond {
		if i >= 3 {
			c.MinAfter3 = min(c.MinAfter3, g)
		}
		if c.Recovered < 0 && c.FirstDrop >= 0 && time.Duration(i)*time.Second > c.FirstDrop && g >= 0.9*float64(Path100M.Rate) {
			c.Recovered = time.Duration(i) * time.Second
		}
	}
	return c, nil
}

// OvershootTable is CUBIC and Reno recovering from slow start's overshoot.
type OvershootTable struct {
	Dur   time.Duration
	Cells []OvershootCell
}

// RunOvershootTable runs CUBIC and Reno.
func RunOvershootTable(o BenchOptions) (*OvershootTable, error) {
	t := &OvershootTable{Dur: 20 * time.Second}
	for _, cc := range []string{"cubic", "reno"} {
		c, err := RunOvershoot(o.Seed, cc, t.Dur)
		if err != nil {
			return nil, err
		}
		t.Cells = append(t.Cells, c)
	}
	return t, nil
}

// Print writes the table.
func (t *OvershootTable) Print(w io.Writer) {
	fmt.Fprintf(w, "Recovery from slow-start overshoot, %s, buffer 1 BDP, no random loss, %v:\n", pathName(Path100M), t.Dur)
	tw := newTable(w)
	fmt.Fprint(tw, "cc\tdrops\tfirst drop\tretransmitted\tRTOs\t1 s at ≥ 90% from\tlast 10 s\tworst 1 s after 3 s\t\n")
	for _, c := range t.Cells {
		fmt.Fprintf(tw, "%s\t%d\t%v\t%d segs\t%d\t%v\t%s (%.0f%%)\t%s\t\n", strings.ToUpper(c.CC), c.Drops, c.FirstDrop.Round(time.Millisecond),
			c.RetransSeg, c.Timeouts, c.Recovered, mbps(c.Last10), 100*c.Last10/float64(Path100M.Rate), mbps(c.MinAfter3))
	}
	tw.Flush()
	for _, c := range t.Cells {
		s := make([]string, len(c.PerSecond))
		for i, g := range c.PerSecond {
			s[i] = fmt.Sprintf("%.0f", g/1e6)
		}
		fmt.Fprintf(w, "  %s per second: %s\n", strings.ToUpper(c.CC), strings.Join(s, " "))
	}
}

// ---- All of it ----

// RunAll runs every table and prints each as soon as it is done.
func RunAll(w io.Writer, o BenchOptions) error {
	fmt.Fprintf(w, "ustack bench sim: seed %d, quick %v (virtual time; deterministic)\n\n", o.Seed, o.Quick)
	steps := []struct {
		name string
		run  func() (interface{ Print(io.Writer) }, error)
	}{
		{"goodput", func() (interface{ Print(io.Writer) }, error) { return RunGoodputTable(o) }},
		{"overshoot", func() (interface{ Print(io.Writer) }, error) { return RunOvershootTable(o) }},
		{"queue", func() (interface{ Print(io.Writer) }, error) { return RunQueueTable(o) }},
		{"fairness", func() (interface{ Print(io.Writer) }, error) { return RunFairTable(o) }},
		{"probe_rtt", func() (interface{ Print(io.Writer) }, error) {
			return RunProbeRTT(o.Seed, Path100M, o.dur(45*time.Second, 25*time.Second))
		}},
		{"policer", func() (interface{ Print(io.Writer) }, error) { return RunPolicerTable(o) }},
	}
	for _, s := range steps {
		if len(o.Only) > 0 && !slices.Contains(o.Only, s.name) {
			continue
		}
		start := time.Now()
		t, err := s.run()
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		t.Print(w)
		fmt.Fprintf(w, "(%s: %.1f s real time)\n\n", s.name, time.Since(start).Seconds())
	}
	return nil
}
