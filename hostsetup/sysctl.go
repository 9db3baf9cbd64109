// Sysctl model: ustack changes at most three host sysctls, each in a way it
// can take back without knowing what else happened meanwhile.
//
//   - net.ipv4.ip_forward, net.ipv6.conf.all.forwarding: set to 1; on exit
//     set back to the old value, but only if the value is still the 1 we
//     wrote (someone who changed it since wins).
//   - net.ipv4.ip_local_reserved_ports: our ephemeral range is added to the
//     list; on exit exactly that range is removed from whatever the list is
//     then, so other reservations survive.
//
// A change is recorded as a one-line comment ("ustack sysctl KEY old=A
// new=B" or "ustack sysctl KEY add=RANGE") in the state chain before it is
// made, so Cleanup can undo it after a crash. Only these keys are ever read
// back from a record: a forged comment cannot make ustack write elsewhere.
package hostsetup

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

const (
	keyForward4 = "net.ipv4.ip_forward"
	keyForward6 = "net.ipv6.conf.all.forwarding"
	keyReserved = "net.ipv4.ip_local_reserved_ports"
)

const recordPrefix = "ustack sysctl "

// sysctlChange is one planned or made change.
type sysctlChange struct {
	key string
	// set: old and new value; add: a port range added to a list.
	old, new string
	add      PortRange
}

func (s sysctlChange) isAdd() bool { return s.add.valid() }

func (s sysctlChange) record() string {
	if s.isAdd() {
		return fmt.Sprintf("%s%s add=%v", recordPrefix, s.key, s.add)
	}
	return fmt.Sprintf("%s%s old=%s new=%s", recordPrefix, s.key, s.old, s.new)
}

// parseRecord reads a state comment back; ok is false for anything else.
func parseRecord(c string) (s sysctlChange, ok bool) {
	f := strings.Fields(strings.TrimPrefix(c, recordPrefix))
	if !strings.HasPrefix(c, recordPrefix) || len(f) < 2 {
		return s, false
	}
	s.key = f[0]
	switch s.key {
	case keyForward4, keyForward6:
		if len(f) != 3 || !strings.HasPrefix(f[1], "old=") || !strings.HasPrefix(f[2], "new=") {
			return s, false
		}
		s.old, s.new = f[1][4:], f[2][4:]
		return s, isBool(s.old) && isBool(s.new)
	case keyReserved:
		if len(f) != 2 || !strings.HasPrefix(f[1], "add=") {
			return s, false
		}
		r, err := parseRange(f[1][4:])
		s.add = r
		return s, err == nil && r.valid()
	}
	return s, false
}

func isBool(v string) bool { return v == "0" || v == "1" }

func sysctlPath(key string) string { return "/proc/sys/" + strings.ReplaceAll(key, ".", "/") }

func readSysctl(key string) (string, error) {
	b, err := os.ReadFile(sysctlPath(key))
	if err != nil {
		return "", sysErr("read sysctl "+key, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func writeSysctl(key, val string) error {
	if err := os.WriteFile(sysctlPath(key), []byte(val+"\n"), 0o644); err != nil {
		if errors.Is(err, syscall.EROFS) {
			return fmt.Errorf("write sysctl %s=%s: /proc/sys is read-only here (container?): set it on the host", key, val)
		}
		return sysErr(fmt.Sprintf("write sysctl %s=%s", key, val), err)
	}
	return nil
}

// sysctlChanges lists the changes p needs. With read false (DryRun) the
// current values are not read and old is "<current>".
func (p *Plan) sysctlChanges(read bool) ([]sysctlChange, error) {
	var out []sysctlChange
	for _, f := range []struct {
		on  bool
		key string
	}{{p.IPv4Forwarding, keyForward4}, {p.IPv6Forwarding, keyForward6}} {
		if !f.on {
			continue
		}
		old := "<current>"
		if read {
			v, err := readSysctl(f.key)
			if err != nil {
				return nil, err
			}
			if v == "1" {
				continue
			}
			old = v
		}
		out = append(out, sysctlChange{key: f.key, old: old, new: "1"})
	}
	if p.Raw != nil && p.Raw.EphemeralPorts.valid() {
		out = append(out, sysctlChange{key: keyReserved, add: p.Raw.EphemeralPorts})
	}
	return out, nil
}

// do makes the change.
func (s sysctlChange) do() error {
	if !s.isAdd() {
		return writeSysctl(s.key, s.new)
	}
	cur, err := readSysctl(s.key)
	if err != nil {
		return err
	}
	if cur != "" {
		cur += ","
	}
	return writeSysctl(s.key, cur+s.add.String())
}

// undo takes the change back (see the file comment for the rules).
func (s sysctlChange) undo() error {
	cur, err := readSysctl(s.key)
	if err != nil {
		return err
	}
	if !s.isAdd() {
		if cur != s.new {
			return nil
		}
		return writeSysctl(s.key, s.old)
	}
	ranges, err := parsePortList(cur)
	if err != nil {
		return fmt.Errorf("sysctl %s: %v", s.key, err)
	}
	var keep []string
	for _, r := range ranges {
		for _, piece := range subtract(r, s.add) {
			keep = append(keep, piece.String())
		}
	}
	next := strings.Join(keep, ",")
	if next == cur {
		return nil
	}
	return writeSysctl(s.key, next)
}

func parseRange(s string) (PortRange, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	a, err1 := strconv.ParseUint(lo, 10, 16)
	b := a
	var err2 error
	if isRange {
		b, err2 = strconv.ParseUint(hi, 10, 16)
	}
	r := PortRange{uint16(a), uint16(b)}
	if err1 != nil || err2 != nil || r.First > r.Last {
		return PortRange{}, fmt.Errorf("bad port range %q", s)
	}
	return r, nil
}

func parsePortList(s string) ([]PortRange, error) {
	var out []PortRange
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		r, err := parseRange(f)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// subtract returns r without the ports in x (zero, one or two pieces).
func subtract(r, x PortRange) []PortRange {
	if !r.Overlaps(x) {
		return []PortRange{r}
	}
	var out []PortRange
	if r.First < x.First {
		out = append(out, PortRange{r.First, x.First - 1})
	}
	if r.Last > x.Last {
		out = append(out, PortRange{x.Last + 1, r.Last})
	}
	return out
}
