package ip

// Interfaces. An Interface binds a Device to the stack with a link type
// (Ethernet or bare IP), an MTU (the IP MTU: largest IP packet, link header
// excluded), a set of addresses and its neighbour cache. Adding an address
// also installs the on-link route for its prefix; removing it removes that
// route. On an Ethernet interface with NoARP (IFF_NOARP, point-to-point
// links) there is no neighbour resolution: every IP frame goes to PeerMAC.

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/ustack/ustack/wire"
)

// LinkType is the framing of an interface.
type LinkType uint8

const (
	// LinkEthernet frames carry a 14-byte Ethernet II header.
	LinkEthernet LinkType = iota
	// LinkNone frames are bare IP packets (tun, venet0, cooked AF_PACKET
	// SOCK_DGRAM); the version nibble tells IPv4 from IPv6.
	LinkNone
)

func (t LinkType) String() string {
	switch t {
	case LinkEthernet:
		return "ethernet"
	case LinkNone:
		return "none"
	}
	return fmt.Sprintf("LinkType(%d)", uint8(t))
}

// InterfaceConfig describes an interface for AddInterface.
type InterfaceConfig struct {
	Name     string
	LinkType LinkType
	// MAC is the interface's hardware address (Ethernet only).
	MAC wire.MAC
	// MTU is the IP MTU. Default 1500.
	MTU int
	// NoARP disables neighbour resolution on an Ethernet interface: frames
	// go to PeerMAC (broadcast when zero) and ARP/NDP is neither answered
	// nor sent.
	NoARP   bool
	PeerMAC wire.MAC
	// Addrs are the interface's addresses with their on-link prefixes.
	Addrs []netip.Prefix
	// StaticNeighbors are permanent neighbour entries.
	StaticNeighbors map[netip.Addr]wire.MAC
	// GSOMaxSize is the largest transport segment the device accepts for
	// segmentation offload (0: none). Reported in RouteInfo.
	GSOMaxSize int
	// ChecksumOffload means the device verifies transport checksums of
	// received frames: every Packet from this interface has
	// ChecksumVerified set.
	ChecksumOffload bool
}

// Interface is a network interface of a Stack.
type Interface struct {
	stack    *Stack
	index    int
	name     string
	linkType LinkType
	mac      wire.MAC
	mtu      int
	noARP    bool
	peerMAC  wire.MAC
	gso      int
	rxCsum   bool
	dev      Device
	addrs    []netip.Prefix
	neigh    map[netip.Addr]*neighbor
}

// Name returns the interface name.
func (n *Interface) Name() string { return n.name }

// Index returns the interface's 1-based index in its stack.
func (n *Interface) Index() int { return n.index }

// LinkType returns the interface's framing.
func (n *Interface) LinkType() LinkType { return n.linkType }

// MAC returns the interface's hardware address.
func (n *Interface) MAC() wire.MAC { return n.mac }

// MTU returns the interface's IP MTU.
func (n *Interface) MTU() int { return n.mtu }

// Device returns the interface's device.
func (n *Interface) Device() Device { return n.dev }

// Addrs returns a copy of the interface's addresses.
func (n *Interface) Addrs() []netip.Prefix { return append([]netip.Prefix(nil), n.addrs...) }

func (n *Interface) String() string { return n.name }

func (n *Interface) hasAddr(a netip.Addr) bool {
	for _, p := range n.addrs {
		if p.Addr() == a {
			return true
		}
	}
	return false
}

// linkHeaderLen is the size of the link header in front of IP packets.
func (n *Interface) linkHeaderLen() int {
	if n.linkType == LinkEthernet {
		return wire.EthernetHeaderLen
	}
	return 0
}

// resolves reports whether the interface does ARP/NDP.
func (n *Interface) resolves() bool { return n.linkType == LinkEthernet && !n.noARP }

// AddInterface adds an interface driven by dev.
func (s *Stack) AddInterface(cfg InterfaceConfig, dev Device) (*Interface, error) {
	if dev == nil {
		return nil, fmt.Errorf("%w: nil device", ErrBadConfig)
	}
	if cfg.Name == "" {
		cfg.Name = fmt.Sprintf("if%d", len(s.ifaces)+1)
	}
	if s.InterfaceByName(cfg.Name) != nil {
		return nil, fmt.Errorf("%w: duplicate interface name %q", ErrBadConfig, cfg.Name)
	}
	switch cfg.LinkType {
	case LinkEthernet:
		if cfg.MAC == (wire.MAC{}) || cfg.MAC[0]&1 != 0 {
			return nil, fmt.Errorf("%w: interface %s: MAC %v is not a unicast address", ErrBadConfig, cfg.Name, cfg.MAC)
		}
		if cfg.NoARP && cfg.PeerMAC == (wire.MAC{}) {
			cfg.PeerMAC = wire.BroadcastMAC
		}
	case LinkNone:
		if len(cfg.StaticNeighbors) > 0 {
			return nil, fmt.Errorf("%w: interface %s: static neighbours on a link without link addresses", ErrBadConfig, cfg.Name)
		}
	default:
		return nil, fmt.Errorf("%w: interface %s: unknown link type %d", ErrBadConfig, cfg.Name, cfg.LinkType)
	}
	if cfg.MTU == 0 {
		cfg.MTU = 1500
	}
	if cfg.MTU < 68 || cfg.MTU > 65535 {
		return nil, fmt.Errorf("%w: interface %s: MTU %d outside [68, 65535]", ErrBadConfig, cfg.Name, cfg.MTU)
	}
	if cfg.GSOMaxSize < 0 || cfg.GSOMaxSize > 65535-wire.IPv4HeaderLen {
		return nil, fmt.Errorf("%w: interface %s: GSOMaxSize %d", ErrBadConfig, cfg.Name, cfg.GSOMaxSize)
	}
	n := &Interface{
		stack:    s,
		index:    len(s.ifaces) + 1,
		name:     cfg.Name,
		linkType: cfg.LinkType,
		mac:      cfg.MAC,
		mtu:      cfg.MTU,
		noARP:    cfg.NoARP,
		peerMAC:  cfg.PeerMAC,
		gso:      cfg.GSOMaxSize,
		rxCsum:   cfg.ChecksumOffload,
		dev:      dev,
		neigh:    make(map[netip.Addr]*neighbor),
	}
	if cfg.LinkType == LinkNone {
		n.mac = wire.MAC{}
	}
	for _, p := range cfg.Addrs {
		if err := n.checkPrefix(p); err != nil {
			return nil, err
		}
	}
	for a, mac := range cfg.StaticNeighbors {
		if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() || a.Zone() != "" {
			return nil, fmt.Errorf("%w: interface %s: static neighbour %v", ErrBadConfig, cfg.Name, a)
		}
		if mac == (wire.MAC{}) || mac[0]&1 != 0 {
			return nil, fmt.Errorf("%w: interface %s: static neighbour %v has MAC %v", ErrBadConfig, cfg.Name, a, mac)
		}
	}
	s.ifaces = append(s.ifaces, n)
	for _, p := range cfg.Addrs {
		if err := s.AddAddress(n, p); err != nil {
			s.ifaces = s.ifaces[:len(s.ifaces)-1]
			s.removeRoutesOf(n)
			return nil, err
		}
	}
	for a, mac := range cfg.StaticNeighbors {
		n.neigh[a.Unmap()] = &neighbor{nic: n, addr: a.Unmap(), mac: mac, state: neighPermanent}
	}
	return n, nil
}

func (n *Interface) checkPrefix(p netip.Prefix) error {
	a := p.Addr()
	if !p.IsValid() || a.Zone() != "" || a.Is4In6() {
		return fmt.Errorf("%w: interface %s: bad prefix %v", ErrBadConfig, n.name, p)
	}
	if a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() {
		return fmt.Errorf("%w: interface %s: %v is not a unicast address", ErrBadConfig, n.name, a)
	}
	if a.Is4() {
		if a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
			return fmt.Errorf("%w: interface %s: %v is not a unicast address", ErrBadConfig, n.name, a)
		}
		if p.Bits() < 31 && (a == p.Masked().Addr() || a == directedBroadcast(p)) {
			return fmt.Errorf("%w: interface %s: %v is the network or broadcast address of %v", ErrBadConfig, n.name, a, p)
		}
	} else if n.mtu < 1280 {
		return fmt.Errorf("%w: interface %s: IPv6 needs an MTU of at least 1280, have %d", ErrBadConfig, n.name, n.mtu)
	}
	return nil
}

// AddAddress assigns p.Addr() to nic and adds the on-link route for p.
func (s *Stack) AddAddress(nic *Interface, p netip.Prefix) error {
	if nic == nil || nic.stack != s {
		return ErrBadInterface
	}
	if err := nic.checkPrefix(p); err != nil {
		return err
	}
	if s.IsLocalAddr(p.Addr()) {
		return fmt.Errorf("%w: %v", ErrAddressExists, p.Addr())
	}
	nic.addrs = append(nic.addrs, p)
	s.insertRoute(&routeEntry{Route: Route{Dst: p.Masked(), NIC: nic}, auto: true, owner: p})
	return nil
}

// RemoveAddress removes the address p.Addr() from nic together with its
// on-link route. The prefix length of p is ignored.
func (s *Stack) RemoveAddress(nic *Interface, p netip.Prefix) error {
	if nic == nil || nic.stack != s {
		return ErrBadInterface
	}
	a := p.Addr()
	for i, q := range nic.addrs {
		if q.Addr() != a {
			continue
		}
		nic.addrs = append(nic.addrs[:i], nic.addrs[i+1:]...)
		kept := s.routes[:0]
		for _, r := range s.routes {
			if r.auto && r.NIC == nic && r.owner == q {
				continue
			}
			kept = append(kept, r)
		}
		clear(s.routes[len(kept):])
		s.routes = kept
		return nil
	}
	return fmt.Errorf("%w: %v on %s", ErrNoSuchAddress, a, nic.name)
}

// directedBroadcast returns the all-ones host address of an IPv4 prefix.
func directedBroadcast(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	v := binary.BigEndian.Uint32(b[:]) | ^uint32(0)>>p.Bits()
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

// isBroadcast reports whether a (IPv4) is the limited broadcast or the
// directed broadcast of one of nic's prefixes.
func (n *Interface) isBroadcast(a netip.Addr) bool {
	if a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return true
	}
	for _, p := range n.addrs {
		if p.Addr().Is4() && p.Bits() < 31 && directedBroadcast(p) == a {
			return true
		}
	}
	return false
}

// sourceFor picks an address of nic for talking to dst (a same-family
// address whose prefix contains dst first; for IPv6, link-local for a
// link-local dst, otherwise a global one).
func (n *Interface) sourceFor(dst netip.Addr) netip.Addr {
	var sameScope, any netip.Addr
	for _, p := range n.addrs {
		a := p.Addr()
		if a.Is4() != dst.Is4() {
			continue
		}
		if p.Contains(dst) {
			return a
		}
		if !sameScope.IsValid() && a.IsLinkLocalUnicast() == dst.IsLinkLocalUnicast() {
			sameScope = a
		}
		if !any.IsValid() {
			any = a
		}
	}
	if sameScope.IsValid() {
		return sameScope
	}
	return any
}
