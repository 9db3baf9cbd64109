// Host tests: each runs in a fresh, unnamed network namespace entered on a
// locked OS thread, so nothing outside it is touched and the kernel frees it
// (links, rules, per-namespace sysctls) when the test ends. They need root
// and skip otherwise. A watchdog bounds each test's time.
package hostsetup

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// inNetns runs fn in a new network namespace with a "public" link pub0.
func inNetns(t *testing.T, fn func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace, links and nftables rules")
	}
	// The thread stays locked: if switching back failed, the runtime
	// discards it when the test goroutine ends.
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Skipf("cannot read the current network namespace: %v", err)
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		t.Skipf("cannot create a network namespace: %v", err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			t.Errorf("return to original namespace: %v", err)
		}
		ns.Close()
	}()
	watchdog := time.AfterFunc(60*time.Second, func() { panic("hostsetup test exceeded 60s") })
	defer watchdog.Stop()

	// A dummy link is simplest; fall back to veth where dummy is missing.
	var pub netlink.Link = &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: "pub0"}}
	if err := netlink.LinkAdd(pub); err != nil {
		pub = &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "pub0"}, PeerName: "pub1"}
		if err := netlink.LinkAdd(pub); err != nil {
			t.Skipf("cannot create a test link: %v", err)
		}
	}
	fn()
}

func sysctl(t *testing.T, key string) string {
	t.Helper()
	v, err := readSysctl(key)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func tableNames(t *testing.T) []string {
	t.Helper()
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	ts, err := c.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, x := range ts {
		out = append(out, familyName(x.Family)+" "+x.Name)
	}
	slices.Sort(out)
	return out
}

// assertClean checks that nothing of the instance is left.
func assertClean(t *testing.T, instance string) {
	t.Helper()
	if got := tableNames(t); len(got) != 0 {
		t.Errorf("tables left: %v", got)
	}
	links, _ := netlink.LinkList()
	for _, l := range links {
		if l.Attrs().Alias == Tag(instance) {
			t.Errorf("link left: %s", l.Attrs().Name)
		}
	}
}

// ruleLines returns the rule lines of a ruleset text, with nft's counter
// values removed, for comparing `nft list` output with DryRun output.
func ruleLines(s string) []string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "table") || strings.HasPrefix(l, "chain") || strings.HasPrefix(l, "type") || l == "}" || strings.HasPrefix(l, "EOF") || strings.HasPrefix(l, "nft ") {
			continue
		}
		l = strings.Replace(l, "counter packets 0 bytes 0", "counter", 1)
		// nft prints "& rst != 0" (what the expressions say) in its short form.
		l = strings.Replace(l, "tcp flags & rst != 0", "tcp flags rst", 1)
		out = append(out, l)
	}
	slices.Sort(out)
	return out
}

// checkWithNft compares what the kernel holds, as the nft CLI prints it, with
// the rule lines of DryRun: the expressions Apply sent must mean the text.
func checkWithNft(t *testing.T, p Plan, recordsOld map[string]string) {
	t.Helper()
	nft, err := exec.LookPath("nft")
	if err != nil {
		t.Log("nft binary not installed: skipping the comparison with nft list")
		return
	}
	out, err := exec.Command(nft, "list", "ruleset").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list ruleset: %v\n%s", err, out)
	}
	want := DryRun(p)
	for k, v := range recordsOld {
		want = strings.ReplaceAll(want, k+" old=<current>", k+" old="+v)
	}
	start, end := strings.Index(want, "<<'EOF'\n"), strings.Index(want, "\nEOF\n")
	got, wantRules := ruleLines(string(out)), ruleLines(want[start+8:end])
	if !slices.Equal(got, wantRules) {
		t.Errorf("kernel rules differ from DryRun:\nnft list:\n%s\ndry run rules:\n%s", strings.Join(got, "\n"), strings.Join(wantRules, "\n"))
	}
}

func TestApplyTeardownTAP(t *testing.T) {
	inNetns(t, func() {
		p := tapPlan("t1", "ust0", "pub0")
		a, err := Apply(p)
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		l, err := netlink.LinkByName("ust0")
		if err != nil {
			t.Fatalf("tap missing: %v", err)
		}
		if l.Attrs().Alias != "ustack:t1" || l.Attrs().MTU != 1400 || l.Attrs().Flags&net.FlagUp == 0 {
			t.Errorf("tap attrs: alias %q mtu %d flags %v", l.Attrs().Alias, l.Attrs().MTU, l.Attrs().Flags)
		}
		addrs, _ := netlink.AddrList(l, netlink.FAMILY_ALL)
		var got []string
		for _, ad := range addrs {
			if pfx, _ := netip.ParsePrefix(ad.IPNet.String()); !pfx.Addr().IsLinkLocalUnicast() {
				got = append(got, pfx.String())
			}
		}
		slices.Sort(got)
		if want := []string{"10.0.0.1/24", "fd00::1/64"}; !slices.Equal(got, want) {
			t.Errorf("tap addresses %v, want %v", got, want)
		}
		if want := []string{"inet ustack-t1", "ip ustack-t1", "ip6 ustack-t1"}; !slices.Equal(tableNames(t), want) {
			t.Errorf("tables %v, want %v", tableNames(t), want)
		}
		if sysctl(t, keyForward4) != "1" || sysctl(t, keyForward6) != "1" {
			t.Errorf("forwarding not enabled")
		}
		checkWithNft(t, p, map[string]string{keyForward4: "0", keyForward6: "0"})
		t.Logf("changes: %q", a.Changes)

		if err := a.Teardown(); err != nil {
			t.Fatalf("Teardown: %v", err)
		}
		if err := a.Teardown(); err != nil {
			t.Fatalf("second Teardown: %v", err)
		}
		assertClean(t, "t1")
		if _, err := netlink.LinkByName("ust0"); err == nil {
			t.Errorf("tap still exists")
		}
		if sysctl(t, keyForward4) != "0" || sysctl(t, keyForward6) != "0" {
			t.Errorf("forwarding not restored")
		}
	})
}

func TestRawGuard(t *testing.T) {
	inNetns(t, func() {
		if err := writeSysctl(keyReserved, "8080"); err != nil {
			t.Fatal(err)
		}
		p := rawPlan("r1", "pub0")
		a, err := Apply(p)
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if got := sysctl(t, keyReserved); got != "8080,40000-40999" {
			t.Errorf("reserved ports %q", got)
		}
		if want := []string{"inet ustack-r1"}; !slices.Equal(tableNames(t), want) {
			t.Errorf("tables %v, want %v", tableNames(t), want)
		}
		checkWithNft(t, p, nil)
		// Someone else reserves more ports meanwhile: they must survive.
		if err := writeSysctl(keyReserved, "8080,9090,40000-40999"); err != nil {
			t.Fatal(err)
		}
		if err := a.Teardown(); err != nil {
			t.Fatalf("Teardown: %v", err)
		}
		assertClean(t, "r1")
		if got := sysctl(t, keyReserved); got != "8080,9090" {
			t.Errorf("reserved ports after teardown %q, want 8080,9090", got)
		}
	})
}

// TestCrashCleanup applies, forgets the result (as a SIGKILLed process
// would), and lets Cleanup find everything from the tags alone.
func TestCrashCleanup(t *testing.T) {
	inNetns(t, func() {
		p := tapPlan("crash", "ust1", "pub0")
		if _, err := Apply(p); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		// A restart without cleanup is refused with a clear message.
		if _, err := Apply(p); err == nil || !strings.Contains(err.Error(), "run cleanup first") {
			t.Fatalf("second Apply: %v", err)
		}
		removed, err := Cleanup("crash")
		if err != nil {
			t.Fatalf("Cleanup: %v", err)
		}
		t.Logf("removed: %q", removed)
		if len(removed) != 6 { // 2 sysctls, 1 link, 3 tables
			t.Errorf("removed %d things, want 6: %q", len(removed), removed)
		}
		assertClean(t, "crash")
		if sysctl(t, keyForward4) != "0" || sysctl(t, keyForward6) != "0" {
			t.Errorf("forwarding not restored")
		}
		if removed, err := Cleanup("crash"); err != nil || len(removed) != 0 {
			t.Errorf("second Cleanup: %q, %v", removed, err)
		}
		// And now Apply works again.
		a, err := Apply(p)
		if err != nil {
			t.Fatalf("Apply after cleanup: %v", err)
		}
		if err := a.Teardown(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRollback(t *testing.T) {
	for _, step := range []string{"nft", "tap", "sysctl"} {
		t.Run(step, func(t *testing.T) {
			inNetns(t, func() {
				failpoint = func(s string) error {
					if s == step {
						return &net.AddrError{Err: "injected failure", Addr: s}
					}
					return nil
				}
				defer func() { failpoint = nil }()
				_, err := Apply(tapPlan("rb", "ust2", "pub0"))
				if err == nil || !strings.Contains(err.Error(), "injected failure") {
					t.Fatalf("Apply: %v", err)
				}
				assertClean(t, "rb")
				if _, err := netlink.LinkByName("ust2"); err == nil {
					t.Errorf("tap left after rollback")
				}
				if sysctl(t, keyForward4) != "0" {
					t.Errorf("forwarding left on")
				}
			})
		})
	}
}

func TestApplyErrors(t *testing.T) {
	inNetns(t, func() {
		p := tapPlan("e1", "ust3", "nope0")
		if _, err := Apply(p); err == nil || err.Error() != "dnat interface nope0 not found" {
			t.Errorf("missing interface: %v", err)
		}
		r := rawPlan("e2", "nope1")
		if _, err := Apply(r); err == nil || err.Error() != "raw interface nope1 not found" {
			t.Errorf("missing raw interface: %v", err)
		}
		// A tap that someone else made.
		if err := createTAP(&TAP{Name: "ust3", Owner: -1, Group: -1}); err != nil {
			t.Fatal(err)
		}
		p = tapPlan("e1", "ust3", "pub0")
		if _, err := Apply(p); err == nil || !strings.Contains(err.Error(), "tap ust3 already exists and is not ours") {
			t.Errorf("foreign tap: %v", err)
		}
		// Used without create, it is fine and left alone.
		p.TAP = &TAP{Name: "ust3", Owner: -1, Group: -1}
		a, err := Apply(p)
		if err != nil {
			t.Fatalf("existing tap: %v", err)
		}
		if err := a.Teardown(); err != nil {
			t.Fatal(err)
		}
		if _, err := netlink.LinkByName("ust3"); err != nil {
			t.Errorf("foreign tap was removed")
		}
		p.TAP = &TAP{Name: "pub0", Owner: -1, Group: -1}
		if _, err := Apply(p); err == nil || !strings.Contains(err.Error(), "not a tap") {
			t.Errorf("non-tap link: %v", err)
		}
		p.TAP = &TAP{Name: "nope2", Owner: -1, Group: -1}
		if _, err := Apply(p); err == nil || !strings.Contains(err.Error(), "tap nope2 not found") {
			t.Errorf("missing tap: %v", err)
		}
		assertClean(t, "e1")
	})
}
