// ustack bench e2e: the end-to-end benchmark in network namespaces (root).
//
//	ustack bench e2e [-quick] [-reps N] [-dur D] [-gro off|server|both] [-out DIR|FILE.json] [-json FILE]
//	ustack bench e2e -from results.json -out docs/
//	ustack bench e2e -fair [-fair-flows 2,4] [-fair-gaps 0,2s,4s] [-fair-after D] [-fair-window D]
//	ustack bench e2e -fair -fair-mix kernel-bbr,kernel-bbr,ustack-bbr [-fair-mix ...] [-fair-gaps ...]
//
// A kernel client downloads and uploads through `netem` from a kernel
// server with CUBIC and with BBR, and from the same server behind
// `ustack run` with BBR and CUBIC (this binary, started in the server
// namespace). -gro (default server) turns on GRO on the server's veth,
// after the emulator, for the kernel server and ustack's TAP alike: a
// receiving host's NIC coalesces TCP segments, a veth does not unless
// told to (topo.SetGRO). The report (markdown tables and a PNG plot) goes to -out,
// the raw results to -json; the tables are also printed. See package
// netem/e2e.
//
// -fair measures fairness instead: N concurrent downloads of one sender
// on 100 Mbit/s × 100 ms (e2e.Fair); -out DIR then receives fairness.md.
// -fair-mix (repeatable) runs mixed cells instead, one sender per flow.

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ustack/ustack/netem"
	"github.com/ustack/ustack/netem/e2e"
)

func init() {
	benchModes["e2e"] = benchMode{"kernel CUBIC/BBR vs ustack BBR/CUBIC through a real-time path emulator, in namespaces (root)", runBenchE2E}
}

func runBenchE2E(args []string) error {
	fs := flag.NewFlagSet("bench e2e", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "a few cells (100 Mbit/s × 100 ms, loss 0 and 1%), one repetition: a smoke test")
	reps := fs.Int("reps", 0, "repetitions of every cell (default 2; -quick 1)")
	dur := fs.Duration("dur", 0, "duration of each transfer (default 6s; -quick 5s)")
	lossyDur := fs.Duration("lossy-dur", 0, "duration of the BBR senders' transfers at ≥ 5% loss (default 15s; -quick: -dur)")
	out := fs.String("out", "", "write results.md and goodput.png into this `DIR` (or the JSON to FILE.json)")
	jsonOut := fs.String("json", "", "also write the raw results to this `FILE` (for -from)")
	from := fs.String("from", "", "regenerate the report from this results.json instead of measuring")
	ustack := fs.String("ustack", "", "ustack `BINARY` for the ustack cells (default: this program)")
	noUstack := fs.Bool("no-ustack", false, "skip the ustack cells (kernel senders only)")
	noAccuracy := fs.Bool("no-accuracy", false, "skip the emulator accuracy check")
	prefix := fs.String("prefix", "", "prefix of the namespaces created (and removed) (default \"ue2e\"; -fair \"ue2e-fair\", so it can run beside the main benchmark)")
	timeout := fs.Duration("timeout", 40*time.Minute, "give up after this long")
	only := fs.String("paths", "", "run only these paths: comma-separated `RATE/RTT/LOSS`, e.g. 100mbit/100ms/5%,1gbit/10ms/0")
	senders := fs.String("senders", "", "run only these senders: comma-separated `NAMES` of "+senderNameList())
	ustackArgs := fs.String("ustack-args", "-offload 0x8883", "extra `ARGS` for every `ustack run` (space-separated); the default turns on the TAP's TSO and checksum offloads, as LKL users set LKL_HIJACK_OFFLOAD; \"\" for a plain TAP")
	groFlag := fs.String("gro", "server", "generic receive offload on the endpoints' veths, after the emulator, as a receiving NIC has it: off, server (uploads reach the kernel server and ustack's TAP coalesced) or both (downloads reach the client coalesced too); not with -fair")
	keep := fs.String("keep", "", "keep the ustack instances' control sockets and logs in `DIR` (to watch them with ustack ss -socket)")
	nice := fs.Int("nice", -10, "nice value for the benchmark (emulator, client, server, ustack run), so other load on the machine disturbs the timing less; 0 leaves it")
	fair := fs.Bool("fair", false, "measure fairness: N concurrent downloads of one sender (default senders kernel-bbr,ustack-bbr; path 100mbit/100ms/0)")
	fairFlows := fs.String("fair-flows", "2,4", "-fair: numbers of concurrent flows, comma-separated")
	fairGaps := fs.String("fair-gaps", "0,2s,4s", "-fair: gaps between the flows' starts, comma-separated durations")
	fairAfter := fs.Duration("fair-after", 20*time.Second, "-fair: time from the last flow's start to the measured window")
	fairWindow := fs.Duration("fair-window", 10*time.Second, "-fair: length of the measured window")
	var fairMixes fairMixFlag
	fs.Var(&fairMixes, "fair-mix", "-fair: run a mixed cell instead of the single-sender ones; `NAMES` are its flows' senders in start order, comma-separated (e.g. kernel-bbr,kernel-bbr,ustack-bbr); repeat for more cells; not with -fair-flows or -senders")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := checkFairFlags(fs, *fair); err != nil {
		return err
	}
	if err := checkFairMixFlags(fs); err != nil {
		return err
	}

	// What the main benchmark and -fair share.
	var paths []e2e.Path
	if *only != "" {
		ps, err := parseBenchPaths(*only)
		if err != nil {
			return err
		}
		paths = ps
	}
	var senderList []e2e.Sender
	if *senders != "" {
		ss, err := parseSenders(*senders)
		if err != nil {
			return err
		}
		senderList = ss
	}
	gro, err := e2e.ParseGRO(*groFlag)
	if err != nil {
		return fmt.Errorf("-gro: %w", err)
	}
	ustackConfig := func() (e2e.UstackConfig, error) {
		cfg := e2e.UstackConfig{ExtraArgs: strings.Fields(*ustackArgs)}
		if *keep != "" {
			if err := os.MkdirAll(*keep, 0o755); err != nil {
				return cfg, err
			}
			cfg.Dir = *keep
		}
		if !*noUstack {
			cfg.Bin = *ustack
			if cfg.Bin == "" {
				exe, err := os.Executable()
				if err != nil {
					return cfg, fmt.Errorf("finding the ustack binary: %w (use -ustack or -no-ustack)", err)
				}
				cfg.Bin = exe
			}
		}
		return cfg, nil
	}
	measure := func() (context.Context, context.CancelFunc) {
		if *nice != 0 {
			if err := netem.SetNice(*nice); err != nil {
				fmt.Fprintf(os.Stderr, "bench e2e: warning: %v\n", err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
		return ctx, func() { stop(); cancel() }
	}

	if *fair {
		fo := e2e.FairOptions{After: *fairAfter, Window: *fairWindow, Reps: *reps, Paths: paths, Senders: senderList,
			Prefix: *prefix, SkipAccuracy: *noAccuracy, Mixes: fairMixes}
		if *fairAfter <= 0 || *fairWindow <= 0 {
			return errors.New("-fair-after and -fair-window must be positive")
		}
		var err error
		if fo.Flows, err = parseFairFlows(*fairFlows); err != nil {
			return err
		}
		if fo.Gaps, err = parseFairGaps(*fairGaps); err != nil {
			return err
		}
		if fo.Ustack, err = ustackConfig(); err != nil {
			return err
		}
		ctx, done := measure()
		defer done()
		return runFair(ctx, fo, *jsonOut, *out)
	}

	var res *e2e.Results
	if *from != "" {
		r, err := e2e.Load(*from)
		if err != nil {
			return err
		}
		res = r
	} else {
		o := e2e.Options{Quick: *quick, Reps: *reps, Duration: *dur, LossyDuration: *lossyDur, Prefix: *prefix, SkipAccuracy: *noAccuracy,
			Paths: paths, Senders: senderList, GRO: gro}
		var err error
		if o.Ustack, err = ustackConfig(); err != nil {
			return err
		}
		ctx, done := measure()
		defer done()
		r, err := e2e.Bench(ctx, o)
		if err != nil {
			if r == nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "bench e2e: stopped early: %v (reporting what was measured)\n", err)
			r.Notes = append(r.Notes, "stopped early: "+err.Error())
		}
		res = r
	}
	md := e2e.Markdown(res, "")
	// The tables, without the prose.
	if i := strings.Index(md, "## "); i >= 0 {
		md = md[i:]
	}
	fmt.Print(md)
	for _, o := range []string{*jsonOut, *out} {
		if o == "" {
			continue
		}
		files, err := e2e.WriteOut(res, o)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "bench e2e: wrote %s\n", strings.Join(files, ", "))
	}
	return nil
}

// parseBenchPaths parses -paths: RATE/RTT/LOSS[,...].
func parseBenchPaths(s string) ([]e2e.Path, error) {
	var ps []e2e.Path
	for _, f := range strings.Split(s, ",") {
		parts := strings.Split(strings.TrimSpace(f), "/")
		if len(parts) != 3 {
			return nil, fmt.Errorf("-paths: %q: want RATE/RTT/LOSS, e.g. 100mbit/100ms/1%%", f)
		}
		rate, err := netem.ParseRate(parts[0])
		if err != nil {
			return nil, fmt.Errorf("-paths: %q: %w", f, err)
		}
		rtt, err := time.ParseDuration(parts[1])
		if err != nil {
			return nil, fmt.Errorf("-paths: %q: %w", f, err)
		}
		loss, err := netem.ParseProb(parts[2])
		if err != nil {
			return nil, fmt.Errorf("-paths: %q: %w", f, err)
		}
		ps = append(ps, e2e.Path{Rate: rate, RTT: rtt, Loss: loss})
	}
	return ps, nil
}

// parseSenders parses -senders.
func parseSenders(list string) ([]e2e.Sender, error) {
	var out []e2e.Sender
	for _, name := range strings.Split(list, ",") {
		s, err := lookupSender(name)
		if err != nil {
			return nil, fmt.Errorf("-senders: %w", err)
		}
		out = append(out, s)
	}
	return out, nil
}

// lookupSender finds a sender by name.
func lookupSender(name string) (e2e.Sender, error) {
	name = strings.TrimSpace(name)
	for _, s := range e2e.AllSenders {
		if s.Name == name {
			return s, nil
		}
	}
	return e2e.Sender{}, fmt.Errorf("unknown sender %q (want one of %s)", name, senderNameList())
}

// senderNameList is the names -senders and -fair-mix accept.
func senderNameList() string {
	names := make([]string, len(e2e.AllSenders))
	for i, s := range e2e.AllSenders {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}

// runFair measures fairness, prints the tables and writes the report
// and the JSON.
func runFair(ctx context.Context, fo e2e.FairOptions, jsonOut, out string) error {
	res, err := e2e.Fair(ctx, fo)
	if err != nil {
		if res == nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "bench e2e: stopped early: %v (reporting what was measured)\n", err)
		res.Notes = append(res.Notes, "stopped early: "+err.Error())
	}
	md := e2e.FairMarkdown(res)
	// The tables, without the prose.
	if i := strings.Index(md, "## "); i >= 0 {
		md = md[i:]
	}
	fmt.Print(md)
	for _, o := range []string{jsonOut, out} {
		if o == "" {
			continue
		}
		f, err := e2e.WriteFairOut(res, o)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "bench e2e: wrote %s\n", f)
	}
	return nil
}

// checkFairFlags rejects flags that belong to only one of the two modes.
func checkFairFlags(fs *flag.FlagSet, fair bool) error {
	var bad []string
	fs.Visit(func(f *flag.Flag) {
		mainOnly := f.Name == "quick" || f.Name == "dur" || f.Name == "lossy-dur" || f.Name == "from" || f.Name == "gro"
		fairOnly := strings.HasPrefix(f.Name, "fair-")
		if fair && mainOnly || !fair && fairOnly {
			bad = append(bad, "-"+f.Name)
		}
	})
	if len(bad) == 0 {
		return nil
	}
	if fair {
		return fmt.Errorf("%s: not with -fair", strings.Join(bad, ", "))
	}
	return fmt.Errorf("%s: only with -fair", strings.Join(bad, ", "))
}

// checkFairMixFlags rejects -fair-mix with the flags it replaces.
func checkFairMixFlags(fs *flag.FlagSet) error {
	mix := false
	var bad []string
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "fair-mix":
			mix = true
		case "fair-flows", "senders":
			bad = append(bad, "-"+f.Name)
		}
	})
	if !mix || len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("%s: not with -fair-mix (the mixes give the flows and senders)", strings.Join(bad, ", "))
}

// fairMixFlag collects the -fair-mix flags, one mixed cell each.
type fairMixFlag [][]e2e.Sender

func (f *fairMixFlag) String() string {
	var s []string
	for _, mix := range *f {
		var names []string
		for _, snd := range mix {
			names = append(names, snd.Name)
		}
		s = append(s, strings.Join(names, ","))
	}
	return strings.Join(s, " ")
}

func (f *fairMixFlag) Set(s string) error {
	mix, err := parseFairMix(s)
	if err != nil {
		return err
	}
	*f = append(*f, mix)
	return nil
}

// parseFairMix parses one -fair-mix: SENDER[,...], one per flow.
func parseFairMix(s string) ([]e2e.Sender, error) {
	var mix []e2e.Sender
	for _, name := range strings.Split(s, ",") {
		snd, err := lookupSender(name)
		if err != nil {
			return nil, err
		}
		mix = append(mix, snd)
	}
	if len(mix) > 64 {
		return nil, fmt.Errorf("%d flows: at most 64", len(mix))
	}
	return mix, nil
}

// parseFairFlows parses -fair-flows: N[,...].
func parseFairFlows(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 64 {
			return nil, fmt.Errorf("-fair-flows: %q: want a number of flows from 1 to 64", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// parseFairGaps parses -fair-gaps: DURATION[,...] ("0" is a simultaneous
// start).
func parseFairGaps(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, f := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil || d < 0 {
			return nil, fmt.Errorf("-fair-gaps: %q: want a duration ≥ 0, e.g. 0, 2s, 500ms", f)
		}
		out = append(out, d)
	}
	return out, nil
}
