package unet

// Links: each link.Link gets one reader goroutine that drains ReadBatch into
// buffers allocated once, then feeds the whole batch to the engine under the
// lock with one clock reading. Transmission happens on whichever goroutine
// polls the engine, through linkDevice (ip.Device).

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"

	"github.com/ustack/ustack/ip"
	"github.com/ustack/ustack/link"
	"github.com/ustack/ustack/wire"
)

// linkState is one link attached to the stack.
type linkState struct {
	l   link.Link
	nic *ip.Interface

	tx *txQueue // nil: frames are written as they are emitted

	mu  sync.Mutex
	err error // why the reader stopped (nil after Close)
}

// linkDevice adapts a link.Link to ip.GSODevice. Ordinary frames carry full
// checksums and go out with a zero TxMeta; TCP super-segments (TSO, only on
// interfaces with a GSOMaxSize) go out with a partial checksum for the
// kernel to complete and cut into MSS-sized segments.
//
// On a link whose WriteBatch sends many frames per system call (AF_PACKET:
// sendmmsg) the frames of one engine pass are queued in q and sent together
// when the pass ends (Stack.flushTx); elsewhere each frame is written at
// once.
type linkDevice struct {
	l link.Link
	q *txQueue // nil: no batching
}

func (d linkDevice) Transmit(frame []byte) error { return d.write(frame, link.TxMeta{}) }

func (d linkDevice) TransmitGSO(frame []byte, g ip.GSO) error {
	t := link.GSOTCPv4
	if g.IPv6 {
		t = link.GSOTCPv6
	}
	return d.write(frame, link.TxMeta{NeedsCsum: true, CsumStart: g.L4Start, CsumOffset: 16,
		GSOType: t, GSOSize: g.MSS, HdrLen: g.HdrLen})
}

func (d linkDevice) write(frame []byte, meta link.TxMeta) error {
	if d.q == nil {
		return d.l.Write(frame, meta)
	}
	return d.q.add(frame, meta)
}

// Transmit batching bounds: frames and bytes held for one sendmmsg.
const (
	txBatchFrames = 64
	txBatchBytes  = 128 << 10
	txCopyMax     = 9216 // larger frames are not queued (jumbo frames are)
)

// txQueue holds the frames of one engine pass for one link, copied (the
// engine reuses its buffers), until flush sends them with WriteBatch.
type txQueue struct {
	l      link.Link
	arena  []byte // the frames' bytes; never reallocated
	frames [][]byte
	metas  []link.TxMeta
	rt     *RuntimeStats
}

func newTxQueue(l link.Link, rt *RuntimeStats) *txQueue {
	return &txQueue{l: l, arena: make([]byte, 0, txBatchBytes),
		frames: make([][]byte, 0, txBatchFrames), metas: make([]link.TxMeta, 0, txBatchFrames), rt: rt}
}

// add queues a copy of frame, sending what is queued first if it is full.
// A TSO super-segment is sent at once, after what is queued: copying 64 KiB
// costs more than the system call it would share.
func (q *txQueue) add(frame []byte, meta link.TxMeta) error {
	if len(frame) > txCopyMax {
		q.flush()
		return q.l.Write(frame, meta)
	}
	if len(q.frames) == txBatchFrames || len(q.arena)+len(frame) > cap(q.arena) {
		q.flush()
	}
	off := len(q.arena)
	q.arena = append(q.arena, frame...)
	q.frames = append(q.frames, q.arena[off:len(q.arena):len(q.arena)])
	q.metas = append(q.metas, meta)
	return nil
}

// flush sends the queued frames. A frame the link could not send is lost as
// on the wire (the link counts it; TCP retransmits), as a failed Write is.
func (q *txQueue) flush() {
	if len(q.frames) == 0 {
		return
	}
	n, _ := q.l.WriteBatch(q.frames, q.metas)
	q.rt.TxBatches++
	q.rt.TxFrames += uint64(len(q.frames))
	q.rt.TxBatchDropped += uint64(len(q.frames) - n)
	q.arena, q.frames, q.metas = q.arena[:0], q.frames[:0], q.metas[:0]
}

// gsoMaxSize returns the TCP super-segment size the link can take for the
// interface's address families (0: none). It needs transmit checksum
// offload and TSO for every family the interface has addresses in.
func gsoMaxSize(off link.Offloads, addrs []netip.Prefix) int {
	if !off.TxChecksum || !off.TSO4 && !off.TSO6 {
		return 0
	}
	for _, a := range addrs {
		if a.Addr().Is4() && !off.TSO4 || a.Addr().Is6() && !off.TSO6 {
			return 0
		}
	}
	return min(off.MaxGSOSize-wire.IPv6HeaderLen, 65535-wire.IPv4HeaderLen-wire.IPv6HeaderLen)
}

// AddLink attaches l to the stack as an interface configured by ifc and
// starts reading from it. Zero fields of ifc are filled from the link: Name,
// LinkType (from l.Header()), MTU; an Ethernet interface without a MAC gets a
// random locally administered one (never the host side's address).
// The stack owns l from now on and closes it in Close.
func (s *Stack) AddLink(l link.Link, ifc ip.InterfaceConfig) (*ip.Interface, error) {
	if ifc.Name == "" {
		ifc.Name = l.Name()
	}
	switch l.Header() {
	case link.HeaderEthernet:
		ifc.LinkType = ip.LinkEthernet
		if ifc.MAC == (wire.MAC{}) {
			ifc.MAC = randomMAC()
		}
	case link.HeaderNone:
		ifc.LinkType = ip.LinkNone
	default:
		return nil, fmt.Errorf("unet: link %s: unsupported header %v", l.Name(), l.Header())
	}
	if ifc.MTU == 0 {
		ifc.MTU = l.MTU()
	}
	if g := gsoMaxSize(l.Offloads(), ifc.Addrs); ifc.GSOMaxSize > g {
		return nil, fmt.Errorf("unet: link %s: GSOMaxSize %d but the link's offloads allow %d", l.Name(), ifc.GSOMaxSize, g)
	} else if ifc.GSOMaxSize == 0 {
		ifc.GSOMaxSize = g // TSO whenever the link offers it
	}
	if err := s.lock(); err != nil {
		return nil, err
	}
	dev := linkDevice{l: l}
	if bw, ok := l.(interface{ WritesBatched() bool }); ok && bw.WritesBatched() {
		dev.q = newTxQueue(l, &s.rt)
	}
	nic, err := s.host.IP.AddInterface(ifc, dev)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	ls := &linkState{l: l, nic: nic, tx: dev.q}
	s.links = append(s.links, ls)
	s.wg.Add(1)
	s.unlock()
	go s.readLoop(ls)
	return nic, nil
}

func randomMAC() wire.MAC {
	var m wire.MAC
	rand.Read(m[:])
	m[0] = m[0]&^1 | 2 // unicast, locally administered
	return m
}

// readBatch is how many frames one ReadBatch may return.
func readBatch(frameSize int) int {
	switch {
	case frameSize > 16<<10:
		return 16
	default:
		return 64
	}
}

// readLoop feeds l's frames to the engine until the link is closed.
func (s *Stack) readLoop(ls *linkState) {
	defer s.wg.Done()
	size := max(ls.l.MaxFrameSize(), link.MinBufSize)
	n := readBatch(size)
	mem := make([]byte, n*size)
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = mem[i*size : (i+1)*size : (i+1)*size]
	}
	lens := make([]int, n)
	metas := make([]link.RxMeta, n)
	for {
		k, err := ls.l.ReadBatch(bufs, lens, metas)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			select {
			case <-s.quit:
				return
			default:
			}
			if !errors.Is(err, link.ErrClosed) {
				ls.mu.Lock()
				ls.err = err
				ls.mu.Unlock()
			}
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return
		}
		now := s.now()
		for i := 0; i < k; i++ {
			s.host.IP.InputWith(now, ls.nic, bufs[i][:lens[i]], ip.InputOpts{ChecksumVerified: metas[i].ChecksumVerified})
		}
		s.rt.RxBatches++
		s.rt.RxFrames += uint64(k)
		s.pollLocked(now)
		s.flushLocked()
		s.mu.Unlock()
	}
}
