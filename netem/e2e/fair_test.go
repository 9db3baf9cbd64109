package e2e

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestWorstDeviation(t *testing.T) {
	for _, tc := range []struct {
		x    []float64
		want float64
	}{
		{[]float64{50, 50}, 0},
		{[]float64{60, 40}, 0.2},      // both 20% off: the first wins a tie
		{[]float64{70, 20, 30}, 0.75}, // share 40: 70 is +75%, 20 only −50%
		{[]float64{30, 30, 30, 10}, -0.6},
		{[]float64{100, 0}, 1},
		{nil, 0},
		{[]float64{0, 0, 0}, 0},
	} {
		if got := WorstDeviation(tc.x); !near(got, tc.want) {
			t.Errorf("WorstDeviation(%v) = %v, want %v", tc.x, got, tc.want)
		}
	}
}

func TestFairPlan(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		plan                 FairPlan
		starts               []time.Duration
		last, from, to, ends time.Duration
	}{
		// The defaults' longest cell: 4 flows 4 s apart.
		{FairPlan{Flows: 4, Gap: 4 * s, After: 20 * s, Window: 10 * s}, []time.Duration{0, 4 * s, 8 * s, 12 * s}, 12 * s, 32 * s, 42 * s, 42 * s},
		{FairPlan{Flows: 2, Gap: 0, After: 20 * s, Window: 10 * s}, []time.Duration{0, 0}, 0, 20 * s, 30 * s, 30 * s},
		// The smoke test's cell.
		{FairPlan{Flows: 2, Gap: s, After: 3 * s, Window: 3 * s}, []time.Duration{0, s}, s, 4 * s, 7 * s, 7 * s},
		{FairPlan{Flows: 1, Gap: 5 * s, After: s, Window: s}, []time.Duration{0}, 0, s, 2 * s, 2 * s},
	} {
		for i, want := range tc.starts {
			if got := tc.plan.Start(i); got != want {
				t.Errorf("%+v: start(%d) = %v, want %v", tc.plan, i, got, want)
			}
		}
		if got := tc.plan.LastStart(); got != tc.last {
			t.Errorf("%+v: last start %v, want %v", tc.plan, got, tc.last)
		}
		if f, to := tc.plan.From(), tc.plan.To(); f != tc.from || to != tc.to {
			t.Errorf("%+v: window [%v, %v], want [%v, %v]", tc.plan, f, to, tc.from, tc.to)
		}
		// Every flow is running through the whole window.
		for i := range tc.plan.Flows {
			if tc.plan.Start(i) >= tc.plan.From() {
				t.Errorf("%+v: flow %d starts at %v, in the window", tc.plan, i, tc.plan.Start(i))
			}
		}
	}
}

func TestFairMarkdown(t *testing.T) {
	res := &FairResults{Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Host: "test", Reps: 2,
		After: 20 * time.Second, Window: 10 * time.Second, Senders: []Sender{KernelBBR, UstackBBR}}
	add := func(sender string, flows int, gap time.Duration, rep int, g ...float64) {
		res.Runs = append(res.Runs, &FairRun{Path: FairPath, Sender: sender, Flows: flows, Gap: gap, Rep: rep,
			Goodputs: g, Retrans: []int64{3, -1, 5, 7}[:len(g)], RTT50: 110 * time.Millisecond, RTT99: 190 * time.Millisecond})
	}
	// Out of order on purpose: the table sorts by sender, flows, gap, rep.
	add(UstackBBR.Name, 2, 0, 1, 47e6, 47e6)
	add(KernelBBR.Name, 2, 2*time.Second, 1, 70e6, 24e6)
	add(KernelBBR.Name, 2, 0, 2, 48e6, 46e6)
	add(KernelBBR.Name, 2, 0, 1, 40e6, 54e6)
	res.Runs = append(res.Runs, &FairRun{Path: FairPath, Sender: UstackBBR.Name, Flows: 4, Gap: 0, Rep: 1, Error: "flow 2: dial: timeout"})
	md := FairMarkdown(res)
	wantIn(t, md,
		"## 100Mbit/s × 100ms, loss 0%: per-flow goodput, Mbit/s",
		"| kernel BBR | 2 | 0s | 1 | 40.0, 54.0 | 94.0 | 0.978 | -15% | yes | 3, ? | 110.0 / 190.0 |",
		"| kernel BBR | 2 | 2s | 1 | 70.0, 24.0 | 94.0 | 0.807 | +49% | no |",
		"| ustack BBR | 4 | 0s | 1 | failed: flow 2: dial: timeout |",
		"| kernel BBR | 2 of 3 | 0.807 / 0.978 | +49% |",
		"| ustack BBR | 1 of 1 | 1.000 / 1.000 | +0% |",
		"from 20s to 30s after",
	)
	order := []string{"| kernel BBR | 2 | 0s | 1 |", "| kernel BBR | 2 | 0s | 2 |", "| kernel BBR | 2 | 2s | 1 |", "| ustack BBR | 2 | 0s | 1 |", "| ustack BBR | 4 | 0s | 1 |"}
	wantOrder(t, md, order...)
	if t.Failed() {
		t.Log(md)
	}
	dir := t.TempDir()
	if f, err := WriteFairOut(res, dir); err != nil || !strings.HasSuffix(f, "fairness.md") {
		t.Errorf("WriteFairOut(dir) = %q, %v", f, err)
	}
	if _, err := WriteFairOut(res, dir+"/fair.json"); err != nil {
		t.Error(err)
	}
}

func TestMixLabel(t *testing.T) {
	for _, tc := range []struct {
		names []string
		want  string
	}{
		{[]string{"kernel-bbr", "kernel-bbr", "kernel-bbr", "ustack-bbr"}, "K,K,K,U"},
		{[]string{"ustack-bbr", "ustack-bbr", "kernel-bbr", "ustack-bbr"}, "U,U,K,U"},
		{[]string{"kernel-cubic", "ustack-cubic"}, "Kc,Uc"},
		{[]string{"ustack-bbr"}, "U"},
		{[]string{"other"}, "other"},
		{nil, ""},
	} {
		if got := MixLabel(tc.names); got != tc.want {
			t.Errorf("MixLabel(%q) = %q, want %q", tc.names, got, tc.want)
		}
	}
}

func TestMixSenders(t *testing.T) {
	// Each once, in the order of Senders, whatever the mixes' order.
	got := mixSenders([][]Sender{{UstackBBR, KernelBBR, UstackBBR}, {UstackCubic, KernelBBR}})
	want := []Sender{KernelBBR, UstackBBR, UstackCubic}
	if !slices.Equal(got, want) {
		t.Errorf("mixSenders = %v, want %v", got, want)
	}
	fo := FairOptions{Senders: []Sender{KernelCubic}, Mixes: [][]Sender{{KernelBBR, UstackBBR}}}
	fo.defaults()
	if !slices.Equal(fo.Senders, []Sender{KernelBBR, UstackBBR}) {
		t.Errorf("with mixes, senders %v, want the mixes'", fo.Senders)
	}
}

func TestFairCell(t *testing.T) {
	k, u := &kernelEndpoint{s: KernelBBR}, &ustackEndpoint{s: UstackBBR}
	// One sender: its name, as the single-sender cells.
	if s, mix := fairCell([]Endpoint{u, u, u}); s != UstackBBR.Name || mix != nil {
		t.Errorf("one sender: %q, %q", s, mix)
	}
	s, mix := fairCell([]Endpoint{k, k, u, k})
	if s != "K,K,U,K" || !slices.Equal(mix, []string{"kernel-bbr", "kernel-bbr", "ustack-bbr", "kernel-bbr"}) {
		t.Errorf("mix: %q, %q", s, mix)
	}
}

func TestFairMarkdownMix(t *testing.T) {
	kkku := []string{"kernel-bbr", "kernel-bbr", "kernel-bbr", "ustack-bbr"}
	uuuk := []string{"ustack-bbr", "ustack-bbr", "ustack-bbr", "kernel-bbr"}
	res := &FairResults{Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Host: "test", Reps: 2,
		After: 20 * time.Second, Window: 10 * time.Second, Senders: []Sender{KernelBBR, UstackBBR},
		Mixes: [][]string{uuuk, kkku}}
	add := func(mix []string, gap time.Duration, rep int, g ...float64) {
		res.Runs = append(res.Runs, &FairRun{Path: FairPath, Sender: MixLabel(mix), Mix: mix, Flows: len(mix), Gap: gap, Rep: rep,
			Goodputs: g, Retrans: []int64{1, 2, 3, 4}, RTT50: 110 * time.Millisecond, RTT99: 190 * time.Millisecond})
	}
	// Out of order on purpose: mixes in the order given, then gap, rep.
	add(kkku, 2*time.Second, 1, 30e6, 30e6, 30e6, 4e6)
	add(uuuk, 4*time.Second, 1, 23e6, 23e6, 24e6, 24e6)
	add(uuuk, 2*time.Second, 2, 23e6, 23e6, 24e6, 24e6)
	add(uuuk, 2*time.Second, 1, 23e6, 23e6, 24e6, 24e6)
	md := FairMarkdown(res)
	wantIn(t, md,
		"| K,K,K,U | 4 | 2s | 1 | 30.0, 30.0, 30.0, 4.00 | 94.0 | 0.813 | -83% | no | 1, 2, 3, 4 |",
		"| U,U,U,K | 4 | 2s | 2 | 23.0, 23.0, 24.0, 24.0 |",
		"| U,U,U,K | 3 of 3 |",
		"| K,K,K,U | 0 of 1 |",
		"In a mixed cell flow i downloads from the i-th sender",
	)
	order := []string{"| U,U,U,K | 4 | 2s | 1 |", "| U,U,U,K | 4 | 2s | 2 |", "| U,U,U,K | 4 | 4s | 1 |", "| K,K,K,U | 4 | 2s | 1 |",
		"| U,U,U,K | 3 of 3 |", "| K,K,K,U | 0 of 1 |"}
	wantOrder(t, md, order...)
	if t.Failed() {
		t.Log(md)
	}
	// Without mixes, no word of them.
	res.Mixes, res.Runs = nil, nil
	if md := FairMarkdown(res); strings.Contains(md, "mixed") {
		t.Error("mixed cells explained without any")
	}
}

// wantIn reports each string of want that md lacks.
func wantIn(t *testing.T, md string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(md, w) {
			t.Errorf("markdown lacks %q", w)
		}
	}
}

// wantOrder reports each string of order found before its predecessor.
func wantOrder(t *testing.T, md string, order ...string) {
	t.Helper()
	last := -1
	for _, o := range order {
		i := strings.Index(md, o)
		if i < last {
			t.Errorf("%q out of order", o)
		}
		last = i
	}
}
