package pcap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ustack/ustack/link"
)

func TestWriteReadRoundtrip(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, LinkTypeEthernet, 100)
	if err != nil {
		t.Fatal(err)
	}
	pkts := []struct {
		ts   int64
		data []byte
	}{
		{0, []byte{1, 2, 3}},
		{1_500_000_123, bytes.Repeat([]byte{0xab}, 60)},
		{1_700_000_000_999_999_999, bytes.Repeat([]byte{0xcd}, 150)}, // truncated to 100
		{42, nil},
	}
	for _, p := range pkts {
		if err := w.WritePacket(p.ts, p.data); err != nil {
			t.Fatal(err)
		}
	}
	r, err := NewReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != LinkTypeEthernet || r.SnapLen() != 100 {
		t.Fatalf("linktype %d snaplen %d", r.LinkType(), r.SnapLen())
	}
	for i, p := range pkts {
		got, err := r.Next()
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		want := p.data
		if len(want) > 100 {
			want = want[:100]
		}
		if got.TimeNanos != p.ts || !bytes.Equal(got.Data, want) || got.OrigLen != len(p.data) {
			t.Fatalf("record %d: got ts=%d len=%d orig=%d, want ts=%d len=%d orig=%d",
				i, got.TimeNanos, len(got.Data), got.OrigLen, p.ts, len(want), len(p.data))
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("want EOF, got %v", err)
	}
}

func TestHeaderBytes(t *testing.T) {
	var buf bytes.Buffer
	if _, err := NewWriter(&buf, LinkTypeRaw, 0); err != nil {
		t.Fatal(err)
	}
	want := []byte{0x4d, 0x3c, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 101, 0, 0, 0}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("header % x, want % x", buf.Bytes(), want)
	}
}

// A big-endian microsecond file as written on another host.
func TestReadMicroBigEndian(t *testing.T) {
	var b bytes.Buffer
	be := binary.BigEndian
	h := make([]byte, 24)
	be.PutUint32(h[0:], magicMicro)
	be.PutUint16(h[4:], 2)
	be.PutUint16(h[6:], 4)
	be.PutUint32(h[16:], 65535)
	be.PutUint32(h[20:], LinkTypeRaw)
	b.Write(h)
	rec := make([]byte, 16)
	be.PutUint32(rec[0:], 10)
	be.PutUint32(rec[4:], 250)
	be.PutUint32(rec[8:], 2)
	be.PutUint32(rec[12:], 40)
	b.Write(rec)
	b.Write([]byte{0x45, 0})
	r, err := NewReader(&b)
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if p.TimeNanos != 10_000_250_000 || p.OrigLen != 40 || !bytes.Equal(p.Data, []byte{0x45, 0}) || r.LinkType() != LinkTypeRaw {
		t.Fatalf("got %+v linktype %d", p, r.LinkType())
	}
}

func TestReaderRejectsGarbage(t *testing.T) {
	if _, err := NewReader(bytes.NewReader(make([]byte, 24))); !errors.Is(err, ErrFormat) {
		t.Fatalf("zero header: %v", err)
	}
	if _, err := NewReader(bytes.NewReader([]byte{1, 2})); !errors.Is(err, ErrFormat) {
		t.Fatalf("short header: %v", err)
	}
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, 1, 0)
	w.WritePacket(1, []byte{1, 2, 3, 4})
	r, _ := NewReader(bytes.NewReader(buf.Bytes()[:buf.Len()-1]))
	if _, err := r.Next(); !errors.Is(err, ErrFormat) {
		t.Fatalf("truncated record: %v", err)
	}
}

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriterStickyError(t *testing.T) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, 1, 0)
	w.w = errWriter{}
	if err := w.WritePacket(0, []byte{1}); err == nil {
		t.Fatal("no error")
	}
	if err := w.WritePacket(0, []byte{1}); err == nil {
		t.Fatal("error not sticky")
	}
}

// fakeLink is an in-memory link.Link: reads come from rx, writes go to tx.
type fakeLink struct {
	rx [][]byte
	tx [][]byte
}

func (f *fakeLink) Name() string                   { return "fake0" }
func (f *fakeLink) Header() link.HeaderType        { return link.HeaderNone }
func (f *fakeLink) HardwareAddr() net.HardwareAddr { return nil }
func (f *fakeLink) MTU() int                       { return 1500 }
func (f *fakeLink) MaxFrameSize() int              { return 1500 }
func (f *fakeLink) Offloads() link.Offloads        { return link.Offloads{} }
func (f *fakeLink) Stats() link.Stats              { return link.Stats{} }
func (f *fakeLink) Close() error                   { return nil }
func (f *fakeLink) ReadBatch(bufs [][]byte, lens []int, metas []link.RxMeta) (int, error) {
	n := 0
	for n < len(bufs) && len(f.rx) > 0 {
		lens[n] = copy(bufs[n], f.rx[0])
		f.rx = f.rx[1:]
		n++
	}
	if n == 0 {
		return 0, link.ErrClosed
	}
	return n, nil
}
func (f *fakeLink) Write(frame []byte, _ link.TxMeta) error {
	f.tx = append(f.tx, append([]byte(nil), frame...))
	return nil
}
func (f *fakeLink) WriteBatch(frames [][]byte, _ []link.TxMeta) (int, error) {
	for _, fr := range frames {
		f.Write(fr, link.TxMeta{})
	}
	return len(frames), nil
}

func TestCaptureLink(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cap.pcap")
	fake := &fakeLink{rx: [][]byte{{0x45, 1}, {0x60, 2, 3}}}
	f, err := Create(path, LinkTypeFor(fake.Header()))
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Unix(100, 5)
	now := func() time.Time { clock = clock.Add(time.Millisecond); return clock }
	var l link.Link = Capture(fake, f.Writer, now)
	bufs := [][]byte{make([]byte, 100), make([]byte, 100), make([]byte, 100)}
	n, err := l.ReadBatch(bufs, make([]int, 3), make([]link.RxMeta, 3))
	if n != 2 || err != nil {
		t.Fatalf("ReadBatch %d %v", n, err)
	}
	l.Write([]byte{0x45, 9, 9, 9}, link.TxMeta{})
	l.WriteBatch([][]byte{{0x45, 7}, {0x60, 8}}, nil)
	if err := l.(*CaptureLink).Err(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if len(fake.tx) != 3 {
		t.Fatalf("fake saw %d writes", len(fake.tx))
	}

	rf, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer rf.Close()
	r, err := NewReader(rf)
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != LinkTypeRaw {
		t.Fatalf("linktype %d", r.LinkType())
	}
	want := []struct {
		ts   int64
		data []byte
	}{
		{time.Unix(100, 5+1e6).UnixNano(), []byte{0x45, 1}},
		{time.Unix(100, 5+1e6).UnixNano(), []byte{0x60, 2, 3}},
		{time.Unix(100, 5+2e6).UnixNano(), []byte{0x45, 9, 9, 9}},
		{time.Unix(100, 5+3e6).UnixNano(), []byte{0x45, 7}},
		{time.Unix(100, 5+3e6).UnixNano(), []byte{0x60, 8}},
	}
	for i, w := range want {
		p, err := r.Next()
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if p.TimeNanos != w.ts || !bytes.Equal(p.Data, w.data) {
			t.Fatalf("record %d: ts %d data %x, want %d %x", i, p.TimeNanos, p.Data, w.ts, w.data)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("extra records: %v", err)
	}
}
