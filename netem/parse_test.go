package netem

import (
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
	}{
		{"100mbit", 100e6}, {"1gbit", 1e9}, {"1.5Gbit", 1.5e9}, {"64kbit", 64e3}, {"2000000", 2e6},
		{"12mbps", 96e6}, {"0", 0}, {"10M", 10e6}, {" 10 mbit", 10e6},
	} {
		got, err := ParseRate(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "fast", "-1mbit", "1e30gbit", "mbit"} {
		if _, err := ParseRate(bad); err == nil {
			t.Errorf("ParseRate(%q) accepted", bad)
		}
	}
	for in, want := range map[uint64]string{100e6: "100Mbit/s", 1e9: "1Gbit/s", 1.5e9: "1.5Gbit/s", 64e3: "64kbit/s", 999: "999bit/s", 10_000_001: "10000001bit/s"} {
		if got := FormatRate(in); got != want {
			t.Errorf("FormatRate(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestParseSizeProbBuffer(t *testing.T) {
	for in, want := range map[string]int{"1514": 1514, "64k": 65536, "1.5m": 1572864, "2MiB": 2 << 20, "0": 0} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for in, want := range map[string]float64{"1%": 0.01, "0.5%": 0.005, "0.01": 0.01, "100%": 1, "0": 0} {
		if got, err := ParseProb(in); err != nil || got != want {
			t.Errorf("ParseProb(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"101%", "-1%", "x", "2"} {
		if _, err := ParseProb(bad); err == nil {
			t.Errorf("ParseProb(%q) accepted", bad)
		}
	}
	// 100 Mbit/s × 100 ms = 1.25 MB.
	if got, err := ParseBuffer("1bdp", 100e6, 100*time.Millisecond); err != nil || got != 1_250_000 {
		t.Errorf("1bdp = %d, %v", got, err)
	}
	if got, _ := ParseBuffer("0.5bdp", 100e6, 100*time.Millisecond); got != 625_000 {
		t.Errorf("0.5bdp = %d", got)
	}
	if got, _ := ParseBuffer("1bdp", 100e6, 0); got != MinBuffer {
		t.Errorf("1bdp without delay = %d, want the %d minimum", got, MinBuffer)
	}
	if got, _ := ParseBuffer("1bdp", 0, time.Second); got != 0 {
		t.Errorf("1bdp without rate = %d, want 0 (unlimited)", got)
	}
	if got, _ := ParseBuffer("256k", 100e6, time.Second); got != 256<<10 {
		t.Errorf("256k = %d", got)
	}
	if _, err := ParseBuffer("xbdp", 1, 1); err == nil {
		t.Error("xbdp accepted")
	}
}
