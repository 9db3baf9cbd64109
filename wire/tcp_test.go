package wire

import (
	"bytes"
	"net/netip"
	"testing"
)

var (
	tcpSrc4, tcpDst4 = netip.MustParseAddr("192.168.1.1"), netip.MustParseAddr("192.168.1.2")

	// Linux-style SYN 192.168.1.1:50000 -> 192.168.1.2:80, seq 0x01020304,
	// window 64240, MSS 1460, SACK-permitted, TS 123456/0, NOP, WS 7.
	// Checksum 0x1fd3.
	tcpSYN4 = []byte{
		0xc3, 0x50, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00,
		0xa0, 0x02, 0xfa, 0xf0, 0x1f, 0xd3, 0x00, 0x00,
		0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x01, 0xe2, 0x40,
		0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
	}
	// PSH|ACK 192.168.1.2:80 -> 192.168.1.1:50000 with NOP NOP TS and
	// payload "hello". Checksum 0x8c11.
	tcpData4 = []byte{
		0x00, 0x50, 0xc3, 0x50, 0xa0, 0xb0, 0xc0, 0xd0, 0x01, 0x02, 0x03, 0x05,
		0x80, 0x18, 0x01, 0xf5, 0x8c, 0x11, 0x00, 0x00,
		0x01, 0x01, 0x08, 0x0a, 0x00, 0x01, 0xe2, 0x41, 0x0a, 0x0b, 0x0c, 0x0d,
		0x68, 0x65, 0x6c, 0x6c, 0x6f,
	}
	// SYN over IPv6 2001:db8::1:40000 -> 2001:db8::2:443, MSS 1440, WS 8.
	// Checksum 0x4e9b.
	tcpSYN6 = []byte{
		0x9c, 0x40, 0x01, 0xbb, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00,
		0xa0, 0x02, 0xff, 0xff, 0x4e, 0x9b, 0x00, 0x00,
		0x02, 0x04, 0x05, 0xa0, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x00, 0x00, 0x01,
		0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x08,
	}
)

func TestTCPParseSYN(t *testing.T) {
	h, p, err := ParseTCP(tcpSYN4)
	if err != nil {
		t.Fatal(err)
	}
	want := TCPHeader{
		SrcPort: 50000, DstPort: 80, Seq: 0x01020304, DataOffset: 40, Flags: FlagSYN,
		Window: 64240, Checksum: 0x1fd3,
		Options: TCPOptions{MSS: 1460, WScale: 7, SACKPermitted: true, HasTimestamp: true, TSVal: 123456},
	}
	if h != want || len(p) != 0 {
		t.Fatalf("got %+v", h)
	}
	if !VerifyTCPChecksum(tcpSrc4, tcpDst4, tcpSYN4) {
		t.Fatal("checksum")
	}
	if VerifyTCPChecksum(tcpDst4, netip.MustParseAddr("192.168.1.3"), tcpSYN4) {
		t.Fatal("checksum with wrong pseudo-header")
	}
	// Encode + SetTCPChecksum reproduce the bytes exactly.
	b := make([]byte, h.Len())
	if n := h.Encode(b); n != 40 {
		t.Fatalf("len %d", n)
	}
	SetTCPChecksum(tcpSrc4, tcpDst4, b)
	if !bytes.Equal(b, tcpSYN4) {
		t.Fatalf("encode\n% x\n% x", b, tcpSYN4)
	}
}

func TestTCPParseData(t *testing.T) {
	h, p, err := ParseTCP(tcpData4)
	if err != nil {
		t.Fatal(err)
	}
	if h.Flags != FlagPSH|FlagACK || h.Flags.String() != "PA" || string(p) != "hello" ||
		h.Options != (TCPOptions{WScale: -1, HasTimestamp: true, TSVal: 123457, TSEcr: 0x0a0b0c0d}) {
		t.Fatalf("%+v %q", h, p)
	}
	if !VerifyTCPChecksum(tcpDst4, tcpSrc4, tcpData4) {
		t.Fatal("checksum")
	}
	seg := make([]byte, h.Len()+len(p))
	n := h.Encode(seg)
	copy(seg[n:], p)
	SetTCPChecksum(tcpDst4, tcpSrc4, seg)
	if !bytes.Equal(seg, tcpData4) {
		t.Fatalf("encode\n% x\n% x", seg, tcpData4)
	}
}

func TestTCPv6Checksum(t *testing.T) {
	if !VerifyTCPChecksum(ipv6Src, ipv6Dst, tcpSYN6) {
		t.Fatal("v6 checksum")
	}
	h, _, err := ParseTCP(tcpSYN6)
	if err != nil || h.Options.MSS != 1440 || h.Options.WScale != 8 {
		t.Fatal(h, err)
	}
	b := make([]byte, h.Len())
	h.Encode(b)
	SetTCPChecksum(ipv6Src, ipv6Dst, b)
	if !bytes.Equal(b, tcpSYN6) {
		t.Fatalf("% x", b)
	}
	if VerifyTCPChecksum(ipv6Src, ipv6Dst, tcpSYN6[:19]) {
		t.Fatal("short segment verified")
	}
	SetTCPChecksum(ipv6Src, ipv6Dst, b[:10]) // must not panic
}

func TestTCPFlagsString(t *testing.T) {
	for f, s := range map[TCPFlags]string{
		0: "-", FlagSYN: "S", FlagSYN | FlagACK: "SA", FlagFIN | FlagPSH | FlagACK: "FPA",
		FlagRST: "R", 0xff: "FSRPAUEC", FlagACK | FlagECE | FlagCWR: "AEC",
	} {
		if f.String() != s {
			t.Errorf("%#x: %q want %q", uint8(f), f.String(), s)
		}
	}
	if !(FlagSYN | FlagACK).Has(FlagACK) || FlagSYN.Has(FlagSYN|FlagACK) {
		t.Fatal("Has")
	}
}

// tcpWithOptions builds a header carrying opts (padded with EOL to 4).
func tcpWithOptions(opts ...byte) []byte {
	for len(opts)%4 != 0 {
		opts = append(opts, 0)
	}
	b := make([]byte, 20+len(opts))
	b[12] = byte((20+len(opts))/4) << 4
	b[13] = byte(FlagACK)
	copy(b[20:], opts)
	return b
}

func TestTCPHostileOptions(t *testing.T) {
	sack5 := []byte{5, 42}
	for i := 0; i < 40; i++ {
		sack5 = append(sack5, byte(i))
	}
	cases := []struct {
		name string
		b    []byte
		err  error
	}{
		{"zero length", tcpWithOptions(99, 0, 0, 0), ErrBadOption},
		{"length 1", tcpWithOptions(2, 1, 0, 0), ErrBadOption},
		{"past end", tcpWithOptions(1, 1, 99, 5), ErrBadOption},
		{"kind without length", tcpWithOptions(1, 1, 1, 2), ErrBadOption},
		{"mss length 3", tcpWithOptions(2, 3, 5, 1), ErrBadOption},
		{"mss length 6", tcpWithOptions(2, 6, 5, 180, 0, 0, 0, 0), ErrBadOption},
		{"ws length 4", tcpWithOptions(3, 4, 7, 0), ErrBadOption},
		{"sackperm length 3", tcpWithOptions(4, 3, 0, 0), ErrBadOption},
		{"ts length 8", tcpWithOptions(8, 8, 0, 0, 0, 0, 0, 0), ErrBadOption},
		{"sack no blocks", tcpWithOptions(5, 2, 1, 1), ErrBadOption},
		{"sack odd length", tcpWithOptions(5, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1), ErrBadOption},
		{"5 sack blocks", func() []byte { b := tcpWithOptions(sack5...)[:60]; b[12] = 0xf0; return b }(), ErrBadOption},
		{"data offset < 5", func() []byte { b := tcpWithOptions(); b[12] = 0x40; return b }(), ErrBadLength},
		{"data offset past end", func() []byte { b := tcpWithOptions(); b[12] = 0xf0; return b }(), ErrBadLength},
		{"truncated", make([]byte, 19), ErrTruncated},
	}
	for _, c := range cases {
		if _, _, err := ParseTCP(c.b); err != c.err {
			t.Errorf("%s: got %v want %v", c.name, err, c.err)
		}
	}

	// wscale 200 is clamped to 14.
	h, _, err := ParseTCP(tcpWithOptions(1, 3, 3, 200))
	if err != nil || h.Options.WScale != 14 {
		t.Fatalf("wscale: %v %d", err, h.Options.WScale)
	}
	// Unknown options are skipped; EOL stops parsing (garbage after it).
	h, _, err = ParseTCP(tcpWithOptions(30, 4, 0xaa, 0xbb, 2, 4, 1, 0, 0, 0xff, 0xff, 0xff))
	if err != nil || h.Options.MSS != 256 {
		t.Fatalf("unknown/EOL: %v %+v", err, h.Options)
	}
	// 4 SACK blocks (the maximum that fits) with a NOP pair in front.
	opts := []byte{1, 1, 5, 34}
	for i := 0; i < 32; i++ {
		opts = append(opts, byte(i))
	}
	h, _, err = ParseTCP(tcpWithOptions(opts...))
	if err != nil || h.Options.NumSACK != 4 || h.Options.SACK[3] != (SACKBlock{0x18191a1b, 0x1c1d1e1f}) {
		t.Fatalf("sack4: %v %+v", err, h.Options)
	}
}

func TestTCPEncodeLayouts(t *testing.T) {
	blocks := [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}, {7, 8}}
	cases := []struct {
		name  string
		o     TCPOptions
		olen  int
		nsack int
	}{
		{"none", NoTCPOptions(), 0, 0},
		{"zero value = ws 0", TCPOptions{}, 4, 0},
		{"mss", TCPOptions{MSS: 1460, WScale: -1}, 4, 0},
		{"sackperm only", TCPOptions{WScale: -1, SACKPermitted: true}, 4, 0},
		{"ts only", TCPOptions{WScale: -1, HasTimestamp: true, TSVal: 9}, 12, 0},
		{"syn full", TCPOptions{MSS: 1460, WScale: 14, SACKPermitted: true, HasTimestamp: true, TSVal: 1, TSEcr: 2}, 20, 0},
		{"ts + 4 sack -> 3", TCPOptions{WScale: -1, HasTimestamp: true, SACK: blocks, NumSACK: 4}, 40, 3},
		{"4 sack", TCPOptions{WScale: -1, SACK: blocks, NumSACK: 4}, 36, 4},
		{"all + sack -> 2", TCPOptions{MSS: 536, WScale: 2, SACKPermitted: true, HasTimestamp: true, SACK: blocks, NumSACK: 4}, 40, 2},
		{"numsack out of range", TCPOptions{WScale: -1, SACK: blocks, NumSACK: 99}, 36, 4},
		{"numsack negative", TCPOptions{WScale: -1, SACK: blocks, NumSACK: -3}, 0, 0},
	}
	for _, c := range cases {
		h := TCPHeader{SrcPort: 1, DstPort: 2, Seq: 3, Ack: 4, Flags: FlagACK, Window: 5, Urgent: 6, Options: c.o}
		if h.OptionsLen() != c.olen || h.Len() != 20+c.olen {
			t.Errorf("%s: OptionsLen %d want %d", c.name, h.OptionsLen(), c.olen)
			continue
		}
		b := make([]byte, 80)
		n := h.Encode(b)
		if n != h.Len() || h.DataOffset != n {
			t.Errorf("%s: Encode %d", c.name, n)
		}
		got, p, err := ParseTCP(b[:n])
		if err != nil || len(p) != 0 {
			t.Errorf("%s: reparse %v", c.name, err)
			continue
		}
		want := c.o
		want.NumSACK = c.nsack
		for i := c.nsack; i < 4; i++ {
			want.SACK[i] = SACKBlock{}
		}
		if got.Options != want {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, got.Options, want)
		}
		got.Options = h.Options
		if got != h {
			t.Errorf("%s: header %+v", c.name, got)
		}
	}
}

func TestTCPAllocs(t *testing.T) {
	b := make([]byte, 60)
	if n := testing.AllocsPerRun(100, func() {
		h, _, err := ParseTCP(tcpSYN4)
		if err != nil {
			panic(err)
		}
		n := h.Encode(b)
		SetTCPChecksum(tcpSrc4, tcpDst4, b[:n])
		if !VerifyTCPChecksum(tcpSrc4, tcpDst4, b[:n]) {
			panic("checksum")
		}
	}); n != 0 {
		t.Fatalf("allocs = %v", n)
	}
}

func BenchmarkParseTCP(b *testing.B) {
	for b.Loop() {
		h, _, err := ParseTCP(tcpSYN4)
		if err != nil || h.Options.MSS == 0 {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeTCP(b *testing.B) {
	h, _, _ := ParseTCP(tcpSYN4)
	buf := make([]byte, 60)
	for b.Loop() {
		h.Encode(buf)
	}
}
