package fraud_test

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect/hmrc/fraud"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

const serverDeviceID = "3f1c9a52-8d0e-4b7a-9c61-2e5d7f4a8b10"

// server is this server as a deployment configures it: its device ID, the
// product and a licence, and the maker and model for hosts without DMI
// data (many VMs), as MTDCONNECT_DEVICE_MANUFACTURER/_MODEL.
func server(mods ...func(*fraud.Batch)) fraud.Batch {
	b := fraud.Batch{
		DeviceID:           serverDeviceID,
		Vendor:             fraud.Vendor{ProductName: "mtdconnect", Version: "0.1.0", LicenseIDs: map[string]string{"mtdconnect": "demo"}},
		DeviceManufacturer: "Test Cloud", DeviceModel: "Test VM",
	}
	for _, m := range mods {
		m(&b)
	}
	return b
}

func TestBatchOrigin(t *testing.T) {
	c := server()
	start := time.Now()
	r, err := c.Origin(map[string]string{"mtdconnect": "42"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Method != fraud.BatchProcessDirect || r.Device.DeviceID != serverDeviceID || r.BatchDevice == nil {
		t.Fatalf("request %+v", r)
	}
	if at := r.BatchDevice.LocalIPsAt; at.Before(start) || at.After(time.Now()) {
		t.Errorf("local IPs collected at %v, not during the call", at)
	}
	h, err := r.Headers()
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != len(fraud.HeaderNames(fraud.BatchProcessDirect)) {
		t.Errorf("%d headers: %v", len(h), h)
	}
	ids := h.Get("Gov-Client-User-IDs")
	if !strings.HasPrefix(ids, "os=") || !strings.HasSuffix(ids, "&mtdconnect=42") {
		t.Errorf("Gov-Client-User-IDs %q", ids)
	}
	// With the configured maker and model filling in what a host without
	// DMI data cannot say, nothing is left for HMRC's validator to remark on.
	if v := hmrcsim.ValidateFraudHeaders(h); v.Code != hmrcsim.FraudValid {
		t.Errorf("verdict %s: %+v %+v", v.Code, v.Errors, v.Warnings)
	}

	// Each call reads the host again, and a caller changing the request
	// changes neither the next one nor the client's vendor.
	r.UserIDs["mtdconnect"] = "changed"
	r.Vendor.LicenseIDs["other"] = "x"
	again, err := c.Origin(map[string]string{"mtdconnect": "42"})
	if err != nil {
		t.Fatal(err)
	}
	if again.BatchDevice == r.BatchDevice || again.BatchDevice.LocalIPsAt.Before(r.BatchDevice.LocalIPsAt) {
		t.Error("the host was not read again")
	}
	if again.UserIDs["mtdconnect"] != "42" || len(again.Vendor.LicenseIDs) != 1 {
		t.Errorf("the client's data changed: %v %v", again.UserIDs, again.Vendor.LicenseIDs)
	}
}

// Where the host cannot name its maker and model (a VM without DMI data),
// the configured ones complete Gov-Client-User-Agent, and HMRC's validator
// has nothing left to warn about.
func TestBatchOriginConfiguredDevice(t *testing.T) {
	c := server(func(b *fraud.Batch) { b.DeviceManufacturer, b.DeviceModel = "Acme Cloud", "Standard VM" })
	r, err := c.Origin(map[string]string{"mtdconnect": "42"})
	if err != nil {
		t.Skipf("this host cannot be described for batch calls: %v", err)
	}
	h, err := r.Headers()
	if err != nil {
		t.Fatal(err)
	}
	ua := h.Get("Gov-Client-User-Agent")
	if !strings.Contains(ua, "device-manufacturer=") || !strings.Contains(ua, "device-model=") {
		t.Fatalf("Gov-Client-User-Agent %q lacks the device", ua)
	}
	if v := hmrcsim.ValidateFraudHeaders(h); v.Code != hmrcsim.FraudValid {
		t.Errorf("verdict %s: %+v %+v", v.Code, v.Errors, v.Warnings)
	}
}

func TestBatchOriginRefusals(t *testing.T) {
	cases := []struct {
		name    string
		mod     func(*fraud.Batch)
		userIDs map[string]string
		want    string
	}{
		{"NoDeviceID", func(b *fraud.Batch) { b.DeviceID = "" }, nil, "DeviceID is empty"},
		{"DeviceIDNotUUID", func(b *fraud.Batch) { b.DeviceID = "server-1" }, nil, "not a UUID"},
		{"DeviceIDBraced", func(b *fraud.Batch) { b.DeviceID = "{" + serverDeviceID + "}" }, nil, "not a UUID"},
		{"NoUser", nil, map[string]string{}, "user the work is for"},
		{"OSKeyGiven", nil, map[string]string{"os": "root"}, "Gov-Client-User-IDs"},
		{"EmptyUserID", nil, map[string]string{"mtdconnect": ""}, "Gov-Client-User-IDs"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var mods []func(*fraud.Batch)
			if tc.mod != nil {
				mods = append(mods, tc.mod)
			}
			c := server(mods...)
			ids := tc.userIDs
			if ids == nil {
				ids = map[string]string{"mtdconnect": "1"}
			}
			r, err := c.Origin(ids)
			if err == nil || r != nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("BatchOrigin = %v, %v; want an error about %q", r, err, tc.want)
			}
		})
	}
}

// A server without a licence sends Gov-Vendor-License-IDs empty, declared
// missing, as the web origin does; everything else is still described.
func TestBatchOriginNoLicence(t *testing.T) {
	c := server(func(b *fraud.Batch) { b.Vendor.LicenseIDs = nil })
	r, err := c.Origin(map[string]string{"mtdconnect": "1"})
	if err != nil {
		t.Skipf("this host cannot be described for batch calls: %v", err)
	}
	h, err := r.Headers()
	if err != nil {
		t.Fatalf("Headers: %v", err)
	}
	if v, ok := h["Gov-Vendor-License-Ids"]; !ok || len(v) != 1 || v[0] != "" {
		t.Fatalf("Gov-Vendor-License-IDs = %q (present %v), want sent empty", v, ok)
	}
	if h.Get("Gov-Client-Device-ID") != serverDeviceID {
		t.Errorf("device ID = %q", h.Get("Gov-Client-Device-ID"))
	}
}

// loopbackOnlyEnv marks the copy of the test binary that runs in a network
// namespace of its own, where the only interface is loopback.
const loopbackOnlyEnv = "MTDCONNECT_TEST_LOOPBACK_ONLY"

// On a host whose only interface is loopback, BatchOrigin cannot describe
// the device: there is no local IP beyond loopback and no MAC address, and
// only HMRC's missing-data process could excuse that. It says so rather
// than send headers HMRC would grade invalid. The test runs itself again
// in a fresh network namespace (unshare -n) where that is really the case.
func TestBatchOriginLoopbackOnlyHost(t *testing.T) {
	if os.Getenv(loopbackOnlyEnv) == "" {
		if err := exec.Command("unshare", "-n", "ip", "link", "set", "lo", "up").Run(); err != nil {
			t.Skipf("no network namespace for a loopback-only host here (unshare -n: %v)", err)
		}
		cmd := exec.Command("unshare", "-n", "sh", "-c", `ip link set lo up && exec "$@"`, "sh",
			os.Args[0], "-test.run=^TestBatchOriginLoopbackOnlyHost$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), loopbackOnlyEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestBatchOriginLoopbackOnlyHost") {
			t.Fatalf("in a loopback-only namespace: %v\n%s", err, out)
		}
		return
	}

	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagLoopback == 0 && ifc.Flags&net.FlagUp != 0 {
			t.Fatalf("not a loopback-only host: %s is up", ifc.Name)
		}
	}
	c := server()
	r, err := c.Origin(map[string]string{"mtdconnect": "1"})
	var fe *fraud.HeaderError
	if r != nil || !errors.As(err, &fe) {
		t.Fatalf("BatchOrigin = %+v, %v; want a fraud header error", r, err)
	}
	t.Logf("on a loopback-only host: %v", err)
	for _, h := range []string{"Gov-Client-Local-IPs", "Gov-Client-MAC-Addresses", "no non-loopback IP address"} {
		if !strings.Contains(err.Error(), h) {
			t.Errorf("the error does not name %s: %v", h, err)
		}
	}
}
