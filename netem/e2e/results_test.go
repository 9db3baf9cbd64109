package e2e

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func fakeResults() *Results {
	res := &Results{Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Host: "test", Reps: 2,
		Duration: 6 * time.Second, Senders: Senders, Elapsed: time.Minute}
	for _, p := range FullPaths() {
		for i, s := range Senders {
			g := p.Ideal() * (0.9 - 0.1*float64(i)) * (1 - 5*p.Loss)
			c := &Cell{Path: p, Sender: s.Name, Download: true,
				Samples: []Sample{{Goodput: g, Retrans: 10, RTT50: p.RTT, RTT99: 2 * p.RTT, Pings: 100},
					{Goodput: g * 0.9, Retrans: 12, RTT50: p.RTT, RTT99: 2 * p.RTT, Pings: 100}}}
			res.Cells = append(res.Cells, c)
			if p.Loss == 0 {
				res.Cells = append(res.Cells, &Cell{Path: p, Sender: s.Name, Samples: c.Samples})
			}
		}
	}
	res.Cells = append(res.Cells, &Cell{Path: Path{Rate: 1e6, RTT: time.Second}, Sender: UstackBBR.Name, Download: true, Errors: []string{"dial: timeout"}})
	res.Accuracy = &Accuracy{Path: AccuracyPath, IdleRTT50: 40 * time.Millisecond, SteadyGoodput: 95.5e6, RTTOK: true, RateOK: true}
	return res
}

func TestMarkdown(t *testing.T) {
	md := Markdown(fakeResults(), "goodput.png")
	wantIn(t, md,
		"| path | rate×(1−loss) | kernel CUBIC | kernel BBR | ustack BBR | ustack CUBIC | ustack BBR / kernel BBR |",
		"| 100Mbit/s × 100ms, loss 1% | 99.0 |",
		"## Upload (client → server) goodput",
		"![download goodput against loss](goodput.png)",
		"1 failed: dial: timeout",
		"emulator accuracy",
	)
	if t.Failed() {
		t.Log(md)
	}
	if strings.Contains(md, "GRO is on") {
		t.Error("GRO off, but the report says it was on")
	}
	res := fakeResults()
	res.GRO = GROServer
	wantIn(t, Markdown(res, ""), "GRO is on on the server's veth (`-gro server`)")
}

func TestParseGRO(t *testing.T) {
	for _, g := range []GRO{GROOff, GROServer, GROBoth} {
		if got, err := ParseGRO(g.String()); err != nil || got != g {
			t.Errorf("ParseGRO(%q) = %q, %v", g.String(), got, err)
		}
	}
	for _, s := range []string{"", "on", "client", "Server"} {
		if _, err := ParseGRO(s); err == nil {
			t.Errorf("ParseGRO(%q): no error", s)
		}
	}
}

func TestPlotAndWriteOut(t *testing.T) {
	res := fakeResults()
	img := Plot(res)
	if b := img.Bounds(); b.Dx() != 3*440 || b.Dy() < 400 {
		t.Errorf("plot %v, want three panels", b)
	}
	// Every sender's colour appears.
	for name, c := range colSender {
		found := false
		for y := img.Rect.Min.Y; y < img.Rect.Max.Y && !found; y++ {
			for x := img.Rect.Min.X; x < img.Rect.Max.X; x++ {
				if img.RGBAAt(x, y) == c {
					found = true
					break
				}
			}
		}
		if !found {
			t.Errorf("no %s pixels", name)
		}
	}
	dir := t.TempDir()
	files, err := WriteOut(res, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 {
		t.Fatalf("files %v", files)
	}
	f, err := os.ReadFile(filepath.Join(dir, "goodput.png"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(f)); err != nil {
		t.Errorf("png: %v", err)
	}
	if _, err := WriteOut(res, filepath.Join(dir, "results.json")); err != nil {
		t.Fatal(err)
	}
	back, err := Load(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Cells) != len(res.Cells) || back.Cells[0].Median() != res.Cells[0].Median() {
		t.Errorf("JSON round trip lost cells")
	}
	if Markdown(back, "goodput.png") != Markdown(res, "goodput.png") {
		t.Errorf("markdown differs after a JSON round trip")
	}
}

// TestTransferDuration: every BBR sender, bbr-hi included, gets the long
// transfer on lossy paths, so the cells compare like with like.
func TestTransferDuration(t *testing.T) {
	o := &Options{Duration: 6 * time.Second, LossyDuration: 15 * time.Second}
	lossy, clean := Path{Loss: 0.05}, Path{Loss: 0.01}
	for _, s := range []Sender{KernelBBR, UstackBBR, UstackBBRHi} {
		if d := o.transferDuration(lossy, s); d != 15*time.Second {
			t.Errorf("%s at 5%% loss: %v, want 15s", s.Name, d)
		}
		if d := o.transferDuration(clean, s); d != 6*time.Second {
			t.Errorf("%s at 1%% loss: %v, want 6s", s.Name, d)
		}
	}
	if d := o.transferDuration(lossy, KernelCubic); d != 6*time.Second {
		t.Errorf("kernel CUBIC at 5%% loss: %v, want 6s", d)
	}
}
