package netem

import (
	"encoding/binary"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ustack/ustack/link"
	"github.com/ustack/ustack/sim"
)

// memLink is an in-memory link.Link: frames pushed with inject are read by
// ReadBatch; WriteBatch records into a recorder.
type memLink struct {
	name string
	in   chan []byte
	out  *recorder
	once sync.Once
	done chan struct{}
}

func newMemLink(name string, c Clock) *memLink {
	return &memLink{name: name, in: make(chan []byte, 1024), out: &recorder{c: c}, done: make(chan struct{})}
}

func (m *memLink) Name() string                   { return m.name }
func (m *memLink) Header() link.HeaderType        { return link.HeaderEthernet }
func (m *memLink) HardwareAddr() net.HardwareAddr { return make(net.HardwareAddr, 6) }
func (m *memLink) MTU() int                       { return 1500 }
func (m *memLink) MaxFrameSize() int              { return 2048 }
func (m *memLink) Offloads() link.Offloads        { return link.Offloads{} }
func (m *memLink) Stats() link.Stats              { return link.Stats{} }
func (m *memLink) Write(f []byte, _ link.TxMeta) error {
	_, err := m.WriteBatch([][]byte{f}, nil)
	return err
}
func (m *memLink) WriteBatch(f [][]byte, meta []link.TxMeta) (int, error) {
	select {
	case <-m.done:
		return 0, link.ErrClosed
	default:
	}
	return m.out.WriteBatch(f, meta)
}
func (m *memLink) Close() error {
	m.once.Do(func() { close(m.done) })
	return nil
}
func (m *memLink) ReadBatch(bufs [][]byte, lens []int, _ []link.RxMeta) (int, error) {
	select {
	case f := <-m.in:
		n := 0
		for {
			lens[n] = copy(bufs[n], f)
			n++
			if n == len(bufs) {
				return n, nil
			}
			select {
			case f = <-m.in:
			default:
				return n, nil
			}
		}
	case <-m.done:
		return 0, link.ErrClosed
	}
}

// TestBridge: frames cross in both directions with each direction's
// delay, and Close stops everything.
func TestBridge(t *testing.T) {
	c := &fakeClock{step: 100}
	a, b := newMemLink("a", c), newMemLink("b", c)
	cfg := Config{A: "a", B: "b",
		AB: sim.PathConfig{Delay: 10 * time.Millisecond, Rate: 100e6},
		BA: sim.PathConfig{Delay: 30 * time.Millisecond}}
	br, err := Start(cfg, a, b, c, func() (Timer, error) { return newFakeTimer(c, 20*time.Microsecond), nil })
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		a.in <- frame(i, 1000)
		b.in <- frame(1000+i, 80)
	}
	waitFor(t, "frames on both sides", func() bool { return b.out.count() == 100 && a.out.count() == 100 })
	// A batch is counted as written after its write returns, just after
	// the frames reach the fake link: wait for the counters too.
	waitFor(t, "write counters", func() bool {
		ab, ba := br.Stats()
		return ab.Written+ab.WriteErrors == 100 && ba.Written+ba.WriteErrors == 100
	})
	for i, f := range b.out.frames {
		if got := int(binary.BigEndian.Uint32(f)); got != i {
			t.Fatalf("a→b: frame %d in position %d", got, i)
		}
	}
	ab, ba := br.Stats()
	if ab.Name != "a->b" || ba.Name != "b->a" || ab.Written != 100 || ba.Written != 100 {
		t.Errorf("stats:\n%s\n%s", FormatStats(ab), FormatStats(ba))
	}
	if err := br.Close(); err != nil {
		t.Fatal(err)
	}
	if br.Err() != nil {
		t.Errorf("Err after Close: %v", br.Err())
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{
		{A: "a"},
		{A: "a", B: "a"},
		{A: "a", B: "b", AB: sim.PathConfig{Loss: 1.5}},
		{A: "a", B: "b", BA: sim.PathConfig{Delay: -1}},
	} {
		if c.Validate() == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if err := (&Config{A: "a", B: "b", AB: sim.PathConfig{Loss: 0.1}}).Validate(); err != nil {
		t.Error(err)
	}
}
