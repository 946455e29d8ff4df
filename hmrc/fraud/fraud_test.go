package fraud

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// webOrigin is a complete WEB_APP_VIA_SERVER request built from the
// spec's examples.
func webOrigin() Origin {
	return Origin{
		Method: WebAppViaServer,
		Device: Device{
			DeviceID:    "beec798b-b366-47fa-b1f8-92cede14a1ce",
			JSUserAgent: "Mozilla/5.0 (iPad; U; CPU OS 3_2_1 like Mac OS X; en-us) AppleWebKit/531.21.10 (KHTML, like Gecko) Mobile/7B405",
			Screens: []Screen{
				{Width: 1920, Height: 1080, ScalingFactor: 1, ColourDepth: 16},
				{Width: 3000, Height: 2000, ScalingFactor: 1.25, ColourDepth: 16},
			},
			WindowWidth:           1256,
			WindowHeight:          803,
			TimezoneOffsetMinutes: -60,
		},
		ClientIP:   "198.51.100.0",
		ClientPort: 12345,
		ReceivedAt: time.Date(2020, 9, 21, 14, 30, 5, 123456789, time.UTC),
		UserIDs:    map[string]string{"My_Webapp_Software": "user32a9757b3"},
		MultiFactor: []MultiFactor{
			{Type: "AUTH_CODE", At: time.Date(2021, 11, 21, 13, 23, 0, 0, time.UTC), UniqueReference: "fc4b5fd6816f75a7c81fc8eaa9499d6a299bd803397166e8c4cf9280b801d62c"},
			{Type: "TOTP", At: time.Date(2021, 11, 22, 14, 10, 0, 0, time.FixedZone("BST", 3600)), UniqueReference: "0283da60063abfb3a87f1aed845d17fe2d9ba8c780b478dc4ae048f5ee97a6d5"},
		},
		Vendor: Vendor{
			ProductName: "my-web-app",
			Version:     "2.2.2",
			PublicIP:    "203.0.113.6",
			LicenseIDs:  map[string]string{"my licensed software": "LICENCE-123"},
		},
	}
}

func batchOrigin() Origin {
	return Origin{
		Method:  BatchProcessDirect,
		Device:  Device{DeviceID: "beec798b-b366-47fa-b1f8-92cede14a1ce"},
		UserIDs: map[string]string{"my-application": "alice123"},
		Vendor: Vendor{
			ProductName: "mtdconnect",
			Version:     "0.1.0",
			LicenseIDs:  map[string]string{"mtdconnect": "x"},
		},
		BatchDevice: &BatchDevice{
			OSUser:             `domain\alice`,
			LocalIPs:           []string{"fc00::", "10.1.2.3"},
			LocalIPsAt:         time.Date(2020, 9, 21, 14, 30, 5, 123000000, time.UTC),
			MACAddresses:       []string{"ea:43:1a:5d:21:45", "10:12:cc:fa:aa:32"},
			OSFamily:           "Windows",
			OSVersion:          "Server 2012",
			DeviceManufacturer: "Dell Inc.",
			DeviceModel:        "OptiPlex 980",
		},
	}
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func mustHeaders(t *testing.T, r Origin) http.Header {
	t.Helper()
	h, err := r.Headers()
	if err != nil {
		t.Fatalf("Headers: %v", err)
	}
	return h
}

// TestFraudWebSpecExamples asserts byte-equal output against the examples
// in HMRC's spec (reference §5).
func TestFraudWebSpecExamples(t *testing.T) {
	h := mustHeaders(t, webOrigin())
	want := map[string]string{
		"Gov-Client-Connection-Method":     "WEB_APP_VIA_SERVER",
		"Gov-Client-Browser-JS-User-Agent": "Mozilla/5.0 (iPad; U; CPU OS 3_2_1 like Mac OS X; en-us) AppleWebKit/531.21.10 (KHTML, like Gecko) Mobile/7B405",
		"Gov-Client-Device-ID":             "beec798b-b366-47fa-b1f8-92cede14a1ce",
		"Gov-Client-Multi-Factor":          "type=AUTH_CODE&timestamp=2021-11-21T13%3A23Z&unique-reference=fc4b5fd6816f75a7c81fc8eaa9499d6a299bd803397166e8c4cf9280b801d62c,type=TOTP&timestamp=2021-11-22T13%3A10Z&unique-reference=0283da60063abfb3a87f1aed845d17fe2d9ba8c780b478dc4ae048f5ee97a6d5",
		"Gov-Client-Public-IP":             "198.51.100.0",
		"Gov-Client-Public-IP-Timestamp":   "2020-09-21T14:30:05.123Z",
		"Gov-Client-Public-Port":           "12345",
		"Gov-Client-Screens":               "width=1920&height=1080&scaling-factor=1&colour-depth=16,width=3000&height=2000&scaling-factor=1.25&colour-depth=16",
		"Gov-Client-Timezone":              "UTC+01:00",
		"Gov-Client-User-IDs":              "My_Webapp_Software=user32a9757b3",
		"Gov-Client-Window-Size":           "width=1256&height=803",
		"Gov-Vendor-Forwarded":             "by=203.0.113.6&for=198.51.100.0",
		"Gov-Vendor-License-IDs":           "my%20licensed%20software=" + sha("LICENCE-123"),
		"Gov-Vendor-Product-Name":          "my-web-app",
		"Gov-Vendor-Public-IP":             "203.0.113.6",
		"Gov-Vendor-Version":               "my-web-app=2.2.2",
	}
	if len(h) != 16 || len(want) != 16 {
		t.Fatalf("got %d headers, want 16: %v", len(h), h)
	}
	for k, v := range want {
		if got := h.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q\n want %q", k, got, v)
		}
	}
	var names []string
	for k := range h {
		names = append(names, k)
	}
	for _, n := range HeaderNames(WebAppViaServer) {
		if !slices.Contains(names, http.CanonicalHeaderKey(n)) {
			t.Errorf("missing %s", n)
		}
	}
}

func TestFraudBatchSpecExamples(t *testing.T) {
	h := mustHeaders(t, batchOrigin())
	want := map[string]string{
		"Gov-Client-Connection-Method":   "BATCH_PROCESS_DIRECT",
		"Gov-Client-Device-ID":           "beec798b-b366-47fa-b1f8-92cede14a1ce",
		"Gov-Client-Local-IPs":           "fc00%3A%3A,10.1.2.3",
		"Gov-Client-Local-IPs-Timestamp": "2020-09-21T14:30:05.123Z",
		"Gov-Client-MAC-Addresses":       "ea%3A43%3A1a%3A5d%3A21%3A45,10%3A12%3Acc%3Afa%3Aaa%3A32",
		"Gov-Client-Timezone":            "UTC+00:00",
		"Gov-Client-User-Agent":          "os-family=Windows&os-version=Server%202012&device-manufacturer=Dell%20Inc.&device-model=OptiPlex%20980",
		"Gov-Client-User-IDs":            "os=domain%5Calice&my-application=alice123",
		"Gov-Vendor-License-IDs":         "mtdconnect=" + sha("x"),
		"Gov-Vendor-Product-Name":        "mtdconnect",
		"Gov-Vendor-Version":             "mtdconnect=0.1.0",
	}
	if len(h) != 11 {
		t.Fatalf("got %d headers, want 11: %v", len(h), h)
	}
	for k, v := range want {
		if got := h.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q\n want %q", k, got, v)
		}
	}
}

func TestFraudEncodingExamples(t *testing.T) {
	// Gov-Vendor-Forwarded, example 2: WAF on IPv6, then two vendor servers.
	r := webOrigin()
	r.Vendor.PublicIP = "2001:0db8:85a3:0000:0000:8a2e:0370:7334"
	r.Forwarded = []Hop{
		{By: "2001:0db8:85a3:0000:0000:8a2e:0370:7334", For: "198.51.100.0"},
		{By: "203.0.113.6", For: "2001:0db8:85a3:0000:0000:8a2e:0370:7334"},
		{By: "176.30.57.118", For: "203.0.113.6"},
	}
	r.ClientIP = "198.51.100.0"
	h := mustHeaders(t, r)
	if got, want := h.Get("Gov-Vendor-Forwarded"), "by=2001%3A0db8%3A85a3%3A0000%3A0000%3A8a2e%3A0370%3A7334&for=198.51.100.0,by=203.0.113.6&for=2001%3A0db8%3A85a3%3A0000%3A0000%3A8a2e%3A0370%3A7334,by=176.30.57.118&for=203.0.113.6"; got != want {
		t.Errorf("Forwarded = %q\n want %q", got, want)
	}
	if got := h.Get("Gov-Vendor-Public-IP"); got != "2001:0db8:85a3:0000:0000:8a2e:0370:7334" {
		t.Errorf("Vendor-Public-IP = %q", got)
	}

	// Gov-Client-Public-IP, IPv6 example: not percent-encoded.
	r = webOrigin()
	r.ClientIP = "ABCD:EF01:2345:6789:ABCD:EF01:2345:6789"
	h = mustHeaders(t, r)
	if got := h.Get("Gov-Client-Public-IP"); got != "ABCD:EF01:2345:6789:ABCD:EF01:2345:6789" {
		t.Errorf("Public-IP = %q", got)
	}
	if got := h.Get("Gov-Vendor-Forwarded"); got != "by=203.0.113.6&for=ABCD%3AEF01%3A2345%3A6789%3AABCD%3AEF01%3A2345%3A6789" {
		t.Errorf("derived Forwarded = %q", got)
	}

	// IPv4-mapped IPv6 (a dual-stack listener) is sent as IPv4.
	r = webOrigin()
	r.ClientIP = "::ffff:198.51.100.7"
	h = mustHeaders(t, r)
	if got := h.Get("Gov-Client-Public-IP"); got != "198.51.100.7" {
		t.Errorf("mapped Public-IP = %q", got)
	}

	// Product name with a space; user IDs as the brief uses them.
	r = webOrigin()
	r.Vendor.ProductName = "Product Name"
	r.UserIDs = map[string]string{"mtdconnect": "42"}
	h = mustHeaders(t, r)
	if got := h.Get("Gov-Vendor-Product-Name"); got != "Product%20Name" {
		t.Errorf("Product-Name = %q", got)
	}
	if got := h.Get("Gov-Vendor-Version"); got != "Product%20Name=2.2.2" {
		t.Errorf("Version = %q", got)
	}
	if got := h.Get("Gov-Client-User-IDs"); got != "mtdconnect=42" {
		t.Errorf("User-IDs = %q", got)
	}

	// Key-value and list encoding: iPhone12,3 from the mobile example.
	if got := keyValues([][2]string{{"device-model", "iPhone12,3"}}); got != "device-model=iPhone12%2C3" {
		t.Errorf("kv = %q", got)
	}
	if got := escape("a b+c&d=e,f:g/h~i"); got != "a%20b%2Bc%26d%3De%2Cf%3Ag%2Fh~i" {
		t.Errorf("escape = %q", got)
	}
	// Non-ASCII and control bytes in a user agent are encoded; the rest is not.
	if got := escapeNonPrintable("Foo/1 (é)\r\n%"); got != "Foo/1 (%C3%A9)%0D%0A%" {
		t.Errorf("UA escape = %q", got)
	}
}

func TestEncodeTimezone(t *testing.T) {
	for off, want := range map[int]string{
		0: "UTC+00:00", -60: "UTC+01:00", 75: "UTC-01:15", -330: "UTC+05:30",
		-345: "UTC+05:45", 600: "UTC-10:00", -840: "UTC+14:00", 720: "UTC-12:00",
	} {
		if got := EncodeTimezone(off); got != want {
			t.Errorf("EncodeTimezone(%d) = %q, want %q", off, got, want)
		}
	}
}

func TestFormatTimestamp(t *testing.T) {
	ts := time.Date(2020, 9, 21, 15, 30, 5, 123999999, time.FixedZone("BST", 3600))
	if got := FormatTimestamp(ts); got != "2020-09-21T14:30:05.123Z" {
		t.Errorf("FormatTimestamp = %q", got)
	}
	if got := FormatTimestamp(time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)); got != "2020-01-02T03:04:05.000Z" {
		t.Errorf("FormatTimestamp = %q", got)
	}
	if got := multiFactorTime(time.Date(2021, 11, 21, 13, 23, 7, 5e6, time.UTC)); got != "2021-11-21T13:23:07.005Z" {
		t.Errorf("multi-factor time = %q", got)
	}
}

func TestFraudHeaderErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Origin)
		header string
		field  string
	}{
		{"unknown method", func(r *Origin) { r.Method = "DESKTOP_APP_DIRECT" }, "Gov-Client-Connection-Method", "Method"},
		{"no device id", func(r *Origin) { r.Device.DeviceID = "" }, "Gov-Client-Device-ID", "Device.DeviceID"},
		{"device id not uuid", func(r *Origin) { r.Device.DeviceID = "undefined" }, "Gov-Client-Device-ID", "Device.DeviceID"},
		{"no ua", func(r *Origin) { r.Device.JSUserAgent = "" }, "Gov-Client-Browser-JS-User-Agent", "Device.JSUserAgent"},
		{"ua placeholder", func(r *Origin) { r.Device.JSUserAgent = "undefined" }, "Gov-Client-Browser-JS-User-Agent", "Device.JSUserAgent"},
		{"no screens", func(r *Origin) { r.Device.Screens = nil }, "Gov-Client-Screens", "Device.Screens"},
		{"zero width", func(r *Origin) { r.Device.Screens[1].Width = 0 }, "Gov-Client-Screens", "Device.Screens[1].Width"},
		{"zero depth", func(r *Origin) { r.Device.Screens[0].ColourDepth = 0 }, "Gov-Client-Screens", "Device.Screens[0].ColourDepth"},
		{"zero scale", func(r *Origin) { r.Device.Screens[0].ScalingFactor = 0 }, "Gov-Client-Screens", "Device.Screens[0].ScalingFactor"},
		{"negative window", func(r *Origin) { r.Device.WindowHeight = -1 }, "Gov-Client-Window-Size", "Device.WindowHeight"},
		{"timezone", func(r *Origin) { r.Device.TimezoneOffsetMinutes = 5000 }, "Gov-Client-Timezone", "Device.TimezoneOffsetMinutes"},
		{"no client ip", func(r *Origin) { r.ClientIP = "" }, "Gov-Client-Public-IP", "ClientIP"},
		{"client ip with port", func(r *Origin) { r.ClientIP = "198.51.100.0:1234" }, "Gov-Client-Public-IP", "ClientIP"},
		{"client ip zone", func(r *Origin) { r.ClientIP = "fe80::1%eth0" }, "Gov-Client-Public-IP", "ClientIP"},
		{"client ip null", func(r *Origin) { r.ClientIP = "null" }, "Gov-Client-Public-IP", "ClientIP"},
		{"no timestamp", func(r *Origin) { r.ReceivedAt = time.Time{} }, "Gov-Client-Public-IP-Timestamp", "ReceivedAt"},
		{"no port", func(r *Origin) { r.ClientPort = 0 }, "Gov-Client-Public-Port", "ClientPort"},
		{"server port", func(r *Origin) { r.ClientPort = 443 }, "Gov-Client-Public-Port", "ClientPort"},
		{"big port", func(r *Origin) { r.ClientPort = 70000 }, "Gov-Client-Public-Port", "ClientPort"},
		{"no user ids", func(r *Origin) { r.UserIDs = nil }, "Gov-Client-User-IDs", "UserIDs"},
		{"os in web", func(r *Origin) { r.UserIDs["os"] = "alice" }, "Gov-Client-User-IDs", `UserIDs["os"]`},
		{"empty user id", func(r *Origin) { r.UserIDs["x"] = "" }, "Gov-Client-User-IDs", `UserIDs["x"]`},
		{"no mfa", func(r *Origin) { r.MultiFactor = nil }, "Gov-Client-Multi-Factor", "MultiFactor"},
		{"bad mfa type", func(r *Origin) { r.MultiFactor[1].Type = "SMS" }, "Gov-Client-Multi-Factor", "MultiFactor[1].Type"},
		{"mfa no time", func(r *Origin) { r.MultiFactor[0].At = time.Time{} }, "Gov-Client-Multi-Factor", "MultiFactor[0].At"},
		{"mfa no ref", func(r *Origin) { r.MultiFactor[0].UniqueReference = "" }, "Gov-Client-Multi-Factor", "MultiFactor[0].UniqueReference"},
		{"no vendor ip", func(r *Origin) { r.Vendor.PublicIP = "" }, "Gov-Vendor-Public-IP", "Vendor.PublicIP"},
		{"first hop by", func(r *Origin) { r.Forwarded = []Hop{{By: "203.0.113.7", For: "198.51.100.0"}} }, "Gov-Vendor-Forwarded", "Forwarded[0].By"},
		{"first hop for", func(r *Origin) { r.Forwarded = []Hop{{By: "203.0.113.6", For: "198.51.100.9"}} }, "Gov-Vendor-Forwarded", "Forwarded[0].For"},
		{"hop bad ip", func(r *Origin) {
			r.Forwarded = []Hop{{By: "203.0.113.6", For: "198.51.100.0"}, {By: "x", For: "203.0.113.6"}}
		}, "Gov-Vendor-Forwarded", "Forwarded[1].By"},
		{"no licences", func(r *Origin) { r.Vendor.LicenseIDs = nil }, "Gov-Vendor-License-IDs", "Vendor.LicenseIDs"},
		{"empty licence", func(r *Origin) { r.Vendor.LicenseIDs["a"] = "" }, "Gov-Vendor-License-IDs", `Vendor.LicenseIDs["a"]`},
		{"no product", func(r *Origin) { r.Vendor.ProductName = "" }, "Gov-Vendor-Product-Name", "Vendor.ProductName"},
		{"no version", func(r *Origin) { r.Vendor.Version = "" }, "Gov-Vendor-Version", "Vendor.Version"},
		{"missing not allowed", func(r *Origin) { r.MissingData = []string{"Gov-Client-Screens"} }, "Gov-Client-Screens", "MissingData"},
		{"missing wrong method", func(r *Origin) { r.MissingData = []string{"Gov-Client-MAC-Addresses"} }, "Gov-Client-MAC-Addresses", "MissingData"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := webOrigin()
			tt.mutate(&r)
			h, err := r.Headers()
			if err == nil || h != nil {
				t.Fatalf("Headers() = %v, nil; want an error", h)
			}
			if !hasError(err, tt.header, tt.field) {
				t.Errorf("error %q does not name %s / %s", err, tt.header, tt.field)
			}
		})
	}
}

func TestFraudBatchErrors(t *testing.T) {
	tests := []struct {
		name          string
		mutate        func(*Origin)
		header, field string
	}{
		{"no batch device", func(r *Origin) { r.BatchDevice = nil }, "Gov-Client-Local-IPs", "BatchDevice"},
		{"no os user", func(r *Origin) { r.BatchDevice.OSUser = "" }, "Gov-Client-User-IDs", "BatchDevice.OSUser"},
		{"os in user ids", func(r *Origin) { r.UserIDs = map[string]string{"os": "x"} }, "Gov-Client-User-IDs", `UserIDs["os"]`},
		{"no ips", func(r *Origin) { r.BatchDevice.LocalIPs = nil }, "Gov-Client-Local-IPs", "BatchDevice.LocalIPs"},
		{"bad ip", func(r *Origin) { r.BatchDevice.LocalIPs[1] = "10.1.2" }, "Gov-Client-Local-IPs", "BatchDevice.LocalIPs[1]"},
		{"no ip time", func(r *Origin) { r.BatchDevice.LocalIPsAt = time.Time{} }, "Gov-Client-Local-IPs-Timestamp", "BatchDevice.LocalIPsAt"},
		{"no macs", func(r *Origin) { r.BatchDevice.MACAddresses = nil }, "Gov-Client-MAC-Addresses", "BatchDevice.MACAddresses"},
		{"bad mac", func(r *Origin) { r.BatchDevice.MACAddresses[0] = "ea:43" }, "Gov-Client-MAC-Addresses", "BatchDevice.MACAddresses[0]"},
		{"no os family", func(r *Origin) { r.BatchDevice.OSFamily = "" }, "Gov-Client-User-Agent", "BatchDevice.OSFamily"},
		{"no os version", func(r *Origin) { r.BatchDevice.OSVersion = "" }, "Gov-Client-User-Agent", "BatchDevice.OSVersion"},
		{"missing port is web only", func(r *Origin) { r.MissingData = []string{"Gov-Client-Public-Port"} }, "Gov-Client-Public-Port", "MissingData"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := batchOrigin()
			tt.mutate(&r)
			if _, err := r.Headers(); !hasError(err, tt.header, tt.field) {
				t.Errorf("error %v does not name %s / %s", err, tt.header, tt.field)
			}
		})
	}
}

func hasError(err error, header, field string) bool {
	var joined interface{ Unwrap() []error }
	errs := []error{err}
	if errors.As(err, &joined) {
		errs = joined.Unwrap()
	}
	for _, e := range errs {
		var fe *HeaderError
		if errors.As(e, &fe) && fe.Header == header && fe.Field == field && fe.Problem != "" {
			return true
		}
	}
	return false
}

func TestFraudMissingData(t *testing.T) {
	r := webOrigin()
	r.MultiFactor = nil
	r.Vendor.LicenseIDs = nil
	r.ClientPort = 0
	r.MissingData = []string{"gov-client-multi-factor", "Gov-Vendor-License-IDs", "Gov-Client-Public-Port"}
	h := mustHeaders(t, r)
	if len(h) != 16 {
		t.Fatalf("got %d headers, want 16", len(h))
	}
	for _, k := range []string{"Gov-Client-Multi-Factor", "Gov-Vendor-License-IDs", "Gov-Client-Public-Port"} {
		if v, ok := h[http.CanonicalHeaderKey(k)]; !ok || len(v) != 1 || v[0] != "" {
			t.Errorf("%s = %q, %v; want one empty value", k, v, ok)
		}
	}
	// Every other header is non-empty.
	for k, v := range h {
		if len(v) != 1 || (v[0] == "" && !strings.Contains("Gov-Client-Multi-Factor Gov-Vendor-License-Ids Gov-Client-Public-Port", k)) {
			t.Errorf("%s = %q", k, v)
		}
	}

	b := batchOrigin()
	b.BatchDevice.MACAddresses = nil
	b.MissingData = []string{"Gov-Client-MAC-Addresses"}
	h = mustHeaders(t, b)
	if v := h.Values("Gov-Client-MAC-Addresses"); len(v) != 1 || v[0] != "" || len(h) != 11 {
		t.Errorf("MAC = %q, %d headers", v, len(h))
	}
}

func TestFraudHeaderNames(t *testing.T) {
	if n := len(HeaderNames(WebAppViaServer)); n != 16 {
		t.Errorf("web: %d names", n)
	}
	if n := len(HeaderNames(BatchProcessDirect)); n != 11 {
		t.Errorf("batch: %d names", n)
	}
	if HeaderNames("OTHER_DIRECT") != nil {
		t.Error("unknown method has names")
	}
	names := HeaderNames(WebAppViaServer)
	names[0] = "changed"
	if HeaderNames(WebAppViaServer)[0] == "changed" {
		t.Error("HeaderNames shares its slice")
	}
}

func TestHostBatchDevice(t *testing.T) {
	d, err := HostBatchDevice()
	if err != nil {
		t.Skipf("host cannot describe itself here: %v", err)
	}
	if d.OSUser == "" || len(d.LocalIPs) == 0 || d.OSFamily == "" || d.OSVersion == "" || d.LocalIPsAt.IsZero() {
		t.Fatalf("incomplete: %+v", d)
	}
	for _, ip := range d.LocalIPs {
		if ip == "127.0.0.1" || ip == "::1" {
			t.Errorf("loopback %s listed", ip)
		}
	}
	// Where the host does not tell its maker and model, Gov-Client-User-Agent
	// cannot be built without them: the configuration must give them.
	r := batchOrigin()
	r.BatchDevice = d
	if d.DeviceManufacturer == "" || d.DeviceModel == "" {
		if _, err := r.Headers(); err == nil || !strings.Contains(err.Error(), "Gov-Client-User-Agent") {
			t.Fatalf("a host without maker or model: Headers = %v", err)
		}
		d.DeviceManufacturer, d.DeviceModel = cmpOr(d.DeviceManufacturer, "Test Cloud"), cmpOr(d.DeviceModel, "Test VM")
		r.BatchDevice = d
	}
	if len(d.MACAddresses) == 0 {
		r.MissingData = []string{"Gov-Client-MAC-Addresses"}
	}
	h := mustHeaders(t, r)
	if len(h) != 11 {
		t.Errorf("%d headers", len(h))
	}
	t.Logf("%v", h)
}

func TestParseDeviceJSON(t *testing.T) {
	good := `{"ua":"Mozilla/5.0 (X11; Linux x86_64)","screens":[{"width":1920,"height":1080,"scalingFactor":1.5,"colourDepth":24}],"windowWidth":1256,"windowHeight":803,"tzOffset":-60}`
	d, err := ParseDeviceJSON([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	want := Device{JSUserAgent: "Mozilla/5.0 (X11; Linux x86_64)", Screens: []Screen{{1920, 1080, 1.5, 24}}, WindowWidth: 1256, WindowHeight: 803, TimezoneOffsetMinutes: -60}
	if d.JSUserAgent != want.JSUserAgent || !slices.Equal(d.Screens, want.Screens) || d.WindowWidth != 1256 || d.WindowHeight != 803 || d.TimezoneOffsetMinutes != -60 {
		t.Errorf("got %+v", d)
	}
	d2, err := ParseDeviceCookie(base64.RawURLEncoding.EncodeToString([]byte(good)))
	if err != nil || d2.JSUserAgent != d.JSUserAgent {
		t.Errorf("cookie: %+v %v", d2, err)
	}
	if _, err := ParseDeviceCookie(base64.URLEncoding.EncodeToString([]byte(good))); err != nil {
		t.Errorf("padded cookie: %v", err)
	}
	if _, err := ParseDeviceJSON([]byte(strings.Replace(good, `"tzOffset":-60`, `"tzOffset":0`, 1))); err != nil {
		t.Errorf("UTC: %v", err)
	}

	bad := []string{
		``,
		`null`,
		`[]`,
		`{}`,
		strings.Replace(good, `"ua":"Mozilla/5.0 (X11; Linux x86_64)"`, `"ua":""`, 1),
		strings.Replace(good, `"ua":"Mozilla/5.0 (X11; Linux x86_64)"`, `"ua":"  "`, 1),
		strings.Replace(good, `"width":1920`, `"width":0`, 1),
		strings.Replace(good, `"width":1920`, `"width":1920.5`, 1),
		strings.Replace(good, `"height":1080`, `"height":-1`, 1),
		strings.Replace(good, `"colourDepth":24`, `"colourDepth":0`, 1),
		strings.Replace(good, `"scalingFactor":1.5`, `"scalingFactor":0`, 1),
		strings.Replace(good, `"windowWidth":1256`, `"windowWidth":0`, 1),
		strings.Replace(good, `,"windowHeight":803`, ``, 1),
		strings.Replace(good, `,"tzOffset":-60`, ``, 1),
		strings.Replace(good, `"tzOffset":-60`, `"tzOffset":99999`, 1),
		strings.Replace(good, `"tzOffset":-60`, `"tzOffset":"-60"`, 1),
		strings.Replace(good, `"screens":[{"width":1920,"height":1080,"scalingFactor":1.5,"colourDepth":24}]`, `"screens":[]`, 1),
		strings.Replace(good, `"ua"`, `"extra":1,"ua"`, 1),
		good + `{}`,
		good + `x`,
		`{"ua":"` + strings.Repeat("a", 9000) + `"}`,
	}
	for _, b := range bad {
		if _, err := ParseDeviceJSON([]byte(b)); err == nil {
			t.Errorf("ParseDeviceJSON(%.80q) accepted", b)
		}
	}
	if _, err := ParseDeviceCookie("!!!"); err == nil {
		t.Error("bad base64 accepted")
	}
}

// FuzzFraudEncode checks the key-value encoder: values never contain a raw
// separator, and the header decodes back to its input.
func FuzzFraudEncode(f *testing.F) {
	f.Add("os", `domain\alice`, "Server 2012")
	f.Add("timestamp", "2021-11-21T13:23Z", "a&b=c,d")
	f.Add("", "", "")
	f.Add("my licensed software", "é%20+", "\r\n\x00")
	f.Add("2001:db8::1", "%zz", "~-._")
	f.Fuzz(func(t *testing.T, k, v1, v2 string) {
		pairs := [][2]string{{k, v1}, {"second", v2}}
		out := keyValues(pairs)
		parts := strings.Split(out, "&")
		if len(parts) != len(pairs) || strings.Contains(out, ",") {
			t.Fatalf("keyValues(%q) = %q: separators leaked", pairs, out)
		}
		for i, p := range parts {
			key, val, ok := strings.Cut(p, "=")
			if !ok || strings.Contains(val, "=") {
				t.Fatalf("part %q of %q", p, out)
			}
			dk, err1 := url.PathUnescape(key)
			dv, err2 := url.PathUnescape(val)
			if err1 != nil || err2 != nil || dk != pairs[i][0] || dv != pairs[i][1] {
				t.Fatalf("round trip of %q gave %q=%q (%v %v)", pairs[i], dk, dv, err1, err2)
			}
		}
		for i := 0; i < len(out); i++ {
			if c := out[i]; c < 0x21 || c > 0x7e {
				t.Fatalf("non-printable byte %#x in %q", c, out)
			}
		}
		ua := escapeNonPrintable(v1)
		for i := 0; i < len(ua); i++ {
			if c := ua[i]; c < 0x20 || c > 0x7e {
				t.Fatalf("escapeNonPrintable(%q) = %q", v1, ua)
			}
		}
	})
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Batch Gov-Client-User-Agent always carries its four fields: an origin
// without the maker or model is refused, naming the field.
func TestBatchUserAgentFourFields(t *testing.T) {
	for _, tc := range []struct{ name, want string }{{"manufacturer", "BatchDevice.DeviceManufacturer"}, {"model", "BatchDevice.DeviceModel"}} {
		r := batchOrigin()
		if tc.name == "manufacturer" {
			r.BatchDevice.DeviceManufacturer = ""
		} else {
			r.BatchDevice.DeviceModel = ""
		}
		if _, err := r.Headers(); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "configuration") {
			t.Errorf("no %s: %v", tc.name, err)
		}
	}
	h := mustHeaders(t, batchOrigin())
	if ua := h.Get("Gov-Client-User-Agent"); strings.Count(ua, "=") != 4 {
		t.Errorf("Gov-Client-User-Agent %q has not four fields", ua)
	}
}
