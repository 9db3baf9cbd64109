package cc

// BBR v1 congestion control ("BBR: Congestion-Based Congestion Control",
// Cardwell et al., ACM Queue 2016; draft-cardwell-iccrg-bbr-congestion-
// control), behaving as Linux's net/ipv4/tcp_bbr.c.
//
// On each ACK BBR updates a model of the path:
//
//	bottleneck_bw = windowed_max(delivery rate, 10 packet-timed round trips)
//	min_rtt       = windowed_min(rtt, 10 seconds)
//
// and sets
//
//	pacing_rate = pacing_gain * bottleneck_bw * 99%
//	cwnd        = max(cwnd_gain * bottleneck_bw * min_rtt + allowances, 4 packets)
//
// moving through the modes STARTUP -> DRAIN -> PROBE_BW <-> PROBE_RTT.
//
// Differences from Linux, all because of this stack's conventions:
//   - Units are bytes and bytes/second rather than packets and packets/µs
//     scaled by 2^24 (BW_SCALE). Where Linux counts packets (minimum cwnd,
//     TSO segments, quantization budget, initial cwnd) this code uses that
//     many c.MSS-sized packets. Gains keep Linux's 8-bit fixed point
//     (BBR_UNIT = 256) so the arithmetic matches.
//   - Times are clock.Time nanoseconds rather than jiffies, µs stamps and ms
//     stamps, so comparisons are finer grained than Linux's.
//   - Linux uses tp->delivered_mstamp (time of the latest delivery) as "now"
//     for gain-cycle, ACK-aggregation and long-term sampling stamps; this
//     code uses c.Now, the time the ACK is processed.
//   - The core sends without an earliest-departure-time queue, so
//     bbr_packets_in_net_at_edt's (EDT - now) term is zero here.
//   - In PROBE_RTT Linux marks the connection application-limited
//     (tp->app_limited) so the low-rate samples it causes cannot pollute the
//     model. The CCState's AppLimited is read-only here, so BBR remembers
//     the same "bubble" of sequence space itself and treats samples from
//     segments sent inside it as application-limited (see probeRTTAppLimited).
//   - The send quantum (bbr_tso_segs_goal) is capped at 64 KiB rather than
//     GSO_MAX_SIZE - 1 - MAX_TCP_HEADER.
//
// Deliberate differences in behaviour, each measured where it is defined:
//   - In PROBE_BW the pacing rate is raised by an estimate of the random
//     (non-congestive) loss rate, 1% to 5%, so that random loss does not
//     leave the link idle (updateLossComp, lossCompensated).
//   - Long-term (policer) sampling ignores lossy intervals that came with
//     a standing queue (ltBWSampling, bbrLTQueueShift).
//   - Registered separately as "bbr-hi", not in "bbr": after a round of
//     congestive loss (loss with a standing queue), cwnd is capped at 0.7 ×
//     in-flight and the cap regrows by a few packets a round, as BBR v2's
//     inflight_hi, so that flows sharing a shallow buffer converge instead
//     of holding their shares (updateInflightHi).

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/ustack/ustack/clock"
	"github.com/ustack/ustack/tcp"
)

func init() {
	tcp.RegisterCongestionControl("bbr", func() tcp.CongestionControl { return NewBBR(bbrNextSeed()) })
	tcp.RegisterCongestionControl("bbr-hi", func() tcp.CongestionControl { return NewBBRHi(bbrNextSeed()) })
}

var (
	_ tcp.CongestionControl = (*BBR)(nil)
	_ tcp.Controller        = (*BBR)(nil)
	_ tcp.Reporter          = (*BBR)(nil)
	_ tcp.Undoer            = (*BBR)(nil)
)

// bbrSeedCounter makes the registered factory's seeds deterministic: the
// n-th BBR connection created through the registry gets the n-th seed.
var bbrSeedCounter atomic.Uint64

func bbrNextSeed() uint64 {
	return bbrSeedCounter.Add(1) * 0x9e3779b97f4a7c15
}

// Constants, named and valued as in tcp_bbr.c.
const (
	bbrScale = 8 // BBR_SCALE: fixed-point scale of gains and fractions
	bbrUnit  = 1 << bbrScale

	bbrCycleLen = 8 // CYCLE_LEN: phases in a pacing gain cycle

	// Window length of the bw filter, in rounds.
	bbrBWRtts = bbrCycleLen + 2
	// Window length of the min_rtt filter, in seconds.
	bbrMinRTTWinSec = 10
	// Minimum time spent at bbrCwndMinTarget in PROBE_RTT, in ms.
	bbrProbeRTTModeMs = 200
	// Below this pacing rate (bits/s) send single-segment bursts.
	bbrMinTSORate = 1200000
	// Pace ~1% below the estimated bw to keep the bottleneck queue small.
	bbrPacingMarginPercent = 1

	// 2/ln(2): the smallest gain that doubles the sending rate each round.
	bbrHighGain = bbrUnit*2885/1000 + 1
	// 1/high_gain: drains STARTUP's queue in about one round.
	bbrDrainGain = bbrUnit * 1000 / 2885
	// Steady-state cwnd gain, tolerating delayed/stretched ACKs.
	bbrCwndGain = bbrUnit * 2
	// Randomize the starting gain-cycle phase over this many phases.
	bbrCycleRand = 7

	// Minimum cwnd target, in packets (Linux: bbr_cwnd_min_target).
	bbrCwndMinTarget = 4

	// Full pipe: bw must grow by 25% ...
	bbrFullBWThresh = bbrUnit * 5 / 4
	// ... within this many rounds, or STARTUP has filled the pipe.
	bbrFullBWCnt = 3

	// Long-term ("LT") bandwidth estimator (policer detection).
	bbrLTIntvlMinRtts = 4           // min rounds in an LT sampling interval
	bbrLTLossThresh   = 50          // lossy if lost/delivered >= 50/256 (~20%)
	bbrLTBWRatio      = bbrUnit / 8 // consistent if bw differs by <= 1/8 ...
	bbrLTBWDiff       = 4000 / 8    // ... or by <= 4 kbit/s, i.e. 500 bytes/s
	bbrLTBWMaxRtts    = 48          // use lt_bw for this many rounds
	// Not in Linux: a lossy LT interval is not a policer's if its smallest
	// RTT sample exceeded min_rtt by min_rtt>>bbrLTQueueShift (a quarter).
	// Linux counts such intervals; with several flows in a full drop-tail
	// queue, or a late-comer overshooting into one, that takes the
	// overflow for a policer and stops the flow's bandwidth probing for 48
	// rounds, which stalls convergence to a fair share.
	bbrLTQueueShift = 2

	// Congestive-loss bound (not in Linux v1; see updateInflightHi).
	bbrHiLossThresh      = 5                // congestive round: lost/(lost+delivered) >= 5/256 (~2%), any loss once capped ...
	bbrHiQueueShift      = 2                // ... and its smallest RTT > base RTT * (1 + 1/4)
	bbrHiBeta            = bbrUnit * 7 / 10 // cut to 0.7 x in-flight
	bbrHiMaxGrowthQueued = 16               // regrowth, packets per round, with a standing queue
	bbrHiMaxGrowthFree   = 8                // ... and without

	// ACK aggregation allowance.
	bbrExtraAckedGain           = bbrUnit    // gain on extra_acked added to cwnd
	bbrExtraAckedWinRtts        = 5          // extra_acked window half-length, rounds
	bbrAckEpochAckedResetThresh = 1 << 20    // packets (times MSS here); restart the epoch
	bbrExtraAckedMaxUs          = 100 * 1000 // cap extra_acked at 100 ms of bw

	// Random-loss compensation of the PROBE_BW pacing rate (not in Linux;
	// see updateLossComp): the smoothed per-round loss fraction, in
	// 1/bbrLossScale, counted only from rounds that saw no queue (min RTT
	// sample of the round within 1/8 of min_rtt), capped at 5%.
	bbrLossScale      = 1 << 16
	bbrLossCompMin    = bbrLossScale * 1 / 100 // below 1%, not worth it
	bbrLossCompMax    = bbrLossScale * 5 / 100
	bbrLossQueueShift = 3 // "no queue": round's min RTT <= min_rtt * (1 + 1/8)
	bbrLossEWMAShift  = 3 // EWMA weight 1/8 per round
	// ... and applied only if the last 1.25 probe built a queue: an RTT
	// sample above min_rtt * (1 + 1/16) in gain phases 0 to 2.
	bbrLossProbeShift = 4
	bbrLossProbeEnd   = 3 // gain phase at which the probe is judged

	// TCP_INIT_CWND, packets: cwnd cap while no RTT sample exists.
	bbrTCPInitCwnd = 10
	// sk_pacing_shift default: a send quantum of rate>>10, about 1 ms.
	bbrPacingShift = 10
	// Largest send quantum, bytes (Linux: GSO_MAX_SIZE - 1 - MAX_TCP_HEADER).
	bbrMaxSendQuantum = 64 << 10
	// Largest send quantum, segments (Linux: 0x7F).
	bbrMaxTSOSegs = 0x7F
)

// bbrPacingGain is the PROBE_BW gain cycle.
var bbrPacingGain = [bbrCycleLen]int{
	bbrUnit * 5 / 4,           // probe for more available bw
	bbrUnit * 3 / 4,           // drain queue and/or yield bw to other flows
	bbrUnit, bbrUnit, bbrUnit, // cruise at 1.0*bw to utilize pipe,
	bbrUnit, bbrUnit, bbrUnit, // without creating excess queue...
}

type bbrMode uint8

const (
	bbrStartup  bbrMode = iota // ramp up sending rate rapidly to fill pipe
	bbrDrain                   // drain any queue created during startup
	bbrProbeBW                 // discover, share bw: pace around estimated bw
	bbrProbeRTT                // cut inflight to min to probe min_rtt
)

func (m bbrMode) String() string {
	switch m {
	case bbrStartup:
		return "startup"
	case bbrDrain:
		return "drain"
	case bbrProbeBW:
		return "probe_bw"
	case bbrProbeRTT:
		return "probe_rtt"
	}
	return "unknown"
}

// bbrNoRTT marks "no min_rtt sample yet" (Linux: min_rtt_us == ~0U).
const bbrNoRTT = time.Duration(math.MaxInt64)

// bbrRound is what one packet-timed round saw.
type bbrRound struct {
	lost, delivered uint64        // bytes marked lost and delivered in the round
	minRTT          time.Duration // smallest RTT sample in the round
	hasRTT          bool          // minRTT is valid
	dur             time.Duration // from the round's start to the next's
}

// pipe is what the round delivered per rtt (its delivery rate × rtt),
// in bytes; 0 for a round without a length.
func (r bbrRound) pipe(rtt time.Duration) int {
	if r.dur <= 0 || rtt <= 0 || rtt == bbrNoRTT {
		return 0
	}
	return bbrClampInt(bbrMulDiv(r.delivered, uint64(rtt), uint64(r.dur), false))
}

// BBR is BBR v1 congestion control for one connection. Create it with NewBBR
// or through the registry as "bbr".
type BBR struct {
	// OnModeChange, if set, is called synchronously whenever the mode
	// changes (from and to are "startup", "drain", "probe_bw" or
	// "probe_rtt"), at the time of the ACK or event that caused it and
	// before that ACK's cwnd and pacing rate are set. For traces and tests.
	OnModeChange func(now clock.Time, from, to string)

	rng uint64 // splitmix64 state, for the gain-cycle start phase

	mode bbrMode

	minRTT            time.Duration // min RTT in the bbrMinRTTWinSec window
	minRTTStamp       clock.Time    // when minRTT was taken
	probeRTTDoneStamp clock.Time    // end time for PROBE_RTT mode
	probeRTTDoneSet   bool          // probeRTTDoneStamp is valid (Linux: != 0)
	probeRTTRoundDone bool          // a PROBE_RTT round at 4 packets done?

	bw               winMinMax // max recent delivery rate, bytes/s, over rounds
	rttCnt           uint64    // packet-timed rounds elapsed
	nextRTTDelivered uint64    // c.Delivered at the end of the current round
	roundStart       bool      // this ACK starts a new packet-timed round

	cycleStamp clock.Time // start of the current gain-cycle phase
	cycleIdx   int        // index into bbrPacingGain

	prevCAState        tcp.CAState // CA state on the previous ACK
	packetConservation bool        // in the first round of recovery
	idleRestart        bool        // restarting after idle
	priorCwnd          int         // cwnd before loss recovery or PROBE_RTT

	pacingGain int // current pacing gain, BBR_UNIT fixed point
	cwndGain   int // current cwnd gain, BBR_UNIT fixed point
	hasSeenRTT bool
	pacingRate uint64 // bytes/s: what Linux keeps in sk_pacing_rate

	fullBWReached bool   // STARTUP filled the pipe
	fullBWCnt     int    // rounds without large bw gains
	fullBW        uint64 // recent bw, to estimate whether the pipe is full

	ltIsSampling    bool          // taking long-term samples now
	ltRTTCnt        int           // rounds in the long-term interval
	ltUseBW         bool          // use ltBW as the bw estimate
	ltBW            uint64        // long-term delivery rate, bytes/s
	ltLastDelivered uint64        // LT interval start: c.Delivered
	ltLastLost      uint64        // LT interval start: c.Lost
	ltLastStamp     clock.Time    // LT interval start time
	ltMinRTT        time.Duration // smallest RTT sample in the LT interval (-1: none)

	ackEpochStamp     clock.Time // start of the ACK sampling epoch
	ackEpochAcked     int        // bytes (S)ACKed in the epoch
	extraAcked        [2]int     // max excess bytes ACKed in each half window
	extraAckedWinRtts int        // age of extraAcked, in rounds
	extraAckedWinIdx  int        // current index into extraAcked

	// Per-round loss and RTT accounting (see trackRound), shared by the
	// random-loss compensation and the congestive-loss bound.
	roundLastLost  uint64        // c.Lost at the start of the current round
	roundLastDeliv uint64        // c.Delivered at the start of the current round
	roundMinRTT    time.Duration // smallest RTT sample in the current round
	roundStamp     clock.Time    // when the current round started
	roundHasRTT    bool          // roundMinRTT is valid
	prevRound      bbrRound      // the round that ended at the last round start

	// Congestive-loss bound (see updateInflightHi); only in "bbr-hi".
	hiEnabled   bool
	inflightHi  int  // cap on cwnd after congestive loss, bytes; 0: none
	hiGrowth    int  // next per-round raise of inflightHi, packets
	hiBinding   bool // the cap held cwnd below BBR's target this round
	hiCutRecent bool // inflightHi was cut at the start of the current round
	hiDriven    bool // the cap, not the model, set the rate on the last ACK

	// Random-loss compensation (see updateLossComp).
	lossComp      int           // smoothed random-loss fraction, 1/bbrLossScale
	lcProbeMaxRTT time.Duration // largest RTT sample in gain phases 0-2
	lcProbeQueued bool          // the last bw probe built a queue

	// PROBE_RTT application-limited bubble: segments sent while
	// c.Delivered was in [alStart, alEnd] after PROBE_RTT began yield
	// app-limited samples, as if Linux's tp->app_limited had been set.
	alActive bool
	alStart  uint64
	alEnd    uint64
}

// NewBBR returns a BBR instance whose random gain-cycle start phases come
// from a generator seeded with seed, so runs are reproducible.
func NewBBR(seed uint64) *BBR {
	return &BBR{rng: seed, minRTT: bbrNoRTT, mode: bbrStartup}
}

// NewBBRHi returns BBR with the congestive-loss bound (updateInflightHi),
// registered as "bbr-hi": flows that share a shallow buffer converge
// instead of keeping whatever share their STARTUP left them, at a cost in
// goodput under random loss (see updateInflightHi).
func NewBBRHi(seed uint64) *BBR {
	b := NewBBR(seed)
	b.hiEnabled = true
	return b
}

// Reseed restarts the generator of random gain-cycle start phases from
// seed. The registry's factory seeds instances in creation order, which
// depends on everything created earlier in the process; simulations call
// this on a new connection to be reproducible on their own.
func (b *BBR) Reseed(seed uint64) { b.rng = seed }

// Name implements tcp.CongestionControl.
func (b *BBR) Name() string {
	if b.hiEnabled {
		return "bbr-hi"
	}
	return "bbr"
}

// Init implements tcp.CongestionControl (bbr_init).
func (b *BBR) Init(c *tcp.CCState) {
	b.priorCwnd = 0
	c.Ssthresh = tcp.InitialSsthresh
	b.rttCnt = 0
	b.nextRTTDelivered = 0 // as Linux: the first valid sample starts a round
	b.prevCAState = tcp.CAOpen
	b.packetConservation = false

	b.probeRTTDoneSet = false
	b.probeRTTRoundDone = false
	b.minRTT = bbrNoRTT
	if c.MinRTT > 0 {
		b.minRTT = c.MinRTT
	}
	b.minRTTStamp = c.Now

	b.bw.reset(b.rttCnt, 0)

	b.hasSeenRTT = false
	b.initPacingRateFromRTT(c)

	b.roundStart = false
	b.idleRestart = false
	b.fullBWReached = false
	b.fullBW = 0
	b.fullBWCnt = 0
	b.cycleStamp = 0
	b.cycleIdx = 0
	b.resetLTBWSampling(c)
	b.mode = bbrStartup // bbr_reset_startup_mode; not reported as a change

	b.ackEpochStamp = c.Now
	b.ackEpochAcked = 0
	b.extraAckedWinRtts = 0
	b.extraAckedWinIdx = 0
	b.extraAcked = [2]int{}
	b.alActive = false
	b.roundLastLost, b.roundLastDeliv = c.Lost, c.Delivered
	b.roundHasRTT = false
	b.prevRound = bbrRound{}
	b.inflightHi = 0
	b.hiGrowth = 0
	b.hiBinding = false
	b.hiCutRecent = false
	b.lossComp = 0
	b.lcProbeMaxRTT = 0
	b.lcProbeQueued = false

	// Linux leaves the gains 0 until the first ACK; set them now so Info
	// is meaningful before then. Nothing reads them before the first ACK.
	b.updateGains()
	b.publish(c)
}

// SsThresh implements tcp.CongestionControl (bbr_ssthresh): BBR does not
// cut its window on loss; it saves cwnd to restore after recovery and
// leaves ssthresh unchanged (infinite, or the value set on entering DRAIN).
func (b *BBR) SsThresh(c *tcp.CCState) int {
	b.saveCwnd(c)
	return c.Ssthresh
}

// CongAvoid implements tcp.CongestionControl. BBR is a tcp.Controller and
// sets cwnd in CongControl on every ACK, so there is nothing to do here.
func (b *BBR) CongAvoid(c *tcp.CCState, acked int, rs *tcp.RateSample) {}

// SetState implements tcp.CongestionControl (bbr_set_state).
func (b *BBR) SetState(c *tcp.CCState, st tcp.CAState) {
	if st == tcp.CALoss {
		b.prevCAState = tcp.CALoss
		b.fullBW = 0
		b.roundStart = true // treat RTO like the end of a round
		b.ltBWSampling(c, 1, false, -1)
		b.publish(c)
	}
}

// OnEvent implements tcp.CongestionControl (bbr_cwnd_event). Only
// EventTxStart matters to BBR; an RTO is handled through SetState(CALoss).
func (b *BBR) OnEvent(c *tcp.CCState, ev tcp.CCEvent) {
	if ev != tcp.EventTxStart || !b.appLimitedNow(c) {
		return
	}
	b.idleRestart = true
	b.ackEpochStamp = c.Now
	b.ackEpochAcked = 0
	// Avoid pointless buffer overflows: pace at the estimated bw if we
	// don't need more speed (restarting from idle and app-limited).
	switch b.mode {
	case bbrProbeBW:
		b.setPacingRate(c, b.bwEstimate(), bbrUnit)
	case bbrProbeRTT:
		b.checkProbeRTTDone(c)
	}
	b.publish(c)
}

// UndoCwnd implements tcp.Undoer (bbr_undo_cwnd): a spurious slow-down
// resets full-pipe detection and long-term sampling; cwnd is kept, and
// (not in Linux v1) the congestive-loss cap is lifted.
func (b *BBR) UndoCwnd(c *tcp.CCState) int {
	b.fullBW = 0
	b.fullBWCnt = 0
	b.resetLTBWSampling(c)
	b.inflightHi = 0 // the losses that set it were not losses
	return c.Cwnd
}

// Info implements tcp.Reporter. Bandwidth is the estimate the model uses,
// as Linux's bbr_get_info: the windowed max filter, or the long-term
// (policed) rate while one is in use.
func (b *BBR) Info() tcp.CCInfo {
	var minRTT time.Duration
	if b.minRTT != bbrNoRTT {
		minRTT = b.minRTT
	}
	return tcp.CCInfo{
		Mode:       b.mode.String(),
		Bandwidth:  b.bwEstimate(),
		MinRTT:     minRTT,
		PacingGain: float64(b.pacingGain) / bbrUnit,
		CwndGain:   float64(b.cwndGain) / bbrUnit,
		Policed:    b.ltUseBW,
		InflightHi: b.inflightHi,
	}
}

// CongControl implements tcp.Controller (bbr_main).
// SendBufferExpand asks for a send buffer of three congestion windows
// (bbr_sndbuf_expand): PROBE_BW's pacing gain 1.25 and packet-conserving
// recovery need more than the two a window-based algorithm does.
func (b *BBR) SendBufferExpand() int { return 3 }

func (b *BBR) CongControl(c *tcp.CCState, rs *tcp.RateSample) {
	b.updateModel(c, rs)
	bw := b.bwEstimate()
	b.hiDriven = false
	if r := b.hiRate(c); r > bw {
		bw = r // window-driven: see updateInflightHi
		b.hiDriven = true
	}
	b.setPacingRate(c, b.lossCompensated(bw), b.pacingGain)
	b.setCwnd(c, rs, rs.AckedSacked, bw, b.cwndGain)
	b.publish(c)
}

// publish writes the pacing rate and send quantum into the CCState.
func (b *BBR) publish(c *tcp.CCState) {
	c.PacingRate = b.pacingRate
	c.SendQuantum = b.tsoSegsGoal(c) * c.MSS
}

func (b *BBR) setMode(c *tcp.CCState, m bbrMode) {
	if m == b.mode {
		return
	}
	from := b.mode
	b.mode = m
	if b.OnModeChange != nil {
		b.OnModeChange(c.Now, from.String(), m.String())
	}
}

// rand returns a pseudo-random integer in [0, n) (prandom_u32_max).
func (b *BBR) rand(n uint32) uint32 {
	b.rng += 0x9e3779b97f4a7c15
	z := b.rng
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return uint32((uint64(uint32(z>>32)) * uint64(n)) >> 32)
}

// bbrMulDiv returns a*b/d (rounded up if roundUp), computed in 128 bits and
// saturating at MaxUint64.
func bbrMulDiv(a, b, d uint64, roundUp bool) uint64 {
	hi, lo := bits.Mul64(a, b)
	if hi >= d {
		return math.MaxUint64
	}
	q, r := bits.Div64(hi, lo, d)
	if roundUp && r != 0 && q < math.MaxUint64 {
		q++
	}
	return q
}

func bbrClampInt(v uint64) int {
	if v > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(v)
}

// maxBW is the windowed max recent bandwidth sample, bytes/s.
func (b *BBR) maxBW() uint64 { return b.bw.get() }

// bwEstimate is the estimated bandwidth of the path, bytes/s (bbr_bw).
func (b *BBR) bwEstimate() uint64 {
	if b.ltUseBW {
		return b.ltBW
	}
	return b.maxBW()
}

// extraAckedMax is the max extra bytes acked in the past 5-10 rounds.
func (b *BBR) extraAckedMax() int { return max(b.extraAcked[0], b.extraAcked[1]) }

// bbrRateBytesPerSec applies a gain and the pacing margin to a rate
// (bbr_rate_bytes_per_sec).
func bbrRateBytesPerSec(rate uint64, gain int) uint64 {
	return bbrMulDiv(rate, uint64(gain)*(100-bbrPacingMarginPercent), bbrUnit*100, false)
}

// bbrBWToPacingRate converts a bw and gain to a pacing rate, capped by the
// user's maximum pacing rate.
func bbrBWToPacingRate(c *tcp.CCState, bw uint64, gain int) uint64 {
	rate := bbrRateBytesPerSec(bw, gain)
	if c.MaxPacingRate > 0 {
		rate = min(rate, c.MaxPacingRate)
	}
	return rate
}

// initPacingRateFromRTT sets the pacing rate to high_gain * cwnd / RTT,
// using SRTT or a nominal 1 ms if there is no RTT sample yet.
func (b *BBR) initPacingRateFromRTT(c *tcp.CCState) {
	rtt := time.Millisecond
	if c.SRTT > 0 {
		rtt = max(c.SRTT, time.Microsecond)
		b.hasSeenRTT = true
	}
	bw := bbrMulDiv(uint64(max(c.Cwnd, 0)), uint64(time.Second), uint64(rtt), false)
	b.pacingRate = bbrBWToPacingRate(c, bw, bbrHighGain)
}

// setPacingRate paces at bw*gain, but lowers the rate only once STARTUP has
// filled the pipe (bbr_set_pacing_rate).
func (b *BBR) setPacingRate(c *tcp.CCState, bw uint64, gain int) {
	rate := bbrBWToPacingRate(c, bw, gain)
	if !b.hasSeenRTT && c.SRTT > 0 {
		b.initPacingRateFromRTT(c)
	}
	if b.fullBWReached || rate > b.pacingRate {
		b.pacingRate = rate
	}
}

// minTSOSegs is bbr_min_tso_segs: single segments below bbrMinTSORate.
func (b *BBR) minTSOSegs() int {
	if b.pacingRate < bbrMinTSORate>>3 {
		return 1
	}
	return 2
}

// tsoSegsGoal is the send quantum in segments (bbr_tso_segs_goal): about
// 1 ms of data at the pacing rate, at least minTSOSegs, at most 64 KiB.
func (b *BBR) tsoSegsGoal(c *tcp.CCState) int {
	if c.MSS <= 0 {
		return b.minTSOSegs()
	}
	bytes := min(b.pacingRate>>bbrPacingShift, bbrMaxSendQuantum)
	segs := max(int(bytes)/c.MSS, b.minTSOSegs())
	return min(segs, bbrMaxTSOSegs)
}

// saveCwnd saves the "last known good" cwnd to restore after losses or
// PROBE_RTT.
func (b *BBR) saveCwnd(c *tcp.CCState) {
	if b.prevCAState < tcp.CARecovery && b.mode != bbrProbeRTT {
		b.priorCwnd = c.Cwnd // this cwnd is good enough
	} else { // loss recovery or PROBE_RTT have temporarily cut cwnd
		b.priorCwnd = max(b.priorCwnd, c.Cwnd)
	}
}

// bdp is ceil(bw * min_rtt * gain) in bytes, or the initial window if
// there has been no RTT sample.
func (b *BBR) bdp(c *tcp.CCState, bw uint64, gain int) int {
	if b.minRTT == bbrNoRTT {
		return bbrTCPInitCwnd * c.MSS
	}
	w := uint64(b.minRTT) * uint64(gain)
	return bbrClampInt(bbrMulDiv(bw, w, bbrUnit*uint64(time.Second), true))
}

// quantizationBudget adds room for full-sized bursts in flight at both end
// hosts, rounds up to an even number of packets, and makes sure PROBE_BW's
// 1.25 phase can raise inflight above the BDP even for small BDPs.
func (b *BBR) quantizationBudget(c *tcp.CCState, cwnd int) int {
	mss := max(c.MSS, 1)
	cwnd += 3 * b.tsoSegsGoal(c) * mss
	// Reduce delayed ACKs by rounding up to the next even number of packets.
	pkts := (cwnd + mss - 1) / mss
	pkts = (pkts + 1) &^ 1
	cwnd = pkts * mss
	if b.mode == bbrProbeBW && b.cycleIdx == 0 {
		cwnd += 2 * mss
	}
	return cwnd
}

// inflight is the in-flight target for a bw and gain.
func (b *BBR) inflight(c *tcp.CCState, bw uint64, gain int) int {
	return b.quantizationBudget(c, b.bdp(c, bw, gain))
}

// inNetAtEDT estimates what will be in the network when the next burst
// departs. The core has no earliest-departure-time queue, so EDT == now and
// only the burst itself is added when inflight is increasing.
func (b *BBR) inNetAtEDT(c *tcp.CCState, inflightNow int) int {
	if b.pacingGain > bbrUnit {
		return inflightNow + b.tsoSegsGoal(c)*c.MSS
	}
	return inflightNow
}

// ackAggregationCwnd is the cwnd increment for estimated ACK aggregation,
// capped at 100 ms of data at the estimated bw.
func (b *BBR) ackAggregationCwnd() int {
	if bbrExtraAckedGain == 0 || !b.fullBWReached {
		return 0
	}
	maxAggr := bbrClampInt(bbrMulDiv(b.bwEstimate(), bbrExtraAckedMaxUs, 1e6, false))
	aggr := bbrExtraAckedGain * b.extraAckedMax() >> bbrScale
	return min(aggr, maxAggr)
}

// setCwndToRecoverOrRestore does packet conservation in the first round
// of recovery and restores the saved cwnd when recovery ends. It returns
// the new cwnd and whether packet conservation applies.
func (b *BBR) setCwndToRecoverOrRestore(c *tcp.CCState, rs *tcp.RateSample, acked int) (int, bool) {
	prev, state := b.prevCAState, c.CAState
	cwnd := c.Cwnd

	// An ACK for P bytes should release at most 2*P. First deduct what
	// was lost here; setCwnd then slow-starts toward the target.
	if rs.Losses > 0 {
		cwnd = max(cwnd-rs.Losses, c.MSS) // Linux: at least 1 packet
	}

	if state == tcp.CARecovery && prev != tcp.CARecovery {
		// Starting the first round of recovery: packet conservation.
		b.packetConservation = true
		b.nextRTTDelivered = c.Delivered // start a round now
		// Cut unused cwnd from app behavior or burst deferral.
		cwnd = c.InFlight + acked
	} else if prev >= tcp.CARecovery && state < tcp.CARecovery {
		// Exiting loss recovery: restore the cwnd saved before it.
		cwnd = max(cwnd, b.priorCwnd)
		b.packetConservation = false
	}
	b.prevCAState = state

	if b.packetConservation {
		return max(cwnd, c.InFlight+acked), true
	}
	return cwnd, false
}

// setCwnd slow-starts cwnd toward the target (if bw is still growing, or
// loss drew cwnd below target), or snaps down to target once the pipe is
// known to be full.
func (b *BBR) setCwnd(c *tcp.CCState, rs *tcp.RateSample, acked int, bw uint64, gain int) {
	cwnd := c.Cwnd
	if acked > 0 {
		var conserving bool
		cwnd, conserving = b.setCwndToRecoverOrRestore(c, rs, acked)
		if !conserving {
			target := b.bdp(c, bw, gain)
			// Allow for data and/or ACK aggregation seen in the ACK stream.
			target += b.ackAggregationCwnd()
			target = b.quantizationBudget(c, target)

			if b.fullBWReached { // only cut cwnd once the pipe is full
				cwnd = min(cwnd+acked, target)
			} else if cwnd < target || c.Delivered < uint64(bbrTCPInitCwnd*c.MSS) {
				cwnd += acked
			}
			cwnd = max(cwnd, bbrCwndMinTarget*c.MSS)
		}
	}
	if b.inflightHi > 0 && cwnd > b.inflightHi {
		cwnd = max(b.inflightHi, bbrCwndMinTarget*c.MSS)
		b.hiBinding = true
	}
	c.Cwnd = cwnd
	if b.mode == bbrProbeRTT { // drain queue, refresh min_rtt
		c.Cwnd = min(c.Cwnd, bbrCwndMinTarget*c.MSS)
	}
}

// isNextCyclePhase reports whether the current gain-cycle phase is over.
func (b *BBR) isNextCyclePhase(c *tcp.CCState, rs *tcp.RateSample) bool {
	isFullLength := c.Now.Sub(b.cycleStamp) > b.minRTT

	// Gain 1.0 paces at the estimated bw: just use time.
	if b.pacingGain == bbrUnit {
		return isFullLength
	}

	inflight := b.inNetAtEDT(c, rs.PriorInFlight)
	bw := b.maxBW()

	// Gain > 1.0 probes for bw by raising inflight to at least gain*BDP;
	// this may take longer than min_rtt if min_rtt is small. Don't persist
	// when losing packets: a path with small buffers may not hold that much.
	if b.pacingGain > bbrUnit {
		return isFullLength && (rs.Losses > 0 || inflight >= b.inflight(c, bw, b.pacingGain))
	}

	// Gain < 1.0 drains the queue the probe may have built: stop once
	// inflight is down to the BDP, to avoid underusing the pipe.
	return isFullLength || inflight <= b.inflight(c, bw, bbrUnit)
}

func (b *BBR) advanceCyclePhase(c *tcp.CCState) {
	b.cycleIdx = (b.cycleIdx + 1) & (bbrCycleLen - 1)
	b.cycleStamp = c.Now
	if b.cycleIdx == bbrLossProbeEnd {
		// The ACKs of the 1.25 probe have arrived: did it queue?
		b.lcProbeQueued = b.queuedOver(b.lcProbeMaxRTT, bbrLossProbeShift)
		b.lcProbeMaxRTT = 0
	}
}

// queuedOver reports whether an RTT sample exceeds min_rtt by more than
// min_rtt>>shift: a standing queue of at least that much. False before the
// first min_rtt sample. The policer and loss-compensation tests below each
// use it with their own shift; the congestive-loss test measures from a
// base RTT that may be lower (updateInflightHi).
func (b *BBR) queuedOver(rtt time.Duration, shift uint) bool {
	return queuedAbove(rtt, b.minRTT, shift)
}

// queuedAbove reports whether rtt exceeds base by more than base>>shift;
// false while base is bbrNoRTT (no sample yet).
func queuedAbove(rtt, base time.Duration, shift uint) bool {
	return base != bbrNoRTT && rtt > base+base>>shift
}

// updateCyclePhase does gain cycling to converge on a fair share of bw.
func (b *BBR) updateCyclePhase(c *tcp.CCState, rs *tcp.RateSample) {
	if b.mode == bbrProbeBW && b.isNextCyclePhase(c, rs) {
		b.advanceCyclePhase(c)
	}
}

// resetProbeBWMode enters PROBE_BW at a random phase other than the 0.75
// drain phase (index 1).
func (b *BBR) resetProbeBWMode(c *tcp.CCState) {
	b.setMode(c, bbrProbeBW)
	b.cycleIdx = bbrCycleLen - 1 - int(b.rand(bbrCycleRand))
	b.advanceCyclePhase(c) // flip to the next phase of the gain cycle
}

func (b *BBR) resetMode(c *tcp.CCState) {
	if !b.fullBWReached {
		b.setMode(c, bbrStartup)
	} else {
		b.resetProbeBWMode(c)
	}
}

// resetLTBWSamplingInterval starts a new long-term sampling interval.
func (b *BBR) resetLTBWSamplingInterval(c *tcp.CCState) {
	b.ltLastStamp = c.Now
	b.ltLastDelivered = c.Delivered
	b.ltLastLost = c.Lost
	b.ltRTTCnt = 0
	b.ltMinRTT = -1
}

// resetLTBWSampling completely resets long-term bandwidth sampling.
func (b *BBR) resetLTBWSampling(c *tcp.CCState) {
	b.ltBW = 0
	b.ltUseBW = false
	b.ltIsSampling = false
	b.resetLTBWSamplingInterval(c)
}

// ltBWIntervalDone ends a long-term sampling interval with rate bw and
// decides whether the flow is policed.
func (b *BBR) ltBWIntervalDone(c *tcp.CCState, bw uint64) {
	if b.ltBW != 0 { // bw from a previous interval?
		// Is the new bw close to the previous interval's?
		diff := max(bw, b.ltBW) - min(bw, b.ltBW)
		if diff*bbrUnit <= bbrLTBWRatio*b.ltBW ||
			bbrRateBytesPerSec(diff, bbrUnit) <= bbrLTBWDiff {
			// All criteria are met: estimate we're policed.
			b.ltBW = (bw + b.ltBW) / 2 // average the 2 intervals
			b.ltUseBW = true
			b.pacingGain = bbrUnit // try to avoid drops
			b.ltRTTCnt = 0
			return
		}
	}
	b.ltBW = bw
	b.resetLTBWSamplingInterval(c)
}

// ltBWSampling detects token-bucket policers: two consecutive sampling
// intervals of at least 4 rounds with consistent throughput and high loss
// make BBR use their average delivery rate as its bw for 48 rounds. losses,
// appLimited and rtt (negative if none) come from the rate sample.
//
// Not in Linux: an interval whose every RTT sample saw a queue of at least
// a quarter of min_rtt is not counted (see bbrLTQueueShift).
func (b *BBR) ltBWSampling(c *tcp.CCState, losses int, appLimited bool, rtt time.Duration) {
	if b.ltUseBW { // already using the long-term rate?
		if b.mode == bbrProbeBW && b.roundStart {
			b.ltRTTCnt++
			if b.ltRTTCnt >= bbrLTBWMaxRtts {
				b.resetLTBWSampling(c) // stop using lt_bw
				b.resetProbeBWMode(c)  // restart gain cycling
			}
		}
		return
	}

	// Wait for the first loss before sampling, to let the policer exhaust
	// its tokens and estimate the steady-state rate it allows.
	if !b.ltIsSampling {
		if losses == 0 {
			return
		}
		b.resetLTBWSamplingInterval(c)
		b.ltIsSampling = true
	}

	// To avoid underestimates, reset sampling if we run out of data.
	if appLimited {
		b.resetLTBWSampling(c)
		return
	}

	if b.roundStart {
		b.ltRTTCnt++ // count round trips in this interval
	}
	if rtt >= 0 && (b.ltMinRTT < 0 || rtt < b.ltMinRTT) {
		b.ltMinRTT = rtt
	}
	if b.ltRTTCnt < bbrLTIntvlMinRtts {
		return // the interval needs to be longer
	}
	if b.ltRTTCnt > 4*bbrLTIntvlMinRtts {
		b.resetLTBWSampling(c) // interval is too long
		return
	}

	// End the interval on a loss, when the policer's tokens are presumably
	// exhausted; stopping before that would under-estimate the rate.
	if losses == 0 {
		return
	}

	lost := c.Lost - b.ltLastLost
	delivered := c.Delivered - b.ltLastDelivered
	// Is the loss rate (lost/delivered) >= bbrLTLossThresh? If not, wait.
	if delivered == 0 || lost<<bbrScale < bbrLTLossThresh*delivered {
		return
	}

	// A policer drops without queueing. Losses that came with a standing
	// queue all through the interval are a shared bottleneck overflowing
	// (several flows, or a late-comer's STARTUP): not a policer.
	if b.queuedOver(b.ltMinRTT, bbrLTQueueShift) {
		b.resetLTBWSampling(c)
		return
	}

	// Average delivery rate over the interval.
	t := c.Now.Sub(b.ltLastStamp)
	if t < time.Millisecond {
		return // interval is less than one ms, so wait
	}
	bw := bbrMulDiv(delivered, uint64(time.Second), uint64(t), false)
	b.ltBWIntervalDone(c, bw)
}

// probeRTTAppLimited reports whether a sample was taken from a segment
// sent inside the PROBE_RTT app-limited bubble.
func (b *BBR) probeRTTAppLimited(rs *tcp.RateSample) bool {
	return b.alActive && rs.PriorDelivered >= b.alStart && rs.PriorDelivered <= b.alEnd
}

// sampleAppLimited is Linux's rs->is_app_limited.
func (b *BBR) sampleAppLimited(rs *tcp.RateSample) bool {
	return rs.IsAppLimited || b.probeRTTAppLimited(rs)
}

// appLimitedNow is Linux's tp->app_limited != 0.
func (b *BBR) appLimitedNow(c *tcp.CCState) bool {
	return c.AppLimited || b.alActive && c.Delivered <= b.alEnd
}

// updateBW tracks packet-timed rounds and feeds the max bw filter.
func (b *BBR) updateBW(c *tcp.CCState, rs *tcp.RateSample) {
	b.roundStart = false
	if !rs.HasRate() {
		return // not a valid observation
	}

	// Have we reached the next round trip?
	if rs.PriorDelivered >= b.nextRTTDelivered {
		b.nextRTTDelivered = c.Delivered
		b.rttCnt++
		b.roundStart = true
		b.packetConservation = false
	}

	appLimited := b.sampleAppLimited(rs)
	b.ltBWSampling(c, rs.Losses, appLimited, rs.RTT)

	// delivered/interval is a lower bound on the bottleneck bandwidth.
	bw := bbrMulDiv(uint64(rs.Delivered), uint64(time.Second), uint64(rs.Interval), false)

	// An app-limited sample likely reflects the application, not the
	// network: use it only if it is at least as high as the current model,
	// so BBR keeps sending at the last measured network rate.
	if !appLimited || bw >= b.maxBW() {
		b.bw.runningMax(bbrBWRtts, b.rttCnt, bw)
	}
}

// updateAckAggregation estimates the windowed max degree of ACK
// aggregation: data acked beyond what the bw estimate predicts over the
// current epoch, over a window of 5-10 rounds, capped at cwnd.
func (b *BBR) updateAckAggregation(c *tcp.CCState, rs *tcp.RateSample) {
	if bbrExtraAckedGain == 0 || rs.AckedSacked <= 0 || !rs.HasRate() {
		return
	}

	if b.roundStart {
		b.extraAckedWinRtts = min(0x1F, b.extraAckedWinRtts+1)
		if b.extraAckedWinRtts >= bbrExtraAckedWinRtts {
			b.extraAckedWinRtts = 0
			b.extraAckedWinIdx ^= 1
			b.extraAcked[b.extraAckedWinIdx] = 0
		}
	}

	// Bytes we expected to be delivered over the epoch.
	epoch := max(c.Now.Sub(b.ackEpochStamp), 0)
	expected := bbrClampInt(bbrMulDiv(b.bwEstimate(), uint64(epoch), uint64(time.Second), false))

	// Reset the epoch if the ACK rate is below the expected rate, or a very
	// large amount was acked since the epoch began (potentially quite old).
	if b.ackEpochAcked <= expected ||
		b.ackEpochAcked+rs.AckedSacked >= bbrAckEpochAckedResetThresh*c.MSS {
		b.ackEpochAcked = 0
		b.ackEpochStamp = c.Now
		expected = 0
	}

	// Excess data delivered beyond what was expected. Linux caps the epoch
	// count at 0xFFFFF packets and extra_acked at 0xFFFF (u16) packets.
	b.ackEpochAcked = min(0xFFFFF*c.MSS, b.ackEpochAcked+rs.AckedSacked)
	extra := min(b.ackEpochAcked-expected, c.Cwnd, 0xFFFF*c.MSS)
	if extra > b.extraAcked[b.extraAckedWinIdx] {
		b.extraAcked[b.extraAckedWinIdx] = extra
	}
}

// checkFullBWReached decides STARTUP filled the pipe when the bw estimate
// grew less than 25% over 3 non-app-limited rounds.
func (b *BBR) checkFullBWReached(c *tcp.CCState, rs *tcp.RateSample) {
	if b.fullBWReached || !b.roundStart || b.sampleAppLimited(rs) {
		return
	}
	thresh := b.fullBW * bbrFullBWThresh >> bbrScale
	if b.maxBW() >= thresh {
		b.fullBW = b.maxBW()
		b.fullBWCnt = 0
		return
	}
	b.fullBWCnt++
	b.fullBWReached = b.fullBWCnt >= bbrFullBWCnt
}

// checkDrain leaves STARTUP for DRAIN once the pipe is full, and DRAIN for
// PROBE_BW once inflight is down to the BDP.
func (b *BBR) checkDrain(c *tcp.CCState) {
	if b.mode == bbrStartup && b.fullBWReached {
		b.setMode(c, bbrDrain) // drain the queue we created
		c.Ssthresh = b.inflight(c, b.maxBW(), bbrUnit)
	}
	// Fall through to check whether inflight is already small.
	if b.mode == bbrDrain && b.inNetAtEDT(c, c.InFlight) <= b.inflight(c, b.maxBW(), bbrUnit) {
		b.resetProbeBWMode(c) // the queue is estimated to be drained
	}
}

// checkProbeRTTDone leaves PROBE_RTT once its time and round are over,
// restoring the cwnd saved on entry.
func (b *BBR) checkProbeRTTDone(c *tcp.CCState) {
	if !(b.probeRTTDoneSet && c.Now > b.probeRTTDoneStamp) {
		return
	}
	b.minRTTStamp = c.Now // wait a while until the next PROBE_RTT
	c.Cwnd = max(c.Cwnd, b.priorCwnd)
	b.resetMode(c)
}

// updateMinRTT tracks the 10 s min RTT and runs PROBE_RTT: when the min RTT
// has not been refreshed for 10 s, cap cwnd at 4 packets for at least
// 200 ms and one round, so the bottleneck queue drains and the true
// propagation delay is measured.
func (b *BBR) updateMinRTT(c *tcp.CCState, rs *tcp.RateSample) {
	expired := c.Now > b.minRTTStamp.Add(bbrMinRTTWinSec*time.Second)
	// Strictly lower, as Linux since 4.13 ("rs->rtt_us < bbr->min_rtt_us"):
	// with <=, a steady path whose samples equal min_rtt would refresh the
	// stamp forever and never run PROBE_RTT.
	if rs.RTT >= 0 && (rs.RTT < b.minRTT || (expired && !rs.IsAckDelayed)) {
		b.minRTT = rs.RTT
		b.minRTTStamp = c.Now
	}

	if bbrProbeRTTModeMs > 0 && expired && !b.idleRestart && b.mode != bbrProbeRTT {
		b.setMode(c, bbrProbeRTT) // dip, drain queue
		b.saveCwnd(c)             // note cwnd so we can restore it
		b.probeRTTDoneSet = false
		b.alActive = true
		b.alStart = c.Delivered
	}

	if b.mode == bbrProbeRTT {
		// Ignore low-rate samples during this mode (Linux sets
		// tp->app_limited = delivered + inflight).
		b.alEnd = c.Delivered + uint64(max(c.InFlight, 0))
		// Hold the minimum in flight for max(200 ms, 1 round).
		if !b.probeRTTDoneSet && c.InFlight <= bbrCwndMinTarget*c.MSS {
			b.probeRTTDoneStamp = c.Now.Add(bbrProbeRTTModeMs * time.Millisecond)
			b.probeRTTDoneSet = true
			b.probeRTTRoundDone = false
			b.nextRTTDelivered = c.Delivered
		} else if b.probeRTTDoneSet {
			if b.roundStart {
				b.probeRTTRoundDone = true
			}
			if b.probeRTTRoundDone {
				b.checkProbeRTTDone(c)
			}
		}
	}
	// Restart after idle ends only once we process a new S/ACK for data.
	if rs.Delivered > 0 {
		b.idleRestart = false
	}
}

func (b *BBR) updateGains() {
	switch b.mode {
	case bbrStartup:
		b.pacingGain = bbrHighGain
		b.cwndGain = bbrHighGain
	case bbrDrain:
		b.pacingGain = bbrDrainGain // slow, to drain
		b.cwndGain = bbrHighGain    // keep cwnd
	case bbrProbeBW:
		if b.ltUseBW {
			b.pacingGain = bbrUnit
		} else {
			b.pacingGain = bbrPacingGain[b.cycleIdx]
		}
		b.cwndGain = bbrCwndGain
	case bbrProbeRTT:
		b.pacingGain = bbrUnit
		b.cwndGain = bbrUnit
	}
}

// updateLossComp keeps lossComp, an estimate of the path's random
// (non-congestive) loss rate. Not in Linux: BBR v1 paces at its delivery
// rate estimate, which under random loss p is only (1 - p) × the link,
// since lost packets are never delivered; in the cruise phases that leaves
// about p of the link idle. lossCompensated raises the PROBE_BW pacing
// rate by this estimate to fill it.
//
// At each round start the finished round's loss fraction lost/(lost +
// delivered) feeds an EWMA (weight 1/8) if the round saw no queue (its
// smallest RTT sample within min_rtt + 1/8), and 0 feeds it otherwise: a
// loss from buffer overflow comes with a full queue, so congestive losses
// pull the estimate down instead of up, and pacing above the link would
// itself build a queue and switch the compensation off. It is applied
// only if the last 1.25 probe built a queue (an RTT sample above min_rtt +
// 1/16 in gain phases 0-2): at a bottleneck link the probe queues, while a
// policer drops without queueing, so policer losses are not compensated.
// It is never applied with lt_bw in use, and it is capped at 5%.
//
// Estimates below 1% are not applied: they gain little, and under
// congestion with several flows the estimate hovers around 0.1%.
//
// Measured with `ustack bench sim` (100 Mbit/s × 100 ms, buffer 1 BDP),
// BBR goodput without -> with: 1% loss 92.5 -> 92.7 Mbit/s, 2% 89.6 ->
// 91.7, 5% 84.7 -> 88.2, 10% 65.7 -> 79.4, retransmissions unchanged
// (5.1% at 5% loss); the 10-BDP queueing, PROBE_RTT and policer tables are
// identical (a policer drops without queueing, so the probe-queue test
// keeps the compensation off).
func (b *BBR) updateLossComp(c *tcp.CCState, rs *tcp.RateSample) {
	if b.roundStart {
		r := b.prevRound
		var frac int
		if r.hasRTT && b.minRTT != bbrNoRTT && r.lost > 0 &&
			!b.queuedOver(r.minRTT, bbrLossQueueShift) {
			frac = int(bbrMulDiv(r.lost, bbrLossScale, r.lost+r.delivered, false))
		}
		b.lossComp += (frac - b.lossComp) >> bbrLossEWMAShift
		if frac > b.lossComp && frac-b.lossComp < 1<<bbrLossEWMAShift {
			b.lossComp++ // let the integer EWMA reach small fractions
		}
	}
	if rs.RTT >= 0 && b.mode == bbrProbeBW && b.cycleIdx < bbrLossProbeEnd {
		b.lcProbeMaxRTT = max(b.lcProbeMaxRTT, rs.RTT)
	}
}

// lossCompensated returns bw raised by the random-loss estimate, capped at
// bbrLossCompMax, for pacing in PROBE_BW (not while policed).
func (b *BBR) lossCompensated(bw uint64) uint64 {
	if b.mode != bbrProbeBW || b.ltUseBW || !b.lcProbeQueued {
		return bw
	}
	if b.lossComp < bbrLossCompMin {
		return bw
	}
	comp := uint64(min(b.lossComp, bbrLossCompMax))
	return bw + bbrMulDiv(bw, comp, bbrLossScale, false)
}

func (b *BBR) updateModel(c *tcp.CCState, rs *tcp.RateSample) {
	b.updateBW(c, rs)
	b.trackRound(c, rs)
	b.updateInflightHi(c, rs)
	b.updateLossComp(c, rs)
	b.updateAckAggregation(c, rs)
	b.updateCyclePhase(c, rs)
	b.checkFullBWReached(c, rs)
	b.checkDrain(c)
	b.updateMinRTT(c, rs)
	b.updateGains()
}

// trackRound keeps per-round loss and RTT accounting: at each round start
// the round that just ended goes to prevRound.
func (b *BBR) trackRound(c *tcp.CCState, rs *tcp.RateSample) {
	if b.roundStart {
		b.prevRound = bbrRound{
			lost:      c.Lost - b.roundLastLost,
			delivered: c.Delivered - b.roundLastDeliv,
			minRTT:    b.roundMinRTT,
			hasRTT:    b.roundHasRTT,
			dur:       c.Now.Sub(b.roundStamp),
		}
		b.roundStamp = c.Now
		b.roundLastLost, b.roundLastDeliv = c.Lost, c.Delivered
		b.roundHasRTT = false
	}
	if rs.RTT >= 0 && (!b.roundHasRTT || rs.RTT < b.roundMinRTT) {
		b.roundMinRTT = rs.RTT
		b.roundHasRTT = true
	}
}

// hiRate is the rate the congestive-loss cap allows, inflightHi per sRTT,
// or 0 where the cap does not apply (see updateInflightHi).
func (b *BBR) hiRate(c *tcp.CCState) uint64 {
	if b.inflightHi == 0 || b.mode != bbrProbeBW || b.ltUseBW || c.SRTT <= 0 {
		return 0
	}
	return bbrMulDiv(uint64(b.inflightHi), uint64(time.Second), uint64(c.SRTT), false)
}

// updateInflightHi keeps inflightHi, a cap on cwnd after congestive loss.
// Not in Linux's BBR v1; BBR v2's inflight_hi plays the same part.
//
// Why: with several flows in a shallow drop-tail buffer, BBR v1's cwnds
// (2 × bw × min_rtt each) and max-filtered estimates keep the buffer full,
// and the flows settle where a 1.25 probe delivers no more than before.
// There every flow keeps the share it has, whatever it is: a late-comer
// that left STARTUP small stays small. Traced in simulation, 4 flows
// started 2 s apart ran at about 20% loss, with a late flow at 1-2 Mbit/s
// of a 23 Mbit/s share for 30 s.
//
// What: in PROBE_BW (not while policed), a round whose every RTT sample
// saw a standing queue (a quarter of the base RTT above it) and that lost
// at least 2%, or any packet once a cap is set, is congestive. The cap
// becomes 0.7 × what was in flight (or 0.7 × the cap, if lower), but no
// less than the round's delivery rate × the base RTT, once per two
// rounds, since the losses of the round after a cut left before it.
// While the cap holds cwnd below BBR's own target it grows each round by
// 1, 2, 4... packets, doubling up to 16 packets a round, and to 8 in
// rounds without a standing queue.
// Equal absolute growth and proportional cuts are what make AIMD flows
// converge. Random loss comes without a standing queue and a policer
// drops without queueing, so neither cuts.
//
// Window-driven when the cap allows more than the model: equal growth
// converges only if it reaches the rate. A flow that left STARTUP small
// (a late-comer meets its predecessor's STARTUP overshoot, traced at about
// 40% loss in its first rounds) is held by its own bandwidth estimate, not
// by the cap, and that estimate grows only through 1.25 probes, in
// proportion to the flow's size, while the cuts take 30% of it like every
// other flow's (traced: 0.6 -> 7 Mbit/s in 27 s against a 23 Mbit/s
// share). So once inflightHi per sRTT exceeds the bandwidth estimate, that
// rate (hiRate) sets the pacing rate and cwnd target: the flow is AIMD
// with BBR's model as a floor. The cap then grows while it holds cwnd (its
// target is 2 × the rate × min_rtt, so while sRTT <= 2 × min_rtt) or while
// the window was used. Not while policed, in PROBE_RTT, or before the
// first cut.
//
// Each of the later rules was traced to a flow that ended far from its
// share (simulation, 100 Mbit/s × 100 ms, 1-BDP buffer, four flows started
// 0, 2 and 4 s apart, goodput 20-30 s after the last start):
//   - Any loss once capped. With a loss-rate threshold a flow's chance of
//     a cut does not grow with its size, and one flow could sit out a
//     shared overflow while the others cut (at 2% two flows drifted apart;
//     0.8% in window-driven rounds was the previous rule).
//   - The base RTT is the smaller of BBR's min_rtt and the connection's
//     300 s minimum (c.MinRTT, Linux's tcp_min_rtt_wlen). A PROBE_RTT that
//     did not empty a shared queue refreshes min_rtt with the queue in it;
//     judged against that, a flow saw no queue, was never cut, and on a
//     10 ms path took 78 of 96 Mbit/s.
//   - Growth without a queue held to 8 packets a round (it was 32): a
//     round without a queue, for a flow that shares the bottleneck, is
//     mostly one where the others are in PROBE_RTT or have just cut, and
//     a flow that grew fast there kept twice its share for seconds.
//   - A cut takes away no more than the queue: the cap stays at least
//     what the round delivered per base RTT. A lone flow's cap grows
//     until its own queue passes the threshold, and the next random loss
//     cut it to 0.7 × in flight, below the BDP, leaving the link part-
//     idle for about a second; the cut after a STARTUP overshoot, judged
//     once DRAIN has taken in-flight under the BDP, did the same to every
//     short transfer. Without the floor (seeds 1-5, 5-30 s, against v1):
//     -1.4 / -1.8 / -1.9 Mbit/s at 1 / 2 / 5% random loss; 6 s from the
//     start (seeds 1-3), 66.8 / 65.0 / 57.9 against v1's 74.3 / 72.5 /
//     64.9. A floor of BBR's BDP estimate instead did as well for single
//     flows but let a late-comer keep its STARTUP estimate (four flows:
//     11 of 216 cells over ±25%, worst 56%); the round's own delivery
//     rate is what the flow gets now, not what it once measured.
//
// Measured (seeds 1-72, 216 four-flow cells): every flow within ±25% of a
// fair share in all 216 (worst 18%, 17%, 21% at gaps 0, 2, 4 s), against
// 68 / 56 / 56 of 72 before these rules and, for v1, 21 / 11 / 7 of 24
// (seeds 1-24). Two flows (seeds 1-24): 72 of 72, worst 19%. On a 10 ms
// path: 72 of 72, worst 10%. 120 s after the last start (seeds 1-12): 12
// of 12, worst 11%. Single flows (seeds 1-5, 5-30 s), against v1: 92.8 /
// 93.0 / 92.2 / 91.4 / 88.1 / 81.9 / 74.0 / 51.5 Mbit/s at 0 / 0.1 / 1 /
// 2 / 5 / 10 / 15 / 20% random loss, against 92.8 / 92.7 / 92.1 / 91.2 /
// 88.6 / 79.5 / 70.3 / 30.6; 6 s from the start (seeds 1-3) at 0 / 1 / 2
// / 5%, 81.4 / 74.4 / 72.8 / 64.0 against 81.4 / 74.3 / 72.5 / 64.9. Alone
// in a 1-BDP buffer at 1% loss (seed 1) its median RTT is 107.9 ms
// against v1's 100.6: the cap-driven phases keep some of the queue that
// v1 drains.
func (b *BBR) updateInflightHi(c *tcp.CCState, rs *tcp.RateSample) {
	if !b.hiEnabled || !b.roundStart {
		return
	}
	r := b.prevRound
	baseRTT := b.minRTT
	if c.MinRTT > 0 && c.MinRTT < baseRTT {
		baseRTT = c.MinRTT
	}
	queued := r.hasRTT && queuedAbove(r.minRTT, baseRTT, bbrHiQueueShift)
	congestive := b.mode == bbrProbeBW && !b.ltUseBW && queued && r.lost > 0 &&
		(b.inflightHi > 0 || r.lost<<bbrScale >= bbrHiLossThresh*(r.lost+r.delivered))
	binding, recent := b.hiBinding, b.hiCutRecent
	b.hiBinding, b.hiCutRecent = false, false
	switch {
	case congestive && !recent:
		base := rs.PriorInFlight
		if b.inflightHi > 0 {
			base = min(base, b.inflightHi)
		}
		// No deeper than what empties the queue: the round's delivery
		// rate × the base RTT.
		hi := max(base*bbrHiBeta>>bbrScale, r.pipe(baseRTT))
		b.inflightHi = max(hi, bbrCwndMinTarget*c.MSS)
		b.hiGrowth = 1
		b.hiCutRecent = true
	case congestive:
		// The losses of the round after a cut were sent before it.
	case b.inflightHi > 0 && (binding || b.hiDriven && c.CwndLimited):
		b.inflightHi += b.hiGrowth * c.MSS
		limit := bbrHiMaxGrowthQueued
		if !queued {
			limit = bbrHiMaxGrowthFree
		}
		b.hiGrowth = min(b.hiGrowth*2, limit)
	}
}
