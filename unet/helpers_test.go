package unet

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ustack/ustack/engine"
	"github.com/ustack/ustack/ip"
	"github.com/ustack/ustack/link/memlink"
	"github.com/ustack/ustack/tcp"
)

var (
	addrA = netip.MustParseAddr("10.0.0.1")
	addrB = netip.MustParseAddr("10.0.0.2")
)

// pair is two stacks joined by a memlink cable: A is 10.0.0.1, B 10.0.0.2.
type pair struct {
	A, B *Stack
}

type pairOpts struct {
	link memlink.Config
	tcp  tcp.Options
	ifcA ip.InterfaceConfig
}

func newPair(t testing.TB, o pairOpts) *pair {
	t.Helper()
	la, lb := memlink.Pair(o.link)
	mk := func(name string, l *memlink.Link, addr netip.Addr, ifc ip.InterfaceConfig) *Stack {
		s, err := New(Config{Name: name, TCP: o.tcp})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		ifc.Addrs = append(ifc.Addrs, netip.PrefixFrom(addr, 24))
		if _, err := s.AddLink(l, ifc); err != nil {
			t.Fatal(err)
		}
		return s
	}
	return &pair{
		A: mk("A", la, addrA, o.ifcA),
		B: mk("B", lb, addrB, ip.InterfaceConfig{}),
	}
}

// listen starts a listener on s at port (0: ephemeral) and returns it.
func listen(t testing.TB, s *Stack) *Listener {
	t.Helper()
	l, err := s.ListenTCP(netip.AddrPort{}, ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// remoteOf returns the address to dial for listener l on the stack at addr.
func remoteOf(l *Listener, addr netip.Addr) netip.AddrPort {
	return netip.AddrPortFrom(addr, l.AddrPort().Port())
}

// within fails the test if f does not return within d.
func within(t testing.TB, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s: did not finish within %v", what, d)
	}
}

type engineHost = engine.Host
