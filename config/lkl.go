// LKL compatibility. LKL's hijack library reads the LKL_HIJACK_* environment
// variables and the JSON file named by LKL_HIJACK_CONFIG_FILE into one set
// of string settings, keyed as in the JSON (interfaces[].ip, sysctl, ...),
// the file's keys overriding the environment's one by one. This file does
// the same: both sources are collected into one key→value map (with each
// value's origin), then the map is applied to a Config. LKL's JSON values
// are strings; numbers and booleans are accepted too.
//
// ustack drives one interface: a JSON file with more than one is an error.
// An LKL setup makes its TAP, addresses and iptables rules itself, so
// ApplyLKL turns off create-tap and rules; the command may turn them on.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
)

type lklSetting struct{ val, origin string }

// lklEnv maps LKL's environment variables to their JSON keys.
var lklEnv = map[string]string{
	"LKL_HIJACK_NET_IFTYPE":       "type",
	"LKL_HIJACK_NET_IFPARAMS":     "param",
	"LKL_HIJACK_NET_MTU":          "mtu",
	"LKL_HIJACK_NET_IP":           "ip",
	"LKL_HIJACK_NET_NETMASK_LEN":  "masklen",
	"LKL_HIJACK_NET_IPV6":         "ipv6",
	"LKL_HIJACK_NET_NETMASK6_LEN": "masklen6",
	"LKL_HIJACK_NET_MAC":          "mac",
	"LKL_HIJACK_NET_GATEWAY":      "gateway",
	"LKL_HIJACK_NET_GATEWAY6":     "gateway6",
	"LKL_HIJACK_NET_NEIGHBOR":     "neigh",
	"LKL_HIJACK_NET_QDISC":        "qdisc",
	"LKL_HIJACK_OFFLOAD":          "offload",
	"LKL_HIJACK_SYSCTL":           "sysctl",
	"LKL_HIJACK_BOOT_CMDLINE":     "boot_cmdline",
	"LKL_HIJACK_SINGLE_CPU":       "singlecpu",
	"LKL_HIJACK_DEBUG":            "debug",
	"LKL_HIJACK_MOUNT":            "mount",
	"LKL_HIJACK_DUMP":             "dump",
	"LKL_HIJACK_DELAY_MAIN":       "delay_main",
	"LKL_HIJACK_NET_NAMESERVER":   "nameserver",
}

// lklIfaceKeys are the per-interface JSON keys.
var lklIfaceKeys = []string{"type", "param", "mtu", "ip", "masklen", "ipv6", "masklen6", "mac",
	"ifgateway", "ifgateway6", "neigh", "qdisc", "offload"}

// lklIgnored are accepted and ignored, with the reason.
var lklIgnored = map[string]string{
	"boot_cmdline": "there is no kernel to boot",
	"singlecpu":    "ustack schedules its own goroutines",
	"debug":        "use log-level debug",
	"mount":        "ustack has no file systems",
	"dump":         "use pcap PATH",
	"delay_main":   "nothing to wait for",
	"nameserver":   "ustack does not resolve names for applications",
}

// ConfigFileEnv names LKL's JSON file; DefaultLKLFile is read if it is
// unset and the file exists.
const (
	ConfigFileEnv  = "LKL_HIJACK_CONFIG_FILE"
	DefaultLKLFile = "lkl-hijack.json"
)

func lklFromEnv(env []string, kv map[string]lklSetting, c *Config) {
	var tap lklSetting
	for _, e := range env {
		name, val, ok := strings.Cut(e, "=")
		if !ok || !strings.HasPrefix(name, "LKL_HIJACK_") || name == ConfigFileEnv {
			continue
		}
		if key, known := lklEnv[name]; known {
			kv[key] = lklSetting{val, name}
		} else if name == "LKL_HIJACK_NET_TAP" { // obsolete form of IFTYPE=tap IFPARAMS=name
			tap = lklSetting{val, name}
		} else {
			c.warn("%s: not an LKL setting ustack knows; ignored", name)
		}
	}
	if tap.origin != "" {
		if _, ok := kv["type"]; !ok {
			kv["type"] = lklSetting{"tap", tap.origin}
			kv["param"] = tap
		}
	}
}

func jsonString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		if v {
			return "1", true
		}
		return "0", true
	}
	return "", false
}

func lklFromJSON(name string, data []byte, kv map[string]lklSetting, c *Config) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var top map[string]any
	if err := d.Decode(&top); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line := 1 + bytes.Count(data[:min(int(se.Offset), len(data))], []byte("\n"))
			return fmt.Errorf("%s:%d: bad JSON: %v", name, line, se)
		}
		return fmt.Errorf("%s: bad JSON: want an object of LKL settings (%v)", name, err)
	}
	if top == nil {
		return fmt.Errorf("%s: bad JSON: want an object of LKL settings", name)
	}
	keys := make([]string, 0, len(top))
	for k := range top {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := top[k]
		origin := name + ": " + k
		if k == "interfaces" {
			list, ok := v.([]any)
			if !ok {
				return errAt(origin, "want a list of interface objects")
			}
			if len(list) > 1 {
				return errAt(origin, "%d interfaces given; ustack drives one (run one ustack per interface)", len(list))
			}
			if len(list) == 0 {
				continue
			}
			obj, ok := list[0].(map[string]any)
			if !ok {
				return errAt(origin+"[0]", "want an object")
			}
			ikeys := make([]string, 0, len(obj))
			for ik := range obj {
				ikeys = append(ikeys, ik)
			}
			slices.Sort(ikeys)
			for _, ik := range ikeys {
				iv := obj[ik]
				o := fmt.Sprintf("%s: interfaces[0].%s", name, ik)
				if !slices.Contains(lklIfaceKeys, ik) {
					c.warn("%s: unknown interface key; ignored", o)
					continue
				}
				s, ok := jsonString(iv)
				if !ok {
					return errAt(o, "want a string")
				}
				kv[ik] = lklSetting{s, o}
			}
			continue
		}
		known := k == "gateway" || k == "gateway6" || k == "sysctl" || lklIgnored[k] != ""
		if !known {
			c.warn("%s: unknown key; ignored", origin)
			continue
		}
		s, ok := jsonString(v)
		if !ok {
			return errAt(origin, "want a string")
		}
		kv[k] = lklSetting{s, origin}
	}
	return nil
}

// ApplyLKL applies LKL's settings: the environment (a list of "NAME=value"
// as os.Environ returns), then, if jsonData is not nil, the JSON file's
// settings over it. jsonName names the file in messages.
func (c *Config) ApplyLKL(env []string, jsonName string, jsonData []byte) error {
	kv := map[string]lklSetting{}
	lklFromEnv(env, kv, c)
	if jsonData != nil {
		if err := lklFromJSON(jsonName, jsonData, kv, c); err != nil {
			return err
		}
	}
	c.Host.CreateTAP = false
	c.Host.ManageRules = false
	return c.applyLKLSettings(kv)
}

func (c *Config) applyLKLSettings(kv map[string]lklSetting) error {
	get := func(k string) (lklSetting, bool) { s, ok := kv[k]; return s, ok }
	if s, ok := get("type"); ok {
		c.setIfType(s.val, s.origin)
	}
	if s, ok := get("param"); ok {
		c.Interface.Param = strings.TrimSpace(s.val)
	}
	if s, ok := get("mtu"); ok {
		if err := c.setMTU(s.val, s.origin); err != nil {
			return err
		}
	}
	if s, ok := get("mac"); ok {
		if err := c.setMAC(s.val, s.origin); err != nil {
			return err
		}
	}
	for _, fam := range []struct {
		ip, len string
		v6      bool
	}{{"ip", "masklen", false}, {"ipv6", "masklen6", true}} {
		ip, ok := get(fam.ip)
		if !ok {
			if l, ok := get(fam.len); ok {
				c.warn("%s: prefix length without an address; ignored", l.origin)
			}
			continue
		}
		l, _ := get(fam.len)
		lenOrigin := l.origin
		if lenOrigin == "" {
			lenOrigin = "LKL_HIJACK_NET_NETMASK_LEN"
			if fam.v6 {
				lenOrigin = "LKL_HIJACK_NET_NETMASK6_LEN"
			}
		}
		if err := c.setIPAndLen(ip.val, l.val, ip.origin, lenOrigin, fam.v6); err != nil {
			return err
		}
	}
	for _, g := range []struct {
		global, iface string
		v6            int
	}{{"gateway", "ifgateway", 0}, {"gateway6", "ifgateway6", 1}} {
		gs, gok := get(g.global)
		is, iok := get(g.iface)
		if gok && iok && strings.TrimSpace(gs.val) != strings.TrimSpace(is.val) {
			c.warn("%s: differs from %s; with one interface ustack uses %s", is.origin, gs.origin, gs.origin)
		}
		if !gok {
			gs, gok = is, iok
		}
		if gok {
			if err := c.setGateway(gs.val, gs.origin, g.v6); err != nil {
				return err
			}
		}
	}
	setters := []struct {
		key string
		fn  func(v, origin string) error
	}{{"neigh", c.setNeighbors}, {"qdisc", c.setQdisc}, {"offload", c.setOffload}, {"sysctl", c.setSysctls}}
	for _, s := range setters {
		if v, ok := get(s.key); ok {
			if err := s.fn(v.val, v.origin); err != nil {
				return err
			}
		}
	}
	ignored := make([]string, 0, len(lklIgnored))
	for k := range lklIgnored {
		ignored = append(ignored, k)
	}
	slices.Sort(ignored)
	for _, k := range ignored {
		if v, ok := get(k); ok {
			c.warn("%s: accepted and ignored: %s", v.origin, lklIgnored[k])
		}
	}
	return nil
}

// ParseLKLEnv builds a Config from LKL's environment variables alone.
func ParseLKLEnv(env []string) (*Config, error) {
	c := Default()
	return c, c.ApplyLKL(env, "", nil)
}

// ParseLKLJSON builds a Config from an LKL JSON file alone.
func ParseLKLJSON(name string, data []byte) (*Config, error) {
	c := Default()
	if data == nil {
		data = []byte{}
	}
	return c, c.ApplyLKL(nil, name, data)
}

// LoadLKL builds a Config as LKL would from env: the variables, overridden
// by the JSON file named by LKL_HIJACK_CONFIG_FILE (which must exist), or
// by ./lkl-hijack.json if that variable is unset and the file exists.
func LoadLKL(env []string) (*Config, error) {
	name, explicit := "", false
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, ConfigFileEnv+"="); ok {
			name, explicit = v, true
		}
	}
	if !explicit {
		name = DefaultLKLFile
	}
	var data []byte
	if name != "" {
		b, err := os.ReadFile(name)
		switch {
		case err == nil:
			data = b
		case !explicit && errors.Is(err, fs.ErrNotExist):
		default:
			return nil, fmt.Errorf("%s=%s: %v", ConfigFileEnv, name, errors.Unwrap(err))
		}
	}
	c := Default()
	return c, c.ApplyLKL(env, name, data)
}
