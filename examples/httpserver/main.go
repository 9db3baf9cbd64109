// Command httpserver serves HTTP from a userspace TCP/IP stack (package
// unet) with BBR, on a tap device or an existing interface via AF_PACKET —
// no kernel TCP involved.
//
//	httpserver -tap ust0 -addr 10.0.0.2/24 -gw 10.0.0.1 -listen :8080 -cc bbr
//
// Endpoints: / (a greeting with the connection's TCP state), /bytes?n=N
// (N bytes, for throughput tests) and /info (the same state as JSON).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/ustack/ustack/ip"
	"github.com/ustack/ustack/link"
	"github.com/ustack/ustack/tcp"
	"github.com/ustack/ustack/unet"
)

func main() {
	tapName := flag.String("tap", "", "tap interface to create or attach to")
	packetIf := flag.String("packet", "", "existing interface to use through AF_PACKET (instead of -tap)")
	addr := flag.String("addr", "10.0.0.2/24", "the stack's address and prefix")
	gw := flag.String("gw", "", "default gateway (optional)")
	listen := flag.String("listen", ":8080", "listen address")
	cc := flag.String("cc", "bbr", "congestion control: "+fmt.Sprint(tcp.CongestionControls()))
	mtu := flag.Int("mtu", 0, "tap MTU (0: kernel default)")
	flag.Parse()
	if err := run(*tapName, *packetIf, *addr, *gw, *listen, *cc, *mtu); err != nil {
		log.Fatal(err)
	}
}

func run(tapName, packetIf, addr, gw, listen, cc string, mtu int) error {
	prefix, err := netip.ParsePrefix(addr)
	if err != nil {
		return fmt.Errorf("-addr: %w", err)
	}
	var l link.Link
	switch {
	case tapName != "" && packetIf == "":
		l, err = link.OpenTap(link.TapConfig{Name: tapName, Up: true, MTU: mtu})
	case packetIf != "" && tapName == "":
		l, err = link.OpenPacket(link.PacketConfig{Interface: packetIf})
	default:
		return fmt.Errorf("give exactly one of -tap and -packet")
	}
	if err != nil {
		return err
	}
	s, err := unet.New(unet.Config{Name: "httpserver", TCP: tcp.Options{CongestionControl: cc}})
	if err != nil {
		l.Close()
		return err
	}
	defer s.Close()
	nic, err := s.AddLink(l, ip.InterfaceConfig{Addrs: []netip.Prefix{prefix}})
	if err != nil {
		l.Close()
		return err
	}
	if gw != "" {
		g, err := netip.ParseAddr(gw)
		if err != nil {
			return fmt.Errorf("-gw: %w", err)
		}
		dst := netip.MustParsePrefix("0.0.0.0/0")
		if g.Is6() {
			dst = netip.MustParsePrefix("::/0")
		}
		if err := s.AddRoute(ip.Route{Dst: dst, Gateway: g, NIC: nic}); err != nil {
			return err
		}
	}
	ln, err := s.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:     handler(),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) },
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	log.Printf("serving http on %s via %s %s (%s), cc %s", ln.Addr(), nic.Name(), prefix, nic.MAC(), cc)
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

type connKey struct{}

// connInfo is the TCP state of the request's connection.
func connInfo(r *http.Request) (tcp.Info, bool) {
	c, ok := r.Context().Value(connKey{}).(*unet.Conn)
	if !ok {
		return tcp.Info{}, false
	}
	return c.Info(), true
}

func handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		in, _ := connInfo(r)
		fmt.Fprintf(w, "hello from ustack: %s -> %s, cc %s, srtt %v, cwnd %d, pacing %d B/s\n",
			in.Remote, in.Local, in.CC, in.SRTT, in.Cwnd, in.PacingRate)
	})
	mux.HandleFunc("/info", func(w http.ResponseWriter, r *http.Request) {
		in, _ := connInfo(r)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(in)
	})
	mux.HandleFunc("/bytes", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
		if err != nil || n < 0 {
			http.Error(w, "n: want a byte count", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		w.Header().Set("Content-Type", "application/octet-stream")
		buf := make([]byte, 64<<10)
		for i := range buf {
			buf[i] = byte(i)
		}
		for n > 0 {
			k := min(n, int64(len(buf)))
			if _, err := w.Write(buf[:k]); err != nil {
				return
			}
			n -= k
		}
	})
	return mux
}
