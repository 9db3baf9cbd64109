package wire

import (
	"bytes"
	"net/netip"
	"testing"
)

// An ARP request "who has 192.168.1.2? tell 192.168.1.1" in a broadcast
// frame, padded to the 60-byte Ethernet minimum.
var arpRequestFrame = []byte{
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // dst
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // src
	0x08, 0x06, // ARP
	0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, // eth/ipv4, request
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 192, 168, 1, 1, // sender
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 192, 168, 1, 2, // target
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // padding
}

func TestMAC(t *testing.T) {
	m := MAC{0x02, 0xab, 0xcd, 0xef, 0x00, 0x9f}
	if s := m.String(); s != "02:ab:cd:ef:00:9f" {
		t.Fatalf("String = %q", s)
	}
	for _, s := range []string{"02:ab:cd:ef:00:9f", "02-AB-CD-EF-00-9F", "02:Ab:cD:ef:00:9F"} {
		got, err := ParseMAC(s)
		if err != nil || got != m {
			t.Fatalf("ParseMAC(%q) = %v, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "02:ab:cd:ef:00", "02:ab:cd:ef:00:9g", "02:ab-cd:ef:00:9f", "02:ab:cd:ef:00:9f:", "02.ab.cd.ef.00.9f"} {
		if _, err := ParseMAC(s); err == nil {
			t.Fatalf("ParseMAC(%q) succeeded", s)
		}
	}
	if !BroadcastMAC.IsBroadcast() || !BroadcastMAC.IsMulticast() || m.IsMulticast() || !(MAC{}).IsZero() {
		t.Fatal("MAC predicates")
	}
}

func TestEthernet(t *testing.T) {
	h, payload, err := ParseEthernet(arpRequestFrame)
	if err != nil {
		t.Fatal(err)
	}
	want := EthernetHeader{Dst: BroadcastMAC, Src: MAC{2, 0, 0, 0, 0, 1}, Type: EtherTypeARP}
	if h != want {
		t.Fatalf("got %+v", h)
	}
	if len(payload) != len(arpRequestFrame)-EthernetHeaderLen {
		t.Fatalf("payload len %d", len(payload))
	}
	var b [EthernetHeaderLen]byte
	h.Encode(b[:])
	if !bytes.Equal(b[:], arpRequestFrame[:14]) {
		t.Fatalf("encode % x", b)
	}
	for n := 0; n < EthernetHeaderLen; n++ {
		if _, _, err := ParseEthernet(arpRequestFrame[:n]); err != ErrTruncated {
			t.Fatalf("len %d: err %v", n, err)
		}
	}
	if s := EtherTypeIPv6.String(); s != "IPv6" {
		t.Fatal(s)
	}
	if s := EtherType(0x88cc).String(); s != "0x88cc" {
		t.Fatal(s)
	}
}

func TestARP(t *testing.T) {
	_, p, _ := ParseEthernet(arpRequestFrame)
	a, err := ParseARP(p)
	if err != nil {
		t.Fatal(err)
	}
	want := ARP{
		Op:        ARPRequest,
		SenderMAC: MAC{2, 0, 0, 0, 0, 1},
		SenderIP:  netip.MustParseAddr("192.168.1.1"),
		TargetIP:  netip.MustParseAddr("192.168.1.2"),
	}
	if a != want {
		t.Fatalf("got %+v", a)
	}
	var b [ARPLen]byte
	if n := a.Encode(b[:]); n != ARPLen || !bytes.Equal(b[:], p[:ARPLen]) {
		t.Fatalf("encode %d % x", n, b)
	}
	if _, err := ParseARP(p[:ARPLen-1]); err != ErrTruncated {
		t.Fatalf("truncated: %v", err)
	}
	for _, i := range []int{1, 2, 4, 5} { // htype, ptype, hlen, plen
		bad := append([]byte(nil), p...)
		bad[i]++
		if _, err := ParseARP(bad); err != ErrUnsupported {
			t.Fatalf("byte %d: %v", i, err)
		}
	}
	// Non-IPv4 addresses encode as 0.0.0.0, mapped ones are unmapped.
	a2 := ARP{Op: ARPReply, SenderIP: netip.MustParseAddr("::ffff:10.0.0.1"), TargetIP: netip.MustParseAddr("2001:db8::1")}
	a2.Encode(b[:])
	got, _ := ParseARP(b[:])
	if got.SenderIP != netip.MustParseAddr("10.0.0.1") || got.TargetIP != netip.IPv4Unspecified() {
		t.Fatalf("got %+v", got)
	}
}
