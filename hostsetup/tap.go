// TAP creation: the kernel creates TAP links only through the /dev/net/tun
// ioctls (rtnetlink refuses "tun" links), so this opens the clone device,
// asks for a TAP with TUNSETIFF, sets owner and group, and makes it
// persistent so it outlives this file descriptor; the stack attaches later
// with its own TUNSETIFF. The caller tags the link right after.
package hostsetup

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func createTAP(t *TAP) error {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		if os.IsNotExist(err) {
			return fmt.Errorf("create tap %s: /dev/net/tun is missing (on OpenVZ/LXC ask the host to enable TUN/TAP for this container)", t.Name)
		}
		return sysErr("create tap "+t.Name+": open /dev/net/tun", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(t.Name)
	if err != nil {
		return fmt.Errorf("create tap %s: %v", t.Name, err)
	}
	flags := uint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if t.MultiQueue {
		flags |= unix.IFF_MULTI_QUEUE
	}
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return sysErr("create tap "+t.Name, err)
	}
	for _, o := range []struct {
		req uint
		id  int
	}{{unix.TUNSETOWNER, t.Owner}, {unix.TUNSETGROUP, t.Group}} {
		if o.id < 0 { // a new TAP has no owner or group
			continue
		}
		if err := ioctlInt(fd, o.req, uintptr(o.id)); err != nil {
			return sysErr("create tap "+t.Name+": set owner", err)
		}
	}
	if err := ioctlInt(fd, unix.TUNSETPERSIST, 1); err != nil {
		return sysErr("create tap "+t.Name+": make persistent", err)
	}
	return nil
}

func ioctlInt(fd int, req uint, arg uintptr) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), arg)
	if e != 0 {
		return e
	}
	return nil
}
