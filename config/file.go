// ustack's own file format, for people who know rinetd and haproxy: one
// item per line, '#' starts a comment, fields are separated by blanks.
//
// A line whose first field is an IP address is a forwarding, as in rinetd:
//
//	bindaddress bindport connectaddress connectport [option=value ...]
//
// where ports are a number or a range (8000-8100) and options are
// proxy=none|v1|v2 and idle=DURATION (or rinetd's timeout=SECONDS). Any
// other line is a directive: a keyword and its arguments. The full list,
// with an example, is in README.md. Later lines override earlier ones;
// forwardings accumulate.
package config

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// directive is one keyword of the file format.
type directive struct {
	args  string // usage, for messages
	nargs int    // exact number of arguments; -1 = at least one
	fn    func(c *Config, args []string, origin string) error
}

func boolArg(v, origin, yes, no string) (bool, error) {
	switch strings.ToLower(v) {
	case yes, "yes", "on", "true", "1":
		return true, nil
	case no, "no", "off", "false", "0":
		return false, nil
	}
	return false, errAt(origin, "%s is not %s or %s", quote(v), yes, no)
}

func stringArg(field string, dst func(c *Config) *string) func(c *Config, a []string, origin string) error {
	return func(c *Config, a []string, origin string) error {
		*dst(c) = a[0]
		c.set(field, origin)
		return nil
	}
}

var directives map[string]directive

func init() {
	directives = map[string]directive{
		"interface": {"tap|raw|cooked NAME", 2, func(c *Config, a []string, o string) error {
			c.setIfType(a[0], o)
			c.Interface.Param = a[1]
			return nil
		}},
		"mtu":     {"BYTES", 1, func(c *Config, a []string, o string) error { return c.setMTU(a[0], o) }},
		"mac":     {"MAC", 1, func(c *Config, a []string, o string) error { return c.setMAC(a[0], o) }},
		"address": {"CIDR", 1, func(c *Config, a []string, o string) error { return c.setAddr(a[0], o, false) }},
		"gateway": {"IP", 1, func(c *Config, a []string, o string) error { return c.setGateway(a[0], o, -1) }},
		"neighbor": {"IP MAC", 2, func(c *Config, a []string, o string) error {
			return c.addNeighbor(a[0], a[1], o)
		}},
		"offload": {"BITS", 1, func(c *Config, a []string, o string) error { return c.setOffload(a[0], o) }},
		"congestion": {"NAME", 1, func(c *Config, a []string, o string) error {
			return c.setSysctl("net.ipv4.tcp_congestion_control", a[0], o)
		}},
		"sysctl": {"KEY = VALUE", -1, func(c *Config, a []string, o string) error {
			k, v, ok := strings.Cut(strings.Join(a, " "), "=")
			if !ok {
				return errAt(o, "sysctl needs KEY = VALUE")
			}
			return c.setSysctl(k, strings.Join(strings.Fields(v), " "), o)
		}},
		"create-tap": {"yes|no", 1, func(c *Config, a []string, o string) (err error) {
			c.Host.CreateTAP, err = boolArg(a[0], o, "yes", "no")
			c.set("create-tap", o)
			return err
		}},
		"tap-owner": {"UID", 1, func(c *Config, a []string, o string) error {
			n, err := strconv.Atoi(a[0])
			if err != nil || n < -1 {
				return errAt(o, "tap-owner %s is not a numeric uid", quote(a[0]))
			}
			c.Host.TAPOwner = n
			return nil
		}},
		"host-address": {"CIDR", 1, func(c *Config, a []string, o string) error { return c.setAddr(a[0], o, true) }},
		"dnat-from": {"INTERFACE", 1, func(c *Config, a []string, o string) error {
			c.Host.DNATFrom = a[0]
			c.set("dnat-from", o)
			return nil
		}},
		"rules": {"on|off", 1, func(c *Config, a []string, o string) (err error) {
			c.Host.ManageRules, err = boolArg(a[0], o, "on", "off")
			return err
		}},
		"masquerade": {"on|off", 1, func(c *Config, a []string, o string) (err error) {
			c.Host.Masquerade, err = boolArg(a[0], o, "on", "off")
			return err
		}},
		"ephemeral-ports": {"FIRST-LAST", 1, func(c *Config, a []string, o string) error {
			r, ok := parsePorts(a[0])
			if !ok || r.Len() < 16 {
				return errAt(o, "ephemeral-ports %s is not a range of at least 16 ports", quote(a[0]))
			}
			c.Host.EphemeralPorts = r
			return nil
		}},
		"control":   {"PATH", 1, stringArg("control", func(c *Config) *string { return &c.Control })},
		"metrics":   {"HOST:PORT", 1, stringArg("metrics", func(c *Config) *string { return &c.Metrics })},
		"pcap":      {"PATH", 1, stringArg("pcap", func(c *Config) *string { return &c.Pcap })},
		"log-level": {"debug|info|warn|error", 1, stringArg("log-level", func(c *Config) *string { return &c.LogLevel })},
	}
}

// rinetd directives ustack does not take: access rules must not be
// silently dropped.
var rinetdOnly = map[string]string{
	"allow":     "access rules are not supported; filter with the firewall",
	"deny":      "access rules are not supported; filter with the firewall",
	"logfile":   "ustack logs to stderr",
	"logcommon": "ustack logs to stderr",
}

// ApplyFile applies a file in ustack's format; name is used in messages.
func (c *Config) ApplyFile(name string, data []byte) error {
	s := bufio.NewScanner(bytes.NewReader(data))
	s.Buffer(nil, 64<<10)
	for n := 1; s.Scan(); n++ {
		if err := c.applyLine(s.Text(), fmt.Sprintf("%s:%d", name, n)); err != nil {
			return err
		}
	}
	if err := s.Err(); err != nil {
		return fmt.Errorf("%s: %v", name, err)
	}
	return nil
}

func (c *Config) applyLine(line, origin string) error {
	if i := strings.IndexByte(line, '#'); i >= 0 {
		line = line[:i]
	}
	f := strings.Fields(line)
	if len(f) == 0 {
		return nil
	}
	if _, err := netip.ParseAddr(f[0]); err == nil {
		fe := make([]string, 4)
		copy(fe, f)
		var opts []string
		if len(f) > 4 {
			opts = f[4:]
		}
		fr, err := frontend(fe[0], fe[1], fe[2], fe[3], opts, origin)
		if err != nil {
			return err
		}
		c.Frontends = append(c.Frontends, fr)
		return nil
	}
	kw := strings.ToLower(f[0])
	d, ok := directives[kw]
	if !ok {
		if why, ok := rinetdOnly[kw]; ok {
			if kw == "allow" || kw == "deny" {
				return errAt(origin, "rinetd's %s: %s", kw, why)
			}
			c.warn("%s: rinetd's %s ignored: %s", origin, kw, why)
			return nil
		}
		return errAt(origin, "unknown directive %s (a forwarding line starts with an IP address)", quote(f[0]))
	}
	args := f[1:]
	if d.nargs >= 0 && len(args) != d.nargs || d.nargs < 0 && len(args) == 0 {
		return errAt(origin, "usage: %s %s", kw, d.args)
	}
	return d.fn(c, args, origin)
}

// ParseFile builds a Config from a file in ustack's format.
func ParseFile(name string, data []byte) (*Config, error) {
	c := Default()
	return c, c.ApplyFile(name, data)
}

// Load reads and parses a file in ustack's format.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseFile(path, data)
}

// AddFrontend adds a forwarding given as flags: listen "ADDR:PORT[-PORT]"
// (ADDR may be empty for 0.0.0.0, IPv6 in brackets), backend
// "HOST:PORT[-PORT]", options as in the file ("proxy=v2", "idle=300s").
func (c *Config) AddFrontend(listen, backend string, options ...string) error {
	la, lp, err := splitHostPorts(listen)
	if err != nil {
		return fmt.Errorf("listen %s: %v", quote(listen), err)
	}
	if la == "" {
		la = "0.0.0.0"
	}
	ba, bp, err := splitHostPorts(backend)
	if err != nil {
		return fmt.Errorf("backend %s: %v", quote(backend), err)
	}
	f, err := frontend(la, lp, ba, bp, options, "flags")
	if err != nil {
		return err
	}
	c.Frontends = append(c.Frontends, f)
	return nil
}

// splitHostPorts splits "host:ports" where ports may be a range; an IPv6
// host is written in brackets.
func splitHostPorts(s string) (host, ports string, err error) {
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 || !strings.HasPrefix(s[end+1:], ":") {
			return "", "", fmt.Errorf("want [IPv6]:PORT")
		}
		return s[1:end], s[end+2:], nil
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", "", fmt.Errorf("want HOST:PORT")
	}
	return s[:i], s[i+1:], nil
}
