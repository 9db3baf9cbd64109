package relay

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ustack/ustack/internal/conntest"
)

var lo = netip.MustParseAddr("127.0.0.1")

// server is a kernel TCP server on 127.0.0.1 running handle per connection.
func server(t *testing.T, handle func(net.Conn)) *net.TCPListener {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
	return ln
}

// echo copies everything back, half-closes on EOF, then closes.
func echo(c net.Conn) {
	defer c.Close()
	io.Copy(c, c)
	c.(*net.TCPConn).CloseWrite()
}

func port(ln net.Listener) uint16 { return uint16(ln.Addr().(*net.TCPAddr).Port) }

// logBuf collects log lines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// start runs a relay over kernel listeners; it is closed at the end of the test.
func start(t *testing.T, cfg Config) (*Relay, *logBuf) {
	t.Helper()
	lb := &logBuf{}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(lb, nil))
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, lb
}

func one(backend uint16) Frontend {
	return Frontend{Listen: lo, Backend: "127.0.0.1", BackendPorts: PortRange{backend, backend}}
}

func dial(t *testing.T, r *Relay, fe, i int) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", r.Addrs()[fe][i].String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c.(*net.TCPConn)
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestEcho(t *testing.T) {
	be := server(t, echo)
	r, _ := start(t, Config{Frontends: []Frontend{one(port(be))}})
	data := random(1 << 20)
	got, err := conntest.RoundTrip(dial(t, r, 0, 0), data)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("echo: got %d bytes, want %d identical", len(got), len(data))
	}
	waitFor(t, "session end", func() bool { return r.Stats()[0].Active == 0 })
	st := r.Stats()[0]
	if st.Accepted != 1 || st.BytesToBackend != 1<<20 || st.BytesToClient != 1<<20 || st.BackendErrors != 0 {
		t.Errorf("stats %+v", st)
	}
	if st.Frontend != "127.0.0.1:0" {
		t.Errorf("frontend name %q", st.Frontend)
	}
}

// freeRange finds n consecutive free ports on 127.0.0.1 and returns their
// listeners (for backends) or just the first port after closing them.
func freeRange(t *testing.T, n int) []*net.TCPListener {
	t.Helper()
	for try := 0; try < 100; try++ {
		var b [2]byte
		rand.Read(b[:])
		base := 20000 + int(b[0])<<8 | int(b[1])
		base = 20000 + base%30000
		var lns []*net.TCPListener
		for i := 0; i < n; i++ {
			ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: base + i})
			if err != nil {
				break
			}
			lns = append(lns, ln)
		}
		if len(lns) == n {
			return lns
		}
		for _, ln := range lns {
			ln.Close()
		}
	}
	t.Fatal("no free port range")
	return nil
}

func TestPortRanges(t *testing.T) {
	const n = 4
	// Backends: each answers with its own port number.
	bes := freeRange(t, n)
	for _, ln := range bes {
		p := port(ln)
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				fmt.Fprintf(c, "%d", p)
				c.Close()
			}
		}()
	}
	single := server(t, func(c net.Conn) { io.WriteString(c, "single"); c.Close() })
	// Listen ranges: free ports, released for the relay to take.
	lr := freeRange(t, n)
	lr2 := freeRange(t, n)
	for _, ln := range append(lr, lr2...) {
		ln.Close()
	}
	r, _ := start(t, Config{Frontends: []Frontend{
		{Listen: lo, Ports: PortRange{port(lr[0]), port(lr[n-1])}, Backend: "localhost", BackendPorts: PortRange{port(bes[0]), port(bes[n-1])}},
		{Listen: lo, Ports: PortRange{port(lr2[0]), port(lr2[n-1])}, Backend: "127.0.0.1", BackendPorts: PortRange{port(single), port(single)}},
	}})
	for i := 0; i < n; i++ {
		got, err := io.ReadAll(dial(t, r, 0, i))
		if want := fmt.Sprint(port(bes[i])); err != nil || string(got) != want {
			t.Errorf("listen port %d: got %q, %v; want %q", port(lr[0])+uint16(i), got, err, want)
		}
		got, err = io.ReadAll(dial(t, r, 1, i))
		if err != nil || string(got) != "single" {
			t.Errorf("listen port %d: got %q, %v; want the single backend", port(lr2[0])+uint16(i), got, err)
		}
	}
	if st := r.Stats(); st[0].Accepted != n || st[1].Accepted != n {
		t.Errorf("stats %+v", st)
	}
}

func TestBadFrontends(t *testing.T) {
	for _, f := range []Frontend{
		{Listen: lo, Ports: PortRange{10, 13}, Backend: "x", BackendPorts: PortRange{1, 2}},
		{Listen: lo, Ports: PortRange{10, 9}, Backend: "x", BackendPorts: PortRange{1, 1}},
		{Listen: lo, Ports: PortRange{10, 10}, Backend: "", BackendPorts: PortRange{1, 1}},
		{Listen: lo, Ports: PortRange{10, 10}, Backend: "x", BackendPorts: PortRange{0, 0}},
	} {
		if _, err := New(Config{Frontends: []Frontend{f}}); err == nil {
			t.Errorf("%+v accepted", f)
		}
	}
}

func TestListenInUse(t *testing.T) {
	taken := server(t, echo)
	free := freeRange(t, 1)[0]
	free.Close()
	r, err := New(Config{Frontends: []Frontend{
		{Listen: lo, Ports: PortRange{port(free), port(free)}, Backend: "127.0.0.1", BackendPorts: PortRange{1, 1}},
		{Listen: lo, Ports: PortRange{port(taken), port(taken)}, Backend: "127.0.0.1", BackendPorts: PortRange{1, 1}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	err = r.Start()
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("127.0.0.1:%d", port(taken))) || !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("Start = %v, want address in use naming the port", err)
	}
	// The listener opened before the failure was closed again.
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port(free)))
	if err != nil {
		t.Fatalf("port of the first frontend still held: %v", err)
	}
	ln.Close()
}

func TestProxyHeaderToBackend(t *testing.T) {
	for _, v := range []ProxyVersion{ProxyV1, ProxyV2} {
		t.Run(v.String(), func(t *testing.T) {
			const payload = "hello"
			ch := make(chan []byte, 1)
			be := server(t, func(c net.Conn) {
				defer c.Close()
				b, _ := io.ReadAll(c)
				ch <- b
			})
			fe := one(port(be))
			fe.Proxy = v
			r, _ := start(t, Config{Frontends: []Frontend{fe}})
			c := dial(t, r, 0, 0)
			io.WriteString(c, payload)
			c.CloseWrite()
			var b []byte
			select {
			case b = <-ch:
			case <-time.After(5 * time.Second):
				t.Fatal("backend got nothing")
			}
			client := c.LocalAddr().(*net.TCPAddr).AddrPort()
			relay := c.RemoteAddr().(*net.TCPAddr).AddrPort()
			var want []byte
			if v == ProxyV1 {
				want = fmt.Appendf(nil, "PROXY TCP4 127.0.0.1 127.0.0.1 %d %d\r\n", client.Port(), relay.Port())
			} else {
				want = unhex(t, "0d0a0d0a000d0a515549540a 21 11 000c 7f000001 7f000001")
				want = append(want, byte(client.Port()>>8), byte(client.Port()), byte(relay.Port()>>8), byte(relay.Port()))
			}
			want = append(want, payload...)
			if !bytes.Equal(b, want) {
				t.Errorf("backend received\n %q\nwant\n %q", b, want)
			}
		})
	}
}

func TestIdleTimeout(t *testing.T) {
	be := server(t, echo)
	fe := one(port(be))
	fe.Idle = 300 * time.Millisecond
	r, _ := start(t, Config{Frontends: []Frontend{fe}})

	// A busy connection outlives the idle timeout several times over.
	busy := dial(t, r, 0, 0)
	buf := make([]byte, 1)
	for i := 0; i < 12; i++ {
		if _, err := busy.Write([]byte{byte(i)}); err != nil {
			t.Fatalf("busy write %d: %v", i, err)
		}
		if _, err := io.ReadFull(busy, buf); err != nil || buf[0] != byte(i) {
			t.Fatalf("busy read %d: %v", i, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	busy.Close()

	// A quiet one is closed after about the timeout.
	quiet := dial(t, r, 0, 0)
	io.WriteString(quiet, "x")
	io.ReadFull(quiet, buf)
	t0 := time.Now()
	n, err := quiet.Read(buf)
	el := time.Since(t0)
	if n != 0 || (err != io.EOF && !errors.Is(err, syscall.ECONNRESET)) {
		t.Fatalf("quiet read = %d, %v; want EOF", n, err)
	}
	if el < 250*time.Millisecond || el > 2*time.Second {
		t.Errorf("quiet connection closed after %v, want about 300ms", el)
	}
	waitFor(t, "sessions end", func() bool { return r.Stats()[0].Active == 0 })
	if st := r.Stats()[0]; st.IdleTimeouts != 1 {
		t.Errorf("idle timeouts %d, want 1 (%+v)", st.IdleTimeouts, st)
	}
}

func TestDeadBackend(t *testing.T) {
	dead := freeRange(t, 1)[0]
	dead.Close()
	live := server(t, echo)
	r, logs := start(t, Config{Frontends: []Frontend{one(port(dead)), one(port(live))}})

	c := dial(t, r, 0, 0)
	n, err := c.Read(make([]byte, 1))
	if n != 0 || err == nil {
		t.Fatalf("client of dead backend: read %d, %v; want closed", n, err)
	}
	waitFor(t, "error count", func() bool { return r.Stats()[0].BackendErrors == 1 })
	// One line naming the frontend, client, backend and cause.
	waitFor(t, "log line", func() bool { return strings.Contains(logs.String(), "connection refused") })
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], fmt.Sprintf("backend 127.0.0.1:%d", port(dead))) ||
		!strings.Contains(lines[0], "client 127.0.0.1:") {
		t.Errorf("log:\n%s", logs)
	}
	// Other sessions and frontends are unaffected.
	got, err := conntest.RoundTrip(dial(t, r, 1, 0), []byte("still here"))
	if err != nil || string(got) != "still here" {
		t.Errorf("live frontend: %q, %v", got, err)
	}
	// The dead frontend keeps accepting (and failing) without more than
	// one log line per second.
	for i := 0; i < 5; i++ {
		c := dial(t, r, 0, 0)
		c.Read(make([]byte, 1))
	}
	waitFor(t, "error count", func() bool { return r.Stats()[0].BackendErrors == 6 })
	if n := strings.Count(logs.String(), "\n"); n != 1 {
		t.Errorf("%d log lines for 6 failures within a second", n)
	}
}

func TestHalfClose(t *testing.T) {
	// The backend answers only after the client's EOF, with the byte count;
	// then it reads its own EOF... and the client must still get the reply.
	be := server(t, func(c net.Conn) {
		defer c.Close()
		n, _ := io.Copy(io.Discard, c)
		time.Sleep(50 * time.Millisecond)
		fmt.Fprintf(c, "got %d", n)
	})
	r, _ := start(t, Config{Frontends: []Frontend{one(port(be))}})
	got, err := conntest.RoundTrip(dial(t, r, 0, 0), random(100000))
	if err != nil || string(got) != "got 100000" {
		t.Fatalf("half-close: %q, %v", got, err)
	}

	// The other way: the backend half-closes first, the client keeps
	// sending, and the backend still receives.
	res := make(chan string, 1)
	be2 := server(t, func(c net.Conn) {
		defer c.Close()
		io.WriteString(c, "banner")
		c.(*net.TCPConn).CloseWrite()
		b, _ := io.ReadAll(c)
		res <- string(b)
	})
	r2, _ := start(t, Config{Frontends: []Frontend{one(port(be2))}})
	c := dial(t, r2, 0, 0)
	b, err := io.ReadAll(c) // EOF from the backend's half-close
	if err != nil || string(b) != "banner" {
		t.Fatalf("banner: %q, %v", b, err)
	}
	io.WriteString(c, "after EOF")
	c.CloseWrite()
	select {
	case s := <-res:
		if s != "after EOF" {
			t.Errorf("backend got %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("backend never got the client's bytes after its own half-close")
	}
}

func TestGracefulShutdown(t *testing.T) {
	// A backend that streams slowly for a while, then closes.
	be := server(t, func(c net.Conn) {
		defer c.Close()
		for i := 0; i < 10; i++ {
			io.WriteString(c, "0123456789")
			time.Sleep(30 * time.Millisecond)
		}
	})
	r, _ := start(t, Config{Frontends: []Frontend{one(port(be))}})
	addr := r.Addrs()[0][0].String()
	c := dial(t, r, 0, 0)
	first := make([]byte, 10)
	if _, err := io.ReadFull(c, first); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- r.Shutdown(ctx)
	}()
	// New connections are refused once the listener is closed.
	waitFor(t, "listener closed", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	// The running transfer completes.
	rest, err := io.ReadAll(c)
	if err != nil || len(rest) != 90 {
		t.Fatalf("transfer during shutdown: %d bytes, %v", len(rest), err)
	}
	c.CloseWrite() // the client is done too: the session can end
	if err := <-done; err != nil {
		t.Errorf("Shutdown = %v, want nil", err)
	}
}

func TestShutdownDeadline(t *testing.T) {
	be := server(t, func(c net.Conn) { io.Copy(io.Discard, c); c.Close() }) // never ends by itself
	r, _ := start(t, Config{Frontends: []Frontend{one(port(be))}})
	c := dial(t, r, 0, 0)
	io.WriteString(c, "x")
	waitFor(t, "session", func() bool { return r.Stats()[0].Active == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	if err := r.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want deadline exceeded", err)
	}
	if el := time.Since(t0); el > 2*time.Second {
		t.Errorf("Shutdown took %v", el)
	}
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("client still open after forced shutdown")
	}
	if a := r.Stats()[0].Active; a != 0 {
		t.Errorf("active %d after shutdown", a)
	}
}

func TestManyParallel(t *testing.T) {
	be := server(t, echo)
	r, _ := start(t, Config{Frontends: []Frontend{one(port(be))}, BufferSize: 4096})
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", r.Addrs()[0][0].String(), 10*time.Second)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			data := random(64<<10 + i)
			got, err := conntest.RoundTrip(c.(*net.TCPConn), data)
			if err != nil || !bytes.Equal(got, data) {
				errs <- fmt.Errorf("conn %d: %d bytes back, %v", i, len(got), err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	waitFor(t, "sessions end", func() bool { return r.Stats()[0].Active == 0 })
	st := r.Stats()[0]
	want := uint64(n*(64<<10) + n*(n-1)/2)
	if st.Accepted != n || st.BytesToBackend != want || st.BytesToClient != want {
		t.Errorf("stats %+v, want %d accepted and %d bytes each way", st, n, want)
	}
}

// flakyListener fails Accept with ENOBUFS a few times, as AF_PACKET-backed
// stacks did ("No buffer space available").
type flakyListener struct {
	net.Listener
	mu    sync.Mutex
	fails int
}

func (l *flakyListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if l.fails > 0 {
		l.fails--
		l.mu.Unlock()
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.ENOBUFS}
	}
	l.mu.Unlock()
	return l.Listener.Accept()
}

func TestAcceptErrorsDoNotKillPort(t *testing.T) {
	be := server(t, echo)
	r, logs := start(t, Config{
		Frontends: []Frontend{one(port(be))},
		Listen: func(a netip.AddrPort) (net.Listener, error) {
			ln, err := net.Listen("tcp", a.String())
			return &flakyListener{Listener: ln, fails: 4}, err
		},
	})
	got, err := conntest.RoundTrip(dial(t, r, 0, 0), []byte("ping"))
	if err != nil || string(got) != "ping" {
		t.Fatalf("after accept errors: %q, %v", got, err)
	}
	if st := r.Stats()[0]; st.AcceptErrors != 4 {
		t.Errorf("accept errors %d, want 4", st.AcceptErrors)
	}
	if !strings.Contains(logs.String(), "no buffer space") {
		t.Errorf("log: %s", logs)
	}
}
