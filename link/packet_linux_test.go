package link

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ustack/ustack/internal/netnstest"
)

// openPacketIn opens a packet link inside ns; t.Cleanup closes it.
func openPacketIn(t *testing.T, ns *netnstest.NS, cfg PacketConfig) *Packet {
	t.Helper()
	return openIn(t, ns, "OpenPacket", func() (*Packet, error) { return OpenPacket(cfg) })
}

// vethPair creates va<->vb in ns, both up.
func vethPair(t *testing.T, ns *netnstest.NS) {
	ns.IP("link", "add", "va", "type", "veth", "peer", "name", "vb")
	ns.IP("link", "set", "va", "up")
	ns.IP("link", "set", "vb", "up")
	ns.WaitRunning("va")
	ns.WaitRunning("vb")
}

const testEtherType = 0x88b5 // IEEE local experimental

func testFrame(dst, src []byte, seq int, size int) []byte {
	f := ethHdr(dst, src, testEtherType)
	p := make([]byte, size)
	binary.BigEndian.PutUint32(p, uint32(seq))
	for i := 4; i < size; i++ {
		p[i] = byte(i + seq)
	}
	return append(f, p...)
}

func isTestFrame(f []byte) bool {
	return len(f) >= 18 && binary.BigEndian.Uint16(f[12:]) == testEtherType
}

func TestPacketRawVeth(t *testing.T) {
	ns := newNetns(t)
	vethPair(t, ns)
	a := openPacketIn(t, ns, PacketConfig{Interface: "va"})
	b := openPacketIn(t, ns, PacketConfig{Interface: "vb", Memberships: []net.HardwareAddr{ourMAC}})
	if a.Header() != HeaderEthernet || a.MTU() != 1500 || len(a.HardwareAddr()) != 6 || a.Offloads() != (Offloads{}) ||
		a.MaxFrameSize() != MaxGSOFrame+14 {
		t.Fatalf("a: hdr %v mtu %d mac %v off %v", a.Header(), a.MTU(), a.HardwareAddr(), a.Offloads())
	}

	// One frame a → b, to b's MAC and to the extra unicast membership.
	f1 := testFrame(b.HardwareAddr(), a.HardwareAddr(), 1, 100)
	if err := a.Write(f1, TxMeta{}); err != nil {
		t.Fatal(err)
	}
	got, m := readUntil(t, b, 3*time.Second, func(f []byte, _ RxMeta) bool { return isTestFrame(f) })
	if !bytes.Equal(got, f1) || m.Protocol != testEtherType {
		t.Fatalf("got % x meta %+v", got[:20], m)
	}
	f2 := testFrame(ourMAC, a.HardwareAddr(), 2, 100)
	a.Write(f2, TxMeta{})
	if got, _ = readUntil(t, b, 3*time.Second, func(f []byte, _ RxMeta) bool { return isTestFrame(f) }); !bytes.Equal(got, f2) {
		t.Fatal("membership frame mismatch")
	}

	// Batches: 300 frames through sendmmsg / recvmmsg, in order.
	const N = 300
	frames := make([][]byte, N)
	for i := range frames {
		frames[i] = testFrame(b.HardwareAddr(), a.HardwareAddr(), 100+i, 60+i)
	}
	n, err := a.WriteBatch(frames, nil)
	if n != N || err != nil {
		t.Fatalf("WriteBatch %d %v", n, err)
	}
	next := 0
	bufs := make([][]byte, 64)
	for i := range bufs {
		bufs[i] = make([]byte, b.MaxFrameSize())
	}
	lens, metas := make([]int, 64), make([]RxMeta, 64)
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	batches, biggest := 0, 0
	for next < N {
		k, err := b.ReadBatch(bufs, lens, metas)
		if err != nil {
			t.Fatalf("after %d frames: %v", next, err)
		}
		batches++
		biggest = max(biggest, k)
		for i := 0; i < k; i++ {
			f := bufs[i][:lens[i]]
			if !isTestFrame(f) {
				continue
			}
			if !bytes.Equal(f, frames[next]) {
				t.Fatalf("frame %d out of order or corrupt (seq %d)", next, binary.BigEndian.Uint32(f[14:]))
			}
			next++
		}
	}
	t.Logf("%d frames in %d ReadBatch calls (largest batch %d)", N, batches, biggest)
	if s := a.Stats(); s.TxFrames != N+2 || s.TxErrors != 0 {
		t.Fatalf("a stats %+v", s)
	}

	// PACKET_IGNORE_OUTGOING: a never sees its own frames.
	a.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	k, err := a.ReadBatch(bufs, lens, metas)
	for i := 0; i < k; i++ {
		if isTestFrame(bufs[i][:lens[i]]) {
			t.Fatal("a read its own frame")
		}
	}
	if k == 0 && !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("idle read: %v", err)
	}
	// Bad frames are refused and counted; the link keeps working.
	if err := a.Write([]byte{1, 2, 3}, TxMeta{}); err == nil {
		t.Fatal("3-byte frame accepted")
	}
	if err := a.Write(testFrame(b.HardwareAddr(), a.HardwareAddr(), 9, 3000), TxMeta{}); err == nil {
		t.Fatal("over-MTU frame accepted")
	}
	if err := a.Write(f1, TxMeta{NeedsCsum: true, CsumStart: 14, CsumOffset: 2}); !errors.Is(err, ErrOffload) {
		t.Fatalf("offload on a link without: %v", err)
	}
	if err := a.Write(f1, TxMeta{}); err != nil {
		t.Fatal(err)
	}
	if s := a.Stats(); s.TxErrors != 3 || s.TxOffloadRejected != 1 {
		t.Fatalf("a stats %+v", s)
	}

	// The interface bouncing (down/up) does not kill the reader.
	ns.IP("link", "set", "vb", "down")
	ns.IP("link", "set", "vb", "up")
	ns.WaitRunning("vb")
	ns.WaitRunning("va")
	if err := a.Write(f2, TxMeta{}); err != nil {
		t.Fatal(err)
	}
	readUntil(t, b, 3*time.Second, func(f []byte, _ RxMeta) bool { return bytes.Equal(f, f2) })
	t.Logf("after down/up: b stats %+v", b.Stats())
	// Buffers below MinBufSize are refused.
	if _, err := b.ReadBatch([][]byte{make([]byte, 10)}, make([]int, 1), make([]RxMeta, 1)); !errors.Is(err, ErrShortBuffer) {
		t.Fatalf("short buffer: %v", err)
	}
}

// TestPacketVnetGSO sends one 10 KB TCP super-segment with a partial
// checksum through a veth with PACKET_VNET_HDR; the peer socket must see
// it as one frame with the GSO metadata intact.
func TestPacketVnetGSO(t *testing.T) {
	ns := newNetns(t)
	vethPair(t, ns)
	feat := FeatCsum | FeatGuestCsum | FeatGuestTSO4 | FeatHostTSO4 | FeatHostTSO6
	a := openPacketIn(t, ns, PacketConfig{Interface: "va", Offload: feat})
	b := openPacketIn(t, ns, PacketConfig{Interface: "vb", Offload: feat})
	want := Offloads{RxChecksum: true, RxGSO: true, TxChecksum: true, TSO4: true, TSO6: true, MaxGSOSize: MaxGSOFrame}
	if a.Offloads() != want {
		t.Fatalf("offloads %v", a.Offloads())
	}
	data := bytes.Repeat([]byte("gso-payload!"), 10000/12)
	s := &tcpSeg{src: [4]byte{10, 98, 0, 1}, dst: [4]byte{10, 98, 0, 2}, sport: 1, dport: 2, seq: 5, ack: 6,
		flags: tcpACK, win: 1000, payload: data}
	frame := append(ethHdr(b.HardwareAddr(), a.HardwareAddr(), 0x0800), s.build(true)...)
	meta := TxMeta{NeedsCsum: true, CsumStart: 34, CsumOffset: 16, GSOType: GSOTCPv4, GSOSize: 1000}
	if err := a.Write(frame, meta); err != nil {
		t.Fatal(err)
	}
	got, m := readUntil(t, b, 3*time.Second, func(f []byte, _ RxMeta) bool {
		p, ok := parseTCP4(f[14:])
		return ok && p.sport == 1 && p.dport == 2
	})
	t.Logf("received %d-byte frame, meta %+v", len(got), m)
	if len(got) != len(frame) || m.GSOType != GSOTCPv4 || m.GSOSize != 1000 || !m.ChecksumVerified {
		t.Fatalf("want one %d-byte GSO frame, got %d bytes meta %+v", len(frame), len(got), m)
	}
	if !bytes.Equal(got[54:], data) {
		t.Fatal("payload corrupt")
	}
	// Invalid GSO requests are refused before reaching the kernel.
	bad := meta
	bad.NeedsCsum = false
	if err := a.Write(frame, bad); !errors.Is(err, ErrOffload) {
		t.Fatalf("gso without csum: %v", err)
	}
}

// TestPacketCookedTun uses an IFF_TUN device (point-to-point, NOARP, no
// link header, like OpenVZ venet0) and a cooked AF_PACKET socket on it.
func TestPacketCookedTun(t *testing.T) {
	ns := newNetns(t)
	tun := openTapIn(t, ns, TapConfig{Name: "ustun0", TUN: true, Up: true})
	ns.IP("addr", "add", "10.99.1.1", "peer", "10.99.1.2", "dev", "ustun0")
	ns.WaitRunning("ustun0")
	p := openPacketIn(t, ns, PacketConfig{Interface: "ustun0"}) // Auto → cooked
	if p.Header() != HeaderNone || p.HardwareAddr() != nil {
		t.Fatalf("auto mode on tun: header %v mac %v", p.Header(), p.HardwareAddr())
	}
	peer, local := [4]byte{10, 99, 1, 2}, [4]byte{10, 99, 1, 1}

	// Inbound: a ping written into the tun is seen by the cooked socket as
	// a bare IP packet; the kernel's reply comes out of the tun.
	ping := ipv4(peer, local, 1, icmpEcho(8, 0x4242, 1, []byte("cooked")))
	if err := tun.Write(ping, TxMeta{}); err != nil {
		t.Fatal(err)
	}
	got, m := readUntil(t, p, 3*time.Second, func(f []byte, _ RxMeta) bool { return bytes.Equal(f, ping) })
	if m.Protocol != 0x0800 || got[0]>>4 != 4 {
		t.Fatalf("meta %+v", m)
	}
	reply, m := readUntil(t, tun, 3*time.Second, func(f []byte, _ RxMeta) bool {
		return len(f) >= 28 && f[9] == 1 && f[20] == 0 && binary.BigEndian.Uint16(f[24:]) == 0x4242
	})
	if !bytes.Equal(reply[16:20], peer[:]) || m.Protocol != 0x0800 {
		t.Fatalf("echo reply % x meta %+v", reply[:20], m)
	}
	// The cooked socket does not see the kernel's outgoing reply.
	p.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	buf := [][]byte{make([]byte, p.MaxFrameSize())}
	if n, err := p.ReadBatch(buf, make([]int, 1), make([]RxMeta, 1)); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("cooked socket saw outgoing traffic: n=%d err=%v", n, err)
	}

	// Outbound: IPv4 and IPv6 packets written to the cooked socket come out
	// of the tun unchanged (protocol picked from the version nibble).
	v4 := ipv4(local, peer, 17, []byte{0, 1, 0, 2, 0, 12, 0, 0, 'h', 'i', '!', '!'})
	v6 := make([]byte, 40+8)
	v6[0] = 0x60
	binary.BigEndian.PutUint16(v6[4:], 8)
	v6[6], v6[7] = 17, 64
	v6[8], v6[23] = 0xfd, 1
	v6[24], v6[39] = 0xfd, 2
	n, err := p.WriteBatch([][]byte{v4, v6}, nil)
	if n != 2 || err != nil {
		t.Fatalf("WriteBatch %d %v", n, err)
	}
	readUntil(t, tun, 3*time.Second, func(f []byte, _ RxMeta) bool { return bytes.Equal(f, v4) })
	_, m = readUntil(t, tun, 3*time.Second, func(f []byte, _ RxMeta) bool { return bytes.Equal(f, v6) })
	if m.Protocol != 0x86dd {
		t.Fatalf("v6 meta %+v", m)
	}
	if err := p.Write([]byte{0x50, 0, 0}, TxMeta{}); err == nil || !strings.Contains(err.Error(), "not an IPv4/IPv6") {
		t.Fatalf("non-IP accepted: %v", err)
	}
	// Raw mode on a link-less interface is refused.
	err = ns.Run(func() error { _, err := OpenPacket(PacketConfig{Interface: "ustun0", Mode: PacketRaw}); return err })
	if err == nil || !strings.Contains(err.Error(), "use cooked mode") {
		t.Fatalf("raw on tun: %v", err)
	}
}

// TestPacketCookedLocalChecksum: a datagram a local process sends out of a
// veth carries only a partial checksum (the veth "offloads" it). The cooked
// socket on the peer learns that from PACKET_AUXDATA and marks the frame
// ChecksumVerified, so the stack does not drop it as corrupt.
func TestPacketCookedLocalChecksum(t *testing.T) {
	ns := newNetns(t)
	vethPair(t, ns)
	ns.IP("addr", "add", "10.98.0.1/24", "dev", "va")
	p := openPacketIn(t, ns, PacketConfig{Interface: "vb", Mode: PacketCooked})
	var vbMAC string
	if err := ns.Run(func() error {
		ifc, err := net.InterfaceByName("vb")
		if err == nil {
			vbMAC = ifc.HardwareAddr.String()
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ns.IP("neigh", "replace", "10.98.0.2", "lladdr", vbMAC, "dev", "va", "nud", "permanent")
	msg := []byte("partial checksum")
	if err := ns.Run(func() error {
		c, err := net.Dial("udp4", "10.98.0.2:9")
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write(msg)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	got, m := readUntil(t, p, 3*time.Second, func(f []byte, _ RxMeta) bool {
		return len(f) >= 28 && f[9] == 17 && bytes.HasSuffix(f, msg)
	})
	if !m.ChecksumVerified {
		t.Fatalf("local UDP datagram not marked checksum-verified: % x", got[:28])
	}
}

func TestPacketMissingInterface(t *testing.T) {
	ns := newNetns(t)
	err := ns.Run(func() error { _, err := OpenPacket(PacketConfig{Interface: "eth9"}); return err })
	if !errors.Is(err, ErrNoInterface) || err.Error() != `link: open packet "eth9": no such network interface` {
		t.Fatalf("%v", err)
	}
}

// TestPacketENOBUFS provokes real ENOBUFS: a tiny tbf qdisc on va drops
// what it cannot queue and AF_PACKET reports that as ENOBUFS. The writes
// must be retried, counted, eventually dropped — and the link must keep
// working once the queue drains.
func TestPacketENOBUFS(t *testing.T) {
	ns := newNetns(t)
	netnstest.RequireCommand(t, "tc", "needs tc (iproute2) to install a qdisc")
	vethPair(t, ns)
	ns.IP("link", "set", "va", "mtu", "1500")
	if out, err := netnstest.Output(10*time.Second, "tc", "-n", ns.Name, "qdisc", "add", "dev", "va", "root", "tbf",
		"rate", "1mbit", "burst", "1600", "limit", "3000"); err != nil {
		t.Skipf("needs tc tbf: %v: %s", err, out)
	}
	a := openPacketIn(t, ns, PacketConfig{Interface: "va", Retry: RetryPolicy{Attempts: 3, BaseDelay: 50 * time.Microsecond, MaxDelay: 200 * time.Microsecond}})
	frames := make([][]byte, 100)
	for i := range frames {
		frames[i] = testFrame(bcast, a.HardwareAddr(), i, 1000)
	}
	sent, err := a.WriteBatch(frames, nil)
	s := a.Stats()
	t.Logf("sent %d/100, err %v, stats %+v", sent, err, s)
	if s.TxENOBUFS == 0 || s.TxRetries < s.TxENOBUFS || s.TxDropped == 0 || !errors.Is(err, ErrDropped) {
		t.Fatalf("expected counted ENOBUFS retries and drops")
	}
	if uint64(sent)+s.TxDropped != 100 {
		t.Fatalf("sent %d + dropped %d != 100", sent, s.TxDropped)
	}
	// Once the qdisc is gone the same link sends again.
	if out, err := netnstest.Output(10*time.Second, "tc", "-n", ns.Name, "qdisc", "del", "dev", "va", "root"); err != nil {
		t.Fatalf("tc del: %v: %s", err, out)
	}
	for i := 0; i < 20; i++ {
		if err := a.Write(frames[i], TxMeta{}); err != nil {
			t.Fatalf("link dead after ENOBUFS: %v", err)
		}
	}
}
