// Package ip is the interface and IP layer of ustack (layer 1): network
// interfaces (Ethernet or bare IP), ARP and IPv6 neighbour discovery, routing,
// IPv4/IPv6 input and output, ICMP echo and ICMP error processing with a path
// MTU cache, and the dispatch of transport packets to registered transports.
//
// Model. A Stack is a single-threaded state machine. Time is an input: every
// entry point that can change state takes the current time (Input, Poll) or
// uses the time of the latest such call (Stack.Now) — nothing here reads the
// wall clock or sleeps. All timers of a stack, including those of the
// transports above it, live in one clock.Queue (Stack.Timers); the runtime
// calls Poll when NextDeadline is reached. Randomness (initial IP ID,
// neighbour reachable-time jitter) comes from a generator seeded by Config,
// so a simulation is reproducible.
//
// Malformed input is never trusted: every frame is parsed by package wire,
// and any frame that fails a check is counted in Stats and dropped. The
// receive and transmit paths for a resolved neighbour do not allocate.
package ip

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/ustack/ustack/clock"
	"github.com/ustack/ustack/wire"
)

// Errors returned by the stack.
var (
	ErrNoRoute        = errors.New("ip: no route to host")
	ErrBadAddress     = errors.New("ip: bad address")
	ErrNoSource       = errors.New("ip: no usable source address")
	ErrHeadroom       = errors.New("ip: not enough headroom for headers")
	ErrTooBig         = errors.New("ip: packet larger than the link MTU")
	ErrBadInterface   = errors.New("ip: interface does not belong to this stack")
	ErrBadConfig      = errors.New("ip: bad configuration")
	ErrAddressExists  = errors.New("ip: address already assigned")
	ErrNoSuchAddress  = errors.New("ip: address not assigned")
	ErrNoSuchRoute    = errors.New("ip: no such route")
	ErrLoopbackFull   = errors.New("ip: local delivery queue full")
	ErrNeighborFailed = errors.New("ip: neighbour unreachable")
)

// Config holds the parameters of a Stack. Zero fields take the defaults
// noted on each.
type Config struct {
	// DefaultTTL is the IPv4 TTL and IPv6 hop limit of packets sent by
	// the stack. Default 64.
	DefaultTTL uint8
	// NeighborRetransmit is the interval between ARP requests / neighbour
	// solicitations while resolving (RetransTimer). Default 1 s.
	NeighborRetransmit time.Duration
	// NeighborRetries is the number of requests sent before resolution
	// fails and the queued packets are dropped. Default 3.
	NeighborRetries int
	// NeighborReachable is how long a confirmed entry stays REACHABLE
	// (randomised 0.5–1.5×, RFC 4861 6.3.2). Default 30 s.
	NeighborReachable time.Duration
	// NeighborStaleTimeout is how long an unused STALE entry is kept.
	// Default 60 s.
	NeighborStaleTimeout time.Duration
	// NeighborDelay is how long a STALE entry that is used waits for a
	// confirmation before it is probed (DELAY_FIRST_PROBE_TIME). Default
	// 5 s.
	NeighborDelay time.Duration
	// NeighborQueueLen bounds the packets held per unresolved neighbour.
	// Default 101.
	NeighborQueueLen int
	// MaxNeighbors bounds the neighbour cache of one interface.
	// Default 1024.
	MaxNeighbors int
	// PMTUTimeout is how long a path MTU learned from ICMP is kept.
	// Default 10 min.
	PMTUTimeout time.Duration
	// MaxPMTUEntries bounds the path MTU cache. Default 4096.
	MaxPMTUEntries int
	// LoopbackQueueLen bounds the packets to our own addresses waiting for
	// the next Poll. Default 256.
	LoopbackQueueLen int
	// Seed seeds the stack's random generator (deterministic behaviour).
	Seed uint64
}

func (c *Config) setDefaults() {
	if c.DefaultTTL == 0 {
		c.DefaultTTL = 64
	}
	if c.NeighborRetransmit <= 0 {
		c.NeighborRetransmit = time.Second
	}
	if c.NeighborRetries <= 0 {
		c.NeighborRetries = 3
	}
	if c.NeighborReachable <= 0 {
		c.NeighborReachable = 30 * time.Second
	}
	if c.NeighborStaleTimeout <= 0 {
		c.NeighborStaleTimeout = 60 * time.Second
	}
	if c.NeighborDelay <= 0 {
		c.NeighborDelay = 5 * time.Second
	}
	if c.NeighborQueueLen <= 0 {
		// Linux's default since 3.3 (unres_qlen 101). With 3 (older
		// Linux), connections opened at once lose their SYNs while the
		// first ARP is answered and start a SYN RTO (1 s) late.
		c.NeighborQueueLen = 101
	}
	if c.MaxNeighbors <= 0 {
		c.MaxNeighbors = 1024
	}
	if c.PMTUTimeout <= 0 {
		c.PMTUTimeout = 10 * time.Minute
	}
	if c.MaxPMTUEntries <= 0 {
		c.MaxPMTUEntries = 4096
	}
	if c.LoopbackQueueLen <= 0 {
		c.LoopbackQueueLen = 256
	}
}

// Stack is one host's IP layer. It is not safe for concurrent use.
type Stack struct {
	// gso is set while WritePacketGSO sends a super-segment; devTx hands it
	// to the device. (A super-segment waiting for neighbour resolution is
	// later sent without it, and an oversized frame fails at the device:
	// transports use GSO only on established flows, whose neighbour is
	// resolved, and retransmit what fails.)
	gso       *GSO
	gsoTCPHdr int

	cfg    Config
	rng    *rand.Rand
	timers clock.Queue
	now    clock.Time

	ifaces     []*Interface
	routes     []*routeEntry // sorted by prefix length, longest first
	transports [256]TransportProtocol

	pmtu      map[netip.Addr]pmtuEntry
	pmtuSweep clock.Timer

	ipID uint16

	// Receive-side scratch, indexed by re-entrancy depth so a transport
	// that (indirectly) re-enters Input does not clobber its caller's
	// Packet. Keeping them in the Stack avoids a heap escape per packet.
	rxPkts  [4]Packet
	rxDepth int
	ctl     ControlMessage

	// txBuf is the scratch buffer for packets the stack itself builds
	// (ARP, NDP, ICMP replies).
	txBuf []byte
	// resBuf is the scratch buffer for ARP and NDP messages sent by
	// neighbour resolution (which may run while txBuf is in use).
	resBuf []byte

	// loop holds packets sent to one of our own addresses, delivered by
	// the next Poll.
	loop     [][]byte
	loopFree [][]byte
	loopNIC  []*Interface

	stats Stats
}

// NewStack returns an empty stack: no interfaces, no routes, no transports.
func NewStack(cfg Config) *Stack {
	cfg.setDefaults()
	s := &Stack{
		cfg:    cfg,
		rng:    rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		pmtu:   make(map[netip.Addr]pmtuEntry),
		txBuf:  make([]byte, HeaderRoom+65536),
		resBuf: make([]byte, 512),
	}
	s.ipID = uint16(s.rng.Uint32())
	s.pmtuSweep.Fire = s.sweepPMTU
	return s
}

// Config returns the stack's configuration with defaults filled in.
func (s *Stack) Config() Config { return s.cfg }

// Timers returns the stack's timer queue, shared by the IP layer and the
// transports.
func (s *Stack) Timers() *clock.Queue { return &s.timers }

// Now returns the time of the latest Input or Poll.
func (s *Stack) Now() clock.Time { return s.now }

func (s *Stack) advance(now clock.Time) {
	if now > s.now {
		s.now = now
	}
}

// RegisterTransport installs t as the handler of its protocol number,
// replacing any earlier one. ICMP (1 and 58) is handled by the stack and
// cannot be replaced.
func (s *Stack) RegisterTransport(t TransportProtocol) {
	p := t.Protocol()
	if p == wire.ProtoICMP || p == wire.ProtoICMPv6 {
		panic("ip: ICMP is handled by the stack")
	}
	s.transports[p] = t
}

// Poll runs the timers that are due at now (neighbour retries and expiry,
// path MTU expiry, transport timers) and delivers packets sent to our own
// addresses.
func (s *Stack) Poll(now clock.Time) {
	s.advance(now)
	s.timers.Run(now)
	s.deliverLoopback(now)
}

// NextDeadline returns when Poll must next be called: the earliest timer,
// or now if local packets are waiting for delivery.
func (s *Stack) NextDeadline() clock.Time {
	if len(s.loop) > 0 {
		return s.now
	}
	return s.timers.Next()
}

// Stats returns a snapshot of the stack's counters.
func (s *Stack) Stats() Stats { return s.stats }

// Interfaces returns the interfaces in the order they were added.
func (s *Stack) Interfaces() []*Interface {
	return append([]*Interface(nil), s.ifaces...)
}

// InterfaceByName returns the interface with the given name, or nil.
func (s *Stack) InterfaceByName(name string) *Interface {
	for _, n := range s.ifaces {
		if n.name == name {
			return n
		}
	}
	return nil
}

// IsLocalAddr reports whether a is assigned to one of the interfaces.
func (s *Stack) IsLocalAddr(a netip.Addr) bool {
	return s.localNIC(a) != nil
}

// localNIC returns the interface a is assigned to, or nil.
func (s *Stack) localNIC(a netip.Addr) *Interface {
	a = a.WithZone("")
	for _, n := range s.ifaces {
		if n.hasAddr(a) {
			return n
		}
	}
	return nil
}

func (s *Stack) nextID() uint16 {
	s.ipID++
	return s.ipID
}

// jitter returns d scaled by a random factor in [0.5, 1.5).
func (s *Stack) jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(s.rng.Int64N(int64(d)+1))
}
