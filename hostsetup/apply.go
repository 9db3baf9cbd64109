// Apply, Teardown and Cleanup. The order of Apply is chosen so that a crash
// at any point leaves only things Cleanup can find by the instance tag:
//
//  1. validate the plan and check the host (no changes yet);
//  2. read the sysctls to change;
//  3. one atomic nftables batch: all tables, chains and rules, plus the
//     state records of the sysctl changes about to be made;
//  4. create and tag the TAP, set MTU and addresses, bring it up;
//  5. write the sysctls.
//
// Teardown is Cleanup of the instance: restore recorded sysctls, delete
// tagged links, delete the instance's tables. On a failure in steps 3-5
// Apply runs the same undo before returning.
package hostsetup

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"syscall"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Applied is the result of a successful Apply.
type Applied struct {
	Instance string
	// Changes describes, one line each, what Apply did.
	Changes []string
	done    bool
}

// failpoint lets tests make a step fail, to exercise rollback.
var failpoint func(step string) error

func fail(step string) error {
	if failpoint != nil {
		return failpoint(step)
	}
	return nil
}

// sysErr turns an error from the kernel into one line, naming the usual
// cause for permission errors.
func sysErr(op string, err error) error {
	switch {
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
		return fmt.Errorf("%s: needs root or CAP_NET_ADMIN (%v)", op, syscall.EPERM)
	case errors.Is(err, syscall.EPROTONOSUPPORT), errors.Is(err, syscall.EAFNOSUPPORT):
		return fmt.Errorf("%s: not supported by this kernel or container (%v)", op, err)
	}
	return fmt.Errorf("%s: %s", op, strings.ReplaceAll(err.Error(), "\n", "; "))
}

// host holds netlink and nftables connections. Their sockets are opened on
// the calling thread, hence in its network namespace.
type host struct {
	nl  *netlink.Handle
	nft *nftables.Conn
}

func openHost() (*host, error) {
	nl, err := netlink.NewHandle()
	if err != nil {
		return nil, sysErr("open rtnetlink", err)
	}
	nft, err := nftables.New()
	if err != nil {
		nl.Close()
		return nil, sysErr("open nftables", err)
	}
	return &host{nl: nl, nft: nft}, nil
}

func (h *host) close() { h.nl.Close() }

func (h *host) link(name string) (netlink.Link, error) {
	l, err := h.nl.LinkByName(name)
	if err == nil {
		return l, nil
	}
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) || errors.Is(err, syscall.ENODEV) {
		return nil, nil
	}
	return nil, sysErr("look up interface "+name, err)
}

func (h *host) needLink(what, name string) error {
	l, err := h.link(name)
	if err == nil && l == nil {
		err = fmt.Errorf("%s interface %s not found", what, name)
	}
	return err
}

// ourTables lists the instance's tables in every family.
func (h *host) ourTables(instance string) ([]*nftables.Table, error) {
	all, err := h.nft.ListTables()
	if err != nil {
		return nil, sysErr("list nftables tables", err)
	}
	var out []*nftables.Table
	for _, t := range all {
		if t.Name == TableName(instance) {
			out = append(out, t)
		}
	}
	return out, nil
}

// ourLinks lists links tagged with the instance.
func (h *host) ourLinks(instance string) ([]netlink.Link, error) {
	var links []netlink.Link
	var err error
	for range 3 {
		if links, err = h.nl.LinkList(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return nil, sysErr("list links", err)
	}
	var out []netlink.Link
	for _, l := range links {
		if l.Attrs().Alias == Tag(instance) {
			out = append(out, l)
		}
	}
	return out, nil
}

// preflight checks the host for everything Apply needs, changing nothing.
func (h *host) preflight(p *Plan) error {
	if p.DNATInterface != "" {
		if err := h.needLink("dnat", p.DNATInterface); err != nil {
			return err
		}
	}
	if p.Raw != nil {
		if err := h.needLink("raw", p.Raw.Interface); err != nil {
			return err
		}
	}
	if t := p.TAP; t != nil {
		l, err := h.link(t.Name)
		switch {
		case err != nil:
			return err
		case l != nil && t.Create && l.Attrs().Alias == Tag(p.Instance):
			return fmt.Errorf("tap %s is left over from an earlier run of instance %q: run cleanup first", t.Name, p.Instance)
		case l != nil && t.Create:
			return fmt.Errorf("tap %s already exists and is not ours (alias %q): remove it, pick another name, or use it without create", t.Name, l.Attrs().Alias)
		case l == nil && !t.Create:
			return fmt.Errorf("tap %s not found: create it or let ustack create it", t.Name)
		case l != nil && l.Type() != "tuntap":
			return fmt.Errorf("interface %s is a %s link, not a tap", t.Name, l.Type())
		}
	}
	tables, err := h.ourTables(p.Instance)
	if err != nil {
		return err
	}
	if len(tables) > 0 {
		return fmt.Errorf("nftables table %s %s already exists: instance %q is running, or a crash left it behind: run cleanup first",
			familyName(tables[0].Family), tables[0].Name, p.Instance)
	}
	links, err := h.ourLinks(p.Instance)
	if err != nil {
		return err
	}
	if len(links) > 0 {
		return fmt.Errorf("link %s is tagged %s from an earlier run: run cleanup first", links[0].Attrs().Name, Tag(p.Instance))
	}
	return nil
}

// Apply makes the changes of p in the calling thread's network namespace.
// On failure nothing of the instance is left behind (rollback errors, if
// any, are appended to the error).
func Apply(p Plan) (*Applied, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	h, err := openHost()
	if err != nil {
		return nil, err
	}
	defer h.close()
	if err := h.preflight(&p); err != nil {
		return nil, err
	}
	changes, err := p.sysctlChanges(true)
	if err != nil {
		return nil, err
	}
	a := &Applied{Instance: p.Instance}
	if err := a.apply(h, &p, changes); err != nil {
		// Fresh connections: h's nftables batch may still hold the rules.
		if _, rerr := Cleanup(p.Instance); rerr != nil {
			err = fmt.Errorf("%v; rollback: %v", err, rerr)
		}
		return nil, err
	}
	return a, nil
}

func (a *Applied) apply(h *host, p *Plan, changes []sysctlChange) error {
	var records []string
	for _, c := range changes {
		records = append(records, c.record())
	}
	tables := p.tables(records)
	queue(h.nft, tables)
	if err := fail("nft"); err != nil {
		return err
	}
	if err := h.nft.Flush(); err != nil {
		return sysErr("install nftables rules", err)
	}
	for _, t := range tables {
		a.Changes = append(a.Changes, fmt.Sprintf("added nftables table %s %s", familyName(t.family), t.name))
	}

	if t := p.TAP; t != nil && t.Create {
		if err := createTAP(t); err != nil {
			return err
		}
		a.Changes = append(a.Changes, "created tap "+t.Name)
		if err := a.setupTAP(h, p.Instance, t); err != nil {
			// The link is not tagged yet if the alias failed: delete it here.
			if l, _ := h.link(t.Name); l != nil && l.Attrs().Alias != Tag(p.Instance) {
				h.nl.LinkDel(l)
			}
			return err
		}
	}

	if err := fail("sysctl"); err != nil {
		return err
	}
	for _, c := range changes {
		if err := c.do(); err != nil {
			return err
		}
		if c.isAdd() {
			a.Changes = append(a.Changes, fmt.Sprintf("added %v to sysctl %s", c.add, c.key))
		} else {
			a.Changes = append(a.Changes, fmt.Sprintf("set sysctl %s=%s (was %s)", c.key, c.new, c.old))
		}
	}
	return nil
}

func (a *Applied) setupTAP(h *host, instance string, t *TAP) error {
	l, err := h.nl.LinkByName(t.Name)
	if err != nil {
		return sysErr("find new tap "+t.Name, err)
	}
	if err := h.nl.LinkSetAlias(l, Tag(instance)); err != nil {
		return sysErr("tag tap "+t.Name, err)
	}
	if err := fail("tap"); err != nil {
		return err
	}
	if t.MTU != 0 {
		if err := h.nl.LinkSetMTU(l, t.MTU); err != nil {
			return sysErr(fmt.Sprintf("set mtu %d on %s", t.MTU, t.Name), err)
		}
	}
	for _, pfx := range t.HostAddrs {
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: pfx.Addr().AsSlice(), Mask: net.CIDRMask(pfx.Bits(), pfx.Addr().BitLen())}}
		if pfx.Addr().Is6() {
			addr.Flags = unix.IFA_F_NODAD
		}
		if err := h.nl.AddrAdd(l, addr); err != nil {
			return sysErr(fmt.Sprintf("add address %v to %s", pfx, t.Name), err)
		}
		a.Changes = append(a.Changes, fmt.Sprintf("added address %v to %s", pfx, t.Name))
	}
	if err := h.nl.LinkSetUp(l); err != nil {
		return sysErr("bring up "+t.Name, err)
	}
	return nil
}

// Teardown undoes Apply. It is safe to call more than once.
func (a *Applied) Teardown() error {
	if a == nil || a.done {
		return nil
	}
	_, err := Cleanup(a.Instance)
	if err == nil {
		a.done = true
	}
	return err
}

// Cleanup removes everything tagged with instance in the calling thread's
// network namespace: it restores the sysctls recorded in the instance's
// state chain, deletes links with alias "ustack:<instance>", and deletes the
// instance's nftables tables. It works without any memory of the process
// that made them. It returns one line per thing undone.
func Cleanup(instance string) ([]string, error) {
	if err := validInstance(instance); err != nil {
		return nil, err
	}
	h, err := openHost()
	if err != nil {
		return nil, err
	}
	defer h.close()
	return cleanup(h, instance)
}

func cleanup(h *host, instance string) ([]string, error) {
	var done []string
	var errs []string
	tables, err := h.ourTables(instance)
	if err != nil {
		return nil, err
	}

	// 1. sysctls, newest record first.
	for _, t := range tables {
		if t.Family != nftables.TableFamilyINet {
			continue
		}
		rules, err := h.nft.GetRules(t, &nftables.Chain{Name: "state", Table: t})
		if err != nil && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, sysErr("read state chain", err).Error())
		}
		for _, r := range slices.Backward(rules) {
			c, ok := userdata.GetString(r.UserData, userdata.TypeComment)
			if !ok {
				continue
			}
			s, ok := parseRecord(c)
			if !ok {
				continue
			}
			if err := s.undo(); err != nil {
				errs = append(errs, err.Error())
				continue
			}
			done = append(done, "undid "+strings.TrimPrefix(c, recordPrefix))
		}
	}

	// 2. links.
	links, err := h.ourLinks(instance)
	if err != nil {
		errs = append(errs, err.Error())
	}
	for _, l := range links {
		if err := h.nl.LinkDel(l); err != nil && !errors.Is(err, syscall.ENODEV) {
			errs = append(errs, sysErr("delete link "+l.Attrs().Name, err).Error())
			continue
		}
		done = append(done, "deleted link "+l.Attrs().Name)
	}

	// 3. tables, in one batch.
	for _, t := range tables {
		h.nft.DelTable(t)
	}
	if len(tables) > 0 {
		if err := h.nft.Flush(); err != nil {
			errs = append(errs, sysErr("delete nftables tables", err).Error())
		} else {
			for _, t := range tables {
				done = append(done, fmt.Sprintf("deleted nftables table %s %s", familyName(t.Family), t.Name))
			}
		}
	}
	if len(errs) > 0 {
		return done, errors.New(strings.Join(errs, "; "))
	}
	return done, nil
}
