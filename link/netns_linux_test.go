package link

// Test scaffolding: throw-away network namespaces and hand-made packets.
//
// Each root test gets its own namespace "ustack-test-<pid>-<random>" from
// internal/netnstest, deleted in t.Cleanup (after the links, which are
// closed by cleanups registered later). Devices are created in the
// namespace either with `ip -n NS ...` or, for our own tap/tun and
// AF_PACKET fds, by NS.Run on a thread that is discarded afterwards.
// Nothing touches the host's interfaces; IPv6 is disabled inside the
// namespace so no autoconfiguration traffic disturbs the tests.

import (
	"encoding/binary"
	"os"
	"testing"
	"time"

	"github.com/ustack/ustack/internal/netnstest"
)

// newNetns makes the test's namespace, skipping unless root and iproute2
// are there.
func newNetns(t *testing.T) *netnstest.NS {
	t.Helper()
	netnstest.RequireRoot(t, "creates network namespaces, tap and veth devices")
	netnstest.RequireCommand(t, "ip", "needs iproute2: `ip` not found")
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Logf("no /dev/net/tun: %v", err)
	}
	return netnstest.New(t, "ustack-test", netnstest.Options{RunTimeout: 20 * time.Second, DisableIPv6: true})
}

// openIn opens a link with open inside ns, failing the test with what on
// error; t.Cleanup closes it.
func openIn[L Link](t *testing.T, ns *netnstest.NS, what string, open func() (L, error)) L {
	t.Helper()
	var l L
	err := ns.Run(func() (err error) {
		l, err = open()
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// deadliner is the part of the concrete links the tests use.
type deadliner interface {
	Link
	SetReadDeadline(time.Time) error
}

// readUntil reads frames from l until match returns true or timeout.
func readUntil(t *testing.T, l deadliner, timeout time.Duration, match func(f []byte, m RxMeta) bool) ([]byte, RxMeta) {
	t.Helper()
	l.SetReadDeadline(time.Now().Add(timeout))
	defer l.SetReadDeadline(time.Time{})
	// One frame per call, so frames after the match stay queued.
	bufs := [][]byte{make([]byte, l.MaxFrameSize())}
	lens := make([]int, 1)
	metas := make([]RxMeta, 1)
	for {
		n, err := l.ReadBatch(bufs, lens, metas)
		if err != nil {
			t.Fatalf("%s: no matching frame: %v", l.Name(), err)
		}
		for i := 0; i < n; i++ {
			f := bufs[i][:lens[i]]
			if match(f, metas[i]) {
				return append([]byte(nil), f...), metas[i]
			}
		}
	}
}

// --- hand-made packets -------------------------------------------------

func csumAdd(sum uint32, b []byte) uint32 {
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}

func csumFold(sum uint32) uint16 {
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}

func ethHdr(dst, src []byte, etype uint16) []byte {
	h := make([]byte, 14)
	copy(h[0:6], dst)
	copy(h[6:12], src)
	binary.BigEndian.PutUint16(h[12:], etype)
	return h
}

// ipv4 builds an IPv4 header (checksummed) followed by payload.
func ipv4(src, dst [4]byte, proto byte, payload []byte) []byte {
	p := make([]byte, 20+len(payload))
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	p[6] = 0x40 // DF
	p[8] = 64
	p[9] = proto
	copy(p[12:16], src[:])
	copy(p[16:20], dst[:])
	binary.BigEndian.PutUint16(p[10:], ^csumFold(csumAdd(0, p[:20])))
	copy(p[20:], payload)
	return p
}

func icmpEcho(typ byte, id, seq uint16, data []byte) []byte {
	m := make([]byte, 8+len(data))
	m[0] = typ
	binary.BigEndian.PutUint16(m[4:], id)
	binary.BigEndian.PutUint16(m[6:], seq)
	copy(m[8:], data)
	binary.BigEndian.PutUint16(m[2:], ^csumFold(csumAdd(0, m)))
	return m
}

func arpPacket(op uint16, sha []byte, spa [4]byte, tha []byte, tpa [4]byte) []byte {
	a := make([]byte, 28)
	binary.BigEndian.PutUint16(a[0:], 1)
	binary.BigEndian.PutUint16(a[2:], 0x0800)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:], op)
	copy(a[8:14], sha)
	copy(a[14:18], spa[:])
	copy(a[18:24], tha)
	copy(a[24:28], tpa[:])
	return a
}

const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpPSH = 0x08
	tcpACK = 0x10
)

// tcpSeg is an IPv4 TCP segment description.
type tcpSeg struct {
	src, dst     [4]byte
	sport, dport uint16
	seq, ack     uint32
	flags        byte
	win          uint16
	opts         []byte
	payload      []byte
}

// build returns the IPv4 packet. With partial, the TCP checksum field holds
// the folded pseudo-header sum only (CHECKSUM_PARTIAL), for NeedsCsum.
func (s *tcpSeg) build(partial bool) []byte {
	hl := 20 + len(s.opts)
	tcp := make([]byte, hl+len(s.payload))
	binary.BigEndian.PutUint16(tcp[0:], s.sport)
	binary.BigEndian.PutUint16(tcp[2:], s.dport)
	binary.BigEndian.PutUint32(tcp[4:], s.seq)
	binary.BigEndian.PutUint32(tcp[8:], s.ack)
	tcp[12] = byte(hl/4) << 4
	tcp[13] = s.flags
	binary.BigEndian.PutUint16(tcp[14:], s.win)
	copy(tcp[20:], s.opts)
	copy(tcp[hl:], s.payload)
	var ph [12]byte
	copy(ph[0:4], s.src[:])
	copy(ph[4:8], s.dst[:])
	ph[9] = 6
	binary.BigEndian.PutUint16(ph[10:], uint16(len(tcp)))
	pseudo := csumAdd(0, ph[:])
	if partial {
		binary.BigEndian.PutUint16(tcp[16:], csumFold(pseudo))
	} else {
		binary.BigEndian.PutUint16(tcp[16:], ^csumFold(csumAdd(pseudo, tcp)))
	}
	return ipv4(s.src, s.dst, 6, tcp)
}

// parsedTCP is the interesting part of a received IPv4 TCP segment.
type parsedTCP struct {
	src, dst     [4]byte
	sport, dport uint16
	seq, ack     uint32
	flags        byte
	payloadLen   int
	ipTotalLen   int
}

func parseTCP4(ip []byte) (parsedTCP, bool) {
	var p parsedTCP
	if len(ip) < 40 || ip[0]>>4 != 4 || ip[9] != 6 {
		return p, false
	}
	ihl := int(ip[0]&0xf) * 4
	p.ipTotalLen = int(binary.BigEndian.Uint16(ip[2:]))
	if p.ipTotalLen > len(ip) || len(ip) < ihl+20 {
		return p, false
	}
	copy(p.src[:], ip[12:16])
	copy(p.dst[:], ip[16:20])
	t := ip[ihl:p.ipTotalLen]
	p.sport = binary.BigEndian.Uint16(t[0:])
	p.dport = binary.BigEndian.Uint16(t[2:])
	p.seq = binary.BigEndian.Uint32(t[4:])
	p.ack = binary.BigEndian.Uint32(t[8:])
	p.flags = t[13]
	p.payloadLen = len(t) - int(t[12]>>4)*4
	return p, true
}
