package scenario

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ustack/ustack/tcp"
)

func TestExplore(t *testing.T) {
	if os.Getenv("EXPLORE") == "" {
		t.Skip("set EXPLORE=1")
	}
	loss, _ := strconv.ParseFloat(os.Getenv("LOSS"), 64)
	dur, _ := strconv.ParseFloat(os.Getenv("DUR"), 64)
	if dur == 0 {
		dur = 20
	}
	cc := os.Getenv("CC")
	sndMax, _ := strconv.Atoi(os.Getenv("SNDMAX"))
	rl, _ := strconv.ParseFloat(os.Getenv("RLOSS"), 64)
	p := Path{Rate: 100e6, RTT: 100 * time.Millisecond, Loss: loss, RevLoss: rl, ChecksumOffload: os.Getenv("CSUM") == ""}
	pr, err := NewPair(1, p, tcp.Options{SendBuffer: tcp.BufSizes{Max: sndMax}}, tcp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := pr.StartFlow(0, pr.A, pr.B, -1, FlowOptions{CC: cc})
	start := time.Now()
	for s := 1.0; s <= dur; s++ {
		pr.Net.RunUntil(sec(s))
		if f.Sender != nil && (int(s)%2 == 0 || s < 5) {
			i := f.Sender.Info()
			t.Logf("t=%2.0f goodput=%6.2f Mbit/s cwnd=%d ssthresh=%d inflight=%d srtt=%v rto=%v ca=%v lost=%d retrans=%d rwnd=%d pacing=%d %+v", s, f.Goodput(sec(s-1), sec(s))/1e6,
				i.Cwnd/i.MSS, i.Ssthresh/i.MSS, i.InFlight/i.MSS, i.SRTT, i.RTO, i.CAState, i.LostSegs, i.TotalRetrans, i.SndWnd, i.PacingRate*8/1e6, i.CCInfo)
		}
	}
	t.Logf("real time %v, total goodput %.2f, last10 %.2f", time.Since(start), f.Goodput(0, sec(dur))/1e6, f.Goodput(sec(dur-10), sec(dur))/1e6)
	t.Logf("pipe AB: %+v", pr.AB.Stats())
	t.Logf("tcp A: %+v", pr.A.TCP.Stats())
}
