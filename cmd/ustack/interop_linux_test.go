package main

// Interop tests: `ustack run` between the real Linux TCP of a client
// namespace and native services in a "host" namespace (root only; skipped
// otherwise and with -short). Every test builds the binary, makes its own
// namespaces and deletes them, and runs in bounded time.
//
//	TestInteropTAP      tap + DNAT from a veth "public" interface (the LKL
//	                    setup): curl with hash check, parallel connections,
//	                    PROXY v1/v2 at the backend, ss, metrics, iperf3 both
//	                    ways; clean exit and SIGKILL + restart leave nothing.
//	TestInteropRaw      AF_PACKET with Ethernet headers on the veth, with the
//	                    stack's own IP and MAC, and sharing the host's; an nft
//	                    counter in the output hook proves the host kernel sends
//	                    nothing (no RST) from the accelerated port.
//	TestInteropCooked   cooked AF_PACKET on a point-to-point NOARP tun named
//	                    venet0 (bare IP, like OpenVZ), sharing the host's IP.
//	TestInteropDial     an outbound Dial from a unet stack on a raw socket.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ustack/ustack/internal/conntest"
	"github.com/ustack/ustack/internal/netnstest"
	"github.com/ustack/ustack/ip"
	"github.com/ustack/ustack/link"
	"github.com/ustack/ustack/relay"
	"github.com/ustack/ustack/unet"
	"github.com/ustack/ustack/wire"
)

// backends are the native services in the host namespace, on 127.0.0.1.
type backends struct {
	file    []byte
	fileSum string
}

const (
	portHTTP   = 9000 // GET /file
	portEcho   = 9001 // echo with half-close
	portProxy1 = 9002 // sends back the PROXY v1 line it received
	portProxy2 = 9003 // sends back the 28-byte PROXY v2 header it received
	portIperf  = 9201
)

func startBackends(t *testing.T, h *netnstest.NS, fileSize int) *backends {
	t.Helper()
	b := &backends{file: make([]byte, fileSize)}
	rand.Read(b.file)
	sum := sha256.Sum256(b.file)
	b.fileSum = hex.EncodeToString(sum[:])
	listen := func(port int) net.Listener { return h.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)) }
	serve := func(ln net.Listener, handle func(net.Conn)) {
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() { defer c.Close(); handle(c) }()
			}
		}()
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "file", time.Time{}, bytes.NewReader(b.file))
	})}
	go srv.Serve(listen(portHTTP))
	t.Cleanup(func() { srv.Close() })
	serve(listen(portEcho), func(c net.Conn) {
		io.Copy(c, c)
		c.(*net.TCPConn).CloseWrite()
	})
	serve(listen(portProxy1), func(c net.Conn) {
		line, _ := bufio.NewReader(c).ReadString('\n')
		io.WriteString(c, line)
	})
	serve(listen(portProxy2), func(c net.Conn) {
		hdr := make([]byte, 28)
		io.ReadFull(c, hdr)
		c.Write(hdr)
	})
	return b
}

// startIperf starts an iperf3 server in h on 127.0.0.1:portIperf, if
// iperf3 is installed.
func startIperf(t *testing.T, h *netnstest.NS) bool {
	if _, err := exec.LookPath("iperf3"); err != nil {
		t.Log("iperf3 not installed: skipping the iperf3 runs")
		return false
	}
	cmd := exec.Command("ip", "netns", "exec", h.Name, "iperf3", "-s", "-B", "127.0.0.1", "-p", strconv.Itoa(portIperf))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	time.Sleep(200 * time.Millisecond)
	return true
}

// curlFile fetches url from namespace c and checks the hash.
func curlFile(t *testing.T, c *netnstest.NS, url string, b *backends) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "download")
	t0 := time.Now()
	res, err := c.Exec(60*time.Second, "curl", "-sS", "--fail", "--max-time", "50", "-o", out, "-w", "%{size_download} %{speed_download}", url)
	if err != nil {
		t.Fatalf("curl %s: %v: %s", url, err, res)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != b.fileSum {
		t.Fatalf("curl %s: %d bytes with a different hash (want %d bytes)", url, len(data), len(b.file))
	}
	t.Logf("curl %s: %d bytes in %v, hash ok (%s bytes/s)", url, len(data), time.Since(t0).Round(time.Millisecond), strings.Fields(res)[1])
}

// parallelEcho runs n echo round trips to addr from c, conc at a time.
func parallelEcho(t *testing.T, c *netnstest.NS, addr string, n, conc, size int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	work := make(chan int, n)
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	t0 := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Run(func() error {
				for i := range work {
					if err := echoOnce(addr, size+i); err != nil {
						errs <- fmt.Errorf("connection %d: %w", i, err)
					}
				}
				return nil
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d echo connections to %s (%d at a time) in %v", n, addr, conc, time.Since(t0).Round(time.Millisecond))
}

func echoOnce(addr string, size int) error {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	data := make([]byte, size)
	rand.Read(data)
	got, err := conntest.RoundTrip(conn.(*net.TCPConn), data)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("%d bytes back, want %d identical", len(got), len(data))
	}
	return nil
}

// checkProxy connects from c to addr and checks the PROXY header the
// backend received: from the client's address to stackAddr.
func checkProxy(t *testing.T, c *netnstest.NS, addr string, v relay.ProxyVersion, stackAddr netip.AddrPort) {
	t.Helper()
	var got []byte
	var client netip.AddrPort
	c.MustRun(func() error {
		conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		client = conn.LocalAddr().(*net.TCPAddr).AddrPort()
		got, err = io.ReadAll(conn)
		return err
	})
	want := relay.AppendProxy(nil, v, client, stackAddr)
	if !bytes.Equal(got, want) {
		t.Errorf("PROXY %v header at the backend:\n %q\nwant\n %q", v, got, want)
	}
}

// nftCounters adds, in h, counters before any other chain: packets the host
// kernel itself sends from port (output hook) and packets to port arriving
// from outside (prerouting). AF_PACKET transmissions of the stack never pass
// the output hook, so "kernel" counts exactly what the host kernel sent.
func nftCounters(t *testing.T, h *netnstest.NS, port int) func() (kernelOut, in int) {
	t.Helper()
	script := fmt.Sprintf(`table inet usttest {
	chain out { type filter hook output priority -400; policy accept; tcp sport %[1]d counter comment "kernel-out"; }
	chain pre { type filter hook prerouting priority -400; policy accept; tcp dport %[1]d counter comment "in"; }
}
`, port)
	f := filepath.Join(t.TempDir(), "counters.nft")
	os.WriteFile(f, []byte(script), 0o644)
	h.Must("nft", "-f", f)
	re := regexp.MustCompile(`counter packets (\d+) bytes \d+ comment "([a-z-]+)"`)
	return func() (int, int) {
		out := h.Must("nft", "list", "table", "inet", "usttest")
		m := map[string]int{}
		for _, s := range re.FindAllStringSubmatch(out, -1) {
			m[s[2]], _ = strconv.Atoi(s[1])
		}
		return m["kernel-out"], m["in"]
	}
}

// checkClean fails if anything of instance is left in h.
func checkClean(t *testing.T, h *netnstest.NS, instance string, gone []string, sysctls map[string]string) {
	t.Helper()
	rules := h.Must("nft", "list", "ruleset")
	if strings.Contains(rules, "ustack-"+instance) {
		t.Errorf("nftables table of %s left behind:\n%s", instance, rules)
	}
	state := h.IP("-o", "link") + h.IP("-o", "addr") + h.IP("route") + rules
	if strings.Contains(state, "ustack:"+instance) {
		t.Errorf("link tagged ustack:%s left behind:\n%s", instance, state)
	}
	for _, g := range gone {
		if strings.Contains(state, g) {
			t.Errorf("%q left behind:\n%s", g, state)
		}
	}
	for k, v := range sysctls {
		if got := h.Sysctl(k); got != v {
			t.Errorf("sysctl %s = %q after exit, was %q", k, got, v)
		}
	}
}

func iperf(t *testing.T, c *netnstest.NS, host string, port int, reverse bool) {
	t.Helper()
	args := []string{"iperf3", "-c", host, "-p", strconv.Itoa(port), "-t", "3", "-J"}
	dir := "client→stack (upload)"
	if reverse {
		args = append(args, "-R")
		dir = "stack→client (download, BBR)"
	}
	out, err := c.Exec(30*time.Second, args...)
	if err != nil {
		t.Errorf("iperf3 %s: %v: %s", dir, err, out)
		return
	}
	var r struct {
		End struct {
			SumSent struct {
				BitsPerSecond float64 `json:"bits_per_second"`
				Retransmits   int
			} `json:"sum_sent"`
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Errorf("iperf3 output: %v", err)
		return
	}
	if r.End.SumReceived.BitsPerSecond <= 0 {
		t.Errorf("iperf3 %s: no throughput:\n%s", dir, out)
	}
	t.Logf("iperf3 %s: %.0f Mbit/s received", dir, r.End.SumReceived.BitsPerSecond/1e6)
}

func TestInteropTAP(t *testing.T) {
	requireRootInterop(t)
	bin := buildUstack(t)
	h, c := newTestNS(t, "h"), newTestNS(t, "c")
	netnstest.Veth(h, "pubH", "192.168.77.1/24", c, "pubC", "192.168.77.2/24")
	b := startBackends(t, h, 16<<20)
	hasIperf := startIperf(t, h)

	dir := t.TempDir()
	ctl := filepath.Join(dir, "ctl.sock")
	conf := filepath.Join(dir, "tap.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf(`interface tap ustap0
address 10.77.0.2/24
gateway 10.77.0.1
offload 0x8883
host-address 10.77.0.1/24
dnat-from pubH
control %s
metrics 127.0.0.1:9100
0.0.0.0 8080 127.0.0.1 %d
0.0.0.0 8081 127.0.0.1 %d
0.0.0.0 8082 127.0.0.1 %d proxy=v1
0.0.0.0 8083 127.0.0.1 %d proxy=v2
0.0.0.0 5201 127.0.0.1 %d
`, ctl, portHTTP, portEcho, portProxy1, portProxy2, portIperf)), 0o644)
	fwd := h.Sysctl("net.ipv4.ip_forward")
	gone := []string{"ustap0", "10.77.0.1", "10.77.0.0"}

	p := startUstack(t, bin, h, ctl, "-config", conf)
	curlFile(t, c, "http://192.168.77.1:8080/file", b)
	parallelEcho(t, c, "192.168.77.1:8081", 200, 50, 2000)
	stack := netip.MustParseAddr("10.77.0.2")
	checkProxy(t, c, "192.168.77.1:8082", relay.ProxyV1, netip.AddrPortFrom(stack, 8082))
	checkProxy(t, c, "192.168.77.1:8083", relay.ProxyV2, netip.AddrPortFrom(stack, 8083))

	// ss during a slow download shows the connection with BBR's state.
	slow := exec.Command("ip", "netns", "exec", c.Name, "curl", "-s", "-o", "/dev/null", "--limit-rate", "4M", "--max-time", "3", "http://192.168.77.1:8080/file")
	slow.Start()
	time.Sleep(time.Second)
	ss, err := netnstest.Output(10*time.Second, bin, "ss", "-socket", ctl)
	slow.Process.Kill()
	slow.Wait()
	if err != nil || !strings.Contains(ss, "ESTAB") || !strings.Contains(ss, "bbr:(bw:") || !strings.Contains(ss, ":8080") {
		t.Errorf("ustack ss: %v\n%s", err, ss)
	} else {
		t.Logf("ustack ss:\n%s", ss)
	}
	metrics := h.Must("curl", "-sS", "--max-time", "5", "http://127.0.0.1:9100/metrics")
	for _, m := range []string{`ustack_relay_accepted_total{frontend="0.0.0.0:8081"} 200`, "ustack_tcp_passive_opens_total", "ustack_link_rx_frames_total{link=\"ustap0\"}"} {
		if !strings.Contains(metrics, m) {
			t.Errorf("metrics lack %q", m)
		}
	}
	if hasIperf {
		iperf(t, c, "192.168.77.1", 5201, false)
		iperf(t, c, "192.168.77.1", 5201, true)
	}
	p.stop(syscall.SIGTERM)
	checkClean(t, h, "tap", gone, map[string]string{"net.ipv4.ip_forward": fwd})

	// SIGKILL leaves the TAP and the rules; the next start removes them
	// and works; its clean exit leaves nothing.
	p = startUstack(t, bin, h, ctl, "-config", conf)
	p.stop(syscall.SIGKILL)
	if links := h.IP("-o", "link"); !strings.Contains(links, "ustap0") {
		t.Errorf("after SIGKILL the TAP is gone already?\n%s", links)
	}
	p = startUstack(t, bin, h, ctl, "-config", conf)
	if !strings.Contains(p.out.String(), "removed leftover") {
		t.Errorf("restart after SIGKILL did not report removed leftovers:\n%s", p.out)
	}
	parallelEcho(t, c, "192.168.77.1:8081", 20, 10, 100000)
	p.stop(syscall.SIGTERM)
	checkClean(t, h, "tap", gone, map[string]string{"net.ipv4.ip_forward": fwd})
}

func TestInteropRaw(t *testing.T) {
	requireRootInterop(t)
	bin := buildUstack(t)
	for _, tc := range []struct {
		name, addr, mac, target string
	}{
		{"own-ip", "192.168.78.3/24", "02:00:00:00:78:03", "192.168.78.3"},
		{"shared-ip", "192.168.78.1/24", "", "192.168.78.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, c := newTestNS(t, "h"), newTestNS(t, "c")
			netnstest.Veth(h, "pubH", "192.168.78.1/24", c, "pubC", "192.168.78.2/24")
			b := startBackends(t, h, 8<<20)
			counters := nftCounters(t, h, 8080)
			reserved := h.Sysctl("net.ipv4.ip_local_reserved_ports")

			dir := t.TempDir()
			ctl := filepath.Join(dir, "ctl.sock")
			args := []string{"-instance", "raw", "-control", ctl, "-iface", "raw", "-param", "pubH", "-addr", tc.addr,
				"-listen", ":8080", "-backend", fmt.Sprintf("127.0.0.1:%d", portHTTP)}
			if tc.mac != "" {
				args = append(args, "-mac", tc.mac)
			}
			p := startUstack(t, bin, h, ctl, args...)
			if got := h.Sysctl("net.ipv4.ip_local_reserved_ports"); !strings.Contains(got, "61000-65535") {
				t.Errorf("ephemeral ports not reserved on the host: %q", got)
			}
			curlFile(t, c, "http://"+tc.target+":8080/file", b)
			curlFile(t, c, "http://"+tc.target+":8080/file", b)
			// The host's own services on other ports are untouched.
			if tc.name == "shared-ip" {
				ln := h.Listen("tcp", "192.168.78.1:9999")
				go func() {
					if k, err := ln.Accept(); err == nil {
						io.WriteString(k, "kernel")
						k.Close()
					}
				}()
				var out []byte
				err := c.Run(func() error {
					k, err := net.DialTimeout("tcp", "192.168.78.1:9999", 5*time.Second)
					if err != nil {
						return err
					}
					defer k.Close()
					k.SetDeadline(time.Now().Add(5 * time.Second))
					out, err = io.ReadAll(k)
					return err
				})
				if err != nil || string(out) != "kernel" {
					t.Errorf("host service on a port the stack does not own: %q, %v", out, err)
				}
				ln.Close()
			}
			kernelOut, in := counters()
			t.Logf("port 8080: %d packets reached the host's prerouting hook, %d sent by the host kernel", in, kernelOut)
			if kernelOut != 0 {
				t.Errorf("the host kernel sent %d packets from port 8080 (RSTs?)", kernelOut)
			}
			if tc.name == "shared-ip" && in == 0 {
				t.Errorf("no packet for port 8080 reached the host's hooks: the guard was not exercised")
			}
			p.stop(syscall.SIGTERM)
			checkClean(t, h, "raw", nil, map[string]string{"net.ipv4.ip_local_reserved_ports": reserved})
		})
	}
}

// tunPump copies packets between two tun links both ways until closed,
// playing the wire between a venet0-like interface and its peer.
func tunPump(a, b link.Link) {
	pump := func(src, dst link.Link) {
		bufs := make([][]byte, 16)
		for i := range bufs {
			bufs[i] = make([]byte, src.MaxFrameSize())
		}
		lens := make([]int, 16)
		metas := make([]link.RxMeta, 16)
		for {
			n, err := src.ReadBatch(bufs, lens, metas)
			if err != nil {
				return
			}
			for i := 0; i < n; i++ {
				dst.Write(bufs[i][:lens[i]], link.TxMeta{})
			}
		}
	}
	go pump(a, b)
	go pump(b, a)
}

func TestInteropCooked(t *testing.T) {
	requireRootInterop(t)
	bin := buildUstack(t)
	h, c := newTestNS(t, "h"), newTestNS(t, "c")
	// venet0 in h and its peer in c are tun devices (bare IP, NOARP,
	// point-to-point); this process moves the packets between them.
	var venet, peer link.Link
	h.MustRun(func() (err error) {
		venet, err = link.OpenTap(link.TapConfig{Name: "venet0", TUN: true, Up: true})
		return err
	})
	c.MustRun(func() (err error) {
		peer, err = link.OpenTap(link.TapConfig{Name: "venetpeer", TUN: true, Up: true})
		return err
	})
	t.Cleanup(func() { venet.Close(); peer.Close() })
	tunPump(venet, peer)
	h.IP("addr", "add", "10.79.0.1/32", "dev", "venet0")
	h.IP("route", "add", "default", "dev", "venet0")
	c.IP("addr", "add", "10.79.0.2/32", "dev", "venetpeer")
	c.IP("route", "add", "10.79.0.1/32", "dev", "venetpeer")
	if flags := h.IP("link", "show", "venet0"); !strings.Contains(flags, "NOARP") || !strings.Contains(flags, "POINTOPOINT") {
		t.Fatalf("venet0 is not a NOARP point-to-point link:\n%s", flags)
	}

	b := startBackends(t, h, 8<<20)
	counters := nftCounters(t, h, 8080)
	dir := t.TempDir()
	ctl := filepath.Join(dir, "ctl.sock")
	conf := filepath.Join(dir, "venet.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf(`interface cooked venet0
address 10.79.0.1/32
control %s
0.0.0.0 8080 127.0.0.1 %d
0.0.0.0 8081 127.0.0.1 %d
`, ctl, portHTTP, portEcho)), 0o644)
	p := startUstack(t, bin, h, ctl, "-config", conf)
	curlFile(t, c, "http://10.79.0.1:8080/file", b)
	parallelEcho(t, c, "10.79.0.1:8081", 100, 25, 3000)
	kernelOut, in := counters()
	t.Logf("port 8080: %d packets reached the host's prerouting hook, %d sent by the host kernel", in, kernelOut)
	if kernelOut != 0 {
		t.Errorf("the host kernel sent %d packets from port 8080 (RSTs?)", kernelOut)
	}
	if in == 0 {
		t.Error("no packet for port 8080 reached the host's hooks: the guard was not exercised")
	}
	p.stop(syscall.SIGTERM)
	checkClean(t, h, "venet", nil, nil)
}

func TestInteropDial(t *testing.T) {
	requireRootInterop(t)
	h, c := newTestNS(t, "h"), newTestNS(t, "c")
	netnstest.Veth(h, "pubH", "192.168.78.1/24", c, "pubC", "192.168.78.2/24")

	// A kernel server in c: reads everything, answers with its SHA-256,
	// then sends its own data.
	const size = 8 << 20
	serverData := make([]byte, size)
	rand.Read(serverData)
	ln := c.Listen("tcp", "192.168.78.2:7000")
	go func() {
		k, err := ln.Accept()
		if err != nil {
			return
		}
		defer k.Close()
		hsh := sha256.New()
		io.Copy(hsh, k)
		k.Write(hsh.Sum(nil))
		k.Write(serverData)
	}()

	mac := wire.MAC{0x02, 0, 0, 0, 0x78, 0x04}
	var l link.Link
	h.MustRun(func() (err error) {
		l, err = link.OpenPacket(link.PacketConfig{Interface: "pubH", Mode: link.PacketRaw,
			Memberships: []net.HardwareAddr{mac[:]}, Offload: link.FeatGuestCsum})
		return err
	})
	st, err := unet.New(unet.Config{Name: "dial"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.AddLink(l, ip.InterfaceConfig{MAC: mac, Addrs: []netip.Prefix{netip.MustParsePrefix("192.168.78.4/24")}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := st.DialContext(ctx, "tcp", "192.168.78.2:7000")
	if err != nil {
		s := st.Stats()
		t.Fatalf("%v\nip %+v\ntcp %+v\nlinks %+v", err, s.IP, s.TCP, s.Links)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	data := make([]byte, size)
	rand.Read(data)
	t0 := time.Now()
	errc := make(chan error, 1)
	go func() {
		_, err := conn.Write(data)
		if err == nil {
			err = conn.(interface{ CloseWrite() error }).CloseWrite()
		}
		errc <- err
	}()
	got, err := io.ReadAll(conn)
	if werr := <-errc; werr != nil {
		t.Fatalf("write: %v", werr)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("read: %v (%d bytes)", err, len(got))
	}
	want := sha256.Sum256(data)
	if len(got) != 32+size || !bytes.Equal(got[:32], want[:]) || !bytes.Equal(got[32:], serverData) {
		t.Fatalf("outbound transfer: %d bytes back, want the digest and %d bytes", len(got), size)
	}
	t.Logf("outbound Dial over AF_PACKET: %d bytes each way in %v, both verified", size, time.Since(t0).Round(time.Millisecond))
}
