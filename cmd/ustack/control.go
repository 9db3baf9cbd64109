// The control socket of `ustack run`, and its client for `ustack ss`.
//
// `ustack run` serves HTTP on a unix socket (default /run/ustack/NAME.sock, or
// $TMPDIR/ustack-UID/NAME.sock when not root). GET /v1/snapshot returns one
// JSON document: the relay's per-frontend counters, the stack's counters and
// every connection with the fields `ss -ti` shows. Anything that speaks HTTP
// over a unix socket can read it:
//
//	curl --unix-socket /run/ustack/web.sock http://ustack/v1/snapshot
//
// The JSON field names are part of ustack's interface: times are in
// microseconds (suffix _us), rates in bytes per second, sizes in bytes.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ustack/ustack/ip"
	"github.com/ustack/ustack/link"
	"github.com/ustack/ustack/relay"
	"github.com/ustack/ustack/tcp"
	"github.com/ustack/ustack/unet"
)

// snapshot is the document served at /v1/snapshot.
type snapshot struct {
	Instance  string         `json:"instance"`
	Time      time.Time      `json:"time"`
	Started   time.Time      `json:"started"`
	Frontends []relay.Stats  `json:"frontends"`
	Stack     stackSnapshot  `json:"stack"`
	Conns     []connSnapshot `json:"conns"`
}

type stackSnapshot struct {
	IP      ip.Stats          `json:"ip"`
	TCP     tcp.Stats         `json:"tcp"`
	Links   []linkSnapshot    `json:"links"`
	Runtime unet.RuntimeStats `json:"runtime"`
	// FilteredFrames counts frames of a raw/cooked link kept from the
	// stack because they are the host's (filter.go).
	FilteredFrames uint64 `json:"filtered_frames"`
}

type linkSnapshot struct {
	Name  string     `json:"name"`
	Stats link.Stats `json:"stats"`
	Err   string     `json:"error,omitempty"`
}

// connSnapshot is one connection, in ss -ti terms.
type connSnapshot struct {
	State         string      `json:"state"`
	Local         string      `json:"local"`
	Peer          string      `json:"peer"`
	CC            string      `json:"cc"`
	CAState       string      `json:"ca_state"`
	MSS           int         `json:"mss"`
	RcvMSS        int         `json:"rcv_mss"`
	SndWScale     int         `json:"snd_wscale"`
	RcvWScale     int         `json:"rcv_wscale"`
	SACK          bool        `json:"sack"`
	TS            bool        `json:"ts"`
	RTOUs         int64       `json:"rto_us"`
	RTTUs         int64       `json:"rtt_us"`
	RTTVarUs      int64       `json:"rttvar_us"`
	MinRTTUs      int64       `json:"min_rtt_us"`
	Cwnd          int         `json:"cwnd"`
	Ssthresh      int         `json:"ssthresh"`
	InFlight      int         `json:"inflight"`
	SendQ         int         `json:"send_q"`
	RecvQ         int         `json:"recv_q"`
	SndWnd        int         `json:"snd_wnd"`
	RcvWnd        int         `json:"rcv_wnd"`
	PacingRate    uint64      `json:"pacing_rate"`
	DeliveryRate  uint64      `json:"delivery_rate"`
	BytesSent     uint64      `json:"bytes_sent"`
	BytesRetrans  uint64      `json:"bytes_retrans"`
	BytesAcked    uint64      `json:"bytes_acked"`
	BytesReceived uint64      `json:"bytes_received"`
	SegsOut       uint64      `json:"segs_out"`
	SegsIn        uint64      `json:"segs_in"`
	RetransOut    int         `json:"retrans_out"`
	TotalRetrans  uint64      `json:"retrans"`
	LostSegs      uint64      `json:"lost"`
	Backoff       int         `json:"backoff"`
	AppLimited    bool        `json:"app_limited"`
	CCInfo        *ccSnapshot `json:"cc_info,omitempty"`
}

type ccSnapshot struct {
	Mode       string  `json:"mode"`
	Bandwidth  uint64  `json:"bw"`
	MinRTTUs   int64   `json:"min_rtt_us"`
	PacingGain float64 `json:"pacing_gain"`
	CwndGain   float64 `json:"cwnd_gain"`
	Policed    bool    `json:"policed,omitempty"`
	InflightHi int     `json:"inflight_hi,omitempty"` // bytes
}

func us(d time.Duration) int64 { return d.Microseconds() }

func connFromInfo(i tcp.Info) connSnapshot {
	c := connSnapshot{
		State: i.State.String(), Local: i.Local.String(), Peer: i.Remote.String(),
		CC: i.CC, CAState: i.CAState.String(), MSS: i.MSS, RcvMSS: i.RcvMSS,
		SndWScale: int(i.SndWScale), RcvWScale: int(i.RcvWScale), SACK: i.SACK, TS: i.TS,
		RTOUs: us(i.RTO), RTTUs: us(i.SRTT), RTTVarUs: us(i.RTTVar), MinRTTUs: us(i.MinRTT),
		Cwnd: i.Cwnd, Ssthresh: i.Ssthresh, InFlight: i.InFlight, SendQ: i.SendQueue, RecvQ: i.RecvQueue,
		SndWnd: i.SndWnd, RcvWnd: i.RcvWnd, PacingRate: i.PacingRate, DeliveryRate: i.DeliveryRate,
		BytesSent: i.BytesSent, BytesRetrans: i.BytesRetrans, BytesAcked: i.BytesAcked, BytesReceived: i.BytesReceived,
		SegsOut: i.SegsOut, SegsIn: i.SegsIn, RetransOut: i.RetransOut, TotalRetrans: i.TotalRetrans,
		LostSegs: i.LostSegs, Backoff: i.Backoff, AppLimited: i.AppLimited,
	}
	if i.HasCCInfo {
		c.CCInfo = &ccSnapshot{
			Mode: i.CCInfo.Mode, Bandwidth: i.CCInfo.Bandwidth, MinRTTUs: us(i.CCInfo.MinRTT),
			PacingGain: i.CCInfo.PacingGain, CwndGain: i.CCInfo.CwndGain, Policed: i.CCInfo.Policed,
			InflightHi: i.CCInfo.InflightHi,
		}
	}
	return c
}

func stackFromStats(s unet.Stats) stackSnapshot {
	out := stackSnapshot{IP: s.IP, TCP: s.TCP, Runtime: s.Runtime}
	for _, l := range s.Links {
		ls := linkSnapshot{Name: l.Name, Stats: l.Stats}
		if l.Err != nil {
			ls.Err = l.Err.Error()
		}
		out.Links = append(out.Links, ls)
	}
	return out
}

// defaultControlPath is where `ustack run` puts the control socket of
// instance unless the configuration says otherwise.
func defaultControlPath(instance string) string {
	if os.Geteuid() == 0 {
		return filepath.Join("/run/ustack", instance+".sock")
	}
	return fallbackControlPath(instance)
}

// fallbackControlPath is the per-user location used without root.
func fallbackControlPath(instance string) string {
	return filepath.Join(os.TempDir(), "ustack-"+strconv.Itoa(os.Getuid()), instance+".sock")
}

// listenControl opens the control socket at path (or, if path is the default
// and cannot be created, at the per-user fallback). A stale socket left by a
// killed process is replaced; a live one means the instance is running.
func listenControl(path string, isDefault bool, instance string) (net.Listener, string, error) {
	ln, err := listenUnix(path)
	if err != nil && isDefault && errors.Is(err, os.ErrPermission) {
		fb := fallbackControlPath(instance)
		if ln2, err2 := listenUnix(fb); err2 == nil {
			return ln2, fb, nil
		}
	}
	return ln, path, err
}

func listenUnix(path string) (net.Listener, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if _, err := os.Stat(path); err == nil {
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s answers: is this instance already running?", path)
		}
		os.Remove(path)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	// Connection details are not public: owner and group only.
	os.Chmod(path, 0o660)
	return ln, nil
}

// serveControl serves snapshots on ln until ln is closed.
func serveControl(ln net.Listener, snap func() snapshot) *http.Server {
	mux := http.NewServeMux()
	handler := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(snap())
	}
	mux.HandleFunc("GET /v1/snapshot", handler)
	mux.HandleFunc("GET /{$}", handler)
	// Go's profiler, for the socket's owner: e.g.
	// curl --unix-socket SOCK http://x/debug/pprof/profile?seconds=10 > cpu.pprof
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return srv
}

// fetchSnapshot reads a snapshot from the control socket at path.
func fetchSnapshot(path string) (*snapshot, []byte, error) {
	cl := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}},
	}
	resp, err := cl.Get("http://ustack/v1/snapshot")
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) {
			err = op.Err
		}
		return nil, nil, fmt.Errorf("control socket %s: %w (is `ustack run` running?)", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("control socket %s: %s", path, resp.Status)
	}
	var s snapshot
	if err := json.Unmarshal(body, &s); err != nil {
		return nil, nil, fmt.Errorf("control socket %s: bad snapshot: %w", path, err)
	}
	return &s, body, nil
}
