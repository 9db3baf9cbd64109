package netnstest

// Code runs inside a namespace on a goroutine locked to an OS thread that
// setns(2)s into it and never unlocks, so the thread is discarded
// afterwards and no other goroutine ever runs in the namespace by accident.
// Sockets and devices created there stay in the namespace and work from
// any goroutine.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// RequireRoot skips t unless the process runs as root; why says what the
// test needs root for ("needs root: " + why).
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: " + why)
	}
}

// RequireCommand skips t with msg unless the command name is on the PATH.
func RequireCommand(t testing.TB, name, msg string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skip(msg)
	}
}

// Output runs a command with a timeout and returns its combined output.
func Output(timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// Options tune a namespace made by New.
type Options struct {
	// CmdTimeout bounds each `ip` command (add, del, IP); 10 s if zero.
	CmdTimeout time.Duration
	// RunTimeout bounds Run; zero waits for fn however long it takes.
	RunTimeout time.Duration
	// DisableIPv6 turns IPv6 off in the namespace, so that no
	// autoconfiguration traffic disturbs the test (a failure is logged).
	DisableIPv6 bool
}

// NS is a throw-away network namespace of one test.
type NS struct {
	Name string // as known to `ip netns`
	t    testing.TB
	o    Options
}

// New creates the namespace "<prefix>-<pid>-<8 random hex digits>" with
// `ip netns add`, skipping t if that fails, registers its deletion with
// t.Cleanup (a failure to delete is an error) and brings lo up. The
// caller checks for root and for `ip` first (RequireRoot, RequireCommand).
func New(t testing.TB, prefix string, o Options) *NS {
	t.Helper()
	if o.CmdTimeout == 0 {
		o.CmdTimeout = 10 * time.Second
	}
	var rb [4]byte
	rand.Read(rb[:])
	n := &NS{Name: fmt.Sprintf("%s-%d-%s", prefix, os.Getpid(), hex.EncodeToString(rb[:])), t: t, o: o}
	if out, err := Output(o.CmdTimeout, "ip", "netns", "add", n.Name); err != nil {
		t.Skipf("needs network namespaces: ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := Output(o.CmdTimeout, "ip", "netns", "del", n.Name); err != nil {
			t.Errorf("ip netns del %s: %v: %s", n.Name, err, out)
		}
	})
	if o.DisableIPv6 {
		if err := n.Run(disableIPv6); err != nil {
			t.Logf("disable IPv6 in %s: %v (continuing)", n.Name, err)
		}
	}
	n.IP("link", "set", "lo", "up")
	return n
}

// disableIPv6 turns IPv6 off in the calling thread's namespace.
func disableIPv6() error {
	var errs []error
	for _, p := range []string{"all", "default"} {
		errs = append(errs, os.WriteFile("/proc/sys/net/ipv6/conf/"+p+"/disable_ipv6", []byte("1"), 0))
	}
	return errors.Join(errs...)
}

// IP runs `ip -n NS args...` and returns its output, failing the test on
// error.
func (n *NS) IP(args ...string) string {
	n.t.Helper()
	out, err := Output(n.o.CmdTimeout, "ip", append([]string{"-n", n.Name}, args...)...)
	if err != nil {
		n.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return out
}

// Exec runs a command inside the namespace (`ip netns exec`) and returns
// its combined output.
func (n *NS) Exec(timeout time.Duration, args ...string) (string, error) {
	return Output(timeout, "ip", append([]string{"netns", "exec", n.Name}, args...)...)
}

// Must is Exec with a 30 s timeout, failing the test on error.
func (n *NS) Must(args ...string) string {
	n.t.Helper()
	out, err := n.Exec(30*time.Second, args...)
	if err != nil {
		n.t.Fatalf("%s in %s: %v: %s", strings.Join(args, " "), n.Name, err, out)
	}
	return out
}

// Run calls fn on an OS thread inside the namespace (see the top of this
// file); with Options.RunTimeout it gives up waiting after that long.
func (n *NS) Run(fn func() error) error {
	ch := make(chan error, 1)
	go func() { ch <- in(n.Name, fn) }()
	if n.o.RunTimeout == 0 {
		return <-ch
	}
	select {
	case err := <-ch:
		return err
	case <-time.After(n.o.RunTimeout):
		return errors.New("timed out in netns")
	}
}

// in joins the calling goroutine's thread to namespace ns for good and
// calls fn.
func in(ns string, fn func() error) error {
	runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
	f, err := os.Open("/var/run/netns/" + ns)
	if err != nil {
		return err
	}
	err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
	f.Close()
	if err != nil {
		return fmt.Errorf("setns %s: %w", ns, err)
	}
	return fn()
}

// MustRun is Run failing the test on error.
func (n *NS) MustRun(fn func() error) {
	n.t.Helper()
	if err := n.Run(fn); err != nil {
		n.t.Fatal(err)
	}
}

// Listen opens a kernel listener inside the namespace, failing the test
// on error; t.Cleanup closes it.
func (n *NS) Listen(network, addr string) net.Listener {
	n.t.Helper()
	var ln net.Listener
	n.MustRun(func() (err error) {
		ln, err = net.Listen(network, addr)
		return err
	})
	n.t.Cleanup(func() { ln.Close() })
	return ln
}

// WaitRunning waits up to 5 s until ifname is operationally up
// (IFF_RUNNING), failing the test otherwise: before the carrier comes on,
// the device's qdisc is noop and silently discards what is sent.
func (n *NS) WaitRunning(ifname string) {
	n.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var flags net.Flags
		err := n.Run(func() error {
			ifi, err := net.InterfaceByName(ifname)
			if err == nil {
				flags = ifi.Flags
			}
			return err
		})
		if err != nil {
			n.t.Fatalf("%s: %v", ifname, err)
		}
		if flags&net.FlagRunning != 0 {
			return
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("%s in %s not running after 5s (flags %v)", ifname, n.Name, flags)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Veth connects namespaces a and b with a veth pair, aName in a and bName
// in b, gives the ends the addresses aAddr and bAddr (prefixes such as
// "10.0.0.1/24") and sets both up.
func Veth(a *NS, aName, aAddr string, b *NS, bName, bAddr string) {
	a.t.Helper()
	a.IP("link", "add", aName, "type", "veth", "peer", "name", bName, "netns", b.Name)
	a.IP("addr", "add", aAddr, "dev", aName)
	b.IP("addr", "add", bAddr, "dev", bName)
	a.IP("link", "set", aName, "up")
	b.IP("link", "set", bName, "up")
}

// Sysctl reads a sysctl ("net.ipv4.ip_forward") inside the namespace,
// failing the test on error.
func (n *NS) Sysctl(key string) string {
	n.t.Helper()
	var v []byte
	n.MustRun(func() (err error) {
		v, err = os.ReadFile("/proc/sys/" + strings.ReplaceAll(key, ".", "/"))
		return err
	})
	return strings.TrimSpace(string(v))
}
