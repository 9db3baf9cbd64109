// Package config holds ustack's product configuration and reads it from
// three sources:
//
//   - LKL's environment variables (LKL_HIJACK_NET_IFTYPE, ...), so that an
//     existing LD_PRELOAD=liblkl-hijack.so setup keeps working unchanged;
//   - LKL's JSON file (LKL_HIJACK_CONFIG_FILE, default ./lkl-hijack.json),
//     which overrides the environment key by key, as in LKL;
//   - ustack's own line-oriented file (see README.md in this directory):
//     rinetd-style forwarding lines plus one directive per line.
//
// The model: a Config is built by starting from Default() and applying
// sources in order; each setter records where a value came from (an
// environment variable, "file.json: interfaces[0].ip", "ustack.conf:12"),
// so that every error names its origin. Parsing catches syntax (a bad CIDR,
// a bad port); Validate catches meaning and combinations (unsupported
// interface type, 1:1 port ranges of different sizes, overlapping
// frontends). Values ustack accepts but does not use (LKL's boot command
// line, sysctls it has no equivalent for) become Warnings, never errors.
// No input makes a parser panic; fuzz targets check that.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/ustack/ustack/hostsetup"
)

// PortRange is an inclusive port range (see hostsetup.PortRange).
type PortRange = hostsetup.PortRange

// IfType is how the stack reaches the network.
type IfType string

const (
	// TAP: a TAP link; the host routes/NATs to the stack's own address.
	TAP IfType = "tap"
	// Raw: AF_PACKET with Ethernet headers on a host interface (eth0),
	// sharing the host's IP.
	Raw IfType = "raw"
	// Cooked: AF_PACKET without link-layer headers (venet0, SOCK_DGRAM),
	// sharing the host's IP.
	Cooked IfType = "cooked"
)

// Interface is the stack's one network interface.
type Interface struct {
	Type  IfType
	Param string // TAP name or host interface
	MTU   int    // 0 = the link's
	MAC   net.HardwareAddr
	Addr  netip.Prefix // IPv4 address and prefix
	Addr6 netip.Prefix // IPv6 address and prefix
	// Gateway and Gateway6 are the default routes.
	Gateway, Gateway6 netip.Addr
	Neighbors         []Neighbor
	// Offload holds virtio-net feature bits as in LKL (0x8883 = CSUM,
	// GUEST_CSUM, GUEST_TSO4, HOST_TSO4, MRG_RXBUF).
	Offload uint32
	// Qdisc is LKL's qdisc setting, kept for reference: ustack always paces.
	Qdisc string
}

// Neighbor is a static neighbour (ARP/NDP) entry.
type Neighbor struct {
	IP  netip.Addr
	MAC net.HardwareAddr
}

// Buffers is a tcp_wmem/tcp_rmem triple in bytes.
type Buffers struct{ Min, Default, Max int }

// Stack holds the TCP settings (LKL set these through sysctls).
type Stack struct {
	Congestion string // e.g. "bbr"; the caller checks the name exists
	WMem, RMem Buffers
}

// Host says what ustack changes on the host (see package hostsetup).
type Host struct {
	CreateTAP bool // create (and on exit delete) the TAP
	TAPOwner  int  // uid allowed to attach to a created TAP, -1 = any
	// Address and Address6 go on a created TAP (the stack's gateway).
	Address, Address6 netip.Prefix
	// DNATFrom: forward the frontends' ports arriving on this interface
	// to the stack (TAP mode).
	DNATFrom string
	// ManageRules: install (and remove) firewall rules and sysctls.
	ManageRules bool
	// Masquerade the stack's outbound traffic (TAP mode).
	Masquerade bool
	// EphemeralPorts is the stack's source-port range for outbound
	// connections (raw/cooked mode: reserved on the host).
	EphemeralPorts PortRange
}

// Proxy is the PROXY protocol version sent to the backend.
type Proxy string

const (
	ProxyNone Proxy = "none"
	ProxyV1   Proxy = "v1"
	ProxyV2   Proxy = "v2"
)

// Frontend is one forwarding: connections to Listen:Ports are relayed to
// Backend:BackendPorts. When both are ranges of equal size they map 1:1;
// a single backend port takes every listen port.
type Frontend struct {
	Listen       netip.Addr // 0.0.0.0 or :: for any
	Ports        PortRange
	Backend      string // IP address or host name
	BackendPorts PortRange
	Proxy        Proxy
	Idle         time.Duration // 0 = no idle timeout
	Origin       string        // where it was defined, for messages
}

// BackendPort returns the backend port for listen port p.
func (f *Frontend) BackendPort(p uint16) uint16 {
	if f.BackendPorts.First == f.BackendPorts.Last {
		return f.BackendPorts.First
	}
	return f.BackendPorts.First + (p - f.Ports.First)
}

// Config is the whole product configuration.
type Config struct {
	Interface Interface
	Stack     Stack
	Host      Host
	Frontends []Frontend

	Control  string // control socket path ("" = the command's default)
	Metrics  string // metrics listen address host:port ("" = off)
	Pcap     string // pcap file path ("" = off)
	LogLevel string // debug, info, warn, error

	// Warnings are notes about accepted-but-ignored settings.
	Warnings []string

	origin map[string]string
}

// Default returns the configuration every source starts from.
func Default() *Config {
	return &Config{
		Stack: Stack{
			Congestion: "bbr",
			// As tcp.Options' defaults: 16 MiB maxima (see tcp.Options).
			WMem: Buffers{4096, 16384, 16 << 20},
			RMem: Buffers{4096, 131072, 16 << 20},
		},
		Host: Host{
			CreateTAP:      true,
			TAPOwner:       -1,
			ManageRules:    true,
			EphemeralPorts: PortRange{First: 61000, Last: 65535},
		},
		LogLevel: "info",
	}
}

// set records where field got its value.
func (c *Config) set(field, origin string) {
	if c.origin == nil {
		c.origin = map[string]string{}
	}
	c.origin[field] = origin
}

// at names where field was set, or the field itself.
func (c *Config) at(field string) string {
	if o, ok := c.origin[field]; ok {
		return o
	}
	return field
}

func (c *Config) warn(format string, a ...any) {
	w := fmt.Sprintf(format, a...)
	if !slices.Contains(c.Warnings, w) {
		c.Warnings = append(c.Warnings, w)
	}
}

// Validate checks the meaning of the configuration. Each problem is one
// line naming where the value came from; several are joined by newlines.
// It may add Warnings.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", c.at(field), fmt.Sprintf(format, a...)))
	}
	ifc := &c.Interface
	switch ifc.Type {
	case TAP, Raw, Cooked:
		if !hostsetup.ValidInterfaceName(ifc.Param) {
			bad("interface", "%s interface needs a valid name (TAP name or host interface, at most 15 characters), got %s", ifc.Type, quote(ifc.Param))
		}
	case "":
		bad("interface", "no interface configured (interface tap|raw|cooked NAME, or LKL_HIJACK_NET_IFTYPE and LKL_HIJACK_NET_IFPARAMS)")
	default:
		bad("interface", "interface type %q is not supported by ustack (tap, raw, cooked)", ifc.Type)
	}
	if !ifc.Addr.IsValid() && !ifc.Addr6.IsValid() {
		bad("address", "the stack has no address (address CIDR, or LKL_HIJACK_NET_IP and LKL_HIJACK_NET_NETMASK_LEN)")
	}
	if ifc.Offload != 0 && (ifc.Type == Raw || ifc.Type == Cooked) {
		c.warn("%s: offload bits are ignored on the %s interface (as in LKL)", c.at("offload"), ifc.Type)
	}
	for name, b := range map[string]Buffers{"net.ipv4.tcp_wmem": c.Stack.WMem, "net.ipv4.tcp_rmem": c.Stack.RMem} {
		if b.Min <= 0 || b.Min > b.Default || b.Default > b.Max {
			bad(name, "%s needs 0 < min <= default <= max, got %d %d %d", name, b.Min, b.Default, b.Max)
		}
	}
	if !isWord(c.Stack.Congestion) {
		bad("congestion", "congestion control name %s is not a word", quote(c.Stack.Congestion))
	}
	if h := c.Host.DNATFrom; h != "" && !hostsetup.ValidInterfaceName(h) {
		bad("dnat-from", "%s is not a valid interface name", quote(h))
	}

	h := &c.Host
	if ifc.Type != TAP {
		if h.Address.IsValid() || h.Address6.IsValid() {
			bad("host-address", "a host address needs a tap interface")
		}
		if h.DNATFrom != "" {
			bad("dnat-from", "DNAT needs a tap interface (raw and cooked share the host's address)")
		}
	}
	if h.Address.IsValid() && ifc.Addr.IsValid() && h.Address.Addr() == ifc.Addr.Addr() {
		bad("host-address", "host address %v is the stack's own address", h.Address.Addr())
	}
	if h.Address6.IsValid() && ifc.Addr6.IsValid() && h.Address6.Addr() == ifc.Addr6.Addr() {
		bad("host-address", "host address %v is the stack's own address", h.Address6.Addr())
	}
	if (h.Address.IsValid() || h.Address6.IsValid()) && !h.CreateTAP {
		bad("host-address", "a host address needs create-tap yes (ustack only configures TAPs it creates)")
	}

	ephemeral := h.EphemeralPorts.First != 0 && ifc.Type != TAP
	for i := range c.Frontends {
		f := &c.Frontends[i]
		where := f.Origin
		if where == "" {
			where = fmt.Sprintf("frontend %d", i+1)
		}
		if f.BackendPorts.First != f.BackendPorts.Last && f.BackendPorts.Len() != f.Ports.Len() {
			errs = append(errs, fmt.Errorf("%s: port range %v maps 1:1 to %v but they hold %d and %d ports", where, f.Ports, f.BackendPorts, f.Ports.Len(), f.BackendPorts.Len()))
		}
		if !f.Listen.IsUnspecified() && f.Listen != ifc.Addr.Addr() && f.Listen != ifc.Addr6.Addr() {
			errs = append(errs, fmt.Errorf("%s: listen address %v is not the stack's address; use %s or 0.0.0.0", where, f.Listen, ifc.Addr.Addr()))
		}
		if f.Listen.Is4() && !ifc.Addr.IsValid() || f.Listen.Is6() && !ifc.Addr6.IsValid() {
			errs = append(errs, fmt.Errorf("%s: listen address %v but the stack has no address of that family", where, f.Listen))
		}
		if ephemeral && f.Ports.Overlaps(h.EphemeralPorts) {
			errs = append(errs, fmt.Errorf("%s: ports %v overlap the ephemeral port range %v", where, f.Ports, h.EphemeralPorts))
		}
		for j := range i {
			g := &c.Frontends[j]
			sameAddr := f.Listen == g.Listen || f.Listen.Is4() == g.Listen.Is4() && (f.Listen.IsUnspecified() || g.Listen.IsUnspecified())
			if sameAddr && f.Ports.Overlaps(g.Ports) {
				other := g.Origin
				if other == "" {
					other = fmt.Sprintf("frontend %d", j+1)
				}
				errs = append(errs, fmt.Errorf("%s: %v port %v overlaps %s (%v port %v)", where, f.Listen, f.Ports, other, g.Listen, g.Ports))
			}
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log-level", "log level %q is not one of debug, info, warn, error", c.LogLevel)
	}
	if c.Metrics != "" {
		if _, _, err := net.SplitHostPort(c.Metrics); err != nil {
			bad("metrics", "metrics address %q is not host:port", c.Metrics)
		}
	}
	return errors.Join(errs...)
}

// HostPlan turns the configuration into the host changes ustack makes for
// instance. It assumes Validate passed. With ManageRules off only the TAP
// is handled.
func (c *Config) HostPlan(instance string) hostsetup.Plan {
	p := hostsetup.Plan{Instance: instance}
	ifc, h := &c.Interface, &c.Host
	var addrs []netip.Addr
	for _, a := range []netip.Prefix{ifc.Addr, ifc.Addr6} {
		if a.IsValid() {
			addrs = append(addrs, a.Addr())
		}
	}
	switch ifc.Type {
	case TAP:
		t := &hostsetup.TAP{Name: ifc.Param, Create: h.CreateTAP, Owner: h.TAPOwner, Group: -1}
		if h.CreateTAP {
			t.MTU = ifc.MTU
			for _, a := range []netip.Prefix{h.Address, h.Address6} {
				if a.IsValid() {
					t.HostAddrs = append(t.HostAddrs, a)
				}
			}
		}
		p.TAP = t
		if !h.ManageRules {
			break
		}
		if h.DNATFrom != "" {
			p.DNATInterface = h.DNATFrom
			for _, f := range c.Frontends {
				to := ifc.Addr
				if f.Listen.Is6() {
					to = ifc.Addr6
				}
				if to.IsValid() {
					p.DNAT = append(p.DNAT, hostsetup.DNAT{Ports: f.Ports, To: to.Addr()})
				}
			}
		}
		if h.Masquerade {
			p.Masquerade = addrs
		}
		for _, d := range p.DNAT {
			p.IPv4Forwarding = p.IPv4Forwarding || d.To.Is4()
			p.IPv6Forwarding = p.IPv6Forwarding || d.To.Is6()
		}
		for _, a := range p.Masquerade {
			p.IPv4Forwarding = p.IPv4Forwarding || a.Is4()
			p.IPv6Forwarding = p.IPv6Forwarding || a.Is6()
		}
	case Raw, Cooked:
		if !h.ManageRules {
			break
		}
		r := &hostsetup.Raw{Interface: ifc.Param, Addrs: addrs, EphemeralPorts: h.EphemeralPorts}
		for _, f := range c.Frontends {
			if !slices.Contains(r.ListenPorts, f.Ports) {
				r.ListenPorts = append(r.ListenPorts, f.Ports)
			}
		}
		p.Raw = r
	}
	return p
}

// String renders the configuration in ustack's file format: a complete,
// re-readable description (LKL settings converted).
func (c *Config) String() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	ifc := &c.Interface
	if ifc.Type != "" {
		w("interface %s %s", ifc.Type, ifc.Param)
	}
	if ifc.MTU != 0 {
		w("mtu %d", ifc.MTU)
	}
	if ifc.MAC != nil {
		w("mac %s", ifc.MAC)
	}
	for _, a := range []netip.Prefix{ifc.Addr, ifc.Addr6} {
		if a.IsValid() {
			w("address %v", a)
		}
	}
	for _, g := range []netip.Addr{ifc.Gateway, ifc.Gateway6} {
		if g.IsValid() {
			w("gateway %v", g)
		}
	}
	for _, n := range ifc.Neighbors {
		w("neighbor %v %s", n.IP, n.MAC)
	}
	if ifc.Offload != 0 {
		w("offload %#x", ifc.Offload)
	}
	w("congestion %s", c.Stack.Congestion)
	w("sysctl net.ipv4.tcp_wmem = %d %d %d", c.Stack.WMem.Min, c.Stack.WMem.Default, c.Stack.WMem.Max)
	w("sysctl net.ipv4.tcp_rmem = %d %d %d", c.Stack.RMem.Min, c.Stack.RMem.Default, c.Stack.RMem.Max)
	h := &c.Host
	w("create-tap %s", onOff(h.CreateTAP, "yes", "no"))
	if h.TAPOwner >= 0 {
		w("tap-owner %d", h.TAPOwner)
	}
	for _, a := range []netip.Prefix{h.Address, h.Address6} {
		if a.IsValid() {
			w("host-address %v", a)
		}
	}
	if h.DNATFrom != "" {
		w("dnat-from %s", h.DNATFrom)
	}
	w("rules %s", onOff(h.ManageRules, "on", "off"))
	w("masquerade %s", onOff(h.Masquerade, "on", "off"))
	w("ephemeral-ports %v", h.EphemeralPorts)
	for _, kv := range [][2]string{{"control", c.Control}, {"metrics", c.Metrics}, {"pcap", c.Pcap}, {"log-level", c.LogLevel}} {
		if kv[1] != "" {
			w("%s %s", kv[0], kv[1])
		}
	}
	for _, f := range c.Frontends {
		line := fmt.Sprintf("%v %v %s %v", f.Listen, f.Ports, f.Backend, f.BackendPorts)
		if f.Proxy != "" && f.Proxy != ProxyNone {
			line += " proxy=" + string(f.Proxy)
		}
		if f.Idle != 0 {
			line += " idle=" + f.Idle.String()
		}
		w("%s", line)
	}
	return b.String()
}

func onOff(v bool, yes, no string) string {
	if v {
		return yes
	}
	return no
}
