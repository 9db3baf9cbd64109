// Value setters shared by all sources. Each takes the raw text and the
// origin ("LKL_HIJACK_NET_MTU", "ustack.conf:3"), stores the parsed value,
// records the origin, and fails with a one-line error naming the origin.
// LKL's sysctls are mapped here onto ustack's settings.
package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

func errAt(origin, format string, a ...any) error {
	return fmt.Errorf("%s: %s", origin, fmt.Sprintf(format, a...))
}

// quote shortens and quotes a user value for an error message.
func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strconv.Quote(s)
}

func (c *Config) setIfType(v, origin string) {
	c.Interface.Type = IfType(strings.ToLower(strings.TrimSpace(v)))
	c.set("interface", origin)
}

func (c *Config) setMTU(v, origin string) error {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 68 || n > 65535 {
		return errAt(origin, "mtu %s is not a number in 68..65535", quote(v))
	}
	c.Interface.MTU = n
	c.set("mtu", origin)
	return nil
}

func parseMAC(v string) (net.HardwareAddr, bool) {
	m, err := net.ParseMAC(strings.TrimSpace(v))
	return m, err == nil && len(m) == 6
}

func (c *Config) setMAC(v, origin string) error {
	m, ok := parseMAC(v)
	if !ok {
		return errAt(origin, "mac %s is not a MAC address like 02:00:00:00:00:01", quote(v))
	}
	c.Interface.MAC = m
	c.set("mac", origin)
	return nil
}

// setAddr sets the stack's (host=false) or the host's (host=true) address
// of the prefix's family.
func (c *Config) setAddr(v, origin string, host bool) error {
	p, err := netip.ParsePrefix(strings.TrimSpace(v))
	if err != nil || p.Addr().Zone() != "" {
		return errAt(origin, "%s is not an address with prefix length like 10.0.0.2/24", quote(v))
	}
	p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits())
	if p.Addr().IsUnspecified() || p.Addr().IsMulticast() {
		return errAt(origin, "%v cannot be an interface address", p.Addr())
	}
	switch {
	case host && p.Addr().Is4():
		c.Host.Address = p
	case host:
		c.Host.Address6 = p
	case p.Addr().Is4():
		c.Interface.Addr = p
	default:
		c.Interface.Addr6 = p
	}
	if host {
		c.set("host-address", origin)
	} else {
		c.set("address", origin)
	}
	return nil
}

// setIPAndLen is LKL's split form: address and prefix length apart.
func (c *Config) setIPAndLen(ip, masklen, ipOrigin, lenOrigin string, v6 bool) error {
	a, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil || a.Is4() == v6 || a.Zone() != "" {
		fam := "IPv4"
		if v6 {
			fam = "IPv6"
		}
		if strings.TrimSpace(ip) == "dhcp" {
			return errAt(ipOrigin, "dhcp is not supported by ustack: give a static address")
		}
		return errAt(ipOrigin, "%s is not an %s address", quote(ip), fam)
	}
	if masklen == "" {
		return errAt(ipOrigin, "address %v needs a prefix length (%s)", a, lenOrigin)
	}
	n, err := strconv.Atoi(strings.TrimSpace(masklen))
	if err != nil || n < 0 || n > a.BitLen() {
		return errAt(lenOrigin, "prefix length %s is not a number in 0..%d", quote(masklen), a.BitLen())
	}
	return c.setAddr(netip.PrefixFrom(a, n).String(), ipOrigin, false)
}

// setGateway sets the default route of the address's family; want6 < 0
// accepts either family.
func (c *Config) setGateway(v, origin string, want6 int) error {
	a, err := netip.ParseAddr(strings.TrimSpace(v))
	if err != nil || a.Zone() != "" || a.IsUnspecified() || want6 == 0 && !a.Is4() || want6 == 1 && !a.Is6() {
		return errAt(origin, "gateway %s is not a usable IP address", quote(v))
	}
	if a.Is4() {
		c.Interface.Gateway = a
	} else {
		c.Interface.Gateway6 = a
	}
	c.set("gateway", origin)
	return nil
}

func (c *Config) addNeighbor(ip, mac, origin string) error {
	a, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil || a.Zone() != "" {
		return errAt(origin, "neighbour %s is not an IP address", quote(ip))
	}
	m, ok := parseMAC(mac)
	if !ok {
		return errAt(origin, "neighbour %v: %s is not a MAC address", a, quote(mac))
	}
	c.Interface.Neighbors = append(c.Interface.Neighbors, Neighbor{a, m})
	return nil
}

// setNeighbors parses LKL's "ip|mac;ip|mac" and replaces the list.
func (c *Config) setNeighbors(v, origin string) error {
	c.Interface.Neighbors = nil
	for e := range strings.SplitSeq(v, ";") {
		if strings.TrimSpace(e) == "" {
			continue
		}
		ip, mac, ok := strings.Cut(e, "|")
		if !ok {
			return errAt(origin, "neighbour entry %s is not ip|mac", quote(e))
		}
		if err := c.addNeighbor(ip, mac, origin); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) setOffload(v, origin string) error {
	n, err := strconv.ParseUint(strings.TrimSpace(v), 0, 32)
	if err != nil {
		return errAt(origin, "offload %s is not a number (hex 0x8883 or decimal)", quote(v))
	}
	c.Interface.Offload = uint32(n)
	c.set("offload", origin)
	return nil
}

// setQdisc accepts LKL's "parent|kind;..." list. ustack always paces, which
// is what "root|fq" asked LKL for.
func (c *Config) setQdisc(v, origin string) error {
	for e := range strings.SplitSeq(v, ";") {
		if strings.TrimSpace(e) == "" {
			continue
		}
		if _, _, ok := strings.Cut(e, "|"); !ok {
			return errAt(origin, "qdisc entry %s is not parent|kind (e.g. root|fq)", quote(e))
		}
	}
	c.Interface.Qdisc = v
	c.warn("%s: qdisc %s accepted; ustack always paces its flows (what root|fq gave LKL)", origin, quote(v))
	return nil
}

// setSysctls parses LKL's "key=value;key=value".
func (c *Config) setSysctls(v, origin string) error {
	for e := range strings.SplitSeq(v, ";") {
		if strings.TrimSpace(e) == "" {
			continue
		}
		k, val, ok := strings.Cut(e, "=")
		if !ok {
			return errAt(origin, "sysctl entry %s is not key=value", quote(e))
		}
		if err := c.setSysctl(k, val, origin); err != nil {
			return err
		}
	}
	return nil
}

// setSysctl maps one Linux sysctl onto ustack's settings.
func (c *Config) setSysctl(key, val, origin string) error {
	key = strings.ReplaceAll(strings.TrimSpace(key), "/", ".")
	val = strings.TrimSpace(val)
	switch key {
	case "net.ipv4.tcp_congestion_control":
		if val == "" || strings.ContainsAny(val, " \t") {
			return errAt(origin, "%s: %s is not an algorithm name", key, quote(val))
		}
		c.Stack.Congestion = val
		c.set("congestion", origin)
	case "net.ipv4.tcp_wmem", "net.ipv4.tcp_rmem":
		f := strings.Fields(val)
		var n [3]int
		ok := len(f) == 3
		for i := 0; ok && i < 3; i++ {
			var err error
			n[i], err = strconv.Atoi(f[i])
			ok = err == nil && n[i] > 0
		}
		if !ok {
			return errAt(origin, "%s: %s is not three positive numbers (min default max)", key, quote(val))
		}
		b := Buffers{n[0], n[1], n[2]}
		if key == "net.ipv4.tcp_wmem" {
			c.Stack.WMem = b
		} else {
			c.Stack.RMem = b
		}
		c.set(key, origin)
	case "net.ipv4.tcp_sack", "net.ipv4.tcp_timestamps", "net.ipv4.tcp_window_scaling", "net.ipv4.tcp_ecn":
		c.warn("%s: sysctl %s=%s ignored: ustack always negotiates SACK, timestamps and window scaling, and does not use ECN", origin, key, val)
	case "net.core.default_qdisc":
		c.warn("%s: sysctl %s=%s ignored: ustack always paces", origin, key, val)
	case "":
		return errAt(origin, "sysctl with an empty name")
	default:
		c.warn("%s: sysctl %s has no ustack equivalent; ignored", origin, key)
	}
	return nil
}

// parsePorts reads "443", "8000-8100" or "8000:8100".
func parsePorts(v string) (PortRange, bool) {
	lo, hi, isRange := strings.Cut(v, "-")
	if !isRange {
		lo, hi, isRange = strings.Cut(v, ":")
	}
	a, err := strconv.ParseUint(lo, 10, 16)
	if err != nil || a == 0 {
		return PortRange{}, false
	}
	b := a
	if isRange {
		if b, err = strconv.ParseUint(hi, 10, 16); err != nil || b < a {
			return PortRange{}, false
		}
	}
	return PortRange{First: uint16(a), Last: uint16(b)}, true
}

// isWord accepts names like "bbr" or "cubic".
func isWord(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return s != ""
}

func validHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for l := range strings.SplitSeq(s, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// frontend parses one forwarding from its four fields and options.
func frontend(listen, ports, backend, bports string, options []string, origin string) (Frontend, error) {
	f := Frontend{Proxy: ProxyNone, Origin: origin}
	a, err := netip.ParseAddr(listen)
	if err != nil || a.Zone() != "" {
		return f, errAt(origin, "listen address %s is not an IP address (use 0.0.0.0 for any)", quote(listen))
	}
	f.Listen = a.Unmap()
	var ok bool
	if f.Ports, ok = parsePorts(ports); !ok {
		return f, errAt(origin, "listen port %s is not a port or range like 8000-8100", quote(ports))
	}
	if backend == "" {
		return f, errAt(origin, "missing backend address")
	}
	if b, err := netip.ParseAddr(backend); err == nil {
		if b.IsUnspecified() || b.Zone() != "" {
			return f, errAt(origin, "backend address %s cannot be connected to", quote(backend))
		}
		f.Backend = b.Unmap().String()
	} else if validHostname(backend) {
		f.Backend = backend
	} else {
		return f, errAt(origin, "backend %s is not an IP address or host name", quote(backend))
	}
	if bports == "" {
		return f, errAt(origin, "missing backend port")
	}
	if f.BackendPorts, ok = parsePorts(bports); !ok {
		return f, errAt(origin, "backend port %s is not a port or range", quote(bports))
	}
	for _, o := range options {
		k, v, ok := strings.Cut(o, "=")
		switch {
		case !ok:
			return f, errAt(origin, "option %s is not key=value", quote(o))
		case k == "proxy":
			switch p := Proxy(strings.ToLower(v)); p {
			case ProxyNone, ProxyV1, ProxyV2:
				f.Proxy = p
			default:
				return f, errAt(origin, "proxy=%s: want none, v1 or v2", v)
			}
		case k == "idle" || k == "timeout": // timeout= is rinetd's name, in seconds
			d, err := time.ParseDuration(v)
			if n, nerr := strconv.ParseUint(v, 10, 31); nerr == nil {
				d, err = time.Duration(n)*time.Second, nil
			}
			if err != nil || d < 0 {
				return f, errAt(origin, "%s=%s is not a duration like 300s or a number of seconds", k, v)
			}
			f.Idle = d
		default:
			return f, errAt(origin, "unknown option %s (known: proxy, idle)", quote(k))
		}
	}
	return f, nil
}
