package main

// `ustack bench MODE [flags]`: goodput tables. Each mode registers itself
// in benchModes from its own file's init(); this file provides `bench sim`,
// the simulation tables of package scenario (virtual time, no root, a
// minute or two of real time; -quick for about a quarter of that).

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/ustack/ustack/scenario"
)

// benchMode is one `ustack bench` mode.
type benchMode struct {
	summary string
	run     func(args []string) error
}

// benchModes maps a mode name to its implementation. Other files add to it
// in init() (e.g. "e2e").
var benchModes = map[string]benchMode{}

func init() {
	register("bench", "goodput tables in simulation (bench sim) and end to end (bench e2e)", runBench)
	benchModes["sim"] = benchMode{"BBR, CUBIC and Reno in simulated networks (goodput, queueing, fairness, PROBE_RTT, policer, recovery)", runBenchSim}
}

func benchUsage() {
	fmt.Fprintln(os.Stderr, "usage: ustack bench MODE [flags]\n\nmodes:")
	names := make([]string, 0, len(benchModes))
	for n := range benchModes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-6s %s\n", n, benchModes[n].summary)
	}
}

func runBench(args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		benchUsage()
		if len(args) == 0 {
			return fmt.Errorf("missing mode")
		}
		return nil
	}
	m, ok := benchModes[args[0]]
	if !ok {
		benchUsage()
		return fmt.Errorf("unknown mode %q", args[0])
	}
	return m.run(args[1:])
}

func runBenchSim(args []string) error {
	fs := flag.NewFlagSet("bench sim", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "shorter runs (about a quarter of the time)")
	seed := fs.Uint64("seed", 1, "simulation seed")
	only := fs.String("only", "", "comma-separated tables to run: goodput, overshoot, queue, fairness, probe_rtt, policer (default all)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o := scenario.BenchOptions{Seed: *seed, Quick: *quick}
	if *only != "" {
		o.Only = strings.Split(*only, ",")
	}
	return scenario.RunAll(os.Stdout, o)
}
