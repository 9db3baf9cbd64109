// The bridge: two links, two directions, four goroutines.

package netem

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ustack/ustack/clock"
	"github.com/ustack/ustack/link"
)

// Bridge forwards frames between two links through the path model.
type Bridge struct {
	cfg    Config
	a, b   link.Link
	ab, ba *dir
	timers []Timer
	clk    Clock
	start  clock.Time

	stop    atomic.Bool
	wg      sync.WaitGroup
	done    chan struct{}
	once    sync.Once
	errMu   sync.Mutex
	err     error
	closed  sync.Once
	release func() // gives back what Open reserved
}

// Open opens AF_PACKET sockets on cfg.A and cfg.B (in the network
// namespace of the calling thread) and starts bridging them. GOMAXPROCS is
// two higher until Close (the schedulers sleep in blocking reads).
func Open(cfg Config) (*Bridge, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	open := func(name string) (*link.Packet, error) {
		return link.OpenPacket(link.PacketConfig{
			Interface: name, Mode: link.PacketRaw, Promisc: true,
			Batch: cfg.Batch, QdiscBypass: false,
		})
	}
	a, err := open(cfg.A)
	if err != nil {
		return nil, err
	}
	b, err := open(cfg.B)
	if err != nil {
		a.Close()
		return nil, err
	}
	clk := NewRealClock()
	release := reserveProcs(2)
	br, err := Start(cfg, a, b, clk, func() (Timer, error) { return NewTimer(clk) })
	if err != nil {
		release()
		a.Close()
		b.Close()
		return nil, err
	}
	br.release = release
	return br, nil
}

// Start bridges two open links with the given clock and timers. The
// bridge owns the links from then on and closes them in Close.
func Start(cfg Config, a, b link.Link, clk Clock, newTimer func() (Timer, error)) (*Bridge, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.AB.Name == "" {
		cfg.AB.Name = a.Name() + "->" + b.Name()
	}
	if cfg.BA.Name == "" {
		cfg.BA.Name = b.Name() + "->" + a.Name()
	}
	br := &Bridge{cfg: cfg, a: a, b: b, clk: clk, start: clk.Now(), done: make(chan struct{})}
	var tms [2]Timer
	for i := range tms {
		t, err := newTimer()
		if err != nil {
			for _, t := range tms[:i] {
				t.Close()
			}
			return nil, fmt.Errorf("netem: timer: %w", err)
		}
		tms[i] = t
	}
	br.timers = tms[:]
	maxFrame := func(l link.Link) int { return l.MTU() + l.Header().Len() }
	br.ab = newDir(cfg.AB, cfg.Seed^0x6162, clk, tms[0], b, cfg.spin(), maxFrame(a))
	br.ba = newDir(cfg.BA, cfg.Seed^0x6261, clk, tms[1], a, cfg.spin(), maxFrame(b))
	batch := cfg.Batch
	if batch <= 0 {
		batch = 64
	}
	for _, x := range []struct {
		rx link.Link
		d  *dir
	}{{a, br.ab}, {b, br.ba}} {
		br.wg.Add(2)
		go func() {
			defer br.wg.Done()
			br.read(x.rx, x.d, batch)
		}()
		go func() {
			defer br.wg.Done()
			if cfg.Realtime > 0 {
				if err := setRealtime(cfg.Realtime); err != nil {
					br.fail(fmt.Errorf("netem: real-time scheduling: %w", err))
				}
			}
			x.d.schedule(&br.stop)
		}()
	}
	return br, nil
}

func (br *Bridge) read(rx link.Link, d *dir, batch int) {
	bufs := make([][]byte, batch)
	for i := range bufs {
		bufs[i] = make([]byte, rx.MaxFrameSize())
	}
	lens := make([]int, batch)
	metas := make([]link.RxMeta, batch)
	for {
		n, err := rx.ReadBatch(bufs, lens, metas)
		if err != nil {
			if !br.stop.Load() && !errors.Is(err, link.ErrClosed) {
				br.fail(fmt.Errorf("netem: read %s: %w", rx.Name(), err))
			}
			return
		}
		d.input(br.clk.Now(), bufs[:n], lens[:n])
	}
}

func (br *Bridge) fail(err error) {
	br.errMu.Lock()
	if br.err == nil {
		br.err = err
	}
	br.errMu.Unlock()
	br.once.Do(func() { close(br.done) })
}

// Done is closed when a link fails (see Err).
func (br *Bridge) Done() <-chan struct{} { return br.done }

// Err returns the error that stopped a direction, if any.
func (br *Bridge) Err() error {
	br.errMu.Lock()
	defer br.errMu.Unlock()
	return br.err
}

// Config returns the configuration (with the directions named).
func (br *Bridge) Config() Config { return br.cfg }

// Stats returns the counters of the a→b and b→a directions.
func (br *Bridge) Stats() (ab, ba DirStats) { return br.ab.stats(), br.ba.stats() }

// Close stops the bridge, closes the links and waits for the goroutines.
// Frames still in flight are discarded.
func (br *Bridge) Close() error {
	var err error
	br.closed.Do(func() {
		br.stop.Store(true)
		err = errors.Join(br.a.Close(), br.b.Close())
		done := make(chan struct{})
		go func() { br.wg.Wait(); close(done) }()
		for waiting := true; waiting; {
			// Wake sleeping schedulers until they have seen stop (one
			// may re-arm its timer just after a wake-up).
			for _, t := range br.timers {
				t.Arm(0)
			}
			select {
			case <-done:
				waiting = false
			case <-time.After(time.Millisecond):
			}
		}
		for _, t := range br.timers {
			t.Close()
		}
		if br.release != nil {
			br.release()
		}
	})
	return err
}

// FormatStats formats one direction's counters for humans.
func FormatStats(s DirStats) string {
	p := &s.Path
	var b strings.Builder
	fmt.Fprintf(&b, "%s: in=%d delivered=%d (%d B) dropped=%d{buffer=%d loss=%d mtu=%d policer=%d}",
		s.Name, p.PacketsIn, p.PacketsDelivered, p.BytesDelivered, p.Dropped(),
		p.DropBuffer, p.DropLoss, p.DropMTU, p.DropPolicer)
	if p.Reordered > 0 || p.Duplicated > 0 {
		fmt.Fprintf(&b, " reordered=%d duplicated=%d", p.Reordered, p.Duplicated)
	}
	fmt.Fprintf(&b, " maxqueue=%dB qdelay{p50=%v p99=%v max=%v} late{p50=%v p99=%v max=%v} wake{p50=%v p99=%v max=%v}",
		p.MaxQueueBytes, p.QueueDelay.Quantile(0.5), p.QueueDelay.Quantile(0.99), p.QueueDelay.Max(),
		s.Late.Quantile(0.5), s.Late.Quantile(0.99), s.Late.Max(),
		s.Wake.Quantile(0.5), s.Wake.Quantile(0.99), s.Wake.Max())
	if s.WriteErrors > 0 {
		fmt.Fprintf(&b, " write-errors=%d", s.WriteErrors)
	}
	if s.Oversize > 0 {
		fmt.Fprintf(&b, " OVERSIZE=%d (turn GRO/TSO/GSO off)", s.Oversize)
	}
	return b.String()
}
