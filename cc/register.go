package cc

// Registration of the classic algorithms with the TCP core's registry. BBR
// registers itself ("bbr") from its own file's init, so that each algorithm's
// registration lives with its code.

import "github.com/ustack/ustack/tcp"

func init() {
	tcp.RegisterCongestionControl("reno", func() tcp.CongestionControl { return NewReno() })
	tcp.RegisterCongestionControl("cubic", func() tcp.CongestionControl { return NewCubic() })
}
