// Package pcap writes and reads classic libpcap capture files, and wraps a
// link.Link so that every frame it sends or receives is recorded.
//
// Format: the classic pcap file (not pcapng). Writer always produces the
// nanosecond-resolution variant (magic 0xa1b23c4d, version 2.4, host byte
// order little-endian as written by libpcap on x86), which tcpdump and
// Wireshark read natively. Reader accepts micro- and nanosecond files in
// either byte order.
//
// Time is always supplied from outside: Writer.WritePacket takes a
// timestamp in nanoseconds since the Unix epoch (the simulator passes its
// virtual clock), and Capture takes a func() time.Time (the runtime passes
// its clock; nil means time.Now). No protocol code reads a clock here.
//
// Link types: LinkTypeEthernet (1) for Ethernet frames and LinkTypeRaw
// (101) for bare IPv4/IPv6 packets, matching link.HeaderType.
package pcap

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Link types (the pcap "network" field).
const (
	LinkTypeEthernet = 1
	LinkTypeRaw      = 101
)

const (
	magicMicro = 0xa1b2c3d4
	magicNano  = 0xa1b23c4d
	// DefaultSnapLen covers a 64 KiB GSO super-segment and its headers.
	DefaultSnapLen = 262144
	fileHdrLen     = 24
	recHdrLen      = 16
)

// Writer writes a pcap stream. It is safe for concurrent use (a link's
// reader goroutine and its writer both record into it).
type Writer struct {
	mu       sync.Mutex
	w        io.Writer
	snapLen  int
	linkType uint32
	hdr      [recHdrLen]byte
	err      error
}

// NewWriter writes the file header to w and returns a Writer. snapLen <= 0
// means DefaultSnapLen; longer packets are truncated to it (the original
// length is still recorded). w is written directly: wrap it in a
// bufio.Writer for speed and flush it yourself, or use Create.
func NewWriter(w io.Writer, linkType uint32, snapLen int) (*Writer, error) {
	if snapLen <= 0 {
		snapLen = DefaultSnapLen
	}
	var h [fileHdrLen]byte
	le := binary.LittleEndian
	le.PutUint32(h[0:], magicNano)
	le.PutUint16(h[4:], 2)
	le.PutUint16(h[6:], 4)
	// thiszone, sigfigs = 0
	le.PutUint32(h[16:], uint32(snapLen))
	le.PutUint32(h[20:], linkType)
	if _, err := w.Write(h[:]); err != nil {
		return nil, fmt.Errorf("pcap: write header: %w", err)
	}
	return &Writer{w: w, snapLen: snapLen, linkType: linkType}, nil
}

// LinkType returns the file's link type.
func (w *Writer) LinkType() uint32 { return w.linkType }

// WritePacket records data captured at tsNanos (nanoseconds since the Unix
// epoch; the simulator may use any epoch, e.g. 0 at start). After the first
// error every call returns it.
func (w *Writer) WritePacket(tsNanos int64, data []byte) error {
	return w.WritePacketLen(tsNanos, data, len(data))
}

// WritePacketLen is WritePacket for a packet whose original length was
// origLen (>= len(data)), e.g. when the caller kept only the headers.
func (w *Writer) WritePacketLen(tsNanos int64, data []byte, origLen int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if origLen < len(data) {
		origLen = len(data)
	}
	if len(data) > w.snapLen {
		data = data[:w.snapLen]
	}
	if tsNanos < 0 {
		tsNanos = 0
	}
	le := binary.LittleEndian
	le.PutUint32(w.hdr[0:], uint32(tsNanos/1e9))
	le.PutUint32(w.hdr[4:], uint32(tsNanos%1e9))
	le.PutUint32(w.hdr[8:], uint32(len(data)))
	le.PutUint32(w.hdr[12:], uint32(origLen))
	if _, err := w.w.Write(w.hdr[:]); err != nil {
		w.err = fmt.Errorf("pcap: write: %w", err)
		return w.err
	}
	if _, err := w.w.Write(data); err != nil {
		w.err = fmt.Errorf("pcap: write: %w", err)
		return w.err
	}
	return nil
}

// Flush flushes the underlying writer if it has a Flush method (as
// bufio.Writer does).
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if f, ok := w.w.(interface{ Flush() error }); ok {
		if err := f.Flush(); err != nil {
			w.err = fmt.Errorf("pcap: flush: %w", err)
			return w.err
		}
	}
	return nil
}

// Packet is one record read back by Reader.
type Packet struct {
	TimeNanos int64  // since the Unix epoch (or the writer's epoch)
	Data      []byte // captured bytes (valid until the next Next call)
	OrigLen   int    // length on the wire
}

// Reader reads a classic pcap stream.
type Reader struct {
	r        *bufio.Reader
	order    binary.ByteOrder
	nano     bool
	snapLen  uint32
	linkType uint32
	hdr      [recHdrLen]byte
	buf      []byte
}

// ErrFormat is wrapped by Reader errors about malformed input.
var ErrFormat = errors.New("pcap: bad format")

// NewReader reads the file header from r.
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReader(r)
	var h [fileHdrLen]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return nil, fmt.Errorf("%w: short file header: %v", ErrFormat, err)
	}
	rd := &Reader{r: br}
	switch {
	case binary.LittleEndian.Uint32(h[:]) == magicMicro:
		rd.order = binary.LittleEndian
	case binary.LittleEndian.Uint32(h[:]) == magicNano:
		rd.order, rd.nano = binary.LittleEndian, true
	case binary.BigEndian.Uint32(h[:]) == magicMicro:
		rd.order = binary.BigEndian
	case binary.BigEndian.Uint32(h[:]) == magicNano:
		rd.order, rd.nano = binary.BigEndian, true
	default:
		return nil, fmt.Errorf("%w: magic %#x", ErrFormat, h[:4])
	}
	if major := rd.order.Uint16(h[4:]); major != 2 {
		return nil, fmt.Errorf("%w: version %d", ErrFormat, major)
	}
	rd.snapLen = rd.order.Uint32(h[16:])
	rd.linkType = rd.order.Uint32(h[20:]) & 0x0fffffff
	return rd, nil
}

// LinkType returns the file's link type.
func (r *Reader) LinkType() uint32 { return r.linkType }

// SnapLen returns the file's snapshot length.
func (r *Reader) SnapLen() int { return int(r.snapLen) }

// Next returns the next record, or io.EOF at a clean end of file.
func (r *Reader) Next() (Packet, error) {
	if _, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		if err == io.EOF {
			return Packet{}, io.EOF
		}
		return Packet{}, fmt.Errorf("%w: short record header: %v", ErrFormat, err)
	}
	sec := int64(r.order.Uint32(r.hdr[0:]))
	frac := int64(r.order.Uint32(r.hdr[4:]))
	capLen := r.order.Uint32(r.hdr[8:])
	origLen := r.order.Uint32(r.hdr[12:])
	limit := max(r.snapLen, DefaultSnapLen)
	if capLen > limit {
		return Packet{}, fmt.Errorf("%w: record of %d bytes exceeds snaplen %d", ErrFormat, capLen, r.snapLen)
	}
	if cap(r.buf) < int(capLen) {
		r.buf = make([]byte, capLen)
	}
	r.buf = r.buf[:capLen]
	if _, err := io.ReadFull(r.r, r.buf); err != nil {
		return Packet{}, fmt.Errorf("%w: short record: %v", ErrFormat, err)
	}
	if !r.nano {
		frac *= 1000
	}
	return Packet{TimeNanos: sec*1e9 + frac, Data: r.buf, OrigLen: int(origLen)}, nil
}
