package tcp

// Congestion control is pluggable, in the shape of Linux's tcp_congestion_ops:
// the TCP core detects loss, runs recovery and produces one RateSample per ACK
// (rate.go); an algorithm reads what it needs from a CCState and sets the
// congestion window and, if it wants, a pacing rate. The core never names an
// algorithm: algorithms register themselves by name (package cc registers
// "reno", "cubic" and "bbr") and a stack or connection selects one by name.
//
// Two styles are supported, as in Linux:
//   - classic algorithms (Reno, CUBIC) implement SsThresh and CongAvoid; while
//     recovering from loss the core itself paces the window down with PRR
//     (RFC 6937) towards the ssthresh they chose;
//   - model-based algorithms (BBR) also implement Controller; the core then
//     calls CongControl on every ACK, in every state, and leaves cwnd and the
//     pacing rate entirely to the algorithm.
//
// All quantities are in bytes and bytes per second.

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/ustack/ustack/clock"
)

// CAState is the loss-recovery state of a sender, as Linux's tcp_ca_state.
type CAState uint8

const (
	CAOpen     CAState = iota // no loss suspected
	CADisorder                // SACKs or dupacks seen, no loss marked yet
	CACWR                     // window reduced for a reason other than loss (ECN, local congestion)
	CARecovery                // fast recovery after loss detected by SACK/dupacks/RACK
	CALoss                    // retransmission timeout: everything in flight presumed lost
)

func (s CAState) String() string {
	switch s {
	case CAOpen:
		return "open"
	case CADisorder:
		return "disorder"
	case CACWR:
		return "cwr"
	case CARecovery:
		return "recovery"
	case CALoss:
		return "loss"
	}
	return fmt.Sprintf("castate(%d)", uint8(s))
}

// CCEvent is a notification from the core to the algorithm.
type CCEvent uint8

const (
	// EventTxStart: the first transmission after the connection was idle
	// (nothing in flight) — Linux's CA_EVENT_TX_START.
	EventTxStart CCEvent = iota + 1
	// EventCwndRestart: the window is restarted after an idle period longer
	// than the RTO (RFC 7661 / RFC 5681 section 4.1).
	EventCwndRestart
	// EventCompleteCwr: a window reduction (recovery or CWR) completed.
	EventCompleteCwr
	// EventLoss: a retransmission timeout fired.
	EventLoss
)

// RateSample is one delivery-rate sample, produced once per ACK that
// acknowledges or selectively acknowledges data (draft-cheng-iccrg-delivery-
// rate-estimation; Linux tcp_rate.c). Delivered over Interval is the delivery
// rate; a sample with Interval <= 0 or Delivered < 0 carries no rate.
type RateSample struct {
	PriorDelivered uint64        // CCState.Delivered when the sampled segment was sent
	PriorTime      clock.Time    // when the sampled segment's flight started
	Delivered      int64         // bytes delivered in the sample interval; -1 if no sample
	Interval       time.Duration // max(send phase, ack phase); <= 0 if no sample
	SendInterval   time.Duration // send phase of the interval
	AckInterval    time.Duration // ack phase of the interval
	RTT            time.Duration // RTT of the most recently sent segment newly (s)acked; -1 if none
	Losses         int           // bytes newly marked lost by this ACK
	AckedSacked    int           // bytes newly acknowledged or SACKed by this ACK
	PriorInFlight  int           // bytes in flight before this ACK
	IsAppLimited   bool          // the sample was taken while the sender was application-limited
	IsRetrans      bool          // the sampled segment was a retransmission
	IsAckDelayed   bool          // the ACK was probably delayed by the receiver
}

// HasRate reports whether the sample carries a usable delivery rate.
func (rs *RateSample) HasRate() bool { return rs.Delivered >= 0 && rs.Interval > 0 }

// CCState is what an algorithm sees of a connection and may change. The core
// fills the read-only fields before each call; the algorithm writes Cwnd,
// Ssthresh and PacingRate (and SendQuantum, if it wants to size bursts).
type CCState struct {
	// Read-only for the algorithm.
	Now         clock.Time
	MSS         int           // sender maximum segment size (payload bytes)
	SRTT        time.Duration // smoothed RTT (0 before the first sample)
	MinRTT      time.Duration // windowed minimum RTT seen by the core (0 before the first sample)
	InFlight    int           // bytes in flight (RFC 6675 pipe)
	Delivered   uint64        // total bytes delivered (cumulatively acked or SACKed)
	Lost        uint64        // total bytes marked lost
	Retrans     uint64        // total bytes retransmitted
	AppLimited  bool          // the sender is currently application-limited
	CwndLimited bool          // the window was fully used during the last round
	CAState     CAState       // loss-recovery state
	// RoundStart is true when this ACK begins a new round trip (delivery
	// of a segment sent after the previous round's start was acknowledged).
	RoundStart bool

	// Written by the algorithm.
	Cwnd       int    // congestion window, bytes
	Ssthresh   int    // slow-start threshold, bytes
	PacingRate uint64 // bytes per second; 0 means "core default" (unpaced or cwnd/srtt-based)
	// SendQuantum is the largest burst the pacer may release at once, in
	// bytes; 0 lets the core size it from the pacing rate.
	SendQuantum int
	// MaxPacingRate caps PacingRate (SO_MAX_PACING_RATE); 0 is no cap. Set by the user.
	MaxPacingRate uint64
}

// InitialSsthresh is the "infinite" slow-start threshold of a new connection.
const InitialSsthresh = 1 << 30

// CongestionControl is a congestion-control algorithm for one connection.
type CongestionControl interface {
	// Name is the registered name, as in tcp_congestion_control.
	Name() string
	// Init is called once, when the connection is established (or when the
	// algorithm is switched on a live connection). The core has set Cwnd to
	// the initial window (RFC 6928) and Ssthresh to InitialSsthresh.
	Init(c *CCState)
	// SsThresh returns the slow-start threshold to use after a loss is
	// detected (on entering Recovery or Loss). Called before SetState.
	SsThresh(c *CCState) int
	// CongAvoid grows the window on an ACK that acknowledged acked new bytes
	// while the core is not recovering. rs is this ACK's rate sample.
	CongAvoid(c *CCState, acked int, rs *RateSample)
	// SetState is called when the loss-recovery state changes.
	SetState(c *CCState, st CAState)
	// OnEvent is called for the events listed with CCEvent.
	OnEvent(c *CCState, ev CCEvent)
}

// Controller is implemented by model-based algorithms (BBR) that own cwnd and
// the pacing rate in every state: the core calls CongControl once per ACK,
// after loss marking and rate sampling, and does not run PRR or CongAvoid.
type Controller interface {
	CongControl(c *CCState, rs *RateSample)
}

// Undoer is implemented by algorithms that can restore their state when a
// window reduction turns out to have been spurious (DSACK / timestamps).
type Undoer interface {
	UndoCwnd(c *CCState) int
}

// CCInfo is what an algorithm reports for introspection (ss -ti).
type CCInfo struct {
	Mode       string        // e.g. BBR's "startup", "drain", "probe_bw", "probe_rtt"
	Bandwidth  uint64        // bottleneck bandwidth estimate, bytes/s (0 if none)
	MinRTT     time.Duration // the algorithm's own min-RTT estimate
	PacingGain float64
	CwndGain   float64
	// Policed is set while BBR paces at its long-term rate because it
	// believes a token-bucket policer is on the path (lt_bw in Linux).
	Policed bool
	// InflightHi is a cap on cwnd set after congestive loss (ustack's
	// BBR; BBR v2's inflight_hi), bytes; 0 if none.
	InflightHi int
}

// Reporter is implemented by algorithms that expose internal state.
type Reporter interface {
	Info() CCInfo
}

// SendBufferExpander is implemented by algorithms that want the send
// buffer to hold more than two congestion windows (Linux
// tcp_congestion_ops.sndbuf_expand; BBR asks for three).
type SendBufferExpander interface {
	SendBufferExpand() int
}

var (
	ccMu       sync.RWMutex
	ccRegistry = map[string]func() CongestionControl{}
)

// RegisterCongestionControl makes an algorithm selectable by name. It panics
// if the name is registered twice (a programming error at init time).
func RegisterCongestionControl(name string, factory func() CongestionControl) {
	ccMu.Lock()
	defer ccMu.Unlock()
	if _, dup := ccRegistry[name]; dup {
		panic("tcp: congestion control " + name + " registered twice")
	}
	ccRegistry[name] = factory
}

// NewCongestionControl returns a fresh instance of the named algorithm.
func NewCongestionControl(name string) (CongestionControl, error) {
	ccMu.RLock()
	f, ok := ccRegistry[name]
	ccMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("tcp: unknown congestion control %q (available: %v)", name, CongestionControls())
	}
	return f(), nil
}

// CongestionControls lists the registered algorithm names, sorted.
func CongestionControls() []string {
	ccMu.RLock()
	defer ccMu.RUnlock()
	names := make([]string, 0, len(ccRegistry))
	for n := range ccRegistry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
