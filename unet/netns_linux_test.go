package unet

// Root-only scaffolding: a throw-away network namespace per test, entered by
// goroutines locked to OS threads that are discarded afterwards (the thread
// never unlocks), so nothing touches the host's interfaces.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

type testNetns struct {
	t    testing.TB
	name string
	h    netns.NsHandle
}

func newTestNetns(t testing.TB) *testNetns {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace and a tap")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("needs /dev/net/tun: %v", err)
	}
	var rb [4]byte
	rand.Read(rb[:])
	name := fmt.Sprintf("unet-test-%d-%s", os.Getpid(), hex.EncodeToString(rb[:]))
	if out, err := runCmd("ip", "netns", "add", name); err != nil {
		t.Skipf("needs network namespaces: %v: %s", err, out)
	}
	t.Cleanup(func() { runCmd("ip", "netns", "del", name) })
	h, err := netns.GetFromName(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	ns := &testNetns{t: t, name: name, h: h}
	ns.ip("link", "set", "lo", "up")
	return ns
}

func runCmd(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, name, args...).CombinedOutput()
}

func (n *testNetns) ip(args ...string) {
	n.t.Helper()
	if out, err := runCmd("ip", append([]string{"-n", n.name}, args...)...); err != nil {
		n.t.Fatalf("ip %v: %v: %s", args, err, out)
	}
}

// run calls f on a thread inside the namespace. Sockets and devices f opens
// stay in the namespace and may be used from any goroutine afterwards.
func (n *testNetns) run(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		if err := netns.Set(n.h); err != nil {
			errc <- err
			return
		}
		errc <- f()
	}()
	return <-errc
}

// waitUp waits until ifname has carrier (its qdisc drops frames before).
func (n *testNetns) waitUp(ifname string) {
	n.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, _ := runCmd("ip", "-n", n.name, "-o", "link", "show", ifname)
		if strings.Contains(string(out), "LOWER_UP") && !strings.Contains(string(out), "NO-CARRIER") {
			return
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("%s not up: %s", ifname, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
