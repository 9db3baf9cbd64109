package link

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ustack/ustack/internal/netnstest"
)

var (
	ourMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
	hostIP = [4]byte{10, 99, 0, 1}
	ourIP  = [4]byte{10, 99, 0, 2}
	bcast  = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
)

// openTapIn opens a tap inside ns; t.Cleanup closes it.
func openTapIn(t *testing.T, ns *netnstest.NS, cfg TapConfig) *Tap {
	t.Helper()
	return openIn(t, ns, "OpenTap", func() (*Tap, error) { return OpenTap(cfg) })
}

// answerARP replies to a kernel ARP request for ourIP; reports whether f was one.
func answerARP(t *testing.T, l Link, f []byte) bool {
	if len(f) < 42 || binary.BigEndian.Uint16(f[12:]) != 0x0806 || binary.BigEndian.Uint16(f[20:]) != 1 ||
		!bytes.Equal(f[38:42], ourIP[:]) {
		return false
	}
	var spa [4]byte
	copy(spa[:], f[28:32])
	reply := append(ethHdr(f[6:12], ourMAC, 0x0806), arpPacket(2, ourMAC, ourIP, f[22:28], spa)...)
	if err := l.Write(reply, TxMeta{}); err != nil {
		t.Errorf("arp reply: %v", err)
	}
	return true
}

func TestTapARPAndPing(t *testing.T) {
	ns := newNetns(t)
	tap := openTapIn(t, ns, TapConfig{Name: "ust0", Up: true, MTU: 1400})
	ns.IP("addr", "add", "10.99.0.1/24", "dev", "ust0")
	ns.WaitRunning("ust0")
	if tap.Name() != "ust0" || tap.Header() != HeaderEthernet || tap.MTU() != 1400 ||
		len(tap.HardwareAddr()) != 6 || tap.Offloads() != (Offloads{}) || tap.MaxFrameSize() != 1400+14+4 {
		t.Fatalf("tap %s hdr %v mtu %d mac %v offloads %v max %d", tap.Name(), tap.Header(), tap.MTU(),
			tap.HardwareAddr(), tap.Offloads(), tap.MaxFrameSize())
	}
	hostMAC := tap.HardwareAddr()

	// ARP who-has 10.99.0.1 → the kernel answers with the tap's MAC.
	req := append(ethHdr(bcast, ourMAC, 0x0806), arpPacket(1, ourMAC, ourIP, make([]byte, 6), hostIP)...)
	if err := tap.Write(req, TxMeta{}); err != nil {
		t.Fatal(err)
	}
	f, m := readUntil(t, tap, 5*time.Second, func(f []byte, _ RxMeta) bool {
		return len(f) >= 42 && binary.BigEndian.Uint16(f[12:]) == 0x0806 && binary.BigEndian.Uint16(f[20:]) == 2 &&
			bytes.Equal(f[28:32], hostIP[:])
	})
	if !bytes.Equal(f[22:28], hostMAC) || !bytes.Equal(f[0:6], ourMAC) || m.Protocol != 0x0806 {
		t.Fatalf("ARP reply from %x to %x (tap MAC %v), meta %+v", f[22:28], f[0:6], hostMAC, m)
	}

	// ICMP echo → echo reply.
	data := []byte("ustack tap test")
	ping := append(ethHdr(hostMAC, ourMAC, 0x0800), ipv4(ourIP, hostIP, 1, icmpEcho(8, 0x1234, 7, data))...)
	if err := tap.Write(ping, TxMeta{}); err != nil {
		t.Fatal(err)
	}
	f, _ = readUntil(t, tap, 5*time.Second, func(f []byte, _ RxMeta) bool {
		if answerARP(t, tap, f) {
			return false
		}
		return len(f) >= 42 && binary.BigEndian.Uint16(f[12:]) == 0x0800 && f[23] == 1 && f[34] == 0 &&
			binary.BigEndian.Uint16(f[38:]) == 0x1234 && binary.BigEndian.Uint16(f[40:]) == 7
	})
	if !bytes.Equal(f[42:], data) || !bytes.Equal(f[26:30], hostIP[:]) || !bytes.Equal(f[30:34], ourIP[:]) {
		t.Fatalf("bad echo reply % x", f)
	}
	s := tap.Stats()
	if s.TxFrames < 2 || s.RxFrames < 2 || s.TxErrors != 0 || s.RxErrors != 0 {
		t.Fatalf("stats %+v", s)
	}

	// A second opener of an attached tap is refused with a clear error.
	err := ns.Run(func() error { _, err := OpenTap(TapConfig{Name: "ust0"}); return err })
	if err == nil || !strings.Contains(err.Error(), `link: open tap "ust0"`) {
		t.Fatalf("second open: %v", err)
	}
	t.Logf("second open: %v", err)

	// Close unblocks a pending ReadBatch.
	done := make(chan error, 1)
	go func() {
		bufs := [][]byte{make([]byte, tap.MaxFrameSize())}
		for {
			if _, err := tap.ReadBatch(bufs, make([]int, 1), make([]RxMeta, 1)); err != nil {
				done <- err
				return
			}
		}
	}()
	time.Sleep(50 * time.Millisecond)
	if err := tap.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("ReadBatch after Close: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Close did not unblock ReadBatch")
	}
	if err := tap.Write(ping, TxMeta{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
	if err := tap.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
	// Not persistent: the interface is gone.
	err = ns.Run(func() error {
		c, err := openIfctl()
		if err != nil {
			return err
		}
		defer c.close()
		_, err = c.info("ust0")
		return err
	})
	if err == nil {
		t.Fatal("non-persistent tap survived Close")
	}
}

func TestTapPersistAndMustExist(t *testing.T) {
	ns := newNetns(t)
	err := ns.Run(func() error { _, err := OpenTap(TapConfig{Name: "nosuch0", MustExist: true}); return err })
	if !errors.Is(err, ErrNoInterface) || err.Error() != `link: open tap "nosuch0": no such network interface` {
		t.Fatalf("MustExist on missing tap: %v", err)
	}
	tap := openTapIn(t, ns, TapConfig{Name: "ustp0", Persist: true})
	tap.Close()
	tap2 := openTapIn(t, ns, TapConfig{Name: "ustp0", MustExist: true})
	if tap2.Name() != "ustp0" {
		t.Fatal(tap2.Name())
	}
	tap2.Close()
	ns.IP("link", "del", "ustp0")

	// Kernel-chosen name and TUN mode.
	tun := openTapIn(t, ns, TapConfig{TUN: true})
	if !strings.HasPrefix(tun.Name(), "tun") || tun.Header() != HeaderNone || tun.HardwareAddr() != nil {
		t.Fatalf("tun %q hdr %v mac %v", tun.Name(), tun.Header(), tun.HardwareAddr())
	}
	// Wrong type for an existing interface.
	err = ns.Run(func() error { _, err := OpenTap(TapConfig{Name: tun.Name()}); return err })
	if err == nil {
		t.Fatal("opened a tun as tap")
	}
	t.Logf("tap on tun: %v", err)
}

func TestTapOpenErrors(t *testing.T) {
	_, err := OpenTap(TapConfig{Name: "this-name-is-too-long"})
	if !errors.Is(err, ErrBadName) || !strings.HasPrefix(err.Error(), `link: open tap "this-name-is-too-long": invalid interface name`) {
		t.Fatalf("long name: %v", err)
	}
	if _, err := OpenTap(TapConfig{Name: "a/b", TUN: true}); !errors.Is(err, ErrBadName) || !strings.HasPrefix(err.Error(), `link: open tun "a/b"`) {
		t.Fatalf("slash: %v", err)
	}
	if _, err := OpenTap(TapConfig{Name: "x", Offload: 1 << 40}); err == nil {
		t.Fatal("unknown offload bits accepted")
	}
	if _, err := OpenPacket(PacketConfig{Interface: ""}); !errors.Is(err, ErrBadName) {
		t.Fatalf("empty packet name: %v", err)
	}
	if os.Geteuid() == 0 {
		return
	}
	// Unprivileged: opening a tap must say why it failed.
	_, err = OpenTap(TapConfig{Name: "lkl-tap0"})
	if err == nil {
		t.Skip("unprivileged open of a tap succeeded (CAP_NET_ADMIN?)")
	}
	if !errors.Is(err, os.ErrPermission) || !strings.Contains(err.Error(), `link: open tap "lkl-tap0": `) ||
		!strings.HasSuffix(err.Error(), "(needs root or CAP_NET_ADMIN)") {
		t.Fatalf("unprivileged open: %v", err)
	}
	t.Logf("unprivileged: %v", err)
	_, err = OpenPacket(PacketConfig{Interface: "lo"})
	if !errors.Is(err, os.ErrPermission) || !strings.HasSuffix(err.Error(), "(needs root or CAP_NET_ADMIN)") {
		t.Fatalf("unprivileged packet: %v", err)
	}
	t.Logf("unprivileged: %v", err)
}

// TestTapOffloadTCP runs a kernel TCP connection through a tap with
// LKL-style offloads 0x8883 (12-byte vnet header, TUN_F_CSUM|TUN_F_TSO4,
// tx checksum + TSO4). The test plays a minimal TCP peer at 10.99.0.2:
// every segment it sends uses a partial checksum (NeedsCsum) that the
// kernel must complete, its data goes out as one TSO super-segment, and
// the kernel's bulk data must arrive as super-segments with GSOSize set.
func TestTapOffloadTCP(t *testing.T) {
	ns := newNetns(t)
	tap := openTapIn(t, ns, TapConfig{Name: "ust1", Up: true, Offload: 0x8883})
	ns.IP("addr", "add", "10.99.0.1/24", "dev", "ust1")
	ns.WaitRunning("ust1")
	want := Offloads{RxChecksum: true, RxGSO: true, TxChecksum: true, TSO4: true, MaxGSOSize: MaxGSOFrame}
	if tap.Offloads() != want || tap.MaxFrameSize() != MaxGSOFrame+14 || tap.vnetLen != 12 {
		t.Fatalf("offloads %v max %d vnet %d", tap.Offloads(), tap.MaxFrameSize(), tap.vnetLen)
	}
	hostMAC := tap.HardwareAddr()

	const kernelSends = 256 << 10
	const weSend = 8000
	type result struct {
		got []byte
		err error
	}
	res := make(chan result, 1)
	go func() {
		var conn net.Conn
		err := ns.Run(func() (err error) {
			conn, err = net.DialTimeout("tcp", "10.99.0.2:5001", 5*time.Second)
			return err
		})
		if err != nil {
			res <- result{err: err}
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(15 * time.Second))
		werr := make(chan error, 1)
		go func() {
			_, err := conn.Write(bytes.Repeat([]byte("0123456789abcdef"), kernelSends/16))
			werr <- err
		}()
		got := make([]byte, weSend)
		_, err = io.ReadFull(conn, got)
		if err == nil {
			err = <-werr
		}
		res <- result{got, err}
	}()

	payload := make([]byte, weSend)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	const iss = 1000000
	var (
		peerPort        uint16
		rcvNxt          uint32
		synSeen, sentUp bool
		received        int
		gsoFrames       int
		maxFrame        int
		unverified      int
		clientDone      *result
	)
	send := func(s *tcpSeg, meta TxMeta) {
		frame := append(ethHdr(hostMAC, ourMAC, 0x0800), s.build(true)...)
		meta.NeedsCsum, meta.CsumStart, meta.CsumOffset = true, 34, 16
		if err := tap.Write(frame, meta); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	seg := func(flags byte, seq uint32, data []byte) *tcpSeg {
		return &tcpSeg{src: ourIP, dst: hostIP, sport: 5001, dport: peerPort, seq: seq, ack: rcvNxt,
			flags: flags, win: 65535, payload: data}
	}
	bufs := make([][]byte, 16)
	for i := range bufs {
		bufs[i] = make([]byte, tap.MaxFrameSize())
	}
	lens, metas := make([]int, 16), make([]RxMeta, 16)
	deadline := time.Now().Add(20 * time.Second)
	tap.SetReadDeadline(deadline)
	for clientDone == nil || received < kernelSends {
		select {
		case r := <-res:
			clientDone = &r
			if r.err != nil {
				t.Fatalf("kernel side: %v", r.err)
			}
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("timeout: received %d/%d, client done %v", received, kernelSends, clientDone != nil)
		}
		tap.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := tap.ReadBatch(bufs, lens, metas)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			f := bufs[i][:lens[i]]
			if answerARP(t, tap, f) || len(f) < 14 || binary.BigEndian.Uint16(f[12:]) != 0x0800 {
				continue
			}
			p, ok := parseTCP4(f[14:])
			if !ok || p.dport != 5001 {
				continue
			}
			switch {
			case p.flags&tcpSYN != 0:
				peerPort, rcvNxt, synSeen = p.sport, p.seq+1, true
				s := seg(tcpSYN|tcpACK, iss, nil)
				s.opts = []byte{2, 4, 0x05, 0xb4} // MSS 1460
				send(s, TxMeta{})
			case !synSeen:
			default:
				if !sentUp && p.flags&tcpACK != 0 && p.ack == iss+1 {
					// Established: our data as one TSO super-segment.
					sentUp = true
					send(seg(tcpACK|tcpPSH, iss+1, payload), TxMeta{GSOType: GSOTCPv4, GSOSize: 1448})
				}
				if p.payloadLen > 0 {
					if !metas[i].ChecksumVerified {
						unverified++
					}
					if metas[i].GSOSize > 0 {
						gsoFrames++
						if metas[i].GSOType != GSOTCPv4 {
							t.Errorf("gso type %v", metas[i].GSOType)
						}
						if p.ipTotalLen != len(f)-14 {
							t.Errorf("super-segment IP length %d, frame %d", p.ipTotalLen, len(f))
						}
					}
					maxFrame = max(maxFrame, len(f))
					if p.seq == rcvNxt {
						rcvNxt += uint32(p.payloadLen)
						received += p.payloadLen
					}
					send(seg(tcpACK, iss+1+uint32(weSend), nil), TxMeta{})
				}
			}
		}
	}
	if !bytes.Equal(clientDone.got, payload) {
		t.Fatal("kernel received corrupted data from our TSO segment")
	}
	t.Logf("kernel→tap: %d bytes, %d GSO super-segments, largest frame %d; stats %+v", received, gsoFrames, maxFrame, tap.Stats())
	if gsoFrames == 0 || maxFrame <= 1514 {
		t.Fatalf("no GSO super-segment arrived (largest frame %d)", maxFrame)
	}
	if unverified != 0 {
		t.Fatalf("%d data frames without ChecksumVerified", unverified)
	}
}
