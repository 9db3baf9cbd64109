// The fairness mode: how N downloads of one sender share the bottleneck.
//
// In a cell, N downloads from the same endpoint start gap apart (flow i
// at i×gap after the first) and all run to the end of one common window,
// which begins After after the last start and lasts Window. A flow's
// goodput is what its client socket received within that window
// (TCP_INFO, as the main benchmark measures downloads), so every flow is
// measured over the same interval and the window leaves the flows time to
// converge first. The spread of the goodputs is the result: Jain's index
// and the worst relative deviation from the fair share total/N, for each
// repetition separately (a median over repetitions would hide exactly the
// unfair runs).
//
// A mixed cell gives every flow its own sender (FairOptions.Mixes): flow
// i downloads from the i-th sender of the mix, so one can tell whether a
// late flow's share depends on its own sender or on the incumbents'.

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ustack/ustack/netem"
	"github.com/ustack/ustack/netem/topo"
	"github.com/ustack/ustack/sim"
)

// FairPath is the default path of the fairness mode: 100 Mbit/s × 100 ms,
// no loss (with the main benchmark's one-BDP drop-tail buffer).
var FairPath = Path{Rate: 100e6, RTT: 100 * time.Millisecond}

// FairTolerance is the deviation from the fair share the report counts
// as fair enough (±25%).
const FairTolerance = 0.25

// FairOptions configure a fairness run.
type FairOptions struct {
	Flows  []int           // flows per cell (default 2 and 4)
	Gaps   []time.Duration // start gaps (nil: 0, 2 s and 4 s)
	After  time.Duration   // from the last start to the window (default 20 s)
	Window time.Duration   // the measured window (default 10 s)
	Reps   int             // repetitions of every cell (default 2)
	Paths  []Path          // default FairPath
	// Senders default to kernel BBR and ustack BBR.
	Senders []Sender
	// Mixes, if any, replace the single-sender cells: each is one cell
	// whose flow i downloads from Mixes[i] (len(mix) flows, started in
	// that order). Flows and Senders are then ignored; the senders started
	// are the mixes' distinct ones, each once, shared by its flows.
	Mixes        [][]Sender
	Ustack       UstackConfig
	Prefix       string    // namespace prefix (default "ue2e-fair")
	Log          io.Writer // progress (default os.Stderr)
	SkipAccuracy bool
}

func (o *FairOptions) defaults() {
	if len(o.Mixes) > 0 {
		o.Senders = mixSenders(o.Mixes)
	}
	if len(o.Flows) == 0 {
		o.Flows = []int{2, 4}
	}
	if o.Gaps == nil {
		o.Gaps = []time.Duration{0, 2 * time.Second, 4 * time.Second}
	}
	if o.After <= 0 {
		o.After = 20 * time.Second
	}
	if o.Window <= 0 {
		o.Window = 10 * time.Second
	}
	if o.Reps <= 0 {
		o.Reps = 2
	}
	if o.Paths == nil {
		o.Paths = []Path{FairPath}
	}
	if o.Senders == nil {
		o.Senders = []Sender{KernelBBR, UstackBBR}
	}
	if o.Prefix == "" {
		o.Prefix = "ue2e-fair"
	}
	if o.Log == nil {
		o.Log = os.Stderr
	}
}

// mixSenders are the distinct senders of the mixes, in the order of
// Senders.
func mixSenders(mixes [][]Sender) []Sender {
	var out []Sender
	for _, s := range AllSenders {
		for _, mix := range mixes {
			if slices.Contains(mix, s) {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

// mixCode is a sender's short name in a mix's label.
func mixCode(name string) string {
	switch name {
	case KernelBBR.Name:
		return "K"
	case UstackBBR.Name:
		return "U"
	case KernelCubic.Name:
		return "Kc"
	case UstackCubic.Name:
		return "Uc"
	}
	return name
}

// MixLabel is the compact name of a mix, its flows' senders in start
// order: K,K,K,U is three kernel BBR flows and then one ustack BBR flow
// (K and U are BBR, Kc and Uc CUBIC).
func MixLabel(names []string) string {
	codes := make([]string, len(names))
	for i, n := range names {
		codes[i] = mixCode(n)
	}
	return strings.Join(codes, ",")
}

// senderNames are the names of ss.
func senderNames(ss []Sender) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Name
	}
	return out
}

// FairPlan is the schedule of one cell, in time since the first start.
type FairPlan struct {
	Flows         int
	Gap           time.Duration
	After, Window time.Duration
}

// Start is when flow i starts.
func (p FairPlan) Start(i int) time.Duration { return time.Duration(i) * p.Gap }

// LastStart is when the last flow starts.
func (p FairPlan) LastStart() time.Duration { return p.Start(max(p.Flows-1, 0)) }

// From and To bound the measured window; every flow ends at To.
func (p FairPlan) From() time.Duration { return p.LastStart() + p.After }
func (p FairPlan) To() time.Duration   { return p.From() + p.Window }

// WorstDeviation is the largest relative deviation of a share from the
// fair share total/n, with its sign: −0.4 means a flow got 40% less than
// its share, +0.3 one got 30% more (0 for no flow or no traffic).
func WorstDeviation(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v
	}
	if len(x) == 0 || s == 0 {
		return 0
	}
	fair := s / float64(len(x))
	worst := 0.0
	for _, v := range x {
		if d := (v - fair) / fair; math.Abs(d) > math.Abs(worst) {
			worst = d
		}
	}
	return worst
}

// FairRun is one repetition of one cell.
type FairRun struct {
	Path Path `json:"path"`
	// Sender is the sender's name, or for a mixed cell its MixLabel.
	Sender string `json:"sender"`
	// Mix are the flows' senders in start order, in a mixed cell.
	Mix   []string      `json:"mix,omitempty"`
	Flows int           `json:"flows"`
	Gap   time.Duration `json:"gap_ns"`
	Rep   int           `json:"rep"` // from 1
	// Goodputs are the flows' goodputs in the window, in start order.
	Goodputs []float64 `json:"goodputs_bps,omitempty"`
	// Retrans are the flows' sender-side retransmitted segments over the
	// whole flow (-1: unknown).
	Retrans []int64 `json:"retrans,omitempty"`
	// Ping RTT during the window: median and 99th percentile.
	RTT50 time.Duration `json:"rtt_p50_ns"`
	RTT99 time.Duration `json:"rtt_p99_ns"`
	Error string        `json:"error,omitempty"`
}

// Total is the sum of the goodputs.
func (r *FairRun) Total() float64 {
	var s float64
	for _, g := range r.Goodputs {
		s += g
	}
	return s
}

// Jain and WorstDeviation of the run's goodputs.
func (r *FairRun) Jain() float64           { return sim.Jain(r.Goodputs) }
func (r *FairRun) WorstDeviation() float64 { return WorstDeviation(r.Goodputs) }

// Fair reports whether every flow is within FairTolerance of its share.
func (r *FairRun) Fair() bool {
	return r.Error == "" && len(r.Goodputs) > 0 && r.Total() > 0 && math.Abs(r.WorstDeviation()) <= FairTolerance
}

// FairResults is everything a fairness run measured.
type FairResults struct {
	Started  time.Time     `json:"started"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	Host     string        `json:"host"`
	Reps     int           `json:"reps"`
	After    time.Duration `json:"after_ns"`
	Window   time.Duration `json:"window_ns"`
	Accuracy *Accuracy     `json:"accuracy,omitempty"`
	Runs     []*FairRun    `json:"runs"`
	Paths    []PathStats   `json:"paths"`
	Notes    []string      `json:"notes,omitempty"`
	Senders  []Sender      `json:"senders"`
	// Mixes are the mixed cells' senders (names), in the order given.
	Mixes [][]string `json:"mixes,omitempty"`
	Load  []string   `json:"loadavg,omitempty"`
}

// Fair runs the fairness benchmark.
func Fair(ctx context.Context, fo FairOptions) (*FairResults, error) {
	fo.defaults()
	for _, n := range fo.Flows {
		if n < 1 {
			return nil, fmt.Errorf("fairness: %d flows", n)
		}
	}
	for _, g := range fo.Gaps {
		if g < 0 {
			return nil, fmt.Errorf("fairness: negative gap %v", g)
		}
	}
	for _, mix := range fo.Mixes {
		if len(mix) == 0 {
			return nil, errors.New("fairness: empty mix")
		}
	}
	res := &FairResults{Started: time.Now(), Host: hostInfo(), Reps: fo.Reps, After: fo.After, Window: fo.Window, Senders: fo.Senders}
	for _, mix := range fo.Mixes {
		res.Mixes = append(res.Mixes, senderNames(mix))
	}
	res.Load = append(res.Load, loadavg())
	defer func() { res.Load = append(res.Load, loadavg()) }()
	o := &Options{Senders: fo.Senders, Ustack: fo.Ustack, Prefix: fo.Prefix, Log: fo.Log, SkipAccuracy: fo.SkipAccuracy}
	e, notes, err := startEnv(ctx, o)
	if err != nil {
		return nil, err
	}
	defer e.close()
	res.Notes = append(res.Notes, notes...)
	if !fo.SkipAccuracy {
		if res.Accuracy, err = e.accuracy(ctx); err != nil {
			return nil, err
		}
	}
	for _, p := range fo.Paths {
		if err := e.fairPath(ctx, &fo, p, res); err != nil {
			return res, err
		}
	}
	res.Elapsed = time.Since(res.Started)
	return res, nil
}

// fairPath runs every cell on one path; repetitions are the outer loop,
// as in the main benchmark, so slow drifts of the machine spread over all
// senders.
func (e *env) fairPath(ctx context.Context, fo *FairOptions, p Path, res *FairResults) error {
	br, ps, err := e.openPath(p)
	if err != nil {
		return err
	}
	defer br.Close()
	// The counters are recorded however the loop ends.
	defer func() { res.Paths = append(res.Paths, closePath(br, ps)) }()
	// run runs one cell with a gap; eps are its flows' endpoints.
	run := func(rep int, eps []Endpoint, gap time.Duration) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		plan := FairPlan{Flows: len(eps), Gap: gap, After: fo.After, Window: fo.Window}
		r := e.fairRun(ctx, br, p, eps, plan)
		if err := ctx.Err(); err != nil {
			return err // stopped: the run is no failure of the sender
		}
		r.Rep = rep
		res.Runs = append(res.Runs, r)
		e.log("  rep %d %-13s %s", rep, r.Sender, r)
		return nil
	}
	for rep := 1; rep <= fo.Reps; rep++ {
		for _, mix := range fo.Mixes {
			eps := e.mixEndpoints(mix)
			if eps == nil {
				continue
			}
			for _, gap := range fo.Gaps {
				if err := run(rep, eps, gap); err != nil {
					return err
				}
			}
		}
		if len(fo.Mixes) > 0 {
			continue
		}
		for _, s := range fo.Senders {
			ep := e.endpoints[s.Name]
			if ep == nil {
				continue
			}
			for _, n := range fo.Flows {
				for _, gap := range fo.Gaps {
					if err := run(rep, slices.Repeat([]Endpoint{ep}, n), gap); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// mixEndpoints are the endpoints of a mix's flows; nil if a sender has
// none (a ustack sender without a ustack binary).
func (e *env) mixEndpoints(mix []Sender) []Endpoint {
	eps := make([]Endpoint, len(mix))
	for i, s := range mix {
		if eps[i] = e.endpoints[s.Name]; eps[i] == nil {
			return nil
		}
	}
	return eps
}

// fairCell names the cell of the flows' endpoints: the sender's name if
// they share one, else the mix's label and names.
func fairCell(eps []Endpoint) (sender string, mix []string) {
	names := make([]string, len(eps))
	for i, ep := range eps {
		names[i] = ep.Sender().Name
	}
	for _, n := range names {
		if n != names[0] {
			return MixLabel(names), names
		}
	}
	if len(names) == 0 {
		return "", nil
	}
	return names[0], nil
}

func (r *FairRun) String() string {
	head := fmt.Sprintf("%d flows, gap %-4v", r.Flows, r.Gap)
	if r.Error != "" {
		return head + " error: " + r.Error
	}
	return fmt.Sprintf("%s %s Mbit/s  total %s  Jain %.3f  worst %+.0f%%  retrans %s  rtt p50 %v",
		head, goodputList(r.Goodputs), mbit(r.Total()), r.Jain(), 100*r.WorstDeviation(),
		retransList(r.Retrans), r.RTT50.Round(100*time.Microsecond))
}

// fairRun runs one cell once, flow i from eps[i], and waits for the path
// to go quiet.
func (e *env) fairRun(ctx context.Context, br *netem.Bridge, p Path, eps []Endpoint, plan FairPlan) *FairRun {
	r := &FairRun{Path: p, Flows: plan.Flows, Gap: plan.Gap}
	r.Sender, r.Mix = fairCell(eps)
	// One flow failing spoils the cell: the others stop with it.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	t0 := time.Now()
	from, to := t0.Add(plan.From()), t0.Add(plan.To())
	trs := make([]*Transfer, plan.Flows)
	errs := make([]error, plan.Flows)
	var wg sync.WaitGroup
	for i := range plan.Flows {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = e.fairFlow(cctx, eps[i], t0.Add(plan.Start(i)), from, to, &trs[i])
			if errs[i] != nil {
				cancel()
			}
		}()
	}
	rtts := e.pingWindow(cctx, from, to)
	wg.Wait()
	// Report the error that stopped the cell, not the cancellations it
	// caused in the other flows.
	var first error
	for i, err := range errs {
		if err != nil && (first == nil || errors.Is(first, context.Canceled) && !errors.Is(err, context.Canceled)) {
			first = fmt.Errorf("flow %d: %w", i+1, err)
		}
	}
	if first != nil {
		r.Error = first.Error()
	} else {
		r.RTT50, r.RTT99 = Quantile(rtts, 0.5), Quantile(rtts, 0.99)
		for i, tr := range trs {
			r.Goodputs = append(r.Goodputs, tr.SteadyGoodput())
			rt := int64(-1) // unknown
			if n, ok := eps[i].Retrans(tr.Local); ok {
				rt = int64(n)
			}
			r.Retrans = append(r.Retrans, rt)
		}
	}
	// Also when stopped: the clients' resets must cross the emulator
	// before it closes, or the server keeps sending into a dead path.
	if !quiet(br, p) {
		e.log("  path not quiet after 15 s")
	}
	return r
}

// fairFlow starts one download at start and measures it in [from, to].
func (e *env) fairFlow(ctx context.Context, ep Endpoint, start, from, to time.Time, tr **Transfer) error {
	timer := time.NewTimer(time.Until(start))
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	t, err := RunTransfer(ctx, e.tp.Client, ep.Addr(),
		RunOptions{Download: true, CC: ep.DownloadCC(), SteadyFrom: from, End: to, AtEnd: ep.Snapshot})
	*tr = t
	return err
}

// pingWindow pings the server every 50 ms during [from, to] (the echo
// queues behind the flows' data) and returns the sorted RTTs; nothing if
// ctx ends first.
func (e *env) pingWindow(ctx context.Context, from, to time.Time) []time.Duration {
	sleep := func(until time.Time) bool {
		t := time.NewTimer(time.Until(until))
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
	if !sleep(from) {
		return nil
	}
	pg, err := StartPing(e.tp.Client, topo.ServerAddr.AsSlice(), 50*time.Millisecond)
	if err != nil {
		e.log("  ping: %v", err)
		return nil
	}
	sleep(to)
	rtts, _ := pg.Stop()
	return rtts
}

func goodputList(g []float64) string {
	var s []string
	for _, v := range g {
		s = append(s, mbit(v))
	}
	return strings.Join(s, ", ")
}

func retransList(r []int64) string {
	var s []string
	for _, v := range r {
		if v < 0 {
			s = append(s, "?")
		} else {
			s = append(s, fmt.Sprint(v))
		}
	}
	return strings.Join(s, ", ")
}

// FairMarkdown renders the fairness report.
func FairMarkdown(res *FairResults) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# Fairness: N downloads of one sender over an emulated path\n\n")
	p("Generated by `ustack bench e2e -fair` on %s (%s), %d repetition(s), in %v.\n",
		res.Started.Format("2006-01-02 15:04 MST"), res.Host, res.Reps, res.Elapsed.Round(time.Second))
	if len(res.Load) > 0 {
		p("Load average (1, 5, 15 min) at the start and at the end: %s.\n", strings.Join(res.Load, "; "))
	}
	p("\nThe main benchmark's setup (kernel client, `netem` between namespaces, a drop-tail buffer of one BDP),\n")
	p("with N concurrent downloads from one sender: flow i starts i×gap after the first, and every flow's\n")
	p("goodput is the bytes its client socket received (`TCP_INFO`) in the common window from %v to %v after\n", res.After, res.After+res.Window)
	p("the last start. Jain's index is (Σx)²/(n·Σx²); the worst deviation is the largest relative distance of\n")
	p("a flow's goodput from the fair share total/N, with its sign; `fair` marks runs where every flow is\n")
	p("within ±%.0f%% of it. Retransmits are the sender's per flow, over the whole flow; the RTT is ICMP echo\n", 100*FairTolerance)
	p("every 50 ms during the window. Each repetition is its own row.\n")
	if len(res.Mixes) > 0 {
		p("\nIn a mixed cell flow i downloads from the i-th sender of its list (K kernel BBR, U ustack BBR, Kc kernel\n")
		p("CUBIC, Uc ustack CUBIC; one `ustack run` per ustack sender, shared by its flows); the goodputs and\n")
		p("retransmits are in the same order.\n")
	}
	p("\n")
	if a := res.Accuracy; a != nil {
		p("## Emulator accuracy\n\n```\n%s\n```\n\n", a.String())
	}
	var paths []Path
	for _, r := range res.Runs {
		if !containsPath(paths, r.Path) {
			paths = append(paths, r.Path)
		}
	}
	for _, path := range paths {
		p("## %s: per-flow goodput, Mbit/s\n\n", path)
		p("| sender | flows | gap | rep | per-flow goodput | total | Jain | worst dev. | fair (±%.0f%%) | retransmits | RTT p50 / p99, ms |\n", 100*FairTolerance)
		p("|---|---:|---:|---:|---|---:|---:|---:|:---:|---|---:|\n")
		for _, r := range sortedRuns(res, path) {
			head := fmt.Sprintf("| %s | %d | %v | %d |", senderLabel(res.Senders, r.Sender), r.Flows, r.Gap, r.Rep)
			if r.Error != "" {
				p("%s failed: %s | | | | | | |\n", head, strings.ReplaceAll(r.Error, "|", "/"))
				continue
			}
			fair := "no"
			if r.Fair() {
				fair = "yes"
			}
			p("%s %s | %s | %.3f | %+.0f%% | %s | %s | %s / %s |\n", head, goodputList(r.Goodputs), mbit(r.Total()),
				r.Jain(), 100*r.WorstDeviation(), fair, retransList(r.Retrans), ms(r.RTT50), ms(r.RTT99))
		}
		p("\n")
		p("%s", fairSummary(res, path))
	}
	writeCountersAndNotes(&b, res.Paths, res.Notes)
	return b.String()
}

// fairCells are the cells' Sender keys in table order: the senders, then
// the mixes in the order given, then any other (runs of a mix with one
// sender have that sender's key).
func fairCells(res *FairResults) []string {
	var keys []string
	add := func(k string) {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	for _, s := range res.Senders {
		add(s.Name)
	}
	for _, mix := range res.Mixes {
		add(MixLabel(mix))
	}
	for _, r := range res.Runs {
		add(r.Sender)
	}
	return keys
}

// fairSummary is the per-sender (and per-mix) summary table of the runs
// on path (empty if none succeeded).
func fairSummary(res *FairResults, path Path) string {
	var b strings.Builder
	for _, key := range fairCells(res) {
		var jains []float64
		fair, worst := 0, 0.0
		for _, r := range res.Runs {
			if r.Path != path || r.Sender != key || r.Error != "" {
				continue
			}
			if r.Fair() {
				fair++
			}
			jains = append(jains, r.Jain())
			if d := r.WorstDeviation(); math.Abs(d) > math.Abs(worst) {
				worst = d
			}
		}
		if len(jains) == 0 {
			continue
		}
		if b.Len() == 0 {
			fmt.Fprintf(&b, "| sender | runs fair (±%.0f%%) | Jain min / median | worst deviation, largest |\n|---|---:|---:|---:|\n", 100*FairTolerance)
		}
		sort.Float64s(jains)
		fmt.Fprintf(&b, "| %s | %d of %d | %.3f / %.3f | %+.0f%% |\n", senderLabel(res.Senders, key), fair, len(jains), jains[0], medianF(jains), 100*worst)
	}
	if b.Len() > 0 {
		b.WriteString("\n")
	}
	return b.String()
}

// sortedRuns are the runs on path in table order: sender or mix (in the
// order of the run, fairCells), flows, gap, repetition.
func sortedRuns(res *FairResults, path Path) []*FairRun {
	order := map[string]int{}
	for i, k := range fairCells(res) {
		order[k] = i
	}
	var runs []*FairRun
	for _, r := range res.Runs {
		if r.Path == path {
			runs = append(runs, r)
		}
	}
	sort.SliceStable(runs, func(i, j int) bool {
		a, b := runs[i], runs[j]
		if a.Sender != b.Sender {
			return order[a.Sender] < order[b.Sender]
		}
		if a.Flows != b.Flows {
			return a.Flows < b.Flows
		}
		if a.Gap != b.Gap {
			return a.Gap < b.Gap
		}
		return a.Rep < b.Rep
	})
	return runs
}

func senderLabel(ss []Sender, name string) string {
	for _, s := range ss {
		if s.Name == name {
			return s.Label()
		}
	}
	return name
}

// WriteFairOut writes the fairness results to out: a .json file, or a
// directory that receives fairness.md. It returns the file written.
func WriteFairOut(res *FairResults, out string) (string, error) {
	if strings.HasSuffix(out, ".json") {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return "", err
		}
		return out, os.WriteFile(out, append(b, '\n'), 0o644)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	f := filepath.Join(out, "fairness.md")
	return f, os.WriteFile(f, []byte(FairMarkdown(res)), 0o644)
}
