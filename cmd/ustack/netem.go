// ustack netem: a real-time path emulator between two interfaces.
//
//	ustack netem -a veth-a -b veth-b -rate 100mbit -delay 50ms -loss 1%
//
// Frames read on -a leave on -b after crossing the a→b path model, and the
// reverse. -rate, -delay, -jitter and -buffer apply to both directions
// unless -rrate/-rdelay override the b→a one; -loss is a→b and -rloss b→a.
// Counters are printed every -interval and on exit (SIGINT/SIGTERM or
// after -duration).

package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ustack/ustack/netem"
	"github.com/ustack/ustack/sim"
)

func init() {
	register("netem", "a real-time path emulator between two interfaces", runNetem)
}

func runNetem(args []string) error {
	fs := flag.NewFlagSet("netem", flag.ContinueOnError)
	a := fs.String("a", "", "first interface (required)")
	b := fs.String("b", "", "second interface (required)")
	rate := fs.String("rate", "0", "bottleneck rate, both directions (e.g. 100mbit; 0 = unlimited)")
	rrate := fs.String("rrate", "", "rate b→a (default: -rate)")
	delay := fs.Duration("delay", 0, "one-way delay, each direction")
	rdelay := fs.Duration("rdelay", -1, "one-way delay b→a (default: -delay)")
	loss := fs.String("loss", "0", "random loss a→b (e.g. 1%)")
	rloss := fs.String("rloss", "0", "random loss b→a")
	buffer := fs.String("buffer", "1bdp", "drop-tail buffer per direction: bytes (64k, 0 = unlimited) or a multiple of the BDP (1bdp)")
	jitter := fs.Duration("jitter", 0, "uniform extra delay in [0, jitter) per frame (reorders)")
	reorder := fs.String("reorder", "0", "probability a frame is held back by -reorder-delay")
	reorderDelay := fs.Duration("reorder-delay", 5*time.Millisecond, "hold-back of reordered frames")
	dup := fs.String("dup", "0", "probability a frame is delivered twice")
	seed := fs.Uint64("seed", 1, "seed of the random decisions")
	spin := fs.Duration("spin", netem.DefaultSpinWindow, "spin instead of sleeping when the next departure is this close (negative: never spin)")
	interval := fs.Duration("interval", 10*time.Second, "print counters this often (0: only on exit)")
	duration := fs.Duration("duration", 0, "exit after this long (0: run until interrupted)")
	nice := fs.Int("nice", -10, "nice value of the emulator's threads (timing holds up better on a busy machine); 0 leaves it")
	offloads := fs.Bool("offloads-off", true, "turn GRO/GSO/TSO off on -a and -b (endpoints must turn off TSO/GSO/tx checksum themselves)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *a == "" || *b == "" || fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("need -a and -b")
	}
	cfg := netem.Config{A: *a, B: *b, Seed: *seed, SpinWindow: *spin}
	var err error
	if cfg.AB.Rate, err = netem.ParseRate(*rate); err != nil {
		return err
	}
	cfg.BA.Rate = cfg.AB.Rate
	if *rrate != "" {
		if cfg.BA.Rate, err = netem.ParseRate(*rrate); err != nil {
			return err
		}
	}
	cfg.AB.Delay, cfg.BA.Delay = *delay, *delay
	if *rdelay >= 0 {
		cfg.BA.Delay = *rdelay
	}
	if cfg.AB.Loss, err = netem.ParseProb(*loss); err != nil {
		return err
	}
	if cfg.BA.Loss, err = netem.ParseProb(*rloss); err != nil {
		return err
	}
	rtt := cfg.AB.Delay + cfg.BA.Delay
	for _, p := range []*sim.PathConfig{&cfg.AB, &cfg.BA} {
		if p.Buffer, err = netem.ParseBuffer(*buffer, p.Rate, rtt); err != nil {
			return err
		}
		p.Jitter = *jitter
		if p.Reorder, err = netem.ParseProb(*reorder); err != nil {
			return err
		}
		p.ReorderDelay = *reorderDelay
		if p.Duplicate, err = netem.ParseProb(*dup); err != nil {
			return err
		}
	}
	cfg.AB.Name, cfg.BA.Name = *a+"->"+*b, *b+"->"+*a
	if err := cfg.Validate(); err != nil {
		return err
	}
	if *offloads {
		for _, ifname := range []string{*a, *b} {
			if err := netem.SetOffloads(ifname, false, netem.BridgeOffloads...); err != nil {
				fmt.Fprintf(os.Stderr, "netem: warning: %v\n", err)
			}
		}
	}
	if *nice != 0 {
		if err := netem.SetNice(*nice); err != nil {
			fmt.Fprintf(os.Stderr, "netem: warning: %v\n", err)
		}
	}
	br, err := netem.Open(cfg)
	if err != nil {
		return err
	}
	fmt.Printf("netem: %s: %s\n", cfg.AB.Name, netem.Describe(cfg.AB))
	fmt.Printf("netem: %s: %s\n", cfg.BA.Name, netem.Describe(cfg.BA))

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	var tick <-chan time.Time
	if *interval > 0 {
		t := time.NewTicker(*interval)
		defer t.Stop()
		tick = t.C
	}
	var end <-chan time.Time
	if *duration > 0 {
		end = time.After(*duration)
	}
	start := time.Now()
	report := func(final bool) {
		ab, ba := br.Stats()
		what := "after"
		if final {
			what = "final, after"
		}
		fmt.Printf("netem: %s %v\n  %s\n  %s\n", what, time.Since(start).Round(time.Millisecond), netem.FormatStats(ab), netem.FormatStats(ba))
	}
	var runErr error
loop:
	for {
		select {
		case <-tick:
			report(false)
		case <-sigs:
			break loop
		case <-end:
			break loop
		case <-br.Done():
			runErr = br.Err()
			break loop
		}
	}
	report(true)
	return errors.Join(runErr, br.Close())
}
