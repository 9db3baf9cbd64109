package wire

// ICMPv6 (RFC 4443) and Neighbor Discovery (RFC 4861).
//
//	type(1) code(1) checksum(2) | body...
//
// The checksum covers the IPv6 pseudo-header (RFC 8200 §8.1, next header
// 58), so ParseICMPv6 and Encode take the source and destination addresses.
// Per-type layout of the body:
//
//	1 DestUnreachable, 3 TimeExceeded: unused(4) | quoted packet -> Data
//	2 PacketTooBig:                    MTU(4)    | quoted packet -> Data
//	4 ParameterProblem:                pointer(4)| quoted packet -> Data
//	128/129 Echo:                      ID(2) Seq(2) | data -> Data
//	133 RouterSolicitation:  reserved(4) | options
//	134 RouterAdvertisement: hop-limit(1) flags(1) lifetime(2)
//	                         reachable(4) retrans(4) | options
//	135 NeighborSolicitation:  reserved(4) | target(16) | options
//	136 NeighborAdvertisement: R S O flags + reserved(4) | target(16) | options
//	other types: rest-of-header(4) kept raw in ID/Seq | Data
//
// NDP options are type(1) length(1, in units of 8 bytes) | value. A zero
// length or an option running past the end is ErrBadOption. Understood
// options: source/target link-layer address (1/2; Ethernet MAC), prefix
// information (3; the first one is kept) and MTU (5, stored in MTU). Others
// are skipped. Data is nil for NDP messages; Encode regenerates options from
// the struct (SLLA, TLLA, MTU if non-zero, prefix if valid).

import (
	"encoding/binary"
	"net/netip"
)

// ICMPv6 message types.
const (
	ICMPv6DestUnreachable       = 1
	ICMPv6PacketTooBig          = 2
	ICMPv6TimeExceeded          = 3
	ICMPv6ParameterProblem      = 4
	ICMPv6EchoRequest           = 128
	ICMPv6EchoReply             = 129
	ICMPv6RouterSolicitation    = 133
	ICMPv6RouterAdvertisement   = 134
	ICMPv6NeighborSolicitation  = 135
	ICMPv6NeighborAdvertisement = 136
)

// ICMPv6 destination-unreachable codes.
const (
	ICMPv6NoRoute         = 0
	ICMPv6AdminProhibited = 1
	ICMPv6AddrUnreachable = 3
	ICMPv6PortUnreachable = 4
)

// ICMPv6 time-exceeded codes.
const (
	ICMPv6HopLimitExceeded   = 0
	ICMPv6ReassemblyExceeded = 1
)

// NDP option types.
const (
	ndpOptSourceLL   = 1
	ndpOptTargetLL   = 2
	ndpOptPrefixInfo = 3
	ndpOptMTU        = 5
)

const (
	icmpv6HeaderLen = 8
	ndpNSLen        = 24 // NS/NA fixed part incl. target
	ndpRALen        = 16
	ndpOptLLLen     = 8
	ndpOptMTULen    = 8
	ndpOptPrefixLen = 32
)

// ICMPv6RouterAdvert holds the fixed fields of a Router Advertisement.
type ICMPv6RouterAdvert struct {
	CurHopLimit    uint8
	Managed, Other bool   // M and O flags
	RouterLifetime uint16 // seconds
	ReachableTime  uint32 // milliseconds
	RetransTimer   uint32 // milliseconds
}

// NDPPrefixInfo is an NDP Prefix Information option (RFC 4861 §4.6.2).
// Prefix is the zero (invalid) Prefix when the option is absent. The prefix
// address is kept as sent (not masked).
type NDPPrefixInfo struct {
	Prefix            netip.Prefix
	OnLink            bool // L flag
	Autonomous        bool // A flag
	ValidLifetime     uint32
	PreferredLifetime uint32
}

// ICMPv6 is the parsed form of an ICMPv6 message.
type ICMPv6 struct {
	Type, Code uint8
	ID, Seq    uint16     // echo; raw rest-of-header for unknown types
	MTU        uint32     // PacketTooBig MTU, or NDP MTU option
	Pointer    uint32     // ParameterProblem pointer
	Target     netip.Addr // NS/NA target
	// NA flags.
	Router, Solicited, Override bool
	SourceLL, TargetLL          MAC
	HasSourceLL, HasTargetLL    bool
	RA                          ICMPv6RouterAdvert // type 134 only
	PrefixInfo                  NDPPrefixInfo      // first prefix option
	Data                        []byte             // echo data / quoted packet
}

func isNDP(t uint8) bool {
	return t >= ICMPv6RouterSolicitation && t <= ICMPv6NeighborAdvertisement
}

// ParseICMPv6 parses an ICMPv6 message received from src to dst and
// verifies its checksum. Data aliases b.
func ParseICMPv6(src, dst netip.Addr, b []byte) (ICMPv6, error) {
	var m ICMPv6
	if len(b) < 4 {
		return m, ErrTruncated
	}
	m.Type, m.Code = b[0], b[1]
	minLen := icmpv6HeaderLen
	switch m.Type {
	case ICMPv6RouterAdvertisement:
		minLen = ndpRALen
	case ICMPv6NeighborSolicitation, ICMPv6NeighborAdvertisement:
		minLen = ndpNSLen
	case ICMPv6DestUnreachable, ICMPv6PacketTooBig, ICMPv6TimeExceeded,
		ICMPv6ParameterProblem, ICMPv6EchoRequest, ICMPv6EchoReply,
		ICMPv6RouterSolicitation:
	default:
		minLen = 4
	}
	if len(b) < minLen {
		return ICMPv6{}, ErrTruncated
	}
	if FoldChecksum(Checksum(b, PseudoHeaderSum(src, dst, ProtoICMPv6, len(b)))) != 0 {
		return ICMPv6{}, ErrBadChecksum
	}
	var opts []byte
	switch m.Type {
	case ICMPv6DestUnreachable, ICMPv6TimeExceeded:
		m.Data = b[8:]
	case ICMPv6PacketTooBig:
		m.MTU = binary.BigEndian.Uint32(b[4:8])
		m.Data = b[8:]
	case ICMPv6ParameterProblem:
		m.Pointer = binary.BigEndian.Uint32(b[4:8])
		m.Data = b[8:]
	case ICMPv6RouterSolicitation:
		opts = b[8:]
	case ICMPv6RouterAdvertisement:
		m.RA.CurHopLimit = b[4]
		m.RA.Managed = b[5]&0x80 != 0
		m.RA.Other = b[5]&0x40 != 0
		m.RA.RouterLifetime = binary.BigEndian.Uint16(b[6:8])
		m.RA.ReachableTime = binary.BigEndian.Uint32(b[8:12])
		m.RA.RetransTimer = binary.BigEndian.Uint32(b[12:16])
		opts = b[16:]
	case ICMPv6NeighborSolicitation, ICMPv6NeighborAdvertisement:
		if m.Type == ICMPv6NeighborAdvertisement {
			m.Router = b[4]&0x80 != 0
			m.Solicited = b[4]&0x40 != 0
			m.Override = b[4]&0x20 != 0
		}
		m.Target = netip.AddrFrom16([16]byte(b[8:24]))
		opts = b[24:]
	default:
		if len(b) >= 8 {
			m.ID = binary.BigEndian.Uint16(b[4:6])
			m.Seq = binary.BigEndian.Uint16(b[6:8])
			m.Data = b[8:]
		}
	}
	if isNDP(m.Type) {
		if err := m.parseNDPOptions(opts); err != nil {
			return ICMPv6{}, err
		}
	}
	return m, nil
}

func (m *ICMPv6) parseNDPOptions(b []byte) error {
	havePrefix := false
	for len(b) > 0 {
		if len(b) < 2 {
			return ErrBadOption
		}
		n := int(b[1]) * 8
		if n == 0 || n > len(b) {
			return ErrBadOption
		}
		opt := b[:n]
		switch opt[0] {
		case ndpOptSourceLL:
			m.HasSourceLL = true
			copy(m.SourceLL[:], opt[2:8])
		case ndpOptTargetLL:
			m.HasTargetLL = true
			copy(m.TargetLL[:], opt[2:8])
		case ndpOptMTU:
			if n != ndpOptMTULen {
				return ErrBadOption
			}
			m.MTU = binary.BigEndian.Uint32(opt[4:8])
		case ndpOptPrefixInfo:
			if n != ndpOptPrefixLen || opt[2] > 128 {
				return ErrBadOption
			}
			if !havePrefix {
				havePrefix = true
				addr := netip.AddrFrom16([16]byte(opt[16:32]))
				m.PrefixInfo = NDPPrefixInfo{
					Prefix:            netip.PrefixFrom(addr, int(opt[2])),
					OnLink:            opt[3]&0x80 != 0,
					Autonomous:        opt[3]&0x40 != 0,
					ValidLifetime:     binary.BigEndian.Uint32(opt[4:8]),
					PreferredLifetime: binary.BigEndian.Uint32(opt[8:12]),
				}
			}
		}
		b = b[n:]
	}
	return nil
}

func (m *ICMPv6) ndpOptionsLen() int {
	n := 0
	if m.HasSourceLL {
		n += ndpOptLLLen
	}
	if m.HasTargetLL {
		n += ndpOptLLLen
	}
	if m.MTU != 0 {
		n += ndpOptMTULen
	}
	if m.PrefixInfo.Prefix.IsValid() {
		n += ndpOptPrefixLen
	}
	return n
}

// Len returns the encoded length of m.
func (m *ICMPv6) Len() int {
	switch m.Type {
	case ICMPv6RouterSolicitation:
		return icmpv6HeaderLen + m.ndpOptionsLen()
	case ICMPv6RouterAdvertisement:
		return ndpRALen + m.ndpOptionsLen()
	case ICMPv6NeighborSolicitation, ICMPv6NeighborAdvertisement:
		return ndpNSLen + m.ndpOptionsLen()
	}
	return icmpv6HeaderLen + len(m.Data)
}

func putLLOption(b []byte, typ uint8, mac MAC) {
	b[0], b[1] = typ, 1
	copy(b[2:8], mac[:])
}

func (m *ICMPv6) encodeNDPOptions(b []byte) {
	if m.HasSourceLL {
		putLLOption(b, ndpOptSourceLL, m.SourceLL)
		b = b[ndpOptLLLen:]
	}
	if m.HasTargetLL {
		putLLOption(b, ndpOptTargetLL, m.TargetLL)
		b = b[ndpOptLLLen:]
	}
	if m.MTU != 0 {
		b[0], b[1], b[2], b[3] = ndpOptMTU, 1, 0, 0
		binary.BigEndian.PutUint32(b[4:8], m.MTU)
		b = b[ndpOptMTULen:]
	}
	if p := &m.PrefixInfo; p.Prefix.IsValid() {
		b[0], b[1], b[2], b[3] = ndpOptPrefixInfo, 4, uint8(p.Prefix.Bits()), 0
		if p.OnLink {
			b[3] |= 0x80
		}
		if p.Autonomous {
			b[3] |= 0x40
		}
		binary.BigEndian.PutUint32(b[4:8], p.ValidLifetime)
		binary.BigEndian.PutUint32(b[8:12], p.PreferredLifetime)
		binary.BigEndian.PutUint32(b[12:16], 0)
		a := p.Prefix.Addr().As16()
		copy(b[16:32], a[:])
	}
}

// Encode writes m with its checksum (computed for src -> dst) into b
// (caller guarantees len(b) >= m.Len()) and returns m.Len().
func (m *ICMPv6) Encode(src, dst netip.Addr, b []byte) int {
	n := m.Len()
	_ = b[n-1]
	b[0], b[1], b[2], b[3] = m.Type, m.Code, 0, 0
	switch m.Type {
	case ICMPv6DestUnreachable, ICMPv6TimeExceeded:
		binary.BigEndian.PutUint32(b[4:8], 0)
		copy(b[8:n], m.Data)
	case ICMPv6PacketTooBig:
		binary.BigEndian.PutUint32(b[4:8], m.MTU)
		copy(b[8:n], m.Data)
	case ICMPv6ParameterProblem:
		binary.BigEndian.PutUint32(b[4:8], m.Pointer)
		copy(b[8:n], m.Data)
	case ICMPv6RouterSolicitation:
		binary.BigEndian.PutUint32(b[4:8], 0)
		m.encodeNDPOptions(b[8:n])
	case ICMPv6RouterAdvertisement:
		b[4] = m.RA.CurHopLimit
		b[5] = 0
		if m.RA.Managed {
			b[5] |= 0x80
		}
		if m.RA.Other {
			b[5] |= 0x40
		}
		binary.BigEndian.PutUint16(b[6:8], m.RA.RouterLifetime)
		binary.BigEndian.PutUint32(b[8:12], m.RA.ReachableTime)
		binary.BigEndian.PutUint32(b[12:16], m.RA.RetransTimer)
		m.encodeNDPOptions(b[16:n])
	case ICMPv6NeighborSolicitation, ICMPv6NeighborAdvertisement:
		var flags uint8
		if m.Type == ICMPv6NeighborAdvertisement {
			if m.Router {
				flags |= 0x80
			}
			if m.Solicited {
				flags |= 0x40
			}
			if m.Override {
				flags |= 0x20
			}
		}
		b[4], b[5], b[6], b[7] = flags, 0, 0, 0
		t := m.Target.As16()
		copy(b[8:24], t[:])
		m.encodeNDPOptions(b[24:n])
	default:
		binary.BigEndian.PutUint16(b[4:6], m.ID)
		binary.BigEndian.PutUint16(b[6:8], m.Seq)
		copy(b[8:n], m.Data)
	}
	sum := Checksum(b[:n], PseudoHeaderSum(src, dst, ProtoICMPv6, n))
	binary.BigEndian.PutUint16(b[2:4], FoldChecksum(sum))
	return n
}

// SolicitedNodeMulticast returns the solicited-node multicast address
// ff02::1:ffXX:XXXX for a (RFC 4291 §2.7.1).
func SolicitedNodeMulticast(a netip.Addr) netip.Addr {
	s := a.As16()
	return netip.AddrFrom16([16]byte{
		0xff, 0x02, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0x01, 0xff, s[13], s[14], s[15],
	})
}

// IPv6MulticastMAC returns the Ethernet multicast MAC 33:33:xx:xx:xx:xx for
// the IPv6 multicast address a (RFC 2464 §7).
func IPv6MulticastMAC(a netip.Addr) MAC {
	s := a.As16()
	return MAC{0x33, 0x33, s[12], s[13], s[14], s[15]}
}
