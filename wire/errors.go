// Package wire implements the on-the-wire formats used by ustack: Ethernet,
// ARP, IPv4, IPv6 (plus extension-header skipping), ICMPv4, ICMPv6/NDP and
// TCP, together with the Internet checksum.
//
// Model (smoltcp-like): every protocol has a plain value struct (the "repr")
// and a Parse function that fills it from a byte slice, plus an Encode method
// that writes it back. Parsers never panic and never trust a length field:
// every slice expression is preceded by an explicit bounds check, and any
// inconsistency is reported as one of the sentinel errors below so that
// callers can count drops by reason. Payload slices returned by parsers alias
// the input buffer; nothing is copied and nothing is allocated on the fast
// path. Encode methods assume the caller has provided a large enough buffer
// (use the Len methods / header-length constants).
//
// The package is layer 0 of ustack: it imports nothing from the project.
package wire

import "errors"

// Sentinel errors returned by the parsers. Compare with == or errors.Is.
var (
	// ErrTruncated: the buffer is shorter than the fixed header (or than a
	// structure the header says is present).
	ErrTruncated = errors.New("wire: truncated packet")
	// ErrBadChecksum: a verified checksum did not match.
	ErrBadChecksum = errors.New("wire: bad checksum")
	// ErrBadVersion: IP version field does not match the parser.
	ErrBadVersion = errors.New("wire: bad IP version")
	// ErrBadLength: a length field is impossible (too small, or larger than
	// the data actually present).
	ErrBadLength = errors.New("wire: bad length field")
	// ErrBadOption: a TCP or NDP option is malformed (zero length, runs
	// past the end, or has the wrong size for its kind).
	ErrBadOption = errors.New("wire: malformed option")
	// ErrFragment: an IPv6 fragment header was found; reassembly is not
	// supported by SkipIPv6ExtensionHeaders.
	ErrFragment = errors.New("wire: IPv6 fragment")
	// ErrUnsupported: a well-formed packet of a variant ustack does not
	// handle (e.g. ARP for a non-Ethernet/IPv4 pair).
	ErrUnsupported = errors.New("wire: unsupported packet variant")
)
