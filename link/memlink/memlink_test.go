package memlink

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/ustack/ustack/link"
)

func readOne(t *testing.T, l *Link) []byte {
	t.Helper()
	bufs := [][]byte{make([]byte, l.MaxFrameSize())}
	lens, metas := make([]int, 1), make([]link.RxMeta, 1)
	n, err := l.ReadBatch(bufs, lens, metas)
	if err != nil || n != 1 {
		t.Fatalf("ReadBatch: %d, %v", n, err)
	}
	return bufs[0][:lens[0]]
}

func TestPair(t *testing.T) {
	a, b := Pair(Config{})
	var _ link.Link = a
	if a.MTU() != 1500 || a.MaxFrameSize() != 1514 || a.Header() != link.HeaderEthernet || bytes.Equal(a.HardwareAddr(), b.HardwareAddr()) {
		t.Fatalf("a: mtu %d max %d hdr %v mac %v/%v", a.MTU(), a.MaxFrameSize(), a.Header(), a.HardwareAddr(), b.HardwareAddr())
	}
	for i := 0; i < 3; i++ {
		if err := a.Write([]byte{byte(i), 1, 2, 3}, link.TxMeta{}); err != nil {
			t.Fatal(err)
		}
	}
	bufs := make([][]byte, 8)
	for i := range bufs {
		bufs[i] = make([]byte, 1514)
	}
	lens, metas := make([]int, 8), make([]link.RxMeta, 8)
	n, err := b.ReadBatch(bufs, lens, metas)
	if err != nil || n != 3 {
		t.Fatalf("ReadBatch: %d, %v", n, err)
	}
	for i := 0; i < n; i++ {
		if !bytes.Equal(bufs[i][:lens[i]], []byte{byte(i), 1, 2, 3}) {
			t.Errorf("frame %d: %x", i, bufs[i][:lens[i]])
		}
	}
	// Other direction, WriteBatch.
	if n, err := b.WriteBatch([][]byte{{9}, {8}}, nil); n != 2 || err != nil {
		t.Fatal(n, err)
	}
	if f := readOne(t, a); !bytes.Equal(f, []byte{9}) {
		t.Errorf("got %x", f)
	}
	if f := readOne(t, a); !bytes.Equal(f, []byte{8}) {
		t.Errorf("got %x", f)
	}
	if err := a.Write(make([]byte, 1515), link.TxMeta{}); err == nil {
		t.Error("oversized frame accepted")
	}
	if err := a.Write([]byte{1}, link.TxMeta{NeedsCsum: true}); !errors.Is(err, link.ErrOffload) {
		t.Errorf("offload: %v", err)
	}
	st := a.Stats()
	if st.TxFrames != 3 || st.RxFrames != 2 || st.TxOffloadRejected != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestRateDelay(t *testing.T) {
	// 1000-byte frames at 8 Mbit/s: 1 ms each, plus 20 ms delay.
	a, b := Pair(Config{Rate: 8e6, Delay: 20 * time.Millisecond})
	start := time.Now()
	for i := 0; i < 10; i++ {
		a.Write(make([]byte, 1000), link.TxMeta{})
	}
	for i := 0; i < 10; i++ {
		readOne(t, b)
	}
	if el := time.Since(start); el < 29*time.Millisecond || el > 500*time.Millisecond {
		t.Errorf("10 frames took %v, want about 30 ms", el)
	}
}

func TestQueueLimit(t *testing.T) {
	a, b := Pair(Config{QueueLen: 4})
	for i := 0; i < 10; i++ {
		if err := a.Write([]byte{byte(i)}, link.TxMeta{}); err != nil {
			t.Fatal(err)
		}
	}
	if st := a.Stats(); st.TxFrames != 4 || st.TxDropped != 6 {
		t.Errorf("stats %+v", st)
	}
	for i := 0; i < 4; i++ {
		readOne(t, b)
	}
}

func TestClose(t *testing.T) {
	a, b := Pair(Config{})
	errc := make(chan error, 1)
	go func() {
		bufs := [][]byte{make([]byte, 1514)}
		_, err := a.ReadBatch(bufs, make([]int, 1), make([]link.RxMeta, 1))
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond)
	a.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, link.ErrClosed) {
			t.Errorf("ReadBatch after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock ReadBatch")
	}
	if err := a.Write([]byte{1}, link.TxMeta{}); !errors.Is(err, link.ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
	// The peer's writes go nowhere, without error.
	if err := b.Write([]byte{1}, link.TxMeta{}); err != nil {
		t.Errorf("peer Write: %v", err)
	}
}
