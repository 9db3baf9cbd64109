package unet

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/ustack/ustack/link"
)

// recLink records how frames reach the link: one Write or one WriteBatch
// call per entry. Only the two write methods are implemented.
type recLink struct {
	link.Link
	calls [][]string
}

func (r *recLink) Write(f []byte, _ link.TxMeta) error {
	r.calls = append(r.calls, []string{string(f[:2])})
	return nil
}

func (r *recLink) WriteBatch(fs [][]byte, _ []link.TxMeta) (int, error) {
	var c []string
	for _, f := range fs {
		c = append(c, string(f[:2]))
	}
	r.calls = append(r.calls, c)
	return len(fs), nil
}

func TestTxQueue(t *testing.T) {
	r := &recLink{}
	var rt RuntimeStats
	q := newTxQueue(r, &rt)
	frame := func(tag string, n int) []byte {
		f := bytes.Repeat([]byte{'.'}, n)
		copy(f, tag)
		return f
	}
	buf := frame("a0", 100)
	q.add(buf, link.TxMeta{})
	copy(buf, "zz") // the engine reuses its buffer: the queue copied it
	q.add(frame("a1", 1514), link.TxMeta{})
	// A super-segment goes at once, after what is queued.
	q.add(frame("G0", 60000), link.TxMeta{})
	for i := 0; i < txBatchFrames+1; i++ {
		q.add(frame(fmt.Sprintf("%02d", i%100), 60), link.TxMeta{})
	}
	q.flush()
	q.flush() // nothing left: no call
	want := fmt.Sprint([][]string{{"a0", "a1"}, {"G0"}})
	if got := fmt.Sprint(r.calls[:2]); got != want {
		t.Fatalf("calls %s, want %s", got, want)
	}
	if len(r.calls) != 4 || len(r.calls[2]) != txBatchFrames || len(r.calls[3]) != 1 || r.calls[3][0] != "64" {
		t.Fatalf("batches: %d calls, %v", len(r.calls), r.calls[2:])
	}
	if rt.TxBatches != 3 || rt.TxFrames != 2+txBatchFrames+1 || rt.TxBatchDropped != 0 {
		t.Fatalf("stats %+v", rt)
	}
}
