package web

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/fraud"
	"github.com/mtdconnect/mtdconnect/hmrc/hmrctest"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
	"github.com/mtdconnect/mtdconnect/hmrc/vat"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
	"github.com/mtdconnect/mtdconnect/landlord"
)

// deviceJSON is what fph.js collects in a browser, as it sends it.
const deviceJSON = `{"ua":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",` +
	`"screens":[{"width":1920,"height":1080,"scalingFactor":1.25,"colourDepth":24}],"windowWidth":1256,"windowHeight":803,"tzOffset":-60}`

const (
	serverDeviceID = "8d3c2f0e-6a1b-4c5d-9e7f-0a1b2c3d4e5f"
	vendorIP       = "203.0.113.6"
)

var licences = map[string]string{"mtdconnect": "LICENCE-TEST-0001"}

// originServer is a Server with a real store and HMRC client (which these
// tests never let call HMRC), trusting the proxies in 10.0.0.0/8 and
// 192.0.2.60, behind a load balancer at 203.0.113.6.
func originServer(t *testing.T, cfg Config) (*Server, *mtdconnect.User) {
	t.Helper()
	h := hmrctest.New(t, hmrctest.Options{Configure: func(_ *hmrctest.Env, c *hmrc.Config) {
		c.DeviceID, c.Vendor.LicenseIDs = serverDeviceID, licences
	}})
	svc, err := landlord.New(landlord.Config{Store: h.Store, HMRC: h.Client, ITSA: itsa.New(h.Client), VAT: vat.New(h.Client)})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store, cfg.HMRC, cfg.Landlord, cfg.PublicURL, cfg.Sealer = h.Store, h.Client, svc, "http://127.0.0.1:8080", h.Sealer
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, h.CreateUser(t, "landlord@example.com", "", "")
}

func defaultOriginConfig() Config {
	trusted, err := ParseTrustedProxies("10.0.0.0/8, 192.0.2.60, fd00::/8")
	if err != nil {
		panic(err)
	}
	return Config{TrustedProxies: trusted, VendorPublicIP: vendorIP, LicenceIDs: licences}
}

// originOf runs r through the device middleware, as the browser routes
// are, and returns browserOrigin's answer and the response's cookies.
func originOf(s *Server, u *mtdconnect.User, r *http.Request) (*fraud.Origin, []*http.Cookie, error) {
	var (
		got *fraud.Origin
		err error
	)
	rec := httptest.NewRecorder()
	s.withDevice(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, err = s.browserOrigin(r, u)
	})).ServeHTTP(rec, r)
	return got, rec.Result().Cookies(), err
}

func fphCookie(j string) *http.Cookie {
	return &http.Cookie{Name: fraud.CookieName, Value: base64.RawURLEncoding.EncodeToString([]byte(j))}
}

func TestBrowserOrigin(t *testing.T) {
	s, u := originServer(t, defaultOriginConfig())
	const deviceID = "beec798b-b366-47fa-b1f8-92cede14a1ce"
	for _, tt := range []struct {
		name    string
		remote  string
		header  http.Header
		form    string // the hidden fph input; "" for a GET
		cookie  *http.Cookie
		wantIP  string
		port    int
		hops    []fraud.Hop
		wantErr error // errors.Is target; nil for success
		errText string
	}{
		{name: "direct IPv4", remote: "198.51.100.7:51234", cookie: fphCookie(deviceJSON),
			wantIP: "198.51.100.7", port: 51234},
		{name: "untrusted peer's X-Forwarded-For is ignored", remote: "198.51.100.7:51234",
			header: http.Header{"X-Forwarded-For": {"192.0.2.200"}, "Forwarded": {"for=192.0.2.201"}}, cookie: fphCookie(deviceJSON),
			wantIP: "198.51.100.7", port: 51234},
		{name: "direct IPv6", remote: "[2001:db8:cafe::17]:4711", cookie: fphCookie(deviceJSON),
			wantIP: "2001:db8:cafe::17", port: 4711},
		{name: "IPv4-mapped IPv6 peer", remote: "[::ffff:198.51.100.7]:4711", cookie: fphCookie(deviceJSON),
			wantIP: "198.51.100.7", port: 4711},
		{name: "trusted proxy, X-Forwarded-For without port", remote: "10.0.0.5:40000",
			header: http.Header{"X-Forwarded-For": {"198.51.100.7"}}, cookie: fphCookie(deviceJSON),
			wantIP: "198.51.100.7", port: 0},
		{name: "trusted proxy, client's forged entries left of it ignored", remote: "10.0.0.5:40000",
			header: http.Header{"X-Forwarded-For": {"192.0.2.99, 10.1.1.1", "198.51.100.7:51234, 10.0.0.9"}}, cookie: fphCookie(deviceJSON),
			wantIP: "198.51.100.7", port: 51234},
		{name: "trusted proxy, Forwarded with IPv6 and port", remote: "10.0.0.5:40000",
			header: http.Header{"Forwarded": {`for="[2001:db8:cafe::17]:4711";by=203.0.113.6;proto=https`}}, cookie: fphCookie(deviceJSON),
			wantIP: "2001:db8:cafe::17", port: 4711},
		{name: "trusted proxy over IPv6", remote: "[fd00::5]:40000",
			header: http.Header{"X-Forwarded-For": {"[2001:db8::9]:61000"}}, cookie: fphCookie(deviceJSON),
			wantIP: "2001:db8::9", port: 61000},
		{name: "two internet hops", remote: "10.0.0.5:40000",
			header: http.Header{"Forwarded": {`for="198.51.100.7:51234";by=203.0.113.6, for=192.0.2.60;by=203.0.113.43`}}, cookie: fphCookie(deviceJSON),
			wantIP: "198.51.100.7", port: 51234,
			hops: []fraud.Hop{{By: vendorIP, For: "198.51.100.7"}, {By: "203.0.113.43", For: "192.0.2.60"}}},
		{name: "trusted proxy that forwarded nothing is the client", remote: "10.0.0.5:40000", cookie: fphCookie(deviceJSON),
			wantIP: "10.0.0.5", port: 40000},
		{name: "trusted proxy with a malformed X-Forwarded-For", remote: "10.0.0.5:40000",
			header: http.Header{"X-Forwarded-For": {"198.51.100.7, not-an-ip"}}, cookie: fphCookie(deviceJSON),
			wantErr: errBadRequest},
		{name: "trusted proxy hiding the client", remote: "10.0.0.5:40000",
			header: http.Header{"Forwarded": {"for=unknown"}}, cookie: fphCookie(deviceJSON),
			wantErr: errBadRequest},
		{name: "form data wins over the cookie", remote: "198.51.100.7:51234", form: deviceJSON, cookie: fphCookie("garbage"),
			wantIP: "198.51.100.7", port: 51234},
		{name: "no cookie and no form data (scripts off)", remote: "198.51.100.7:51234", wantErr: errNoDeviceData},
		{name: "POST without fph and no cookie", remote: "198.51.100.7:51234", form: " ", wantErr: errNoDeviceData},
		{name: "malformed device JSON in the form", remote: "198.51.100.7:51234", form: `{"ua":"x","screens":[]}`,
			wantErr: errBadDeviceData, errText: "screens must list"},
		{name: "device JSON with a placeholder", remote: "198.51.100.7:51234",
			cookie:  fphCookie(strings.Replace(deviceJSON, `"tzOffset":-60`, `"tzOffset":null`, 1)),
			wantErr: errBadDeviceData, errText: "tzOffset is missing"},
		{name: "cookie not base64url", remote: "198.51.100.7:51234", cookie: &http.Cookie{Name: fraud.CookieName, Value: "{not base64}"},
			wantErr: errBadDeviceData},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var r *http.Request
			if tt.form != "" {
				r = httptest.NewRequest(http.MethodPost, "/settings/hmrc/test", strings.NewReader(url.Values{"fph": {strings.TrimSpace(tt.form)}}.Encode()))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			} else {
				r = httptest.NewRequest(http.MethodGet, "/quarterly", nil)
			}
			r.RemoteAddr = tt.remote
			for k, vs := range tt.header {
				r.Header[k] = vs
			}
			if tt.cookie != nil {
				r.AddCookie(tt.cookie)
			}
			r.AddCookie(&http.Cookie{Name: deviceCookie, Value: deviceID})
			before := time.Now()
			got, _, err := originOf(s, u, r)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("err = %v, want %v containing %q", err, tt.wantErr, tt.errText)
				}
				if got != nil {
					t.Errorf("an origin came with the error: %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Method != fraud.WebAppViaServer || got.ClientIP != tt.wantIP || got.ClientPort != tt.port {
				t.Errorf("method %s client %s port %d, want WEB_APP_VIA_SERVER %s %d", got.Method, got.ClientIP, got.ClientPort, tt.wantIP, tt.port)
			}
			if !slices.Equal(got.Forwarded, tt.hops) {
				t.Errorf("forwarded %v, want %v", got.Forwarded, tt.hops)
			}
			if got.Device.DeviceID != deviceID || got.Device.WindowWidth != 1256 || got.Device.TimezoneOffsetMinutes != -60 || len(got.Device.Screens) != 1 {
				t.Errorf("device %+v", got.Device)
			}
			if got.ReceivedAt.Before(before) || got.ReceivedAt.After(time.Now()) {
				t.Errorf("received at %v, not when the request arrived", got.ReceivedAt)
			}
			if got.Vendor.PublicIP != vendorIP || got.Vendor.ProductName != "mtdconnect" || got.Vendor.LicenseIDs["mtdconnect"] != licences["mtdconnect"] {
				t.Errorf("vendor %+v", got.Vendor)
			}
			if got.UserIDs["mtdconnect"] != "1" || got.UserIDs["mtdconnect-email"] != u.Email || len(got.UserIDs) != 2 {
				t.Errorf("user IDs %v", got.UserIDs)
			}
			// No second factor at sign-in: declared missing, as is a port
			// the proxy did not pass on; nothing else.
			wantMissing := []string{"Gov-Client-Multi-Factor"}
			if tt.port == 0 {
				wantMissing = append(wantMissing, "Gov-Client-Public-Port")
			}
			if !slices.Equal(got.MissingData, wantMissing) {
				t.Errorf("missing data %v, want %v", got.MissingData, wantMissing)
			}
			h, err := got.Headers()
			if err != nil {
				t.Fatalf("headers: %v", err)
			}
			// The simulator judges them as HMRC's Test API does; the only
			// expected remark is the declared-missing multi-factor (and,
			// for a client on a private network, that its IP is not public).
			res := hmrcsim.ValidateFraudHeaders(h)
			if len(res.Errors) > 0 && tt.port != 0 {
				t.Errorf("verdict %s: errors %+v", res.Code, res.Errors)
			}
			for _, w := range res.Warnings {
				if w.Code == hmrcsim.IssueEmpty && slices.Equal(w.Headers, []string{"gov-client-multi-factor"}) {
					continue
				}
				if w.Code == hmrcsim.IssuePotentiallyInvalid && !isPublic(netip.MustParseAddr(tt.wantIP)) {
					continue
				}
				t.Errorf("unexpected warning %+v", w)
			}
		})
	}
}

// TestBrowserOriginValid: a browser on the internet behind the load
// balancer, signed in with an authenticator app, gets VALID_HEADERS from
// the simulator's copy of HMRC's validator.
func TestBrowserOriginValid(t *testing.T) {
	s, u := originServer(t, defaultOriginConfig())
	sealed, err := SealTOTPSecret(s.sealer, u.ID, NewTOTPSecret())
	if err != nil {
		t.Fatal(err)
	}
	u.TOTPSecret = sealed
	if err := s.store.SetTOTP(t.Context(), u.ID, sealed, 0); err != nil {
		t.Fatal(err)
	}
	mfaAt := time.Date(2026, 5, 1, 9, 30, 0, 0, time.UTC)
	token := "session-token-with-mfa"
	if err := s.store.CreateSession(t.Context(), &mtdconnect.Session{
		TokenHash: hashSessionToken(token), UserID: u.ID, MFAAt: mfaAt, CreatedAt: mfaAt, ExpiresAt: mfaAt.Add(time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/quarterly", nil)
	r.RemoteAddr = "10.0.0.5:40000"
	r.Header.Set("X-Forwarded-For", "198.51.100.7:51234")
	r.AddCookie(fphCookie(deviceJSON))
	r.AddCookie(&http.Cookie{Name: sessionCookie, Value: token})
	got, cookies, err := originOf(s, u, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.MultiFactor) != 1 || got.MultiFactor[0].Type != "TOTP" || !got.MultiFactor[0].At.Equal(mfaAt) || len(got.MissingData) != 0 {
		t.Errorf("multi-factor %+v, missing %v", got.MultiFactor, got.MissingData)
	}
	h, err := got.Headers()
	if err != nil {
		t.Fatal(err)
	}
	if res := hmrcsim.ValidateFraudHeaders(h); res.Code != hmrcsim.FraudValid {
		t.Errorf("verdict %s: %+v %+v\nheaders %v", res.Code, res.Errors, res.Warnings, h)
	}
	// First visit: a new device ID, in a long-lived HttpOnly cookie.
	var dc *http.Cookie
	for _, c := range cookies {
		if c.Name == deviceCookie {
			dc = c
		}
	}
	if dc == nil || !uuidRE.MatchString(dc.Value) || dc.Value != got.Device.DeviceID || !dc.HttpOnly ||
		dc.SameSite != http.SameSiteLaxMode || dc.MaxAge < 365*24*3600 || dc.Path != "/" {
		t.Fatalf("device cookie %+v (device ID %q)", dc, got.Device.DeviceID)
	}
	// Next visit: the same ID.
	r2 := httptest.NewRequest(http.MethodGet, "/quarterly", nil)
	r2.RemoteAddr = "198.51.100.7:51999"
	r2.AddCookie(fphCookie(deviceJSON))
	r2.AddCookie(dc)
	again, _, err := originOf(s, u, r2)
	if err != nil || again.Device.DeviceID != dc.Value {
		t.Errorf("second visit: device ID %v, %v; want %s", again, err, dc.Value)
	}
	// A tampered device cookie is replaced, never used.
	r3 := httptest.NewRequest(http.MethodGet, "/quarterly", nil)
	r3.RemoteAddr = "198.51.100.7:51999"
	r3.AddCookie(fphCookie(deviceJSON))
	r3.AddCookie(&http.Cookie{Name: deviceCookie, Value: "null"})
	if o, _, err := originOf(s, u, r3); err != nil || !uuidRE.MatchString(o.Device.DeviceID) {
		t.Errorf("tampered cookie: %+v, %v", o, err)
	}
}

// TestVendorIPDefault: without a configured vendor IP, the address the
// request was received on is used.
func TestVendorIPDefault(t *testing.T) {
	s, u := originServer(t, Config{})
	r := httptest.NewRequest(http.MethodGet, "/quarterly", nil)
	r.RemoteAddr = "198.51.100.7:51234"
	r.AddCookie(fphCookie(deviceJSON))
	r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.ParseIP("2001:db8::80"), Port: 443}))
	got, _, err := originOf(s, u, r)
	if err != nil {
		t.Fatal(err)
	}
	if got.Vendor.PublicIP != "2001:db8::80" {
		t.Errorf("vendor IP %q", got.Vendor.PublicIP)
	}
	// No licences configured: declared missing rather than made up.
	if !slices.Contains(got.MissingData, "Gov-Vendor-License-IDs") || len(got.Vendor.LicenseIDs) != 0 {
		t.Errorf("missing %v, licences %v", got.MissingData, got.Vendor.LicenseIDs)
	}
	if _, err := got.Headers(); err != nil {
		t.Error(err)
	}
}

func TestParseTrustedProxies(t *testing.T) {
	got, err := ParseTrustedProxies(" 10.0.0.0/8,192.0.2.7 , ::1,2001:db8::/32,, 10.1.2.3/8")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.7/32", "::1/128", "2001:db8::/32", "10.0.0.0/8"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("[%d] = %s, want %s", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "fe80::1%eth0", "10.0.0"} {
		if _, err := ParseTrustedProxies(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := New(Config{VendorPublicIP: "not-an-ip"}); err == nil {
		t.Error("New accepted a bad vendor IP")
	}
}

// apiDeviceHeaders are complete Mtd-Client-* headers as a platform sends
// them: the landlord's browser at 198.51.100.7, signed in to the platform
// with an authenticator app, on the platform's site at 203.0.113.50.
func apiDeviceHeaders() http.Header {
	return http.Header{
		"Mtd-Client-Device":           {base64.RawURLEncoding.EncodeToString([]byte(deviceJSON))},
		"Mtd-Client-Device-Id":        {"beec798b-b366-47fa-b1f8-92cede14a1ce"},
		"Mtd-Client-Public-Ip":        {"198.51.100.7"},
		"Mtd-Client-Public-Port":      {"51234"},
		"Mtd-Client-Request-Time":     {"2026-07-01T09:30:05.123Z"},
		"Mtd-Client-User-Ids":         {"acme-lettings=alice%40example.com&acme-lettings-id=4711"},
		"Mtd-Client-Multi-Factor":     {"type=TOTP&timestamp=2026-07-01T09%3A01Z&unique-reference=fc4b5fd6816f75a7c81fc8eaa9499d6a"},
		"Mtd-Client-Vendor-Public-Ip": {"203.0.113.50"},
	}
}

func TestAPIOrigin(t *testing.T) {
	s, u := originServer(t, defaultOriginConfig())
	with := func(mod func(h http.Header)) http.Header {
		h := apiDeviceHeaders()
		mod(h)
		return h
	}
	for _, tt := range []struct {
		name        string
		remote      string
		header      http.Header
		method      fraud.ConnectionMethod
		badHeaders  []string // expected in the error, sorted
		wantVerdict string
	}{
		{name: "no device headers: batch", remote: "198.51.100.99:40000", header: http.Header{"X-Other": {"1"}},
			method: fraud.BatchProcessDirect},
		{name: "device headers: web via server", remote: "198.51.100.99:40000", header: apiDeviceHeaders(),
			method: fraud.WebAppViaServer, wantVerdict: hmrcsim.FraudValid},
		{name: "platform behind our trusted proxy", remote: "10.0.0.5:40000",
			header: with(func(h http.Header) { h.Set("X-Forwarded-For", "198.51.100.99") }),
			method: fraud.WebAppViaServer, wantVerdict: hmrcsim.FraudValid},
		{name: "no multi-factor at the platform: declared missing", remote: "198.51.100.99:40000",
			header: with(func(h http.Header) { h.Del("Mtd-Client-Multi-Factor") }),
			method: fraud.WebAppViaServer, wantVerdict: hmrcsim.FraudPotentiallyInvalid},
		{name: "IPv6 client", remote: "198.51.100.99:40000",
			header: with(func(h http.Header) { h.Set("Mtd-Client-Public-IP", "2001:db8:cafe::17") }),
			method: fraud.WebAppViaServer, wantVerdict: hmrcsim.FraudValid},
		{name: "only some headers", remote: "198.51.100.99:40000",
			header:     http.Header{"Mtd-Client-Public-Ip": {"198.51.100.7"}},
			badHeaders: []string{"Mtd-Client-Device", "Mtd-Client-Device-ID", "Mtd-Client-Request-Time", "Mtd-Client-User-IDs", "Mtd-Client-Vendor-Public-IP"}},
		{name: "device JSON malformed", remote: "198.51.100.99:40000",
			header: with(func(h http.Header) {
				h.Set("Mtd-Client-Device", base64.RawURLEncoding.EncodeToString([]byte(`{"ua":""}`)))
			}),
			badHeaders: []string{"Mtd-Client-Device"}},
		{name: "device not base64url", remote: "198.51.100.99:40000",
			header:     with(func(h http.Header) { h.Set("Mtd-Client-Device", deviceJSON) }),
			badHeaders: []string{"Mtd-Client-Device"}},
		{name: "device ID not a UUID", remote: "198.51.100.99:40000",
			header:     with(func(h http.Header) { h.Set("Mtd-Client-Device-ID", "undefined") }),
			badHeaders: []string{"Mtd-Client-Device-ID"}},
		{name: "public IP with a port", remote: "198.51.100.99:40000",
			header:     with(func(h http.Header) { h.Set("Mtd-Client-Public-IP", "198.51.100.7:51234") }),
			badHeaders: []string{"Mtd-Client-Public-IP"}},
		{name: "port out of range", remote: "198.51.100.99:40000",
			header:     with(func(h http.Header) { h.Set("Mtd-Client-Public-Port", "70000") }),
			badHeaders: []string{"Mtd-Client-Public-Port"}},
		{name: "time not RFC 3339", remote: "198.51.100.99:40000",
			header:     with(func(h http.Header) { h.Set("Mtd-Client-Request-Time", "01/07/2026 09:30") }),
			badHeaders: []string{"Mtd-Client-Request-Time"}},
		{name: "user IDs with os", remote: "198.51.100.99:40000",
			header:     with(func(h http.Header) { h.Set("Mtd-Client-User-IDs", "os=alice") }),
			badHeaders: []string{"Mtd-Client-User-IDs"}},
		{name: "user IDs taking our key", remote: "198.51.100.99:40000",
			header:     with(func(h http.Header) { h.Set("Mtd-Client-User-IDs", "mtdconnect=999") }),
			badHeaders: []string{"Mtd-Client-User-IDs"}},
		{name: "user IDs not key-value", remote: "198.51.100.99:40000",
			header:     with(func(h http.Header) { h.Set("Mtd-Client-User-IDs", "alice") }),
			badHeaders: []string{"Mtd-Client-User-IDs"}},
		{name: "multi-factor of an unknown type", remote: "198.51.100.99:40000",
			header: with(func(h http.Header) {
				h.Set("Mtd-Client-Multi-Factor", "type=SMS&timestamp=2026-07-01T09%3A01Z&unique-reference=x")
			}),
			badHeaders: []string{"Mtd-Client-Multi-Factor"}},
		{name: "vendor IP missing", remote: "198.51.100.99:40000",
			header:     with(func(h http.Header) { h.Del("Mtd-Client-Vendor-Public-IP") }),
			badHeaders: []string{"Mtd-Client-Vendor-Public-IP"}},
		{name: "header sent twice", remote: "198.51.100.99:40000",
			header:     with(func(h http.Header) { h.Add("Mtd-Client-Public-IP", "198.51.100.8") }),
			badHeaders: []string{"Mtd-Client-Public-IP"}},
		{name: "unknown Mtd-Client header", remote: "198.51.100.99:40000",
			header:     with(func(h http.Header) { h.Set("Mtd-Client-Screens", "1920x1080") }),
			badHeaders: []string{"Mtd-Client-Screens"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/api/v1/users/id:1/hmrc/obligations", nil)
			r.RemoteAddr = tt.remote
			for k, vs := range tt.header {
				r.Header[http.CanonicalHeaderKey(k)] = vs
			}
			got, err := s.apiOrigin(r, u.ID, callReads)
			if tt.badHeaders != nil {
				var he headerErrors
				if !errors.As(err, &he) {
					t.Fatalf("err = %v, want headerErrors", err)
				}
				var names []string
				for _, h := range he {
					names = append(names, http.CanonicalHeaderKey(h.Header))
				}
				var want []string
				for _, h := range tt.badHeaders {
					want = append(want, http.CanonicalHeaderKey(h))
				}
				if !slices.Equal(names, want) {
					t.Errorf("bad headers %v, want %v (%v)", names, want, err)
				}
				if p := classify(err); p.Status != http.StatusBadRequest || p.Code != "invalid_device_headers" || len(p.Errors) != len(he) {
					t.Errorf("classified as %+v", p)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Method != tt.method {
				t.Fatalf("method %s, want %s", got.Method, tt.method)
			}
			if tt.method == fraud.BatchProcessDirect {
				if got.Device.DeviceID != serverDeviceID || got.UserIDs["mtdconnect"] != "1" || got.BatchDevice == nil {
					t.Errorf("batch origin %+v", got)
				}
				h, err := got.Headers()
				if err != nil {
					t.Fatal(err)
				}
				if v := hmrcsim.ValidateFraudHeaders(h); v.Code != hmrcsim.FraudValid {
					t.Errorf("batch verdict %s: %+v %+v", v.Code, v.Errors, v.Warnings)
				}
				return
			}
			if got.Vendor.PublicIP != "203.0.113.50" || got.UserIDs["acme-lettings"] != "alice@example.com" || got.UserIDs["mtdconnect"] != "1" {
				t.Errorf("origin %+v", got)
			}
			// The landlord reached the platform, the platform reached us.
			wantHops := []fraud.Hop{{By: "203.0.113.50", For: got.ClientIP}, {By: vendorIP, For: "198.51.100.99"}}
			if !slices.Equal(got.Forwarded, wantHops) {
				t.Errorf("hops %v, want %v", got.Forwarded, wantHops)
			}
			h, err := got.Headers()
			if err != nil {
				t.Fatal(err)
			}
			if res := hmrcsim.ValidateFraudHeaders(h); res.Code != tt.wantVerdict {
				t.Errorf("verdict %s, want %s: %+v %+v", res.Code, tt.wantVerdict, res.Errors, res.Warnings)
			}
		})
	}
}

func TestParseForwarded(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    []string // for|by|port
		wantErr bool
	}{
		{in: `for=192.0.2.60;proto=http;by=203.0.113.43`, want: []string{"192.0.2.60|203.0.113.43|0"}},
		{in: `For="[2001:db8:cafe::17]:4711"`, want: []string{"2001:db8:cafe::17|invalid IP|4711"}},
		{in: `for=192.0.2.43, for=198.51.100.17`, want: []string{"192.0.2.43|invalid IP|0", "198.51.100.17|invalid IP|0"}},
		{in: `for=unknown;by="_hidden"`, want: []string{"invalid IP|invalid IP|0"}},
		{in: `for="192.0.2.43:_obf"`, want: []string{"192.0.2.43|invalid IP|0"}},
		{in: `for="[2001:db8::1]:_obf"`, want: []string{"2001:db8::1|invalid IP|0"}},
		{in: `for="a;b=c, d", for=192.0.2.1`, wantErr: true},
		{in: `for`, wantErr: true},
		{in: `for=example.com`, wantErr: true},
	} {
		got, err := parseForwarded(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("%q: accepted as %+v", tt.in, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		var s []string
		for _, n := range got {
			s = append(s, n.for_.addr.String()+"|"+n.by.String()+"|"+strconv.Itoa(n.for_.port))
		}
		if !slices.Equal(s, tt.want) {
			t.Errorf("%q = %v, want %v", tt.in, s, tt.want)
		}
	}
}

// TestClassifyIncomeTax: what the landlord and the platform are told of
// each Income Tax problem, and what they are pointed to.
func TestClassifyIncomeTax(t *testing.T) {
	for _, tt := range []struct {
		err    error
		status int
		code   string
		action string
		msg    string // a part of the message
		errs   int
	}{
		{errNoDeviceData, 400, "device_data_missing", "", "Your browser must allow scripts for HMRC's fraud-prevention rules", 0},
		{fmt.Errorf("%w: x", errBadDeviceData), 400, "device_data_invalid", "", "Reload the page", 0},
		{headerErrors{{Header: "Mtd-Client-Device", Problem: "is required"}}, 400, "invalid_device_headers", "", "Mtd-Client-Device is required", 1},
		{landlord.ErrNoNINO, 409, "nino_required", actionSettings, "Add it in your settings", 0},
		{&mtdconnect.NINOError{Input: "x", Problem: "must not be empty"}, 409, "nino_invalid", actionSettings, "must not be empty", 0},
		{&jsonBodyError{Problem: "it is empty"}, 400, "invalid_json", "", "it is empty", 0},
		{hmrc.JoinValidationErrors([]*hmrc.ValidationError{{Code: "FORMAT_VALUE", Message: "m", Paths: []string{"/a", "/b"}}, {Code: "RULE_BOTH_EXPENSES_SUPPLIED", Message: "n"}}),
			400, "invalid_request", "", "nothing was sent", 2},
		{func() error { _, err := itsa.ParseTaxYear("2025"); return err }(), 400, "invalid_request", "", "", 1},
		{fmt.Errorf("x: %w", itsa.ErrNoUKProperty), 404, "no_uk_property_business", actionSettings, "sign up your property income", 0},
		{fmt.Errorf("x: %w", itsa.ErrNoSubmission), 404, "no_submission", "", "", 0},
		{&hmrc.APIError{Status: 401, Code: "INVALID_CREDENTIALS"}, 409, "INVALID_CREDENTIALS", actionReconnect, "Connect to HMRC again", 0},
		{&hmrc.APIError{Status: 403, Code: "INVALID_SCOPE"}, 409, "INVALID_SCOPE", actionReconnect, "", 0},
		{&hmrc.APIError{Status: 403, Code: "CLIENT_OR_AGENT_NOT_AUTHORISED"}, 403, "CLIENT_OR_AGENT_NOT_AUTHORISED", actionSettings, "cannot act for the National Insurance number", 0},
		{&hmrc.APIError{Status: 401, Code: "CLIENT_OR_AGENT_NOT_AUTHORISED"}, 403, "CLIENT_OR_AGENT_NOT_AUTHORISED", actionSettings, "", 0},
		{&hmrc.APIError{Status: 400, Code: "FORMAT_NINO"}, 409, "FORMAT_NINO", actionSettings, "not valid", 0},
		{&hmrc.APIError{Status: 404, Code: "MATCHING_RESOURCE_NOT_FOUND"}, 404, "MATCHING_RESOURCE_NOT_FOUND", actionSettings, "", 0},
		{&hmrc.APIError{Status: 400, Code: "RULE_EARLY_DATA_SUBMISSION_NOT_ACCEPTED"}, 422, "RULE_EARLY_DATA_SUBMISSION_NOT_ACCEPTED", "", "closer to the end of the period", 0},
		{&hmrc.APIError{Status: 400, Code: "RULE_OUTSIDE_AMENDMENT_WINDOW"}, 422, "RULE_OUTSIDE_AMENDMENT_WINDOW", "", "tax return", 0},
		{&hmrc.APIError{Status: 400, Code: "RULE_INSOLVENT_TRADER"}, 422, "RULE_INSOLVENT_TRADER", "", "Contact HMRC", 0},
		{&hmrc.APIError{Status: 429, Code: "MESSAGE_THROTTLED_OUT"}, 503, "MESSAGE_THROTTLED_OUT", "", "Try again in a minute", 0},
		{&hmrc.APIError{Status: 400, Code: "INVALID_REQUEST", Errors: []hmrc.APIErrorItem{{Code: "FORMAT_VALUE", Paths: []string{"/ukProperty/income/periodAmount"}}}},
			422, "INVALID_REQUEST", "", "Correct them", 1},
		{&hmrc.APIError{Status: 400, Code: "SOMETHING_ELSE", Message: "Odd", CorrelationID: "abc-123"}, 502, "SOMETHING_ELSE", "", "quote HMRC's reference abc-123", 0},
	} {
		p := classify(tt.err)
		if p.Status != tt.status || p.Code != tt.code || p.Action != tt.action || !strings.Contains(p.Message, tt.msg) || len(p.Errors) != tt.errs {
			t.Errorf("classify(%v) = %d %q %q %q %d errors, want %d %q %q ~%q %d", tt.err, p.Status, p.Code, p.Action, p.Message, len(p.Errors),
				tt.status, tt.code, tt.action, tt.msg, tt.errs)
		}
	}
}

func TestParseFormAmount(t *testing.T) {
	for _, tt := range []struct{ in, want, shown string }{
		{"1250", "1250", "£1,250.00"},
		{" £12,500.00 ", "12500.00", "£12,500.00"},
		{"-£20", "-20", "−£20.00"},
		{"−5.5", "-5.5", "−£5.50"},
		{".5", "0.5", "£0.50"},
		{"1234567.89", "1234567.89", "£1,234,567.89"},
		{"0", "0", "£0.00"},
	} {
		a, err := parseFormAmount(tt.in)
		if err != nil || a.String() != tt.want || formatAmount(a) != tt.shown {
			t.Errorf("parseFormAmount(%q) = %v, %v; shown %q; want %s %s", tt.in, a, err, formatAmount(a), tt.want, tt.shown)
		}
	}
	if a, err := parseFormAmount("  "); a != nil || err != nil {
		t.Errorf("empty: %v %v", a, err)
	}
	for _, bad := range []string{"twelve", "1.2.3", "£", "1e", "01", "12 50", "--5", "1,2a"} {
		if a, err := parseFormAmount(bad); err == nil {
			t.Errorf("%q accepted as %v", bad, a)
		}
	}
}
