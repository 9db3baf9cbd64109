package link

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"
)

// scripted returns a send func that fails with errs in order, then succeeds.
func scripted(errs ...error) (func() error, *int) {
	calls := 0
	return func() error {
		calls++
		if calls <= len(errs) {
			return errs[calls-1]
		}
		return nil
	}, &calls
}

func TestRetryTransientThenSuccess(t *testing.T) {
	var c counters
	r := newRetrier(RetryPolicy{}, &c)
	var slept []time.Duration
	r.sleep = func(d time.Duration) { slept = append(slept, d) }
	var waited []time.Duration
	wait := func(d time.Duration) { waited = append(waited, d) }

	send, calls := scripted(syscall.ENOBUFS, syscall.EINTR, syscall.EAGAIN, syscall.ENOBUFS)
	if err := r.do(send, wait); err != nil {
		t.Fatalf("do: %v", err)
	}
	if *calls != 5 {
		t.Fatalf("%d calls", *calls)
	}
	s := c.snapshot()
	if s.TxRetries != 4 || s.TxENOBUFS != 2 || s.TxEINTR != 1 || s.TxEAGAIN != 1 || s.TxDropped != 0 || s.TxErrors != 0 {
		t.Fatalf("stats %+v", s)
	}
	// ENOBUFS sleeps, EINTR retries at once, EAGAIN polls; delays double.
	if len(slept) != 2 || slept[0] != 20*time.Microsecond || slept[1] != 80*time.Microsecond {
		t.Fatalf("slept %v", slept)
	}
	if len(waited) != 1 || waited[0] != 40*time.Microsecond {
		t.Fatalf("waited %v", waited)
	}
}

func TestRetryBudgetExhaustedThenRecovers(t *testing.T) {
	var c counters
	r := newRetrier(RetryPolicy{Attempts: 3, BaseDelay: time.Microsecond, MaxDelay: 2 * time.Microsecond}, &c)
	var slept []time.Duration
	r.sleep = func(d time.Duration) { slept = append(slept, d) }
	always := func() error { return syscall.ENOBUFS }
	err := r.do(always, nil)
	if !errors.Is(err, ErrDropped) || !strings.Contains(err.Error(), "no buffer space") {
		t.Fatalf("err %v", err)
	}
	if len(slept) != 3 || slept[2] != 2*time.Microsecond {
		t.Fatalf("slept %v", slept)
	}
	s := c.snapshot()
	if s.TxRetries != 4 || s.TxENOBUFS != 4 || s.TxDropped != 1 {
		t.Fatalf("stats %+v", s)
	}
	// The next frame goes through: a drop never kills the link.
	if err := r.do(func() error { return nil }, nil); err != nil {
		t.Fatal(err)
	}
	// EAGAIN without a poller falls back to sleeping.
	send, _ := scripted(syscall.EAGAIN)
	if err := r.do(send, nil); err != nil || len(slept) != 4 {
		t.Fatalf("eagain: %v slept %v", err, slept)
	}
}

func TestRetryNonTransient(t *testing.T) {
	var c counters
	r := newRetrier(RetryPolicy{Attempts: -1}, &c)
	r.sleep = func(time.Duration) { t.Fatal("slept on a permanent error") }
	send, calls := scripted(syscall.EMSGSIZE)
	if err := r.do(send, nil); !errors.Is(err, syscall.EMSGSIZE) || *calls != 1 {
		t.Fatalf("err %v calls %d", err, *calls)
	}
	// Attempts < 0: no retries at all.
	send, calls = scripted(syscall.ENOBUFS)
	if err := r.do(send, nil); !errors.Is(err, ErrDropped) || *calls != 1 {
		t.Fatalf("err %v calls %d", err, *calls)
	}
	s := c.snapshot()
	if s.TxErrors != 1 || s.TxDropped != 1 || s.TxRetries != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"tap0", "lkl-tap0", "venet0", "a", "123456789012345", "tap%d"} {
		if err := checkName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "1234567890123456", "a/b", "a:b", "a b", "a\tb", ".", ".."} {
		if err := checkName(bad); !errors.Is(err, ErrBadName) {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestOpErrorFormat(t *testing.T) {
	e := &OpError{Op: "open tap", Name: "lkl-tap0", Err: syscall.EPERM, Hint: "needs root or CAP_NET_ADMIN"}
	want := `link: open tap "lkl-tap0": operation not permitted (needs root or CAP_NET_ADMIN)`
	if e.Error() != want {
		t.Fatalf("%q", e.Error())
	}
	if !errors.Is(e, syscall.EPERM) {
		t.Fatal("does not unwrap")
	}
}

func TestCheckTxMeta(t *testing.T) {
	full := Offloads{TxChecksum: true, TSO4: true, MaxGSOSize: MaxGSOFrame}
	frame := make([]byte, 14+20+20+3000)
	ok := TxMeta{NeedsCsum: true, CsumStart: 34, CsumOffset: 16, GSOType: GSOTCPv4, GSOSize: 1448}
	if err := checkTxMeta(&full, HeaderEthernet, frame, &ok); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name string
		o    Offloads
		m    TxMeta
		f    []byte
	}{
		{"no txcsum", Offloads{}, TxMeta{NeedsCsum: true, CsumStart: 34, CsumOffset: 16}, frame},
		{"no tso6", full, TxMeta{NeedsCsum: true, CsumStart: 54, CsumOffset: 16, GSOType: GSOTCPv6, GSOSize: 1000}, frame},
		{"gso without csum", full, TxMeta{GSOType: GSOTCPv4, GSOSize: 1000}, frame},
		{"gso size 0", full, TxMeta{NeedsCsum: true, CsumStart: 34, CsumOffset: 16, GSOType: GSOTCPv4}, frame},
		{"csum beyond", full, TxMeta{NeedsCsum: true, CsumStart: 34, CsumOffset: 16}, frame[:40]},
		{"too big", full, ok, make([]byte, 14+MaxGSOFrame+1)},
	}
	for _, b := range bad {
		if err := checkTxMeta(&b.o, HeaderEthernet, b.f, &b.m); !errors.Is(err, ErrOffload) {
			t.Errorf("%s: %v", b.name, err)
		}
	}
	if err := checkTxMeta(&Offloads{}, HeaderNone, []byte{0x45}, &TxMeta{}); err != nil {
		t.Fatal(err)
	}
}
