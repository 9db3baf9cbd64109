// DryRun renders a Plan as the commands an administrator would type to make
// the same changes, in the order Apply makes them: the nftables ruleset as an
// `nft -f` script (generated from the very terms Apply sends, see rules.go),
// then ip(8) commands for the TAP, then sysctl(8) commands. Nothing on the
// host is read or changed, so values that depend on the host are shown as
// "<current>".
package hostsetup

import (
	"fmt"
	"strings"
)

// DryRun describes the changes Apply(p) would make, without touching the
// host. An invalid plan yields its validation errors as comments.
func DryRun(p Plan) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# ustack host setup for instance %q (dry run: nothing was changed)\n", p.Instance)
	if err := p.Validate(); err != nil {
		for l := range strings.SplitSeq(err.Error(), "\n") {
			fmt.Fprintf(&b, "# error: %s\n", l)
		}
		return b.String()
	}
	changes, _ := p.sysctlChanges(false)
	var records []string
	for _, c := range changes {
		records = append(records, c.record())
	}
	b.WriteString("nft -f - <<'EOF'\n")
	b.WriteString(nftText(p.tables(records)))
	b.WriteString("EOF\n")

	if t := p.TAP; t != nil {
		if t.Create {
			fmt.Fprintf(&b, "ip tuntap add dev %s mode tap", t.Name)
			if t.Owner >= 0 {
				fmt.Fprintf(&b, " user %d", t.Owner)
			}
			if t.Group >= 0 {
				fmt.Fprintf(&b, " group %d", t.Group)
			}
			if t.MultiQueue {
				b.WriteString(" multi_queue")
			}
			b.WriteString("\n")
			fmt.Fprintf(&b, "ip link set dev %s alias %s\n", t.Name, Tag(p.Instance))
			if t.MTU != 0 {
				fmt.Fprintf(&b, "ip link set dev %s mtu %d\n", t.Name, t.MTU)
			}
			for _, a := range t.HostAddrs {
				nodad := ""
				if a.Addr().Is6() {
					nodad = " nodad"
				}
				fmt.Fprintf(&b, "ip address add %v dev %s%s\n", a, t.Name, nodad)
			}
			fmt.Fprintf(&b, "ip link set dev %s up\n", t.Name)
		} else {
			fmt.Fprintf(&b, "# use existing tap %s (not created, not removed)\n", t.Name)
		}
	}
	for _, c := range changes {
		if c.isAdd() {
			fmt.Fprintf(&b, "sysctl -w %s=<current>,%v\n", c.key, c.add)
		} else {
			fmt.Fprintf(&b, "sysctl -w %s=%s\n", c.key, c.new)
		}
	}
	fmt.Fprintf(&b, "# undo: restore the sysctls recorded in table inet %s chain state, ip link del on links with alias %s, nft delete table on every %s\n",
		TableName(p.Instance), Tag(p.Instance), TableName(p.Instance))
	return b.String()
}
