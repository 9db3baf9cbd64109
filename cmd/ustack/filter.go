// The receive filter of raw and cooked mode.
//
// On a raw or cooked socket the stack shares the host's interface, usually
// its address too, and the AF_PACKET socket hands it every frame. A TCP
// stack answers a segment for a port it has no socket on with a RST, so
// without a filter the stack would reset every connection to the host's own
// services (sshd included) and answer pings the kernel answers already.
// hostsetup keeps the host kernel away from the stack's ports; this filter
// is the mirror image, keeping the stack away from everything else.
//
// What passes: ARP; IPv4/IPv6 TCP whose destination port is one of the
// stack's (the frontends' ports and its ephemeral range); ICMP and ICMPv6
// except echo requests and replies (errors carry path MTU and unreachable
// news for the stack's connections; ICMPv6 also carries neighbour
// discovery). Everything else, IP fragments and IPv6 extension headers
// included, is dropped and counted.
package main

import (
	"encoding/binary"
	"sync/atomic"

	"github.com/ustack/ustack/link"
	"github.com/ustack/ustack/relay"
)

// filterLink is a link.Link whose ReadBatch returns only the frames the
// stack must see.
type filterLink struct {
	link.Link
	ports   []relay.PortRange
	dropped atomic.Uint64
}

func newFilterLink(l link.Link, ports []relay.PortRange) *filterLink {
	return &filterLink{Link: l, ports: ports}
}

// Unwrap returns the filtered link.
func (f *filterLink) Unwrap() link.Link { return f.Link }

// ReadBatch implements link.Link. Frames that pass are moved to the front
// by swapping the caller's buffers (all are MaxFrameSize long), never copied.
func (f *filterLink) ReadBatch(bufs [][]byte, lens []int, metas []link.RxMeta) (int, error) {
	for {
		n, err := f.Link.ReadBatch(bufs, lens, metas)
		if err != nil {
			return n, err
		}
		k := 0
		for i := 0; i < n; i++ {
			if !f.pass(bufs[i][:lens[i]], metas[i].Protocol) {
				f.dropped.Add(1)
				continue
			}
			if k != i {
				bufs[k], bufs[i] = bufs[i], bufs[k]
				lens[k], metas[k] = lens[i], metas[i]
			}
			k++
		}
		if k > 0 {
			return k, nil
		}
	}
}

func (f *filterLink) ownPort(p uint16) bool {
	for _, r := range f.ports {
		if p >= r.First && p <= r.Last {
			return true
		}
	}
	return false
}

const (
	etherIPv4  = 0x0800
	etherARP   = 0x0806
	etherIPv6  = 0x86dd
	protoICMP  = 1
	protoTCP   = 6
	protoICMP6 = 58
)

// pass decides for one frame. proto is the EtherType the driver reported
// (0 if unknown).
func (f *filterLink) pass(frame []byte, proto uint16) bool {
	pkt := frame
	if f.Header() == link.HeaderEthernet {
		if len(frame) < link.EthernetHeaderLen {
			return false
		}
		proto = binary.BigEndian.Uint16(frame[12:14])
		pkt = frame[link.EthernetHeaderLen:]
	} else if proto == 0 && len(pkt) > 0 {
		switch pkt[0] >> 4 {
		case 4:
			proto = etherIPv4
		case 6:
			proto = etherIPv6
		}
	}
	switch proto {
	case etherARP:
		return true
	case etherIPv4:
		if len(pkt) < 20 || pkt[0]>>4 != 4 {
			return false
		}
		ihl := int(pkt[0]&0x0f) * 4
		if ihl < 20 || len(pkt) < ihl {
			return false
		}
		if binary.BigEndian.Uint16(pkt[6:8])&0x1fff != 0 { // not the first fragment
			return false
		}
		return f.passL4(pkt[9], pkt[ihl:], 8, 0)
	case etherIPv6:
		if len(pkt) < 40 || pkt[0]>>4 != 6 {
			return false
		}
		return f.passL4(pkt[6], pkt[40:], 128, 129)
	}
	return false
}

// passL4 decides on the transport header; echoReq/echoRep are the ICMP
// echo types of the family (IPv4: 8 and 0).
func (f *filterLink) passL4(proto byte, l4 []byte, echoReq, echoRep byte) bool {
	switch proto {
	case protoTCP:
		return len(l4) >= 4 && f.ownPort(binary.BigEndian.Uint16(l4[2:4]))
	case protoICMP, protoICMP6:
		if (proto == protoICMP) != (echoReq == 8) || len(l4) < 1 {
			return false
		}
		return l4[0] != echoReq && l4[0] != echoRep
	}
	return false
}
