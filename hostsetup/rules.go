// Firewall model: the Plan is turned into a list of nftables tables, each
// with chains and rules, where every rule is a sequence of terms. A term
// carries both its nft-syntax text and the netlink expressions that
// implement it, so DryRun prints exactly what Apply sends to the kernel and
// the two cannot drift apart.
//
// Layout for instance X (only the parts the plan needs):
//
//	table inet ustack-X   chain state     (regular; comments record sysctls)
//	                      chain guard-in  (filter prerouting, priority raw -300)
//	                      chain guard-out (filter output, priority raw -300)
//	table ip ustack-X     chain dnat      (nat prerouting -100), chain snat (nat postrouting 100)
//	table ip6 ustack-X    the same for IPv6 targets
//
// The raw-mode guard runs before conntrack (-200): packets for the stack's
// ports that arrive on the shared interface are dropped before the kernel
// looks at them, while AF_PACKET, which taps the device before netfilter,
// still receives them. Kernel-originated RSTs from those ports are dropped on
// output as a second guard (the stack's own frames leave through AF_PACKET
// and never traverse the output hook).
package hostsetup

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

type term struct {
	text  string
	exprs []expr.Any
}

type nftRule struct {
	terms   []term
	comment string
}

type nftChain struct {
	name string
	// base chain only: type, hook, priority (nil hook = regular chain)
	ctype    nftables.ChainType
	hook     *nftables.ChainHook
	hookName string
	prio     int32
	rules    []nftRule
}

type nftTable struct {
	family nftables.TableFamily
	name   string
	chains []*nftChain
}

func familyName(f nftables.TableFamily) string {
	switch f {
	case nftables.TableFamilyINet:
		return "inet"
	case nftables.TableFamilyIPv4:
		return "ip"
	case nftables.TableFamilyIPv6:
		return "ip6"
	}
	return fmt.Sprintf("family%d", f)
}

// ifnameBytes pads an interface name as the kernel compares it.
func ifnameBytes(s string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, s)
	return b
}

func iifname(name string) term {
	return term{fmt.Sprintf("iifname %q", name), []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifnameBytes(name)},
	}}
}

func oifname(name string, neq bool) term {
	op, txt := expr.CmpOpEq, ""
	if neq {
		op, txt = expr.CmpOpNeq, "!= "
	}
	return term{fmt.Sprintf("oifname %s%q", txt, name), []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: op, Register: 1, Data: ifnameBytes(name)},
	}}
}

// addrMatch matches the source or destination address. In an inet table it
// first checks the protocol family, as nft does implicitly.
func addrMatch(fam nftables.TableFamily, dst bool, a netip.Addr) term {
	var ex []expr.Any
	proto, nfproto, off := "ip", byte(unix.NFPROTO_IPV4), uint32(12)
	if a.Is6() {
		proto, nfproto, off = "ip6", byte(unix.NFPROTO_IPV6), 8
	}
	dir := "saddr"
	if dst {
		dir = "daddr"
		off += uint32(a.BitLen() / 8)
	}
	if fam == nftables.TableFamilyINet {
		ex = append(ex,
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{nfproto}})
	}
	ex = append(ex,
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: uint32(a.BitLen() / 8)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a.AsSlice()})
	return term{fmt.Sprintf("%s %s %s", proto, dir, a), ex}
}

// tcpPort matches the TCP destination (or source) port range; it includes
// the "meta l4proto tcp" dependency nft adds implicitly.
func tcpPort(dst bool, r PortRange) term {
	off, dir := uint32(0), "sport"
	if dst {
		off, dir = 2, "dport"
	}
	ex := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 2},
	}
	if r.First == r.Last {
		ex = append(ex, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(r.First)})
	} else {
		ex = append(ex, &expr.Range{Op: expr.CmpOpEq, Register: 1,
			FromData: binaryutil.BigEndian.PutUint16(r.First), ToData: binaryutil.BigEndian.PutUint16(r.Last)})
	}
	return term{fmt.Sprintf("tcp %s %v", dir, r), ex}
}

func tcpRST() term {
	return term{"tcp flags & rst != 0", []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 13, Len: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 1, Mask: []byte{0x04}, Xor: []byte{0}},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{0}},
	}}
}

func counter() term { return term{"counter", []expr.Any{&expr.Counter{}}} }

func drop() term {
	return term{"drop", []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}}}
}

func dnatTo(a netip.Addr) term {
	fam := uint32(unix.NFPROTO_IPV4)
	if a.Is6() {
		fam = unix.NFPROTO_IPV6
	}
	return term{fmt.Sprintf("dnat to %s", a), []expr.Any{
		&expr.Immediate{Register: 1, Data: a.AsSlice()},
		// No Specified (NF_NAT_RANGE_PROTO_SPECIFIED): without port
		// registers it would rewrite the destination port to 0.
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: fam, RegAddrMin: 1},
	}}
}

func masquerade() term { return term{"masquerade", []expr.Any{&expr.Masq{}}} }

func rule(comment string, terms ...term) nftRule { return nftRule{terms: terms, comment: comment} }

// stateRule is a rule in the never-evaluated state chain whose only job is
// to carry a comment.
func stateRule(comment string) nftRule { return rule(comment, counter()) }

// tables builds the firewall for p. records are the state-chain comments.
func (p *Plan) tables(records []string) []*nftTable {
	name := TableName(p.Instance)
	inet := &nftTable{family: nftables.TableFamilyINet, name: name}
	state := &nftChain{name: "state"}
	for _, r := range records {
		state.rules = append(state.rules, stateRule(r))
	}
	inet.chains = append(inet.chains, state)
	out := []*nftTable{inet}

	if r := p.Raw; r != nil {
		ports := append([]PortRange(nil), r.ListenPorts...)
		if r.EphemeralPorts.valid() {
			ports = append(ports, r.EphemeralPorts)
		}
		addrs := r.Addrs
		if len(addrs) == 0 {
			addrs = []netip.Addr{{}}
		}
		in := &nftChain{name: "guard-in", ctype: nftables.ChainTypeFilter,
			hook: nftables.ChainHookPrerouting, hookName: "prerouting", prio: -300}
		outc := &nftChain{name: "guard-out", ctype: nftables.ChainTypeFilter,
			hook: nftables.ChainHookOutput, hookName: "output", prio: -300}
		for _, a := range addrs {
			for _, pr := range ports {
				it := []term{iifname(r.Interface)}
				ot := []term{oifname(r.Interface, false)}
				if a.IsValid() {
					it = append(it, addrMatch(inet.family, true, a))
					ot = append(ot, addrMatch(inet.family, false, a))
				}
				it = append(it, tcpPort(true, pr), counter(), drop())
				ot = append(ot, tcpPort(false, pr), tcpRST(), counter(), drop())
				in.rules = append(in.rules, rule("", it...))
				outc.rules = append(outc.rules, rule("", ot...))
			}
		}
		inet.chains = append(inet.chains, in, outc)
	}

	for _, fam := range []nftables.TableFamily{nftables.TableFamilyIPv4, nftables.TableFamilyIPv6} {
		is4 := fam == nftables.TableFamilyIPv4
		dnat := &nftChain{name: "dnat", ctype: nftables.ChainTypeNAT,
			hook: nftables.ChainHookPrerouting, hookName: "prerouting", prio: -100}
		snat := &nftChain{name: "snat", ctype: nftables.ChainTypeNAT,
			hook: nftables.ChainHookPostrouting, hookName: "postrouting", prio: 100}
		for _, d := range p.DNAT {
			if d.To.Is4() != is4 {
				continue
			}
			var ts []term
			if p.DNATInterface != "" {
				ts = append(ts, iifname(p.DNATInterface))
			}
			ts = append(ts, tcpPort(true, d.Ports), counter(), dnatTo(d.To))
			dnat.rules = append(dnat.rules, rule("", ts...))
		}
		for _, a := range p.Masquerade {
			if a.Is4() != is4 {
				continue
			}
			ts := []term{addrMatch(fam, false, a)}
			if p.TAP != nil {
				ts = append(ts, oifname(p.TAP.Name, true))
			}
			ts = append(ts, counter(), masquerade())
			snat.rules = append(snat.rules, rule("", ts...))
		}
		t := &nftTable{family: fam, name: name}
		for _, c := range []*nftChain{dnat, snat} {
			if len(c.rules) > 0 {
				t.chains = append(t.chains, c)
			}
		}
		if len(t.chains) > 0 {
			out = append(out, t)
		}
	}
	return out
}

// text renders tables in nft -f syntax.
func nftText(ts []*nftTable) string {
	var b strings.Builder
	for _, t := range ts {
		fmt.Fprintf(&b, "table %s %s {\n", familyName(t.family), t.name)
		for i, c := range t.chains {
			if i > 0 {
				b.WriteString("\n")
			}
			fmt.Fprintf(&b, "\tchain %s {\n", c.name)
			if c.hook != nil {
				fmt.Fprintf(&b, "\t\ttype %s hook %s priority %d; policy accept;\n", c.ctype, c.hookName, c.prio)
			}
			for _, r := range c.rules {
				b.WriteString("\t\t")
				for j, t := range r.terms {
					if j > 0 {
						b.WriteString(" ")
					}
					b.WriteString(t.text)
				}
				if r.comment != "" {
					fmt.Fprintf(&b, " comment %q", r.comment)
				}
				b.WriteString("\n")
			}
			b.WriteString("\t}\n")
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// queue adds tables to the conn's pending batch (sent by Flush).
func queue(c *nftables.Conn, ts []*nftTable) {
	for _, t := range ts {
		nt := c.CreateTable(&nftables.Table{Family: t.family, Name: t.name})
		for _, ch := range t.chains {
			nc := &nftables.Chain{Name: ch.name, Table: nt}
			if ch.hook != nil {
				accept := nftables.ChainPolicyAccept
				nc.Type, nc.Hooknum, nc.Priority, nc.Policy = ch.ctype, ch.hook, nftables.ChainPriorityRef(nftables.ChainPriority(ch.prio)), &accept
			}
			nc = c.AddChain(nc)
			for _, r := range ch.rules {
				var ex []expr.Any
				for _, t := range r.terms {
					ex = append(ex, t.exprs...)
				}
				nr := &nftables.Rule{Table: nt, Chain: nc, Exprs: ex}
				if r.comment != "" {
					nr.UserData = userdata.AppendString(nil, userdata.TypeComment, r.comment)
				}
				c.AddRule(nr)
			}
		}
	}
}
