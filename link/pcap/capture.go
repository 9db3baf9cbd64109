package pcap

// Capture: a link.Link that records its traffic.
//
// Received frames are recorded after ReadBatch returns them; transmitted
// frames are recorded as they are handed to the link, before the write (so
// a frame the link then drops still appears, much as tcpdump sees frames a
// qdisc later drops). GSO super-segments are recorded as the single big
// frames they are, with the snap length sized for them. Recording errors
// never disturb traffic: the first one is kept in the Writer (Err) and
// recording stops.

import (
	"bufio"
	"os"
	"time"

	"github.com/ustack/ustack/link"
)

// LinkTypeFor returns the pcap link type of frames with header h.
func LinkTypeFor(h link.HeaderType) uint32 {
	if h == link.HeaderEthernet {
		return LinkTypeEthernet
	}
	return LinkTypeRaw
}

// CaptureLink is a link.Link that records every frame into a Writer.
type CaptureLink struct {
	link.Link
	w   *Writer
	now func() time.Time
}

// Capture wraps l so that its frames are written to w, stamped by now
// (nil: time.Now). w's link type should be LinkTypeFor(l.Header()).
func Capture(l link.Link, w *Writer, now func() time.Time) *CaptureLink {
	if now == nil {
		now = time.Now
	}
	return &CaptureLink{Link: l, w: w, now: now}
}

// Unwrap returns the wrapped link.
func (c *CaptureLink) Unwrap() link.Link { return c.Link }

// Err returns the first recording error, if any.
func (c *CaptureLink) Err() error {
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	return c.w.err
}

// ReadBatch reads from the wrapped link and records the frames.
func (c *CaptureLink) ReadBatch(bufs [][]byte, lens []int, metas []link.RxMeta) (int, error) {
	n, err := c.Link.ReadBatch(bufs, lens, metas)
	if n > 0 {
		ts := c.now().UnixNano()
		for i := 0; i < n; i++ {
			c.w.WritePacket(ts, bufs[i][:lens[i]])
		}
	}
	return n, err
}

// Write records frame and sends it.
func (c *CaptureLink) Write(frame []byte, meta link.TxMeta) error {
	c.w.WritePacket(c.now().UnixNano(), frame)
	return c.Link.Write(frame, meta)
}

// WriteBatch records frames and sends them.
func (c *CaptureLink) WriteBatch(frames [][]byte, metas []link.TxMeta) (int, error) {
	ts := c.now().UnixNano()
	for _, f := range frames {
		c.w.WritePacket(ts, f)
	}
	return c.Link.WriteBatch(frames, metas)
}

// File is a Writer on a buffered file.
type File struct {
	*Writer
	f  *os.File
	bw *bufio.Writer
}

// Create creates (truncates) path and writes a pcap header for linkType.
func Create(path string, linkType uint32) (*File, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriterSize(f, 1<<16)
	w, err := NewWriter(bw, linkType, 0)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &File{Writer: w, f: f, bw: bw}, nil
}

// Close flushes and closes the file.
func (f *File) Close() error {
	err := f.Writer.Flush()
	if cerr := f.f.Close(); err == nil {
		err = cerr
	}
	return err
}
