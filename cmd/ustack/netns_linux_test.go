package main

// Scaffolding of the interop tests: throw-away network namespaces, commands
// run inside them, and `ustack run` as a child process.
//
// Each namespace is "ust-<tag>-<pid>-<random>", made with `ip netns add` and
// deleted in t.Cleanup. Sockets and devices the test process owns (servers,
// clients, tun devices, packet sockets) are created by a goroutine locked to
// an OS thread that setns(2)s into the namespace and never unlocks, so the
// thread is discarded afterwards; once created, they work from any goroutine.
// IPv6 is disabled in the namespaces so that no autoconfiguration traffic
// disturbs the counts.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func requireRootInterop(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("interop test (-short)")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces, taps, veths and nftables rules")
	}
	for _, c := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("needs %s", c)
		}
	}
}

type testNS struct {
	t    *testing.T
	name string
}

func newTestNS(t *testing.T, tag string) *testNS {
	t.Helper()
	var rb [3]byte
	rand.Read(rb[:])
	name := fmt.Sprintf("ust-%s-%d-%s", tag, os.Getpid()%100000, hex.EncodeToString(rb[:]))
	if out, err := cmdOut(10*time.Second, "ip", "netns", "add", name); err != nil {
		t.Skipf("needs network namespaces: ip netns add: %v: %s", err, out)
	}
	n := &testNS{t: t, name: name}
	t.Cleanup(func() {
		if out, err := cmdOut(10*time.Second, "ip", "netns", "del", name); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	n.run(func() error {
		for _, p := range []string{"all", "default"} {
			os.WriteFile("/proc/sys/net/ipv6/conf/"+p+"/disable_ipv6", []byte("1"), 0)
		}
		return nil
	})
	n.ip("link", "set", "lo", "up")
	return n
}

func cmdOut(timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// ip runs `ip -n NS args...`, failing the test on error.
func (n *testNS) ip(args ...string) string {
	n.t.Helper()
	out, err := cmdOut(10*time.Second, "ip", append([]string{"-n", n.name}, args...)...)
	if err != nil {
		n.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return out
}

// exec runs a command inside the namespace and returns its output.
func (n *testNS) exec(timeout time.Duration, args ...string) (string, error) {
	return cmdOut(timeout, "ip", append([]string{"netns", "exec", n.name}, args...)...)
}

// must runs a command inside the namespace, failing the test on error.
func (n *testNS) must(args ...string) string {
	n.t.Helper()
	out, err := n.exec(30*time.Second, args...)
	if err != nil {
		n.t.Fatalf("%s in %s: %v: %s", strings.Join(args, " "), n.name, err, out)
	}
	return out
}

// run calls fn on an OS thread inside the namespace; the thread is
// discarded afterwards.
func (n *testNS) run(fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open("/var/run/netns/" + n.name)
		if err != nil {
			ch <- err
			return
		}
		err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
		f.Close()
		if err != nil {
			ch <- fmt.Errorf("setns %s: %w", n.name, err)
			return
		}
		ch <- fn()
	}()
	return <-ch
}

// mustRun is run failing the test on error.
func (n *testNS) mustRun(fn func() error) {
	n.t.Helper()
	if err := n.run(fn); err != nil {
		n.t.Fatal(err)
	}
}

// veth connects two namespaces with addresses on both ends.
func veth(t *testing.T, a *testNS, aName, aAddr string, b *testNS, bName, bAddr string) {
	t.Helper()
	a.ip("link", "add", aName, "type", "veth", "peer", "name", bName, "netns", b.name)
	a.ip("addr", "add", aAddr, "dev", aName)
	b.ip("addr", "add", bAddr, "dev", bName)
	a.ip("link", "set", aName, "up")
	b.ip("link", "set", bName, "up")
}

// sysctl reads a sysctl inside the namespace.
func (n *testNS) sysctl(key string) string {
	n.t.Helper()
	var v []byte
	n.mustRun(func() error {
		var err error
		v, err = os.ReadFile("/proc/sys/" + strings.ReplaceAll(key, ".", "/"))
		return err
	})
	return strings.TrimSpace(string(v))
}

// buildUstack builds the binary into a temporary directory.
func buildUstack(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ustack")
	out, err := cmdOut(3*time.Minute, "go", "build", "-o", bin, ".")
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// syncBuf is a goroutine-safe output buffer.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// ustackProc is a running `ustack run`.
type ustackProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	out  *syncBuf
	done chan struct{}
	err  error
	ctl  string
}

// startUstack runs `ustack run args...` in ns and waits until its control
// socket answers.
func startUstack(t *testing.T, bin string, ns *testNS, ctl string, args ...string) *ustackProc {
	t.Helper()
	p := &ustackProc{t: t, out: &syncBuf{}, done: make(chan struct{}), ctl: ctl}
	// `ip netns exec` execs the command in place: the pid is ustack's.
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", ns.name, bin, "run"}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, _, err := fetchSnapshot(ctl); err == nil {
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("ustack run exited: %v\n%s", p.err, p.out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("ustack run not ready after 15s:\n%s", p.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends sig and waits for the exit (15 s at most). Before a clean
// stop it logs the sessions still running and the connections left.
func (p *ustackProc) stop(sig syscall.Signal) {
	p.t.Helper()
	if s, _, err := fetchSnapshot(p.ctl); err == nil && sig != syscall.SIGKILL {
		states := map[string]int{}
		for _, c := range s.Conns {
			states[c.State]++
		}
		var active int64
		for _, f := range s.Frontends {
			active += f.Active
		}
		p.t.Logf("before %v: %d sessions active, connections by state %v", sig, active, states)
	}
	t0 := time.Now()
	defer func() { p.t.Logf("ustack run stopped %v after %v", sig, time.Since(t0).Round(time.Millisecond)) }()
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("ustack run did not exit within 15s of %v:\n%s", sig, p.out)
	}
	if sig != syscall.SIGKILL && p.err != nil {
		p.t.Errorf("ustack run exited with %v:\n%s", p.err, p.out)
	}
}
