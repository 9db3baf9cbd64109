// Table tests for every source: each input is parsed into a whole expected
// Config (compared field by field, origins aside), and each bad input must
// give one exact one-line message naming where the problem is.
package config

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ustack/ustack/hostsetup"
)

func mac(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }

// strip drops what comparisons should ignore.
func strip(c *Config) *Config {
	d := *c
	d.origin, d.Warnings = nil, nil
	return &d
}

func same(t *testing.T, got, want *Config) {
	t.Helper()
	if !reflect.DeepEqual(strip(got), strip(want)) {
		t.Errorf("config differs\ngot:\n%s\nwant:\n%s\n(got %#v)", got, want, strip(got))
	}
}

func hasWarning(t *testing.T, c *Config, sub string) {
	t.Helper()
	for _, w := range c.Warnings {
		if strings.Contains(w, sub) {
			return
		}
	}
	t.Errorf("no warning containing %q in %q", sub, c.Warnings)
}

// openVZ is the typical LKL OpenVZ setup as the environment gives it.
var openVZEnv = []string{
	"PATH=/usr/bin",
	"LD_PRELOAD=liblkl-hijack.so",
	"LKL_HIJACK_NET_IFTYPE=tap",
	"LKL_HIJACK_NET_IFPARAMS=lkl-tap",
	"LKL_HIJACK_NET_IP=10.0.0.2",
	"LKL_HIJACK_NET_NETMASK_LEN=24",
	"LKL_HIJACK_NET_GATEWAY=10.0.0.1",
	"LKL_HIJACK_OFFLOAD=0x8883",
	"LKL_HIJACK_NET_QDISC=root|fq",
	"LKL_HIJACK_SYSCTL=net.ipv4.tcp_congestion_control=bbr;net.ipv4.tcp_wmem=4096 65536 67108864",
	"LKL_HIJACK_BOOT_CMDLINE=mem=256m",
	"LKL_HIJACK_DEBUG=1",
}

func openVZWant() *Config {
	c := Default()
	c.Interface = Interface{Type: TAP, Param: "lkl-tap",
		Addr: netip.MustParsePrefix("10.0.0.2/24"), Gateway: netip.MustParseAddr("10.0.0.1"),
		Offload: 0x8883, Qdisc: "root|fq"}
	c.Stack.WMem = Buffers{4096, 65536, 67108864}
	c.Host.CreateTAP, c.Host.ManageRules = false, false
	return c
}

func TestLKLEnvOpenVZ(t *testing.T) {
	c, err := ParseLKLEnv(openVZEnv)
	if err != nil {
		t.Fatal(err)
	}
	same(t, c, openVZWant())
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	hasWarning(t, c, "LKL_HIJACK_NET_QDISC: qdisc \"root|fq\" accepted; ustack always paces")
	hasWarning(t, c, "LKL_HIJACK_BOOT_CMDLINE: accepted and ignored")
	hasWarning(t, c, "LKL_HIJACK_DEBUG: accepted and ignored")
}

// The rinetd-bbr setup: LKL's raw backend on venet0, the host's public IP,
// buffers raised; tcp_sack and friends are ignored with a warning.
func TestLKLEnvRinetdRaw(t *testing.T) {
	c, err := ParseLKLEnv([]string{
		"LKL_HIJACK_NET_IFTYPE=raw",
		"LKL_HIJACK_NET_IFPARAMS=venet0",
		"LKL_HIJACK_NET_IP=203.0.113.7",
		"LKL_HIJACK_NET_NETMASK_LEN=32",
		"LKL_HIJACK_NET_GATEWAY=203.0.113.1",
		"LKL_HIJACK_NET_MAC=02:00:00:00:00:01",
		"LKL_HIJACK_NET_NEIGHBOR=203.0.113.1|02:00:00:00:00:02;2001:db8::1|02:00:00:00:00:03",
		"LKL_HIJACK_OFFLOAD=35459",
		"LKL_HIJACK_SYSCTL=net/ipv4/tcp_rmem=4096 87380 6291456;net.ipv4.tcp_sack=0;;net.core.somaxconn=1024",
		"LKL_HIJACK_NET_MTU=1400",
		"LKL_HIJACK_SINGLE_CPU=1",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Interface = Interface{Type: Raw, Param: "venet0", MTU: 1400, MAC: mac("02:00:00:00:00:01"),
		Addr: netip.MustParsePrefix("203.0.113.7/32"), Gateway: netip.MustParseAddr("203.0.113.1"),
		Neighbors: []Neighbor{
			{netip.MustParseAddr("203.0.113.1"), mac("02:00:00:00:00:02")},
			{netip.MustParseAddr("2001:db8::1"), mac("02:00:00:00:00:03")},
		},
		Offload: 0x8a83}
	want.Stack.RMem = Buffers{4096, 87380, 6291456}
	want.Host.CreateTAP, want.Host.ManageRules = false, false
	same(t, c, want)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	hasWarning(t, c, "LKL_HIJACK_SYSCTL: sysctl net.ipv4.tcp_sack=0 ignored")
	hasWarning(t, c, "LKL_HIJACK_SYSCTL: sysctl net.core.somaxconn has no ustack equivalent")
	hasWarning(t, c, "LKL_HIJACK_OFFLOAD: offload bits are ignored on the raw interface")
}

const lklJSON = `{
	"gateway": "192.168.113.1",
	"gateway6": "fc03::1",
	"debug": "1",
	"singlecpu": "1",
	"sysctl": "net.ipv4.tcp_wmem=4096 87380 2147483647",
	"boot_cmdline": "ip=dhcp",
	"interfaces": [
		{
			"mac": "12:34:56:78:9a:bc",
			"type": "tap",
			"param": "tap7",
			"ip": "192.168.113.2",
			"masklen": "24",
			"ifgateway": "192.168.113.1",
			"ipv6": "fc03::2",
			"masklen6": 64,
			"ifgateway6": "fc03::1",
			"offload": "0xc803",
			"qdisc": "root|fq",
			"neigh": "192.168.113.1|12:34:56:78:9a:be"
		}
	]
}`

func TestLKLJSON(t *testing.T) {
	c, err := ParseLKLJSON("lkl-hijack.json", []byte(lklJSON))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Interface = Interface{Type: TAP, Param: "tap7", MAC: mac("12:34:56:78:9a:bc"),
		Addr: netip.MustParsePrefix("192.168.113.2/24"), Addr6: netip.MustParsePrefix("fc03::2/64"),
		Gateway: netip.MustParseAddr("192.168.113.1"), Gateway6: netip.MustParseAddr("fc03::1"),
		Neighbors: []Neighbor{{netip.MustParseAddr("192.168.113.1"), mac("12:34:56:78:9a:be")}},
		Offload:   0xc803, Qdisc: "root|fq"}
	want.Stack.WMem = Buffers{4096, 87380, 2147483647}
	want.Host.CreateTAP, want.Host.ManageRules = false, false
	same(t, c, want)
	hasWarning(t, c, "lkl-hijack.json: boot_cmdline: accepted and ignored")
}

// The file overrides the environment key by key; what only the
// environment sets stays.
func TestFileOverridesEnv(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cfg.json")
	if err := os.WriteFile(path, []byte(`{"interfaces":[{"ip":"10.0.0.3","type":"tap"}],"sysctl":"net.ipv4.tcp_congestion_control=cubic"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(append([]string(nil), openVZEnv...), "LKL_HIJACK_CONFIG_FILE="+path, "LKL_HIJACK_NET_MTU=1400")
	c, err := LoadLKL(env)
	if err != nil {
		t.Fatal(err)
	}
	want := openVZWant()
	want.Interface.Addr = netip.MustParsePrefix("10.0.0.3/24") // ip from the file, masklen from env
	want.Interface.MTU = 1400
	want.Stack.Congestion = "cubic"
	want.Stack.WMem = Default().Stack.WMem // the file's sysctl replaces the env's whole list, as in LKL
	same(t, c, want)
	if got := c.at("address"); got != path+": interfaces[0].ip" {
		t.Errorf("address origin %q", got)
	}

	// A bad value in the file is reported against the file.
	os.WriteFile(path, []byte(`{"interfaces":[{"ip":"10.0.0.300"}]}`), 0o644)
	if _, err := LoadLKL(env); err == nil || err.Error() != path+`: interfaces[0].ip: "10.0.0.300" is not an IPv4 address` {
		t.Errorf("got %v", err)
	}
	// A named file must exist; the default one need not.
	if _, err := LoadLKL([]string{"LKL_HIJACK_CONFIG_FILE=" + filepath.Join(dir, "nope.json")}); err == nil ||
		!strings.Contains(err.Error(), "nope.json: no such file or directory") {
		t.Errorf("missing file: %v", err)
	}
	t.Chdir(dir)
	if _, err := LoadLKL(openVZEnv); err != nil {
		t.Errorf("without a default file: %v", err)
	}
}

func TestFileExample(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("testdata/openvz-tap.conf")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```\n"+string(data)+"```") {
		t.Errorf("testdata/openvz-tap.conf and the README example differ")
	}
	c, err := ParseFile("openvz-tap.conf", data)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Interface = Interface{Type: TAP, Param: "lkl-tap", MTU: 1500, Offload: 0x8883,
		Addr: netip.MustParsePrefix("10.0.0.2/24"), Gateway: netip.MustParseAddr("10.0.0.1")}
	want.Stack.WMem = Buffers{4096, 65536, 67108864}
	want.Stack.RMem = Buffers{4096, 87380, 67108864}
	want.Host.Address = netip.MustParsePrefix("10.0.0.1/24")
	want.Host.DNATFrom = "venet0"
	want.Host.Masquerade = true
	any4 := netip.IPv4Unspecified()
	want.Frontends = []Frontend{
		{any4, hostsetup.Port(443), "10.0.0.1", hostsetup.Port(443), ProxyV2, 300 * time.Second, "openvz-tap.conf:20"},
		{any4, hostsetup.Port(80), "10.0.0.1", hostsetup.Port(8080), ProxyV1, 0, "openvz-tap.conf:21"},
		{any4, PortRange{First: 10000, Last: 10100}, "10.0.0.1", PortRange{First: 10000, Last: 10100}, ProxyNone, 0, "openvz-tap.conf:22"},
	}
	want.Control, want.Metrics = "/run/ustack/web.sock", "127.0.0.1:9100"
	same(t, c, want)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 0 {
		t.Errorf("warnings: %q", c.Warnings)
	}

	// Its host plan: the TAP with the host address, DNAT of every
	// forwarding from venet0, masquerade, IPv4 forwarding.
	p := c.HostPlan("web")
	to := netip.MustParseAddr("10.0.0.2")
	wantPlan := hostsetup.Plan{Instance: "web",
		TAP: &hostsetup.TAP{Name: "lkl-tap", Create: true, Owner: -1, Group: -1, MTU: 1500,
			HostAddrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}},
		IPv4Forwarding: true, DNATInterface: "venet0",
		DNAT: []hostsetup.DNAT{{Ports: hostsetup.Port(443), To: to}, {Ports: hostsetup.Port(80), To: to},
			{Ports: PortRange{First: 10000, Last: 10100}, To: to}},
		Masquerade: []netip.Addr{to},
	}
	if !reflect.DeepEqual(p, wantPlan) {
		t.Errorf("plan\n%#v\nwant\n%#v", p, wantPlan)
	}
	if err := p.Validate(); err != nil {
		t.Error(err)
	}

	// String gives a file that reads back to the same Config.
	back, err := ParseFile("string", []byte(c.String()))
	if err != nil {
		t.Fatalf("%v\n%s", err, c)
	}
	for i := range back.Frontends {
		back.Frontends[i].Origin = c.Frontends[i].Origin
	}
	same(t, back, c)
}

func TestRawFilePlan(t *testing.T) {
	c, err := ParseFile("r.conf", []byte(`interface cooked venet0
address 203.0.113.7/32
0.0.0.0 443 127.0.0.1 8443
203.0.113.7 22000-22010 127.0.0.1 22000-22010
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	p := c.HostPlan("ssh")
	want := hostsetup.Plan{Instance: "ssh", Raw: &hostsetup.Raw{Interface: "venet0",
		Addrs:          []netip.Addr{netip.MustParseAddr("203.0.113.7")},
		ListenPorts:    []PortRange{hostsetup.Port(443), {First: 22000, Last: 22010}},
		EphemeralPorts: PortRange{First: 61000, Last: 65535}}}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("plan\n%#v\nwant\n%#v", p, want)
	}
}

func TestAddFrontend(t *testing.T) {
	c := Default()
	for _, tc := range []struct{ listen, backend, opt, want string }{
		{":443", "127.0.0.1:8443", "proxy=v2", "0.0.0.0 443 127.0.0.1 8443 proxy=v2"},
		{"0.0.0.0:8000-8100", "backend.example:9000-9100", "idle=90", "0.0.0.0 8000-8100 backend.example 9000-9100 idle=1m30s"},
		{"[::]:22", "[::1]:2222", "", ":: 22 ::1 2222"},
	} {
		var opts []string
		if tc.opt != "" {
			opts = []string{tc.opt}
		}
		if err := c.AddFrontend(tc.listen, tc.backend, opts...); err != nil {
			t.Fatalf("%s: %v", tc.listen, err)
		}
		lines := strings.Split(strings.TrimSpace(c.String()), "\n")
		if got := lines[len(lines)-1]; got != tc.want {
			t.Errorf("AddFrontend(%q, %q) = %q, want %q", tc.listen, tc.backend, got, tc.want)
		}
	}
	for _, tc := range []struct{ listen, backend, want string }{
		{"443", "1.2.3.4:1", `listen "443": want HOST:PORT`},
		{":443", "1.2.3.4", `backend "1.2.3.4": want HOST:PORT`},
		{":443", "[::1:80", `backend "[::1:80": want [IPv6]:PORT`},
		{":0", "1.2.3.4:1", `flags: listen port "0" is not a port or range like 8000-8100`},
		{":1", "bad_host:1", `flags: backend "bad_host" is not an IP address or host name`},
	} {
		if err := c.AddFrontend(tc.listen, tc.backend); err == nil || err.Error() != tc.want {
			t.Errorf("AddFrontend(%q, %q): %v, want %q", tc.listen, tc.backend, err, tc.want)
		}
	}
}

// Bad inputs and their exact messages.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"address 10.0.0.2", `u.conf:1: "10.0.0.2" is not an address with prefix length like 10.0.0.2/24`},
		{"address 10.0.0.300/24", `u.conf:1: "10.0.0.300/24" is not an address with prefix length like 10.0.0.2/24`},
		{"\n\n0.0.0.0 443", "u.conf:3: missing backend address"},
		{"0.0.0.0 443 10.0.0.1", "u.conf:1: missing backend port"},
		{"0.0.0.0 443 10.0.0.1 80 proxy=v3", "u.conf:1: proxy=v3: want none, v1 or v2"},
		{"0.0.0.0 443 10.0.0.1 80 idle=soon", "u.conf:1: idle=soon is not a duration like 300s or a number of seconds"},
		{"0.0.0.0 443 10.0.0.1 80 weight=2", `u.conf:1: unknown option "weight" (known: proxy, idle)`},
		{"0.0.0.0 100-90 10.0.0.1 80", `u.conf:1: listen port "100-90" is not a port or range like 8000-8100`},
		{"0.0.0.0 70000 10.0.0.1 80", `u.conf:1: listen port "70000" is not a port or range like 8000-8100`},
		{"frobnicate 1", `u.conf:1: unknown directive "frobnicate" (a forwarding line starts with an IP address)`},
		{"allow 10.*", "u.conf:1: rinetd's allow: access rules are not supported; filter with the firewall"},
		{"interface tap", "u.conf:1: usage: interface tap|raw|cooked NAME"},
		{"mtu 9", `u.conf:1: mtu "9" is not a number in 68..65535`},
		{"mac 1:2", `u.conf:1: mac "1:2" is not a MAC address like 02:00:00:00:00:01`},
		{"gateway fe80::1%eth0", `u.conf:1: gateway "fe80::1%eth0" is not a usable IP address`},
		{"offload 0xzz", `u.conf:1: offload "0xzz" is not a number (hex 0x8883 or decimal)`},
		{"sysctl net.ipv4.tcp_wmem = 1 2", `u.conf:1: net.ipv4.tcp_wmem: "1 2" is not three positive numbers (min default max)`},
		{"sysctl net.ipv4.tcp_wmem", "u.conf:1: sysctl needs KEY = VALUE"},
		{"rules maybe", `u.conf:1: "maybe" is not on or off`},
		{"ephemeral-ports 100-101", `u.conf:1: ephemeral-ports "100-101" is not a range of at least 16 ports`},
	} {
		if _, err := ParseFile("u.conf", []byte(tc.file)); err == nil || err.Error() != tc.want {
			t.Errorf("%q:\n got %v\nwant %s", tc.file, err, tc.want)
		}
	}
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"LKL_HIJACK_NET_IP=10.0.0.2"}, "LKL_HIJACK_NET_IP: address 10.0.0.2 needs a prefix length (LKL_HIJACK_NET_NETMASK_LEN)"},
		{[]string{"LKL_HIJACK_NET_IP=10.0.0.2", "LKL_HIJACK_NET_NETMASK_LEN=33"}, `LKL_HIJACK_NET_NETMASK_LEN: prefix length "33" is not a number in 0..32`},
		{[]string{"LKL_HIJACK_NET_IP=dhcp", "LKL_HIJACK_NET_NETMASK_LEN=24"}, "LKL_HIJACK_NET_IP: dhcp is not supported by ustack: give a static address"},
		{[]string{"LKL_HIJACK_NET_IPV6=10.0.0.2", "LKL_HIJACK_NET_NETMASK6_LEN=64"}, `LKL_HIJACK_NET_IPV6: "10.0.0.2" is not an IPv6 address`},
		{[]string{"LKL_HIJACK_NET_GATEWAY=fc00::1"}, `LKL_HIJACK_NET_GATEWAY: gateway "fc00::1" is not a usable IP address`},
		{[]string{"LKL_HIJACK_NET_NEIGHBOR=10.0.0.1-aa"}, `LKL_HIJACK_NET_NEIGHBOR: neighbour entry "10.0.0.1-aa" is not ip|mac`},
		{[]string{"LKL_HIJACK_NET_NEIGHBOR=10.0.0.1|zz"}, `LKL_HIJACK_NET_NEIGHBOR: neighbour 10.0.0.1: "zz" is not a MAC address`},
		{[]string{"LKL_HIJACK_SYSCTL=net.ipv4.tcp_wmem"}, `LKL_HIJACK_SYSCTL: sysctl entry "net.ipv4.tcp_wmem" is not key=value`},
		{[]string{"LKL_HIJACK_NET_QDISC=fq"}, `LKL_HIJACK_NET_QDISC: qdisc entry "fq" is not parent|kind (e.g. root|fq)`},
		{[]string{"LKL_HIJACK_OFFLOAD=-1"}, `LKL_HIJACK_OFFLOAD: offload "-1" is not a number (hex 0x8883 or decimal)`},
	} {
		if _, err := ParseLKLEnv(tc.env); err == nil || err.Error() != tc.want {
			t.Errorf("%q:\n got %v\nwant %s", tc.env, err, tc.want)
		}
	}
	for _, tc := range []struct{ json, want string }{
		{`{"interfaces":[{},{}]}`, "j.json: interfaces: 2 interfaces given; ustack drives one (run one ustack per interface)"},
		{`{"interfaces":{}}`, "j.json: interfaces: want a list of interface objects"},
		{`{"interfaces":[{"mtu":{}}]}`, "j.json: interfaces[0].mtu: want a string"},
		{"{\n\"gateway\": 1.2.3.4}", "j.json:2: bad JSON: invalid character '.' after object key:value pair"},
		{`[]`, "j.json: bad JSON: want an object of LKL settings (json: cannot unmarshal array into Go value of type map[string]interface {})"},
		{`null`, "j.json: bad JSON: want an object of LKL settings"},
	} {
		if _, err := ParseLKLJSON("j.json", []byte(tc.json)); err == nil || err.Error() != tc.want {
			t.Errorf("%q:\n got %v\nwant %s", tc.json, err, tc.want)
		}
	}
}

func TestValidateErrors(t *testing.T) {
	base := "interface tap t0\naddress 10.0.0.2/24\n"
	for _, tc := range []struct{ file, want string }{
		{"address 10.0.0.2/24", "interface: no interface configured (interface tap|raw|cooked NAME, or LKL_HIJACK_NET_IFTYPE and LKL_HIJACK_NET_IFPARAMS)"},
		{"interface macvtap m0\naddress 10.0.0.2/24", `v.conf:1: interface type "macvtap" is not supported by ustack (tap, raw, cooked)`},
		{"interface tap t0", "address: the stack has no address (address CIDR, or LKL_HIJACK_NET_IP and LKL_HIJACK_NET_NETMASK_LEN)"},
		{base + "0.0.0.0 8000-8100 10.0.0.1 9000-9050", "v.conf:3: port range 8000-8100 maps 1:1 to 9000-9050 but they hold 101 and 51 ports"},
		{base + "0.0.0.0 8000-8100 10.0.0.1 80\n10.0.0.2 8100 10.0.0.1 81", "v.conf:4: 10.0.0.2 port 8100 overlaps v.conf:3 (0.0.0.0 port 8000-8100)"},
		{base + "192.0.2.1 80 10.0.0.1 80", "v.conf:3: listen address 192.0.2.1 is not the stack's address; use 10.0.0.2 or 0.0.0.0"},
		{base + ":: 80 10.0.0.1 80", "v.conf:3: listen address :: but the stack has no address of that family"},
		{base + "sysctl net.ipv4.tcp_rmem = 9 8 7", "v.conf:3: net.ipv4.tcp_rmem needs 0 < min <= default <= max, got 9 8 7"},
		{base + "host-address 10.0.0.2/24", "v.conf:3: host address 10.0.0.2 is the stack's own address"},
		{base + "create-tap no\nhost-address 10.0.0.1/24", "v.conf:4: a host address needs create-tap yes (ustack only configures TAPs it creates)"},
		{"interface raw eth0\naddress 10.0.0.2/24\ndnat-from venet0", "v.conf:3: DNAT needs a tap interface (raw and cooked share the host's address)"},
		{"interface raw eth0\naddress 10.0.0.2/24\n0.0.0.0 61000 1.2.3.4 1", "v.conf:3: ports 61000 overlap the ephemeral port range 61000-65535"},
		{base + "log-level loud", `v.conf:3: log level "loud" is not one of debug, info, warn, error`},
		{base + "metrics 9100", `v.conf:3: metrics address "9100" is not host:port`},
	} {
		c, err := ParseFile("v.conf", []byte(tc.file))
		if err != nil {
			t.Fatalf("%q: parse: %v", tc.file, err)
		}
		if err := c.Validate(); err == nil || err.Error() != tc.want {
			t.Errorf("%q:\n got %v\nwant %s", tc.file, err, tc.want)
		}
	}
}
