package link

import (
	"bytes"
	"errors"
	"testing"
)

func TestVnetHdrEncodeDecode(t *testing.T) {
	h := VnetHdr{Flags: VnetFlagNeedsCsum, GSOType: VnetGSOTCPv4, HdrLen: 66, GSOSize: 1448,
		CsumStart: 34, CsumOffset: 16, NumBuffers: 1}
	b12 := make([]byte, VnetHdrLenV1)
	if err := h.Encode(b12); err != nil {
		t.Fatal(err)
	}
	want := []byte{1, 1, 66, 0, 0xa8, 0x05, 34, 0, 16, 0, 1, 0}
	if !bytes.Equal(b12, want) {
		t.Fatalf("encoded % x, want % x", b12, want)
	}
	got, err := DecodeVnetHdr(b12)
	if err != nil || got != h {
		t.Fatalf("decode v1: %+v %v", got, err)
	}
	b10 := make([]byte, VnetHdrLen)
	h.Encode(b10)
	if !bytes.Equal(b10, want[:10]) {
		t.Fatalf("encoded10 % x", b10)
	}
	got, _ = DecodeVnetHdr(b10)
	h.NumBuffers = 0
	if got != h {
		t.Fatalf("decode v0: %+v", got)
	}
	if _, err := DecodeVnetHdr(make([]byte, 11)); err == nil {
		t.Fatal("11-byte header accepted")
	}
	if err := h.Encode(make([]byte, 9)); err == nil {
		t.Fatal("encode into 9 bytes accepted")
	}
}

func TestVnetRxMeta(t *testing.T) {
	cases := []struct {
		name string
		h    VnetHdr
		len  int
		want RxMeta
		bad  bool
	}{
		{"plain", VnetHdr{}, 60, RxMeta{}, false},
		{"data valid", VnetHdr{Flags: VnetFlagDataValid}, 60, RxMeta{ChecksumVerified: true}, false},
		{"needs csum", VnetHdr{Flags: VnetFlagNeedsCsum, CsumStart: 34, CsumOffset: 16}, 54, RxMeta{ChecksumVerified: true}, false},
		{"csum beyond frame", VnetHdr{Flags: VnetFlagNeedsCsum, CsumStart: 34, CsumOffset: 16}, 51, RxMeta{}, true},
		{"tso4", VnetHdr{Flags: VnetFlagNeedsCsum, GSOType: VnetGSOTCPv4, GSOSize: 1448, CsumStart: 34, CsumOffset: 16, HdrLen: 66},
			30000, RxMeta{ChecksumVerified: true, GSOType: GSOTCPv4, GSOSize: 1448}, false},
		{"tso6 ecn", VnetHdr{Flags: VnetFlagNeedsCsum, GSOType: VnetGSOTCPv6 | VnetGSOECNBit, GSOSize: 1428, CsumStart: 54, CsumOffset: 16},
			30000, RxMeta{ChecksumVerified: true, GSOType: GSOTCPv6, GSOSize: 1428}, false},
		{"udp gso", VnetHdr{GSOType: VnetGSOUDPL4, GSOSize: 1000}, 3000, RxMeta{}, true},
		{"gso no size", VnetHdr{GSOType: VnetGSOTCPv4}, 3000, RxMeta{}, true},
	}
	for _, c := range cases {
		got, err := c.h.RxMeta(c.len)
		if c.bad {
			if !errors.Is(err, ErrVnetHdr) {
				t.Errorf("%s: want ErrVnetHdr, got %v", c.name, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: got %+v %v, want %+v", c.name, got, err, c.want)
		}
	}
}

func TestVnetHdrFromTx(t *testing.T) {
	m := TxMeta{NeedsCsum: true, CsumStart: 34, CsumOffset: 16, GSOType: GSOTCPv4, GSOSize: 1448}
	h := VnetHdrFromTx(&m, 20000)
	want := VnetHdr{Flags: VnetFlagNeedsCsum, GSOType: VnetGSOTCPv4, GSOSize: 1448, CsumStart: 34, CsumOffset: 16, HdrLen: 52}
	if h != want {
		t.Fatalf("got %+v want %+v", h, want)
	}
	m.HdrLen = 66
	if h := VnetHdrFromTx(&m, 20000); h.HdrLen != 66 {
		t.Fatalf("hdrlen %d", h.HdrLen)
	}
	if h := VnetHdrFromTx(&TxMeta{}, 60); h != (VnetHdr{}) {
		t.Fatalf("zero meta gave %+v", h)
	}
	// The receive side must understand what the send side produces.
	b := make([]byte, VnetHdrLen)
	h.Encode(b)
	back, _ := DecodeVnetHdr(b)
	rm, err := back.RxMeta(20000)
	if err != nil || rm.GSOSize != 1448 || rm.GSOType != GSOTCPv4 || !rm.ChecksumVerified {
		t.Fatalf("tx->rx: %+v %v", rm, err)
	}
}

func TestFeatures(t *testing.T) {
	f, err := ParseFeatures("0x8883")
	if err != nil {
		t.Fatal(err)
	}
	if f != FeatCsum|FeatGuestCsum|FeatGuestTSO4|FeatHostTSO4|FeatMrgRxbuf {
		t.Fatalf("0x8883 = %v", f)
	}
	if d, _ := ParseFeatures("34947"); d != f {
		t.Fatalf("decimal %v", d)
	}
	if f.VnetHdrSize() != 12 || (f&^FeatMrgRxbuf).VnetHdrSize() != 10 || Features(0).VnetHdrSize() != 0 {
		t.Fatal("vnet header size")
	}
	if got := f.tunOffload(); got != tunFCsum|tunFTSO4 {
		t.Fatalf("tun offload %#x", got)
	}
	o := f.offloads(true)
	want := Offloads{RxChecksum: true, RxGSO: true, TxChecksum: true, TSO4: true, MaxGSOSize: MaxGSOFrame}
	if o != want {
		t.Fatalf("offloads %v", o)
	}
	// HOST_TSO without CSUM grants nothing on transmit.
	if o := (FeatHostTSO4 | FeatHostTSO6).offloads(false); o.TSO4 || o.TSO6 || o.TxChecksum || o.MaxGSOSize != 0 {
		t.Fatalf("tso without csum: %v", o)
	}
	if got := (FeatGuestTSO6).tunOffload(); got != tunFCsum|tunFTSO6 {
		t.Fatalf("guest tso6 %#x", got)
	}
	if (Features(0)).offloads(true) != (Offloads{}) {
		t.Fatal("zero features gave offloads")
	}
	for _, s := range []string{"0x10000", "zz", "-1", ""} {
		if _, err := ParseFeatures(s); err == nil {
			t.Errorf("ParseFeatures(%q) accepted", s)
		}
	}
	if s := f.String(); s != "0x8883(CSUM|GUEST_CSUM|GUEST_TSO4|HOST_TSO4|MRG_RXBUF)" {
		t.Fatalf("String %q", s)
	}
}

func FuzzDecodeVnetHdr(f *testing.F) {
	f.Add([]byte{1, 1, 66, 0, 0xa8, 0x05, 34, 0, 16, 0, 1, 0}, uint16(30000))
	f.Add([]byte{2, 0, 0, 0, 0, 0, 0, 0, 0, 0}, uint16(60))
	f.Add([]byte{1, 0x84, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, uint16(10))
	f.Fuzz(func(t *testing.T, b []byte, frameLen uint16) {
		h, err := DecodeVnetHdr(b)
		if err != nil {
			if len(b) == VnetHdrLen || len(b) == VnetHdrLenV1 {
				t.Fatalf("valid length rejected: %v", err)
			}
			return
		}
		out := make([]byte, len(b))
		if err := h.Encode(out); err != nil || !bytes.Equal(out, b) {
			t.Fatalf("roundtrip % x -> % x (%v)", b, out, err)
		}
		m, err := h.RxMeta(int(frameLen))
		if err != nil {
			return
		}
		if (m.GSOType == GSONone) != (m.GSOSize == 0) {
			t.Fatalf("inconsistent meta %+v from %+v", m, h)
		}
		if h.Flags&VnetFlagNeedsCsum != 0 && int(h.CsumStart)+int(h.CsumOffset)+2 > int(frameLen) {
			t.Fatalf("accepted csum offsets beyond frame: %+v len %d", h, frameLen)
		}
	})
}
