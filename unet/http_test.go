package unet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestHTTP(t *testing.T) {
	p := newPair(t, pairOpts{})
	l, err := p.B.Listen("tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s from %s", r.RemoteAddr, r.Host)
	})
	mux.HandleFunc("/bytes/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		w.Header().Set("Content-Length", strconv.Itoa(n))
		w.Write(pattern(n))
	})
	mux.HandleFunc("/sum", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, _ := io.Copy(h, r.Body)
		fmt.Fprintf(w, "%d %x", n, h.Sum(nil))
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	defer srv.Close()

	client := &http.Client{
		Transport: &http.Transport{DialContext: p.A.DialContext, MaxIdleConnsPerHost: 8},
		Timeout:   2 * time.Minute, // generous: -race on a loaded machine is slow
	}
	defer client.CloseIdleConnections()

	resp, err := client.Get("http://10.0.0.2/hello")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.HasPrefix(body, []byte("hello 10.0.0.1:")) {
		t.Fatalf("GET /hello: %s %q", resp.Status, body)
	}

	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			n := 1<<20 + i*1000
			resp, err := client.Get(fmt.Sprintf("http://10.0.0.2/bytes/%d", n))
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil || !bytes.Equal(b, pattern(n)) {
				t.Errorf("GET /bytes/%d: %d bytes, %v", n, len(b), err)
			}
		}(i)
	}
	wg.Wait()
	if t.Failed() {
		dumpConns(t, p)
	}

	up := pattern(3 << 20)
	resp, err = client.Post("http://10.0.0.2/sum", "application/octet-stream", bytes.NewReader(up))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := fmt.Sprintf("%d %x", len(up), sha256.Sum256(up)); string(body) != want {
		t.Errorf("POST /sum: %q, want %q", body, want)
	}

	// Graceful shutdown through the listener.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if _, err := client.Get("http://10.0.0.2/hello"); err == nil {
		t.Error("GET after shutdown succeeded")
	}
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>10)
	}
	return b
}

// BenchmarkBulkMem measures one-way throughput through two stacks over an
// unlimited memlink pair.
func BenchmarkBulkMem(b *testing.B) {
	p := newPair(b, pairOpts{})
	l := listen(b, p.B)
	done := make(chan int64, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- -1
			return
		}
		n, _ := io.Copy(io.Discard, c)
		c.Close()
		done <- n
	}()
	c, err := p.A.Dial("tcp", remoteOf(l, addrB).String())
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 256<<10)
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	c.(*Conn).CloseWrite()
	n := <-done
	b.StopTimer()
	if n != int64(b.N)*int64(len(buf)) {
		b.Fatalf("received %d of %d bytes", n, int64(b.N)*int64(len(buf)))
	}
	c.Close()
	st := p.A.Stats()
	b.ReportMetric(float64(st.TCP.RetransSegs), "retrans")
	b.ReportMetric(float64(st.Runtime.Wakeups)/float64(b.N), "wakeups/op")
	_ = net.ErrClosed
}

func dumpConns(t testing.TB, p *pair) {
	for _, s := range []*Stack{p.A, p.B} {
		for _, in := range s.Conns() {
			t.Logf("%s %v->%v %v ca %v cwnd %d inflight %d unacked %d lost %d rq %d sq %d rwnd %d swnd %d rto %v backoff %d retrans %d cc %+v",
				s.Name(), in.Local, in.Remote, in.State, in.CAState, in.Cwnd, in.InFlight, in.Unacked, in.LostBytes, in.RecvQueue,
				in.SendQueue, in.RcvWnd, in.SndWnd, in.RTO, in.Backoff, in.TotalRetrans, in.CCInfo)
		}
		st := s.Stats()
		t.Logf("%s ip %+v tcp %+v links %+v rt %+v", s.Name(), st.IP, st.TCP, st.Links, st.Runtime)
	}
}
