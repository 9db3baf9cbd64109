// DryRun golden tests and pure unit tests: no root, no host access. Run
// with -update to rewrite the golden files after an intended change.
package hostsetup

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func tapPlan(instance, tap, pub string) Plan {
	return Plan{
		Instance: instance,
		TAP: &TAP{Name: tap, Create: true, Owner: -1, Group: -1, MTU: 1400,
			HostAddrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24"), netip.MustParsePrefix("fd00::1/64")}},
		IPv4Forwarding: true,
		IPv6Forwarding: true,
		DNATInterface:  pub,
		DNAT: []DNAT{
			{Ports: Port(443), To: netip.MustParseAddr("10.0.0.2")},
			{Ports: PortRange{8000, 8100}, To: netip.MustParseAddr("10.0.0.2")},
			{Ports: Port(443), To: netip.MustParseAddr("fd00::2")},
		},
		Masquerade: []netip.Addr{netip.MustParseAddr("10.0.0.2")},
	}
}

func rawPlan(instance, pub string) Plan {
	return Plan{
		Instance: instance,
		Raw: &Raw{Interface: pub,
			Addrs:          []netip.Addr{netip.MustParseAddr("192.0.2.10")},
			ListenPorts:    []PortRange{Port(443), {10000, 10100}},
			EphemeralPorts: PortRange{40000, 40999}},
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if got != string(want) {
		t.Errorf("%s: output differs from %s (rerun with -update if intended)\ngot:\n%s\nwant:\n%s", name, path, got, want)
	}
}

func TestDryRunGolden(t *testing.T) {
	golden(t, "dryrun_tap", DryRun(tapPlan("web", "lkl-tap", "venet0")))
	golden(t, "dryrun_raw", DryRun(rawPlan("ssh", "venet0")))
	p := tapPlan("exist", "lkl-tap", "")
	p.TAP = &TAP{Name: "lkl-tap", Owner: -1, Group: -1}
	p.IPv6Forwarding, p.Masquerade = false, nil
	golden(t, "dryrun_existing_tap", DryRun(p))
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(p *Plan)
		want string
	}{
		{"ok", func(p *Plan) {}, ""},
		{"instance", func(p *Plan) { p.Instance = "a b" }, `instance name "a b": only letters`},
		{"no instance", func(p *Plan) { p.Instance = "" }, "instance name is empty"},
		{"tap name", func(p *Plan) { p.TAP.Name = "a-very-long-interface-name" }, "not a valid interface name"},
		{"addr without create", func(p *Plan) { p.TAP.Create = false }, "host addresses need create"},
		{"mtu", func(p *Plan) { p.TAP.MTU = 10 }, "mtu 10 out of range"},
		{"dnat ports", func(p *Plan) { p.DNAT[0].Ports = PortRange{9, 3} }, "dnat 0: bad port range 9-3"},
		{"dnat overlap", func(p *Plan) { p.DNAT[1].Ports = PortRange{400, 500} }, "dnat 1: ports 400-500 overlap dnat 0 (443)"},
		{"dnat to", func(p *Plan) { p.DNAT[0].To = netip.IPv4Unspecified() }, "dnat 0: bad target address 0.0.0.0"},
		{"raw and tap", func(p *Plan) { p.Raw = &Raw{Interface: "eth0"} }, "raw mode and a tap"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tapPlan("web", "lkl-tap", "venet0")
			tc.edit(&p)
			err := p.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	r := rawPlan("x", "eth0")
	r.Raw.ListenPorts = append(r.Raw.ListenPorts, PortRange{40500, 40600})
	if err := r.Validate(); err == nil || !strings.Contains(err.Error(), "overlap the ephemeral range") {
		t.Fatalf("raw overlap: %v", err)
	}
}

func TestSysErr(t *testing.T) {
	err := sysErr("add link", fmt.Errorf("netlink: %w", syscall.EPERM))
	if got, want := err.Error(), "add link: needs root or CAP_NET_ADMIN (operation not permitted)"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	err = sysErr("x", errors.New("a\nb"))
	if strings.Contains(err.Error(), "\n") {
		t.Fatalf("multi-line error %q", err)
	}
}

func TestRecords(t *testing.T) {
	for _, c := range []sysctlChange{
		{key: keyForward4, old: "0", new: "1"},
		{key: keyForward6, old: "0", new: "1"},
		{key: keyReserved, add: PortRange{40000, 40999}},
	} {
		got, ok := parseRecord(c.record())
		if !ok || got != c {
			t.Errorf("round trip of %q: got %+v, %v", c.record(), got, ok)
		}
	}
	for _, bad := range []string{
		"", "ustack sysctl", "ustack sysctl kernel.core_pattern old=a new=b",
		"ustack sysctl net.ipv4.ip_forward old=0 new=|x", "ustack sysctl net.ipv4.ip_local_reserved_ports add=0",
		"ustack sysctl net.ipv4.ip_local_reserved_ports add=9-3",
	} {
		if _, ok := parseRecord(bad); ok {
			t.Errorf("parseRecord(%q) accepted", bad)
		}
	}
}

func TestSubtract(t *testing.T) {
	x := PortRange{40000, 40999}
	for _, tc := range []struct {
		in   PortRange
		want string
	}{
		{PortRange{40000, 40999}, "[]"},
		{PortRange{8080, 8080}, "[8080]"},
		{PortRange{39000, 41000}, "[39000-39999 41000]"},
		{PortRange{40500, 42000}, "[41000-42000]"},
	} {
		if got := fmt.Sprint(subtract(tc.in, x)); got != tc.want {
			t.Errorf("subtract(%v) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
