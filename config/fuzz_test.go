// Fuzz targets: no input may make a parser, Validate, String, HostPlan or
// DryRun panic, and a valid config printed with String must read back to
// the same text. Seed corpora are in testdata/fuzz/<target>/.
package config

import (
	"strings"
	"testing"

	"github.com/ustack/ustack/hostsetup"
)

// exercise runs everything downstream of a successful parse; a valid
// config must print as a file that reads back to the same text.
func exercise(t *testing.T, c *Config) {
	valid := c.Validate() == nil
	p := c.HostPlan("fuzz")
	_ = p.Validate()
	_ = hostsetup.DryRun(p)
	s := c.String()
	if !valid {
		return
	}
	back, err := ParseFile("string", []byte(s))
	if err != nil {
		t.Fatalf("String output does not parse: %v\n%s", err, s)
	}
	if s2 := back.String(); s2 != s {
		t.Fatalf("String not stable:\n%s\nthen\n%s", s, s2)
	}
}

func FuzzParseFile(f *testing.F) {
	f.Add([]byte("interface tap t0\naddress 10.0.0.2/24\n0.0.0.0 443 10.0.0.1 443 proxy=v2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseFile("fuzz.conf", data)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		exercise(t, c)
	})
}

func FuzzLKLEnv(f *testing.F) {
	f.Add("LKL_HIJACK_NET_IFTYPE=tap\nLKL_HIJACK_NET_IFPARAMS=lkl-tap\nLKL_HIJACK_NET_IP=10.0.0.2\nLKL_HIJACK_NET_NETMASK_LEN=24")
	f.Fuzz(func(t *testing.T, env string) {
		c, err := ParseLKLEnv(strings.Split(env, "\n"))
		if err != nil {
			return
		}
		exercise(t, c)
	})
}

func FuzzLKLJSON(f *testing.F) {
	f.Add([]byte(lklJSON))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseLKLJSON("fuzz.json", data)
		if err != nil {
			return
		}
		exercise(t, c)
	})
}
