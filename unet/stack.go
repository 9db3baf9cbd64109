// Package unet runs a ustack engine in real time and exposes it to Go
// programs through the interfaces of package net: net.Listener, net.Conn,
// Dial and DialContext, with Go's error and deadline conventions.
//
// Model. The engine (engine.Host: IP, TCP, congestion control) is a
// single-threaded state machine that takes time as an input. unet is the thin
// shell around it that owns the wall clock: it reads the monotonic clock at
// its edges and hands the engine clock.Time values measured from the moment
// the Stack was created.
//
// Concurrency. One mutex guards the engine; whoever holds it drives it:
//
//   - One reader goroutine per link loops on link.ReadBatch into buffers it
//     reuses, then takes the lock, reads the clock once, feeds the whole
//     batch to the IP layer and polls the engine (so ACKs and data leave at
//     once), without handing frames across goroutines.
//   - API calls (Read, Write, Dial, ...) take the lock, call the
//     non-blocking tcp API and poll the engine if that made work due now —
//     output happens on the caller's goroutine, as a kernel sends from the
//     system call.
//   - The event-loop goroutine serves timers (retransmission, delayed ACK,
//     pacing): it sleeps on one reused time.Timer set to
//     Host.NextDeadline(), or on a wake channel that anyone who moved the
//     deadline earlier signals, then polls.
//
// Blocking is done outside the lock: tcp Notify callbacks, which run inside
// protocol processing, only signal per-connection channels; the blocked
// goroutine then retries its non-blocking call.
package unet

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/ustack/ustack/clock"
	"github.com/ustack/ustack/engine"
	"github.com/ustack/ustack/ip"
	"github.com/ustack/ustack/link"
	"github.com/ustack/ustack/tcp"
)

// Config configures a Stack.
type Config struct {
	Name string
	// TCP holds the stack-wide TCP settings. CongestionControl defaults to
	// "bbr" here (the tcp package's own default is cubic), PacingSlack to
	// DefaultPacingSlack (negative: none).
	TCP tcp.Options
	IP  ip.Config
	// Clock, if set, replaces time.Now as the source of engine time (tests).
	// It must be monotonic. Timers and deadlines still run on the real clock.
	Clock func() time.Time
}

// DefaultPacingSlack is how late the event loop's timers may wake the TCP
// pacer before the lateness costs sending time (tcp.Options.PacingSlack).
// Go's timers fire up to 1 ms late when the deadline is under a
// millisecond away (the runtime sleeps in whole milliseconds), and a
// loaded machine adds scheduling delays of a few milliseconds. Without
// slack the pacer keeps one send quantum of credit, 0.55 ms at 1 Gbit/s,
// and a 1 Gbit/s × 10 ms download through a TAP lost a fifth of its
// sending time: ~700 Mbit/s at a pacing rate of ~950. With 2 ms it
// reached the kernel's BBR (~920 Mbit/s) with as many retransmissions;
// 3-5 ms gained little more and doubled them.
const DefaultPacingSlack = 2 * time.Millisecond

// Stack is a running network stack.
type Stack struct {
	name  string
	clk   func() time.Time
	base  time.Time
	wake  chan struct{} // cap 1: the next deadline moved earlier
	quit  chan struct{} // closed by Close
	wg    sync.WaitGroup
	close sync.Once

	mu      sync.Mutex // guards everything below
	host    *engine.Host
	armedAt clock.Time // deadline the loop's timer is set for (Never: none)
	closed  bool
	links   []*linkState
	rt      RuntimeStats
}

// RuntimeStats counts the runtime's own work.
type RuntimeStats struct {
	Polls     uint64 // engine polls (all goroutines)
	Wakeups   uint64 // event-loop wake-ups (timer or kick)
	RxBatches uint64 // ReadBatch calls that returned frames
	RxFrames  uint64 // frames fed to the IP layer
	// Transmit batching (links whose WriteBatch is one system call).
	TxBatches      uint64 // WriteBatch calls
	TxFrames       uint64 // frames sent in them
	TxBatchDropped uint64 // frames the link could not send
}

// Stats is a snapshot of a stack's counters.
type Stats struct {
	IP      ip.Stats
	TCP     tcp.Stats
	Links   []LinkStats
	Runtime RuntimeStats
}

// LinkStats are the counters of one link.
type LinkStats struct {
	Name string
	link.Stats
	// Err is the error that stopped the link's reader, if any.
	Err error
}

// New creates a stack with no links and starts its event loop.
func New(cfg Config) (*Stack, error) {
	if cfg.TCP.CongestionControl == "" {
		cfg.TCP.CongestionControl = "bbr"
	}
	switch {
	case cfg.TCP.PacingSlack == 0:
		cfg.TCP.PacingSlack = DefaultPacingSlack
	case cfg.TCP.PacingSlack < 0:
		cfg.TCP.PacingSlack = 0
	}
	if cfg.TCP.Seed == 0 {
		cfg.TCP.Seed = randSeed()
	}
	if cfg.IP.Seed == 0 {
		cfg.IP.Seed = randSeed()
	}
	h, err := engine.New(engine.Config{Name: cfg.Name, IP: cfg.IP, TCP: cfg.TCP})
	if err != nil {
		return nil, err
	}
	s := &Stack{
		name:    cfg.Name,
		clk:     cfg.Clock,
		wake:    make(chan struct{}, 1),
		quit:    make(chan struct{}),
		host:    h,
		armedAt: clock.Never,
	}
	if s.clk == nil {
		s.clk = time.Now
	}
	s.base = s.clk()
	s.wg.Add(1)
	go s.loop()
	return s, nil
}

func randSeed() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:]) | 1
}

// now reads the clock: engine time since the stack was created.
func (s *Stack) now() clock.Time { return clock.Time(s.clk().Sub(s.base)) }

// Name returns the configured name.
func (s *Stack) Name() string { return s.name }

// loop is the event loop: it polls the engine when its next deadline
// arrives or when kicked.
func (s *Stack) loop() {
	defer s.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	timerAt := clock.Never // deadline timer is armed for
	for {
		select {
		case <-s.quit:
			timer.Stop()
			return
		case <-s.wake:
		case <-timer.C:
			timerAt = clock.Never
		}
		s.mu.Lock()
		s.rt.Wakeups++
		now := s.now()
		s.pollLocked(now)
		next := s.host.NextDeadline()
		for i := 0; next <= now && i < 8; i++ {
			now = s.now()
			s.pollLocked(now)
			next = s.host.NextDeadline()
		}
		s.armedAt = next
		s.flushTx()
		s.mu.Unlock()
		switch {
		case next == timerAt:
		case next == clock.Never:
			timer.Stop()
			timerAt = clock.Never
		default:
			d := next.Sub(now)
			if d <= 0 {
				// Still due after several polls: come back at once.
				s.kick()
				continue
			}
			timer.Reset(d)
			timerAt = next
		}
	}
}

// kick wakes the event loop.
func (s *Stack) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Stack) pollLocked(now clock.Time) {
	s.rt.Polls++
	s.host.Poll(now)
}

// flushLocked is called before releasing the lock after using the engine:
// work the API made due now (the tcp API arms timers for "now") is done at
// once, and the event loop is woken if the next deadline moved earlier than
// its timer.
func (s *Stack) flushLocked() {
	next := s.host.NextDeadline()
	if next <= s.host.IP.Now() {
		s.pollLocked(s.now())
		next = s.host.NextDeadline()
	}
	if next < s.armedAt {
		s.armedAt = next
		s.kick()
	}
	s.flushTx()
}

// flushTx sends the frames the engine queued on batching links.
func (s *Stack) flushTx() {
	for _, l := range s.links {
		if l.tx != nil {
			l.tx.flush()
		}
	}
}

// lock takes the engine lock; it fails once the stack is closed.
func (s *Stack) lock() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return net.ErrClosed
	}
	return nil
}

// unlock flushes due work and releases the engine lock.
func (s *Stack) unlock() {
	s.flushLocked()
	s.mu.Unlock()
}

// Do runs f with the engine locked (for introspection and configuration),
// then performs any work f made due.
func (s *Stack) Do(f func(h *engine.Host)) {
	s.mu.Lock()
	f(s.host)
	if !s.closed {
		s.flushLocked()
	}
	s.mu.Unlock()
}

// AddRoute adds a route (ip.Stack.AddRoute).
func (s *Stack) AddRoute(r ip.Route) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.unlock()
	return s.host.IP.AddRoute(r)
}

// Conns returns a snapshot of all connections.
func (s *Stack) Conns() []tcp.Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.host.TCP.Conns()
	out := make([]tcp.Info, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.Info())
	}
	return out
}

// Stats returns a snapshot of the counters.
func (s *Stack) Stats() Stats {
	s.mu.Lock()
	st := Stats{IP: s.host.IP.Stats(), TCP: s.host.TCP.Stats(), Runtime: s.rt}
	links := append([]*linkState(nil), s.links...)
	s.mu.Unlock()
	for _, l := range links {
		ls := LinkStats{Name: l.l.Name(), Stats: l.l.Stats()}
		l.mu.Lock()
		ls.Err = l.err
		l.mu.Unlock()
		st.Links = append(st.Links, ls)
	}
	return st
}

// Close stops the event loop and the link readers and closes the links.
// Blocked calls on the stack's connections and listeners return
// net.ErrClosed; connections are abandoned without a FIN.
func (s *Stack) Close() error {
	var err error
	s.close.Do(func() {
		s.mu.Lock()
		s.closed = true
		links := s.links
		s.mu.Unlock()
		close(s.quit)
		for _, l := range links {
			if e := l.l.Close(); e != nil && err == nil && !errors.Is(e, link.ErrClosed) {
				err = e
			}
		}
		s.wg.Wait()
	})
	return err
}
