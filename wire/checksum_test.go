package wire

import (
	"math/rand"
	"net/netip"
	"testing"
)

// refChecksum is the textbook RFC 1071 loop, 16 bits at a time.
func refChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func TestChecksumAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	buf := make([]byte, 70000)
	for i := range buf {
		buf[i] = byte(rng.Intn(256))
	}
	for iter := 0; iter < 3000; iter++ {
		off := rng.Intn(64)
		var n int
		switch iter % 3 {
		case 0:
			n = rng.Intn(80)
		case 1:
			n = rng.Intn(2000)
		default:
			n = rng.Intn(len(buf) - off)
		}
		b := buf[off : off+n]
		if got, want := FoldChecksum(Checksum(b, 0)), refChecksum(b); got != want {
			t.Fatalf("off=%d len=%d: got %#04x want %#04x", off, n, got, want)
		}
	}
}

func TestChecksumAllOnes(t *testing.T) {
	// Worst case for carries: 64 KiB+ of 0xff, and a huge initial value.
	b := make([]byte, 70001)
	for i := range b {
		b[i] = 0xff
	}
	for _, n := range []int{0, 1, 7, 8, 31, 32, 33, 65535, 65536, 70001} {
		if got, want := FoldChecksum(Checksum(b[:n], 0)), refChecksum(b[:n]); got != want {
			t.Fatalf("len %d: got %#04x want %#04x", n, got, want)
		}
		// An initial value near the top of uint32 must not lose carries:
		// it is equivalent to prepending its four bytes to the data.
		for _, init := range []uint32{0xffffffff, 0xfffffffe, 0x8000ffff} {
			pre := append([]byte{byte(init >> 24), byte(init >> 16), byte(init >> 8), byte(init)}, b[:n]...)
			if got, want := FoldChecksum(Checksum(b[:n], init)), refChecksum(pre); got != want {
				t.Fatalf("len %d init %#x: got %#04x want %#04x", n, init, got, want)
			}
		}
	}
}

func TestChecksumChaining(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	b := make([]byte, 3001)
	rng.Read(b)
	for i := 0; i < 200; i++ {
		split := rng.Intn(len(b)/2) * 2 // even split
		got := FoldChecksum(Checksum(b[split:], Checksum(b[:split], 0)))
		if want := refChecksum(b); got != want {
			t.Fatalf("split %d: got %#04x want %#04x", split, got, want)
		}
	}
}

func TestChecksumRFC1071Example(t *testing.T) {
	// RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2 (checksum 220d).
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if got := FoldChecksum(Checksum(b, 0)); got != 0x220d {
		t.Fatalf("got %#04x want 0x220d", got)
	}
}

func TestPseudoHeaderSum(t *testing.T) {
	src4, dst4 := netip.MustParseAddr("192.168.1.1"), netip.MustParseAddr("192.168.1.2")
	var ph4 [12]byte
	copy(ph4[0:4], src4.AsSlice())
	copy(ph4[4:8], dst4.AsSlice())
	ph4[9], ph4[10], ph4[11] = ProtoTCP, 0x05, 0xdc
	if got, want := FoldChecksum(PseudoHeaderSum(src4, dst4, ProtoTCP, 1500)), refChecksum(ph4[:]); got != want {
		t.Fatalf("v4: got %#04x want %#04x", got, want)
	}
	src6, dst6 := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("fe80::abcd:1")
	var ph6 [40]byte
	copy(ph6[0:16], src6.AsSlice())
	copy(ph6[16:32], dst6.AsSlice())
	ph6[33], ph6[34], ph6[35], ph6[39] = 0x01, 0x00, 0x10, ProtoICMPv6
	if got, want := FoldChecksum(PseudoHeaderSum(src6, dst6, ProtoICMPv6, 0x10010)), refChecksum(ph6[:]); got != want {
		t.Fatalf("v6: got %#04x want %#04x", got, want)
	}
}

func TestChecksumAllocs(t *testing.T) {
	b := make([]byte, 1460)
	src, dst := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	if n := testing.AllocsPerRun(100, func() {
		_ = FoldChecksum(Checksum(b, PseudoHeaderSum(src, dst, ProtoTCP, len(b))))
	}); n != 0 {
		t.Fatalf("allocs = %v", n)
	}
}

func BenchmarkChecksum1460(b *testing.B) {
	buf := make([]byte, 1460)
	rand.New(rand.NewSource(3)).Read(buf)
	b.SetBytes(int64(len(buf)))
	var s uint32
	for b.Loop() {
		s += Checksum(buf, 0)
	}
	_ = s
}

func BenchmarkChecksumRef1460(b *testing.B) {
	buf := make([]byte, 1460)
	rand.New(rand.NewSource(3)).Read(buf)
	b.SetBytes(int64(len(buf)))
	var s uint16
	for b.Loop() {
		s += refChecksum(buf)
	}
	_ = s
}
