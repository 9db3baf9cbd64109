package e2e

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/ustack/ustack/netem/topo"
)

// TestBenchQuickNetns runs `bench e2e -quick` end to end. It takes about
// two minutes, so it runs only with USTACK_E2E=1; USTACK_BIN names a
// ustack binary for the ustack cells (they are skipped without one).
func TestBenchQuickNetns(t *testing.T) {
	if os.Getenv("USTACK_E2E") == "" {
		t.Skip("set USTACK_E2E=1 (and USTACK_BIN=path/to/ustack) to run the quick end-to-end benchmark")
	}
	if err := topo.Available(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := Bench(ctx, Options{Quick: true, Ustack: UstackConfig{Bin: os.Getenv("USTACK_BIN")}, Prefix: "ue2etest", Log: testLog{t}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Cells {
		if len(c.Samples) == 0 {
			t.Errorf("%s %s download=%v: no sample: %v", c.Path, c.Sender, c.Download, c.Errors)
		}
	}
}

type testLog struct{ t *testing.T }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Log(string(b))
	return len(b), nil
}

// skipWithoutNetns skips a test that needs root and network namespaces,
// or that is too long for -short.
func skipWithoutNetns(t *testing.T) {
	t.Helper()
	if err := topo.Available(); err != nil {
		t.Skip(err)
	}
	if testing.Short() {
		t.Skip("-short")
	}
}
