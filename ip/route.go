package ip

// Routing. The table is a list of routes kept sorted by prefix length,
// longest first, so the first match is the longest-prefix match; among
// routes of equal length the one on the interface owning the requested
// source address wins, then the one added first. Each address assigned to
// an interface contributes an on-link route for its prefix. A route with a
// Gateway sends via that next hop (resolved by ARP/NDP on the route's
// interface); without one the destination itself is the next hop.
//
// The path MTU cache maps a destination to the MTU learned from ICMP
// "fragmentation needed" / "packet too big". Entries never go below 576
// (IPv4) / 1280 (IPv6), only ever lower the MTU of a route, and expire after
// Config.PMTUTimeout (checked against Stack.Now on lookup, and swept by a
// timer so the map does not grow without bound).

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"github.com/ustack/ustack/clock"
)

// Route is an entry of the routing table.
type Route struct {
	Dst     netip.Prefix
	Gateway netip.Addr // invalid: destination is on-link
	NIC     *Interface
	Src     netip.Addr // optional preferred source address
	MTU     int        // optional, lowers the interface MTU
}

type routeEntry struct {
	Route
	auto  bool         // installed by AddAddress
	owner netip.Prefix // the address prefix an auto route belongs to
}

// Minimum path MTUs accepted from ICMP.
const (
	MinPMTU4 = 576
	MinPMTU6 = 1280
)

type pmtuEntry struct {
	mtu     int
	expires clock.Time
}

func (s *Stack) insertRoute(r *routeEntry) {
	i := len(s.routes)
	for j, e := range s.routes {
		if e.Dst.Bits() < r.Dst.Bits() {
			i = j
			break
		}
	}
	s.routes = slices.Insert(s.routes, i, r)
}

func (s *Stack) removeRoutesOf(nic *Interface) {
	s.routes = slices.DeleteFunc(s.routes, func(r *routeEntry) bool { return r.NIC == nic })
}

// AddRoute adds r to the routing table. A route with the same Dst, NIC and
// Gateway as an existing one replaces it.
func (s *Stack) AddRoute(r Route) error {
	if r.NIC == nil || r.NIC.stack != s {
		return ErrBadInterface
	}
	if !r.Dst.IsValid() || r.Dst.Addr().Zone() != "" {
		return fmt.Errorf("%w: route destination %v", ErrBadConfig, r.Dst)
	}
	r.Dst = r.Dst.Masked()
	if r.Gateway.IsValid() {
		r.Gateway = r.Gateway.WithZone("")
		if r.Gateway.Is4() != r.Dst.Addr().Is4() || r.Gateway.IsUnspecified() || r.Gateway.IsMulticast() {
			return fmt.Errorf("%w: route %v: bad gateway %v", ErrBadConfig, r.Dst, r.Gateway)
		}
		if s.IsLocalAddr(r.Gateway) {
			return fmt.Errorf("%w: route %v: gateway %v is a local address", ErrBadConfig, r.Dst, r.Gateway)
		}
	}
	if r.Src.IsValid() {
		r.Src = r.Src.WithZone("")
		if r.Src.Is4() != r.Dst.Addr().Is4() || !s.IsLocalAddr(r.Src) {
			return fmt.Errorf("%w: route %v: source %v is not a local address", ErrBadConfig, r.Dst, r.Src)
		}
	}
	if r.MTU != 0 && (r.MTU < 68 || r.MTU > r.NIC.mtu) {
		return fmt.Errorf("%w: route %v: MTU %d outside [68, %d]", ErrBadConfig, r.Dst, r.MTU, r.NIC.mtu)
	}
	if r.Dst.Addr().Is6() && r.MTU != 0 && r.MTU < 1280 {
		return fmt.Errorf("%w: route %v: IPv6 MTU %d below 1280", ErrBadConfig, r.Dst, r.MTU)
	}
	for i, e := range s.routes {
		if !e.auto && e.Dst == r.Dst && e.NIC == r.NIC && e.Gateway == r.Gateway {
			s.routes[i] = &routeEntry{Route: r}
			return nil
		}
	}
	s.insertRoute(&routeEntry{Route: r})
	return nil
}

// RemoveRoute removes the route with r's Dst, NIC and Gateway. On-link
// routes of addresses are removed with the address.
func (s *Stack) RemoveRoute(r Route) error {
	r.Dst = r.Dst.Masked()
	for i, e := range s.routes {
		if !e.auto && e.Dst == r.Dst && e.NIC == r.NIC && e.Gateway == r.Gateway.WithZone("") {
			s.routes = slices.Delete(s.routes, i, i+1)
			return nil
		}
	}
	return ErrNoSuchRoute
}

// Routes returns the routing table, longest prefix first.
func (s *Stack) Routes() []Route {
	out := make([]Route, len(s.routes))
	for i, r := range s.routes {
		out[i] = r.Route
	}
	return out
}

// lookup finds the route for dst (already validated and unzoned). zone, if
// non-empty, restricts it to the interface of that name; srcNIC, if not
// nil, wins ties.
func (s *Stack) lookup(dst netip.Addr, zone string, srcNIC *Interface) *routeEntry {
	var best *routeEntry
	for _, r := range s.routes {
		if best != nil && r.Dst.Bits() < best.Dst.Bits() {
			break
		}
		if !r.Dst.Contains(dst) || (zone != "" && !r.NIC.matchesZone(zone)) {
			continue
		}
		if best == nil {
			best = r
			if srcNIC == nil || r.NIC == srcNIC {
				break
			}
		} else if r.NIC == srcNIC {
			best = r
			break
		}
	}
	return best
}

// checkDst validates a destination address for unicast output and returns
// it unmapped and without zone, plus the zone.
func checkDst(dst netip.Addr) (netip.Addr, string, error) {
	zone := dst.Zone()
	dst = dst.Unmap().WithZone("")
	if !dst.IsValid() || dst.IsUnspecified() || dst.IsMulticast() ||
		dst == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return dst, zone, ErrBadAddress
	}
	return dst, zone, nil
}

// route is the outcome of routing one packet.
type route struct {
	nic     *Interface
	dst     netip.Addr // unmapped, unzoned
	nextHop netip.Addr
	src     netip.Addr
	mtu     int  // link MTU, route MTU applied (not PMTU)
	local   bool // dst is one of our addresses
}

// resolveRoute routes dst from src (src may be invalid: chosen).
func (s *Stack) resolveRoute(dst, src netip.Addr) (route, error) {
	dst, zone, err := checkDst(dst)
	if err != nil {
		return route{}, err
	}
	var srcNIC *Interface
	if src.IsValid() {
		src = src.Unmap().WithZone("")
		if src.Is4() != dst.Is4() {
			return route{}, ErrBadAddress
		}
		if srcNIC = s.localNIC(src); srcNIC == nil {
			return route{}, ErrBadAddress
		}
	}
	if nic := s.localNIC(dst); nic != nil {
		if !src.IsValid() {
			src = dst
		}
		return route{nic: nic, dst: dst, nextHop: dst, src: src, mtu: nic.mtu, local: true}, nil
	}
	r := s.lookup(dst, zone, srcNIC)
	if r == nil && zone != "" && dst.IsLinkLocalUnicast() {
		// fe80::x%nic is on-link on nic even without a link-local
		// address of our own there.
		if nic := s.zoneNIC(zone); nic != nil {
			r = &routeEntry{Route: Route{Dst: netip.PrefixFrom(dst, dst.BitLen()), NIC: nic}}
		}
	}
	if r == nil {
		return route{}, ErrNoRoute
	}
	rt := route{nic: r.NIC, dst: dst, nextHop: dst, src: src, mtu: r.NIC.mtu}
	if r.Gateway.IsValid() {
		rt.nextHop = r.Gateway
	}
	if r.MTU != 0 && r.MTU < rt.mtu {
		rt.mtu = r.MTU
	}
	if !rt.src.IsValid() {
		if r.Src.IsValid() {
			rt.src = r.Src
		} else if rt.src = r.NIC.sourceFor(rt.nextHop); !rt.src.IsValid() {
			// Weak host: any address of the family.
			for _, n := range s.ifaces {
				if rt.src = n.sourceFor(dst); rt.src.IsValid() {
					break
				}
			}
			if !rt.src.IsValid() {
				return route{}, ErrNoSource
			}
		}
	}
	return rt, nil
}

// FindRoute returns the interface, source address and MTU for sending to
// dst. src, if valid, must be a local address; otherwise one is chosen.
// Errors: ErrBadAddress (invalid, multicast or broadcast dst, non-local or
// mismatched src), ErrNoRoute, ErrNoSource.
func (s *Stack) FindRoute(dst, src netip.Addr) (RouteInfo, error) {
	rt, err := s.resolveRoute(dst, src)
	if err != nil {
		return RouteInfo{}, err
	}
	ri := RouteInfo{NIC: rt.nic, Src: rt.src, MTU: rt.mtu}
	if _, ok := rt.nic.dev.(GSODevice); ok {
		ri.GSOMaxSize = rt.nic.gso
	}
	if rt.local {
		ri.GSOMaxSize = 0
		return ri, nil
	}
	if p := s.PathMTU(dst); p != 0 && p < ri.MTU {
		ri.MTU = p
	}
	return ri, nil
}

// PathMTU returns the path MTU learned for dst, or 0 if none is cached.
func (s *Stack) PathMTU(dst netip.Addr) int {
	if len(s.pmtu) == 0 {
		return 0
	}
	e, ok := s.pmtu[dst.Unmap().WithZone("")]
	if !ok || e.expires <= s.now {
		return 0
	}
	return e.mtu
}

// SetPathMTU records mtu as the path MTU towards dst (clamped to the
// minimum of the family) until Stack.Now + Config.PMTUTimeout. It returns
// the value stored.
func (s *Stack) SetPathMTU(dst netip.Addr, mtu int) int {
	dst = dst.Unmap().WithZone("")
	min := MinPMTU4
	if dst.Is6() {
		min = MinPMTU6
	}
	if mtu < min {
		mtu = min
	}
	if mtu > 65535 {
		mtu = 65535
	}
	if _, ok := s.pmtu[dst]; !ok && len(s.pmtu) >= s.cfg.MaxPMTUEntries {
		s.sweepPMTU(s.now)
		if len(s.pmtu) >= s.cfg.MaxPMTUEntries {
			// Evict an arbitrary entry: the cache is an optimisation.
			for k := range s.pmtu {
				delete(s.pmtu, k)
				break
			}
		}
	}
	exp := s.now.Add(s.cfg.PMTUTimeout)
	s.pmtu[dst] = pmtuEntry{mtu: mtu, expires: exp}
	if !s.pmtuSweep.Armed() {
		s.timers.Set(&s.pmtuSweep, exp)
	}
	return mtu
}

// sweepPMTU deletes expired path MTU entries and re-arms for the next.
func (s *Stack) sweepPMTU(now clock.Time) {
	next := clock.Never
	for k, e := range s.pmtu {
		if e.expires <= now {
			delete(s.pmtu, k)
		} else if e.expires < next {
			next = e.expires
		}
	}
	s.timers.Set(&s.pmtuSweep, next)
}

// matchesZone reports whether an address zone names n (by name or index).
func (n *Interface) matchesZone(zone string) bool {
	return zone == n.name || zone == strconv.Itoa(n.index)
}

func (s *Stack) zoneNIC(zone string) *Interface {
	for _, n := range s.ifaces {
		if n.matchesZone(zone) {
			return n
		}
	}
	return nil
}
