package link

// Tap: a /dev/net/tun device in TAP mode (Ethernet frames) or TUN mode
// (bare IP packets), always IFF_NO_PI.
//
// Opening. TUNSETIFF attaches to the named interface, creating it when it
// does not exist (unless TapConfig.MustExist). A tap we create without
// Persist vanishes when the Link is closed; Persist sets TUNSETPERSIST so it
// outlives us (as LKL's pre-created taps do). The device is single-queue:
// a second opener of an attached tap gets EBUSY.
//
// Offloads. TapConfig.Offload takes LKL's LKL_HIJACK_OFFLOAD bitmask (see
// Features in vnet.go). Any bit enables IFF_VNET_HDR; MRG_RXBUF selects
// the 12-byte header (TUNSETVNETHDRSZ 12), otherwise 10 bytes; the GUEST_*
// bits become TUNSETOFFLOAD flags (what the kernel may send us: partial
// checksums, TCP super-segments up to 64 KiB, passed up as ONE frame with
// RxMeta.GSOSize), and CSUM / HOST_TSO4 / HOST_TSO6 allow Write to send
// partial checksums and TSO super-segments, which the kernel finishes.
//
// Batching. A tun fd returns one frame per read(2) and takes one per
// write(2); there is no multi-frame system call for it. ReadBatch therefore
// parks in the netpoller until the fd is readable and then loops readv(2)
// (vnet header + caller's buffer, no copy) until EAGAIN or the batch is
// full, so one wake-up drains a burst. Write is a single writev(2) of vnet
// header + frame; WriteBatch loops it under one acquisition of the write
// lock. Kernel-side batching is what TSO is for.

import (
	"encoding/binary"
	"fmt"
	"net"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TapConfig configures OpenTap.
type TapConfig struct {
	// Name is the interface name; "" lets the kernel choose (tapN / tunN),
	// and a "%d" pattern is allowed as with the raw ioctl.
	Name string
	// TUN selects TUN mode: frames are bare IP packets (HeaderNone).
	TUN bool
	// Offload is an LKL_HIJACK_OFFLOAD-style mask; 0 means no vnet header
	// and no offloads.
	Offload Features
	// Persist marks the interface persistent (TUNSETPERSIST): it survives
	// Close. Without it an existing persistent tap stays persistent and a
	// tap created here is removed on Close.
	Persist bool
	// MustExist fails with ErrNoInterface instead of creating the tap.
	MustExist bool
	// MTU, if > 0, is set on the interface.
	MTU int
	// Up brings the interface up.
	Up bool
	// Retry bounds the handling of transient write errors.
	Retry RetryPolicy
}

// Tap is a Link over /dev/net/tun.
type Tap struct {
	pfd      *pollFD
	name     string
	hdr      HeaderType
	mtu      int
	hwaddr   net.HardwareAddr
	vnetLen  int
	offloads Offloads
	maxFrame int
	c        counters
	retry    *retrier

	// reader-owned scratch
	rxHdr [VnetHdrLenV1]byte
	rxIov [2]unix.Iovec
	// writer-owned scratch (under the fd write lock)
	txHdr [VnetHdrLenV1]byte
	txIov [2]unix.Iovec
}

var _ Link = (*Tap)(nil)

// OpenTap opens (or creates) a tap/tun interface in the network namespace
// of the calling thread.
func OpenTap(cfg TapConfig) (*Tap, error) {
	kind := "tap"
	if cfg.TUN {
		kind = "tun"
	}
	op := "open " + kind
	name := cfg.Name
	if name != "" {
		if err := checkName(name); err != nil {
			return nil, &OpError{Op: op, Name: name, Err: err}
		}
	}
	if f := cfg.Offload &^ FeaturesKnown; f != 0 {
		return nil, &OpError{Op: op, Name: name, Err: fmt.Errorf("unknown offload bits %#x", uint64(f))}
	}
	ctl, err := openIfctl()
	if err != nil {
		return nil, opError(op, name, err)
	}
	defer ctl.close()
	if cfg.MustExist {
		if name == "" {
			return nil, &OpError{Op: op, Name: name, Err: fmt.Errorf("%w: MustExist needs a name", ErrBadName)}
		}
		if _, err := ctl.info(name); err != nil {
			return nil, opError(op, name, err)
		}
	}

	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		e := opError(op, name, err).(*OpError)
		if err == unix.ENOENT {
			e.Hint = "no /dev/net/tun: load the tun module or mknod /dev/net/tun c 10 200"
		}
		return nil, e
	}
	fail := func(err error) (*Tap, error) {
		unix.Close(fd)
		return nil, err
	}
	flags := uint16(unix.IFF_NO_PI)
	if cfg.TUN {
		flags |= unix.IFF_TUN
	} else {
		flags |= unix.IFF_TAP
	}
	vnetLen := cfg.Offload.VnetHdrSize()
	if vnetLen > 0 {
		flags |= unix.IFF_VNET_HDR
	}
	ifr := newIfreq(name)
	*(*uint16)(unsafe.Pointer(&ifr.Data[0])) = flags
	if err := ioctlPtr(fd, unix.TUNSETIFF, unsafe.Pointer(ifr)); err != nil {
		e := opError(op, name, err).(*OpError)
		if err == unix.EINVAL {
			e.Hint = "exists with another type or incompatible flags"
		}
		return fail(e)
	}
	name = ifr.name()
	if vnetLen > 0 {
		sz := int32(vnetLen)
		if err := ioctlPtr(fd, unix.TUNSETVNETHDRSZ, unsafe.Pointer(&sz)); err != nil {
			return fail(&OpError{Op: op, Name: name, Err: fmt.Errorf("TUNSETVNETHDRSZ %d: %w", vnetLen, err)})
		}
	}
	// Always set (possibly to 0): an existing tap may carry offload flags
	// from a previous owner that we could not parse.
	if err := ioctlInt(fd, unix.TUNSETOFFLOAD, cfg.Offload.tunOffload()); err != nil {
		if vnetLen > 0 || cfg.Offload.tunOffload() != 0 {
			return fail(&OpError{Op: op, Name: name, Err: fmt.Errorf("TUNSETOFFLOAD %#x: %w", cfg.Offload.tunOffload(), err)})
		}
	}
	if cfg.Persist {
		if err := ioctlInt(fd, unix.TUNSETPERSIST, 1); err != nil {
			return fail(opError(op, name, fmt.Errorf("TUNSETPERSIST: %w", err)))
		}
	}
	if cfg.MTU > 0 {
		if err := ctl.setMTU(name, cfg.MTU); err != nil {
			return fail(&OpError{Op: op, Name: name, Err: fmt.Errorf("set mtu %d: %w", cfg.MTU, err)})
		}
	}
	if cfg.Up {
		if err := ctl.setUp(name); err != nil {
			return fail(&OpError{Op: op, Name: name, Err: fmt.Errorf("set up: %w", err)})
		}
	}
	in, err := ctl.info(name)
	if err != nil {
		return fail(opError(op, name, err))
	}

	t := &Tap{name: name, mtu: in.mtu, vnetLen: vnetLen}
	if cfg.TUN {
		t.hdr = HeaderNone
	} else {
		t.hdr = HeaderEthernet
		t.hwaddr = in.hwAddr
	}
	rxGSO := cfg.Offload.tunOffload()&(tunFTSO4|tunFTSO6) != 0
	t.offloads = cfg.Offload.offloads(rxGSO)
	if rxGSO {
		t.maxFrame = MaxGSOFrame + t.hdr.Len()
	} else {
		t.maxFrame = t.mtu + t.hdr.Len() + 4 // room for a VLAN tag
	}
	t.retry = newRetrier(cfg.Retry, &t.c)
	pfd, err := newPollFD(fd, "/dev/net/tun:"+name)
	if err != nil {
		return nil, opError(op, name, err)
	}
	t.pfd = pfd
	return t, nil
}

func (t *Tap) Name() string                   { return t.name }
func (t *Tap) Header() HeaderType             { return t.hdr }
func (t *Tap) HardwareAddr() net.HardwareAddr { return t.hwaddr }
func (t *Tap) MTU() int                       { return t.mtu }
func (t *Tap) MaxFrameSize() int              { return t.maxFrame }
func (t *Tap) Offloads() Offloads             { return t.offloads }
func (t *Tap) Stats() Stats                   { return t.c.snapshot() }
func (t *Tap) Close() error                   { return t.pfd.close() }

// SetReadDeadline makes a blocked or future ReadBatch fail with
// os.ErrDeadlineExceeded after tm (zero: no deadline).
func (t *Tap) SetReadDeadline(tm time.Time) error { return t.pfd.f.SetReadDeadline(tm) }

// ReadBatch implements Link.
func (t *Tap) ReadBatch(bufs [][]byte, lens []int, metas []RxMeta) (int, error) {
	max := min(len(bufs), len(lens), len(metas))
	if max == 0 {
		return 0, nil
	}
	if err := checkBufs(bufs, max); err != nil {
		return 0, err
	}
	n := 0
	var rerr error
	err := t.pfd.read(func(fd int) bool {
		for n < max {
			buf := bufs[n]
			var m int
			var err error
			if t.vnetLen > 0 {
				setIov(&t.rxIov[0], t.rxHdr[:t.vnetLen])
				setIov(&t.rxIov[1], buf)
				m, err = readv(fd, t.rxIov[:])
				m -= t.vnetLen
			} else {
				m, err = unix.Read(fd, buf)
			}
			switch err {
			case nil:
			case unix.EAGAIN:
				return n > 0
			case unix.EINTR:
				continue
			case unix.EFAULT, unix.EINVAL, unix.EMSGSIZE:
				// Frame longer than the buffer: it is consumed; drop it.
				t.c.rxErrors.Add(1)
				t.c.rxTrunc.Add(1)
				continue
			default:
				rerr = err
				return true
			}
			if m > len(buf) {
				t.c.rxErrors.Add(1)
				t.c.rxTrunc.Add(1)
				continue
			}
			if m <= 0 {
				continue
			}
			var meta RxMeta
			if t.vnetLen > 0 {
				h, _ := DecodeVnetHdr(t.rxHdr[:t.vnetLen])
				if meta, err = h.RxMeta(m); err != nil {
					t.c.rxErrors.Add(1)
					continue
				}
			}
			if t.hdr == HeaderNone {
				meta.Protocol = ipEtherType(buf[:m])
			} else if m >= EthernetHeaderLen {
				meta.Protocol = binary.BigEndian.Uint16(buf[12:14])
			}
			lens[n] = m
			metas[n] = meta
			n++
			t.c.rxFrames.Add(1)
			t.c.rxBytes.Add(uint64(m))
		}
		return true
	})
	if n > 0 {
		return n, nil
	}
	if err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("link: read %s: %w", t.name, rerr)
}

// Write implements Link.
func (t *Tap) Write(frame []byte, meta TxMeta) error {
	var werr error
	err := t.pfd.write(func(fd int) { werr = t.writeLocked(fd, frame, &meta) })
	if err != nil {
		return err
	}
	return werr
}

// WriteBatch implements Link: one writev per frame under a single lock.
func (t *Tap) WriteBatch(frames [][]byte, metas []TxMeta) (int, error) {
	sent := 0
	var first error
	err := t.pfd.write(func(fd int) {
		for i, f := range frames {
			var m TxMeta
			if i < len(metas) {
				m = metas[i]
			}
			if err := t.writeLocked(fd, f, &m); err != nil {
				if first == nil {
					first = err
				}
				continue
			}
			sent++
		}
	})
	if err != nil {
		return sent, err
	}
	return sent, first
}

func (t *Tap) writeLocked(fd int, frame []byte, meta *TxMeta) error {
	if err := checkTxMeta(&t.offloads, t.hdr, frame, meta); err != nil {
		t.c.txErrors.Add(1)
		t.c.txOffload.Add(1)
		return err
	}
	if t.vnetLen > 0 {
		h := VnetHdrFromTx(meta, len(frame))
		h.Encode(t.txHdr[:t.vnetLen])
		setIov(&t.txIov[0], t.txHdr[:t.vnetLen])
		setIov(&t.txIov[1], frame)
	}
	err := t.retry.do(func() error {
		var err error
		if t.vnetLen > 0 {
			_, err = writev(fd, t.txIov[:])
		} else {
			_, err = unix.Write(fd, frame)
		}
		return err
	}, waitWritable(fd))
	// Do not keep the caller's frame reachable.
	t.txIov[1] = unix.Iovec{}
	if err != nil {
		return fmt.Errorf("link: write %s: %w", t.name, err)
	}
	t.c.txFrames.Add(1)
	t.c.txBytes.Add(uint64(len(frame)))
	return nil
}

// ipEtherType returns the EtherType for a bare IP packet by its version
// nibble (0 if neither 4 nor 6).
func ipEtherType(p []byte) uint16 {
	if len(p) == 0 {
		return 0
	}
	switch p[0] >> 4 {
	case 4:
		return unix.ETH_P_IP
	case 6:
		return unix.ETH_P_IPV6
	}
	return 0
}
