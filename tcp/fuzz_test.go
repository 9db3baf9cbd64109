package tcp

// FuzzTCPInput feeds arbitrary segments to connections in LISTEN, SYN-SENT
// and ESTABLISHED (with data in flight and out-of-order data held), with
// timers and API calls in between. The input is a list of records:
//
//	ctl(1) len(1) body(len)
//
// ctl's low two bits choose how body becomes a segment: 0 and 1 build a
// header from fields (sequence and ACK numbers as offsets near the
// connection's, flags, window, options, a payload length), 2 takes body as
// raw TCP bytes (ports forced to the connection's, checksum fixed), 3 calls
// the API. The next bits advance the clock. Nothing may panic and the
// sender's bookkeeping must stay consistent (checkInvariants).

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/ustack/ustack/ip"
	"github.com/ustack/ustack/wire"
)

func FuzzTCPInput(f *testing.F) {
	f.Add(uint8(0), []byte{0, 0})
	f.Add(uint8(1), []byte{0, 12, 0x12, 0, 0, 0, 1, 0, 0, 0xff, 0xff, 0x07, 0, 0})
	f.Add(uint8(2), []byte{0, 12, 0x10, 0, 0, 5, 0xb4, 0, 0, 0x40, 0, 0x04, 0x00, 0x00})
	f.Add(uint8(2), []byte{8, 12, 0x18, 0x10, 0, 0, 0, 0, 0, 0x40, 0, 0x00, 0x00, 0x64, 3, 1, 0})
	f.Add(uint8(2), []byte{2, 20, 0xc0, 0, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x04, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, mode uint8, in []byte) {
		h := fuzzHarness(t, mode)
		for i := 0; len(in) >= 2 && i < 256; i++ { // bounded: each record may run timers
			ctl, n := in[0], int(in[1])
			in = in[2:]
			n = min(n, len(in))
			body := in[:n]
			in = in[n:]
			now := h.net.now
			switch ctl & 3 {
			case 0, 1:
				b := fuzzSegment(h, body)
				h.s.HandlePacket(now, &ip.Packet{Src: remoteAddr, Dst: localAddr, Protocol: wire.ProtoTCP, Payload: b})
			case 2:
				b := append([]byte(nil), body...)
				if len(b) >= 4 {
					binary.BigEndian.PutUint16(b[0:], remoteEP.Port())
					binary.BigEndian.PutUint16(b[2:], localEP.Port())
				}
				wire.SetTCPChecksum(remoteAddr, localAddr, b)
				h.s.HandlePacket(now, &ip.Packet{Src: remoteAddr, Dst: localAddr, Protocol: wire.ProtoTCP, Payload: b})
			case 3:
				fuzzAPI(h, body)
			}
			fuzzCheck(t, h)
			step := time.Duration(ctl>>2) * time.Millisecond
			if ctl>>2 >= 60 {
				step = time.Duration(ctl>>2-59) * 10 * time.Second
			}
			h.advance(now.Add(step))
			h.take()
			fuzzCheck(t, h)
		}
		h.advance(h.net.now.Add(10 * time.Minute))
		fuzzCheck(t, h)
	})
}

// fuzzHarness sets up the connection under attack: mode 0 a listener,
// 1 an active open in SYN-SENT, otherwise an established connection with
// five segments in flight and out-of-order data held.
func fuzzHarness(t *testing.T, mode uint8) *harness {
	h := newHarness(t, func(o *Options) {
		o.KeepaliveIdle = 5 * time.Second
		o.KeepaliveInterval = time.Second
		o.KeepaliveCount = 3
		o.TimeWait = 3 * time.Second
		o.FinTimeout = 3 * time.Second
		o.Retries2 = 4
		o.SynRetries = 2
	})
	switch mode % 4 {
	case 0:
		h.listen(2)
	case 1:
		h.connect()
	default:
		syn := peerSYN()
		if mode%4 == 3 {
			syn.ts, syn.tsval = true, 100
		}
		h.establishedWith(syn)
		h.c.SetKeepAlive(mode&4 != 0)
		h.write(payload(0, 5*1460))
		d := h.fromPeer()
		d.seq, d.data = rISS+1+2000, payload(2000, 500)
		h.send(ms(12), d)
		h.take()
	}
	return h
}

// fuzzSegment builds a segment from fields taken from b (zero when b is
// short): sequence and ACK numbers as signed offsets from the
// connection's starting points, so that most land near the windows.
func fuzzSegment(h *harness, b []byte) []byte {
	var f [24]byte
	copy(f[:], b)
	s := seg{
		flags: wire.TCPFlags(f[0]),
		seq:   rISS + 1 + uint32(int32(int16(binary.BigEndian.Uint16(f[1:])))*int32(f[3]|1)),
		ack:   h.L + 1 + uint32(int32(int16(binary.BigEndian.Uint16(f[4:])))),
		win:   binary.BigEndian.Uint16(f[6:]),
	}
	opt := f[8]
	if opt&1 != 0 {
		s.mss = binary.BigEndian.Uint16(f[9:])
	}
	if opt&2 != 0 {
		s.hasWS, s.ws = true, f[11]%16
	}
	s.sackOK = opt&4 != 0
	if opt&8 != 0 {
		s.ts, s.tsval, s.tsecr = true, uint32(f[12])*1000, h.L+uint32(f[13])*10
	}
	for i := 0; i < int(opt>>4)%5; i++ {
		st := h.L + 1 + uint32(int32(int8(f[14+i*2])))*100
		s.sack = append(s.sack, wire.SACKBlock{Start: st, End: st + uint32(f[15+i*2])*50})
	}
	if len(b) > 24 {
		s.data = b[24:]
	}
	return s.encode()
}

// fuzzAPI makes one application call chosen by b.
func fuzzAPI(h *harness, b []byte) {
	if len(b) == 0 || h.c == nil {
		if len(b) > 0 && h.l != nil {
			h.l.Accept()
		}
		return
	}
	c := h.c
	switch b[0] % 8 {
	case 0:
		c.Write(payload(0, int(b[0])*40))
	case 1:
		c.Read(make([]byte, int(b[0])*100))
	case 2:
		c.CloseWrite()
	case 3:
		c.Close()
	case 4:
		c.SetNoDelay(b[0]&8 != 0)
	case 5:
		c.SetKeepAlive(b[0]&8 != 0)
	case 6:
		c.Abort()
	case 7:
		if h.l != nil {
			if a, err := h.l.Accept(); err == nil {
				h.c = a
			}
		}
		c.Info()
	}
}

func fuzzCheck(t *testing.T, h *harness) {
	t.Helper()
	for _, c := range h.s.Conns() {
		checkInvariants(t, c)
	}
	if h.c != nil {
		checkInvariants(t, h.c)
	}
}
