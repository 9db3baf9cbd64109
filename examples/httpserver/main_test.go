package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestHandler(t *testing.T) {
	h := handler()
	for _, tc := range []struct {
		url, want string
		code      int
	}{
		{"/", "hello from ustack", 200},
		{"/bytes?n=12345", "", 200},
		{"/bytes?n=x", "n: want", 400},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", tc.url, nil))
		if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%s: %d %q", tc.url, rec.Code, rec.Body.String())
		}
		if tc.url == "/bytes?n=12345" && rec.Body.Len() != 12345 {
			t.Errorf("/bytes: %d bytes", rec.Body.Len())
		}
	}
}

func runOK(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v: %s", name, args, err, out)
	}
	return string(out)
}

// TestTapCurl builds the program, runs it on a tap in a fresh network
// namespace and fetches pages from it with curl through the kernel.
func TestTapCurl(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace and a tap")
	}
	for _, tool := range []string{"ip", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("needs /dev/net/tun: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "httpserver")
	runOK(t, "go", "build", "-o", bin, ".")

	var rb [4]byte
	rand.Read(rb[:])
	ns := fmt.Sprintf("unet-http-%d-%s", os.Getpid(), hex.EncodeToString(rb[:]))
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("needs network namespaces: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	runOK(t, "ip", "-n", ns, "link", "set", "lo", "up")

	var log strings.Builder
	cmd := exec.Command("ip", "netns", "exec", ns, bin, "-tap", "uh0", "-addr", "10.9.1.2/24",
		"-gw", "10.9.1.1", "-listen", ":8080", "-cc", "bbr")
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		t.Logf("server output:\n%s", log.String())
	})

	// Wait for the program to create the tap, then give the kernel side an
	// address.
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := exec.Command("ip", "-n", ns, "-o", "link", "show", "uh0").CombinedOutput()
		if err == nil && strings.Contains(string(out), "LOWER_UP") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tap uh0 did not come up: %s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	runOK(t, "ip", "-n", ns, "addr", "add", "10.9.1.1/24", "dev", "uh0")

	var body string
	for i := 0; ; i++ {
		out, err := exec.Command("ip", "netns", "exec", ns, "curl", "-sS", "--max-time", "5", "http://10.9.1.2:8080/").CombinedOutput()
		if err == nil {
			body = string(out)
			break
		}
		if i == 20 {
			t.Fatalf("curl: %v: %s", err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(body, "hello from ustack") || !strings.Contains(body, "cc bbr") {
		t.Errorf("GET /: %q", body)
	}
	t.Logf("GET /: %s", strings.TrimSpace(body))

	n := 20 << 20
	out := runOK(t, "ip", "netns", "exec", ns, "curl", "-sS", "--max-time", "60", "-o", "/dev/null",
		"-w", "%{size_download} %{speed_download}", fmt.Sprintf("http://10.9.1.2:8080/bytes?n=%d", n))
	var size, speed float64
	fmt.Sscan(out, &size, &speed)
	if int(size) != n {
		t.Errorf("GET /bytes: %s", out)
	}
	t.Logf("GET /bytes?n=%d: %.0f Mbit/s", n, speed*8/1e6)

	info := runOK(t, "ip", "netns", "exec", ns, "curl", "-sS", "--max-time", "5", "http://10.9.1.2:8080/info")
	if !strings.Contains(info, `"CC":"bbr"`) {
		t.Errorf("GET /info: %s", info)
	}
}
