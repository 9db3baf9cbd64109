package relay

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestProxyV1(t *testing.T) {
	for _, tc := range []struct {
		src, dst string
		want     string
	}{
		// The spec's line format: "PROXY TCP4 src dst sport dport\r\n".
		{"172.19.0.1:42272", "172.19.0.3:80", "PROXY TCP4 172.19.0.1 172.19.0.3 42272 80\r\n"},
		// The spec's longest IPv4 line (56 bytes).
		{"255.255.255.255:65535", "255.255.255.255:65535", "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n"},
		{"[2001:db8::1]:5555", "[2001:db8::2]:443", "PROXY TCP6 2001:db8::1 2001:db8::2 5555 443\r\n"},
		// IPv4-mapped endpoints of a dual-stack listener are plain IPv4.
		{"[::ffff:192.0.2.1]:1000", "[::ffff:192.0.2.2]:2000", "PROXY TCP4 192.0.2.1 192.0.2.2 1000 2000\r\n"},
		// Mixed families: the IPv4 side is mapped, the line is TCP6.
		{"192.0.2.1:1000", "[2001:db8::2]:443", "PROXY TCP6 ::ffff:192.0.2.1 2001:db8::2 1000 443\r\n"},
		// Zones never reach the wire.
		{"[fe80::1%eth0]:1000", "[fe80::2%eth0]:80", "PROXY TCP6 fe80::1 fe80::2 1000 80\r\n"},
	} {
		got := string(AppendProxyV1(nil, ap(tc.src), ap(tc.dst)))
		if got != tc.want {
			t.Errorf("v1(%s, %s) = %q, want %q", tc.src, tc.dst, got, tc.want)
		}
		if len(got) > 107 {
			t.Errorf("v1 line %q longer than the spec's 107 bytes", got)
		}
	}
	if got := string(AppendProxyV1(nil, netip.AddrPort{}, ap("1.2.3.4:5"))); got != "PROXY UNKNOWN\r\n" {
		t.Errorf("v1 unknown = %q", got)
	}
}

func TestProxyV2(t *testing.T) {
	for _, tc := range []struct {
		name, src, dst, want string
	}{
		{
			// Bytes haproxy sent for 172.19.0.1:42578 -> 172.19.0.3:80.
			"ipv4", "172.19.0.1:42578", "172.19.0.3:80",
			"0d0a0d0a000d0a515549540a 21 11 000c ac130001 ac130003 a652 0050",
		},
		{
			"ipv6", "[2001:db8::1]:443", "[2001:db8:ffff::2]:8443",
			"0d0a0d0a000d0a515549540a 21 21 0024" +
				" 20010db8000000000000000000000001" +
				" 20010db8ffff00000000000000000002" +
				" 01bb 20fb",
		},
		{
			"mapped", "[::ffff:10.0.0.9]:1", "[::ffff:10.0.0.2]:65535",
			"0d0a0d0a000d0a515549540a 21 11 000c 0a000009 0a000002 0001 ffff",
		},
		{
			"mixed", "10.0.0.9:1", "[2001:db8::2]:2",
			"0d0a0d0a000d0a515549540a 21 21 0024" +
				" 00000000000000000000ffff0a000009" +
				" 20010db8000000000000000000000002" +
				" 0001 0002",
		},
		{
			// Unknown endpoints: PROXY command, AF_UNSPEC, no addresses.
			"unspec", "", "10.0.0.2:80",
			"0d0a0d0a000d0a515549540a 21 00 0000",
		},
	} {
		var src netip.AddrPort
		if tc.src != "" {
			src = ap(tc.src)
		}
		got := AppendProxyV2(nil, src, ap(tc.dst))
		if want := unhex(t, tc.want); !bytes.Equal(got, want) {
			t.Errorf("%s: v2 =\n %x\nwant\n %x", tc.name, got, want)
		}
	}
}

func TestProxyLocal(t *testing.T) {
	if got := string(AppendProxyLocal(nil, ProxyV1)); got != "PROXY UNKNOWN\r\n" {
		t.Errorf("v1 local = %q", got)
	}
	want := unhex(t, "0d0a0d0a000d0a515549540a 20 00 0000")
	if got := AppendProxyLocal(nil, ProxyV2); !bytes.Equal(got, want) {
		t.Errorf("v2 local = %x, want %x", got, want)
	}
	if got := AppendProxyLocal(nil, ProxyNone); len(got) != 0 {
		t.Errorf("none local = %x", got)
	}
}

func TestParseProxyVersion(t *testing.T) {
	for s, want := range map[string]ProxyVersion{"": ProxyNone, "none": ProxyNone, "v1": ProxyV1, "v2": ProxyV2} {
		v, err := ParseProxyVersion(s)
		if err != nil || v != want {
			t.Errorf("ParseProxyVersion(%q) = %v, %v", s, v, err)
		}
		if s != "" && v.String() != s {
			t.Errorf("%v.String() = %q", v, v.String())
		}
	}
	if _, err := ParseProxyVersion("v3"); err == nil {
		t.Error("v3 accepted")
	}
}
