package link

// Shared Linux plumbing for the drivers.
//
// Every driver fd (tun, AF_PACKET) is opened O_NONBLOCK and wrapped with
// os.NewFile, which registers it with the Go runtime netpoller (epoll).
// I/O goes through (*os.File).SyscallConn: inside RawConn.Read the reader
// issues non-blocking system calls itself and returns false to park in the
// netpoller on EAGAIN, so a blocked reader costs no OS thread, and
// (*os.File).Close wakes it with os.ErrClosed (mapped to ErrClosed) and
// defers the real close(2) until no call is using the fd. Read deadlines
// (SetReadDeadline) come for free. RawConn.Write holds the fd's write lock
// for the whole callback, which is what serialises concurrent writers and
// protects each driver's transmit scratch space.
//
// Interface ioctls (index, MTU, flags, hardware address) go through a
// throw-away AF_INET datagram socket and a raw struct ifreq, so they act in
// the network namespace of the calling thread.

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// pollFD is a non-blocking fd registered with the netpoller.
type pollFD struct {
	f      *os.File
	rc     syscall.RawConn
	closed atomic.Bool
}

// newPollFD takes ownership of fd (already O_NONBLOCK).
func newPollFD(fd int, name string) (*pollFD, error) {
	f := os.NewFile(uintptr(fd), name)
	if f == nil {
		unix.Close(fd)
		return nil, errors.New("bad fd")
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &pollFD{f: f, rc: rc}, nil
}

// read runs fn with the fd until fn returns true; false parks the caller
// in the netpoller until the fd is readable.
func (p *pollFD) read(fn func(fd int) bool) error {
	return p.closedErr(p.rc.Read(func(fd uintptr) bool { return fn(int(fd)) }))
}

// write runs fn once with the fd under the fd's write lock.
func (p *pollFD) write(fn func(fd int)) error {
	return p.closedErr(p.rc.Write(func(fd uintptr) bool { fn(int(fd)); return true }))
}

func (p *pollFD) close() error {
	if p.closed.Swap(true) {
		return fmt.Errorf("%w", ErrClosed)
	}
	return p.f.Close()
}

// closedErr maps the runtime's "use of closed file" (internal/poll's
// ErrFileClosing, which RawConn does not translate) and os.ErrClosed to
// ErrClosed; deadline errors pass through.
func (p *pollFD) closedErr(err error) error {
	if err == nil {
		return nil
	}
	if p.closed.Load() || errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("%w", ErrClosed)
	}
	return err
}

// waitWritable polls fd for POLLOUT for at most d.
func waitWritable(fd int) func(d time.Duration) {
	return func(d time.Duration) {
		ts := unix.NsecToTimespec(int64(d))
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		unix.Ppoll(fds, &ts, nil)
	}
}

// readv / writev over preallocated iovecs (x/sys's versions allocate).
func readv(fd int, iov []unix.Iovec) (int, error) {
	n, _, e := unix.Syscall(unix.SYS_READV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
	if e != 0 {
		return int(n), e
	}
	return int(n), nil
}

func writev(fd int, iov []unix.Iovec) (int, error) {
	n, _, e := unix.Syscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
	if e != 0 {
		return int(n), e
	}
	return int(n), nil
}

func setIov(iov *unix.Iovec, b []byte) {
	if len(b) == 0 {
		iov.Base = nil
		iov.SetLen(0)
		return
	}
	iov.Base = &b[0]
	iov.SetLen(len(b))
}

// ifreq is struct ifreq: a name and a 24-byte union.
type ifreq struct {
	Name [unix.IFNAMSIZ]byte
	Data [24]byte
}

func newIfreq(name string) *ifreq {
	var r ifreq
	copy(r.Name[:unix.IFNAMSIZ-1], name)
	return &r
}

func (r *ifreq) name() string {
	for i, c := range r.Name {
		if c == 0 {
			return string(r.Name[:i])
		}
	}
	return string(r.Name[:])
}

func ioctlPtr(fd int, req uint, p unsafe.Pointer) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(p))
	if e != 0 {
		return e
	}
	return nil
}

func ioctlInt(fd int, req uint, v int) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(v))
	if e != 0 {
		return e
	}
	return nil
}

// ifinfo is what the drivers need to know about a kernel interface.
type ifinfo struct {
	index  int
	mtu    int
	flags  uint16
	hwType uint16 // ARPHRD_*
	hwAddr net.HardwareAddr
}

// ifctl is an ioctl socket for interface queries in the current netns.
type ifctl int

func openIfctl() (ifctl, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		fd, err = unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	}
	return ifctl(fd), err
}

func (c ifctl) close() { unix.Close(int(c)) }

// info queries index, MTU, flags and hardware address of name. A missing
// interface returns ENODEV.
func (c ifctl) info(name string) (ifinfo, error) {
	var in ifinfo
	r := newIfreq(name)
	if err := ioctlPtr(int(c), unix.SIOCGIFINDEX, unsafe.Pointer(r)); err != nil {
		return in, err
	}
	in.index = int(*(*int32)(unsafe.Pointer(&r.Data[0])))
	r = newIfreq(name)
	if err := ioctlPtr(int(c), unix.SIOCGIFMTU, unsafe.Pointer(r)); err != nil {
		return in, err
	}
	in.mtu = int(*(*int32)(unsafe.Pointer(&r.Data[0])))
	r = newIfreq(name)
	if err := ioctlPtr(int(c), unix.SIOCGIFFLAGS, unsafe.Pointer(r)); err != nil {
		return in, err
	}
	in.flags = *(*uint16)(unsafe.Pointer(&r.Data[0]))
	r = newIfreq(name)
	if err := ioctlPtr(int(c), unix.SIOCGIFHWADDR, unsafe.Pointer(r)); err != nil {
		return in, err
	}
	in.hwType = *(*uint16)(unsafe.Pointer(&r.Data[0]))
	if in.hwType == unix.ARPHRD_ETHER {
		in.hwAddr = net.HardwareAddr(append([]byte(nil), r.Data[2:8]...))
	}
	return in, nil
}

func (c ifctl) setMTU(name string, mtu int) error {
	r := newIfreq(name)
	*(*int32)(unsafe.Pointer(&r.Data[0])) = int32(mtu)
	return ioctlPtr(int(c), unix.SIOCSIFMTU, unsafe.Pointer(r))
}

func (c ifctl) setUp(name string) error {
	r := newIfreq(name)
	if err := ioctlPtr(int(c), unix.SIOCGIFFLAGS, unsafe.Pointer(r)); err != nil {
		return err
	}
	fl := (*uint16)(unsafe.Pointer(&r.Data[0]))
	if *fl&unix.IFF_UP != 0 {
		return nil
	}
	*fl |= unix.IFF_UP
	return ioctlPtr(int(c), unix.SIOCSIFFLAGS, unsafe.Pointer(r))
}

// opError builds the one-line open error, adding a hint for the common
// errnos.
func opError(op, name string, err error) error {
	e := &OpError{Op: op, Name: name, Err: err}
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		e.Hint = "needs root or CAP_NET_ADMIN"
	case errors.Is(err, unix.ENODEV), errors.Is(err, unix.ENXIO):
		e.Err = ErrNoInterface
	case errors.Is(err, unix.EBUSY):
		e.Hint = "already in use by another process"
	}
	return e
}

// htons converts a 16-bit value to network byte order (for AF_PACKET).
func htons(v uint16) uint16 { return v<<8 | v>>8 }
