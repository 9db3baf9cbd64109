// Package relay forwards TCP connections from listeners to backends, the job
// haproxy or rinetd did inside LKL: a client's connection terminates in one
// TCP stack (ustack's, where BBR runs) and its bytes are copied to and from a
// connection to the backend made through another (the host kernel's).
//
// Model. A Relay owns a set of frontends. A frontend is a listen address with
// one port or a port range; each listen port maps to one backend port (ranges
// map 1:1, a single backend port takes them all). Listeners come from a
// ListenFunc, so any net.Listener source works (ustack's userspace stack in
// production, the kernel in tests); backends are reached with a DialFunc
// (default: the kernel's net.Dialer).
//
// Each accepted connection is a session: dial the backend, write the optional
// PROXY header, then two copy loops, one per direction. A loop that reads EOF
// half-closes its destination (CloseWrite) and stops; the other direction goes
// on until it sees EOF too, then both connections are closed. Any other read
// or write error closes both at once. An idle timer, if set, closes both when
// neither direction has moved a byte for the frontend's Idle duration. A
// backend that cannot be reached closes only that client: the error is counted
// and logged on one line (at most one line per second per frontend, with the
// number of lines left out).
//
// Accept errors never stop a frontend: they are counted, logged and retried
// with a backoff up to one second, so a transient condition (no buffer space,
// too many open files) heals by itself. Only closing the listener ends the
// accept loop.
//
// Shutdown closes the listeners, lets running sessions finish until its context
// ends, then closes what is left. Counters are per frontend and can be read at
// any time (Stats).
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// PortRange is an inclusive range of ports; a single port has First == Last.
type PortRange struct{ First, Last uint16 }

// Len is the number of ports in r.
func (r PortRange) Len() int { return int(r.Last) - int(r.First) + 1 }

func (r PortRange) String() string {
	if r.First == r.Last {
		return strconv.Itoa(int(r.First))
	}
	return strconv.Itoa(int(r.First)) + "-" + strconv.Itoa(int(r.Last))
}

// Frontend is one forwarding: connections to Listen:Ports go to
// Backend:BackendPorts.
type Frontend struct {
	// Name labels the frontend in logs and Stats; default "ADDR:PORTS".
	Name string
	// Listen is the address to listen on (0.0.0.0 / :: for any).
	Listen netip.Addr
	// Ports is the listen port or range. Port 0 (a single port) asks the
	// listener for any free port; see Relay.Addrs.
	Ports PortRange
	// Backend is an IP address or host name.
	Backend string
	// BackendPorts has one port, or as many as Ports (mapped 1:1).
	BackendPorts PortRange
	// Proxy selects the PROXY protocol header sent to the backend.
	Proxy ProxyVersion
	// Idle closes a session after this long without a byte either way
	// (0: never).
	Idle time.Duration
}

// BackendPort returns the backend port for listen port p.
func (f *Frontend) BackendPort(p uint16) uint16 {
	if f.BackendPorts.First == f.BackendPorts.Last {
		return f.BackendPorts.First
	}
	return f.BackendPorts.First + (p - f.Ports.First)
}

// BackendAddr returns the backend's "host:port" for listen port p.
func (f *Frontend) BackendAddr(p uint16) string {
	return net.JoinHostPort(f.Backend, strconv.Itoa(int(f.BackendPort(p))))
}

func (f *Frontend) label() string {
	if f.Name != "" {
		return f.Name
	}
	a := "*"
	if f.Listen.IsValid() {
		a = f.Listen.String()
		if f.Listen.Is6() {
			a = "[" + a + "]"
		}
	}
	return a + ":" + f.Ports.String()
}

func (f *Frontend) check() error {
	switch {
	case f.Ports.First > f.Ports.Last:
		return fmt.Errorf("relay: frontend %s: listen range %s is reversed", f.label(), f.Ports)
	case f.BackendPorts.First > f.BackendPorts.Last:
		return fmt.Errorf("relay: frontend %s: backend range %s is reversed", f.label(), f.BackendPorts)
	case f.Ports.First == 0 && f.Ports.Last != 0:
		return fmt.Errorf("relay: frontend %s: port 0 cannot start a range", f.label())
	case f.BackendPorts.First == 0:
		return fmt.Errorf("relay: frontend %s: backend port 0", f.label())
	case f.BackendPorts.Len() != 1 && f.BackendPorts.Len() != f.Ports.Len():
		return fmt.Errorf("relay: frontend %s: backend range %s does not match listen range %s (1:1 needs equal sizes)",
			f.label(), f.BackendPorts, f.Ports)
	case f.Backend == "":
		return fmt.Errorf("relay: frontend %s: no backend address", f.label())
	case f.Proxy > ProxyV2:
		return fmt.Errorf("relay: frontend %s: bad PROXY version %d", f.label(), f.Proxy)
	case f.Idle < 0:
		return fmt.Errorf("relay: frontend %s: negative idle timeout", f.label())
	}
	return nil
}

// ListenFunc opens the listener of one listen address and port.
type ListenFunc func(addr netip.AddrPort) (net.Listener, error)

// DialFunc connects to a backend ("tcp", "host:port").
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// Config configures a Relay. Zero fields take the defaults noted.
type Config struct {
	Frontends []Frontend
	// Listen opens listeners; default: the kernel's (net.Listen).
	Listen ListenFunc
	// Dial connects to backends; default: a net.Dialer (the kernel's TCP).
	Dial DialFunc
	// DialTimeout bounds a backend connect. Default 10 s.
	DialTimeout time.Duration
	// BufferSize is the copy buffer per direction. Default 32 KiB.
	BufferSize int
	// Log receives one line per backend error and accept error; default
	// slog.Default().
	Log *slog.Logger
}

// Stats are the counters of one frontend.
type Stats struct {
	Frontend string `json:"frontend"`
	// Accepted counts accepted client connections; Active is the number
	// of sessions running now.
	Accepted uint64 `json:"accepted"`
	Active   int64  `json:"active"`
	// BytesToBackend and BytesToClient count bytes relayed each way
	// (PROXY headers not included).
	BytesToBackend uint64 `json:"bytes_to_backend"`
	BytesToClient  uint64 `json:"bytes_to_client"`
	// BackendErrors counts sessions closed because the backend could
	// not be reached (connect failure or failed PROXY header write).
	BackendErrors uint64 `json:"backend_errors"`
	// IdleTimeouts counts sessions closed by the idle timer.
	IdleTimeouts uint64 `json:"idle_timeouts"`
	// AcceptErrors counts failed Accept calls (retried).
	AcceptErrors uint64 `json:"accept_errors"`
}

// frontend is a Frontend's running state.
type frontend struct {
	cfg  Frontend
	name string
	lns  []net.Listener

	accepted, toBackend, toClient  atomic.Uint64
	backendErrors, idle, acceptErr atomic.Uint64
	active                         atomic.Int64

	logMu      sync.Mutex
	lastLog    time.Time
	suppressed int
}

// Relay runs frontends. Create with New, then Start; stop with Shutdown or
// Close.
type Relay struct {
	cfg   Config
	fes   []*frontend
	epoch time.Time
	log   *slog.Logger
	pool  sync.Pool

	ctx    context.Context // cancelled by Close: aborts backend dials
	cancel context.CancelFunc

	acceptWG  sync.WaitGroup // accept loops
	sessionWG sync.WaitGroup // sessions

	mu       sync.Mutex
	started  bool
	closing  bool
	sessions map[*session]struct{}
}

// New checks the configuration and returns a Relay that is not yet listening.
func New(cfg Config) (*Relay, error) {
	if cfg.Listen == nil {
		cfg.Listen = func(a netip.AddrPort) (net.Listener, error) {
			return net.Listen("tcp", a.String())
		}
	}
	if cfg.Dial == nil {
		d := &net.Dialer{}
		cfg.Dial = d.DialContext
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	if cfg.BufferSize <= 0 {
		cfg.BufferSize = 32 << 10
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	r := &Relay{cfg: cfg, epoch: time.Now(), log: cfg.Log, sessions: map[*session]struct{}{}}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	size := cfg.BufferSize
	r.pool.New = func() any { b := make([]byte, size); return &b }
	for i := range cfg.Frontends {
		f := cfg.Frontends[i]
		if err := f.check(); err != nil {
			return nil, err
		}
		r.fes = append(r.fes, &frontend{cfg: f, name: f.label()})
	}
	return r, nil
}

// Start opens every listener and starts accepting. If a listener cannot be
// opened, those already open are closed and the error names the address.
func (r *Relay) Start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started || r.closing {
		return errors.New("relay: already started")
	}
	for _, fe := range r.fes {
		for p := int(fe.cfg.Ports.First); p <= int(fe.cfg.Ports.Last); p++ {
			addr := netip.AddrPortFrom(fe.cfg.Listen, uint16(p))
			ln, err := r.cfg.Listen(addr)
			if err != nil {
				for _, f := range r.fes {
					for _, l := range f.lns {
						l.Close()
					}
					f.lns = nil
				}
				return fmt.Errorf("relay: listen %s: %w", addr, err)
			}
			fe.lns = append(fe.lns, ln)
		}
	}
	r.started = true
	for _, fe := range r.fes {
		for i, ln := range fe.lns {
			port := fe.cfg.Ports.First + uint16(i)
			r.acceptWG.Add(1)
			go r.acceptLoop(fe, ln, port)
		}
	}
	return nil
}

// Addrs returns the listeners' addresses, frontend by frontend, port by port.
func (r *Relay) Addrs() [][]net.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([][]net.Addr, len(r.fes))
	for i, fe := range r.fes {
		for _, ln := range fe.lns {
			out[i] = append(out[i], ln.Addr())
		}
	}
	return out
}

// Stats returns the counters of every frontend, in configuration order.
func (r *Relay) Stats() []Stats {
	out := make([]Stats, len(r.fes))
	for i, fe := range r.fes {
		out[i] = Stats{
			Frontend:       fe.name,
			Accepted:       fe.accepted.Load(),
			Active:         fe.active.Load(),
			BytesToBackend: fe.toBackend.Load(),
			BytesToClient:  fe.toClient.Load(),
			BackendErrors:  fe.backendErrors.Load(),
			IdleTimeouts:   fe.idle.Load(),
			AcceptErrors:   fe.acceptErr.Load(),
		}
	}
	return out
}

// Shutdown stops accepting, waits for running sessions to end until ctx is
// done, then closes the remaining ones. It returns ctx.Err() if sessions had
// to be cut, nil if all ended by themselves.
func (r *Relay) Shutdown(ctx context.Context) error {
	r.stopAccepting()
	done := make(chan struct{})
	go func() { r.sessionWG.Wait(); close(done) }()
	select {
	case <-done:
		r.cancel()
		return nil
	case <-ctx.Done():
		r.closeSessions()
		<-done
		return ctx.Err()
	}
}

// Close stops accepting and closes every session at once.
func (r *Relay) Close() error {
	r.stopAccepting()
	r.closeSessions()
	r.sessionWG.Wait()
	return nil
}

func (r *Relay) stopAccepting() {
	r.mu.Lock()
	r.closing = true
	for _, fe := range r.fes {
		for _, ln := range fe.lns {
			ln.Close()
		}
	}
	r.mu.Unlock()
	r.acceptWG.Wait()
}

func (r *Relay) closeSessions() {
	r.cancel()
	r.mu.Lock()
	for s := range r.sessions {
		s.abort()
	}
	r.mu.Unlock()
}

func (r *Relay) isClosing() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closing
}

// acceptLoop accepts on ln until it is closed. Errors are retried with a
// backoff from 5 ms to 1 s.
func (r *Relay) acceptLoop(fe *frontend, ln net.Listener, port uint16) {
	defer r.acceptWG.Done()
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || r.isClosing() {
				return
			}
			fe.acceptErr.Add(1)
			if backoff == 0 {
				backoff = 5 * time.Millisecond
			} else if backoff *= 2; backoff > time.Second {
				backoff = time.Second
			}
			fe.logf(r.log, "relay: %s: accept: %v (retrying in %v)", fe.name, err, backoff)
			select {
			case <-time.After(backoff):
			case <-r.ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		fe.accepted.Add(1)
		s := &session{r: r, fe: fe, client: c, port: port}
		r.mu.Lock()
		if r.closing {
			r.mu.Unlock()
			c.Close()
			continue
		}
		r.sessions[s] = struct{}{}
		r.sessionWG.Add(1)
		r.mu.Unlock()
		fe.active.Add(1)
		go s.run()
	}
}

// logf logs one line, at most one per second per frontend; lines left out
// are counted in the next one.
func (fe *frontend) logf(log *slog.Logger, format string, args ...any) {
	fe.logMu.Lock()
	now := time.Now()
	if !fe.lastLog.IsZero() && now.Sub(fe.lastLog) < time.Second {
		fe.suppressed++
		fe.logMu.Unlock()
		return
	}
	n := fe.suppressed
	fe.suppressed = 0
	fe.lastLog = now
	fe.logMu.Unlock()
	msg := fmt.Sprintf(format, args...)
	if n > 0 {
		msg += fmt.Sprintf(" [%d similar lines suppressed]", n)
	}
	log.Warn(msg)
}
