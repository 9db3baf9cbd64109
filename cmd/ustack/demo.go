package main

// `ustack demo`: the main job on a built-in default. A BBR and a CUBIC
// transfer, one after the other, over a simulated 100 Mbit/s × 100 ms path
// with 1% random loss and a 1-BDP buffer, in virtual time (a few seconds of
// real time, no root, no network), printing what each achieved against the
// path's limit and BBR's model of the path.

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ustack/ustack/scenario"
)

func init() {
	register("demo", "a transfer over a simulated path, printing what it measured", runDemo)
}

func runDemo(args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	rate := fs.Float64("rate", 100, "bottleneck rate, Mbit/s")
	rtt := fs.Duration("rtt", 100*time.Millisecond, "base round-trip time")
	loss := fs.Float64("loss", 1, "random loss on the data path, percent")
	dur := fs.Duration("t", 25*time.Second, "virtual duration of each transfer")
	seed := fs.Uint64("seed", 1, "simulation seed")
	ccs := fs.String("cc", "bbr,cubic", "congestion control algorithms to run, comma-separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p := scenario.Path{Rate: uint64(*rate * 1e6), RTT: *rtt, Loss: *loss / 100}
	warm := min(5*time.Second, *dur/4)
	fmt.Printf("Simulated path: %g Mbit/s, RTT %v, %g%% random loss, drop-tail buffer 1 BDP (%d kB); %v per transfer (virtual time), seed %d.\n",
		*rate, *rtt, *loss, p.BDP()/1000, *dur, *seed)
	fmt.Printf("Limit rate×(1−loss) = %.1f Mbit/s (headers leave %.1f for data). Goodput measured from %v.\n\n",
		p.Limit()/1e6, p.Limit()*scenario.PayloadEfficiency/1e6, warm)
	for _, cc := range strings.Split(*ccs, ",") {
		start := time.Now()
		r, err := scenario.Experiment{Seed: *seed, Path: p, TCP: scenario.BenchTCP, Flows: []scenario.FlowSpec{{CC: cc}},
			Duration: *dur, Warmup: warm, Sample: 100 * time.Millisecond}.Run()
		if err != nil {
			return err
		}
		f := &r.Flows[0]
		i := f.Final
		fmt.Printf("%s: goodput %.1f Mbit/s = %.0f%% of the limit (%.1f MB delivered, every byte checked)\n",
			strings.ToUpper(cc), f.Goodput/1e6, 100*f.Goodput/p.Limit(), float64(f.Flow.Received)/1e6)
		fmt.Printf("  retransmitted %d segments (%.1f%% of bytes sent), timeouts %d\n",
			i.TotalRetrans, 100*f.Retransmitted(), r.TCPA.Timeouts)
		fmt.Printf("  RTT: min %v, median sRTT %v; cwnd %d segments, pacing %.1f Mbit/s\n",
			i.MinRTT.Round(10*time.Microsecond), f.MedianSRTT().Round(10*time.Microsecond), i.Cwnd/max(i.MSS, 1), float64(i.PacingRate)*8/1e6)
		if i.CC == "bbr" {
			probeRTT := 0
			for _, m := range f.Modes {
				if m.To == "probe_rtt" {
					probeRTT++
				}
			}
			fmt.Printf("  BBR: mode %s, bottleneck bw %.1f Mbit/s, min_rtt %v, pacing gain %.2f, cwnd gain %.2f; %d mode changes, %d PROBE_RTT\n",
				i.CCInfo.Mode, float64(i.CCInfo.Bandwidth)*8/1e6, i.CCInfo.MinRTT.Round(10*time.Microsecond), i.CCInfo.PacingGain, i.CCInfo.CwndGain,
				len(f.Modes), probeRTT)
		}
		fmt.Fprintf(os.Stderr, "  (%.1f s real time)\n", time.Since(start).Seconds())
	}
	return nil
}
