package link

// virtio_net_hdr: the offload header Linux exchanges with tap devices
// (IFF_VNET_HDR) and AF_PACKET sockets (PACKET_VNET_HDR), prepended to every
// frame read or written. Layout (legacy/v1, little-endian on every host we
// build for; Linux uses native order for legacy headers and we only run on
// little-endian hosts, see the init check):
//
//	0  flags       u8   NEEDS_CSUM=1 DATA_VALID=2 RSC_INFO=4
//	1  gso_type    u8   NONE=0 TCPV4=1 UDP=3 TCPV6=4 UDP_L4=5, |ECN=0x80
//	2  hdr_len     u16  link+IP+transport header length (copy hint)
//	4  gso_size    u16  payload bytes per segment (the MSS)
//	6  csum_start  u16  where checksumming starts, from the frame start
//	8  csum_offset u16  where the result goes, from csum_start
//	10 num_buffers u16  only in the 12-byte v1 / MRG_RXBUF form
//
// Receive: NEEDS_CSUM means the checksum field holds only the pseudo-header
// sum (the packet never left the host: treat as verified); DATA_VALID means
// the kernel already checked it. A gso_type other than NONE marks a
// super-segment of up to 64 KiB. Transmit: the same fields ask the kernel to
// finish the checksum and to segment.
//
// The second half of this file maps LKL's LKL_HIJACK_OFFLOAD bitmask (the
// virtio-net feature bits LKL negotiates) onto this package's Offloads.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sizes of the virtio_net_hdr forms.
const (
	VnetHdrLen   = 10 // struct virtio_net_hdr
	VnetHdrLenV1 = 12 // struct virtio_net_hdr_v1 / _mrg_rxbuf (num_buffers)
)

// virtio_net_hdr flags.
const (
	VnetFlagNeedsCsum = 1
	VnetFlagDataValid = 2
	VnetFlagRSCInfo   = 4
)

// virtio_net_hdr gso types.
const (
	VnetGSONone   = 0
	VnetGSOTCPv4  = 1
	VnetGSOUDP    = 3
	VnetGSOTCPv6  = 4
	VnetGSOUDPL4  = 5
	VnetGSOECNBit = 0x80
)

// VnetHdr is a decoded virtio_net_hdr.
type VnetHdr struct {
	Flags      uint8
	GSOType    uint8
	HdrLen     uint16
	GSOSize    uint16
	CsumStart  uint16
	CsumOffset uint16
	NumBuffers uint16 // v1 form only
}

func init() {
	// Legacy virtio headers are in native byte order; we encode
	// little-endian, so refuse to run on a big-endian host.
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		panic("link: virtio_net_hdr encoding assumes a little-endian host")
	}
}

var errVnetLen = errors.New("link: virtio_net_hdr must be 10 or 12 bytes")

// Encode writes h into b, which must be VnetHdrLen or VnetHdrLenV1 bytes
// (NumBuffers is written only in the latter).
func (h *VnetHdr) Encode(b []byte) error {
	if len(b) != VnetHdrLen && len(b) != VnetHdrLenV1 {
		return errVnetLen
	}
	b[0] = h.Flags
	b[1] = h.GSOType
	binary.LittleEndian.PutUint16(b[2:], h.HdrLen)
	binary.LittleEndian.PutUint16(b[4:], h.GSOSize)
	binary.LittleEndian.PutUint16(b[6:], h.CsumStart)
	binary.LittleEndian.PutUint16(b[8:], h.CsumOffset)
	if len(b) == VnetHdrLenV1 {
		binary.LittleEndian.PutUint16(b[10:], h.NumBuffers)
	}
	return nil
}

// DecodeVnetHdr parses b, which must be VnetHdrLen or VnetHdrLenV1 bytes.
// It does not validate the contents; see RxMeta.
func DecodeVnetHdr(b []byte) (VnetHdr, error) {
	if len(b) != VnetHdrLen && len(b) != VnetHdrLenV1 {
		return VnetHdr{}, errVnetLen
	}
	h := VnetHdr{
		Flags:      b[0],
		GSOType:    b[1],
		HdrLen:     binary.LittleEndian.Uint16(b[2:]),
		GSOSize:    binary.LittleEndian.Uint16(b[4:]),
		CsumStart:  binary.LittleEndian.Uint16(b[6:]),
		CsumOffset: binary.LittleEndian.Uint16(b[8:]),
	}
	if len(b) == VnetHdrLenV1 {
		h.NumBuffers = binary.LittleEndian.Uint16(b[10:])
	}
	return h, nil
}

// ErrVnetHdr is wrapped by RxMeta for a header a receiver cannot honour.
var ErrVnetHdr = errors.New("link: bad virtio_net_hdr")

// RxMeta converts a received header for a frameLen-byte frame into RxMeta.
// It rejects what the stack could not handle: GSO types other than TCP,
// a GSO frame without a segment size, checksum offsets outside the frame.
func (h *VnetHdr) RxMeta(frameLen int) (RxMeta, error) {
	var m RxMeta
	if h.Flags&VnetFlagNeedsCsum != 0 {
		if int(h.CsumStart)+int(h.CsumOffset)+2 > frameLen {
			return m, fmt.Errorf("%w: csum %d+%d beyond %d-byte frame", ErrVnetHdr, h.CsumStart, h.CsumOffset, frameLen)
		}
		m.ChecksumVerified = true
	}
	if h.Flags&VnetFlagDataValid != 0 {
		m.ChecksumVerified = true
	}
	switch h.GSOType &^ VnetGSOECNBit {
	case VnetGSONone:
		return m, nil
	case VnetGSOTCPv4:
		m.GSOType = GSOTCPv4
	case VnetGSOTCPv6:
		m.GSOType = GSOTCPv6
	default:
		return m, fmt.Errorf("%w: gso type %#x", ErrVnetHdr, h.GSOType)
	}
	if h.GSOSize == 0 {
		return m, fmt.Errorf("%w: gso without size", ErrVnetHdr)
	}
	m.GSOSize = int(h.GSOSize)
	return m, nil
}

// VnetHdrFromTx builds the header for an outbound frame of frameLen bytes.
// meta must have been validated (checkTxMeta).
func VnetHdrFromTx(meta *TxMeta, frameLen int) VnetHdr {
	var h VnetHdr
	if meta.NeedsCsum {
		h.Flags = VnetFlagNeedsCsum
		h.CsumStart = uint16(meta.CsumStart)
		h.CsumOffset = uint16(meta.CsumOffset)
	}
	switch meta.GSOType {
	case GSOTCPv4:
		h.GSOType = VnetGSOTCPv4
	case GSOTCPv6:
		h.GSOType = VnetGSOTCPv6
	}
	if h.GSOType != VnetGSONone {
		h.GSOSize = uint16(meta.GSOSize)
	}
	hl := meta.HdrLen
	if hl == 0 && meta.NeedsCsum {
		hl = meta.CsumStart + meta.CsumOffset + 2
	}
	if hl > frameLen {
		hl = frameLen
	}
	h.HdrLen = uint16(hl)
	return h
}

// Features is a virtio-net feature bitmask in LKL's LKL_HIJACK_OFFLOAD form
// (e.g. 0x8883). Only the bits below mean anything here.
type Features uint64

// virtio-net feature bits understood by ParseFeatures / the drivers.
// "Guest" is the stack (us), "host" the kernel.
const (
	FeatCsum      Features = 1 << 0  // VIRTIO_NET_F_CSUM: we may send partial checksums (TxChecksum)
	FeatGuestCsum Features = 1 << 1  // VIRTIO_NET_F_GUEST_CSUM: we accept partial checksums (RxChecksum)
	FeatGuestTSO4 Features = 1 << 7  // VIRTIO_NET_F_GUEST_TSO4: we accept TCPv4 super-segments (RxGSO)
	FeatGuestTSO6 Features = 1 << 8  // VIRTIO_NET_F_GUEST_TSO6: we accept TCPv6 super-segments (RxGSO)
	FeatHostTSO4  Features = 1 << 11 // VIRTIO_NET_F_HOST_TSO4: we may send TCPv4 super-segments (TSO4)
	FeatHostTSO6  Features = 1 << 12 // VIRTIO_NET_F_HOST_TSO6: we may send TCPv6 super-segments (TSO6)
	FeatMrgRxbuf  Features = 1 << 15 // VIRTIO_NET_F_MRG_RXBUF: 12-byte virtio_net_hdr_v1
)

// FeaturesKnown is the union of the bits the drivers act on.
const FeaturesKnown = FeatCsum | FeatGuestCsum | FeatGuestTSO4 | FeatGuestTSO6 |
	FeatHostTSO4 | FeatHostTSO6 | FeatMrgRxbuf

// ParseFeatures parses an LKL_HIJACK_OFFLOAD value: decimal, 0x-hex or
// 0-octal as C's strtol(s, NULL, 0). Unknown bits are an error.
func ParseFeatures(s string) (Features, error) {
	v, err := strconv.ParseUint(strings.TrimSpace(s), 0, 64)
	if err != nil {
		return 0, fmt.Errorf("link: offload mask %q: not a number", s)
	}
	f := Features(v)
	if f&^FeaturesKnown != 0 {
		return 0, fmt.Errorf("link: offload mask %q: unknown bits %#x (known %#x)", s, uint64(f&^FeaturesKnown), uint64(FeaturesKnown))
	}
	return f, nil
}

func (f Features) String() string {
	if f == 0 {
		return "0"
	}
	var parts []string
	names := []struct {
		b Features
		n string
	}{{FeatCsum, "CSUM"}, {FeatGuestCsum, "GUEST_CSUM"}, {FeatGuestTSO4, "GUEST_TSO4"},
		{FeatGuestTSO6, "GUEST_TSO6"}, {FeatHostTSO4, "HOST_TSO4"}, {FeatHostTSO6, "HOST_TSO6"},
		{FeatMrgRxbuf, "MRG_RXBUF"}}
	for _, n := range names {
		if f&n.b != 0 {
			parts = append(parts, n.n)
		}
	}
	if r := f &^ FeaturesKnown; r != 0 {
		parts = append(parts, fmt.Sprintf("%#x", uint64(r)))
	}
	return fmt.Sprintf("%#x(%s)", uint64(f), strings.Join(parts, "|"))
}

// VnetHdrSize is the header size the features select: 0 (no header) for an
// empty mask, 12 with MRG_RXBUF, else 10 (LKL's rule).
func (f Features) VnetHdrSize() int {
	switch {
	case f == 0:
		return 0
	case f&FeatMrgRxbuf != 0:
		return VnetHdrLenV1
	}
	return VnetHdrLen
}

// Tun offload flags (linux/if_tun.h TUNSETOFFLOAD), absent from x/sys.
const (
	tunFCsum   = 0x01
	tunFTSO4   = 0x02
	tunFTSO6   = 0x04
	tunFTSOECN = 0x08
)

// tunOffload maps features to TUNSETOFFLOAD flags, i.e. what the kernel
// may send US: GUEST_CSUM → TUN_F_CSUM; GUEST_TSO4/6 → TUN_F_TSO4/6 (which
// the kernel only accepts together with TUN_F_CSUM, so they imply it).
func (f Features) tunOffload() int {
	var fl int
	if f&FeatGuestCsum != 0 {
		fl |= tunFCsum
	}
	if f&FeatGuestTSO4 != 0 {
		fl |= tunFCsum | tunFTSO4
	}
	if f&FeatGuestTSO6 != 0 {
		fl |= tunFCsum | tunFTSO6
	}
	return fl
}

// offloads maps features to the Offloads of a link with a vnet header.
// Receive: the kernel reports DATA_VALID whenever it has a header, so
// RxChecksum is on whenever there is one. Transmit: CSUM enables partial
// checksums, HOST_TSO4/6 (only together with CSUM) enable TSO.
func (f Features) offloads(rxGSO bool) Offloads {
	var o Offloads
	if f == 0 {
		return o
	}
	o.RxChecksum = true
	o.RxGSO = rxGSO
	o.TxChecksum = f&FeatCsum != 0
	o.TSO4 = o.TxChecksum && f&FeatHostTSO4 != 0
	o.TSO6 = o.TxChecksum && f&FeatHostTSO6 != 0
	if o.TSO4 || o.TSO6 {
		o.MaxGSOSize = MaxGSOFrame
	}
	return o
}
