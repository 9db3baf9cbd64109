// Pipe model: one direction of a path.
//
// A frame handed to Pipe.Transmit at the network's current time t goes
// through, in order:
//
//  1. MTU: a frame longer than MTU bytes is dropped (DropMTU).
//  2. Policer: an optional token bucket (Rate bits/s, Burst bytes, starting
//     full); a frame for which the bucket holds fewer tokens than its size is
//     dropped (DropPolicer), otherwise its size is taken from the bucket.
//  3. Bottleneck queue: a drop-tail FIFO of Buffer bytes served at Rate.
//     The queue holds every accepted frame whose serialization has not
//     finished, including the one being serialized; a frame that would push
//     the occupancy above Buffer is dropped (DropBuffer). Serialization
//     starts at max(t, end of the previous frame) and lasts size*8/Rate
//     seconds; the fractional nanoseconds are carried from frame to frame
//     while the link stays busy, so the long-run rate is exact. Rate 0 means
//     no serialization delay and no queue.
//  4. Random loss (probability Loss): the frame still occupied the queue and
//     the link, then is lost on the wire (DropLoss). It is counted and
//     reported to the capture hook at t, the time of the decision.
//  5. Propagation: the frame arrives at end-of-serialization + Delay, plus a
//     uniform extra delay in [0, Jitter), plus ReorderDelay with probability
//     Reorder. With probability Duplicate it is delivered twice (two sink
//     calls at the same instant).
//
// Frames that keep their order (no jitter, not held back) sit in a FIFO
// ring, so equal-delay frames arrive in the order they were sent; the others
// sit in a small min-heap keyed by (arrival, send order). The sink gets a
// pooled copy that is valid only during the call.

package sim

import (
	"time"

	"github.com/ustack/ustack/clock"
)

// TokenBucket configures a policer: a bucket of Burst bytes refilled at
// Rate bits per second.
type TokenBucket struct {
	Rate  uint64 // bits per second
	Burst int    // bytes
}

// PathConfig describes one direction of a path (a pipe).
type PathConfig struct {
	// Name keys the pipe's random streams (see Network.DeriveSeed) and
	// labels it in errors; if empty, the pipe's creation index is used.
	Name string

	Rate         uint64        // bits per second; 0 = infinite (no serialization delay)
	Delay        time.Duration // one-way propagation delay
	Loss         float64       // random loss probability per packet, 0..1
	Buffer       int           // drop-tail buffer in bytes; 0 = unlimited
	Jitter       time.Duration // uniform extra delay in [0, Jitter) per packet
	Reorder      float64       // probability a packet is held back by ReorderDelay
	ReorderDelay time.Duration
	Duplicate    float64      // probability a packet is delivered twice
	Policer      *TokenBucket // optional policer in front of the queue
	MTU          int          // larger packets are dropped; 0 = unlimited
}

// DropReason says why a pipe dropped a packet.
type DropReason uint8

const (
	DropNone    DropReason = iota
	DropBuffer             // drop-tail queue full
	DropLoss               // random loss
	DropPolicer            // token bucket non-conforming
	DropMTU                // larger than the MTU
)

func (r DropReason) String() string {
	switch r {
	case DropNone:
		return "none"
	case DropBuffer:
		return "buffer"
	case DropLoss:
		return "loss"
	case DropPolicer:
		return "policer"
	case DropMTU:
		return "mtu"
	}
	return "unknown"
}

// EventKind classifies a capture event.
type EventKind uint8

const (
	EventEnqueue EventKind = iota + 1 // offered to Transmit (before any drop decision)
	EventDrop                         // dropped; Reason says why
	EventDeliver                      // handed to the sink
)

func (k EventKind) String() string {
	switch k {
	case EventEnqueue:
		return "enqueue"
	case EventDrop:
		return "drop"
	case EventDeliver:
		return "deliver"
	}
	return "unknown"
}

// Event is passed to a pipe's capture hook. Frame is valid only during the
// call.
type Event struct {
	Kind   EventKind
	Reason DropReason // for EventDrop
	Time   clock.Time
	Pipe   *Pipe
	Frame  []byte
}

// packet is a frame in flight.
type packet struct {
	arrive clock.Time
	seq    uint64 // send order, breaks ties between FIFO and heap
	buf    []byte
	dup    bool
}

func (a *packet) before(b *packet) bool {
	return a.arrive < b.arrive || (a.arrive == b.arrive && a.seq < b.seq)
}

// queued is a frame in the bottleneck queue, for occupancy accounting.
type queued struct {
	depart clock.Time // end of serialization
	size   int
}

// Pipe is one direction of a path. It implements ip.Device.
type Pipe struct {
	net     *Network
	cfg     PathConfig
	sink    func(now clock.Time, frame []byte)
	capture func(Event)
	recv    *nodeState
	ent     entity

	// Serialization.
	busyUntil clock.Time
	rem       uint64 // carried fractional serialization, in ns*Rate units

	// Bottleneck queue occupancy.
	queue  ring[queued]
	qBytes int

	// Frames in flight.
	fifo ring[packet]
	held []packet // min-heap
	seq  uint64

	// Policer: tokens in units of 1e-9 bit.
	tokens, tokCap uint64
	tokLast        clock.Time

	// Fault decisions, one stream per kind.
	rLoss, rJitter, rReorder, rDup splitmix
	thrLoss, thrReorder, thrDup    uint64

	scratch []byte // copy for the first of two duplicate deliveries
	stats   PipeStats
}

// NewPipe creates a pipe that delivers to sink. The sink is called with the
// network's current time and a frame valid only during the call; it
// typically hands the frame to a stack's input. Use SetReceiver to tell the
// scheduler which node the sink feeds.
func (n *Network) NewPipe(cfg PathConfig, sink func(now clock.Time, frame []byte)) *Pipe {
	n.npipes++
	key := uint64(n.npipes)
	if cfg.Name != "" {
		key = hashLabel(cfg.Name)
	}
	base := deriveSeed(n.seed, key)
	p := &Pipe{
		net:      n,
		sink:     sink,
		rLoss:    splitmix{deriveSeed(base, 1)},
		rJitter:  splitmix{deriveSeed(base, 2)},
		rReorder: splitmix{deriveSeed(base, 3)},
		rDup:     splitmix{deriveSeed(base, 4)},
	}
	p.ent = entity{when: clock.Never, pipe: p}
	p.SetConfig(cfg)
	n.push(&p.ent)
	return p
}

// NewLink creates the two directions of a path: ab carries frames to toB,
// ba carries frames to toA.
func (n *Network) NewLink(ab, ba PathConfig, toB, toA func(now clock.Time, frame []byte)) (pab, pba *Pipe) {
	return n.NewPipe(ab, toB), n.NewPipe(ba, toA)
}

// SetConfig changes the pipe's configuration from now on. Frames already
// accepted keep their schedule; if a smaller delay would make a new frame
// overtake them it is delivered out of order. Changing the policer resets
// it to a full bucket.
func (p *Pipe) SetConfig(cfg PathConfig) {
	old := p.cfg.Policer
	p.cfg = cfg
	if cfg.Policer != nil {
		pc := *cfg.Policer
		p.cfg.Policer = &pc
		if old == nil || *old != pc {
			p.tokCap = uint64(pc.Burst) * 8 * 1e9
			p.tokens = p.tokCap
			p.tokLast = p.net.now
		}
	}
	p.thrLoss = probThreshold(cfg.Loss)
	p.thrReorder = probThreshold(cfg.Reorder)
	p.thrDup = probThreshold(cfg.Duplicate)
}

// Config returns the pipe's configuration.
func (p *Pipe) Config() PathConfig { return p.cfg }

// SetReceiver tells the scheduler that the sink feeds node, so node is
// polled at every instant this pipe delivers (node is added to the network
// if needed). Without a receiver, every node is polled after a delivery.
func (p *Pipe) SetReceiver(node Node) {
	p.recv = p.net.state(node)
}

// SetCapture installs a hook called for every enqueue, drop and delivery
// (nil removes it), e.g. to write a pcap or a trace.
func (p *Pipe) SetCapture(f func(Event)) { p.capture = f }

// Stats returns the pipe's live counters.
func (p *Pipe) Stats() *PipeStats { return &p.stats }

// QueueBytes returns the bottleneck queue occupancy at the current time.
func (p *Pipe) QueueBytes() int {
	p.drainQueue(p.net.now)
	return p.qBytes
}

// InFlight returns the number of frames accepted and not yet delivered.
func (p *Pipe) InFlight() int { return p.fifo.n + len(p.held) }

func (p *Pipe) String() string {
	if p.cfg.Name != "" {
		return p.cfg.Name
	}
	return "pipe"
}

func (p *Pipe) drop(r DropReason, now clock.Time, frame []byte) {
	s := &p.stats
	switch r {
	case DropBuffer:
		s.DropBuffer++
	case DropLoss:
		s.DropLoss++
	case DropPolicer:
		s.DropPolicer++
	case DropMTU:
		s.DropMTU++
	}
	s.DropBytes += uint64(len(frame))
	if p.capture != nil {
		p.capture(Event{Kind: EventDrop, Reason: r, Time: now, Pipe: p, Frame: frame})
	}
}

// police refills the bucket up to now and takes size bytes if it can.
func (p *Pipe) police(now clock.Time, size int) bool {
	rate := p.cfg.Policer.Rate
	if now > p.tokLast {
		dt := uint64(now - p.tokLast)
		p.tokLast = now
		room := p.tokCap - p.tokens
		if rate == 0 {
			// no refill
		} else if dt >= room/rate+1 {
			p.tokens = p.tokCap
		} else {
			p.tokens += dt * rate
			if p.tokens > p.tokCap {
				p.tokens = p.tokCap
			}
		}
	}
	cost := uint64(size) * 8 * 1e9
	if cost > p.tokens {
		return false
	}
	p.tokens -= cost
	return true
}

// drainQueue removes from the occupancy count the frames fully serialized
// by now.
func (p *Pipe) drainQueue(now clock.Time) {
	for p.queue.n > 0 {
		q := p.queue.front()
		if q.depart > now {
			return
		}
		p.qBytes -= q.size
		p.queue.pop()
	}
}

// Transmit offers a frame to the pipe at the network's current time. The
// frame is copied; the caller keeps ownership. It never fails: drops are
// silent, as on a real wire, and show in Stats and the capture hook.
func (p *Pipe) Transmit(frame []byte) error {
	now := p.net.now
	size := len(frame)
	s := &p.stats
	s.PacketsIn++
	s.BytesIn += uint64(size)
	if p.capture != nil {
		p.capture(Event{Kind: EventEnqueue, Time: now, Pipe: p, Frame: frame})
	}
	if p.cfg.MTU > 0 && size > p.cfg.MTU {
		p.drop(DropMTU, now, frame)
		return nil
	}
	if p.cfg.Policer != nil && !p.police(now, size) {
		p.drop(DropPolicer, now, frame)
		return nil
	}

	depart := now
	if rate := p.cfg.Rate; rate > 0 {
		p.drainQueue(now)
		if p.cfg.Buffer > 0 && p.qBytes+size > p.cfg.Buffer {
			p.drop(DropBuffer, now, frame)
			return nil
		}
		start := now
		if p.busyUntil > now {
			start = p.busyUntil
		} else {
			p.rem = 0
		}
		num := uint64(size)*8*1e9 + p.rem
		depart = start + clock.Time(num/rate)
		p.rem = num % rate
		p.busyUntil = depart
		if depart > now {
			p.queue.push(queued{depart: depart, size: size})
			p.qBytes += size
			if p.qBytes > s.MaxQueueBytes {
				s.MaxQueueBytes = p.qBytes
			}
		}
		s.QueueDelay.Record(start.Sub(now))
	} else {
		s.QueueDelay.Record(0)
	}

	if p.rLoss.chance(p.thrLoss) {
		p.drop(DropLoss, now, frame)
		return nil
	}

	arrive := depart.Add(p.cfg.Delay)
	inOrder := true
	if j := p.cfg.Jitter; j > 0 {
		arrive = arrive.Add(time.Duration(p.rJitter.below(uint64(j))))
		inOrder = false
	}
	if p.rReorder.chance(p.thrReorder) {
		arrive = arrive.Add(p.cfg.ReorderDelay)
		s.Reordered++
		inOrder = false
	}
	dup := p.rDup.chance(p.thrDup)
	if dup {
		s.Duplicated++
	}

	buf := p.net.pool.get(size)
	copy(buf, frame)
	pk := packet{arrive: arrive, seq: p.seq, buf: buf, dup: dup}
	p.seq++
	if inOrder && (p.fifo.n == 0 || p.fifo.back().arrive <= arrive) {
		p.fifo.push(pk)
	} else {
		p.heapPush(pk)
	}
	if arrive < p.ent.when {
		p.net.fix(&p.ent, arrive)
	}
	return nil
}

// next returns the earliest arrival time of the frames in flight.
func (p *Pipe) next() clock.Time {
	t := clock.Never
	if p.fifo.n > 0 {
		t = p.fifo.front().arrive
	}
	if len(p.held) > 0 && p.held[0].arrive < t {
		t = p.held[0].arrive
	}
	return t
}

// deliver hands every frame due by now to the sink.
func (p *Pipe) deliver(now clock.Time) {
	for {
		var pk packet
		switch {
		case p.fifo.n > 0 && p.fifo.front().arrive <= now &&
			(len(p.held) == 0 || p.fifo.front().before(&p.held[0])):
			pk = p.fifo.pop()
		case len(p.held) > 0 && p.held[0].arrive <= now:
			pk = p.heapPop()
		default:
			p.net.fix(&p.ent, p.next())
			return
		}
		if pk.dup {
			p.scratch = append(p.scratch[:0], pk.buf...)
			p.deliverOne(now, p.scratch)
		}
		p.deliverOne(now, pk.buf)
		p.net.pool.put(pk.buf)
		p.net.work++
		if p.net.work >= p.net.workLimit {
			// A sink feeding this pipe at this very instant; the
			// scheduler reports the livelock.
			p.net.fix(&p.ent, p.next())
			return
		}
	}
}

func (p *Pipe) deliverOne(now clock.Time, frame []byte) {
	p.stats.PacketsDelivered++
	p.stats.BytesDelivered += uint64(len(frame))
	if p.capture != nil {
		p.capture(Event{Kind: EventDeliver, Time: now, Pipe: p, Frame: frame})
	}
	if p.recv != nil {
		p.net.markDirty(p.recv)
	} else {
		p.net.pollAll = true
	}
	p.sink(now, frame)
}

func (p *Pipe) heapPush(pk packet) {
	h := append(p.held, pk)
	i := len(h) - 1
	for i > 0 {
		j := (i - 1) / 2
		if !h[i].before(&h[j]) {
			break
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
	p.held = h
}

func (p *Pipe) heapPop() packet {
	h := p.held
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h[n] = packet{}
	h = h[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && h[r].before(&h[l]) {
			m = r
		}
		if !h[m].before(&h[i]) {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	p.held = h
	return top
}

// ring is a growable FIFO ring buffer.
type ring[T any] struct {
	buf  []T
	head int
	n    int
}

func (r *ring[T]) push(v T) {
	if r.n == len(r.buf) {
		nb := make([]T, max(16, 2*len(r.buf)))
		k := copy(nb, r.buf[r.head:])
		copy(nb[k:], r.buf[:r.head])
		r.buf = nb
		r.head = 0
	}
	r.buf[(r.head+r.n)&(len(r.buf)-1)] = v
	r.n++
}

func (r *ring[T]) front() *T { return &r.buf[r.head] }

func (r *ring[T]) back() *T { return &r.buf[(r.head+r.n-1)&(len(r.buf)-1)] }

func (r *ring[T]) pop() T {
	var zero T
	v := r.buf[r.head]
	r.buf[r.head] = zero
	r.head = (r.head + 1) & (len(r.buf) - 1)
	r.n--
	return v
}
