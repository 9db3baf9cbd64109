package link

import (
	"encoding/binary"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// auxMsg builds a control message as the kernel writes it.
func auxMsg(level, typ int32, status uint32) []byte {
	b := make([]byte, auxCtlLen)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.SetLen(unix.CmsgLen(int(unsafe.Sizeof(unix.TpacketAuxdata{}))))
	h.Level, h.Type = level, typ
	binary.NativeEndian.PutUint32(b[unix.CmsgLen(0):], status)
	return b[:unix.CmsgSpace(int(unsafe.Sizeof(unix.TpacketAuxdata{})))]
}

func TestAuxChecksumOK(t *testing.T) {
	for _, c := range []struct {
		name string
		ctl  []byte
		want bool
	}{
		{"partial checksum", auxMsg(unix.SOL_PACKET, unix.PACKET_AUXDATA, unix.TP_STATUS_USER|unix.TP_STATUS_CSUMNOTREADY), true},
		{"validated", auxMsg(unix.SOL_PACKET, unix.PACKET_AUXDATA, unix.TP_STATUS_CSUM_VALID), true},
		{"unknown", auxMsg(unix.SOL_PACKET, unix.PACKET_AUXDATA, unix.TP_STATUS_USER), false},
		{"other message", auxMsg(unix.SOL_SOCKET, unix.SO_TIMESTAMP, unix.TP_STATUS_CSUM_VALID), false},
		{"truncated", auxMsg(unix.SOL_PACKET, unix.PACKET_AUXDATA, unix.TP_STATUS_CSUM_VALID)[:20], false},
		{"empty", nil, false},
	} {
		if got := auxChecksumOK(c.ctl); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// FuzzAuxChecksumOK: any control buffer is read without a panic.
func FuzzAuxChecksumOK(f *testing.F) {
	f.Add(auxMsg(unix.SOL_PACKET, unix.PACKET_AUXDATA, unix.TP_STATUS_CSUMNOTREADY))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) { auxChecksumOK(b) })
}
