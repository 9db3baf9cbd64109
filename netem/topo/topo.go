// Package topo builds the three-namespace topology the emulator is measured
// in, and runs code inside a namespace:
//
//	client ns            emulator ns                      server ns
//	cli0 10.77.0.1/24 ── emu-cli ⇄ netem ⇄ emu-srv ── srv0 10.77.0.2/24
//
// The four interfaces are two veth pairs. IPv6 is disabled in all three
// namespaces so no autoconfiguration traffic crosses the path, the
// endpoints know each other's MAC statically (a lost ARP would stall a
// measurement for a second), and the offloads that make frames bigger than
// the MTU or leave checksums to "hardware" are off on every interface (see
// netem.SetOffloads), so the emulator's rate model sees real frames.
// Everything is created with iproute2 (`ip`) and removed by Close.
//
// SetGRO turns generic receive offload back on for an endpoint's veth, as
// a real NIC has it: that kernel then coalesces the frames the emulator
// delivers into TCP super-segments before its own TCP, or a TAP it
// forwards to, sees them. It acts after the emulator, so the rate model
// still sees real frames.
package topo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ustack/ustack/netem"
)

// Interface names inside the namespaces.
const (
	ClientIf = "cli0"
	ServerIf = "srv0"
	EmuA     = "emu-cli" // bridged, faces the client
	EmuB     = "emu-srv" // bridged, faces the server
)

// Addresses of the endpoints.
var (
	ClientAddr = netip.MustParseAddr("10.77.0.1")
	ServerAddr = netip.MustParseAddr("10.77.0.2")
)

// Topo is a created topology.
type Topo struct {
	Client, Emu, Server string // namespace names
}

// Available reports why namespaces cannot be built here, or nil.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (network namespaces, veth devices)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("needs iproute2: `ip` not found")
	}
	return nil
}

// New creates the topology with namespaces named prefix-cli, prefix-emu
// and prefix-srv, removing leftovers of an earlier run with the same
// prefix first. On error nothing is left behind.
func New(prefix string) (t *Topo, err error) {
	if err := Available(); err != nil {
		return nil, err
	}
	t = &Topo{Client: prefix + "-cli", Emu: prefix + "-emu", Server: prefix + "-srv"}
	t.Close() // leftovers
	defer func() {
		if err != nil {
			t.Close()
			t = nil
		}
	}()
	for _, ns := range t.All() {
		if err := Cmd("ip", "netns", "add", ns); err != nil {
			return t, err
		}
		err := In(ns, func() error {
			for _, p := range []string{"all", "default"} {
				if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+p+"/disable_ipv6", []byte("1"), 0); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return t, fmt.Errorf("disable IPv6 in %s: %w", ns, err)
		}
		if err := Cmd("ip", "-n", ns, "link", "set", "lo", "up"); err != nil {
			return t, err
		}
	}
	steps := [][]string{
		{"ip", "-n", t.Client, "link", "add", ClientIf, "type", "veth", "peer", "name", EmuA, "netns", t.Emu},
		{"ip", "-n", t.Server, "link", "add", ServerIf, "type", "veth", "peer", "name", EmuB, "netns", t.Emu},
		{"ip", "-n", t.Client, "addr", "add", ClientAddr.String() + "/24", "dev", ClientIf},
		{"ip", "-n", t.Server, "addr", "add", ServerAddr.String() + "/24", "dev", ServerIf},
	}
	for _, s := range steps {
		if err := Cmd(s[0], s[1:]...); err != nil {
			return t, err
		}
	}
	for _, x := range []struct {
		ns, ifname string
		off        []netem.Offload
	}{
		{t.Client, ClientIf, netem.EndpointOffloads},
		{t.Server, ServerIf, netem.EndpointOffloads},
		{t.Emu, EmuA, netem.BridgeOffloads},
		{t.Emu, EmuB, netem.BridgeOffloads},
	} {
		if err := In(x.ns, func() error { return netem.SetOffloads(x.ifname, false, x.off...) }); err != nil {
			return t, err
		}
		if err := Cmd("ip", "-n", x.ns, "link", "set", x.ifname, "up"); err != nil {
			return t, err
		}
	}
	cmac, err := t.MAC(t.Client, ClientIf)
	if err != nil {
		return t, err
	}
	smac, err := t.MAC(t.Server, ServerIf)
	if err != nil {
		return t, err
	}
	if err := Cmd("ip", "-n", t.Client, "neigh", "replace", ServerAddr.String(), "lladdr", smac.String(), "dev", ClientIf, "nud", "permanent"); err != nil {
		return t, err
	}
	if err := Cmd("ip", "-n", t.Server, "neigh", "replace", ClientAddr.String(), "lladdr", cmac.String(), "dev", ServerIf, "nud", "permanent"); err != nil {
		return t, err
	}
	// Big socket buffers: a CUBIC flow can keep two BDPs of a 1 Gbit/s ×
	// 10 ms path in flight.
	for _, ns := range []string{t.Client, t.Server} {
		err := In(ns, func() error {
			return errors.Join(
				Sysctl("net/ipv4/tcp_rmem", "4096 131072 33554432"),
				Sysctl("net/ipv4/tcp_wmem", "4096 65536 33554432"),
				Sysctl("net/ipv4/tcp_no_metrics_save", "1"),
			)
		})
		if err != nil {
			return t, err
		}
	}
	for _, x := range [][2]string{{t.Client, ClientIf}, {t.Server, ServerIf}, {t.Emu, EmuA}, {t.Emu, EmuB}} {
		if err := waitRunning(x[0], x[1]); err != nil {
			return t, err
		}
	}
	return t, nil
}

// GROFlushTimeout is the gro_flush_timeout SetGRO gives an interface.
//
// A veth receives through NAPI once GRO is on (Linux ≥ 5.13), but every
// frame the emulator writes is its own NAPI poll, and GRO flushes at the
// end of a poll: with the default timeout of 0 nothing is ever coalesced.
// A NIC's interrupt moderation hands GRO several frames per poll; the
// flush timeout is the kernel's software form of it: held segments of a
// flow wait for the next poll and are flushed when the timeout passes
// without one, at 64 KiB, on a PSH, or after at most one jiffy. Frames
// arriving further apart than this (100 Mbit/s and slower) are passed up
// one by one, as without GRO.
const GROFlushTimeout = 50 * time.Microsecond

// SetGRO switches generic receive offload on (with GROFlushTimeout) or off
// (timeout 0) on interface ifname of namespace ns, and checks that the
// kernel applied it.
func (t *Topo) SetGRO(ns, ifname string, on bool) error {
	err := In(ns, func() error {
		if err := netem.SetOffloads(ifname, on, netem.OffloadGRO); err != nil {
			return err
		}
		got, err := netem.GetOffload(ifname, netem.OffloadGRO)
		if err != nil {
			return err
		}
		if got != on {
			return fmt.Errorf("topo: %s in %s: generic-receive-offload stayed %v (the driver does not switch it)", ifname, ns, got)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// sysfs shows the namespace's interfaces only where it is mounted in
	// that namespace, which `ip netns exec` does (in a private mount
	// namespace).
	timeout := time.Duration(0)
	if on {
		timeout = GROFlushTimeout
	}
	path := "/sys/class/net/" + ifname + "/gro_flush_timeout"
	if err := Cmd("ip", "netns", "exec", ns, "sh", "-c", fmt.Sprintf("echo %d > %s", timeout.Nanoseconds(), path)); err != nil {
		return fmt.Errorf("topo: setting %s in %s: %w", path, ns, err)
	}
	return nil
}

// All returns the namespace names.
func (t *Topo) All() []string { return []string{t.Client, t.Emu, t.Server} }

// Close deletes the namespaces (and with them the interfaces).
func (t *Topo) Close() error {
	var errs []error
	for _, ns := range t.All() {
		if _, err := os.Stat("/var/run/netns/" + ns); err != nil {
			continue
		}
		errs = append(errs, Cmd("ip", "netns", "del", ns))
	}
	return errors.Join(errs...)
}

// MAC returns an interface's hardware address in a namespace.
func (t *Topo) MAC(ns, ifname string) (net.HardwareAddr, error) {
	var mac net.HardwareAddr
	err := In(ns, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		mac = ifi.HardwareAddr
		return nil
	})
	return mac, err
}

// Bridge starts the emulator between EmuA (a, the client side) and EmuB
// (b, the server side) in the emulator namespace; cfg.A and cfg.B are
// filled in. AB is the client→server direction.
func (t *Topo) Bridge(cfg netem.Config) (*netem.Bridge, error) {
	cfg.A, cfg.B = EmuA, EmuB
	if cfg.AB.Name == "" {
		cfg.AB.Name = "client->server"
	}
	if cfg.BA.Name == "" {
		cfg.BA.Name = "server->client"
	}
	var br *netem.Bridge
	err := In(t.Emu, func() error {
		var err error
		br, err = netem.Open(cfg)
		return err
	})
	return br, err
}

// In runs fn on an OS thread that has joined the network namespace ns.
// Sockets fn creates stay in ns after it returns. The thread is discarded
// afterwards (its goroutine exits locked), so no other goroutine ever runs
// in ns by accident.
func In(ns string, fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open("/var/run/netns/" + ns)
		if err != nil {
			ch <- err
			return
		}
		err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
		f.Close()
		if err != nil {
			ch <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		ch <- fn()
	}()
	return <-ch
}

// Sysctl writes a sysctl of the calling thread's network namespace
// (path relative to /proc/sys, with slashes).
func Sysctl(path, value string) error {
	return os.WriteFile("/proc/sys/"+path, []byte(value), 0)
}

// Cmd runs a command with a 20 s timeout, folding its output into the
// error.
func Cmd(name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// waitRunning waits until an interface is operationally up: before the
// carrier comes on, a veth silently discards what is sent.
func waitRunning(ns, ifname string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		var up bool
		err := In(ns, func() error {
			ifi, err := net.InterfaceByName(ifname)
			if err != nil {
				return err
			}
			up = ifi.Flags&net.FlagRunning != 0
			return nil
		})
		if err != nil {
			return err
		}
		if up {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s in %s not running after 5s", ifname, ns)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
