// Offload switches through the legacy SIOCETHTOOL get/set commands (the
// ones `ethtool -K` falls back to), so no ethtool binary is needed.

package netem

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Offload names an offload feature that SetOffloads switches.
type Offload struct {
	Name     string
	get, set uint32
}

// The offloads that change frame sizes or leave checksums to hardware.
var (
	OffloadTxChecksum = Offload{"tx-checksumming", 0x16, 0x17}
	OffloadSG         = Offload{"scatter-gather", 0x18, 0x19}
	OffloadTSO        = Offload{"tcp-segmentation-offload", 0x1e, 0x1f}
	OffloadGSO        = Offload{"generic-segmentation-offload", 0x23, 0x24}
	OffloadGRO        = Offload{"generic-receive-offload", 0x2b, 0x2c}
)

// EndpointOffloads are the offloads to turn off on an endpoint's interface
// so its kernel sends MTU-sized frames with complete checksums.
var EndpointOffloads = []Offload{OffloadGRO, OffloadGSO, OffloadTSO, OffloadTxChecksum}

// BridgeOffloads are the offloads to turn off on the bridged interfaces so
// the emulator reads MTU-sized frames.
var BridgeOffloads = []Offload{OffloadGRO, OffloadGSO, OffloadTSO}

type ethtoolValue struct {
	cmd  uint32
	data uint32
}

type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [16]byte
}

func ethtool(fd int, name string, v *ethtoolValue) error {
	var ifr ifreqData
	copy(ifr.name[:unix.IFNAMSIZ-1], name)
	ifr.data = unsafe.Pointer(v)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	if errno != 0 {
		return errno
	}
	return nil
}

// SetOffloads switches offloads on or off on ifname in the network
// namespace of the calling thread, like `ethtool -K ifname gro off ...`.
// An offload the driver does not support (EOPNOTSUPP) is skipped.
func SetOffloads(ifname string, on bool, which ...Offload) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	val := uint32(0)
	if on {
		val = 1
	}
	for _, o := range which {
		v := ethtoolValue{cmd: o.set, data: val}
		if err := ethtool(fd, ifname, &v); err != nil && err != unix.EOPNOTSUPP {
			return fmt.Errorf("netem: %s %s: %w", ifname, o.Name, err)
		}
	}
	return nil
}

// GetOffload reports whether an offload is on.
func GetOffload(ifname string, o Offload) (bool, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false, err
	}
	defer unix.Close(fd)
	v := ethtoolValue{cmd: o.get}
	if err := ethtool(fd, ifname, &v); err != nil {
		return false, fmt.Errorf("netem: %s %s: %w", ifname, o.Name, err)
	}
	return v.data != 0, nil
}
