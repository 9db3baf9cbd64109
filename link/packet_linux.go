package link

// Packet: an AF_PACKET socket bound to one existing interface.
//
// Two modes:
//
//   - Raw (SOCK_RAW) for Ethernet interfaces: frames include the Ethernet
//     header. The stack normally uses its own MAC on the wire, so the driver
//     can put the interface in promiscuous mode (Promisc) or, better, add
//     the stack's MAC to the interface's unicast filter (Memberships →
//     PACKET_ADD_MEMBERSHIP, PACKET_MR_UNICAST; multicast addresses use
//     PACKET_MR_MULTICAST). Memberships vanish with the socket.
//   - Cooked (SOCK_DGRAM) for point-to-point interfaces without a link
//     header (OpenVZ venet0, tun, ipip): frames are bare IP packets. Each
//     sent packet carries a sockaddr_ll whose protocol, ETH_P_IP or
//     ETH_P_IPV6, is chosen by the packet's version nibble; received
//     non-IP packets are skipped.
//
// Mode PacketAuto picks Raw for ARPHRD_ETHER / ARPHRD_LOOPBACK interfaces
// and Cooked for everything else.
//
// The socket is created with protocol 0 (it queues nothing), configured,
// then bound to (ifindex, Protocol; default ETH_P_ALL). The kernel also
// copies our own transmissions to packet sockets; PACKET_IGNORE_OUTGOING
// (Linux 4.20+) stops that, and on older kernels (OpenVZ 7 runs 3.10) the
// driver filters sll_pkttype == PACKET_OUTGOING itself. Raw sends also pass
// a sockaddr_ll with the frame's EtherType, because kernels before 5.1 do
// not parse it from an ETH_P_ALL-bound socket's frames.
//
// Offloads: a non-zero Offload mask enables PACKET_VNET_HDR (the 10-byte
// virtio_net_hdr; MRG_RXBUF is ignored here). Receive then reports
// DATA_VALID/NEEDS_CSUM and GRO super-segments (RxMeta.GSOSize); transmit
// honours CSUM / HOST_TSO4 / HOST_TSO6 and the kernel segments in software
// when the device cannot. Caveat without a vnet header: on an interface
// with GRO, the kernel still hands packet sockets coalesced TCP segments
// bigger than the MTU whose TCP checksum only covers the first segment;
// either enable the vnet header or turn GRO off (ethtool -K IF gro off).
// Buffers must therefore always be MaxFrameSize() (64 KiB + header).
// Without a vnet header (always in cooked mode: the kernel allows
// PACKET_VNET_HDR only on SOCK_RAW) the socket asks for PACKET_AUXDATA,
// whose status tells the same two things: TP_STATUS_CSUM_VALID (the NIC
// validated the checksum) and TP_STATUS_CSUMNOTREADY (the frame comes from
// this host with a partial checksum, e.g. a local process sending over a
// veth or venet0). Both mark the frame ChecksumVerified; without this a
// local sender's segments would fail the checksum and be dropped.
//
// Batching: ReadBatch parks in the netpoller, then drains with recvmmsg(2)
// in chunks of up to Batch messages until EAGAIN or the batch is full;
// WriteBatch sends with sendmmsg(2), retrying transient errors per frame
// (see retry.go). The socket buffers default to 4 MiB (SO_*BUFFORCE when
// privileged) so bursts do not overflow them. VLAN tags stripped by the
// NIC are not restored.

import (
	"encoding/binary"
	"fmt"
	"net"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// PacketMode selects the AF_PACKET socket type.
type PacketMode uint8

const (
	PacketAuto   PacketMode = iota // Raw on Ethernet/loopback, Cooked otherwise
	PacketRaw                      // SOCK_RAW: Ethernet frames
	PacketCooked                   // SOCK_DGRAM: bare IP packets
)

// PacketConfig configures OpenPacket.
type PacketConfig struct {
	// Interface is the existing interface to bind to.
	Interface string
	Mode      PacketMode
	// Protocol is the EtherType to receive (host byte order); 0 means
	// ETH_P_ALL, which a stack speaking ARP, IPv4 and IPv6 needs.
	Protocol uint16
	// Promisc puts the interface in promiscuous mode while open.
	Promisc bool
	// Memberships are extra addresses (the stack's own MAC, multicast
	// groups) added to the interface's filter while open.
	Memberships []net.HardwareAddr
	// IncludeOutgoing also delivers the frames this host transmits on the
	// interface (including our own).
	IncludeOutgoing bool
	// Offload is an LKL_HIJACK_OFFLOAD-style mask; non-zero enables
	// PACKET_VNET_HDR.
	Offload Features
	// QdiscBypass sends straight to the driver (PACKET_QDISC_BYPASS).
	QdiscBypass bool
	// SndBuf and RcvBuf are the socket buffer sizes (default 4 MiB).
	SndBuf, RcvBuf int
	// Batch is the most messages per recvmmsg/sendmmsg (default 64).
	Batch int
	// Retry bounds the handling of transient write errors.
	Retry RetryPolicy
}

// Packet is a Link over an AF_PACKET socket.
type Packet struct {
	pfd         *pollFD
	name        string
	ifindex     int
	hdr         HeaderType
	mtu         int
	hwaddr      net.HardwareAddr
	vnetLen     int
	offloads    Offloads
	maxFrame    int
	filterOut   bool // drop PACKET_OUTGOING in userspace
	batch       int
	c           counters
	retry       *retrier
	cookedAddrs [2]unix.RawSockaddrLinklayer // ETH_P_IP, ETH_P_IPV6

	// reader-owned scratch
	rxMsgs  []unix.Mmsghdr
	rxIovs  []unix.Iovec
	rxNames []unix.RawSockaddrLinklayer
	rxVnet  [][VnetHdrLen]byte
	rxCtl   [][auxCtlLen]byte // PACKET_AUXDATA control messages
	auxdata bool

	// writer-owned scratch (under the fd write lock)
	txMsgs  []unix.Mmsghdr
	txIovs  []unix.Iovec
	txNames []unix.RawSockaddrLinklayer
	txVnet  [][VnetHdrLen]byte
	txLens  []int
	one     [1][]byte
	oneMeta [1]TxMeta
}

var _ Link = (*Packet)(nil)

// OpenPacket opens an AF_PACKET link on an existing interface in the
// network namespace of the calling thread.
func OpenPacket(cfg PacketConfig) (*Packet, error) {
	name := cfg.Interface
	op := "open packet"
	if err := checkName(name); err != nil {
		return nil, &OpError{Op: op, Name: name, Err: err}
	}
	if f := cfg.Offload &^ FeaturesKnown; f != 0 {
		return nil, &OpError{Op: op, Name: name, Err: fmt.Errorf("unknown offload bits %#x", uint64(f))}
	}
	ctl, err := openIfctl()
	if err != nil {
		return nil, opError(op, name, err)
	}
	in, err := ctl.info(name)
	ctl.close()
	if err != nil {
		return nil, opError(op, name, err)
	}
	ethernetLike := in.hwType == unix.ARPHRD_ETHER || in.hwType == unix.ARPHRD_LOOPBACK
	mode := cfg.Mode
	if mode == PacketAuto {
		mode = PacketCooked
		if ethernetLike {
			mode = PacketRaw
		}
	}
	if mode == PacketRaw && !ethernetLike {
		return nil, &OpError{Op: op, Name: name, Err: fmt.Errorf("not an Ethernet interface (hardware type %d)", in.hwType), Hint: "use cooked mode"}
	}

	p := &Packet{name: name, ifindex: in.index, mtu: in.mtu}
	stype := unix.SOCK_DGRAM
	if mode == PacketRaw {
		stype = unix.SOCK_RAW
		p.hdr = HeaderEthernet
		p.hwaddr = in.hwAddr
		if p.hwaddr == nil {
			p.hwaddr = make(net.HardwareAddr, 6)
		}
		op = "open packet raw"
	} else {
		op = "open packet cooked"
	}
	fd, err := unix.Socket(unix.AF_PACKET, stype|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, opError(op, name, err)
	}
	fail := func(what string, err error) (*Packet, error) {
		unix.Close(fd)
		if what != "" {
			err = fmt.Errorf("%s: %w", what, err)
		}
		return nil, opError(op, name, err)
	}
	if cfg.Offload != 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
			return fail("PACKET_VNET_HDR", err)
		}
		p.vnetLen = VnetHdrLen
		p.offloads = cfg.Offload.offloads(true)
	}
	if p.vnetLen == 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err == nil {
			p.auxdata = true
		}
	}
	if !cfg.IncludeOutgoing {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
			p.filterOut = true // old kernel: filter by sll_pkttype
		}
	}
	if cfg.QdiscBypass {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
			return fail("PACKET_QDISC_BYPASS", err)
		}
	}
	setBuf(fd, unix.SO_SNDBUFFORCE, unix.SO_SNDBUF, cfg.SndBuf)
	setBuf(fd, unix.SO_RCVBUFFORCE, unix.SO_RCVBUF, cfg.RcvBuf)

	proto := cfg.Protocol
	if proto == 0 {
		proto = unix.ETH_P_ALL
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(proto), Ifindex: in.index}); err != nil {
		return fail("bind", err)
	}
	if cfg.Promisc {
		mr := unix.PacketMreq{Ifindex: int32(in.index), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mr); err != nil {
			return fail("promiscuous mode", err)
		}
	}
	for _, mac := range cfg.Memberships {
		if len(mac) == 0 || len(mac) > 8 {
			return fail("", fmt.Errorf("membership address %v: bad length", mac))
		}
		mr := unix.PacketMreq{Ifindex: int32(in.index), Type: unix.PACKET_MR_UNICAST, Alen: uint16(len(mac))}
		if mac[0]&1 != 0 {
			mr.Type = unix.PACKET_MR_MULTICAST
		}
		copy(mr.Address[:], mac)
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mr); err != nil {
			return fail(fmt.Sprintf("add membership %v", mac), err)
		}
	}

	p.maxFrame = MaxGSOFrame + p.hdr.Len()
	p.batch = cfg.Batch
	if p.batch <= 0 {
		p.batch = 64
	}
	if p.batch > 1024 { // UIO_MAXIOV caps sendmmsg/recvmmsg vlen
		p.batch = 1024
	}
	for i, et := range [2]uint16{unix.ETH_P_IP, unix.ETH_P_IPV6} {
		p.cookedAddrs[i] = unix.RawSockaddrLinklayer{Family: unix.AF_PACKET, Protocol: htons(et), Ifindex: int32(in.index)}
	}
	b := p.batch
	p.rxMsgs, p.rxIovs, p.rxNames, p.rxVnet = make([]unix.Mmsghdr, b), make([]unix.Iovec, 2*b), make([]unix.RawSockaddrLinklayer, b), make([][VnetHdrLen]byte, b)
	if p.auxdata {
		p.rxCtl = make([][auxCtlLen]byte, b)
	}
	p.txMsgs, p.txIovs, p.txNames, p.txVnet, p.txLens = make([]unix.Mmsghdr, b), make([]unix.Iovec, 2*b), make([]unix.RawSockaddrLinklayer, b), make([][VnetHdrLen]byte, b), make([]int, b)
	p.retry = newRetrier(cfg.Retry, &p.c)
	pfd, err := newPollFD(fd, "packet:"+name)
	if err != nil {
		return nil, opError(op, name, err)
	}
	p.pfd = pfd
	return p, nil
}

// setBuf sets a socket buffer size, privileged first (ignores the sysctl
// maximum), then unprivileged; failures are ignored (defaults still work).
func setBuf(fd, force, plain, size int) {
	if size <= 0 {
		size = 4 << 20
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, force, size) != nil {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, plain, size)
	}
}

func (p *Packet) Name() string                   { return p.name }
func (p *Packet) Header() HeaderType             { return p.hdr }
func (p *Packet) HardwareAddr() net.HardwareAddr { return p.hwaddr }
func (p *Packet) MTU() int                       { return p.mtu }
func (p *Packet) MaxFrameSize() int              { return p.maxFrame }
func (p *Packet) Offloads() Offloads             { return p.offloads }
func (p *Packet) Stats() Stats                   { return p.c.snapshot() }
func (p *Packet) Close() error                   { return p.pfd.close() }

// Ifindex is the bound interface's index.
func (p *Packet) Ifindex() int { return p.ifindex }

// SetReadDeadline makes a blocked or future ReadBatch fail with
// os.ErrDeadlineExceeded after tm (zero: no deadline).
func (p *Packet) SetReadDeadline(tm time.Time) error { return p.pfd.f.SetReadDeadline(tm) }

// ReadBatch implements Link.
func (p *Packet) ReadBatch(bufs [][]byte, lens []int, metas []RxMeta) (int, error) {
	max := min(len(bufs), len(lens), len(metas))
	if max == 0 {
		return 0, nil
	}
	if err := checkBufs(bufs, max); err != nil {
		return 0, err
	}
	n := 0
	var rerr error
	err := p.pfd.read(func(fd int) bool {
		for n < max {
			cnt := min(max-n, p.batch)
			for k := 0; k < cnt; k++ {
				iov := p.rxIovs[2*k : 2*k+2]
				msg := &p.rxMsgs[k]
				*msg = unix.Mmsghdr{}
				if p.vnetLen > 0 {
					setIov(&iov[0], p.rxVnet[k][:])
					setIov(&iov[1], bufs[n+k])
					msg.Hdr.Iov = &iov[0]
					msg.Hdr.SetIovlen(2)
				} else {
					setIov(&iov[0], bufs[n+k])
					msg.Hdr.Iov = &iov[0]
					msg.Hdr.SetIovlen(1)
				}
				msg.Hdr.Name = (*byte)(unsafe.Pointer(&p.rxNames[k]))
				msg.Hdr.Namelen = sizeofSockaddrLL
				if p.auxdata {
					msg.Hdr.Control = &p.rxCtl[k][0]
					msg.Hdr.SetControllen(auxCtlLen)
				}
			}
			got, err := recvmmsg(fd, p.rxMsgs[:cnt])
			switch err {
			case nil:
			case unix.EAGAIN:
				return n > 0
			case unix.EINTR:
				continue
			case unix.ENETDOWN:
				// The interface went down; the kernel re-arms the socket
				// when it comes back up. Not fatal.
				p.c.rxErrors.Add(1)
				continue
			default:
				rerr = err
				return true
			}
			w := n
			for k := 0; k < got; k++ {
				msg := &p.rxMsgs[k]
				sll := &p.rxNames[k]
				if p.filterOut && sll.Pkttype == unix.PACKET_OUTGOING {
					continue
				}
				l := int(msg.Len) - p.vnetLen
				if msg.Hdr.Flags&unix.MSG_TRUNC != 0 || l > len(bufs[n+k]) {
					p.c.rxErrors.Add(1)
					p.c.rxTrunc.Add(1)
					continue
				}
				if l <= 0 {
					continue
				}
				var meta RxMeta
				if p.vnetLen > 0 {
					h, _ := DecodeVnetHdr(p.rxVnet[k][:])
					if meta, err = h.RxMeta(l); err != nil {
						p.c.rxErrors.Add(1)
						continue
					}
				} else if p.auxdata {
					meta.ChecksumVerified = auxChecksumOK(p.rxCtl[k][:min(int(msg.Hdr.Controllen), auxCtlLen)])
				}
				meta.Protocol = htons(sll.Protocol)
				if p.hdr == HeaderNone && meta.Protocol != unix.ETH_P_IP && meta.Protocol != unix.ETH_P_IPV6 {
					continue // cooked link: only IP
				}
				if w != n+k {
					// Close the hole left by a skipped message (rare).
					if l > len(bufs[w]) {
						p.c.rxErrors.Add(1)
						p.c.rxTrunc.Add(1)
						continue
					}
					copy(bufs[w], bufs[n+k][:l])
				}
				lens[w] = l
				metas[w] = meta
				w++
				p.c.rxFrames.Add(1)
				p.c.rxBytes.Add(uint64(l))
			}
			n = w
			if got < cnt && n > 0 {
				return true // queue drained
			}
		}
		return true
	})
	if n > 0 {
		return n, nil
	}
	if err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("link: read %s: %w", p.name, rerr)
}

// Write implements Link.
func (p *Packet) Write(frame []byte, meta TxMeta) error {
	var werr error
	err := p.pfd.write(func(fd int) {
		p.one[0], p.oneMeta[0] = frame, meta
		_, werr = p.sendLocked(fd, p.one[:], p.oneMeta[:])
		p.one[0] = nil
	})
	if err != nil {
		return err
	}
	return werr
}

// WriteBatch implements Link with sendmmsg.
func (p *Packet) WriteBatch(frames [][]byte, metas []TxMeta) (int, error) {
	var sent int
	var werr error
	err := p.pfd.write(func(fd int) { sent, werr = p.sendLocked(fd, frames, metas) })
	if err != nil {
		return sent, err
	}
	return sent, werr
}

func (p *Packet) sendLocked(fd int, frames [][]byte, metas []TxMeta) (sent int, first error) {
	note := func(err error) {
		if first == nil {
			first = fmt.Errorf("link: write %s: %w", p.name, err)
		}
	}
	for off := 0; off < len(frames); {
		cnt := min(len(frames)-off, p.batch)
		j := 0
		for k := 0; k < cnt; k++ {
			f := frames[off+k]
			var m TxMeta
			if off+k < len(metas) {
				m = metas[off+k]
			}
			if err := checkTxMeta(&p.offloads, p.hdr, f, &m); err != nil {
				p.c.txErrors.Add(1)
				p.c.txOffload.Add(1)
				note(err)
				continue
			}
			var name *unix.RawSockaddrLinklayer
			if p.hdr == HeaderNone {
				switch ipEtherType(f) {
				case unix.ETH_P_IP:
					name = &p.cookedAddrs[0]
				case unix.ETH_P_IPV6:
					name = &p.cookedAddrs[1]
				default:
					p.c.txErrors.Add(1)
					note(fmt.Errorf("not an IPv4/IPv6 packet"))
					continue
				}
			} else {
				if len(f) < EthernetHeaderLen {
					p.c.txErrors.Add(1)
					note(fmt.Errorf("%d-byte frame shorter than an Ethernet header", len(f)))
					continue
				}
				name = &p.txNames[j]
				*name = unix.RawSockaddrLinklayer{Family: unix.AF_PACKET, Ifindex: int32(p.ifindex),
					Protocol: htons(binary.BigEndian.Uint16(f[12:14]))}
			}
			msg := &p.txMsgs[j]
			*msg = unix.Mmsghdr{}
			iov := p.txIovs[2*j : 2*j+2]
			if p.vnetLen > 0 {
				h := VnetHdrFromTx(&m, len(f))
				h.Encode(p.txVnet[j][:])
				setIov(&iov[0], p.txVnet[j][:])
				setIov(&iov[1], f)
				msg.Hdr.SetIovlen(2)
			} else {
				setIov(&iov[0], f)
				msg.Hdr.SetIovlen(1)
			}
			msg.Hdr.Iov = &iov[0]
			msg.Hdr.Name = (*byte)(unsafe.Pointer(name))
			msg.Hdr.Namelen = sizeofSockaddrLL
			p.txLens[j] = len(f)
			j++
		}
		for i := 0; i < j; {
			var got int
			err := p.retry.do(func() error {
				var err error
				got, err = sendmmsg(fd, p.txMsgs[i:j])
				return err
			}, waitWritable(fd))
			if err != nil {
				note(err)
				i++ // skip the frame that failed; counted by retry.do
				continue
			}
			for k := i; k < i+got; k++ {
				p.c.txFrames.Add(1)
				p.c.txBytes.Add(uint64(p.txLens[k]))
			}
			sent += got
			i += got
		}
		// Do not keep the caller's frames reachable.
		for k := 0; k < 2*j; k++ {
			p.txIovs[k] = unix.Iovec{}
		}
		off += cnt
	}
	return sent, first
}

// WritesBatched reports that WriteBatch sends many frames per system call
// (sendmmsg), so a caller gains by queueing frames for it.
func (p *Packet) WritesBatched() bool { return true }

// auxCtlLen is the control buffer for one PACKET_AUXDATA message: its
// CMSG_SPACE is 40 bytes on 64-bit systems, 32 on 32-bit ones.
const auxCtlLen = 64

// auxChecksumOK reads a PACKET_AUXDATA control message and reports whether
// the frame's transport checksum must not be verified: the kernel
// validated it, or the frame comes from this host with a partial checksum.
// The message is a cmsghdr (length, level, type) followed by a
// tpacket_auxdata whose first field is tp_status, in host byte order.
func auxChecksumOK(ctl []byte) bool {
	var h unix.Cmsghdr
	hdrLen := unix.CmsgLen(0)
	if len(ctl) < unix.CmsgLen(int(unsafe.Sizeof(unix.TpacketAuxdata{}))) {
		return false
	}
	level := int32(binary.NativeEndian.Uint32(ctl[unsafe.Offsetof(h.Level):]))
	typ := int32(binary.NativeEndian.Uint32(ctl[unsafe.Offsetof(h.Type):]))
	if level != unix.SOL_PACKET || typ != unix.PACKET_AUXDATA {
		return false
	}
	status := binary.NativeEndian.Uint32(ctl[hdrLen:])
	return status&(unix.TP_STATUS_CSUMNOTREADY|unix.TP_STATUS_CSUM_VALID) != 0
}
