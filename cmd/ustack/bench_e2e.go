// ustack bench e2e: the end-to-end benchmark in network namespaces (root).
//
//	ustack bench e2e [-quick] [-reps N] [-dur D] [-out DIR|FILE.json] [-json FILE]
//	ustack bench e2e -from results.json -out docs/
//
// A kernel client downloads and uploads through `netem` from a kernel
// server with CUBIC and with BBR, and from the same server behind
// `ustack run` with BBR and CUBIC (this binary, started in the server
// namespace). The report (markdown tables and a PNG plot) goes to -out,
// the raw results to -json; the tables are also printed. See package
// netem/e2e.

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
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
	prefix := fs.String("prefix", "ue2e", "prefix of the namespaces created (and removed)")
	timeout := fs.Duration("timeout", 40*time.Minute, "give up after this long")
	only := fs.String("paths", "", "run only these paths: comma-separated `RATE/RTT/LOSS`, e.g. 100mbit/100ms/5%,1gbit/10ms/0")
	senders := fs.String("senders", "", "run only these senders: comma-separated `NAMES` of kernel-cubic, kernel-bbr, ustack-bbr, ustack-cubic")
	ustackArgs := fs.String("ustack-args", "", "extra `ARGS` for every `ustack run` (space-separated), e.g. \"-offload 0x8883\"")
	keep := fs.String("keep", "", "keep the ustack instances' control sockets and logs in `DIR` (to watch them with ustack ss -socket)")
	nice := fs.Int("nice", -10, "nice value for the benchmark (emulator, client, server, ustack run), so other load on the machine disturbs the timing less; 0 leaves it")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	var res *e2e.Results
	if *from != "" {
		r, err := e2e.Load(*from)
		if err != nil {
			return err
		}
		res = r
	} else {
		if *nice != 0 {
			if err := netem.SetNice(*nice); err != nil {
				fmt.Fprintf(os.Stderr, "bench e2e: warning: %v\n", err)
			}
		}
		o := e2e.Options{Quick: *quick, Reps: *reps, Duration: *dur, LossyDuration: *lossyDur, Prefix: *prefix, SkipAccuracy: *noAccuracy}
		if *only != "" {
			ps, err := parseBenchPaths(*only)
			if err != nil {
				return err
			}
			o.Paths = ps
		}
		if *senders != "" {
			ss, err := parseSenders(*senders)
			if err != nil {
				return err
			}
			o.Senders = ss
		}
		o.Ustack.ExtraArgs = strings.Fields(*ustackArgs)
		if *keep != "" {
			if err := os.MkdirAll(*keep, 0o755); err != nil {
				return err
			}
			o.Ustack.Dir = *keep
		}
		if !*noUstack {
			o.Ustack.Bin = *ustack
			if o.Ustack.Bin == "" {
				exe, err := os.Executable()
				if err != nil {
					return fmt.Errorf("finding the ustack binary: %w (use -ustack or -no-ustack)", err)
				}
				o.Ustack.Bin = exe
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		defer cancel()
		ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
		defer stop()
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
		name = strings.TrimSpace(name)
		found := false
		for _, s := range e2e.Senders {
			if s.Name == name {
				out, found = append(out, s), true
			}
		}
		if !found {
			return nil, fmt.Errorf("-senders: unknown sender %q (want kernel-cubic, kernel-bbr, ustack-bbr or ustack-cubic)", name)
		}
	}
	return out, nil
}
