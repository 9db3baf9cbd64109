package unet

// Links: each link.Link gets one reader goroutine that drains ReadBatch into
// buffers allocated once, then feeds the whole batch to the engine under the
// lock with one clock reading. Transmission happens on whichever goroutine
// polls the engine, through linkDevice (ip.Device).

import (
	"crypto/rand"
	"errors"
	"fmt"
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

	mu  sync.Mutex
	err error // why the reader stopped (nil after Close)
}

// linkDevice adapts a link.Link to ip.Device. The engine computes full
// checksums and never emits super-segments larger than the MTU unless the
// interface was given a GSOMaxSize, so frames go out with a zero TxMeta.
type linkDevice struct{ l link.Link }

func (d linkDevice) Transmit(frame []byte) error { return d.l.Write(frame, link.TxMeta{}) }

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
	if ifc.GSOMaxSize > 0 {
		return nil, fmt.Errorf("unet: link %s: transmit segmentation offload is not supported yet", l.Name())
	}
	if err := s.lock(); err != nil {
		return nil, err
	}
	nic, err := s.host.IP.AddInterface(ifc, linkDevice{l})
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	ls := &linkState{l: l, nic: nic}
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
