// Endpoints: what the client connects to in a benchmark cell. The kernel
// endpoints are the bulk server itself with the download's congestion
// control set on its socket; the ustack endpoints are the same server
// behind `ustack run`, which terminates the client's TCP in the userspace
// stack (with its own congestion control and pacing) and relays the bytes
// to the server through the server namespace's kernel.

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ustack/ustack/netem/topo"
)

// Sender names one of the four senders compared.
type Sender struct {
	Name   string // "kernel-cubic", "ustack-bbr", ...
	Ustack bool   // behind ustack run
	CC     string // cubic or bbr
}

// Label is the sender's human name.
func (s Sender) Label() string {
	stack := "kernel"
	if s.Ustack {
		stack = "ustack"
	}
	return stack + " " + strings.ToUpper(s.CC)
}

// The senders, in table order.
var (
	KernelCubic = Sender{"kernel-cubic", false, "cubic"}
	KernelBBR   = Sender{"kernel-bbr", false, "bbr"}
	UstackBBR   = Sender{"ustack-bbr", true, "bbr"}
	UstackCubic = Sender{"ustack-cubic", true, "cubic"}
	Senders     = []Sender{KernelCubic, KernelBBR, UstackBBR, UstackCubic}
	// UstackBBRHi is ustack's BBR with the congestive-loss cap (cc
	// "bbr-hi"); not in the main table's default senders.
	UstackBBRHi = Sender{"ustack-bbr-hi", true, "bbr-hi"}
	AllSenders  = append(append([]Sender{}, Senders...), UstackBBRHi)
)

// Endpoint is the server side of a cell.
type Endpoint interface {
	Sender() Sender
	// Addr is where the client connects.
	Addr() string
	// DownloadCC is the congestion control the request asks of the
	// kernel server ("-": whatever it uses, e.g. behind a relay).
	DownloadCC() string
	// Snapshot is called at the end of a download's window with the
	// client's address; Retrans then returns the sender's retransmitted
	// segments (ok false if unknown).
	Snapshot(client netip.AddrPort)
	Retrans(client netip.AddrPort) (n uint64, ok bool)
	Close() error
}

// kernelEndpoint is the bulk server with the cell's congestion control.
type kernelEndpoint struct {
	s   Sender
	srv *Server
}

func (k *kernelEndpoint) Sender() Sender          { return k.s }
func (k *kernelEndpoint) Addr() string            { return k.srv.Addr().String() }
func (k *kernelEndpoint) DownloadCC() string      { return k.s.CC }
func (k *kernelEndpoint) Snapshot(netip.AddrPort) {}
func (k *kernelEndpoint) Close() error            { return nil }
func (k *kernelEndpoint) Retrans(c netip.AddrPort) (uint64, bool) {
	st, ok := k.srv.SenderStats(c, 5*time.Second)
	return uint64(st.TotalRetrans), ok
}

// UstackConfig says how to start `ustack run` for the ustack endpoints.
type UstackConfig struct {
	// Bin is the ustack binary; empty disables the ustack endpoints.
	Bin string
	// Dir holds control sockets and logs (default: a temporary directory).
	Dir string
	// ExtraArgs are appended to every `ustack run` command line.
	ExtraArgs []string
}

// ustackEndpoint is `ustack run` in the server namespace: a TAP with the
// host side at 10.78.N.1 and the stack at 10.78.N.2, DNAT from the
// server's veth for its port, relaying to the bulk server.
type ustackEndpoint struct {
	s       Sender
	port    int
	cmd     *exec.Cmd
	ctl     string
	logPath string
	exited  chan struct{}

	mu   sync.Mutex
	last map[netip.AddrPort]uint64
	err  error
}

// startUstack starts `ustack run` for sender s (index n picks the TAP,
// subnet and port) and waits until it relays.
func startUstack(ctx context.Context, tp *topo.Topo, cfg UstackConfig, s Sender, n int, backend string) (*ustackEndpoint, error) {
	port := 5300 + n
	instance := fmt.Sprintf("e2e-%s", s.Name)
	tap := fmt.Sprintf("ust%d", n)
	e := &ustackEndpoint{s: s, port: port, last: map[netip.AddrPort]uint64{}, exited: make(chan struct{})}
	e.ctl = filepath.Join(cfg.Dir, instance+".sock")
	e.logPath = filepath.Join(cfg.Dir, instance+".log")
	logf, err := os.Create(e.logPath)
	if err != nil {
		return nil, err
	}
	args := []string{"netns", "exec", tp.Server, cfg.Bin, "run",
		"-instance", instance, "-control", e.ctl, "-drain", "1s",
		"-iface", "tap", "-param", tap,
		"-addr", fmt.Sprintf("10.78.%d.2/24", n), "-gw", fmt.Sprintf("10.78.%d.1", n),
		"-host-addr", fmt.Sprintf("10.78.%d.1/24", n), "-dnat-from", topo.ServerIf,
		"-listen", fmt.Sprintf("0.0.0.0:%d", port), "-backend", backend,
		"-cc", s.CC,
	}
	args = append(args, cfg.ExtraArgs...)
	e.cmd = exec.Command("ip", args...)
	e.cmd.Stdout, e.cmd.Stderr = logf, logf
	if err := e.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() {
		e.cmd.Wait()
		logf.Close()
		close(e.exited)
	}()
	// Ready when the control socket answers and a connection through the
	// path is accepted by the relay.
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := fetchConns(e.ctl); err == nil {
			break
		}
		select {
		case <-e.exited:
			return nil, fmt.Errorf("ustack run (%s) exited: %s", s.Name, tail(e.logPath))
		case <-ctx.Done():
			e.Close()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			e.Close()
			return nil, fmt.Errorf("ustack run (%s) not ready after 15s: %s", s.Name, tail(e.logPath))
		}
	}
	return e, nil
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	s := strings.TrimSpace(string(b))
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	if s == "" {
		return "(no output)"
	}
	return s
}

func (e *ustackEndpoint) Sender() Sender     { return e.s }
func (e *ustackEndpoint) Addr() string       { return fmt.Sprintf("%s:%d", topo.ServerAddr, e.port) }
func (e *ustackEndpoint) DownloadCC() string { return "-" }

func (e *ustackEndpoint) Snapshot(client netip.AddrPort) {
	conns, err := fetchConns(e.ctl)
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		e.err = err
		return
	}
	for _, c := range conns {
		if c.Peer == client.String() {
			e.last[client] = c.TotalRetrans
			return
		}
	}
}

func (e *ustackEndpoint) Retrans(client netip.AddrPort) (uint64, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	n, ok := e.last[client]
	delete(e.last, client)
	return n, ok
}

// Close stops ustack run (SIGTERM, then SIGKILL after 5 s) and waits.
func (e *ustackEndpoint) Close() error {
	select {
	case <-e.exited:
		return nil
	default:
	}
	// ip netns exec replaces itself with ustack, so the pid is ustack's.
	e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.exited:
	case <-time.After(5 * time.Second):
		e.cmd.Process.Kill()
		<-e.exited
	}
	return nil
}

// connInfo is the part of `ustack ss -json`'s connection record used here.
type connInfo struct {
	State        string `json:"state"`
	Local        string `json:"local"`
	Peer         string `json:"peer"`
	CC           string `json:"cc"`
	TotalRetrans uint64 `json:"retrans"`
	BytesSent    uint64 `json:"bytes_sent"`
	BytesRetrans uint64 `json:"bytes_retrans"`
	RTTUs        int64  `json:"rtt_us"`
}

// fetchConns reads the connections from a ustack run control socket (the
// snapshot `ustack ss -json` prints).
func fetchConns(ctl string) ([]connInfo, error) {
	cl := &http.Client{
		Timeout: 3 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", ctl)
		}},
	}
	defer cl.CloseIdleConnections()
	resp, err := cl.Get("http://ustack/v1/snapshot")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, errors.New(resp.Status)
	}
	var snap struct {
		Conns []connInfo `json:"conns"`
	}
	if err := json.Unmarshal(body, &snap); err != nil {
		return nil, err
	}
	return snap.Conns, nil
}
