package tcp

// Byte buffers of a connection.
//
// sendBuffer holds the bytes from SND.UNA up to the last byte the application
// wrote: sent-but-unacknowledged bytes first, then not-yet-sent ones. It is a
// ring addressed by offset from SND.UNA, so a retransmission copies straight
// out of it and an ACK just advances the head.
//
// recvBuffer holds the bytes from the application's read point up to the
// right edge of the window we advertised. In-order bytes sit at the front;
// out-of-order segments are written at their final offset right away and
// remembered as ranges (the SACK source), so filling a hole never copies a
// byte twice.

type ring struct {
	buf  []byte
	head int // index of the first byte
	n    int // bytes held from head (for recvBuffer: in-order bytes)
}

// grow reallocates to at least size bytes, keeping content [0, keep) from head.
func (r *ring) grow(size, keep int) {
	if size <= len(r.buf) {
		return
	}
	nb := make([]byte, size)
	r.copyOut(nb[:keep], 0)
	r.buf = nb
	r.head = 0
}

// copyOut copies len(p) bytes starting at offset off from head into p.
func (r *ring) copyOut(p []byte, off int) {
	if len(p) == 0 {
		return
	}
	i := r.head + off
	if i >= len(r.buf) {
		i -= len(r.buf)
	}
	c := copy(p, r.buf[i:])
	if c < len(p) {
		copy(p[c:], r.buf[:len(p)-c])
	}
}

// copyIn copies p into the ring at offset off from head.
func (r *ring) copyIn(p []byte, off int) {
	if len(p) == 0 {
		return
	}
	i := r.head + off
	if i >= len(r.buf) {
		i -= len(r.buf)
	}
	c := copy(r.buf[i:], p)
	if c < len(p) {
		copy(r.buf, p[c:])
	}
}

// advance drops n bytes from the front.
func (r *ring) advance(n int) {
	r.head += n
	if r.head >= len(r.buf) && len(r.buf) > 0 {
		r.head -= len(r.buf)
	}
	r.n -= n
}

type sendBuffer struct {
	ring
	limit int // current size limit (auto-tuned between wmem default and max)
}

// free returns how many more bytes the application may write.
func (b *sendBuffer) free() int {
	if f := b.limit - b.n; f > 0 {
		return f
	}
	return 0
}

// write appends as much of p as fits under the limit and returns the count.
func (b *sendBuffer) write(p []byte) int {
	n := min(len(p), b.free())
	if n == 0 {
		return 0
	}
	if b.n+n > len(b.buf) {
		// Grow geometrically: the limit creeps up with cwnd, and a
		// reallocation per step would copy the whole buffer each time.
		b.grow(max(2*len(b.buf), b.n+n, 4096), b.n)
	}
	b.copyIn(p[:n], b.n)
	b.n += n
	return n
}

type recvBuffer struct {
	ring
	ooo    rangeSet // out-of-order bytes held beyond the in-order ones, as offsets from head
	target int      // the buffer's size; memory is only allocated when data arrives
}

// size is the buffer's capacity, allocated or not yet: an idle connection
// offers its full window without holding the memory for it.
func (b *recvBuffer) size() int { return max(len(b.buf), b.target) }

// ensure allocates the buffer up to its target size before data is stored.
func (b *recvBuffer) ensure() {
	if len(b.buf) < b.target {
		b.grow(b.target, max(b.n, b.ooo.held()))
	}
}

// resize sets a new target, growing allocated memory at once.
func (b *recvBuffer) resize(target int) {
	if target > b.target {
		b.target = target
		if len(b.buf) > 0 {
			b.ensure()
		}
	}
}

// free returns the space not taken by in-order or out-of-order bytes measured
// from the in-order end: the receive window we can offer.
func (b *recvBuffer) free() int { return b.size() - b.n }

// read copies in-order bytes into p.
func (b *recvBuffer) read(p []byte) int {
	n := min(len(p), b.n)
	b.copyOut(p[:n], 0)
	b.advance(n)
	b.ooo.shift(n)
	return n
}

// rangeSet is a small sorted set of disjoint half-open byte ranges, used for
// out-of-order data. Each range remembers when it last grew so that SACK
// blocks can be reported most-recent first (RFC 2018).
type rangeSet struct {
	r     []byteRange
	stamp uint64
}

type byteRange struct {
	start, end int // offsets
	stamp      uint64
}

// add inserts [start,end), merging neighbours, and returns the merged range.
func (s *rangeSet) add(start, end int) byteRange {
	s.stamp++
	i := 0
	for i < len(s.r) && s.r[i].end < start {
		i++
	}
	j := i
	for j < len(s.r) && s.r[j].start <= end {
		start = min(start, s.r[j].start)
		end = max(end, s.r[j].end)
		j++
	}
	nr := byteRange{start, end, s.stamp}
	if i == j {
		s.r = append(s.r, byteRange{})
		copy(s.r[i+1:], s.r[i:])
		s.r[i] = nr
	} else {
		s.r[i] = nr
		s.r = append(s.r[:i+1], s.r[j:]...)
	}
	return nr
}

// shift rebases all ranges by -n, dropping what falls below zero.
func (s *rangeSet) shift(n int) {
	if n == 0 {
		return
	}
	k := 0
	for _, x := range s.r {
		x.start -= n
		x.end -= n
		if x.end <= 0 {
			continue
		}
		x.start = max(x.start, 0)
		s.r[k] = x
		k++
	}
	s.r = s.r[:k]
}

// held returns the highest offset held, or 0.
func (s *rangeSet) held() int {
	if len(s.r) == 0 {
		return 0
	}
	return s.r[len(s.r)-1].end
}
