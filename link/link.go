// Package link holds ustack's real link drivers: the layer under ip that
// moves whole frames between the stack and the host kernel.
//
// Model. A Link is a full-duplex frame pipe with exactly one reader and any
// number of writers:
//
//   - The runtime runs ONE reader goroutine per link that loops on ReadBatch
//     and feeds the frames to the event loop. ReadBatch blocks (in the Go
//     netpoller, not in a thread) until at least one frame is available and
//     then drains up to len(bufs) frames without blocking again, so one
//     wake-up delivers a whole burst.
//   - The event loop writes with Write / WriteBatch. Writes never block for
//     long: transient kernel back-pressure (ENOBUFS, EAGAIN, EINTR) is
//     retried with a short bounded backoff and counted in Stats; a frame that
//     still cannot be sent is dropped with an error wrapping ErrDropped and
//     the link stays fully usable (TCP will retransmit). A link never goes
//     permanently dead because of transient errors.
//   - Close unblocks a pending ReadBatch, which then returns an error
//     wrapping ErrClosed; later calls fail the same way.
//
// Frames. A frame starts with the link header (Header() == HeaderEthernet:
// a 14-byte Ethernet header) or is a bare IPv4/IPv6 packet (HeaderNone:
// tun devices, OpenVZ venet0 through a cooked AF_PACKET socket). Offload
// metadata travels beside the frame, never inside it: RxMeta on receive and
// TxMeta on transmit are the driver-neutral form of the virtio_net_hdr the
// kernel exchanges with tap and AF_PACKET sockets (see vnet.go).
//
// Buffers. ReadBatch needs buffers of at least MaxFrameSize() bytes: when
// receive offloads are active the kernel hands over coalesced TCP segments
// of up to 64 KiB as ONE frame (RxMeta.GSOSize tells the original MSS).
//
// Drivers: Tap (tap_linux.go, /dev/net/tun in TAP or TUN mode) and Packet
// (packet_linux.go, AF_PACKET SOCK_RAW or SOCK_DGRAM). Package link/pcap
// wraps any Link to record its traffic. This package depends on no other
// ustack package; a Link becomes an ip.Device through Transmitter.
package link

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
)

// HeaderType says what precedes the IP packet in a frame.
type HeaderType uint8

const (
	// HeaderNone: frames are bare IPv4/IPv6 packets (point-to-point links).
	HeaderNone HeaderType = iota
	// HeaderEthernet: frames start with a 14-byte Ethernet II header.
	HeaderEthernet
)

// Len is the length of the link header in bytes.
func (h HeaderType) Len() int {
	if h == HeaderEthernet {
		return EthernetHeaderLen
	}
	return 0
}

func (h HeaderType) String() string {
	switch h {
	case HeaderNone:
		return "none"
	case HeaderEthernet:
		return "ethernet"
	}
	return fmt.Sprintf("HeaderType(%d)", uint8(h))
}

// EthernetHeaderLen is the size of an Ethernet II header (no VLAN tag).
const EthernetHeaderLen = 14

// MaxGSOFrame is the largest IP packet (IP header included, link header
// excluded) of a GSO super-segment in either direction: the IPv4 total
// length limit. Links never hand over or accept anything larger.
const MaxGSOFrame = 65535

// GSOType is the kind of a segmentation-offload super-segment.
type GSOType uint8

const (
	GSONone  GSOType = iota // an ordinary frame
	GSOTCPv4                // TCP over IPv4, to be cut / cut into GSOSize payloads
	GSOTCPv6                // TCP over IPv6
)

func (g GSOType) String() string {
	switch g {
	case GSONone:
		return "none"
	case GSOTCPv4:
		return "tcpv4"
	case GSOTCPv6:
		return "tcpv6"
	}
	return fmt.Sprintf("GSOType(%d)", uint8(g))
}

// RxMeta is what the driver (the kernel, through the virtio_net_hdr or the
// sockaddr_ll of a packet socket) told us about a received frame.
type RxMeta struct {
	// ChecksumVerified: the transport (TCP/UDP) checksum must not be
	// checked. Either the kernel already validated it (DATA_VALID), or the
	// frame never left this host and carries only a partial checksum that
	// the kernel expected the receiver's "hardware" to finish (NEEDS_CSUM);
	// in the latter case the checksum field is NOT a valid checksum.
	ChecksumVerified bool
	// GSOType and GSOSize describe a coalesced super-segment: the frame is
	// one TCP segment of up to 64 KiB whose payload the sender would have
	// cut into GSOSize-byte segments (GSOSize is the sender's MSS). The IP
	// total length / payload length covers the whole super-segment.
	// GSOSize is 0 for ordinary frames.
	GSOType GSOType
	GSOSize int
	// Protocol is the frame's EtherType in host order: as the kernel
	// reported it (AF_PACKET), from the Ethernet header (tap) or from the
	// IP version nibble (tun). On HeaderNone links it tells IPv4 (0x0800)
	// from IPv6 (0x86dd). 0 when unknown.
	Protocol uint16
}

// TxMeta asks the kernel to finish a frame on transmit. The zero value
// means "send as is".
type TxMeta struct {
	// NeedsCsum: the kernel computes the Internet checksum over
	// frame[CsumStart:] and stores it at frame[CsumStart+CsumOffset:]; the
	// field must hold the (uncomplemented, folded) pseudo-header sum,
	// including the transport length, exactly as Linux CHECKSUM_PARTIAL.
	// Offsets are from the start of the frame (link header included). For
	// TCP, CsumStart is the TCP header offset and CsumOffset is 16.
	// Requires Offloads().TxChecksum.
	NeedsCsum  bool
	CsumStart  int
	CsumOffset int
	// GSOType/GSOSize make the frame a TSO super-segment: one TCP segment
	// with up to MaxGSOSize bytes of IP packet that the kernel (or the NIC)
	// cuts into segments of GSOSize payload bytes, fixing IP ids, lengths,
	// sequence numbers, flags (FIN/PSH only on the last) and checksums. It
	// requires NeedsCsum and Offloads().TSO4 / TSO6. The IP header must carry
	// the super-segment's total length.
	GSOType GSOType
	GSOSize int
	// HdrLen is the length of link+IP+TCP headers, a copy hint for the
	// kernel; 0 lets the driver derive it (CsumStart+CsumOffset+2).
	HdrLen int
}

// Offloads is what is active on a link.
type Offloads struct {
	// RxChecksum: received frames may come with RxMeta.ChecksumVerified.
	RxChecksum bool
	// RxGSO: received frames may be GSO super-segments (RxMeta.GSOSize).
	RxGSO bool
	// TxChecksum: Write accepts TxMeta.NeedsCsum.
	TxChecksum bool
	// TSO4 / TSO6: Write accepts GSOTCPv4 / GSOTCPv6 super-segments.
	TSO4, TSO6 bool
	// MaxGSOSize is the largest IP packet (IP header included, link header
	// excluded) Write accepts as a super-segment; 0 without TSO.
	MaxGSOSize int
}

func (o Offloads) String() string {
	return fmt.Sprintf("rxcsum=%t rxgso=%t txcsum=%t tso4=%t tso6=%t maxgso=%d",
		o.RxChecksum, o.RxGSO, o.TxChecksum, o.TSO4, o.TSO6, o.MaxGSOSize)
}

// Stats are cumulative counters of a link. Safe to read at any time.
type Stats struct {
	RxFrames uint64
	RxBytes  uint64
	// RxErrors counts frames the driver dropped on receive: truncated
	// (larger than the buffer; also counted in RxTruncated), malformed
	// offload header, unknown GSO type.
	RxErrors    uint64
	RxTruncated uint64

	TxFrames uint64
	TxBytes  uint64
	// TxRetries counts transient write errors (each one retried or, at the
	// end of the budget, ending in a drop), split by errno below.
	TxRetries uint64
	TxENOBUFS uint64
	TxEAGAIN  uint64
	TxEINTR   uint64
	// TxDropped counts frames given up after transient errors (ErrDropped).
	TxDropped uint64
	// TxErrors counts frames not sent for other reasons: kernel errors and
	// rejected TxMeta (the latter also in TxOffloadRejected).
	TxErrors          uint64
	TxOffloadRejected uint64
}

// Link is a frame-level network device driver. See the package comment for
// the threading model: one goroutine calls ReadBatch, any goroutine may call
// the other methods.
type Link interface {
	// Name is the kernel interface name (e.g. "tap0", "venet0").
	Name() string
	// Header says whether frames carry an Ethernet header.
	Header() HeaderType
	// HardwareAddr is the kernel interface's MAC (nil for HeaderNone). On
	// a tap this is the HOST side's address; the stack uses its own.
	HardwareAddr() net.HardwareAddr
	// MTU is the IP MTU of the interface (link header excluded).
	MTU() int
	// MaxFrameSize is the largest frame ReadBatch can return (link header
	// included); every buffer passed to ReadBatch must be at least this
	// long or long frames are dropped (counted in Stats.RxTruncated).
	MaxFrameSize() int
	// Offloads reports the active offloads.
	Offloads() Offloads

	// ReadBatch reads up to min(len(bufs), len(lens), len(metas)) frames,
	// blocking until at least one is available or the link is closed.
	// Frame i is bufs[i][:lens[i]] with metadata metas[i]. It returns the
	// number of frames read; err is non-nil only when n == 0 (an error
	// wrapping ErrClosed after Close, os.ErrDeadlineExceeded after a read
	// deadline, ErrShortBuffer for a buffer under MinBufSize bytes; any
	// other error means the device is gone, e.g. the interface was
	// deleted). Only one goroutine may call it.
	ReadBatch(bufs [][]byte, lens []int, metas []RxMeta) (n int, err error)
	// Write sends one frame; it does not retain frame. Errors: ErrClosed,
	// ErrDropped (transient back-pressure outlasted the retries),
	// ErrOffload (meta asks for an offload that is not active), or the
	// kernel's error (frame not sent). The link stays usable in every case
	// but ErrClosed.
	Write(frame []byte, meta TxMeta) error
	// WriteBatch sends frames[i] with metas[i] (metas may be nil: no
	// offloads), in order, using one system call per batch where the
	// driver can. It tries every frame; it returns how many were sent and
	// the first error met. Frames are not retained. A driver whose
	// WriteBatch really is one system call (Packet: sendmmsg) also has a
	// WritesBatched() bool method returning true, so that callers know
	// queueing frames for it pays.
	WriteBatch(frames [][]byte, metas []TxMeta) (n int, err error)
	// Stats returns a snapshot of the counters.
	Stats() Stats
	// Close releases the device and unblocks a pending ReadBatch. A tap
	// created by Open without Persist disappears from the host.
	Close() error
}

var (
	// ErrClosed is wrapped by every error from a closed link.
	ErrClosed = errors.New("link: closed")
	// ErrDropped is wrapped when a frame was dropped after transient
	// errors outlasted the retry budget. The link remains usable.
	ErrDropped = errors.New("link: frame dropped after transient errors")
	// ErrOffload is wrapped when TxMeta asks for an offload that is not
	// active or is inconsistent with the frame.
	ErrOffload = errors.New("link: offload not available")
)

// Transmitter adapts a Link to the stack's ip.Device
// (Transmit(frame []byte) error): frames are sent without offloads.
type Transmitter struct{ Link Link }

// Transmit sends frame with a zero TxMeta.
func (t Transmitter) Transmit(frame []byte) error { return t.Link.Write(frame, TxMeta{}) }

// OpError is the one-line error of a failed open: `link: open tap
// "lkl-tap0": operation not permitted (needs root or CAP_NET_ADMIN)`.
type OpError struct {
	Op   string // "open tap", "open packet", ...
	Name string // interface name
	Err  error  // underlying error (a syscall.Errno where there is one)
	Hint string // optional explanation appended in parentheses
}

func (e *OpError) Error() string {
	s := fmt.Sprintf("link: %s %q: %v", e.Op, e.Name, e.Err)
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

func (e *OpError) Unwrap() error { return e.Err }

// ErrShortBuffer is returned by ReadBatch for a buffer shorter than
// MinBufSize (buffers should be MaxFrameSize() long).
var ErrShortBuffer = errors.New("link: ReadBatch buffer too small")

// MinBufSize is the smallest buffer ReadBatch accepts.
const MinBufSize = 64

// checkBufs validates the first n ReadBatch buffers.
func checkBufs(bufs [][]byte, n int) error {
	for _, b := range bufs[:n] {
		if len(b) < MinBufSize {
			return ErrShortBuffer
		}
	}
	return nil
}

// ErrBadName is wrapped by OpError for an invalid interface name.
var ErrBadName = errors.New("invalid interface name")

// ErrNoInterface is wrapped by OpError when the interface does not exist.
var ErrNoInterface = errors.New("no such network interface")

// checkName validates a Linux interface name (IFNAMSIZ-1 bytes, no '/',
// ':', or whitespace, not "." or "..").
func checkName(name string) error {
	if len(name) == 0 || len(name) > 15 || name == "." || name == ".." {
		return fmt.Errorf("%w (must be 1-15 bytes)", ErrBadName)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '/' || c == ':' || c <= ' ' || c == 0x7f {
			return fmt.Errorf("%w (no '/', ':', whitespace or control characters)", ErrBadName)
		}
	}
	return nil
}

// counters is the atomic backing of Stats shared by the drivers.
type counters struct {
	rxFrames, rxBytes, rxErrors, rxTrunc    atomic.Uint64
	txFrames, txBytes, txRetries, txDropped atomic.Uint64
	txErrors, txOffload                     atomic.Uint64
	txENOBUFS, txEAGAIN, txEINTR            atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		RxFrames: c.rxFrames.Load(), RxBytes: c.rxBytes.Load(), RxErrors: c.rxErrors.Load(),
		RxTruncated: c.rxTrunc.Load(),
		TxFrames:    c.txFrames.Load(), TxBytes: c.txBytes.Load(),
		TxRetries: c.txRetries.Load(), TxENOBUFS: c.txENOBUFS.Load(),
		TxEAGAIN: c.txEAGAIN.Load(), TxEINTR: c.txEINTR.Load(),
		TxDropped: c.txDropped.Load(), TxErrors: c.txErrors.Load(),
		TxOffloadRejected: c.txOffload.Load(),
	}
}

// checkTxMeta validates meta against the active offloads and the frame.
func checkTxMeta(o *Offloads, hdr HeaderType, frame []byte, m *TxMeta) error {
	if !m.NeedsCsum && m.GSOType == GSONone {
		return nil
	}
	if m.NeedsCsum {
		if !o.TxChecksum {
			return fmt.Errorf("%w: tx checksum", ErrOffload)
		}
		if m.CsumStart < 0 || m.CsumOffset < 0 || m.CsumStart+m.CsumOffset+2 > len(frame) ||
			m.CsumStart > 0xffff || m.CsumOffset > 0xffff {
			return fmt.Errorf("%w: checksum offsets %d+%d outside %d-byte frame",
				ErrOffload, m.CsumStart, m.CsumOffset, len(frame))
		}
	}
	switch m.GSOType {
	case GSONone:
		return nil
	case GSOTCPv4:
		if !o.TSO4 {
			return fmt.Errorf("%w: tso4", ErrOffload)
		}
	case GSOTCPv6:
		if !o.TSO6 {
			return fmt.Errorf("%w: tso6", ErrOffload)
		}
	default:
		return fmt.Errorf("%w: gso type %v", ErrOffload, m.GSOType)
	}
	if !m.NeedsCsum {
		return fmt.Errorf("%w: gso without NeedsCsum", ErrOffload)
	}
	if m.GSOSize <= 0 || m.GSOSize > 0xffff {
		return fmt.Errorf("%w: gso size %d", ErrOffload, m.GSOSize)
	}
	if len(frame)-hdr.Len() > o.MaxGSOSize {
		return fmt.Errorf("%w: %d-byte super-segment exceeds %d", ErrOffload, len(frame)-hdr.Len(), o.MaxGSOSize)
	}
	if m.HdrLen < 0 || m.HdrLen > len(frame) {
		return fmt.Errorf("%w: hdr len %d", ErrOffload, m.HdrLen)
	}
	return nil
}
