// ustack ss: the live connections of a running `ustack run`, printed as
// `ss -ti` prints the kernel's, from a snapshot read on the control socket.
//
// The socket is -socket PATH, else the one of -instance NAME (or of -config
// FILE: its `control` line, else its base name) in /run/ustack or the per-user
// fallback; with none of them and exactly one running instance, that one.
// Units follow ss: times in milliseconds, cwnd and ssthresh in segments, rates
// in bits per second; -json prints the snapshot as served (bytes, bytes/s, µs).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/ustack/ustack/config"
)

func init() {
	register("ss", "live connections of a running `ustack run`, like `ss -ti`", ssMain)
}

func ssMain(args []string) error {
	fs := flag.NewFlagSet("ss", flag.ContinueOnError)
	sock := fs.String("socket", "", "control socket `PATH`")
	instance := fs.String("instance", "", "instance `NAME` of the ustack run")
	cfgFile := fs.String("config", "", "the instance's configuration `FILE` (for its control socket)")
	asJSON := fs.Bool("json", false, "print the snapshot as JSON")
	summary := fs.Bool("s", false, "print the frontends' counters and a summary of the stack's instead of connections")
	all := fs.Bool("a", false, "include connections in TIME-WAIT")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: ustack ss [-socket PATH | -instance NAME | -config FILE] [-json] [-s] [-a]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	path, err := findControl(*sock, *instance, *cfgFile)
	if err != nil {
		return err
	}
	snap, raw, err := fetchSnapshot(path)
	if err != nil {
		return err
	}
	if *asJSON {
		_, err := os.Stdout.Write(raw)
		return err
	}
	if *summary {
		printSummary(os.Stdout, snap)
		return nil
	}
	printConns(os.Stdout, snap, *all)
	return nil
}

// findControl locates the control socket.
func findControl(sock, instance, cfgFile string) (string, error) {
	if sock != "" {
		return sock, nil
	}
	if cfgFile != "" {
		cfg, err := config.Load(cfgFile)
		if err != nil {
			return "", err
		}
		if cfg.Control != "" {
			return cfg.Control, nil
		}
		if instance == "" {
			instance = strings.TrimSuffix(filepath.Base(cfgFile), filepath.Ext(cfgFile))
		}
	}
	if instance != "" {
		for _, p := range []string{filepath.Join("/run/ustack", instance+".sock"), fallbackControlPath(instance)} {
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
		return "", fmt.Errorf("no control socket for instance %q in /run/ustack or %s (is it running? -socket names another path)",
			instance, filepath.Dir(fallbackControlPath(instance)))
	}
	var found []string
	for _, dir := range []string{"/run/ustack", filepath.Dir(fallbackControlPath("x"))} {
		m, _ := filepath.Glob(filepath.Join(dir, "*.sock"))
		found = append(found, m...)
	}
	switch len(found) {
	case 0:
		return "", errors.New("no running ustack found (no control socket in /run/ustack); use -socket, -instance or -config")
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("several ustack instances are running (%s); choose one with -instance or -socket", strings.Join(found, ", "))
}

// ssState is ss's short name of a TCP state.
func ssState(s string) string {
	switch s {
	case "ESTABLISHED":
		return "ESTAB"
	case "SYN-RECEIVED":
		return "SYN-RECV"
	}
	return s
}

// ms formats microseconds as ss does milliseconds: up to three decimals.
func ms(usec int64) string {
	return strconv.FormatFloat(float64(usec)/1000, 'f', -1, 64)
}

// bps formats a rate in bytes/s as ss does: bits per second with a unit.
func bps(bytesPerSec uint64) string {
	b := float64(bytesPerSec) * 8
	switch {
	case b >= 1e9:
		return strconv.FormatFloat(b/1e9, 'f', 1, 64) + "Gbps"
	case b >= 1e6:
		return strconv.FormatFloat(b/1e6, 'f', 1, 64) + "Mbps"
	case b >= 1e3:
		return strconv.FormatFloat(b/1e3, 'f', 1, 64) + "Kbps"
	}
	return strconv.FormatFloat(b, 'f', 0, 64) + "bps"
}

// segs converts bytes to segments of mss, rounding up.
func segs(bytes, mss int) int {
	if mss <= 0 {
		return bytes
	}
	return (bytes + mss - 1) / mss
}

// ssDetail is the indented second line of ss -ti for one connection.
func ssDetail(c *connSnapshot) string {
	var f []string
	add := func(format string, a ...any) { f = append(f, fmt.Sprintf(format, a...)) }
	add("%s", c.CC)
	if c.SndWScale > 0 || c.RcvWScale > 0 {
		add("wscale:%d,%d", c.SndWScale, c.RcvWScale)
	}
	add("rto:%s", ms(c.RTOUs))
	if c.RTTUs > 0 {
		add("rtt:%s/%s", ms(c.RTTUs), ms(c.RTTVarUs))
	}
	add("mss:%d", c.MSS)
	if c.RcvMSS > 0 {
		add("rcvmss:%d", c.RcvMSS)
	}
	add("cwnd:%d", segs(c.Cwnd, c.MSS))
	if c.Ssthresh > 0 && c.Ssthresh < 1<<30 {
		add("ssthresh:%d", segs(c.Ssthresh, c.MSS))
	}
	add("bytes_sent:%d", c.BytesSent)
	if c.BytesRetrans > 0 {
		add("bytes_retrans:%d", c.BytesRetrans)
	}
	add("bytes_acked:%d", c.BytesAcked)
	add("bytes_received:%d", c.BytesReceived)
	add("segs_out:%d", c.SegsOut)
	add("segs_in:%d", c.SegsIn)
	if c.RTTUs > 0 && c.MSS > 0 {
		// ss's "send": cwnd over srtt.
		add("send %s", bps(uint64(float64(c.Cwnd)*1e6/float64(c.RTTUs))))
	}
	if c.PacingRate > 0 {
		add("pacing_rate %s", bps(c.PacingRate))
	}
	if c.DeliveryRate > 0 {
		add("delivery_rate %s", bps(c.DeliveryRate))
	}
	if c.AppLimited {
		add("app_limited")
	}
	if c.TotalRetrans > 0 || c.RetransOut > 0 {
		add("retrans:%d/%d", segs(c.RetransOut, c.MSS), c.TotalRetrans)
	}
	if c.LostSegs > 0 {
		add("lost:%d", c.LostSegs)
	}
	if c.InFlight > 0 {
		add("unacked:%d", segs(c.InFlight, c.MSS))
	}
	add("rcv_wnd:%d", c.RcvWnd)
	if c.MinRTTUs > 0 {
		add("minrtt:%s", ms(c.MinRTTUs))
	}
	if cc := c.CCInfo; cc != nil {
		mode := cc.Mode
		if cc.Policed {
			mode += ",policed"
		}
		hi := ""
		if cc.InflightHi > 0 {
			hi = fmt.Sprintf(",inflight_hi:%d", segs(cc.InflightHi, c.MSS))
		}
		add("%s:(bw:%s,mrtt:%s,pacing_gain:%g,cwnd_gain:%g,mode:%s%s)",
			c.CC, bps(cc.Bandwidth), ms(cc.MinRTTUs), cc.PacingGain, cc.CwndGain, mode, hi)
	}
	return strings.Join(f, " ")
}

func printConns(w io.Writer, s *snapshot, all bool) {
	rows := [][]string{{"State", "Recv-Q", "Send-Q", "Local Address:Port", "Peer Address:Port"}}
	var details []string
	for i := range s.Conns {
		c := &s.Conns[i]
		if c.State == "TIME-WAIT" && !all {
			continue
		}
		rows = append(rows, []string{ssState(c.State), strconv.Itoa(c.RecvQ), strconv.Itoa(c.SendQ), c.Local, c.Peer})
		details = append(details, ssDetail(c))
	}
	// Columns are aligned over all rows; each connection's detail line
	// follows its row, as in ss -ti.
	width := make([]int, len(rows[0]))
	for _, r := range rows {
		for j, f := range r {
			width[j] = max(width[j], len(f))
		}
	}
	for i, r := range rows {
		var b strings.Builder
		for j, f := range r {
			if j == len(r)-1 {
				b.WriteString(f)
				break
			}
			b.WriteString(f)
			b.WriteString(strings.Repeat(" ", width[j]-len(f)+2))
		}
		fmt.Fprintln(w, b.String())
		if i > 0 {
			fmt.Fprintf(w, "\t %s\n", details[i-1])
		}
	}
}

func printSummary(w io.Writer, s *snapshot) {
	fmt.Fprintf(w, "instance %s, up since %s, %d connections\n", s.Instance, s.Started.Format("2006-01-02 15:04:05"), len(s.Conns))
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "frontend\taccepted\tactive\tto_backend\tto_client\tbackend_errors\tidle_timeouts\taccept_errors\t")
	for _, f := range s.Frontends {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", f.Frontend, f.Accepted, f.Active,
			f.BytesToBackend, f.BytesToClient, f.BackendErrors, f.IdleTimeouts, f.AcceptErrors)
	}
	tw.Flush()
	t := s.Stack.TCP
	fmt.Fprintf(w, "tcp: active_opens %d passive_opens %d segs_in %d segs_out %d retrans_segs %d estab_resets %d out_rsts %d listen_drops %d timeouts %d\n",
		t.ActiveOpens, t.PassiveOpens, t.SegsIn, t.SegsOut, t.RetransSegs, t.EstabResets, t.OutRsts, t.ListenDrops, t.Timeouts)
	for _, l := range s.Stack.Links {
		fmt.Fprintf(w, "link %s: rx %d frames %d bytes, tx %d frames %d bytes, tx_retries %d (ENOBUFS %d) tx_dropped %d tx_errors %d",
			l.Name, l.Stats.RxFrames, l.Stats.RxBytes, l.Stats.TxFrames, l.Stats.TxBytes, l.Stats.TxRetries, l.Stats.TxENOBUFS, l.Stats.TxDropped, l.Stats.TxErrors)
		if l.Err != "" {
			fmt.Fprintf(w, " STOPPED: %s", l.Err)
		}
		fmt.Fprintln(w)
	}
}
