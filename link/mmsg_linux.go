package link

// recvmmsg(2) / sendmmsg(2), which golang.org/x/sys/unix does not wrap.
// The message headers point into Go memory (iovecs, sockaddrs, the
// caller's buffers); the pointers are typed fields of the header slice, so
// the garbage collector keeps their targets alive, and Go's heap does not
// move. Both calls are issued with MSG_DONTWAIT: blocking is the
// netpoller's job.

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

func recvmmsg(fd int, msgs []unix.Mmsghdr) (int, error) {
	n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])),
		uintptr(len(msgs)), unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func sendmmsg(fd int, msgs []unix.Mmsghdr) (int, error) {
	n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])),
		uintptr(len(msgs)), unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

const sizeofSockaddrLL = unix.SizeofSockaddrLinklayer
