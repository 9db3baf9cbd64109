// Package cc holds ustack's congestion-control algorithms. It sits above
// package tcp, which defines the contract (tcp.CongestionControl and
// friends, in tcp/cc.go), and registers each algorithm by name in its init
// functions, so a program selects one with tcp.NewCongestionControl("cubic")
// after importing this package (usually for its side effect).
//
// # Model
//
// The TCP core owns loss detection, recovery and the ACK clock. On every
// ACK it fills a tcp.CCState (time, MSS, RTT estimates, bytes in flight,
// the loss-recovery state, whether the window was fully used, whether this
// ACK starts a new round trip) and a tcp.RateSample, and hands them to the
// connection's algorithm. All windows and counters are in bytes; rates are
// in bytes per second.
//
// Two styles of algorithm live here, mirroring Linux's tcp_congestion_ops:
//
//   - classic, loss-based algorithms (Reno, CUBIC) implement SsThresh and
//     CongAvoid. On a loss the core asks for the new slow-start threshold,
//     then paces the window down towards it with PRR (RFC 6937) while it
//     recovers; CongAvoid is called only outside recovery and only grows
//     the window. They grow only while the window is the limiting factor
//     (CCState.CwndLimited, Linux's tcp_is_cwnd_limited), so an
//     application-limited sender cannot inflate a window it never used.
//     Both implement tcp.Undoer (restore the pre-loss state when a loss turns
//     out to be spurious) and tcp.Reporter (Mode is "slow_start", "css",
//     "cong_avoid" or "recovery").
//   - model-based algorithms (BBR) additionally implement tcp.Controller and
//     own cwnd and the pacing rate in every state.
//
// Reno (reno.go) is RFC 5681 with RFC 3465 byte counting, as Linux's
// tcp_reno_cong_avoid. CUBIC (cubic.go) is RFC 9438 as Linux's tcp_cubic.c
// computes it, with HyStart++ (RFC 9406, hystart.go) ending the initial slow
// start on a rise in round-trip delay instead of on loss.
package cc
