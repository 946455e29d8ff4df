package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFraudPreventionConfig: the settings behind HMRC's fraud prevention
// headers are read and checked, and a bad one stops the service starting.
func TestFraudPreventionConfig(t *testing.T) {
	resolve := func(vars map[string]string) (*Config, error) {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		vars["MTDCONNECT_DATA_DIR"] = t.TempDir()
		cfg := newConfig(fs, func(k string) string { return vars[k] }, webSettings, storeSettings, fraudSettings)
		if err := fs.Parse(nil); err != nil {
			t.Fatal(err)
		}
		if err := cfg.load(); err != nil {
			return cfg, err
		}
		return cfg, cfg.resolve()
	}
	cfg, err := resolve(map[string]string{
		"MTDCONNECT_TRUSTED_PROXIES":  "10.0.0.0/8, 192.0.2.7,::1",
		"MTDCONNECT_VENDOR_PUBLIC_IP": "203.0.113.6",
		"MTDCONNECT_LICENCE_IDS":      "mtdconnect=LIC-1, addon = LIC 2",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.TrustedProxies) != 3 || cfg.TrustedProxies[1].String() != "192.0.2.7/32" || cfg.VendorPublicIP != "203.0.113.6" ||
		len(cfg.LicenceIDs) != 2 || cfg.LicenceIDs["addon"] != "LIC 2" {
		t.Errorf("config %+v", cfg)
	}
	for name, vars := range map[string]map[string]string{
		"proxy":         {"MTDCONNECT_TRUSTED_PROXIES": "10.0.0.0/33"},
		"vendor IP":     {"MTDCONNECT_VENDOR_PUBLIC_IP": "lb.example.com"},
		"licence":       {"MTDCONNECT_LICENCE_IDS": "no-licence"},
		"empty licence": {"MTDCONNECT_LICENCE_IDS": "mtdconnect="},
		"twice":         {"MTDCONNECT_LICENCE_IDS": "a=1,a=2"},
	} {
		if _, err := resolve(vars); err == nil || !strings.Contains(err.Error(), "MTDCONNECT_") {
			t.Errorf("%s: err %v, want one naming the setting", name, err)
		}
	}
}

// TestDeviceID: the server's device ID is generated once and kept.
func TestDeviceID(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{DataDir: filepath.Join(dir, "data")}
	id, err := cfg.resolveDeviceID()
	if err != nil || !uuidPattern.MatchString(id) || id[14] != '4' {
		t.Fatalf("device ID %q, %v", id, err)
	}
	again, err := cfg.resolveDeviceID()
	if err != nil || again != id {
		t.Errorf("second run: %q, %v; want %q", again, err, id)
	}
	if fi, err := os.Stat(filepath.Join(cfg.DataDir, deviceIDFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("device ID file: %v, %v", fi, err)
	}
	other := Config{DataDir: filepath.Join(dir, "other")}
	if id2, _ := other.resolveDeviceID(); id2 == id {
		t.Error("two data directories share a device ID")
	}

	set := Config{DataDir: dir, DeviceID: "BEEC798B-B366-47FA-B1F8-92CEDE14A1CE"}
	if got, err := set.resolveDeviceID(); err != nil || got != "beec798b-b366-47fa-b1f8-92cede14a1ce" {
		t.Errorf("configured: %q, %v", got, err)
	}
	for _, bad := range []Config{{DataDir: dir, DeviceID: "null"}} {
		if _, err := bad.resolveDeviceID(); err == nil {
			t.Errorf("%q accepted", bad.DeviceID)
		}
	}
	// A damaged file is an error, never silently replaced: the ID must not change.
	broken := Config{DataDir: filepath.Join(dir, "broken")}
	os.MkdirAll(broken.DataDir, 0o700)
	os.WriteFile(filepath.Join(broken.DataDir, deviceIDFile), []byte("garbage\n"), 0o600)
	if _, err := broken.resolveDeviceID(); err == nil {
		t.Error("a damaged device ID file was accepted")
	}
}
