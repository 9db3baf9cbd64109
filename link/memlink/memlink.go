// Package memlink is an in-memory link.Link: Pair returns two endpoints
// joined by a virtual cable, so a runtime can be tested end to end without
// root, taps or the host kernel.
//
// Model. Each direction is a FIFO of frames with an optional bottleneck:
// a frame written at t leaves the sender's queue after the previous frame
// has been serialised at Rate bits/s and arrives Delay later. Frames are
// copied on Write into buffers from a free list (no per-frame allocation in
// steady state) and copied again into the reader's buffers by ReadBatch, which
// blocks until at least one frame has arrived. A direction holds at most
// QueueLen frames in flight; Write drops beyond that (counted in TxDropped,
// returning nil as a congested NIC queue would), so congestion control sees
// loss as on a real bottleneck. Time here is wall-clock time: this package is
// a device, at the edge of the engine, not part of it.
package memlink

import (
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/ustack/ustack/link"
)

// Config describes the virtual cable.
type Config struct {
	// Names of the two endpoints; default "mem0" and "mem1".
	NameA, NameB string
	// Header is the framing; default link.HeaderEthernet.
	Header link.HeaderType
	// HeaderSet must be true to use HeaderNone (the zero HeaderType).
	HeaderSet bool
	// MTU is the IP MTU; default 1500.
	MTU int
	// Rate is the bottleneck rate of each direction in bits per second;
	// 0 is unlimited.
	Rate int64
	// Delay is the one-way propagation delay.
	Delay time.Duration
	// QueueLen is the most frames in flight per direction; default 1024.
	QueueLen int
}

// Link is one endpoint of a Pair.
type Link struct {
	name   string
	hdr    link.HeaderType
	mac    net.HardwareAddr
	mtu    int
	rx, tx *pipe
}

var _ link.Link = (*Link)(nil)

// Pair returns two connected endpoints.
func Pair(cfg Config) (*Link, *Link) {
	if cfg.NameA == "" {
		cfg.NameA = "mem0"
	}
	if cfg.NameB == "" {
		cfg.NameB = "mem1"
	}
	if !cfg.HeaderSet {
		cfg.Header = link.HeaderEthernet
	}
	if cfg.MTU <= 0 {
		cfg.MTU = 1500
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = 1024
	}
	ab, ba := newPipe(cfg), newPipe(cfg)
	a := &Link{name: cfg.NameA, hdr: cfg.Header, mtu: cfg.MTU, rx: ba, tx: ab}
	b := &Link{name: cfg.NameB, hdr: cfg.Header, mtu: cfg.MTU, rx: ab, tx: ba}
	if cfg.Header == link.HeaderEthernet {
		a.mac = net.HardwareAddr{0x02, 0x6d, 0x65, 0x6d, 0, 0xa}
		b.mac = net.HardwareAddr{0x02, 0x6d, 0x65, 0x6d, 0, 0xb}
	}
	return a, b
}

// Name implements link.Link.
func (l *Link) Name() string { return l.name }

// Header implements link.Link.
func (l *Link) Header() link.HeaderType { return l.hdr }

// HardwareAddr is this endpoint's notional "host side" MAC (nil without
// Ethernet framing). A stack on the endpoint should use its own address.
func (l *Link) HardwareAddr() net.HardwareAddr { return l.mac }

// MTU implements link.Link.
func (l *Link) MTU() int { return l.mtu }

// MaxFrameSize implements link.Link.
func (l *Link) MaxFrameSize() int { return l.mtu + l.hdr.Len() }

// Offloads implements link.Link: none.
func (l *Link) Offloads() link.Offloads { return link.Offloads{} }

// ReadBatch implements link.Link.
func (l *Link) ReadBatch(bufs [][]byte, lens []int, metas []link.RxMeta) (int, error) {
	return l.rx.read(bufs, lens, metas)
}

// Write implements link.Link.
func (l *Link) Write(frame []byte, meta link.TxMeta) error {
	if meta != (link.TxMeta{}) {
		l.tx.mu.Lock()
		l.tx.stats.TxErrors++
		l.tx.stats.TxOffloadRejected++
		l.tx.mu.Unlock()
		return fmt.Errorf("memlink %s: %w", l.name, link.ErrOffload)
	}
	if len(frame) > l.MaxFrameSize() {
		l.tx.mu.Lock()
		l.tx.stats.TxErrors++
		l.tx.mu.Unlock()
		return fmt.Errorf("memlink %s: frame of %d bytes exceeds %d", l.name, len(frame), l.MaxFrameSize())
	}
	return l.tx.write(frame)
}

// WriteBatch implements link.Link.
func (l *Link) WriteBatch(frames [][]byte, metas []link.TxMeta) (int, error) {
	var first error
	n := 0
	for i, f := range frames {
		var m link.TxMeta
		if metas != nil {
			m = metas[i]
		}
		if err := l.Write(f, m); err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		n++
	}
	return n, first
}

// Stats implements link.Link: transmit counters of this endpoint's outgoing
// direction and receive counters of its incoming one.
func (l *Link) Stats() link.Stats {
	l.tx.mu.Lock()
	st := l.tx.stats
	l.tx.mu.Unlock()
	l.rx.mu.Lock()
	st.RxFrames, st.RxBytes = l.rx.stats.RxFrames, l.rx.stats.RxBytes
	st.RxErrors, st.RxTruncated = l.rx.stats.RxErrors, l.rx.stats.RxTruncated
	l.rx.mu.Unlock()
	return st
}

// Close implements link.Link: this endpoint's ReadBatch and Write fail with
// link.ErrClosed from now on, a pending ReadBatch returns, and what the peer
// writes is dropped (as on an unplugged cable).
func (l *Link) Close() error {
	l.rx.mu.Lock()
	l.rx.rclosed = true
	l.rx.mu.Unlock()
	l.rx.signal()
	l.tx.mu.Lock()
	l.tx.wclosed = true
	l.tx.mu.Unlock()
	return nil
}

// frame is one queued frame.
type frame struct {
	buf []byte
	at  time.Time // arrival time at the reader (zero: immediately)
}

// pipe is one direction.
type pipe struct {
	mu       sync.Mutex
	q        []frame // FIFO: q[head:]
	head     int
	free     [][]byte
	rclosed  bool          // the reading endpoint was closed
	wclosed  bool          // the writing endpoint was closed
	wake     chan struct{} // cap 1: something was queued or the pipe closed
	rate     int64
	delay    time.Duration
	limit    int
	maxFrame int
	busy     time.Time // when the bottleneck finishes the last queued frame
	timer    *time.Timer
	stats    link.Stats
}

func newPipe(cfg Config) *pipe {
	return &pipe{
		wake:     make(chan struct{}, 1),
		rate:     cfg.Rate,
		delay:    cfg.Delay,
		limit:    cfg.QueueLen,
		maxFrame: cfg.MTU + cfg.Header.Len(),
	}
}

func (p *pipe) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *pipe) write(b []byte) error {
	p.mu.Lock()
	if p.wclosed {
		p.mu.Unlock()
		return fmt.Errorf("memlink: %w", link.ErrClosed)
	}
	if p.rclosed || len(p.q)-p.head >= p.limit {
		p.stats.TxDropped++
		p.mu.Unlock()
		return nil
	}
	var buf []byte
	if n := len(p.free); n > 0 {
		buf = p.free[n-1][:0]
		p.free = p.free[:n-1]
	} else {
		buf = make([]byte, 0, p.maxFrame)
	}
	buf = append(buf, b...)
	var at time.Time
	if p.rate > 0 || p.delay > 0 {
		now := time.Now()
		at = now
		if p.rate > 0 {
			if p.busy.Before(now) {
				p.busy = now
			}
			p.busy = p.busy.Add(time.Duration(int64(len(b)) * 8 * int64(time.Second) / p.rate))
			at = p.busy
		}
		at = at.Add(p.delay)
	}
	if p.head > 0 && len(p.q) == cap(p.q) {
		n := copy(p.q, p.q[p.head:])
		clear(p.q[n:])
		p.q = p.q[:n]
		p.head = 0
	}
	p.q = append(p.q, frame{buf: buf, at: at})
	p.stats.TxFrames++
	p.stats.TxBytes += uint64(len(b))
	p.mu.Unlock()
	p.signal()
	return nil
}

func (p *pipe) read(bufs [][]byte, lens []int, metas []link.RxMeta) (int, error) {
	max := min(len(bufs), len(lens), len(metas))
	for {
		p.mu.Lock()
		if p.rclosed {
			p.mu.Unlock()
			return 0, fmt.Errorf("memlink: %w", link.ErrClosed)
		}
		var wait time.Duration
		n := 0
		var now time.Time
		for p.head < len(p.q) && n < max {
			f := &p.q[p.head]
			if !f.at.IsZero() {
				if now.IsZero() {
					now = time.Now()
				}
				if f.at.After(now) {
					wait = f.at.Sub(now)
					break
				}
			}
			if len(bufs[n]) < link.MinBufSize {
				p.mu.Unlock()
				if n > 0 {
					return n, nil
				}
				return 0, link.ErrShortBuffer
			}
			if len(f.buf) > len(bufs[n]) {
				p.stats.RxErrors++
				p.stats.RxTruncated++
			} else {
				lens[n] = copy(bufs[n], f.buf)
				metas[n] = link.RxMeta{}
				p.stats.RxFrames++
				p.stats.RxBytes += uint64(lens[n])
				n++
			}
			p.free = append(p.free, f.buf)
			f.buf = nil
			p.head++
		}
		if p.head == len(p.q) {
			p.q, p.head = p.q[:0], 0
		}
		p.mu.Unlock()
		if n > 0 {
			return n, nil
		}
		if wait > 0 {
			if p.timer == nil {
				p.timer = time.NewTimer(wait)
			} else {
				p.timer.Reset(wait)
			}
			select {
			case <-p.wake:
				p.timer.Stop()
			case <-p.timer.C:
			}
			continue
		}
		<-p.wake
	}
}
