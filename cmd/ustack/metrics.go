// Prometheus metrics of `ustack run` (opt-in: `metrics HOST:PORT` in the
// configuration or -metrics).
//
// One custom collector turns a snapshot (the same one the control socket
// serves) into metrics at scrape time, so nothing is counted twice and there
// is no per-connection bookkeeping: every cumulative counter of the stack
// (ip.Stats, tcp.Stats, each link's link.Stats, the runtime's) becomes
// ustack_<layer>_<field>_total, the relay's counters are labelled by frontend,
// and live connections are counted by state. Per-connection series are left
// out on purpose: their label sets would grow without bound.
package main

import (
	"net"
	"net/http"
	"reflect"
	"strings"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ustack/ustack/ip"
	"github.com/ustack/ustack/link"
	"github.com/ustack/ustack/tcp"
	"github.com/ustack/ustack/unet"
)

type collector struct {
	snap func() snapshot
	// Descriptors of the stack's struct counters, built once.
	ip, tcp, runtime, link []fieldDesc
}

// fieldDesc is the counter made from one uint64 field of a stats struct.
type fieldDesc struct {
	index int
	desc  *prometheus.Desc
}

func newCollector(snap func() snapshot) *collector {
	return &collector{
		snap:    snap,
		ip:      fieldDescs("ustack_ip_", "IP layer counter", ip.Stats{}, nil),
		tcp:     fieldDescs("ustack_tcp_", "TCP counter", tcp.Stats{}, nil),
		runtime: fieldDescs("ustack_runtime_", "Runtime counter", unet.RuntimeStats{}, nil),
		link:    fieldDescs("ustack_link_", "Link counter", link.Stats{}, []string{"link"}),
	}
}

// fieldDescs describes every uint64 field of v as a counter named
// prefix + snake_case(field) + "_total".
func fieldDescs(prefix, help string, v any, labels []string) []fieldDesc {
	var out []fieldDesc
	rt := reflect.TypeOf(v)
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		if !f.IsExported() || f.Type.Kind() != reflect.Uint64 {
			continue
		}
		d := prometheus.NewDesc(prefix+snake(f.Name)+"_total", help+" "+f.Name+".", labels, nil)
		out = append(out, fieldDesc{i, d})
	}
	return out
}

func emitFields(ch chan<- prometheus.Metric, fds []fieldDesc, v any, labels ...string) {
	rv := reflect.ValueOf(v)
	for _, fd := range fds {
		ch <- prometheus.MustNewConstMetric(fd.desc, prometheus.CounterValue, float64(rv.Field(fd.index).Uint()), labels...)
	}
}

var (
	descAccepted = prometheus.NewDesc("ustack_relay_accepted_total", "Client connections accepted.", []string{"frontend"}, nil)
	descActive   = prometheus.NewDesc("ustack_relay_active_sessions", "Sessions being relayed now.", []string{"frontend"}, nil)
	descBytes    = prometheus.NewDesc("ustack_relay_bytes_total", "Bytes relayed (direction to_backend or to_client).", []string{"frontend", "direction"}, nil)
	descBackend  = prometheus.NewDesc("ustack_relay_backend_errors_total", "Sessions closed because the backend could not be reached.", []string{"frontend"}, nil)
	descIdle     = prometheus.NewDesc("ustack_relay_idle_timeouts_total", "Sessions closed by the idle timeout.", []string{"frontend"}, nil)
	descAccErr   = prometheus.NewDesc("ustack_relay_accept_errors_total", "Failed accepts (retried).", []string{"frontend"}, nil)
	descConns    = prometheus.NewDesc("ustack_tcp_connections", "Connections of the userspace stack by state.", []string{"state"}, nil)
	descFiltered = prometheus.NewDesc("ustack_filtered_frames_total", "Frames of a raw/cooked link kept from the stack (the host's traffic).", nil, nil)
	descUp       = prometheus.NewDesc("ustack_start_time_seconds", "Start time of this ustack run, seconds since the epoch.", nil, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAccepted, descActive, descBytes, descBackend, descIdle, descAccErr, descConns, descFiltered, descUp} {
		ch <- d
	}
	for _, fds := range [][]fieldDesc{c.ip, c.tcp, c.runtime, c.link} {
		for _, fd := range fds {
			ch <- fd.desc
		}
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.snap()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for _, f := range s.Frontends {
		counter(descAccepted, f.Accepted, f.Frontend)
		ch <- prometheus.MustNewConstMetric(descActive, prometheus.GaugeValue, float64(f.Active), f.Frontend)
		counter(descBytes, f.BytesToBackend, f.Frontend, "to_backend")
		counter(descBytes, f.BytesToClient, f.Frontend, "to_client")
		counter(descBackend, f.BackendErrors, f.Frontend)
		counter(descIdle, f.IdleTimeouts, f.Frontend)
		counter(descAccErr, f.AcceptErrors, f.Frontend)
	}
	states := map[string]int{}
	for _, cn := range s.Conns {
		states[cn.State]++
	}
	for st, n := range states {
		ch <- prometheus.MustNewConstMetric(descConns, prometheus.GaugeValue, float64(n), st)
	}
	counter(descFiltered, s.Stack.FilteredFrames)
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, float64(s.Started.UnixNano())/1e9)

	emitFields(ch, c.ip, s.Stack.IP)
	emitFields(ch, c.tcp, s.Stack.TCP)
	emitFields(ch, c.runtime, s.Stack.Runtime)
	for _, l := range s.Stack.Links {
		emitFields(ch, c.link, l.Stats, l.Name)
	}
}

// snake turns a Go field name into snake case, keeping acronyms together:
// SegsIn → segs_in, ICMPEchoIn → icmp_echo_in, ChallengeACKs →
// challenge_acks, RxIPv4 → rx_ipv4, TxENOBUFS → tx_enobufs.
func snake(s string) string {
	r := []rune(s)
	var b strings.Builder
	for i, c := range r {
		if i > 0 && unicode.IsUpper(c) {
			prev := r[i-1]
			wordStart := unicode.IsLower(prev) || unicode.IsDigit(prev)
			// An acronym ends where a capitalised word begins (two or
			// more lower-case letters follow), not before a plural "s".
			if unicode.IsUpper(prev) && i+2 < len(r) && unicode.IsLower(r[i+1]) && unicode.IsLower(r[i+2]) {
				wordStart = true
			}
			if wordStart {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

// serveMetrics serves /metrics on ln (a kernel socket) until ln is closed.
func serveMetrics(ln net.Listener, snap func() snapshot) *http.Server {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(snap))
	reg.MustRegister(collectors.NewGoCollector())
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return srv
}
