// Package scenario builds simulated networks of ustack hosts and runs
// applications on them in virtual time: two hosts joined by an emulated
// path, bulk-transfer flows whose every byte is checked, and goodput and
// RTT measurements. Tests and the bench command are written with it.
package scenario

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/netip"
	"time"

	"github.com/ustack/ustack/clock"
	"github.com/ustack/ustack/engine"
	"github.com/ustack/ustack/ip"
	"github.com/ustack/ustack/sim"
	"github.com/ustack/ustack/tcp"
	"github.com/ustack/ustack/wire"
)

// Path describes the emulated path between the two hosts.
type Path struct {
	Rate    uint64        // bottleneck rate, bits/s (both directions)
	RTT     time.Duration // base round-trip time (split evenly)
	Loss    float64       // random loss A→B (the data direction of a download from A)
	RevLoss float64       // random loss B→A
	// Buffer is the drop-tail buffer in bytes in each direction; 0 means one
	// bandwidth-delay product.
	Buffer       int
	Jitter       time.Duration
	Reorder      float64
	ReorderDelay time.Duration
	Duplicate    float64
	Policer      *sim.TokenBucket // on A→B
	MTU          int              // interface MTU (default 1500)
	// ChecksumOffload lets the hosts skip verifying transport checksums
	// on receipt, as a NIC with receive offload does: long benchmark runs
	// use it; correctness tests leave it off.
	ChecksumOffload bool
}

// BDP returns the path's bandwidth-delay product in bytes.
func (p Path) BDP() int { return int(p.Rate / 8 * uint64(p.RTT) / uint64(time.Second)) }

// Pair is two hosts, A (10.0.0.1) and B (10.0.0.2), joined by a path.
type Pair struct {
	Net    *sim.Network
	A, B   *engine.Host
	AB, BA *sim.Pipe
	AddrA  netip.Addr
	AddrB  netip.Addr
}

// NewPair builds the network. tcpA and tcpB configure the hosts' TCP.
func NewPair(seed uint64, p Path, tcpA, tcpB tcp.Options) (*Pair, error) {
	n := sim.NewNetwork(seed)
	pr := &Pair{Net: n, AddrA: netip.MustParseAddr("10.0.0.1"), AddrB: netip.MustParseAddr("10.0.0.2")}
	mtu := p.MTU
	if mtu == 0 {
		mtu = 1500
	}
	buf := p.Buffer
	if buf == 0 {
		buf = max(p.BDP(), 10*1514)
	}
	tcpA.Seed = n.DeriveSeed("tcpA")
	tcpB.Seed = n.DeriveSeed("tcpB")
	var err error
	if pr.A, err = engine.New(engine.Config{Name: "A", IP: ip.Config{Seed: n.DeriveSeed("ipA")}, TCP: tcpA}); err != nil {
		return nil, err
	}
	if pr.B, err = engine.New(engine.Config{Name: "B", IP: ip.Config{Seed: n.DeriveSeed("ipB")}, TCP: tcpB}); err != nil {
		return nil, err
	}
	var nicA, nicB *ip.Interface
	ab := sim.PathConfig{Name: "A->B", Rate: p.Rate, Delay: p.RTT / 2, Loss: p.Loss, Buffer: buf, Jitter: p.Jitter,
		Reorder: p.Reorder, ReorderDelay: p.ReorderDelay, Duplicate: p.Duplicate, Policer: p.Policer}
	ba := sim.PathConfig{Name: "B->A", Rate: p.Rate, Delay: p.RTT / 2, Loss: p.RevLoss, Buffer: buf, Jitter: p.Jitter,
		Reorder: p.Reorder, ReorderDelay: p.ReorderDelay, Duplicate: p.Duplicate}
	pr.AB, pr.BA = n.NewLink(ab, ba,
		func(now clock.Time, f []byte) { pr.B.IP.Input(now, nicB, f) },
		func(now clock.Time, f []byte) { pr.A.IP.Input(now, nicA, f) })
	pr.AB.SetReceiver(pr.B)
	pr.BA.SetReceiver(pr.A)
	if nicA, err = pr.A.IP.AddInterface(ip.InterfaceConfig{Name: "eth0", LinkType: ip.LinkEthernet,
		MAC: wire.MAC{2, 0, 0, 0, 0, 1}, MTU: mtu, ChecksumOffload: p.ChecksumOffload, Addrs: []netip.Prefix{netip.PrefixFrom(pr.AddrA, 24)}}, pr.AB); err != nil {
		return nil, err
	}
	if nicB, err = pr.B.IP.AddInterface(ip.InterfaceConfig{Name: "eth0", LinkType: ip.LinkEthernet,
		MAC: wire.MAC{2, 0, 0, 0, 0, 2}, MTU: mtu, ChecksumOffload: p.ChecksumOffload, Addrs: []netip.Prefix{netip.PrefixFrom(pr.AddrB, 24)}}, pr.BA); err != nil {
		return nil, err
	}
	n.AddNode(pr.A)
	n.AddNode(pr.B)
	return pr, nil
}

// pattern is the deterministic payload: a pseudo-random block of a prime
// length, so that its phase never lines up with segment boundaries.
var pattern = func() []byte {
	b := make([]byte, 65521)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}()

// Flow is one bulk transfer from a sender host to a receiver host. Every
// received byte is compared with what was sent; with Hash set both sides
// also keep a SHA-256 of the stream.
type Flow struct {
	Name             string
	Size             int64 // bytes to send; < 0 sends until Stop
	Sender, Receiver *tcp.Conn
	Sent, Received   int64
	SendHash         hash.Hash
	RecvHash         hash.Hash
	Start, End       clock.Time // first connect, receiver saw EOF
	Err              error      // first error or corruption
	Done             bool       // both sides closed cleanly
	samples          []sample
	stopped          bool
	rbuf             []byte
	senderClosed     bool
	receiverClosed   bool
}

type sample struct {
	t     clock.Time
	bytes int64
}

// FlowOptions tune a flow.
type FlowOptions struct {
	CC   string // congestion control of the sender ("" = stack default)
	Hash bool   // keep SHA-256 of both streams
	Port uint16 // listening port (default 5000 + flow index)
	// OnAccept, if set, is called with the sending connection as soon as
	// it is accepted (before it sends data), e.g. to hook its congestion
	// control.
	OnAccept func(now clock.Time, c *tcp.Conn)
}

var flowPort uint16 = 5000

// StartFlow opens a connection from dst to src at time at, and has src
// send size bytes to dst (a download from src, like a client fetching from a
// server). The listener is on src.
func (pr *Pair) StartFlow(at clock.Time, src, dst *engine.Host, size int64, o FlowOptions) *Flow {
	f := &Flow{Size: size, rbuf: make([]byte, 256<<10)}
	if o.Hash {
		f.SendHash, f.RecvHash = sha256.New(), sha256.New()
	}
	port := o.Port
	if port == 0 {
		flowPort++
		port = flowPort
	}
	srcAddr, dstAddr := pr.addrOf(src), pr.addrOf(dst)
	f.Name = fmt.Sprintf("%s:%d->%s", srcAddr, port, dstAddr)
	pr.Net.At(at, func(now clock.Time) {
		f.Start = now
		l, err := src.TCP.Listen(netip.AddrPortFrom(srcAddr, port), 16)
		if err != nil {
			f.fail(err)
			return
		}
		if o.CC != "" {
			l.CongestionControl = o.CC
		}
		l.Notify = func() {
			src.Defer(func(now clock.Time) {
				c, err := l.Accept()
				if err != nil {
					return
				}
				l.Close()
				f.Sender = c
				if o.OnAccept != nil {
					o.OnAccept(now, c)
				}
				c.Notify = f.deferOnce(src, f.stepSender)
				f.stepSender(now)
			})
		}
		c, err := dst.TCP.Connect(netip.AddrPort{}, netip.AddrPortFrom(srcAddr, port))
		if err != nil {
			f.fail(err)
			return
		}
		f.Receiver = c
		c.Notify = f.deferOnce(dst, f.stepReceiver)
		pr.Net.Wake(src)
		pr.Net.Wake(dst)
	})
	return f
}

func (pr *Pair) addrOf(h *engine.Host) netip.Addr {
	if h == pr.A {
		return pr.AddrA
	}
	return pr.AddrB
}

func (f *Flow) deferOnce(h *engine.Host, step func(clock.Time)) func() {
	queued := false
	run := func(now clock.Time) {
		queued = false
		step(now)
	}
	return func() {
		if !queued {
			queued = true
			h.Defer(run)
		}
	}
}

func (f *Flow) fail(err error) {
	if f.Err == nil {
		f.Err = err
	}
}

// Stop makes an unbounded flow finish: the sender closes after what it wrote.
func (f *Flow) Stop() { f.stopped = true }

func (f *Flow) stepSender(now clock.Time) {
	c := f.Sender
	for !f.senderClosed {
		remaining := int64(1 << 30)
		if f.Size >= 0 {
			remaining = f.Size - f.Sent
		}
		if f.stopped || remaining <= 0 {
			c.CloseWrite()
			break
		}
		off := int(f.Sent % int64(len(pattern)))
		chunk := pattern[off:]
		if int64(len(chunk)) > remaining {
			chunk = chunk[:remaining]
		}
		n, err := c.Write(chunk)
		if n > 0 {
			if f.SendHash != nil {
				f.SendHash.Write(chunk[:n])
			}
			f.Sent += int64(n)
		}
		if err == tcp.ErrWouldBlock {
			break
		}
		if err != nil {
			f.fail(fmt.Errorf("sender write: %w", err))
			return
		}
	}
	// Wait for the receiver's FIN, then close.
	if !f.senderClosed {
		var b [1]byte
		if _, err := c.Read(b[:]); err == io.EOF {
			f.senderClosed = true
			c.Close()
			f.checkDone()
		} else if err != nil && err != tcp.ErrWouldBlock {
			f.fail(fmt.Errorf("sender: %w", err))
		}
	}
}

func (f *Flow) stepReceiver(now clock.Time) {
	c := f.Receiver
	for !f.receiverClosed {
		n, err := c.Read(f.rbuf)
		if n > 0 {
			got := f.rbuf[:n]
			if f.RecvHash != nil {
				f.RecvHash.Write(got)
			}
			// Compare with the pattern at this stream offset.
			off := int(f.Received % int64(len(pattern)))
			for len(got) > 0 {
				m := min(len(got), len(pattern)-off)
				if string(got[:m]) != string(pattern[off:off+m]) {
					f.fail(fmt.Errorf("corrupt data near stream offset %d", f.Received))
				}
				got = got[m:]
				f.Received += int64(m)
				off = 0
			}
			if len(f.samples) == 0 || now-f.samples[len(f.samples)-1].t >= clock.Time(10*time.Millisecond) {
				f.samples = append(f.samples, sample{now, f.Received})
			} else {
				f.samples[len(f.samples)-1].bytes = f.Received
			}
			continue
		}
		if err == tcp.ErrWouldBlock {
			return
		}
		if err == io.EOF {
			f.End = now
			f.receiverClosed = true
			f.samples = append(f.samples, sample{now, f.Received})
			c.Close()
			f.checkDone()
			return
		}
		f.fail(fmt.Errorf("receiver read: %w", err))
		return
	}
}

func (f *Flow) checkDone() {
	if f.senderClosed && f.receiverClosed {
		f.Done = true
	}
}

// Verify reports an error unless every byte arrived intact and in order and
// both sides closed.
func (f *Flow) Verify() error {
	if f.Err != nil {
		return f.Err
	}
	if !f.Done {
		return fmt.Errorf("flow %s not finished: sent %d received %d", f.Name, f.Sent, f.Received)
	}
	if f.Received != f.Sent {
		return fmt.Errorf("flow %s: sent %d, received %d", f.Name, f.Sent, f.Received)
	}
	if f.SendHash != nil && string(f.SendHash.Sum(nil)) != string(f.RecvHash.Sum(nil)) {
		return errors.New("hash mismatch")
	}
	return nil
}

// BytesAt returns the bytes received by time t.
func (f *Flow) BytesAt(t clock.Time) int64 {
	var b int64
	for _, s := range f.samples {
		if s.t > t {
			break
		}
		b = s.bytes
	}
	return b
}

// Goodput returns the receive rate in bits/s between from and to.
func (f *Flow) Goodput(from, to clock.Time) float64 {
	if to <= from {
		return 0
	}
	return float64(f.BytesAt(to)-f.BytesAt(from)) * 8 / to.Sub(from).Seconds()
}

// RunFlows runs the network until every flow is done or limit is reached.
func (pr *Pair) RunFlows(limit clock.Time, flows ...*Flow) error {
	pr.Net.RunWhile(func() bool {
		for _, f := range flows {
			if !f.Done && f.Err == nil {
				return true
			}
		}
		return false
	}, limit)
	if err := pr.Net.Err(); err != nil {
		return err
	}
	for _, f := range flows {
		if err := f.Verify(); err != nil {
			return fmt.Errorf("seed %d: %w", pr.Net.Seed(), err)
		}
	}
	return nil
}
