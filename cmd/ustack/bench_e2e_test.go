package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ustack/ustack/netem/e2e"
)

// TestBenchE2EFrom regenerates the report from saved results (no root).
func TestBenchE2EFrom(t *testing.T) {
	dir := t.TempDir()
	p := e2e.Path{Rate: 100e6, RTT: 100 * time.Millisecond, Loss: 0.01}
	res := &e2e.Results{Started: time.Now(), Reps: 1, Duration: time.Second, Senders: e2e.Senders,
		Cells: []*e2e.Cell{{Path: p, Sender: e2e.KernelBBR.Name, Download: true, Samples: []e2e.Sample{{Goodput: 80e6, Retrans: 5}}}}}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "in.json")
	if err := os.WriteFile(in, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "docs")
	if err := runBench([]string{"e2e", "-from", in, "-out", out}); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(out, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "| 100Mbit/s × 100ms, loss 1% | 99.0 | – | 80.0 (80.0) |") {
		t.Errorf("results.md:\n%s", md)
	}
	if _, err := os.Stat(filepath.Join(out, "goodput.png")); err != nil {
		t.Error(err)
	}
}

func TestNetemFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-a", "x"}, "need -a and -b"},
		{[]string{"-a", "x", "-b", "y", "-rate", "fast"}, "bad rate"},
		{[]string{"-a", "x", "-b", "y", "-loss", "200%"}, "bad probability"},
		{[]string{"-a", "x", "-b", "y", "-buffer", "huge"}, "bad buffer"},
		{[]string{"-a", "x", "-b", "x"}, "to itself"},
	} {
		err := runNetem(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestBenchE2EFairFlags checks the -fair flag handling that fails before
// anything is built (no root).
func TestBenchE2EFairFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-fair", "-quick"}, "-quick: not with -fair"},
		{[]string{"-fair", "-from", "x.json"}, "-from: not with -fair"},
		{[]string{"-fair-flows", "3"}, "-fair-flows: only with -fair"},
		{[]string{"-fair", "-fair-flows", "2,x"}, "want a number of flows"},
		{[]string{"-fair", "-fair-flows", "0"}, "want a number of flows"},
		{[]string{"-fair", "-fair-gaps", "0,-1s"}, "want a duration"},
		{[]string{"-fair", "-fair-gaps", "2"}, "want a duration"},
		{[]string{"-fair", "-fair-window", "0s"}, "must be positive"},
		{[]string{"-fair", "-senders", "kernel-reno"}, "unknown sender"},
		{[]string{"-fair-mix", "kernel-bbr,ustack-bbr"}, "-fair-mix: only with -fair"},
		{[]string{"-fair", "-fair-mix", "kernel-bbr,kernel-reno"}, `unknown sender "kernel-reno"`},
		{[]string{"-fair", "-fair-mix", "kernel-bbr,,ustack-bbr"}, `unknown sender ""`},
		{[]string{"-fair", "-fair-mix", strings.Repeat("kernel-bbr,", 64) + "ustack-bbr"}, "65 flows: at most 64"},
		{[]string{"-fair", "-fair-mix", "kernel-bbr,ustack-bbr", "-fair-flows", "4"}, "-fair-flows: not with -fair-mix"},
		{[]string{"-fair", "-senders", "kernel-bbr", "-fair-mix", "kernel-bbr,ustack-bbr"}, "-senders: not with -fair-mix"},
		{[]string{"-fair", "-gro", "off"}, "-gro: not with -fair"},
		{[]string{"-gro", "client"}, `-gro: GRO "client": want off, server or both`},
	} {
		err := runBenchE2E(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestParseFair(t *testing.T) {
	flows, err := parseFairFlows("2, 4")
	if err != nil || len(flows) != 2 || flows[0] != 2 || flows[1] != 4 {
		t.Errorf("parseFairFlows: %v, %v", flows, err)
	}
	gaps, err := parseFairGaps("0,2s,500ms")
	if err != nil || len(gaps) != 3 || gaps[0] != 0 || gaps[1] != 2*time.Second || gaps[2] != 500*time.Millisecond {
		t.Errorf("parseFairGaps: %v, %v", gaps, err)
	}
}

func TestParseFairMix(t *testing.T) {
	mix, err := parseFairMix("kernel-bbr, kernel-bbr,kernel-bbr ,ustack-bbr")
	want := []e2e.Sender{e2e.KernelBBR, e2e.KernelBBR, e2e.KernelBBR, e2e.UstackBBR}
	if err != nil || !slices.Equal(mix, want) {
		t.Errorf("parseFairMix: %v, %v", mix, err)
	}
	if got := e2e.MixLabel([]string{mix[0].Name, mix[1].Name, mix[2].Name, mix[3].Name}); got != "K,K,K,U" {
		t.Errorf("label %q", got)
	}
	if mix, err := parseFairMix("ustack-cubic"); err != nil || !slices.Equal(mix, []e2e.Sender{e2e.UstackCubic}) {
		t.Errorf("one flow: %v, %v", mix, err)
	}
	// The flag is repeatable: one cell each, in order.
	var f fairMixFlag
	for _, v := range []string{"kernel-bbr,ustack-bbr", "ustack-bbr,kernel-bbr,ustack-bbr"} {
		if err := f.Set(v); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Set("ustack-bbr,bogus"); err == nil {
		t.Error("bogus sender accepted")
	}
	if len(f) != 2 || len(f[0]) != 2 || len(f[1]) != 3 || f[1][1] != e2e.KernelBBR {
		t.Errorf("repeated -fair-mix: %v", f)
	}
	if got, want := f.String(), "kernel-bbr,ustack-bbr ustack-bbr,kernel-bbr,ustack-bbr"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
