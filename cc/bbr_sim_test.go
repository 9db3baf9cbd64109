package cc

// A small per-packet path model for BBR tests, in virtual time: a sender
// limited by cwnd, the pacing rate and (optionally) an application writing
// at a fixed rate; an optional token-bucket policer that drops what exceeds
// its rate; a FIFO bottleneck link of rate R with an optional drop-tail
// buffer; and a fixed base RTT (optionally drifting upward very slowly, so
// that no RTT sample ever matches an old minimum). Every segment is acked
// individually; a segment is marked lost when a later one is acked (no
// reordering), or on a 1 s timeout. Lost data is not retransmitted: the
// sender always has new data, which is all congestion control cares about.
// Rate samples follow draft-cheng-iccrg-delivery-rate-estimation, like the
// core's rate.go.

import (
	"testing"
	"time"

	"github.com/ustack/ustack/clock"
	"github.com/ustack/ustack/tcp"
)

type bbrSimPkt struct {
	seq           int
	size          int
	sent          clock.Time
	delivered     uint64
	deliveredTime clock.Time
	firstTx       clock.Time
	appLimited    bool
	dropped       bool
	ackAt         clock.Time
}

type bbrSim struct {
	t   *testing.T
	cc  *BBR
	c   tcp.CCState
	now clock.Time
	mss int

	rate    float64       // bottleneck rate, bytes/s
	baseRTT time.Duration // propagation RTT
	drift   float64       // RTT increase per second of virtual time (s/s)
	buf     int           // bottleneck buffer, bytes; 0 = unlimited

	policeRate  float64 // token-bucket policer rate, bytes/s; 0 = none
	policeDepth float64 // bucket depth, bytes
	tokens      float64
	tokensAt    clock.Time

	appRate  float64 // application write rate, bytes/s; 0 = unlimited
	appAvail float64
	appAt    clock.Time
	// ignoreAppLimited hides the app-limited marks from BBR (for
	// contrast in tests).
	ignoreAppLimited bool

	linkFree clock.Time
	flight   []*bbrSimPkt // sent, neither acked nor marked lost, in order
	inflight int
	seq      int
	nextSend clock.Time

	delivered     uint64
	deliveredTime clock.Time
	firstTx       clock.Time
	lost          uint64
	appLimited    uint64

	srtt, minRTT time.Duration
	recoverySeq  int

	sentBytes, droppedBytes uint64

	// onAck, if set, runs after each CongControl.
	onAck func(rs *tcp.RateSample)
}

func newBBRSim(t *testing.T, rate float64, rtt time.Duration, seed uint64) *bbrSim {
	s := &bbrSim{t: t, cc: NewBBR(seed), mss: 1000, rate: rate, baseRTT: rtt}
	s.c = tcp.CCState{MSS: s.mss, Cwnd: 10 * s.mss, Ssthresh: tcp.InitialSsthresh}
	s.cc.Init(&s.c)
	return s
}

func bbrDur(bytes int, rate float64) time.Duration {
	return time.Duration(float64(bytes) / rate * 1e9)
}

func (s *bbrSim) fill() {
	s.c.Now = s.now
	s.c.MSS = s.mss
	s.c.SRTT = s.srtt
	s.c.MinRTT = s.minRTT
	s.c.InFlight = s.inflight
	s.c.Delivered = s.delivered
	s.c.Lost = s.lost
	s.c.AppLimited = s.appLimited != 0 && !s.ignoreAppLimited
}

func (s *bbrSim) setAppRate(r float64) {
	s.appRate = r
	s.appAvail = 0
	s.appAt = s.now
}

func (s *bbrSim) updateApp() {
	if s.appRate > 0 {
		s.appAvail += s.appRate * s.now.Sub(s.appAt).Seconds()
		s.appAt = s.now
	}
}

func (s *bbrSim) send() {
	if s.appRate > 0 {
		s.appAvail -= float64(s.mss)
	}
	if s.inflight == 0 {
		s.firstTx = s.now
		s.deliveredTime = s.now
		s.fill()
		s.cc.OnEvent(&s.c, tcp.EventTxStart)
	}
	p := &bbrSimPkt{
		seq:           s.seq,
		size:          s.mss,
		sent:          s.now,
		delivered:     s.delivered,
		deliveredTime: s.deliveredTime,
		firstTx:       s.firstTx,
		appLimited:    s.appLimited != 0 && !s.ignoreAppLimited,
	}
	s.seq++
	s.sentBytes += uint64(p.size)
	if s.policeRate > 0 {
		s.tokens = min(s.policeDepth, s.tokens+s.policeRate*s.now.Sub(s.tokensAt).Seconds())
		s.tokensAt = s.now
		if s.tokens >= float64(p.size) {
			s.tokens -= float64(p.size)
		} else {
			p.dropped = true
		}
	}
	if !p.dropped {
		queued := 0
		if s.linkFree > s.now {
			queued = int(s.linkFree.Sub(s.now).Seconds() * s.rate)
		}
		if s.buf > 0 && queued+p.size > s.buf {
			p.dropped = true
		} else {
			depart := max(s.now, s.linkFree).Add(bbrDur(p.size, s.rate))
			s.linkFree = depart
			extra := time.Duration(s.drift * float64(depart))
			p.ackAt = depart.Add(s.baseRTT + extra)
		}
	}
	if p.dropped {
		s.droppedBytes += uint64(p.size)
	}
	s.flight = append(s.flight, p)
	s.inflight += p.size
	if s.c.PacingRate > 0 {
		s.nextSend = s.now.Add(bbrDur(p.size, float64(s.c.PacingRate)))
	} else {
		s.nextSend = s.now
	}
}

func (s *bbrSim) nextAck() (int, clock.Time) {
	for i, p := range s.flight {
		if !p.dropped {
			return i, p.ackAt
		}
	}
	return -1, clock.Never
}

func (s *bbrSim) ack(idx int) {
	p := s.flight[idx]
	s.now = p.ackAt
	priorInFlight := s.inflight
	losses := 0
	for _, q := range s.flight[:idx] {
		losses += q.size
	}
	s.lost += uint64(losses)
	s.flight = s.flight[idx+1:]
	s.inflight -= losses + p.size
	s.delivered += uint64(p.size)

	rtt := s.now.Sub(p.sent)
	if s.srtt == 0 {
		s.srtt = rtt
	} else {
		s.srtt = (7*s.srtt + rtt) / 8
	}
	if s.minRTT == 0 || rtt < s.minRTT {
		s.minRTT = rtt
	}

	rs := tcp.RateSample{
		PriorDelivered: p.delivered,
		PriorTime:      p.deliveredTime,
		Delivered:      int64(s.delivered - p.delivered),
		SendInterval:   p.sent.Sub(p.firstTx),
		AckInterval:    s.now.Sub(p.deliveredTime),
		RTT:            rtt,
		Losses:         losses,
		AckedSacked:    p.size,
		PriorInFlight:  priorInFlight,
		IsAppLimited:   p.appLimited,
	}
	rs.Interval = max(rs.SendInterval, rs.AckInterval)
	if rs.Interval < s.minRTT {
		rs.Interval = -1
	}
	s.deliveredTime = s.now
	s.firstTx = p.sent
	if s.appLimited != 0 && s.delivered > s.appLimited {
		s.appLimited = 0
	}

	s.fill()
	if losses > 0 && s.c.CAState < tcp.CARecovery {
		s.c.Ssthresh = s.cc.SsThresh(&s.c)
		s.c.CAState = tcp.CARecovery
		s.cc.SetState(&s.c, tcp.CARecovery)
		s.recoverySeq = s.seq
	} else if s.c.CAState >= tcp.CARecovery && p.seq+1 >= s.recoverySeq {
		s.c.CAState = tcp.CAOpen
		s.cc.SetState(&s.c, tcp.CAOpen)
	}
	s.cc.CongControl(&s.c, &rs)
	if s.onAck != nil {
		s.onAck(&rs)
	}
}

func (s *bbrSim) rto() {
	s.now = s.flight[0].sent.Add(time.Second)
	for _, p := range s.flight {
		s.lost += uint64(p.size)
	}
	s.flight = nil
	s.inflight = 0
	s.fill()
	s.c.Ssthresh = s.cc.SsThresh(&s.c)
	s.c.CAState = tcp.CALoss
	s.cc.SetState(&s.c, tcp.CALoss)
	s.cc.OnEvent(&s.c, tcp.EventLoss)
	s.c.Cwnd = s.mss // tcp_enter_loss: packets in flight + 1
	s.recoverySeq = s.seq
}

// run advances the simulation by d.
func (s *bbrSim) run(d time.Duration) {
	end := s.now.Add(d)
	for {
		idx, tAck := s.nextAck()
		tSend := clock.Never
		if s.inflight+s.mss <= s.c.Cwnd {
			tSend = max(s.now, s.nextSend)
			if s.appRate > 0 {
				s.updateApp()
				if need := float64(s.mss) - s.appAvail; need > 0 {
					// Nothing to send although cwnd and pacing allow:
					// the flight is app-limited (as rate.go's
					// checkAppLimited).
					if s.inflight < s.c.Cwnd-s.mss {
						s.appLimited = max(s.delivered+uint64(s.inflight), 1)
					}
					tData := s.now.Add(time.Duration(need/s.appRate*1e9) + 1)
					tSend = max(tSend, tData)
				}
			}
		}
		tRTO := clock.Never
		if tAck == clock.Never && len(s.flight) > 0 {
			tRTO = s.flight[0].sent.Add(time.Second)
		}
		next := min(tAck, tSend, tRTO)
		if next == clock.Never || next > end {
			s.now = end
			return
		}
		switch next {
		case tAck:
			s.ack(idx)
		case tSend:
			s.now = tSend
			s.updateApp()
			if s.appRate == 0 || s.appAvail >= float64(s.mss) {
				s.send()
			}
		default:
			s.rto()
		}
	}
}

// bdpBytes is the path's bandwidth-delay product.
func (s *bbrSim) bdpBytes() int { return int(s.rate * s.baseRTT.Seconds()) }
