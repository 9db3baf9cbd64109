// Package sim is an in-memory simulated network that runs many stacks and
// paths in virtual time.
//
// Scheduling model. Time is an input: the Network owns a virtual clock that
// jumps from one event instant to the next; nothing reads the wall clock and
// every random choice derives from the network seed, so a run is a pure
// function of its seed and its inputs. Three kinds of things produce events:
//
//   - pipes (one direction of a path), whose next event is the arrival of
//     their earliest frame in flight;
//   - nodes (a host with its stack and applications, or a test dummy), whose
//     next event is their NextDeadline;
//   - At callbacks scheduled by tests or applications.
//
// Pipes and nodes sit in one indexed min-heap keyed by their next event
// time; At callbacks sit in a second heap ordered by (time, scheduling
// order). Step picks the earliest time t, sets Now to t, then repeats until
// nothing more happens at t:
//
//  1. deliver every pipe frame arriving at or before t (calling sinks, which
//     typically hand the frame to a stack), and note every node due by t;
//  2. fire every At callback due by t, in scheduling order, then re-read
//     every node's deadline (a callback may have given a node work);
//  3. poll every node that is due or received a frame in step 1 (the
//     pipe's receiver, or every node for a pipe without one), then re-read
//     its deadline.
//
// Frames transmitted during a sink, callback or poll at t enter their pipe
// at t, so a zero-delay, infinite-rate pipe delivers within the same
// instant. A node whose deadline stays at or before t keeps being polled;
// after MaxIterations rounds at one instant the network stops with an error
// (see Err) instead of spinning forever.
//
// A node's deadline is cached: it is re-read after each of its polls, after
// At callbacks, on entry to Step, RunUntil and RunWhile (so work given to a
// node between runs is seen), and on Wake. Code that gives a node work from
// inside another node's Poll must call Wake.
//
// Within a single pipe, frames with equal delay arrive in send order. Across
// pipes, frames arriving at the same instant are delivered in an arbitrary
// but deterministic order.
package sim

import (
	"fmt"

	"github.com/ustack/ustack/clock"
)

// Node is anything the scheduler drives: a host (ip stack + tcp + apps), or
// a test dummy.
type Node interface {
	Poll(now clock.Time)      // run everything due at now (timers, output)
	NextDeadline() clock.Time // when it next wants Poll; clock.Never if idle
}

// DefaultMaxIterations bounds the scheduling rounds at one instant.
const DefaultMaxIterations = 1_000_000

// entity is a pipe or a node in the scheduler heap.
type entity struct {
	when clock.Time
	idx  int
	pipe *Pipe
	node *nodeState
}

type nodeState struct {
	node  Node
	ent   entity
	dirty bool
}

type atEntry struct {
	t   clock.Time
	seq uint64
	f   func(now clock.Time)
}

// Network is a simulated network: a virtual clock, a set of nodes and a set
// of pipes. It is not safe for concurrent use.
type Network struct {
	now  clock.Time
	seed uint64

	heap      []*entity
	nodes     []*nodeState
	dirty     []*nodeState
	pollAll   bool
	at        []atEntry
	atSeq     uint64
	npipes    int
	pool      bufPool
	work      int // deliveries at the current instant, for the livelock guard
	workLimit int
	err       error

	// MaxIterations bounds the scheduling rounds at one instant (default
	// DefaultMaxIterations); exceeding it stops the network with an error.
	MaxIterations int
}

// NewNetwork returns an empty network at time 0.
func NewNetwork(seed uint64) *Network {
	return &Network{seed: seed, MaxIterations: DefaultMaxIterations}
}

// Seed returns the network seed.
func (n *Network) Seed() uint64 { return n.seed }

// Now returns the current virtual time.
func (n *Network) Now() clock.Time { return n.now }

// Err returns the error that stopped the network (a livelock at one
// instant), or nil. Once set, Step, RunUntil and RunWhile do nothing.
func (n *Network) Err() error { return n.err }

// AddNode adds a node to be polled. Adding a node twice has no effect.
func (n *Network) AddNode(node Node) { n.state(node) }

// state returns the scheduler state of node, adding it if needed.
func (n *Network) state(node Node) *nodeState {
	for _, ns := range n.nodes {
		if ns.node == node {
			return ns
		}
	}
	ns := &nodeState{node: node}
	ns.ent = entity{when: node.NextDeadline(), node: ns}
	n.nodes = append(n.nodes, ns)
	n.push(&ns.ent)
	return ns
}

// Wake makes node be polled at the current instant (adding it if needed).
// Use it when code outside the node gives it work while the network runs.
func (n *Network) Wake(node Node) {
	ns := n.state(node)
	n.markDirty(ns)
	n.fix(&ns.ent, n.now)
}

// At schedules f to run at time t (at the current instant if t is in the
// past). Callbacks due at the same instant run in the order they were
// scheduled, after that instant's pipe deliveries and before its polls.
func (n *Network) At(t clock.Time, f func(now clock.Time)) {
	e := atEntry{t: t, seq: n.atSeq, f: f}
	n.atSeq++
	h := append(n.at, e)
	i := len(h) - 1
	for i > 0 {
		j := (i - 1) / 2
		if !atBefore(&h[i], &h[j]) {
			break
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
	n.at = h
}

func atBefore(a, b *atEntry) bool {
	return a.t < b.t || (a.t == b.t && a.seq < b.seq)
}

func (n *Network) popAt() atEntry {
	h := n.at
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h[last] = atEntry{}
	h = h[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= last {
			break
		}
		m := l
		if r := l + 1; r < last && atBefore(&h[r], &h[l]) {
			m = r
		}
		if !atBefore(&h[m], &h[i]) {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	n.at = h
	return top
}

// Next returns the time of the next event, or clock.Never if there is none.
// It may be before Now if a node is overdue.
func (n *Network) Next() clock.Time {
	t := clock.Never
	if len(n.heap) > 0 {
		t = n.heap[0].when
	}
	if len(n.at) > 0 && n.at[0].t < t {
		t = n.at[0].t
	}
	return t
}

// Step processes the next event instant (everything that happens at it).
// It returns false if there was nothing left to do or the network stopped
// with an error.
func (n *Network) Step() bool {
	if n.err != nil {
		return false
	}
	n.refresh()
	if n.Next() == clock.Never {
		return false
	}
	n.step()
	return n.err == nil
}

// RunUntil processes every event at or before t, then sets the clock to t
// (if it is not already later).
func (n *Network) RunUntil(t clock.Time) {
	if n.err != nil {
		return
	}
	n.refresh()
	for {
		next := n.Next()
		if next > t || next == clock.Never {
			break
		}
		n.step()
		if n.err != nil {
			return
		}
	}
	if n.now < t {
		n.now = t
	}
}

// RunWhile processes event instants while cond() holds and the next event
// is at or before limit. It reports whether cond became false. If it stops
// because of the limit, the clock is set to limit (when limit is not
// clock.Never).
func (n *Network) RunWhile(cond func() bool, limit clock.Time) bool {
	if n.err != nil {
		return !cond()
	}
	n.refresh()
	for cond() {
		if next := n.Next(); next > limit || next == clock.Never {
			if limit != clock.Never && n.now < limit {
				n.now = limit
			}
			return false
		}
		n.step()
		if n.err != nil {
			return !cond()
		}
	}
	return true
}

// refresh re-reads every node's deadline.
func (n *Network) refresh() {
	for _, ns := range n.nodes {
		if !ns.dirty {
			n.fix(&ns.ent, ns.node.NextDeadline())
		}
	}
}

func (n *Network) markDirty(ns *nodeState) {
	if !ns.dirty {
		ns.dirty = true
		n.dirty = append(n.dirty, ns)
	}
}

func (n *Network) step() {
	t := n.Next()
	if t < n.now {
		t = n.now
	}
	n.now = t
	n.work = 0
	maxIter := n.MaxIterations
	if maxIter <= 0 {
		maxIter = DefaultMaxIterations
	}
	n.workLimit = 64 * maxIter
	for iter := 0; ; iter++ {
		if iter >= maxIter || n.work >= n.workLimit {
			n.err = fmt.Errorf("sim: livelock at %v: more than %d scheduling rounds or %d deliveries at one instant (seed %d)%s",
				t, maxIter, 64*maxIter, n.seed, n.describeDue(t))
			return
		}
		active := false

		// 1. Pipe deliveries; due nodes are noted.
		for len(n.heap) > 0 && n.heap[0].when <= t {
			active = true
			e := n.heap[0]
			if e.pipe != nil {
				e.pipe.deliver(t)
				if n.work >= n.workLimit {
					break // a pipe feeding itself at this instant
				}
			} else {
				n.fix(e, clock.Never)
				n.markDirty(e.node)
			}
		}

		// 2. At callbacks, then every node's deadline is re-read.
		if len(n.at) > 0 && n.at[0].t <= t {
			active = true
			for len(n.at) > 0 && n.at[0].t <= t {
				a := n.popAt()
				a.f(t)
			}
			for _, ns := range n.nodes {
				if ns.dirty {
					continue
				}
				if d := ns.node.NextDeadline(); d <= t {
					n.fix(&ns.ent, clock.Never)
					n.markDirty(ns)
				} else {
					n.fix(&ns.ent, d)
				}
			}
		}

		// 3. Polls.
		if n.pollAll {
			n.pollAll = false
			for _, ns := range n.nodes {
				n.markDirty(ns)
			}
		}
		for i := 0; i < len(n.dirty); i++ {
			active = true
			ns := n.dirty[i]
			n.dirty[i] = nil
			ns.dirty = false
			ns.node.Poll(t)
			n.fix(&ns.ent, ns.node.NextDeadline())
		}
		n.dirty = n.dirty[:0]

		if !active {
			return
		}
	}
}

// describeDue names what is still due at t, for the livelock error.
func (n *Network) describeDue(t clock.Time) string {
	s := ""
	for i, ns := range n.nodes {
		if ns.dirty || ns.ent.when <= t {
			s += fmt.Sprintf("; node %d (%T) due", i, ns.node)
		}
	}
	for _, e := range n.heap {
		if e.pipe != nil && e.when <= t {
			s += fmt.Sprintf("; pipe %v has frames due", e.pipe)
		}
	}
	return s
}

// Scheduler heap of entities keyed by when.

func (n *Network) push(e *entity) {
	e.idx = len(n.heap)
	n.heap = append(n.heap, e)
	n.up(e.idx)
}

// fix sets e's time and restores the heap order.
func (n *Network) fix(e *entity, when clock.Time) {
	old := e.when
	if when == old {
		return
	}
	e.when = when
	if when < old {
		n.up(e.idx)
	} else {
		n.down(e.idx)
	}
}

func (n *Network) up(i int) {
	h := n.heap
	e := h[i]
	for i > 0 {
		j := (i - 1) / 2
		if h[j].when <= e.when {
			break
		}
		h[i] = h[j]
		h[i].idx = i
		i = j
	}
	h[i] = e
	e.idx = i
}

func (n *Network) down(i int) {
	h := n.heap
	e := h[i]
	k := len(h)
	for {
		l := 2*i + 1
		if l >= k {
			break
		}
		m := l
		if r := l + 1; r < k && h[r].when < h[l].when {
			m = r
		}
		if h[m].when >= e.when {
			break
		}
		h[i] = h[m]
		h[i].idx = i
		i = m
	}
	h[i] = e
	e.idx = i
}
