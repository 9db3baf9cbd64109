package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ustack/ustack/config"
	"github.com/ustack/ustack/relay"
	"github.com/ustack/ustack/tcp"
)

func loadFlags(t *testing.T, env []string, args ...string) (*config.Config, string, error) {
	t.Helper()
	f := newRunFlags()
	f.fs.SetOutput(new(strings.Builder))
	if err := f.fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return f.load(env)
}

func TestRunFlagsOnePort(t *testing.T) {
	cfg, inst, err := loadFlags(t, nil, "-listen", ":443", "-backend", "127.0.0.1:8443", "-proxy", "v2", "-idle", "5m",
		"-iface", "tap", "-param", "lkl-tap", "-addr", "10.0.0.2/24", "-gw", "10.0.0.1", "-cc", "cubic",
		"-host-addr", "10.0.0.1/24", "-dnat-from", "venet0", "-metrics", "127.0.0.1:9100")
	if err != nil {
		t.Fatal(err)
	}
	if inst != "ustack" {
		t.Errorf("instance %q", inst)
	}
	i := cfg.Interface
	if i.Type != config.TAP || i.Param != "lkl-tap" || i.Addr != netip.MustParsePrefix("10.0.0.2/24") ||
		i.Gateway != netip.MustParseAddr("10.0.0.1") || cfg.Stack.Congestion != "cubic" || cfg.Metrics != "127.0.0.1:9100" ||
		cfg.Host.DNATFrom != "venet0" {
		t.Errorf("config %+v", cfg)
	}
	fes, err := frontends(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := relay.Frontend{Listen: netip.MustParseAddr("0.0.0.0"), Ports: relay.PortRange{First: 443, Last: 443}, Backend: "127.0.0.1",
		BackendPorts: relay.PortRange{First: 8443, Last: 8443}, Proxy: relay.ProxyV2, Idle: 5 * time.Minute}
	if len(fes) != 1 || fes[0] != want {
		t.Errorf("frontends %+v, want %+v", fes, want)
	}
	// The dry run shows the DNAT and the parsed configuration.
	out := dryRun(cfg, inst, false)
	for _, s := range []string{"dnat", "venet0", "10.0.0.2", "0.0.0.0 443 127.0.0.1 8443 proxy=v2", "congestion cubic"} {
		if !strings.Contains(out, s) {
			t.Errorf("dry run lacks %q:\n%s", s, out)
		}
	}
}

func TestRunFlagErrors(t *testing.T) {
	base := []string{"-iface", "tap", "-param", "t0", "-addr", "10.0.0.2/24"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{append(base, "-listen", ":443", "-backend", "127.0.0.1:1", "-cc", "vegas"), `congestion control "vegas" is not available (available: bbr, bbr-hi, cubic, reno)`},
		{append(base, "-listen", ":443"), "-listen and -backend go together"},
		{append(base, "-proxy", "v1"), "-proxy and -idle apply to -listen"},
		{base, "nothing to relay"},
		{[]string{"-iface", "tap", "-listen", ":1", "-backend", "127.0.0.1:2"}, "-iface and -param go together"},
		{append(base, "-listen", ":443", "-backend", "127.0.0.1:1", "-mtu", "big"), "flag -mtu:1"},
		{append(base, "-listen", ":443", "-backend", "127.0.0.1:1", "-instance", "a/b"), `instance name "a/b"`},
		{[]string{"-listen", ":443", "-backend", "127.0.0.1:1"}, "no interface configured"},
	} {
		_, _, err := loadFlags(t, nil, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
	if cc := tcp.CongestionControls(); len(cc) < 3 {
		t.Errorf("registered algorithms %v", cc)
	}
}

func TestRunConfigFileAndLKL(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "web.conf")
	os.WriteFile(path, []byte("interface cooked venet0\naddress 203.0.113.7/32\n0.0.0.0 22000-22010 127.0.0.1 22000-22010\n"), 0o644)
	cfg, inst, err := loadFlags(t, nil, "-config", path, "-cc", "reno")
	if err != nil {
		t.Fatal(err)
	}
	if inst != "web" || cfg.Interface.Type != config.Cooked || cfg.Stack.Congestion != "reno" || len(cfg.Frontends) != 1 {
		t.Errorf("instance %q config %+v", inst, cfg)
	}
	if !strings.Contains(dryRun(cfg, inst, false), "22000-22010") {
		t.Error("dry run lacks the port range guard")
	}

	// LKL's variables are picked up without -config; the forwarding comes
	// from the flags.
	env := []string{"LKL_HIJACK_NET_IFTYPE=tap", "LKL_HIJACK_NET_IFPARAMS=lkl-tap", "LKL_HIJACK_NET_IP=10.0.0.2",
		"LKL_HIJACK_NET_NETMASK_LEN=24", "LKL_HIJACK_NET_GATEWAY=10.0.0.1",
		"LKL_HIJACK_SYSCTL=net.ipv4.tcp_congestion_control=bbr;net.ipv4.tcp_wmem=4096 65536 67108864"}
	cfg, _, err = loadFlags(t, env, "-listen", ":443", "-backend", "10.0.0.1:443")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Interface.Param != "lkl-tap" || cfg.Stack.WMem.Max != 67108864 || cfg.Host.CreateTAP {
		t.Errorf("LKL config %+v", cfg)
	}
}

func TestSnake(t *testing.T) {
	for in, want := range map[string]string{
		"SegsIn": "segs_in", "ICMPEchoIn": "icmp_echo_in", "ChallengeACKs": "challenge_acks", "RxIPv4": "rx_ipv4",
		"TxENOBUFS": "tx_enobufs", "PMTUUpdates": "pmtu_updates", "ARPRequestsIn": "arp_requests_in",
		"DropNoARP": "drop_no_arp", "TLPProbes": "tlp_probes", "RACKLossMarks": "rack_loss_marks",
	} {
		if got := snake(in); got != want {
			t.Errorf("snake(%s) = %s, want %s", in, got, want)
		}
	}
}

func testSnapshot() snapshot {
	info := tcp.Info{
		Local: netip.MustParseAddrPort("10.0.0.2:443"), Remote: netip.MustParseAddrPort("198.51.100.7:50123"),
		State: tcp.StateEstablished, CC: "bbr", MSS: 1448, RcvMSS: 536, SndWScale: 7, RcvWScale: 9, SACK: true,
		RTO: 204 * time.Millisecond, SRTT: 3200 * time.Microsecond, RTTVar: 1100 * time.Microsecond, MinRTT: 2500 * time.Microsecond,
		Cwnd: 14480, Ssthresh: 1 << 31, PacingRate: 12_500_000, DeliveryRate: 1_250_000, BytesSent: 1000, BytesAcked: 900,
		BytesReceived: 77, SegsOut: 10, SegsIn: 8, TotalRetrans: 2, AppLimited: true, HasCCInfo: true,
		CCInfo: tcp.CCInfo{Mode: "probe_bw", Bandwidth: 1_250_000, MinRTT: 2500 * time.Microsecond, PacingGain: 1.25, CwndGain: 2},
	}
	return snapshot{
		Instance: "web", Time: time.Unix(1700000000, 0).UTC(), Started: time.Unix(1699990000, 0).UTC(),
		Frontends: []relay.Stats{{Frontend: "0.0.0.0:443", Accepted: 3, Active: 1, BytesToBackend: 10, BytesToClient: 20}},
		Conns:     []connSnapshot{connFromInfo(info)},
	}
}

func TestSSFormat(t *testing.T) {
	s := testSnapshot()
	var b strings.Builder
	printConns(&b, &s, false)
	out := b.String()
	for _, want := range []string{
		"ESTAB", "10.0.0.2:443", "198.51.100.7:50123",
		"\t bbr wscale:7,9 rto:204 rtt:3.2/1.1 mss:1448 rcvmss:536 cwnd:10 bytes_sent:1000 bytes_acked:900 bytes_received:77",
		"pacing_rate 100.0Mbps delivery_rate 10.0Mbps app_limited retrans:0/2",
		"minrtt:2.5 bbr:(bw:10.0Mbps,mrtt:2.5,pacing_gain:1.25,cwnd_gain:2,mode:probe_bw)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("ss output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "ssthresh") {
		t.Errorf("infinite ssthresh printed:\n%s", out)
	}
	// A policed BBR flow (long-term rate in use) says so in its mode.
	s.Conns[0].CCInfo.Policed = true
	b.Reset()
	printConns(&b, &s, false)
	if !strings.Contains(b.String(), "mode:probe_bw,policed)") {
		t.Errorf("policed flow not marked:\n%s", b.String())
	}
	s.Conns[0].CCInfo.Policed = false
	// A cap set after congestive loss is shown in packets.
	s.Conns[0].CCInfo.InflightHi = 300 * s.Conns[0].MSS
	b.Reset()
	printConns(&b, &s, false)
	if !strings.Contains(b.String(), "mode:probe_bw,inflight_hi:300)") {
		t.Errorf("inflight_hi not shown:\n%s", b.String())
	}
	s.Conns[0].CCInfo.InflightHi = 0
	b.Reset()
	printSummary(&b, &s)
	if !strings.Contains(b.String(), "0.0.0.0:443") {
		t.Errorf("summary:\n%s", b.String())
	}
}

func TestControlSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctl", "web.sock")
	want := testSnapshot()
	ln, got, err := listenControl(path, false, "web")
	if err != nil || got != path {
		t.Fatal(got, err)
	}
	srv := serveControl(ln, func() snapshot { return want })
	s, raw, err := fetchSnapshot(path)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(raw) || s.Instance != "web" || len(s.Conns) != 1 || s.Conns[0] != want.Conns[0] && s.Conns[0].CCInfo == nil {
		t.Errorf("snapshot %+v", s)
	}
	if s.Conns[0].CCInfo == nil || *s.Conns[0].CCInfo != *want.Conns[0].CCInfo || s.Conns[0].RTTUs != 3200 {
		t.Errorf("conn %+v", s.Conns[0])
	}
	// Go's profiler is served on the same socket.
	cl := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}}
	resp, err := cl.Get("http://ustack/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile") {
		t.Errorf("pprof: %s %.100q", resp.Status, body)
	}
	// A live socket is not taken over.
	if _, _, err := listenControl(path, false, "web"); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second listen: %v", err)
	}
	// A stale one (its server gone, the file left) is replaced.
	srv.Close()
	ln.Close()
	os.WriteFile(path, nil, 0o600) // a leftover file that is not a live socket
	ln2, _, err := listenControl(path, false, "web")
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	ln2.Close()
	if p, err := findControl(path, "", ""); err != nil || p != path {
		t.Errorf("findControl = %q, %v", p, err)
	}
	if _, err := findControl("", "no-such-instance-xyz", ""); err == nil {
		t.Error("findControl found a socket for a missing instance")
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(testSnapshot))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, n := range []string{"ustack_relay_accepted_total", "ustack_relay_bytes_total", "ustack_relay_active_sessions",
		"ustack_tcp_connections", "ustack_tcp_segs_in_total", "ustack_ip_rx_frames_total", "ustack_tcp_challenge_acks_total"} {
		if !names[n] {
			t.Errorf("metric %s missing", n)
		}
	}
}
