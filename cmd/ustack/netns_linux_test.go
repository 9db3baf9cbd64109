package main

// Scaffolding of the interop tests: throw-away network namespaces (see
// internal/netnstest), commands run inside them, and `ustack run` as a
// child process.
//
// Each namespace is "ust-<tag>-<pid>-<random>", made with `ip netns add` and
// deleted in t.Cleanup. Sockets and devices the test process owns (servers,
// clients, tun devices, packet sockets) are created by NS.Run on a thread
// that is discarded afterwards; once created, they work from any goroutine.
// IPv6 is disabled in the namespaces so that no autoconfiguration traffic
// disturbs the counts.

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ustack/ustack/internal/netnstest"
)

func requireRootInterop(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("interop test (-short)")
	}
	netnstest.RequireRoot(t, "creates network namespaces, taps, veths and nftables rules")
	for _, c := range []string{"ip", "nft"} {
		netnstest.RequireCommand(t, c, "needs "+c)
	}
}

// newTestNS makes a namespace "ust-<tag>-..." with IPv6 off.
func newTestNS(t *testing.T, tag string) *netnstest.NS {
	t.Helper()
	return netnstest.New(t, "ust-"+tag, netnstest.Options{DisableIPv6: true})
}

// buildUstack builds the binary into a temporary directory.
func buildUstack(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ustack")
	out, err := netnstest.Output(3*time.Minute, "go", "build", "-o", bin, ".")
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
func startUstack(t *testing.T, bin string, ns *netnstest.NS, ctl string, args ...string) *ustackProc {
	t.Helper()
	p := &ustackProc{t: t, out: &syncBuf{}, done: make(chan struct{}), ctl: ctl}
	// `ip netns exec` execs the command in place: the pid is ustack's.
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", ns.Name, bin, "run"}, args...)...)
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
