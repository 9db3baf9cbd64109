// A pinger: ICMP echo requests from a namespace at a fixed interval, for
// the round-trip time of the path while a transfer loads it (the echo
// shares the bottleneck queue with the data). A reply is timed by the
// kernel's receive timestamp (SO_TIMESTAMPNS), so the time this process
// takes to wake up is not counted; the request is stamped just before it
// is sent. Both are wall-clock times, so a clock step during a measurement
// would show as one bad sample.

package e2e

import (
	"encoding/binary"
	"net"
	"sort"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ustack/ustack/netem/topo"
)

// Pinger sends echo requests until stopped and keeps the RTT samples.
type Pinger struct {
	conn     *net.IPConn
	dst      *net.IPAddr
	id       uint16
	interval time.Duration
	start    time.Time

	mu      sync.Mutex
	sent    int
	samples []time.Duration
	stop    chan struct{}
	wg      sync.WaitGroup
}

// StartPing starts pinging dst from namespace ns every interval.
func StartPing(ns string, dst net.IP, interval time.Duration) (*Pinger, error) {
	p := &Pinger{dst: &net.IPAddr{IP: dst}, interval: interval, stop: make(chan struct{}), start: time.Now()}
	p.id = uint16(time.Now().UnixNano()>>10) | 1
	err := topo.In(ns, func() error {
		c, err := net.ListenIP("ip4:icmp", nil)
		p.conn = c
		return err
	})
	if err != nil {
		return nil, err
	}
	if rc, err := p.conn.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) {
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
		})
	}
	p.wg.Add(2)
	go p.send()
	go p.recv()
	return p, nil
}

func icmpChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

func (p *Pinger) send() {
	defer p.wg.Done()
	t := time.NewTicker(p.interval)
	defer t.Stop()
	msg := make([]byte, 8+8+40)
	for seq := uint16(0); ; seq++ {
		msg[0], msg[1] = 8, 0 // echo request
		binary.BigEndian.PutUint16(msg[2:], 0)
		binary.BigEndian.PutUint16(msg[4:], p.id)
		binary.BigEndian.PutUint16(msg[6:], seq)
		binary.BigEndian.PutUint64(msg[8:], uint64(time.Now().UnixNano()))
		binary.BigEndian.PutUint16(msg[2:], icmpChecksum(msg))
		if _, err := p.conn.WriteTo(msg, p.dst); err == nil {
			p.mu.Lock()
			p.sent++
			p.mu.Unlock()
		}
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
	}
}

func (p *Pinger) recv() {
	defer p.wg.Done()
	buf := make([]byte, 1500)
	oob := make([]byte, 128)
	for {
		n, oobn, _, _, err := p.conn.ReadMsgIP(buf, oob)
		if err != nil {
			return
		}
		now := time.Now().UnixNano()
		if ts, ok := kernelStamp(oob[:oobn]); ok {
			now = ts
		}
		b := buf[:n]
		if len(b) >= 20 && b[0]>>4 == 4 { // some kernels keep the IP header
			b = b[int(b[0]&0xf)*4:]
		}
		if len(b) < 16 || b[0] != 0 || binary.BigEndian.Uint16(b[4:]) != p.id {
			continue
		}
		sent := int64(binary.BigEndian.Uint64(b[8:]))
		p.mu.Lock()
		p.samples = append(p.samples, time.Duration(now-sent))
		p.mu.Unlock()
	}
}

// kernelStamp extracts an SCM_TIMESTAMPNS receive time (Unix ns).
func kernelStamp(oob []byte) (int64, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, false
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
			sec := int64(binary.NativeEndian.Uint64(m.Data[0:]))
			nsec := int64(binary.NativeEndian.Uint64(m.Data[8:]))
			return sec*1e9 + nsec, true
		}
	}
	return 0, false
}

// Stop stops pinging (waiting one interval for late replies) and returns
// the samples, sorted, and the number of requests sent.
func (p *Pinger) Stop() (samples []time.Duration, sent int) {
	close(p.stop)
	time.Sleep(p.interval)
	p.conn.Close()
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	s := append([]time.Duration(nil), p.samples...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s, p.sent
}

// Quantile returns the q-quantile of sorted samples (0 if none).
func Quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted)-1) + 0.5)
	return sorted[min(max(i, 0), len(sorted)-1)]
}
