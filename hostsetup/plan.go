// Package hostsetup makes, and unmakes, the changes ustack needs on its host.
//
// A Plan is a plain description of the wanted host state for one ustack
// instance: a TAP link with the host-side address on it, IP forwarding,
// DNAT of public ports to the stack's address, MASQUERADE for the stack's
// outbound traffic, and, in raw-socket mode (the stack shares the host's
// interface and IP), firewall rules that keep the host kernel from answering
// the stack's ports with RSTs.
//
// Everything ustack creates carries the instance name, so that it can be found
// again after a crash:
//
//   - nftables: one table name, "ustack-<instance>", in up to three families:
//     inet (the raw-mode guard chains and the "state" chain), ip and ip6 (NAT,
//     kept in per-family tables so that kernels older than 5.2, which cannot
//     do NAT in inet tables, still work). Teardown deletes these tables.
//   - links: a TAP created by ustack gets the alias "ustack:<instance>".
//   - sysctls: each value ustack changes is recorded, with its old and new
//     value, as a comment on a rule in the never-evaluated "state" chain of
//     the inet table, written in the same atomic batch as the rules. Teardown
//     and Cleanup restore the old value only if the current value is still
//     the one ustack wrote.
//
// Apply validates the plan, checks the host (interfaces exist, the TAP name
// is free, no leftovers of the instance), commits all nftables state in one
// atomic batch, then creates the TAP and writes sysctls; on any failure it
// undoes what it did. Cleanup(instance) removes everything tagged with the
// instance, for use at start-up after a SIGKILL. DryRun prints the same
// changes as nft and ip/sysctl commands without touching anything.
//
// Everything here works in the network namespace of the calling OS thread.
package hostsetup

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode"
)

// PortRange is an inclusive range of TCP ports; a single port has First == Last.
type PortRange struct {
	First, Last uint16
}

// Port returns the range holding just p.
func Port(p uint16) PortRange { return PortRange{p, p} }

// String formats the range as nft does: "443" or "8000-8100".
func (r PortRange) String() string {
	if r.First == r.Last {
		return fmt.Sprint(r.First)
	}
	return fmt.Sprintf("%d-%d", r.First, r.Last)
}

// Len is the number of ports in the range.
func (r PortRange) Len() int { return int(r.Last) - int(r.First) + 1 }

// Overlaps reports whether r and o share a port.
func (r PortRange) Overlaps(o PortRange) bool { return r.First <= o.Last && o.First <= r.Last }

func (r PortRange) valid() bool { return r.First != 0 && r.First <= r.Last }

// Plan is the host state wanted for one ustack instance. The zero value of
// every part means "leave the host alone" for that part.
type Plan struct {
	// Instance names this ustack instance; it tags everything created.
	// Letters, digits, '-', '_' and '.', at most 32 characters.
	Instance string

	// TAP, if set, is the TAP link the stack attaches to.
	TAP *TAP

	// IPv4Forwarding and IPv6Forwarding turn on forwarding (needed for
	// DNAT to a TAP); the previous value is restored on teardown.
	IPv4Forwarding bool
	IPv6Forwarding bool

	// DNAT forwards public TCP ports to the stack. DNATInterface limits
	// the rules to packets arriving on that interface ("" = any).
	DNAT          []DNAT
	DNATInterface string

	// Masquerade lists stack addresses whose outbound traffic is
	// masqueraded when it leaves the host (not through the TAP itself).
	Masquerade []netip.Addr

	// Raw, if set, guards the stack's ports on a shared host interface.
	Raw *Raw
}

// TAP describes the TAP link and its host side.
type TAP struct {
	Name string
	// Create the link (with the ustack alias). If false the link must
	// already exist and is only checked; HostAddrs must then be empty.
	Create bool
	// Owner and Group may attach to the TAP; -1 means no restriction
	// beyond CAP_NET_ADMIN. (0 is root.)
	Owner, Group int
	// MultiQueue creates the TAP with IFF_MULTI_QUEUE; the stack must then
	// attach with the same flag.
	MultiQueue bool
	// MTU of the link, 0 = kernel default.
	MTU int
	// HostAddrs are put on the link, e.g. 10.0.0.1/24.
	HostAddrs []netip.Prefix
}

// DNAT sends TCP packets for Ports to To, keeping the port numbers (the
// stack listens on the public ports itself).
type DNAT struct {
	Ports PortRange
	To    netip.Addr
}

// Raw describes raw-socket mode: the stack receives with AF_PACKET on the
// host's interface, so the host kernel must not see (and RST) those packets.
type Raw struct {
	Interface string
	// Addrs, if any, limit the guard to these local addresses.
	Addrs []netip.Addr
	// ListenPorts are the stack's listening ports.
	ListenPorts []PortRange
	// EphemeralPorts is the stack's own source-port range for outbound
	// connections; it is also added to net.ipv4.ip_local_reserved_ports so
	// that the host kernel never picks those ports itself.
	EphemeralPorts PortRange
}

// Tag is the link alias marking links owned by instance.
func Tag(instance string) string { return "ustack:" + instance }

// TableName is the nftables table name (in every family) owned by instance.
func TableName(instance string) string { return "ustack-" + instance }

func validInstance(s string) error {
	if s == "" {
		return errors.New("instance name is empty")
	}
	if len(s) > 32 {
		return fmt.Errorf("instance name %q is longer than 32 characters", s)
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("instance name %q: only letters, digits, '-', '_' and '.' are allowed", s)
		}
	}
	return nil
}

// ValidInterfaceName reports whether s is a name Linux accepts for a link
// and that ustack can print safely (in nft rules and config files): at most
// 15 bytes, no white space, '/', ':', '#', '"', backslash or NUL, not "." or "..".
func ValidInterfaceName(s string) bool {
	return s != "" && len(s) <= 15 && s != "." && s != ".." &&
		!strings.ContainsAny(s, "/:#\"\\\x00") && strings.IndexFunc(s, unicode.IsSpace) < 0
}

func validIfname(what, s string) error {
	if s == "" {
		return fmt.Errorf("%s: interface name is empty", what)
	}
	if !ValidInterfaceName(s) {
		return fmt.Errorf("%s: %q is not a valid interface name", what, s)
	}
	return nil
}

// Validate checks the plan without looking at the host. Each problem is one
// line; several are joined with newlines.
func (p *Plan) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if err := validInstance(p.Instance); err != nil {
		errs = append(errs, err)
	}
	if t := p.TAP; t != nil {
		if err := validIfname("tap", t.Name); err != nil {
			errs = append(errs, err)
		}
		if !t.Create && len(t.HostAddrs) > 0 {
			add("tap %s: host addresses need create (ustack only removes addresses from links it created)", t.Name)
		}
		if t.MTU != 0 && (t.MTU < 68 || t.MTU > 65521) {
			add("tap %s: mtu %d out of range 68..65521", t.Name, t.MTU)
		}
		if t.Owner < -1 || t.Group < -1 {
			add("tap %s: owner/group must be a uid/gid or -1", t.Name)
		}
		for _, a := range t.HostAddrs {
			if !a.IsValid() || a.Addr().Zone() != "" {
				add("tap %s: bad host address %v", t.Name, a)
			}
		}
	}
	if p.DNATInterface != "" {
		if err := validIfname("dnat interface", p.DNATInterface); err != nil {
			errs = append(errs, err)
		}
	}
	for i, d := range p.DNAT {
		if !d.Ports.valid() {
			add("dnat %d: bad port range %d-%d", i, d.Ports.First, d.Ports.Last)
		}
		if !d.To.IsValid() || d.To.IsUnspecified() || d.To.Zone() != "" {
			add("dnat %d: bad target address %v", i, d.To)
		}
		for j := range i {
			e := p.DNAT[j]
			if e.To.Is4() == d.To.Is4() && e.Ports.Overlaps(d.Ports) {
				add("dnat %d: ports %v overlap dnat %d (%v)", i, d.Ports, j, e.Ports)
			}
		}
	}
	for _, a := range p.Masquerade {
		if !a.IsValid() || a.IsUnspecified() || a.Zone() != "" {
			add("masquerade: bad address %v", a)
		}
	}
	if r := p.Raw; r != nil {
		if err := validIfname("raw", r.Interface); err != nil {
			errs = append(errs, err)
		}
		for _, pr := range r.ListenPorts {
			if !pr.valid() {
				add("raw: bad listen port range %d-%d", pr.First, pr.Last)
			}
		}
		if r.EphemeralPorts != (PortRange{}) && !r.EphemeralPorts.valid() {
			add("raw: bad ephemeral port range %d-%d", r.EphemeralPorts.First, r.EphemeralPorts.Last)
		}
		for _, pr := range r.ListenPorts {
			if r.EphemeralPorts.valid() && pr.Overlaps(r.EphemeralPorts) {
				add("raw: listen ports %v overlap the ephemeral range %v", pr, r.EphemeralPorts)
			}
		}
		for _, a := range r.Addrs {
			if !a.IsValid() || a.IsUnspecified() || a.Zone() != "" {
				add("raw: bad address %v", a)
			}
		}
		if p.TAP != nil {
			add("raw mode and a tap in the same plan: pick one")
		}
	}
	return errors.Join(errs...)
}
