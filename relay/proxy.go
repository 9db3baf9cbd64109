// PROXY protocol headers (haproxy's proxy-protocol.txt), sender side only.
//
// The relay writes one header to the backend before any client byte, so that
// the backend learns the client's address and port and the address the client
// connected to. Version 1 is one text line; version 2 is a 16-byte binary
// header followed by the address block:
//
//	v1: "PROXY TCP4 <src> <dst> <sport> <dport>\r\n"   (TCP6 for IPv6)
//	v2: 0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A          signature
//	    21                                           version 2, command PROXY
//	    11 | 21                                      TCP over IPv4 | IPv6
//	    00 0C | 00 24                                address block length
//	    src addr, dst addr, src port, dst port       network byte order
//
// Families: IPv4-mapped IPv6 addresses are unmapped first; when one side is
// IPv4 and the other IPv6, the IPv4 one is written as ::ffff:a.b.c.d and the
// header is TCP6, as haproxy does. Unknown endpoints give "PROXY UNKNOWN\r\n"
// (v1) or the PROXY command with family UNSPEC and no address block (v2), which
// the spec tells receivers to treat as "use the real connection endpoints".
//
// The LOCAL forms (AppendProxyLocal) are for connections the relay opens on
// its own behalf, such as the start-up reachability check.
package relay

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
)

// ProxyVersion selects the PROXY protocol header sent to the backend.
type ProxyVersion uint8

const (
	ProxyNone ProxyVersion = iota // no header
	ProxyV1                       // text header (haproxy send-proxy)
	ProxyV2                       // binary header (haproxy send-proxy-v2)
)

func (v ProxyVersion) String() string {
	switch v {
	case ProxyNone:
		return "none"
	case ProxyV1:
		return "v1"
	case ProxyV2:
		return "v2"
	}
	return "ProxyVersion(" + strconv.Itoa(int(v)) + ")"
}

// ParseProxyVersion parses "none", "v1" or "v2" (as in the config file).
func ParseProxyVersion(s string) (ProxyVersion, error) {
	switch s {
	case "", "none":
		return ProxyNone, nil
	case "v1":
		return ProxyV1, nil
	case "v2":
		return ProxyV2, nil
	}
	return 0, fmt.Errorf("relay: unknown PROXY protocol version %q (want none, v1 or v2)", s)
}

// proxyV2Sig is the 12-byte signature opening every v2 header.
var proxyV2Sig = [12]byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}

const (
	proxyV2Local   = 0x20 // version 2, command LOCAL
	proxyV2Proxy   = 0x21 // version 2, command PROXY
	proxyV2Unspec  = 0x00
	proxyV2TCP4    = 0x11 // AF_INET, SOCK_STREAM
	proxyV2TCP6    = 0x21 // AF_INET6, SOCK_STREAM
	proxyV2HdrLen  = 16
	proxyV2Addr4   = 12 // 4+4+2+2
	proxyV2Addr6   = 36 // 16+16+2+2
	proxyV1Unknown = "PROXY UNKNOWN\r\n"
)

// proxyFamily normalises src and dst to one family: 4 (both IPv4), 6 (both
// IPv6, an IPv4 one mapped) or 0 (an endpoint is missing).
func proxyFamily(src, dst netip.AddrPort) (netip.AddrPort, netip.AddrPort, int) {
	if !src.IsValid() || !dst.IsValid() {
		return src, dst, 0
	}
	s := src.Addr().Unmap().WithZone("")
	d := dst.Addr().Unmap().WithZone("")
	if s.Is4() && d.Is4() {
		return netip.AddrPortFrom(s, src.Port()), netip.AddrPortFrom(d, dst.Port()), 4
	}
	s = netip.AddrFrom16(s.As16())
	d = netip.AddrFrom16(d.As16())
	return netip.AddrPortFrom(s, src.Port()), netip.AddrPortFrom(d, dst.Port()), 6
}

// AppendProxyV1 appends the v1 header for a TCP connection from src (the
// client) to dst (the address it connected to).
func AppendProxyV1(b []byte, src, dst netip.AddrPort) []byte {
	src, dst, fam := proxyFamily(src, dst)
	switch fam {
	case 4:
		b = append(b, "PROXY TCP4 "...)
	case 6:
		b = append(b, "PROXY TCP6 "...)
	default:
		return append(b, proxyV1Unknown...)
	}
	// An IPv4-mapped address prints as ::ffff:a.b.c.d; String does that.
	b = append(b, src.Addr().String()...)
	b = append(b, ' ')
	b = append(b, dst.Addr().String()...)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(src.Port()), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(dst.Port()), 10)
	return append(b, '\r', '\n')
}

// AppendProxyV2 appends the v2 header (command PROXY, TCP, no TLVs) for a
// connection from src to dst.
func AppendProxyV2(b []byte, src, dst netip.AddrPort) []byte {
	src, dst, fam := proxyFamily(src, dst)
	b = append(b, proxyV2Sig[:]...)
	switch fam {
	case 4:
		b = append(b, proxyV2Proxy, proxyV2TCP4)
		b = binary.BigEndian.AppendUint16(b, proxyV2Addr4)
		s, d := src.Addr().As4(), dst.Addr().As4()
		b = append(b, s[:]...)
		b = append(b, d[:]...)
	case 6:
		b = append(b, proxyV2Proxy, proxyV2TCP6)
		b = binary.BigEndian.AppendUint16(b, proxyV2Addr6)
		s, d := src.Addr().As16(), dst.Addr().As16()
		b = append(b, s[:]...)
		b = append(b, d[:]...)
	default:
		return append(b, proxyV2Proxy, proxyV2Unspec, 0, 0)
	}
	b = binary.BigEndian.AppendUint16(b, src.Port())
	return binary.BigEndian.AppendUint16(b, dst.Port())
}

// AppendProxyLocal appends the header of a connection the relay makes for
// itself (a health check): "PROXY UNKNOWN\r\n" for v1, the LOCAL command for
// v2, nothing for ProxyNone.
func AppendProxyLocal(b []byte, v ProxyVersion) []byte {
	switch v {
	case ProxyV1:
		return append(b, proxyV1Unknown...)
	case ProxyV2:
		b = append(b, proxyV2Sig[:]...)
		return append(b, proxyV2Local, proxyV2Unspec, 0, 0)
	}
	return b
}

// AppendProxy appends the header of version v (nothing for ProxyNone).
func AppendProxy(b []byte, v ProxyVersion, src, dst netip.AddrPort) []byte {
	switch v {
	case ProxyV1:
		return AppendProxyV1(b, src, dst)
	case ProxyV2:
		return AppendProxyV2(b, src, dst)
	}
	return b
}
