package topo

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/ustack/ustack/netem"
)

// TestSetGRO switches GRO and its flush timeout on the server's veth on
// and off again (root; skipped otherwise).
func TestSetGRO(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err)
	}
	tp, err := New("ugrotest")
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	check := func(on bool, timeout string) {
		t.Helper()
		var got bool
		if err := In(tp.Server, func() error {
			var err error
			got, err = netem.GetOffload(ServerIf, netem.OffloadGRO)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if got != on {
			t.Errorf("GRO %v, want %v", got, on)
		}
		out, err := exec.Command("ip", "netns", "exec", tp.Server, "cat", "/sys/class/net/"+ServerIf+"/gro_flush_timeout").Output()
		if err != nil {
			t.Fatal(err)
		}
		if s := strings.TrimSpace(string(out)); s != timeout {
			t.Errorf("gro_flush_timeout %s, want %s", s, timeout)
		}
	}
	check(false, "0")
	if err := tp.SetGRO(tp.Server, ServerIf, true); err != nil {
		t.Fatal(err)
	}
	check(true, strconv.FormatInt(GROFlushTimeout.Nanoseconds(), 10))
	if err := tp.SetGRO(tp.Server, ServerIf, false); err != nil {
		t.Fatal(err)
	}
	check(false, "0")
	if err := tp.SetGRO(tp.Server, "nosuch0", true); err == nil {
		t.Error("SetGRO on a missing interface: no error")
	}
}
