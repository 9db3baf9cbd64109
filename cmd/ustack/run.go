// ustack run: terminate clients' TCP in the userspace stack and relay the
// bytes to the native service through the host kernel.
//
// Order of work, each step undone in reverse on exit or failure:
//
//  1. configuration: -config FILE, else LKL's environment / lkl-hijack.json
//     when present, else defaults; flags override single settings (they are
//     applied as lines of ustack's file format, so errors name the flag);
//     Validate, and the congestion control must exist;
//  2. -dry-run stops here, printing the host changes and the configuration;
//  3. host: hostsetup.Cleanup(instance) removes leftovers of a killed run,
//     then hostsetup.Apply(plan) (TAP, addresses, DNAT, raw-mode guards,
//     sysctls); -no-host skips both;
//  4. link: a TAP, or an AF_PACKET socket on a host interface (raw: Ethernet
//     frames, cooked: bare IP as on venet0) behind a filter that lets only
//     the stack's own traffic in (filter.go), optionally recorded to pcap;
//  5. the userspace stack (unet) with the interface, routes, neighbours and
//     the TCP settings of the sysctls;
//  6. relay frontends listening in the userspace stack, the control socket
//     (opened before step 3: it doubles as the instance's lock), metrics
//     (opt-in); an unreachable backend is a warning;
//  7. wait for SIGINT/SIGTERM: stop accepting, let sessions finish for
//     -drain (a second signal cuts them), close the stack, tear the host
//     changes down.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/ustack/ustack/cc" // registers reno, cubic, bbr
	"github.com/ustack/ustack/config"
	"github.com/ustack/ustack/hostsetup"
	"github.com/ustack/ustack/ip"
	"github.com/ustack/ustack/link"
	"github.com/ustack/ustack/link/pcap"
	"github.com/ustack/ustack/relay"
	"github.com/ustack/ustack/tcp"
	"github.com/ustack/ustack/unet"
	"github.com/ustack/ustack/wire"
)

func init() {
	register("run", "terminate clients' TCP in ustack and relay to a native service", runMain)
}

// runFlags are the command-line settings of ustack run.
type runFlags struct {
	fs       *flag.FlagSet
	config   string
	instance string
	lkl      bool
	dryRun   bool
	noHost   bool
	drain    time.Duration

	listen, backend, proxy, idle string
	// overrides: flag name → config line template ("%s" is the value).
	lines map[string]*string
	iface string
	param string
}

// overrideLines maps a flag to the directive of ustack's file format it sets.
var overrideLines = []struct{ flag, directive, usage string }{
	{"addr", "address", "the stack's address `CIDR` (e.g. 10.0.0.2/24); repeat with a comma for IPv6"},
	{"gw", "gateway", "default gateway `IP` (comma-separated for both families)"},
	{"cc", "congestion", "congestion control `NAME` (bbr, bbr-hi, cubic, reno)"},
	{"mtu", "mtu", "interface MTU `BYTES`"},
	{"mac", "mac", "the stack's `MAC` address"},
	{"offload", "offload", "virtio-net offload `BITS` for a TAP (LKL_HIJACK_OFFLOAD, e.g. 0x8883)"},
	{"host-addr", "host-address", "host-side address `CIDR` on a created TAP"},
	{"dnat-from", "dnat-from", "DNAT the frontends' ports arriving on `IFACE` to the stack"},
	{"masquerade", "masquerade", "masquerade the stack's outbound traffic (`on|off`)"},
	{"create-tap", "create-tap", "create and remove the TAP (`yes|no`)"},
	{"rules", "rules", "manage firewall rules and sysctls (`on|off`)"},
	{"ephemeral-ports", "ephemeral-ports", "source ports of the stack's outbound connections (`FIRST-LAST`)"},
	{"control", "control", "control socket `PATH` (default /run/ustack/INSTANCE.sock)"},
	{"metrics", "metrics", "serve Prometheus metrics on `HOST:PORT`"},
	{"pcap", "pcap", "record the link's traffic to `FILE`"},
	{"log-level", "log-level", "`LEVEL`: debug, info, warn, error"},
}

func newRunFlags() *runFlags {
	f := &runFlags{fs: flag.NewFlagSet("run", flag.ContinueOnError), lines: map[string]*string{}}
	fs := f.fs
	fs.StringVar(&f.config, "config", "", "ustack configuration `FILE` (see config/README.md)")
	fs.StringVar(&f.instance, "instance", "", "instance `NAME` tagging the host changes (default: the config file's base name, else \"ustack\")")
	fs.BoolVar(&f.lkl, "lkl", false, "read LKL's LKL_HIJACK_* variables / lkl-hijack.json (automatic when any is present and -config is not given)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "print the host changes and the parsed configuration, then exit")
	fs.BoolVar(&f.noHost, "no-host", false, "change nothing on the host (no cleanup, TAP, rules or sysctls)")
	fs.DurationVar(&f.drain, "drain", 10*time.Second, "on SIGINT/SIGTERM, let running transfers finish for this long")
	fs.StringVar(&f.listen, "listen", "", "one forwarding: listen `ADDR:PORT[-PORT]` in the stack (with -backend)")
	fs.StringVar(&f.backend, "backend", "", "one forwarding: backend `HOST:PORT[-PORT]` reached through the kernel")
	fs.StringVar(&f.proxy, "proxy", "", "PROXY protocol header for -listen's backend: `none|v1|v2`")
	fs.StringVar(&f.idle, "idle", "", "idle timeout for -listen's sessions (`DURATION`)")
	fs.StringVar(&f.iface, "iface", "", "interface `TYPE`: tap, raw (AF_PACKET, Ethernet) or cooked (AF_PACKET, bare IP as venet0)")
	fs.StringVar(&f.param, "param", "", "interface `NAME`: the TAP, or the host interface for raw/cooked")
	for _, o := range overrideLines {
		f.lines[o.flag] = fs.String(o.flag, "", o.usage)
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: ustack run [-config FILE | -listen :443 -backend 127.0.0.1:8443 -iface tap -param NAME -addr CIDR ...]

Terminates clients' TCP connections in ustack's userspace stack (BBR, paced)
and relays the bytes to the native service through the host kernel. Without
-config, LKL's LKL_HIJACK_* variables and ./lkl-hijack.json are read when
present. Flags override single settings of any source.

`)
		fs.PrintDefaults()
	}
	return f
}

func runMain(args []string) error {
	f := newRunFlags()
	if err := f.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if f.fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags only)", f.fs.Arg(0))
	}
	cfg, instance, err := f.load(os.Environ())
	if err != nil {
		return err
	}
	if f.dryRun {
		fmt.Print(dryRun(cfg, instance, f.noHost))
		return nil
	}
	return run(cfg, instance, f.noHost, f.drain)
}

// load builds and validates the configuration and picks the instance name.
func (f *runFlags) load(env []string) (*config.Config, string, error) {
	var (
		cfg *config.Config
		err error
	)
	switch {
	case f.config != "":
		cfg, err = config.Load(f.config)
	case f.lkl || hasLKL(env):
		cfg, err = config.LoadLKL(env)
	default:
		cfg = config.Default()
	}
	if err != nil {
		return nil, "", err
	}
	if err := f.apply(cfg); err != nil {
		return nil, "", err
	}
	if err := cfg.Validate(); err != nil {
		return nil, "", err
	}
	if !slices.Contains(tcp.CongestionControls(), cfg.Stack.Congestion) {
		avail := tcp.CongestionControls()
		slices.Sort(avail)
		return nil, "", fmt.Errorf("congestion control %q is not available (available: %s)", cfg.Stack.Congestion, strings.Join(avail, ", "))
	}
	if len(cfg.Frontends) == 0 {
		return nil, "", errors.New("nothing to relay: no forwarding configured (a line like `0.0.0.0 443 127.0.0.1 8443`, or -listen and -backend)")
	}
	instance := f.instance
	if instance == "" {
		instance = "ustack"
		if f.config != "" {
			instance = strings.TrimSuffix(filepath.Base(f.config), filepath.Ext(f.config))
		}
	}
	if err := (&hostsetup.Plan{Instance: instance}).Validate(); err != nil {
		return nil, "", fmt.Errorf("instance name %q: use letters, digits, '-', '_' and '.', at most 32 characters (-instance)", instance)
	}
	return cfg, instance, nil
}

// hasLKL reports whether LKL settings are present: a LKL_HIJACK_ variable
// or ./lkl-hijack.json.
func hasLKL(env []string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, "LKL_HIJACK_") {
			return true
		}
	}
	_, err := os.Stat(config.DefaultLKLFile)
	return err == nil
}

// apply applies the flags that were given, as lines of ustack's format.
func (f *runFlags) apply(cfg *config.Config) error {
	set := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	line := func(flagName, text string) error {
		return cfg.ApplyFile("flag -"+flagName, []byte(text+"\n"))
	}
	if set["iface"] || set["param"] {
		typ, param := string(cfg.Interface.Type), cfg.Interface.Param
		if set["iface"] {
			typ = f.iface
		}
		if set["param"] {
			param = f.param
		}
		if typ == "" || param == "" {
			return errors.New("-iface and -param go together (e.g. -iface tap -param lkl-tap), unless the configuration names the other")
		}
		if err := line("iface", "interface "+typ+" "+param); err != nil {
			return err
		}
	}
	for _, o := range overrideLines {
		if !set[o.flag] {
			continue
		}
		// -addr and -gw take one value per family, comma-separated.
		for _, v := range strings.Split(*f.lines[o.flag], ",") {
			if err := line(o.flag, o.directive+" "+strings.TrimSpace(v)); err != nil {
				return err
			}
		}
	}
	if set["listen"] != set["backend"] {
		return errors.New("-listen and -backend go together (e.g. -listen :443 -backend 127.0.0.1:8443)")
	}
	if !set["listen"] && (set["proxy"] || set["idle"]) {
		return errors.New("-proxy and -idle apply to -listen's forwarding; in a file use proxy= and idle= on the line")
	}
	if set["listen"] {
		var opts []string
		if f.proxy != "" {
			opts = append(opts, "proxy="+f.proxy)
		}
		if f.idle != "" {
			opts = append(opts, "idle="+f.idle)
		}
		if err := cfg.AddFrontend(f.listen, f.backend, opts...); err != nil {
			return err
		}
	}
	return nil
}

// dryRun describes what run would do without doing it.
func dryRun(cfg *config.Config, instance string, noHost bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# ustack run, instance %q: changes to the host\n", instance)
	if noHost {
		b.WriteString("# none (-no-host)\n")
	} else {
		b.WriteString(hostsetup.DryRun(cfg.HostPlan(instance)))
	}
	fmt.Fprintf(&b, "\n# the configuration as parsed\n%s", cfg.String())
	for _, w := range cfg.Warnings {
		fmt.Fprintf(&b, "# warning: %s\n", w)
	}
	return b.String()
}

// frontends converts the configuration's forwardings for package relay.
func frontends(cfg *config.Config) ([]relay.Frontend, error) {
	var out []relay.Frontend
	for _, f := range cfg.Frontends {
		pv, err := relay.ParseProxyVersion(string(f.Proxy))
		if err != nil {
			return nil, fmt.Errorf("%s: %v", f.Origin, err)
		}
		out = append(out, relay.Frontend{
			Listen:       f.Listen,
			Ports:        relay.PortRange{First: f.Ports.First, Last: f.Ports.Last},
			Backend:      f.Backend,
			BackendPorts: relay.PortRange{First: f.BackendPorts.First, Last: f.BackendPorts.Last},
			Proxy:        pv,
			Idle:         f.Idle,
		})
	}
	return out, nil
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	switch level {
	case "debug":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

// undoStack runs cleanup functions in reverse order.
type undoStack []func()

func (u *undoStack) push(f func()) { *u = append(*u, f) }

func (u *undoStack) run() {
	for i := len(*u) - 1; i >= 0; i-- {
		(*u)[i]()
	}
	*u = nil
}

// run is ustack run after the configuration is settled.
func run(cfg *config.Config, instance string, noHost bool, drain time.Duration) error {
	log := newLogger(cfg.LogLevel)
	for _, w := range cfg.Warnings {
		log.Warn(w)
	}
	fes, err := frontends(cfg)
	if err != nil {
		return err
	}
	var undo undoStack
	defer undo.run()

	// The control socket first: it is also the instance's lock, so that a
	// second start of a running instance fails before touching the host
	// (its teardown would remove the first one's rules).
	ctlPath := cfg.Control
	if ctlPath == "" {
		ctlPath = defaultControlPath(instance)
	}
	ctlLn, ctlPath, err := listenControl(ctlPath, cfg.Control == "", instance)
	if err != nil {
		return err
	}
	undo.push(func() { ctlLn.Close(); os.Remove(ctlPath) })

	// Host changes.
	if !noHost {
		lines, err := hostsetup.Cleanup(instance)
		for _, l := range lines {
			log.Info("removed leftover of an earlier run: " + l)
		}
		if err != nil {
			return fmt.Errorf("removing leftovers of instance %s: %w", instance, err)
		}
		applied, err := hostsetup.Apply(cfg.HostPlan(instance))
		if err != nil {
			return err
		}
		undo.push(func() {
			if err := applied.Teardown(); err != nil {
				log.Error("host teardown: " + err.Error())
			} else {
				log.Info("host changes removed")
			}
		})
		for _, c := range applied.Changes {
			log.Info("host: " + c)
		}
	}

	// Link and stack.
	l, ifc, err := openLink(cfg)
	if err != nil {
		return err
	}
	var filter *filterLink
	if cfg.Interface.Type != config.TAP {
		ports := []relay.PortRange{}
		for _, f := range fes {
			ports = append(ports, f.Ports)
		}
		if r := cfg.Host.EphemeralPorts; r.First != 0 {
			ports = append(ports, relay.PortRange{First: r.First, Last: r.Last})
		}
		filter = newFilterLink(l, ports)
		l = filter
	}
	if cfg.Pcap != "" {
		pf, err := pcap.Create(cfg.Pcap, pcap.LinkTypeFor(l.Header()))
		if err != nil {
			l.Close()
			return fmt.Errorf("pcap: %w", err)
		}
		undo.push(func() { pf.Close() })
		l = pcap.Capture(l, pf.Writer, nil)
	}
	opts := tcp.Options{
		CongestionControl: cfg.Stack.Congestion,
		SendBuffer:        tcp.BufSizes(cfg.Stack.WMem),
		RecvBuffer:        tcp.BufSizes(cfg.Stack.RMem),
	}
	if r := cfg.Host.EphemeralPorts; r.First != 0 {
		opts.EphemeralPorts = [2]uint16{r.First, r.Last}
	}
	st, err := unet.New(unet.Config{Name: instance, TCP: opts})
	if err != nil {
		l.Close()
		return fmt.Errorf("stack: %w", err)
	}
	undo.push(func() { st.Close() })
	nic, err := st.AddLink(l, ifc)
	if err != nil {
		l.Close()
		return fmt.Errorf("interface %s: %w", cfg.Interface.Param, err)
	}
	if err := addRoutes(st, nic, cfg, l.Header()); err != nil {
		return err
	}

	// Relay, control socket, metrics.
	started := time.Now()
	var rl *relay.Relay
	snap := func() snapshot {
		s := snapshot{Instance: instance, Time: time.Now(), Started: started, Stack: stackFromStats(st.Stats())}
		if filter != nil {
			s.Stack.FilteredFrames = filter.dropped.Load()
		}
		if rl != nil {
			s.Frontends = rl.Stats()
		}
		for _, i := range st.Conns() {
			s.Conns = append(s.Conns, connFromInfo(i))
		}
		return s
	}
	rl, err = relay.New(relay.Config{
		Frontends: fes,
		Listen: func(a netip.AddrPort) (net.Listener, error) {
			return st.ListenTCP(a, unet.ListenOptions{Backlog: 1024})
		},
		Log: log,
	})
	if err != nil {
		return err
	}
	if err := rl.Start(); err != nil {
		return err
	}
	undo.push(func() { rl.Close() })

	ctl := serveControl(ctlLn, snap)
	undo.push(func() { ctl.Close() })

	if cfg.Metrics != "" {
		mln, err := net.Listen("tcp", cfg.Metrics)
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		ms := serveMetrics(mln, snap)
		undo.push(func() { ms.Close() })
		log.Info("metrics on http://" + mln.Addr().String() + "/metrics")
	}

	checkBackends(cfg, fes, log)
	log.Info(fmt.Sprintf("ustack %s running: %s %s, %s, %d forwarding(s), control socket %s",
		instance, cfg.Interface.Type, cfg.Interface.Param, addrList(cfg), len(fes), ctlPath))

	// Wait for a signal, then drain.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	s := <-sigs
	log.Info(fmt.Sprintf("%v: stopping; running transfers may finish for %v (signal again to cut them)", s, drain))
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := rl.Shutdown(ctx); err != nil {
		log.Warn("sessions still running were closed")
	}
	return nil
}

func addrList(cfg *config.Config) string {
	var a []string
	for _, p := range []netip.Prefix{cfg.Interface.Addr, cfg.Interface.Addr6} {
		if p.IsValid() {
			a = append(a, p.String())
		}
	}
	return strings.Join(a, " ")
}

// openLink opens the configured link and describes the stack's interface on it.
func openLink(cfg *config.Config) (link.Link, ip.InterfaceConfig, error) {
	c := &cfg.Interface
	ifc := ip.InterfaceConfig{Name: c.Param, MTU: c.MTU, StaticNeighbors: map[netip.Addr]wire.MAC{}}
	for _, p := range []netip.Prefix{c.Addr, c.Addr6} {
		if p.IsValid() {
			ifc.Addrs = append(ifc.Addrs, p)
		}
	}
	for _, n := range c.Neighbors {
		var m wire.MAC
		copy(m[:], n.MAC)
		ifc.StaticNeighbors[n.IP] = m
	}
	if len(c.MAC) == 6 {
		copy(ifc.MAC[:], c.MAC)
	}
	switch c.Type {
	case config.TAP:
		t, err := link.OpenTap(link.TapConfig{Name: c.Param, Offload: link.Features(c.Offload), MTU: c.MTU, Up: true})
		if err != nil {
			return nil, ifc, err
		}
		return t, ifc, nil
	case config.Raw, config.Cooked:
		pc := link.PacketConfig{Interface: c.Param, Mode: link.PacketRaw}
		if c.Type == config.Cooked {
			pc.Mode = link.PacketCooked
		} else {
			// The vnet header is on (GUEST_CSUM only): frames from this
			// host's own senders (containers, veths, local clients) carry
			// partial checksums that only the header marks as such;
			// without it every such segment fails the checksum check.
			// The kernel offers the header on SOCK_RAW only.
			pc.Offload = link.FeatGuestCsum
		}
		if c.Type == config.Raw {
			hw, err := net.InterfaceByName(c.Param)
			if err != nil {
				return nil, ifc, fmt.Errorf("raw interface %s: %w", c.Param, err)
			}
			if len(c.MAC) == 6 && !slices.Equal(c.MAC, hw.HardwareAddr) {
				// The stack has its own MAC: let its frames in.
				pc.Memberships = []net.HardwareAddr{c.MAC}
			} else if len(hw.HardwareAddr) == 6 {
				// Shared with the host, as rinetd-bbr does.
				copy(ifc.MAC[:], hw.HardwareAddr)
			}
		}
		p, err := link.OpenPacket(pc)
		if err != nil {
			return nil, ifc, err
		}
		return p, ifc, nil
	}
	return nil, ifc, fmt.Errorf("interface type %q is not supported", c.Type)
}

// addRoutes adds the default routes: through the gateway, or on-link on a
// point-to-point link without one (venet0 has no gateway to resolve).
func addRoutes(st *unet.Stack, nic *ip.Interface, cfg *config.Config, h link.HeaderType) error {
	c := &cfg.Interface
	for _, fam := range []struct {
		addr netip.Prefix
		gw   netip.Addr
		any  netip.Prefix
	}{
		{c.Addr, c.Gateway, netip.MustParsePrefix("0.0.0.0/0")},
		{c.Addr6, c.Gateway6, netip.MustParsePrefix("::/0")},
	} {
		var r ip.Route
		switch {
		case fam.gw.IsValid():
			r = ip.Route{Dst: fam.any, Gateway: fam.gw, NIC: nic}
		case fam.addr.IsValid() && h == link.HeaderNone:
			r = ip.Route{Dst: fam.any, NIC: nic}
		default:
			continue
		}
		if err := st.AddRoute(r); err != nil {
			return fmt.Errorf("route %v via %v: %w", r.Dst, r.Gateway, err)
		}
	}
	return nil
}

// checkBackends tries each frontend's backend once (in parallel, 2 s each)
// and warns about the unreachable ones: they may come up later. The check
// connection carries the PROXY protocol's LOCAL header where one is
// configured, so the backend treats it as a health check.
func checkBackends(cfg *config.Config, fes []relay.Frontend, log *slog.Logger) {
	var wg sync.WaitGroup
	seen := map[string]bool{}
	for i := range fes {
		fe := &fes[i]
		addr := fe.BackendAddr(fe.Ports.First)
		if seen[addr] {
			continue
		}
		seen[addr] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				log.Warn(fmt.Sprintf("backend %s of %s is not reachable now (%v); its clients will be closed until it is",
					addr, cfg.Frontends[i].Origin, cleanDialErr(err)))
				return
			}
			c.SetWriteDeadline(time.Now().Add(time.Second))
			c.Write(relay.AppendProxyLocal(nil, fe.Proxy))
			c.Close()
		}()
	}
	wg.Wait()
}

func cleanDialErr(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}
