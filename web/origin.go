package web

// The origin of an HMRC call, for HMRC's fraud prevention headers (spec
// v3.3), which the law requires on every MTD API call:
//
//   - a landlord in the browser: WEB_APP_VIA_SERVER, from what /static/fph.js
//     collected (hidden input "fph" on POST forms, else the mtdconnect_fph
//     cookie), the device-ID cookie, the request's public IP and port
//     (through trusted proxies only), when it arrived, the sign-in's
//     second factor (secondFactors, mfa.go) and this server's vendor data
//     (browserOrigin);
//   - the platform's backend calling the JSON API with the landlord's device
//     data in Mtd-Client-* headers: WEB_APP_VIA_SERVER with the platform's
//     server as a hop (apiOrigin, format in docs/API.md);
//   - the JSON API without those headers: BATCH_PROCESS_DIRECT, this server
//     being the device (hmrc.Client.BatchOrigin), for reads; a request that
//     sends data to HMRC (an update, a return, the proxy's writes) must
//     say so explicitly with Mtd-Client-Connection-Method:
//     BATCH_PROCESS_DIRECT, or it is refused (apiOrigin): a landlord's
//     submission relayed without their device data would otherwise be
//     misdeclared as work no user started.
//
// Nothing here ever makes up a value: data that cannot be had is an error
// the landlord or the platform sees, or, only where the spec's missing-data
// process allows it, a header declared missing.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc/fraud"
	"github.com/mtdconnect/mtdconnect/landlord"
)

// The device-ID cookie holds Gov-Client-Device-ID: a random UUID that
// identifies the browser and, per the spec, should never expire. Browsers
// cap a cookie's lifetime at 400 days, so it is set again on every page and
// only lapses after 400 days without a visit.
const (
	deviceCookie         = "mtdconnect_device"
	deviceCookieLifetime = 400 * 24 * time.Hour
)

// productName is this software in Gov-Vendor-Product-Name and
// Gov-Vendor-Version (hmrc.Config.Vendor has the same default).
const productName = "mtdconnect"

// Errors of a browser request whose device data HMRC's rules need is
// missing or unusable. The page says what to do; the call is not made.
var (
	errNoDeviceData  = errors.New("web: no fraud-prevention device data (scripts off?)")
	errBadDeviceData = errors.New("web: unusable fraud-prevention device data")
)

// arrival is what the device middleware learns when a browser request
// arrives: the moment (Gov-Client-Public-IP-Timestamp) and the device ID.
type arrival struct {
	at       time.Time
	deviceID string
}

type arrivalKey struct{}

// withDevice stamps every browser request with its arrival time and device
// ID, issuing the device-ID cookie on the first visit (and renewing it on
// every page, see deviceCookie).
func (s *Server) withDevice(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := &arrival{at: s.now()}
		if c, err := r.Cookie(deviceCookie); err == nil && uuidRE.MatchString(c.Value) {
			a.deviceID = strings.ToLower(c.Value)
		} else {
			a.deviceID = newUUID()
		}
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			http.SetCookie(w, &http.Cookie{
				Name: deviceCookie, Value: a.deviceID, Path: "/",
				MaxAge: int(deviceCookieLifetime.Seconds()), HttpOnly: true, Secure: s.secureCookies, SameSite: http.SameSiteLaxMode,
			})
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), arrivalKey{}, a)))
	})
}

// arrivalOf returns the request's arrival, or a fresh one for a request
// that did not pass through withDevice (the API).
func (s *Server) arrivalOf(r *http.Request) *arrival {
	if a, ok := r.Context().Value(arrivalKey{}).(*arrival); ok {
		return a
	}
	return &arrival{at: s.now()}
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// ParseTrustedProxies reads a comma-separated list of CIDRs or single
// addresses ("10.0.0.0/8, 192.0.2.7, ::1") for Config.TrustedProxies.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if p, err := netip.ParsePrefix(item); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("trusted proxy %q is not an IP address or CIDR", item)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func (s *Server) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range s.trustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peer is one party of the connection chain: an address and, when known,
// the TCP source port it used.
type peer struct {
	addr netip.Addr
	port int
}

// clientPeer finds the landlord's browser (or, for the API, the platform's
// server) behind r: the TCP peer, unless the peer is a trusted proxy, in
// which case the proxy's Forwarded (RFC 7239) or X-Forwarded-For header is
// read right to left, skipping trusted proxies, and the first untrusted
// address is the client (anything left of it was written by the client and
// may be forged). hops are the internet hops after the first that the
// proxies described (Forwarded's by=), for Gov-Vendor-Forwarded.
func (s *Server) clientPeer(r *http.Request) (client peer, hops []fraud.Hop, err error) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return peer{}, nil, fmt.Errorf("web: remote address %q: %w", r.RemoteAddr, err)
	}
	client = peer{addr: ap.Addr().WithZone("").Unmap(), port: int(ap.Port())}
	if !s.trusted(client.addr) {
		return client, nil, nil
	}
	var chain []forwardedNode
	if fwd := r.Header.Values("Forwarded"); len(fwd) > 0 {
		chain, err = parseForwarded(strings.Join(fwd, ","))
	} else if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		chain, err = parseXForwardedFor(strings.Join(xff, ","))
	}
	if err != nil {
		return peer{}, nil, fmt.Errorf("%w: %w", errBadRequest, err)
	}
	i := len(chain) - 1
	for ; i > 0 && chain[i].for_.addr.IsValid() && s.trusted(chain[i].for_.addr); i-- {
	}
	if i < 0 {
		return client, nil, nil // a trusted peer that forwarded nothing: it is the client
	}
	if !chain[i].for_.addr.IsValid() {
		// "unknown" or an obfuscated identifier where the client should be.
		return peer{}, nil, fmt.Errorf("%w: the forwarded client address is not an IP address", errBadRequest)
	}
	client = chain[i].for_
	// The proxy nearest the client wrote chain[i]; that hop is the first
	// of Gov-Vendor-Forwarded, which browserOrigin builds from the vendor
	// public IP. The proxies further in describe the hops after it.
	for _, n := range chain[i+1:] {
		if n.by.IsValid() && isPublic(n.by) && isPublic(n.for_.addr) {
			hops = append(hops, fraud.Hop{By: n.by.String(), For: n.for_.addr.String()})
		}
	}
	return client, hops, nil
}

func isPublic(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsGlobalUnicast() && !a.IsPrivate()
}

// forwardedNode is one proxy's record of a connection: who connected to it
// (for) and, with Forwarded, the interface it was received on (by).
type forwardedNode struct {
	for_ peer
	by   netip.Addr
}

// Limits on forwarding headers, so a forged one cannot make us do much.
const maxForwardedNodes = 32

// parseXForwardedFor reads "client, proxy1, proxy2"; entries may carry a
// port ("198.51.100.7:52311", "[2001:db8::7]:52311"), as some load
// balancers add it. An entry that is not an address is an error.
func parseXForwardedFor(v string) ([]forwardedNode, error) {
	var out []forwardedNode
	for item := range strings.SplitSeq(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		p, ok := parseNode(item)
		if !ok || !p.addr.IsValid() {
			return nil, fmt.Errorf("web: X-Forwarded-For entry %q is not an IP address", item)
		}
		out = append(out, forwardedNode{for_: p})
		if len(out) > maxForwardedNodes {
			return nil, errors.New("web: X-Forwarded-For has too many entries")
		}
	}
	return out, nil
}

// parseForwarded reads RFC 7239: elements separated by commas, each
// pairs separated by semicolons, values tokens or quoted strings. Only for
// and by are used; "unknown" and obfuscated identifiers ("_hidden") give
// an invalid address.
func parseForwarded(v string) ([]forwardedNode, error) {
	var out []forwardedNode
	for elem := range splitOutsideQuotes(v, ',') {
		elem = strings.TrimSpace(elem)
		if elem == "" {
			continue
		}
		var n forwardedNode
		for pair := range splitOutsideQuotes(elem, ';') {
			k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
			if !ok {
				return nil, fmt.Errorf("web: Forwarded pair %q has no value", pair)
			}
			if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
				val = strings.ReplaceAll(val[1:len(val)-1], `\`, "")
			}
			k = strings.ToLower(k)
			if k != "for" && k != "by" {
				continue // proto, host and extensions
			}
			node, okNode := parseNode(val)
			if !okNode {
				return nil, fmt.Errorf("web: Forwarded %s=%q is not a node", k, val)
			}
			if k == "for" {
				n.for_ = node
			} else {
				n.by = node.addr
			}
		}
		out = append(out, n)
		if len(out) > maxForwardedNodes {
			return nil, errors.New("web: Forwarded has too many elements")
		}
	}
	return out, nil
}

func splitOutsideQuotes(s string, sep byte) func(func(string) bool) {
	return func(yield func(string) bool) {
		start, quoted := 0, false
		for i := 0; i < len(s); i++ {
			switch {
			case s[i] == '"':
				quoted = !quoted
			case s[i] == '\\' && quoted:
				i++
			case s[i] == sep && !quoted:
				if !yield(s[start:i]) {
					return
				}
				start = i + 1
			}
		}
		yield(s[start:])
	}
}

// parseNode reads an RFC 7239 node or an X-Forwarded-For entry: an IPv4
// address or a bracketed or bare IPv6 address, with an optional port (a
// number, or an obfuscated "_port", which is dropped). "unknown" and
// obfuscated "_identifier" nodes are valid but carry no address.
func parseNode(s string) (peer, bool) {
	if s == "unknown" || strings.HasPrefix(s, "_") {
		return peer{}, true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return peer{addr: ap.Addr().WithZone("").Unmap(), port: int(ap.Port())}, true
	}
	host := s
	switch {
	case strings.HasPrefix(s, "["):
		h, rest, ok := strings.Cut(s[1:], "]")
		if !ok || (rest != "" && !strings.HasPrefix(rest, ":_")) {
			return peer{}, false
		}
		host = h
	case strings.Count(s, ":") == 1: // IPv4 with an obfuscated port
		h, port, _ := strings.Cut(s, ":")
		if !strings.HasPrefix(port, "_") {
			return peer{}, false
		}
		host = h
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return peer{}, false
	}
	return peer{addr: a.WithZone("").Unmap()}, true
}

// vendorIP is Gov-Vendor-Public-IP: the configured public address clients
// connect to (a load balancer's), else the address this server received r
// on.
func (s *Server) vendorIP(r *http.Request) (netip.Addr, error) {
	if s.vendorPublicIP.IsValid() {
		return s.vendorPublicIP, nil
	}
	local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if local == nil {
		return netip.Addr{}, errors.New("web: the request's local address is unknown; set the vendor public IP")
	}
	ap, err := netip.ParseAddrPort(local.String())
	if err != nil {
		return netip.Addr{}, fmt.Errorf("web: local address %q: %w", local, err)
	}
	return ap.Addr().WithZone("").Unmap(), nil
}

// vendor is this software as HMRC's headers describe it.
func (s *Server) vendor(publicIP netip.Addr) fraud.Vendor {
	return fraud.Vendor{ProductName: productName, Version: mtdconnect.Version, PublicIP: publicIP.String(), LicenseIDs: maps.Clone(s.licenceIDs)}
}

// userIDs are the landlord's accounts with us, for Gov-Client-User-IDs: the
// internal ID and the email they sign in with (the spec asks for the
// sign-in identifier; HMRC uses it to tell accounts apart, so it is sent as
// is, not hashed).
func userIDs(u *mtdconnect.User) map[string]string {
	ids := map[string]string{"mtdconnect": strconv.FormatInt(u.ID, 10)}
	if u.Email != "" {
		ids["mtdconnect-email"] = u.Email
	}
	return ids
}

// missing lists the headers the spec's missing-data process lets us send
// empty: no licences configured; no multi-factor (a sign-in with the
// password only, which the spec names as the missing-data case for this
// header; the second factor is optional in mtdconnect, and for the
// platform's landlords it is the platform's sign-in); no client port (a
// trusted proxy that does not pass it on).
func (s *Server) missing(req *fraud.Origin) {
	if len(req.Vendor.LicenseIDs) == 0 {
		req.MissingData = append(req.MissingData, "Gov-Vendor-License-IDs")
	}
	if len(req.MultiFactor) == 0 {
		req.MissingData = append(req.MissingData, "Gov-Client-Multi-Factor")
	}
	if req.ClientPort == 0 {
		req.MissingData = append(req.MissingData, "Gov-Client-Public-Port")
	}
}

// browserOrigin describes the landlord's browser behind r as the origin of
// the HMRC calls r leads to (WEB_APP_VIA_SERVER). It fails with
// errNoDeviceData when the page could not run fph.js, and errBadDeviceData
// when what it sent is unusable: the call must then not be made.
func (s *Server) browserOrigin(r *http.Request, u *mtdconnect.User) (*fraud.Origin, error) {
	dev, err := s.browserDevice(r)
	if err != nil {
		return nil, err
	}
	arr := s.arrivalOf(r)
	dev.DeviceID = arr.deviceID
	client, hops, err := s.clientPeer(r)
	if err != nil {
		return nil, err
	}
	vip, err := s.vendorIP(r)
	if err != nil {
		return nil, err
	}
	req := &fraud.Origin{
		Method:     fraud.WebAppViaServer,
		Device:     dev,
		ClientIP:   client.addr.String(),
		ClientPort: client.port,
		ReceivedAt: arr.at,
		UserIDs:    userIDs(u),
		Vendor:     s.vendor(vip),
	}
	if len(hops) > 0 {
		// The first hop is always by=Gov-Vendor-Public-IP,
		// for=Gov-Client-Public-IP; the proxies' own records follow.
		req.Forwarded = append([]fraud.Hop{{By: vip.String(), For: req.ClientIP}}, hops...)
	}
	mf, err := s.secondFactors(r, u)
	if err != nil {
		return nil, err
	}
	req.MultiFactor = mf
	s.missing(req)
	return req, nil
}

// browserDevice reads what fph.js collected: the hidden "fph" input of a
// POST form, else the cookie it keeps for GETs.
func (s *Server) browserDevice(r *http.Request) (fraud.Device, error) {
	if r.Method == http.MethodPost {
		if v := r.PostFormValue("fph"); v != "" {
			d, err := fraud.ParseDeviceJSON([]byte(v))
			if err != nil {
				return fraud.Device{}, fmt.Errorf("%w: form: %w", errBadDeviceData, err)
			}
			return d, nil
		}
	}
	c, err := r.Cookie(fraud.CookieName)
	if err != nil || c.Value == "" {
		return fraud.Device{}, errNoDeviceData
	}
	d, err := fraud.ParseDeviceCookie(c.Value)
	if err != nil {
		return fraud.Device{}, fmt.Errorf("%w: cookie: %w", errBadDeviceData, err)
	}
	return d, nil
}

// The headers the platform sends the landlord's device data in (docs/API.md).
const (
	hdrClientDevice    = "Mtd-Client-Device"
	hdrClientDeviceID  = "Mtd-Client-Device-ID"
	hdrClientPublicIP  = "Mtd-Client-Public-IP"
	hdrClientPort      = "Mtd-Client-Public-Port"
	hdrClientTime      = "Mtd-Client-Request-Time"
	hdrClientUserIDs   = "Mtd-Client-User-IDs"
	hdrClientMFA       = "Mtd-Client-Multi-Factor"
	hdrClientVendorIP  = "Mtd-Client-Vendor-Public-IP"
	hdrClientMethod    = "Mtd-Client-Connection-Method"
	clientHeaderPrefix = "Mtd-Client-"
)

var clientHeaders = []string{hdrClientDevice, hdrClientDeviceID, hdrClientPublicIP, hdrClientPort,
	hdrClientTime, hdrClientUserIDs, hdrClientMFA, hdrClientVendorIP, hdrClientMethod}

// errDeviceDataRequired: an API request that sends data to HMRC came with
// neither the landlord's device data nor the platform's statement that no
// user started it.
var errDeviceDataRequired = errors.New("web: a request that sends data to HMRC needs the landlord's device data or Mtd-Client-Connection-Method: BATCH_PROCESS_DIRECT")

// callKind says what the HMRC calls of an API request do, for the fraud
// prevention rule of apiOrigin.
type callKind int

const (
	// callReads: the request only reads from HMRC.
	callReads callKind = iota
	// callSends: the request sends the landlord's data to HMRC (a
	// quarterly update, a VAT return; the proxy's writes).
	callSends
)

// callKindOf is the kind of a request passed on to HMRC as it is (the
// proxy): GET and HEAD read, every other method sends.
func callKindOf(method string) callKind {
	if method == http.MethodGet || method == http.MethodHead {
		return callReads
	}
	return callSends
}

// headerError is a malformed or missing Mtd-Client-* header: the API
// answers 400 naming it.
type headerError struct {
	Header  string
	Problem string
}

func (e *headerError) Error() string { return "web: header " + e.Header + ": " + e.Problem }

// headerErrors are all the problems found in the Mtd-Client-* headers.
type headerErrors []*headerError

func (e headerErrors) Error() string { return "web: device headers: " + e.summary() }

func (e headerErrors) summary() string {
	parts := make([]string, len(e))
	for i, h := range e {
		parts[i] = h.Header + " " + h.Problem
	}
	return strings.Join(parts, "; ")
}

// apiOrigin describes the origin of the HMRC calls an API request of kind
// leads to; it is the one place the API's fraud prevention rule is
// applied, for every endpoint and the proxy. With the landlord's device
// data in Mtd-Client-* headers it is the landlord's browser
// (WEB_APP_VIA_SERVER), reached through the platform's server. With
// Mtd-Client-Connection-Method: BATCH_PROCESS_DIRECT alone the platform
// states that no user started the request, and the calls are a batch
// process of this server's. With none of those headers a read is such a
// batch call too, but a request that sends data is refused
// (errDeviceDataRequired): HMRC allows BATCH_PROCESS_DIRECT only when no
// user initiated the action, and a landlord's submission must not be
// declared as one by default. Some headers but not a usable set is a
// headerErrors naming each problem.
func (s *Server) apiOrigin(r *http.Request, userID int64, kind callKind) (*fraud.Origin, error) {
	present := false
	for name := range r.Header {
		if strings.HasPrefix(name, clientHeaderPrefix) && !strings.EqualFold(name, hdrClientMethod) {
			present = true
			break
		}
	}
	methods := r.Header.Values(hdrClientMethod)
	batch := func() (*fraud.Origin, error) {
		return s.hmrc.BatchOrigin(map[string]string{"mtdconnect": strconv.FormatInt(userID, 10)})
	}
	switch method := strings.TrimSpace(strings.Join(methods, ",")); {
	case len(methods) > 1:
		return nil, headerErrors{{Header: hdrClientMethod, Problem: fmt.Sprintf("is sent %d times; send it once", len(methods))}}
	case method == string(fraud.BatchProcessDirect) && present:
		return nil, headerErrors{{Header: hdrClientMethod, Problem: "says BATCH_PROCESS_DIRECT (no user started the request), " +
			"but the landlord's device data is sent too: send one or the other"}}
	case method == string(fraud.BatchProcessDirect):
		return batch()
	case len(methods) == 1 && method != string(fraud.WebAppViaServer):
		return nil, headerErrors{{Header: hdrClientMethod, Problem: "must be WEB_APP_VIA_SERVER (with the landlord's device data) or BATCH_PROCESS_DIRECT (no user started the request)"}}
	case !present && kind == callSends:
		return nil, errDeviceDataRequired
	case !present && len(methods) == 0:
		return batch()
	}
	u, err := s.store.UserByID(r.Context(), userID)
	if errors.Is(err, mtdconnect.ErrNotFound) {
		return nil, landlord.ErrUnknownUser
	}
	if err != nil {
		return nil, fmt.Errorf("web: api origin: %w", err)
	}

	var errs headerErrors
	bad := func(h, format string, a ...any) {
		errs = append(errs, &headerError{Header: h, Problem: fmt.Sprintf(format, a...)})
	}
	for name := range r.Header {
		if strings.HasPrefix(name, clientHeaderPrefix) && !slices.ContainsFunc(clientHeaders, func(h string) bool { return strings.EqualFold(h, name) }) {
			bad(name, "is not a header this API reads (see docs/API.md)")
		}
	}
	one := func(h string, required bool) string {
		vs := r.Header.Values(h)
		switch {
		case len(vs) > 1:
			bad(h, "is sent %d times; send it once", len(vs))
		case len(vs) == 0 || strings.TrimSpace(vs[0]) == "":
			if required {
				bad(h, "is required with the other Mtd-Client-* headers")
			}
		default:
			return strings.TrimSpace(vs[0])
		}
		return ""
	}

	req := &fraud.Origin{Method: fraud.WebAppViaServer, UserIDs: userIDs(u)}
	if v := one(hdrClientDevice, true); v != "" {
		if d, err := fraud.ParseDeviceCookie(v); err != nil {
			bad(hdrClientDevice, "must be the base64url JSON of fph.js: %v", strings.TrimPrefix(err.Error(), "fraud: "))
		} else {
			req.Device = d
		}
	}
	if v := one(hdrClientDeviceID, true); v != "" {
		if !uuidRE.MatchString(v) {
			bad(hdrClientDeviceID, "must be a UUID such as beec798b-b366-47fa-b1f8-92cede14a1ce")
		}
		req.Device.DeviceID = strings.ToLower(v)
	}
	if v := one(hdrClientPublicIP, true); v != "" {
		if a, err := netip.ParseAddr(v); err != nil || a.Zone() != "" {
			bad(hdrClientPublicIP, "must be an IPv4 or IPv6 address without a port")
		} else {
			req.ClientIP = a.Unmap().String()
		}
	}
	if v := one(hdrClientPort, false); v != "" {
		if p, err := strconv.Atoi(v); err != nil || p < 1 || p > 65535 || v[0] == '0' || v[0] == '+' {
			bad(hdrClientPort, "must be the browser's TCP source port, 1 to 65535")
		} else {
			req.ClientPort = p
		}
	}
	if v := one(hdrClientTime, true); v != "" {
		if t, err := time.Parse(time.RFC3339Nano, v); err != nil {
			bad(hdrClientTime, "must be an RFC 3339 time with milliseconds, such as 2026-07-01T09:30:05.123Z")
		} else {
			req.ReceivedAt = t
		}
	}
	if v := one(hdrClientUserIDs, true); v != "" {
		ids, err := parseKeyValues(v)
		if err != nil {
			bad(hdrClientUserIDs, "must be key=value pairs joined by &, percent-encoded: %v", err)
		}
		for k, id := range ids {
			if k == "os" || strings.HasPrefix(k, productName) {
				bad(hdrClientUserIDs, "must not use the key %q (os is not sent for web apps; %s is ours)", k, productName)
				continue
			}
			req.UserIDs[k] = id
		}
	}
	if v := one(hdrClientMFA, false); v != "" {
		mf, err := parseMultiFactor(v)
		if err != nil {
			bad(hdrClientMFA, "must be Gov-Client-Multi-Factor's format: %v", err)
		}
		req.MultiFactor = mf
	}
	var platformIP netip.Addr
	if v := one(hdrClientVendorIP, true); v != "" {
		if a, err := netip.ParseAddr(v); err != nil || a.Zone() != "" {
			bad(hdrClientVendorIP, "must be the IP address the landlord's browser connected to at your platform")
		} else {
			platformIP = a.Unmap()
		}
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b *headerError) int { return strings.Compare(a.Header, b.Header) })
		return nil, errs
	}

	// The landlord's browser reached the platform (first hop, its public
	// IP is Gov-Vendor-Public-IP); the platform's server then reached us.
	platform, _, err := s.clientPeer(r)
	if err != nil {
		return nil, err
	}
	ours, err := s.vendorIP(r)
	if err != nil {
		return nil, err
	}
	req.Vendor = s.vendor(platformIP)
	req.Forwarded = []fraud.Hop{{By: platformIP.String(), For: req.ClientIP}}
	if isPublic(ours) && isPublic(platform.addr) {
		// Private-network hops are left out (spec: Gov-Vendor-Forwarded).
		req.Forwarded = append(req.Forwarded, fraud.Hop{By: ours.String(), For: platform.addr.String()})
	}
	s.missing(req)
	return req, nil
}

// parseKeyValues reads HMRC's key-value structure k1=v1&k2=v2 with
// percent-encoded keys and values.
func parseKeyValues(v string) (map[string]string, error) {
	out := map[string]string{}
	for part := range strings.SplitSeq(v, "&") {
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("%q has no =", part)
		}
		dk, err1 := url.PathUnescape(k)
		dv, err2 := url.PathUnescape(val)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%q is not percent-encoded properly", part)
		}
		if dk == "" || dv == "" {
			return nil, fmt.Errorf("%q has an empty key or value", part)
		}
		if _, dup := out[dk]; dup {
			return nil, fmt.Errorf("key %q appears twice", dk)
		}
		out[dk] = dv
	}
	return out, nil
}

// parseMultiFactor reads Gov-Client-Multi-Factor's format:
// type=TOTP&timestamp=2025-06-01T09%3A30Z&unique-reference=…, comma-separated.
func parseMultiFactor(v string) ([]fraud.MultiFactor, error) {
	var out []fraud.MultiFactor
	for item := range strings.SplitSeq(v, ",") {
		kv, err := parseKeyValues(item)
		if err != nil {
			return nil, err
		}
		m := fraud.MultiFactor{Type: kv["type"], UniqueReference: kv["unique-reference"]}
		if m.Type != "TOTP" && m.Type != "AUTH_CODE" && m.Type != "OTHER" {
			return nil, fmt.Errorf("type %q must be TOTP, AUTH_CODE or OTHER", m.Type)
		}
		for _, layout := range []string{"2006-01-02T15:04Z", "2006-01-02T15:04:05Z", time.RFC3339Nano} {
			if t, err := time.Parse(layout, kv["timestamp"]); err == nil {
				m.At = t
				break
			}
		}
		if m.At.IsZero() {
			return nil, fmt.Errorf("timestamp %q must be UTC like 2025-06-01T09:30Z", kv["timestamp"])
		}
		if m.UniqueReference == "" {
			return nil, errors.New("unique-reference is required")
		}
		out = append(out, m)
	}
	return out, nil
}
