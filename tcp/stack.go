package tcp

// Stack is the TCP protocol instance of one IP stack: it owns the table of
// connections and listeners, demultiplexes inbound segments, answers segments
// for unknown connections with RST, chooses ISNs (RFC 6528) and ephemeral
// ports, and holds the stack-wide settings — the role of Linux's
// net.ipv4.tcp_* sysctls.
//
// The engine is single-threaded and driven from outside: segments arrive via
// HandlePacket (called by the IP layer) and timers fire from the IP stack's
// timer queue. API calls (Write, Read, Close...) only change state and arm
// the connection's timer for "now"; the next Poll of the IP stack does the
// sending. Nothing here reads the wall clock.

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/ustack/ustack/clock"
	"github.com/ustack/ustack/ip"
	"github.com/ustack/ustack/wire"
)

// Network is what TCP needs from the IP layer; *ip.Stack implements it.
type Network interface {
	Timers() *clock.Queue
	Now() clock.Time
	FindRoute(dst, src netip.Addr) (ip.RouteInfo, error)
	WritePacket(src, dst netip.Addr, proto uint8, tos uint8, buf []byte, off int) error
	IsLocalAddr(a netip.Addr) bool
}

// neighborConfirmer is implemented by IP layers with a neighbour cache that
// upper layers can confirm (ip.Stack does).
type neighborConfirmer interface {
	ConfirmNeighbor(dst netip.Addr)
}

// BufSizes is a min/default/max triple, as net.ipv4.tcp_wmem and tcp_rmem.
type BufSizes struct{ Min, Default, Max int }

// Options are the stack-wide TCP settings.
type Options struct {
	CongestionControl string   // tcp_congestion_control; default "cubic"
	SendBuffer        BufSizes // tcp_wmem; default 4096 16384 16777216
	RecvBuffer        BufSizes // tcp_rmem; default 4096 131072 16777216
	NoSACK            bool     // disable SACK (tcp_sack=0)
	NoTimestamps      bool     // disable timestamps (tcp_timestamps=0)
	NoWindowScaling   bool     // disable window scaling
	NoDelay           bool     // default TCP_NODELAY for new connections
	PaceAll           bool     // pace classic algorithms at cwnd/srtt (as the fq qdisc does)
	InitialCwnd       int      // segments; default 10 (RFC 6928)
	MinRTO            time.Duration
	MaxRTO            time.Duration
	InitialRTO        time.Duration
	DelayedAck        time.Duration // delayed ACK timeout; default 40 ms
	PacingSlack       time.Duration // how late the runner's timers may wake the pacer, made up for (output.go); 0: exact (simulation)
	TimeWait          time.Duration // TIME_WAIT duration; default 60 s
	SynRetries        int           // default 6
	Retries2          int           // data retransmissions before giving up; default 15
	FinTimeout        time.Duration // FIN_WAIT_2 timeout; default 60 s
	KeepaliveIdle     time.Duration // default 2 h
	KeepaliveInterval time.Duration // default 75 s
	KeepaliveCount    int           // default 9
	EphemeralPorts    [2]uint16     // ip_local_port_range; default 32768..60999
	Seed              uint64        // seeds ISN secret, ports and algorithm randomness
}

func (o *Options) setDefaults() {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.CongestionControl == "" {
		o.CongestionControl = "cubic"
	}
	// The maxima are 16 MiB where Linux has 4 and 6 MiB: under random loss
	// the data SACKed above a hole stays buffered until the hole is
	// repaired, and lost retransmissions keep holes open for several RTTs.
	// Measured (100 Mbit/s x 100 ms, 5% loss each way, BBR): 63.8 Mbit/s
	// with 4 MiB, 76.7 with 16 MiB, the same with 64 MiB. Buffers grow only
	// as far as the congestion window needs.
	if o.SendBuffer.Max == 0 {
		o.SendBuffer = BufSizes{4096, 16384, 16 << 20}
	}
	if o.RecvBuffer.Max == 0 {
		o.RecvBuffer = BufSizes{4096, 131072, 16 << 20}
	}
	fixBuf := func(b *BufSizes) {
		b.Min = max(b.Min, 2048)
		b.Default = max(b.Default, b.Min)
		b.Max = max(b.Max, b.Default)
	}
	fixBuf(&o.SendBuffer)
	fixBuf(&o.RecvBuffer)
	if o.InitialCwnd <= 0 {
		o.InitialCwnd = 10
	}
	def(&o.MinRTO, 200*time.Millisecond)
	def(&o.MaxRTO, 120*time.Second)
	def(&o.InitialRTO, time.Second)
	def(&o.DelayedAck, 40*time.Millisecond)
	def(&o.TimeWait, 60*time.Second)
	def(&o.FinTimeout, 60*time.Second)
	def(&o.KeepaliveIdle, 2*time.Hour)
	def(&o.KeepaliveInterval, 75*time.Second)
	if o.SynRetries <= 0 {
		o.SynRetries = 6
	}
	if o.Retries2 <= 0 {
		o.Retries2 = 15
	}
	if o.KeepaliveCount <= 0 {
		o.KeepaliveCount = 9
	}
	if o.EphemeralPorts[0] == 0 || o.EphemeralPorts[1] < o.EphemeralPorts[0] {
		o.EphemeralPorts = [2]uint16{32768, 60999}
	}
}

// Errors returned by the API, matching what Go users expect from net.
var (
	ErrWouldBlock         = errors.New("tcp: operation would block")
	ErrConnRefused        = errors.New("connection refused")
	ErrConnReset          = errors.New("connection reset by peer")
	ErrConnAborted        = errors.New("connection aborted")
	ErrTimeout            = timeoutError{}
	ErrClosed             = errors.New("use of closed connection")
	ErrNotConnected       = errors.New("socket is not connected")
	ErrAddrInUse          = errors.New("address already in use")
	ErrNoPorts            = errors.New("no free ephemeral port")
	ErrHostUnreachable    = errors.New("no route to host")
	ErrWriteAfterShutdown = errors.New("write after shutdown")
)

type timeoutError struct{}

func (timeoutError) Error() string   { return "connection timed out" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

type fourTuple struct {
	local, remote netip.AddrPort
}

// Stats are stack-wide counters (as /proc/net/snmp and netstat -s).
type Stats struct {
	SegsIn, SegsOut       uint64
	RetransSegs           uint64
	ActiveOpens           uint64
	PassiveOpens          uint64
	AttemptFails          uint64
	EstabResets           uint64
	OutRsts               uint64
	InErrs                uint64 // malformed segments
	BadChecksum           uint64
	NoConnection          uint64 // segments for no connection (answered by RST)
	ListenOverflows       uint64
	ListenDrops           uint64
	ChallengeACKs         uint64
	ChallengeACKsSkipped  uint64 // rate-limited (RFC 5961 section 7)
	PAWSDrops             uint64
	OutOfWindow           uint64
	TimeWaitRecycled      uint64
	Timeouts              uint64
	PMTUUpdates           uint64
	DelayedACKs           uint64
	TLPProbes             uint64
	RACKLossMarks         uint64
	ZeroWindowProbes      uint64
	KeepaliveProbes       uint64
	SpuriousSegmentsDrops uint64
	SACKReneging          uint64 // cumulative ACKs that stopped at a SACKed segment
}

// Stack is the TCP instance of one network stack.
type Stack struct {
	net      Network
	opts     Options
	conns    map[fourTuple]*Conn
	listen   map[netip.AddrPort]*Listener
	secret   [32]byte
	rng      *rand.Rand
	stats    Stats
	scratch  []byte // segment build buffer (headroom + header + payload)
	segPool  []*txSeg
	lastConn *Conn // one-entry demux cache: bulk flows hit it on nearly every segment
}

// NewStack creates the TCP instance on net. Register it with the IP stack
// (ip.Stack.RegisterTransport) so that it receives segments.
func NewStack(net Network, opts Options) (*Stack, error) {
	opts.setDefaults()
	if _, err := NewCongestionControl(opts.CongestionControl); err != nil {
		return nil, err
	}
	s := &Stack{
		net:    net,
		opts:   opts,
		conns:  make(map[fourTuple]*Conn),
		listen: make(map[netip.AddrPort]*Listener),
		rng:    rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
	}
	for i := 0; i < len(s.secret); i += 8 {
		binary.LittleEndian.PutUint64(s.secret[i:], s.rng.Uint64())
	}
	s.scratch = make([]byte, ip.HeaderRoom+wire.TCPHeaderLen+wire.TCPMaxOptionLen+65536)
	return s, nil
}

// Protocol implements ip.TransportProtocol.
func (s *Stack) Protocol() uint8 { return wire.ProtoTCP }

// Options returns the stack's settings (after defaults).
func (s *Stack) Options() Options { return s.opts }

// SetCongestionControl changes the stack-wide default for new connections.
func (s *Stack) SetCongestionControl(name string) error {
	if _, err := NewCongestionControl(name); err != nil {
		return err
	}
	s.opts.CongestionControl = name
	return nil
}

// Stats returns a copy of the stack counters.
func (s *Stack) Stats() Stats { return s.stats }

// Conns returns the live connections (for introspection), in no set order.
func (s *Stack) Conns() []*Conn {
	out := make([]*Conn, 0, len(s.conns))
	for _, c := range s.conns {
		out = append(out, c)
	}
	return out
}

// isn returns an initial sequence number per RFC 6528: a keyed hash of the
// connection's addresses plus a 4-microsecond clock.
func (s *Stack) isn(now clock.Time, t fourTuple) uint32 {
	h := sha256.New()
	h.Write(s.secret[:])
	la, ra := t.local.Addr().As16(), t.remote.Addr().As16()
	h.Write(la[:])
	h.Write(ra[:])
	var p [4]byte
	binary.BigEndian.PutUint16(p[:], t.local.Port())
	binary.BigEndian.PutUint16(p[2:], t.remote.Port())
	h.Write(p[:])
	var sum [32]byte
	return binary.BigEndian.Uint32(h.Sum(sum[:0])) + uint32(int64(now)/4000)
}

// pickPort chooses a free ephemeral port for a connection to remote.
func (s *Stack) pickPort(local netip.Addr, remote netip.AddrPort) (uint16, error) {
	lo, hi := int(s.opts.EphemeralPorts[0]), int(s.opts.EphemeralPorts[1])
	n := hi - lo + 1
	start := s.rng.IntN(n)
	for i := 0; i < n; i++ {
		p := uint16(lo + (start+i)%n)
		if _, used := s.conns[fourTuple{netip.AddrPortFrom(local, p), remote}]; used {
			continue
		}
		if _, used := s.listen[netip.AddrPortFrom(local, p)]; used {
			continue
		}
		return p, nil
	}
	return 0, ErrNoPorts
}

// HandleControl implements ip.TransportProtocol: ICMP errors about our segments.
func (s *Stack) HandleControl(now clock.Time, msg *ip.ControlMessage) {
	if len(msg.Payload) < 8 {
		return
	}
	sport := binary.BigEndian.Uint16(msg.Payload[0:])
	dport := binary.BigEndian.Uint16(msg.Payload[2:])
	seq := binary.BigEndian.Uint32(msg.Payload[4:])
	c := s.conns[fourTuple{netip.AddrPortFrom(msg.Src, sport), netip.AddrPortFrom(msg.Dst, dport)}]
	if c == nil {
		return
	}
	// RFC 5927: only believe errors quoting a sequence number in flight.
	if !seqInRange(seq, c.sndUna, c.sndNxt+1) {
		return
	}
	switch msg.Kind {
	case ip.ControlPacketTooBig:
		s.stats.PMTUUpdates++
		c.pmtuChanged(now, msg.MTU)
	case ip.ControlUnreachable:
		if c.state == StateSynSent || c.state == StateSynReceived {
			c.softError = ErrHostUnreachable
		}
	}
}
