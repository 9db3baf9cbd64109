package unet

// Root-only scaffolding: a throw-away network namespace per test (see
// internal/netnstest), entered by goroutines locked to OS threads that are
// discarded afterwards, so nothing touches the host's interfaces.

import (
	"os"
	"testing"
	"time"

	"github.com/ustack/ustack/internal/netnstest"
)

// newTestNetns makes the test's namespace, skipping unless root, iproute2
// and /dev/net/tun are there.
func newTestNetns(t testing.TB) *netnstest.NS {
	t.Helper()
	netnstest.RequireRoot(t, "creates a network namespace and a tap")
	netnstest.RequireCommand(t, "ip", "needs iproute2")
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("needs /dev/net/tun: %v", err)
	}
	return netnstest.New(t, "unet-test", netnstest.Options{CmdTimeout: 30 * time.Second})
}
