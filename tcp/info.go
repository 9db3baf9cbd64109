package tcp

// Introspection: what `ss -ti` shows for a Linux socket.

import (
	"net/netip"
	"time"
)

// Info is a snapshot of a connection's state and counters.
type Info struct {
	Local, Remote netip.AddrPort
	State         State
	CAState       CAState
	CC            string
	MSS, RcvMSS   int
	AdvMSS        int
	SndWScale     uint8
	RcvWScale     uint8
	SACK, TS, WS  bool
	RTO           time.Duration
	SRTT, RTTVar  time.Duration
	MinRTT        time.Duration
	Cwnd          int // bytes
	Ssthresh      int // bytes
	InFlight      int // bytes
	Unacked       int // bytes between SND.UNA and SND.NXT
	SackedBytes   int
	LostBytes     int
	RetransOut    int
	SndWnd        int
	RcvWnd        int
	RcvSpace      int
	SendQueue     int // bytes written, not yet acknowledged
	RecvQueue     int // bytes received, not yet read
	PacingRate    uint64
	DeliveryRate  uint64
	BytesSent     uint64
	BytesRetrans  uint64
	BytesAcked    uint64
	BytesReceived uint64
	SegsOut       uint64
	SegsIn        uint64
	DataSegsOut   uint64
	DataSegsIn    uint64
	TotalRetrans  uint64
	LostSegs      uint64
	Backoff       int
	AppLimited    bool
	Delivered     uint64
	CCInfo        CCInfo
	HasCCInfo     bool
}

// Info returns the connection's current state.
func (c *Conn) Info() Info {
	i := Info{
		Local: c.id.local, Remote: c.id.remote, State: c.state, CAState: c.ccs.CAState,
		MSS: c.mss, RcvMSS: c.rcvMSS, AdvMSS: c.advMSS, SndWScale: c.sndWScale, RcvWScale: c.rcvWScale,
		SACK: c.sackOK, TS: c.tsOK, WS: c.wsOK,
		RTO: c.currentRTO(), SRTT: c.rtt.srtt, RTTVar: c.rtt.rttvar, MinRTT: c.rtt.minRTT,
		Cwnd: c.ccs.Cwnd, Ssthresh: c.ccs.Ssthresh, InFlight: c.rtx.inflight(), Unacked: int(c.sndNxt - c.sndUna),
		SackedBytes: c.rtx.sacked, LostBytes: c.rtx.lost, RetransOut: c.rtx.retransOut,
		SndWnd: c.sndWnd, RcvWnd: int(c.rcvAdvEdge - c.rcvNxt), RcvSpace: c.rcvBuf.size(),
		SendQueue: c.sndBuf.n, RecvQueue: c.rcvBuf.n,
		PacingRate: c.pacingRate(), DeliveryRate: c.info.deliveryRate,
		BytesSent: c.info.bytesSent, BytesRetrans: c.info.bytesRetrans, BytesAcked: c.info.bytesAcked,
		BytesReceived: c.info.bytesReceived, SegsOut: c.info.segsOut, SegsIn: c.info.segsIn,
		DataSegsOut: c.info.dataSegsOut, DataSegsIn: c.info.dataSegsIn, TotalRetrans: c.info.totalRetrans,
		LostSegs: c.info.lostSegs, Backoff: c.backoff, AppLimited: c.rate.appLimited != 0, Delivered: c.rate.delivered,
	}
	if c.cc != nil {
		i.CC = c.cc.Name()
		if r, ok := c.cc.(Reporter); ok {
			i.CCInfo = r.Info()
			i.HasCCInfo = true
		}
	}
	return i
}

// CongestionControl returns the connection's congestion-control instance,
// for tests and traces (e.g. to set a *cc.BBR's OnModeChange hook). The
// caller must not call its methods: the core drives it.
func (c *Conn) CongestionControl() CongestionControl { return c.cc }
