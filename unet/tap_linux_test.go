package unet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/ustack/ustack/engine"
	"github.com/ustack/ustack/ip"
	"github.com/ustack/ustack/link"
)

// TestTapKernel runs a unet stack on a tap whose other side is the kernel of
// a fresh network namespace, and moves hash-checked data both ways: a kernel
// client against a unet listener, and a unet client against a kernel
// listener. It runs with a plain tap and with LKL's usual virtio offloads
// (0x8883: checksum offload, TSO4 both ways), where the stack sends TCP
// super-segments and receives coalesced ones.
func TestTapKernel(t *testing.T) {
	t.Run("plain", func(t *testing.T) { testTapKernel(t, 0) })
	t.Run("offload", func(t *testing.T) { testTapKernel(t, 0x8883) })
}

func testTapKernel(t *testing.T, offload link.Features) {
	ns := newTestNetns(t)
	var tap *link.Tap
	if err := ns.Run(func() (err error) {
		tap, err = link.OpenTap(link.TapConfig{Name: "ut0", Up: true, Offload: offload})
		return err
	}); err != nil {
		t.Fatalf("OpenTap: %v", err)
	}
	ns.IP("addr", "add", "10.9.0.1/24", "dev", "ut0")
	ns.WaitRunning("ut0")

	s, err := New(Config{Name: "tap"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.AddLink(tap, ip.InterfaceConfig{Addrs: []netip.Prefix{netip.MustParsePrefix("10.9.0.2/24")}}); err != nil {
		t.Fatal(err)
	}
	onStall = func() {
		for _, in := range s.Conns() {
			t.Logf("%+v", in)
		}
		st := s.Stats()
		t.Logf("%+v", st)
		out, _ := ns.Exec(30*time.Second, "ss", "-tni")
		t.Logf("%s", out)
	}
	deadlineSecs = 30
	size := 16 << 20
	if raceEnabled {
		size = 4 << 20
	}

	// Kernel client → unet echo server.
	ul, err := s.Listen("tcp", ":8080")
	if err != nil {
		t.Fatal(err)
	}
	defer ul.Close()
	go func() {
		for {
			c, err := ul.Accept()
			if err != nil {
				return
			}
			go sinkThenEcho(c)
		}
	}()
	var kc net.Conn
	if err := ns.Run(func() (err error) {
		kc, err = net.DialTimeout("tcp", "10.9.0.2:8080", 5*time.Second)
		return err
	}); err != nil {
		t.Fatalf("kernel dial: %v", err)
	}
	start := time.Now()
	echoCheck(t, kc, size)
	t.Logf("kernel client → unet echo: %d MB each way in %v", size>>20, time.Since(start).Round(time.Millisecond))

	// unet client → kernel echo server.
	kl := ns.Listen("tcp", "10.9.0.1:9090")
	go func() {
		c, err := kl.Accept()
		if err != nil {
			return
		}
		sinkThenEcho(c)
	}()
	uc, err := s.DialContext(context.Background(), "tcp", "10.9.0.1:9090")
	if err != nil {
		t.Fatalf("unet dial: %v", err)
	}
	start = time.Now()
	echoCheck(t, uc, size)
	t.Logf("unet client → kernel echo: %d MB each way in %v (%s)", size>>20, time.Since(start).Round(time.Millisecond), infoLine(uc.(*Conn)))

	// Refused by the kernel.
	if _, err := s.Dial("tcp", "10.9.0.1:9"); err == nil {
		t.Error("dial to a closed kernel port succeeded")
	} else {
		t.Log(err)
	}
	st := s.Stats()
	if offload != 0 {
		var gso int
		s.Do(func(h *engine.Host) {
			if ri, err := h.IP.FindRoute(netip.MustParseAddr("10.9.0.1"), netip.Addr{}); err == nil {
				gso = ri.GSOMaxSize
			}
		})
		if gso == 0 {
			t.Error("offloads on, but the route offers no TSO")
		}
		if st.IP.TxFrames >= st.TCP.SegsOut {
			t.Errorf("TSO: %d frames for %d segments: no super-segments were sent", st.IP.TxFrames, st.TCP.SegsOut)
		}
	}
	t.Logf("stack: rx %d frames in %d batches, %d polls, %d loop wakeups; link %+v", st.Runtime.RxFrames,
		st.Runtime.RxBatches, st.Runtime.Polls, st.Runtime.Wakeups, st.Links[0].Stats)
}

func infoLine(c *Conn) string {
	in := c.Info()
	return fmt.Sprintf("%s srtt %v mss %d", in.CC, in.SRTT, in.MSS)
}

// sinkThenEcho reads c to EOF, then sends it all back and closes: data flows
// one way at a time (see TestBulkRateDelayBidirectional for why).
func sinkThenEcho(c net.Conn) {
	defer c.Close()
	b, err := io.ReadAll(c)
	if err != nil {
		return
	}
	c.Write(b)
}

var deadlineSecs = 120

var onStall func()

func echoCheck(t *testing.T, c net.Conn, size int) {
	t.Helper()
	defer func() {
		if t.Failed() && onStall != nil {
			onStall()
		}
	}()
	defer c.Close()
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(uint64(size), 7))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	c.SetWriteDeadline(time.Now().Add(time.Duration(deadlineSecs) * time.Second))
	_, err := c.Write(data)
	if err == nil {
		err = c.(interface{ CloseWrite() error }).CloseWrite()
	}
	if err != nil {
		t.Fatalf("write: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(time.Duration(deadlineSecs) * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read echo: %v (%d bytes)", err, len(got))
	}
	if len(got) != len(data) || sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("echo: %d bytes, want %d; equal %v", len(got), len(data), bytes.Equal(got, data))
	}
}
