package hmrc

// Fraud prevention headers, HMRC specification v3.3
// (https://developer.service.hmrc.gov.uk/guides/fraud-prevention/), required
// by law on every VAT (MTD) and Income Tax (MTD) API call.
//
// Encoding, as the spec and its examples show:
//   - keys and values of key-value structures, and list items, are
//     percent-encoded per RFC 3986 §2.1: every byte except the unreserved
//     characters A–Z a–z 0–9 - . _ ~ becomes %XX (upper-case hex), so a space
//     is %20 (never +) and ':' is %3A; the '=', '&' and ',' separators are
//     not encoded;
//   - Gov-Client-Public-IP and Gov-Vendor-Public-IP carry the address as is
//     (the spec's IPv6 example is not encoded); Gov-Vendor-Forwarded and
//     Gov-Client-Local-IPs percent-encode IPv6;
//   - Gov-Client-Browser-JS-User-Agent is navigator.userAgent as reported,
//     with only bytes outside printable US-ASCII percent-encoded.
//
// Headers never emits a placeholder (null, undefined, an empty string) for
// required data; a missing or malformed value is an error that names the
// field. The only empty values are for headers the caller lists in
// Request.MissingData after agreeing it with HMRC (the spec's "missing header
// data" process), and only for the few headers where that can apply.
//
// Whether Gov-Client-Public-IP is really public is left to HMRC's validator:
// the service is often run and tested on 127.0.0.1, so Headers rejects only
// malformed addresses.

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/user"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ConnectionMethod is the value of Gov-Client-Connection-Method.
type ConnectionMethod string

const (
	// ConnectionWebAppViaServer is for requests a landlord triggers in the
	// browser; the originating device is the landlord's browser.
	ConnectionWebAppViaServer ConnectionMethod = "WEB_APP_VIA_SERVER"
	// ConnectionBatchProcessDirect is for work no user initiated (an
	// overnight obligations poll); the originating device is this server.
	ConnectionBatchProcessDirect ConnectionMethod = "BATCH_PROCESS_DIRECT"
)

// Header names exactly as the spec spells them. http.Header canonicalises
// them on Set (Gov-Client-Public-Ip); header names are case-insensitive and
// HMRC's validator reports them lower-case.
const (
	fphConnectionMethod  = "Gov-Client-Connection-Method"
	fphBrowserJSUA       = "Gov-Client-Browser-JS-User-Agent"
	fphDeviceID          = "Gov-Client-Device-ID"
	fphMultiFactor       = "Gov-Client-Multi-Factor"
	fphPublicIP          = "Gov-Client-Public-IP"
	fphPublicIPTimestamp = "Gov-Client-Public-IP-Timestamp"
	fphPublicPort        = "Gov-Client-Public-Port"
	fphScreens           = "Gov-Client-Screens"
	fphTimezone          = "Gov-Client-Timezone"
	fphUserIDs           = "Gov-Client-User-IDs"
	fphWindowSize        = "Gov-Client-Window-Size"
	fphLocalIPs          = "Gov-Client-Local-IPs"
	fphLocalIPsTimestamp = "Gov-Client-Local-IPs-Timestamp"
	fphMACAddresses      = "Gov-Client-MAC-Addresses"
	fphUserAgent         = "Gov-Client-User-Agent"
	fphVendorForwarded   = "Gov-Vendor-Forwarded"
	fphVendorLicenseIDs  = "Gov-Vendor-License-IDs"
	fphVendorProduct     = "Gov-Vendor-Product-Name"
	fphVendorPublicIP    = "Gov-Vendor-Public-IP"
	fphVendorVersion     = "Gov-Vendor-Version"
)

var fphHeaderSets = map[ConnectionMethod][]string{
	ConnectionWebAppViaServer: {
		fphConnectionMethod, fphBrowserJSUA, fphDeviceID, fphMultiFactor, fphPublicIP,
		fphPublicIPTimestamp, fphPublicPort, fphScreens, fphTimezone, fphUserIDs,
		fphWindowSize, fphVendorForwarded, fphVendorLicenseIDs, fphVendorProduct,
		fphVendorPublicIP, fphVendorVersion,
	},
	ConnectionBatchProcessDirect: {
		fphConnectionMethod, fphDeviceID, fphLocalIPs, fphLocalIPsTimestamp,
		fphMACAddresses, fphTimezone, fphUserAgent, fphUserIDs, fphVendorLicenseIDs,
		fphVendorProduct, fphVendorVersion,
	},
}

// fphMayBeMissing are the headers Request.MissingData may name: the ones
// where the spec itself anticipates that a value may be impossible to
// collect (single-factor sign-in, no licence on the device, a load balancer
// that drops the source port, a host without MAC addresses).
var fphMayBeMissing = map[string]bool{
	fphMultiFactor: true, fphVendorLicenseIDs: true, fphPublicPort: true, fphMACAddresses: true,
}

// FraudHeaderNames returns the header names, as the spec spells them, that
// Request.Headers produces for m (16 for web, 11 for batch), or nil for a
// method this package does not build.
func FraudHeaderNames(m ConnectionMethod) []string {
	return slices.Clone(fphHeaderSets[m])
}

// Screen is one screen of the originating device.
type Screen struct {
	Width, Height int
	ScalingFactor float64 // window.devicePixelRatio
	ColourDepth   int     // bits
}

// Device is what the landlord's browser reported (collected by
// /static/fph.js, see ParseDeviceJSON) plus the device-ID cookie.
type Device struct {
	DeviceID              string // a UUID kept in a long-lived cookie (web) or file (batch)
	JSUserAgent           string
	Screens               []Screen
	WindowWidth           int
	WindowHeight          int
	TimezoneOffsetMinutes int // JS getTimezoneOffset convention: minutes to ADD to local time to get UTC, so UTC+01:00 is -60
}

// MultiFactor is one factor of the landlord's most recent sign-in to
// mtdconnect (not the HMRC grant).
type MultiFactor struct {
	Type            string    // TOTP, AUTH_CODE or OTHER
	At              time.Time // last successful prompt for this factor
	UniqueReference string    // a salted hash identifying the factor, the same on every call
}

// Vendor describes this software and where it received the request.
type Vendor struct {
	ProductName string            // e.g. "mtdconnect"; Gov-Vendor-Product-Name and the Gov-Vendor-Version key
	Version     string            // e.g. "0.1.0"
	PublicIP    string            // the public IP the client connected to (load balancer, WAF or this server)
	LicenseIDs  map[string]string // software name → raw licence; each licence is sent as its SHA-256 (lower-case hex)
}

// Hop is one internet hop that terminates TLS: By is the public IP the
// server received the request on, For the public IP of the sender.
type Hop struct {
	By, For string
}

// BatchDevice is the server host as the originating device, for
// BATCH_PROCESS_DIRECT. HostBatchDevice fills it; collect it immediately
// before each request.
type BatchDevice struct {
	OSUser                string    // the OS account running the process
	LocalIPs              []string  // every non-loopback address of the host
	LocalIPsAt            time.Time // when LocalIPs were collected
	MACAddresses          []string  // e.g. "ea:43:1a:5d:21:45"
	OSFamily              string    // e.g. "Linux"
	OSVersion             string    // e.g. "6.8.0-45-generic"
	DeviceManufacturer    string    // optional; omitted from Gov-Client-User-Agent when empty
	DeviceModel           string    // optional; omitted from Gov-Client-User-Agent when empty
	TimezoneOffsetMinutes int       // JS convention, as Device.TimezoneOffsetMinutes
}

// Request is everything needed to build the fraud prevention headers of one
// HMRC call.
//
// For WEB_APP_VIA_SERVER every field except BatchDevice is read. For
// BATCH_PROCESS_DIRECT only Method, Device.DeviceID (the server's own
// persistent device ID), UserIDs, Vendor.ProductName, Vendor.Version,
// Vendor.LicenseIDs, BatchDevice and MissingData are read.
type Request struct {
	Method      ConnectionMethod
	Device      Device
	ClientIP    string    // the browser's public IP, without port
	ClientPort  int       // the browser's TCP source port
	ReceivedAt  time.Time // when the client's request reached us (Gov-Client-Public-IP-Timestamp)
	Forwarded   []Hop     // internet hops only, first one By=Vendor.PublicIP For=ClientIP; if empty that single hop is assumed
	UserIDs     map[string]string
	MultiFactor []MultiFactor
	Vendor      Vendor
	BatchDevice *BatchDevice

	// MissingData names headers (as the spec spells them) whose value could
	// not be collected and for which HMRC's missing-data process has been
	// followed; they are sent empty instead of failing. Only
	// Gov-Client-Multi-Factor, Gov-Vendor-License-IDs, Gov-Client-Public-Port
	// and Gov-Client-MAC-Addresses may be named, and only when their source
	// field is empty.
	MissingData []string
}

// FraudHeaderError says which header could not be built and why.
type FraudHeaderError struct {
	Header  string // e.g. "Gov-Client-Screens"
	Field   string // e.g. "Device.Screens[0].Width"
	Problem string
}

func (e *FraudHeaderError) Error() string {
	return fmt.Sprintf("hmrc: fraud prevention header %s: %s %s", e.Header, e.Field, e.Problem)
}

// fphBuilder collects header values and every problem found.
type fphBuilder struct {
	h       http.Header
	missing map[string]bool
	errs    []error
}

func (b *fphBuilder) fail(header, field, problem string) {
	b.errs = append(b.errs, &FraudHeaderError{Header: header, Field: field, Problem: problem})
}

// empty sends header with no value if the caller declared it missing, and
// otherwise records that field is required.
func (b *fphBuilder) empty(header, field string) {
	if b.missing[header] {
		b.h[http.CanonicalHeaderKey(header)] = []string{""}
		return
	}
	b.fail(header, field, "is required")
}

func (b *fphBuilder) set(header, value string) { b.h.Set(header, value) }

// Headers builds exactly the header set of r.Method: 16 headers for
// WEB_APP_VIA_SERVER, 11 for BATCH_PROCESS_DIRECT. If any value is missing
// or malformed it returns nil and an error joining one *FraudHeaderError per
// problem (use errors.As to get the first).
func (r Request) Headers() (http.Header, error) {
	names, ok := fphHeaderSets[r.Method]
	if !ok {
		return nil, &FraudHeaderError{Header: fphConnectionMethod, Field: "Method",
			Problem: fmt.Sprintf("%q is not supported (use %s or %s)", r.Method, ConnectionWebAppViaServer, ConnectionBatchProcessDirect)}
	}
	b := &fphBuilder{h: make(http.Header, len(names)), missing: map[string]bool{}}
	for _, m := range r.MissingData {
		canon := ""
		for _, n := range names {
			if strings.EqualFold(n, m) {
				canon = n
			}
		}
		if canon == "" || !fphMayBeMissing[canon] {
			b.fail(m, "MissingData", fmt.Sprintf("cannot name %q: only %s, %s, %s or %s of the %s headers may be declared missing",
				m, fphMultiFactor, fphVendorLicenseIDs, fphPublicPort, fphMACAddresses, r.Method))
			continue
		}
		b.missing[canon] = true
	}

	b.set(fphConnectionMethod, string(r.Method))
	r.deviceID(b)
	r.userIDs(b)
	r.vendor(b)
	if r.Method == ConnectionWebAppViaServer {
		r.web(b)
	} else {
		r.batch(b)
	}
	if len(b.errs) > 0 {
		return nil, errors.Join(b.errs...)
	}
	return b.h, nil
}

var fphUUID = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func (r Request) deviceID(b *fphBuilder) {
	switch id := r.Device.DeviceID; {
	case id == "":
		b.fail(fphDeviceID, "Device.DeviceID", "is required")
	case !fphUUID.MatchString(id):
		b.fail(fphDeviceID, "Device.DeviceID", "must be a UUID like beec798b-b366-47fa-b1f8-92cede14a1ce")
	default:
		b.set(fphDeviceID, id)
	}
}

func (r Request) userIDs(b *fphBuilder) {
	var pairs [][2]string
	if r.Method == ConnectionBatchProcessDirect {
		if r.BatchDevice == nil || r.BatchDevice.OSUser == "" {
			b.fail(fphUserIDs, "BatchDevice.OSUser", "is required")
		} else {
			pairs = append(pairs, [2]string{"os", r.BatchDevice.OSUser})
		}
	}
	for _, k := range fphSortedKeys(r.UserIDs) {
		v := r.UserIDs[k]
		switch {
		case k == "":
			b.fail(fphUserIDs, "UserIDs", "has an empty key")
			continue
		case k == "os":
			b.fail(fphUserIDs, `UserIDs["os"]`, "must not be set: web apps send no os key, and batch takes it from BatchDevice.OSUser")
			continue
		case v == "":
			b.fail(fphUserIDs, fmt.Sprintf("UserIDs[%q]", k), "is empty")
			continue
		}
		pairs = append(pairs, [2]string{k, v})
	}
	if len(pairs) == 0 {
		if r.Method == ConnectionWebAppViaServer {
			b.fail(fphUserIDs, "UserIDs", "is required (e.g. mtdconnect=<account id>)")
		}
		return
	}
	b.set(fphUserIDs, fphKeyValues(pairs))
}

func (r Request) vendor(b *fphBuilder) {
	v := r.Vendor
	if v.ProductName == "" {
		b.fail(fphVendorProduct, "Vendor.ProductName", "is required")
	} else {
		b.set(fphVendorProduct, fphEscape(v.ProductName))
	}
	if v.Version == "" {
		b.fail(fphVendorVersion, "Vendor.Version", "is required")
	} else if v.ProductName != "" {
		b.set(fphVendorVersion, fphKeyValues([][2]string{{v.ProductName, v.Version}}))
	}

	var lic [][2]string
	for _, k := range fphSortedKeys(v.LicenseIDs) {
		switch {
		case k == "":
			b.fail(fphVendorLicenseIDs, "Vendor.LicenseIDs", "has an empty software name")
		case v.LicenseIDs[k] == "":
			b.fail(fphVendorLicenseIDs, fmt.Sprintf("Vendor.LicenseIDs[%q]", k), "is empty")
		default:
			sum := sha256.Sum256([]byte(v.LicenseIDs[k]))
			lic = append(lic, [2]string{k, hex.EncodeToString(sum[:])})
		}
	}
	switch {
	case len(lic) > 0:
		b.set(fphVendorLicenseIDs, fphKeyValues(lic))
	case len(v.LicenseIDs) == 0:
		b.empty(fphVendorLicenseIDs, "Vendor.LicenseIDs")
	}
}

func (r Request) web(b *fphBuilder) {
	d := r.Device
	switch {
	case d.JSUserAgent == "":
		b.fail(fphBrowserJSUA, "Device.JSUserAgent", "is required")
	case strings.TrimSpace(d.JSUserAgent) == "" || d.JSUserAgent == "undefined" || d.JSUserAgent == "null":
		b.fail(fphBrowserJSUA, "Device.JSUserAgent", fmt.Sprintf("%q is not a user agent", d.JSUserAgent))
	default:
		b.set(fphBrowserJSUA, fphEscapeNonPrintable(d.JSUserAgent))
	}

	if len(d.Screens) == 0 {
		b.fail(fphScreens, "Device.Screens", "is required (at least one screen)")
	}
	var screens []string
	for i, s := range d.Screens {
		f := fmt.Sprintf("Device.Screens[%d]", i)
		ok := fphPositive(b, fphScreens, f+".Width", s.Width)
		ok = fphPositive(b, fphScreens, f+".Height", s.Height) && ok
		ok = fphPositive(b, fphScreens, f+".ColourDepth", s.ColourDepth) && ok
		if !(s.ScalingFactor > 0) || math.IsInf(s.ScalingFactor, 0) {
			b.fail(fphScreens, f+".ScalingFactor", fmt.Sprintf("must be a positive number, not %v", s.ScalingFactor))
			ok = false
		}
		if ok {
			screens = append(screens, fphKeyValues([][2]string{
				{"width", strconv.Itoa(s.Width)},
				{"height", strconv.Itoa(s.Height)},
				{"scaling-factor", strconv.FormatFloat(s.ScalingFactor, 'f', -1, 64)},
				{"colour-depth", strconv.Itoa(s.ColourDepth)},
			}))
		}
	}
	if len(screens) == len(d.Screens) && len(screens) > 0 {
		b.set(fphScreens, strings.Join(screens, ","))
	}

	okW := fphPositive(b, fphWindowSize, "Device.WindowWidth", d.WindowWidth)
	okH := fphPositive(b, fphWindowSize, "Device.WindowHeight", d.WindowHeight)
	if okW && okH {
		b.set(fphWindowSize, fphKeyValues([][2]string{{"width", strconv.Itoa(d.WindowWidth)}, {"height", strconv.Itoa(d.WindowHeight)}}))
	}

	fphTimezoneHeader(b, "Device.TimezoneOffsetMinutes", d.TimezoneOffsetMinutes)

	clientIP, okClient := fphIP(b, fphPublicIP, "ClientIP", r.ClientIP)
	if okClient {
		b.set(fphPublicIP, clientIP)
	}
	if r.ReceivedAt.IsZero() {
		b.fail(fphPublicIPTimestamp, "ReceivedAt", "is required")
	} else {
		b.set(fphPublicIPTimestamp, FormatTimestamp(r.ReceivedAt))
	}
	switch p := r.ClientPort; {
	case p == 0:
		b.empty(fphPublicPort, "ClientPort")
	case p < 0 || p > 65535:
		b.fail(fphPublicPort, "ClientPort", fmt.Sprintf("%d is not a TCP port (1–65535)", p))
	case p == 80 || p == 443:
		b.fail(fphPublicPort, "ClientPort", fmt.Sprintf("%d is a server port; send the client's source port", p))
	default:
		b.set(fphPublicPort, strconv.Itoa(p))
	}

	vendorIP, okVendor := fphIP(b, fphVendorPublicIP, "Vendor.PublicIP", r.Vendor.PublicIP)
	if okVendor {
		b.set(fphVendorPublicIP, vendorIP)
	}
	hops := r.Forwarded
	if len(hops) == 0 {
		if okClient && okVendor {
			b.set(fphVendorForwarded, fphKeyValues([][2]string{{"by", vendorIP}, {"for", clientIP}}))
		} else {
			b.fail(fphVendorForwarded, "Forwarded", "cannot be derived without valid ClientIP and Vendor.PublicIP")
		}
	} else {
		var list []string
		ok := true
		for i, hop := range hops {
			by, okBy := fphIP(b, fphVendorForwarded, fmt.Sprintf("Forwarded[%d].By", i), hop.By)
			fr, okFor := fphIP(b, fphVendorForwarded, fmt.Sprintf("Forwarded[%d].For", i), hop.For)
			ok = ok && okBy && okFor
			if i == 0 && okBy && okVendor && !fphSameIP(by, vendorIP) {
				b.fail(fphVendorForwarded, "Forwarded[0].By", fmt.Sprintf("%s must equal Vendor.PublicIP %s", by, vendorIP))
				ok = false
			}
			if i == 0 && okFor && okClient && !fphSameIP(fr, clientIP) {
				b.fail(fphVendorForwarded, "Forwarded[0].For", fmt.Sprintf("%s must equal ClientIP %s", fr, clientIP))
				ok = false
			}
			list = append(list, fphKeyValues([][2]string{{"by", by}, {"for", fr}}))
		}
		if ok {
			b.set(fphVendorForwarded, strings.Join(list, ","))
		}
	}

	if len(r.MultiFactor) == 0 {
		b.empty(fphMultiFactor, "MultiFactor")
	}
	var factors []string
	for i, m := range r.MultiFactor {
		f := fmt.Sprintf("MultiFactor[%d]", i)
		ok := true
		if m.Type != "TOTP" && m.Type != "AUTH_CODE" && m.Type != "OTHER" {
			b.fail(fphMultiFactor, f+".Type", fmt.Sprintf("%q must be TOTP, AUTH_CODE or OTHER", m.Type))
			ok = false
		}
		if m.At.IsZero() {
			b.fail(fphMultiFactor, f+".At", "is required")
			ok = false
		}
		if m.UniqueReference == "" {
			b.fail(fphMultiFactor, f+".UniqueReference", "is required")
			ok = false
		}
		if ok {
			factors = append(factors, fphKeyValues([][2]string{
				{"type", m.Type},
				{"timestamp", fphMultiFactorTime(m.At)},
				{"unique-reference", m.UniqueReference},
			}))
		}
	}
	if len(factors) > 0 && len(factors) == len(r.MultiFactor) {
		b.set(fphMultiFactor, strings.Join(factors, ","))
	}
}

func (r Request) batch(b *fphBuilder) {
	bd := r.BatchDevice
	if bd == nil {
		b.fail(fphLocalIPs, "BatchDevice", "is required for "+string(ConnectionBatchProcessDirect)+" (see HostBatchDevice)")
		return
	}
	fphTimezoneHeader(b, "BatchDevice.TimezoneOffsetMinutes", bd.TimezoneOffsetMinutes)

	if len(bd.LocalIPs) == 0 {
		b.fail(fphLocalIPs, "BatchDevice.LocalIPs", "is required")
	}
	var ips []string
	for i, s := range bd.LocalIPs {
		if ip, ok := fphIP(b, fphLocalIPs, fmt.Sprintf("BatchDevice.LocalIPs[%d]", i), s); ok {
			ips = append(ips, fphEscape(ip))
		}
	}
	if len(ips) > 0 && len(ips) == len(bd.LocalIPs) {
		b.set(fphLocalIPs, strings.Join(ips, ","))
	}
	if bd.LocalIPsAt.IsZero() {
		b.fail(fphLocalIPsTimestamp, "BatchDevice.LocalIPsAt", "is required")
	} else {
		b.set(fphLocalIPsTimestamp, FormatTimestamp(bd.LocalIPsAt))
	}

	if len(bd.MACAddresses) == 0 {
		b.empty(fphMACAddresses, "BatchDevice.MACAddresses")
	}
	var macs []string
	for i, s := range bd.MACAddresses {
		if _, err := net.ParseMAC(s); err != nil || s == "" {
			b.fail(fphMACAddresses, fmt.Sprintf("BatchDevice.MACAddresses[%d]", i), fmt.Sprintf("%q is not a MAC address", s))
			continue
		}
		macs = append(macs, fphEscape(s))
	}
	if len(macs) > 0 && len(macs) == len(bd.MACAddresses) {
		b.set(fphMACAddresses, strings.Join(macs, ","))
	}

	ua := [][2]string{{"os-family", bd.OSFamily}, {"os-version", bd.OSVersion}}
	if bd.OSFamily == "" {
		b.fail(fphUserAgent, "BatchDevice.OSFamily", "is required")
	}
	if bd.OSVersion == "" {
		b.fail(fphUserAgent, "BatchDevice.OSVersion", "is required")
	}
	if bd.DeviceManufacturer != "" {
		ua = append(ua, [2]string{"device-manufacturer", bd.DeviceManufacturer})
	}
	if bd.DeviceModel != "" {
		ua = append(ua, [2]string{"device-model", bd.DeviceModel})
	}
	if bd.OSFamily != "" && bd.OSVersion != "" {
		b.set(fphUserAgent, fphKeyValues(ua))
	}
}

func fphPositive(b *fphBuilder, header, field string, n int) bool {
	if n > 0 {
		return true
	}
	b.fail(header, field, fmt.Sprintf("must be a positive whole number of pixels or bits, not %d", n))
	return false
}

// fphMaxTZOffset is the widest UTC offset in use (UTC-12:00 to UTC+14:00)
// with room to spare.
const fphMaxTZOffset = 18 * 60

func fphTimezoneHeader(b *fphBuilder, field string, offset int) {
	if offset < -fphMaxTZOffset || offset > fphMaxTZOffset {
		b.fail(fphTimezone, field, fmt.Sprintf("%d minutes is not a UTC offset", offset))
		return
	}
	b.set(fphTimezone, EncodeTimezone(offset))
}

// fphIP checks that s is an IP address without port or zone and returns it
// as given (HMRC's own examples keep leading zeros and upper case), except
// that an IPv4-mapped IPv6 address becomes plain IPv4.
func fphIP(b *fphBuilder, header, field, s string) (string, bool) {
	if s == "" {
		b.fail(header, field, "is required")
		return "", false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		problem := fmt.Sprintf("%q is not an IP address", s)
		if _, perr := netip.ParseAddrPort(s); perr == nil {
			problem = fmt.Sprintf("%q must be an IP address without a port", s)
		}
		b.fail(header, field, problem)
		return "", false
	}
	if a.Is4In6() {
		return a.Unmap().String(), true
	}
	return s, true
}

func fphSameIP(x, y string) bool {
	a, errA := netip.ParseAddr(x)
	c, errC := netip.ParseAddr(y)
	return errA == nil && errC == nil && a.Unmap() == c.Unmap()
}

func fphSortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// EncodeTimezone formats a JS getTimezoneOffset value (minutes to add to
// local time to get UTC) as the spec's UTC±hh:mm: -60 → "UTC+01:00",
// 0 → "UTC+00:00", 75 → "UTC-01:15".
func EncodeTimezone(offsetMinutes int) string {
	east := -int64(offsetMinutes)
	sign := byte('+')
	if east < 0 {
		sign, east = '-', -east
	}
	return fmt.Sprintf("UTC%c%02d:%02d", sign, east/60, east%60)
}

// FormatTimestamp formats t in UTC as yyyy-MM-ddThh:mm:ss.sssZ with
// milliseconds, as Gov-Client-Public-IP-Timestamp and
// Gov-Client-Local-IPs-Timestamp require.
func FormatTimestamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// fphMultiFactorTime formats the timestamp of a factor: yyyy-MM-ddThh:mmZ
// when t falls on a whole minute (the spec's minimum, as in its example),
// otherwise with seconds and milliseconds, which the spec also allows.
func fphMultiFactorTime(t time.Time) string {
	t = t.UTC()
	if t.Second() == 0 && t.Nanosecond() < int(time.Millisecond) {
		return t.Format("2006-01-02T15:04Z")
	}
	return FormatTimestamp(t)
}

// fphEscape percent-encodes every byte of s except RFC 3986 unreserved
// characters (A–Z a–z 0–9 - . _ ~), with upper-case hex. Unlike
// url.QueryEscape a space is %20, and unlike url.PathEscape '&', '=', ':',
// ',' and '+' are all encoded, so the result can never contain a separator.
func fphEscape(s string) string {
	const hexDigits = "0123456789ABCDEF"
	n := 0
	for i := 0; i < len(s); i++ {
		if !fphUnreserved(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	buf := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if fphUnreserved(c) {
			buf = append(buf, c)
		} else {
			buf = append(buf, '%', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	return string(buf)
}

func fphUnreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// fphEscapeNonPrintable percent-encodes only the bytes outside printable
// US-ASCII (controls, DEL and non-ASCII), so a header value is always legal
// and cannot be split; everything else, '%' included, is sent as the browser
// reported it.
func fphEscapeNonPrintable(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var buf []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			if buf != nil {
				buf = append(buf, c)
			}
			continue
		}
		if buf == nil {
			buf = append(make([]byte, 0, len(s)+16), s[:i]...)
		}
		buf = append(buf, '%', hexDigits[c>>4], hexDigits[c&15])
	}
	if buf == nil {
		return s
	}
	return string(buf)
}

// fphKeyValues encodes pairs as k1=v1&k2=v2, keys and values percent-encoded,
// separators not.
func fphKeyValues(pairs [][2]string) string {
	var sb strings.Builder
	for i, p := range pairs {
		if i > 0 {
			sb.WriteByte('&')
		}
		sb.WriteString(fphEscape(p[0]))
		sb.WriteByte('=')
		sb.WriteString(fphEscape(p[1]))
	}
	return sb.String()
}

// HostBatchDevice describes this host as the originating device for
// BATCH_PROCESS_DIRECT: the OS user, every IP address and MAC address of the
// interfaces that are up, loopback excepted (net.Interfaces), the OS family and version, the manufacturer and
// model where the OS exposes them (Linux DMI), and the local UTC offset. Call
// it immediately before each request: LocalIPsAt is now.
//
// If something required cannot be read the error says what, and the device
// returned alongside it holds whatever could be read, so a caller that has
// followed HMRC's missing-data process can still use it.
func HostBatchDevice() (*BatchDevice, error) {
	now := time.Now()
	_, east := now.Zone()
	d := &BatchDevice{
		LocalIPsAt:            now,
		OSFamily:              fphOSFamily(runtime.GOOS),
		TimezoneOffsetMinutes: -east / 60,
	}
	var errs []error

	if u, err := user.Current(); err == nil && u.Username != "" {
		d.OSUser = u.Username
	} else if name := cmp.Or(os.Getenv("USER"), os.Getenv("USERNAME")); name != "" {
		d.OSUser = name
	} else {
		errs = append(errs, fmt.Errorf("OS user: not found (%v) and $USER is unset", err))
	}

	ifaces, err := net.Interfaces()
	if err != nil {
		errs = append(errs, fmt.Errorf("network interfaces: %w", err))
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagLoopback != 0 || ifc.Flags&net.FlagUp == 0 {
			continue
		}
		if hw := ifc.HardwareAddr.String(); hw != "" && strings.Trim(hw, "0:") != "" && !slices.Contains(d.MACAddresses, hw) {
			d.MACAddresses = append(d.MACAddresses, hw)
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			var ip net.IP
			switch v := a.(type) {
			case *net.IPNet:
				ip = v.IP
			case *net.IPAddr:
				ip = v.IP
			}
			if ip == nil || ip.IsLoopback() || ip.IsUnspecified() {
				continue
			}
			if s := ip.String(); !slices.Contains(d.LocalIPs, s) {
				d.LocalIPs = append(d.LocalIPs, s)
			}
		}
	}
	if len(d.LocalIPs) == 0 && err == nil {
		errs = append(errs, errors.New("no non-loopback IP address on any interface"))
	}

	d.OSVersion, d.DeviceManufacturer, d.DeviceModel = fphHostDetails()
	if d.OSVersion == "" {
		errs = append(errs, fmt.Errorf("OS version: not readable on %s", runtime.GOOS))
	}
	if len(errs) > 0 {
		return d, fmt.Errorf("hmrc: host batch device: %w", errors.Join(errs...))
	}
	return d, nil
}

func fphOSFamily(goos string) string {
	switch goos {
	case "linux":
		return "Linux"
	case "windows":
		return "Windows"
	case "darwin":
		return "MacOS"
	case "freebsd":
		return "FreeBSD"
	case "openbsd":
		return "OpenBSD"
	case "netbsd":
		return "NetBSD"
	default:
		return goos
	}
}

// fphHostDetails reads the OS version and, where exposed, the manufacturer
// and model. Only Linux is supported; elsewhere all three are empty.
func fphHostDetails() (version, manufacturer, model string) {
	read := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	if runtime.GOOS != "linux" {
		return "", "", ""
	}
	version = read("/proc/sys/kernel/osrelease")
	if version == "" {
		for line := range strings.SplitSeq(read("/etc/os-release"), "\n") {
			if v, ok := strings.CutPrefix(line, "VERSION_ID="); ok {
				version = strings.Trim(v, `"'`)
			}
		}
	}
	return version, read("/sys/class/dmi/id/sys_vendor"), read("/sys/class/dmi/id/product_name")
}

// fphDeviceJSON is what /static/fph.js writes into hidden "fph" inputs and,
// base64url-encoded, into the mtdconnect_fph cookie.
type fphDeviceJSON struct {
	UA      string `json:"ua"`
	Screens []struct {
		Width         int     `json:"width"`
		Height        int     `json:"height"`
		ScalingFactor float64 `json:"scalingFactor"`
		ColourDepth   int     `json:"colourDepth"`
	} `json:"screens"`
	WindowWidth  int  `json:"windowWidth"`
	WindowHeight int  `json:"windowHeight"`
	TZOffset     *int `json:"tzOffset"`
}

// Limits on browser-reported data, so a tampered form or cookie cannot
// inflate a header.
const (
	fphMaxDeviceJSON = 8 << 10
	fphMaxUALength   = 2048
	fphMaxScreens    = 16
	fphMaxPixels     = 1 << 20
)

// FPHCookieName is the cookie /static/fph.js sets with the device JSON,
// base64url-encoded (see ParseDeviceCookie).
const FPHCookieName = "mtdconnect_fph"

// ParseDeviceJSON parses and validates the JSON /static/fph.js collects:
//
//	{"ua":"Mozilla/5.0 …","screens":[{"width":1920,"height":1080,"scalingFactor":1,"colourDepth":24}],
//	 "windowWidth":1256,"windowHeight":803,"tzOffset":-60}
//
// ua must be non-empty, every size and depth a positive whole number,
// scalingFactor positive, tzOffset present and a plausible UTC offset.
// Unknown fields and trailing data are rejected. DeviceID is left empty: it
// comes from the device-ID cookie.
func ParseDeviceJSON(b []byte) (Device, error) {
	if len(b) > fphMaxDeviceJSON {
		return Device{}, fmt.Errorf("hmrc: device data is %d bytes, more than %d", len(b), fphMaxDeviceJSON)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var in fphDeviceJSON
	if err := dec.Decode(&in); err != nil {
		return Device{}, fmt.Errorf("hmrc: device data: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Device{}, errors.New("hmrc: device data: trailing data after the JSON object")
	}

	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	switch {
	case strings.TrimSpace(in.UA) == "":
		bad("ua is empty")
	case len(in.UA) > fphMaxUALength:
		bad("ua is longer than %d bytes", fphMaxUALength)
	}
	if len(in.Screens) == 0 || len(in.Screens) > fphMaxScreens {
		bad("screens must list 1 to %d screens, not %d", fphMaxScreens, len(in.Screens))
	}
	pixels := func(name string, n int) {
		if n <= 0 || n > fphMaxPixels {
			bad("%s must be a positive whole number, not %d", name, n)
		}
	}
	d := Device{JSUserAgent: in.UA, WindowWidth: in.WindowWidth, WindowHeight: in.WindowHeight}
	for i, s := range in.Screens {
		pixels(fmt.Sprintf("screens[%d].width", i), s.Width)
		pixels(fmt.Sprintf("screens[%d].height", i), s.Height)
		if s.ColourDepth <= 0 || s.ColourDepth > 256 {
			bad("screens[%d].colourDepth must be a positive number of bits, not %d", i, s.ColourDepth)
		}
		if !(s.ScalingFactor > 0) || s.ScalingFactor > 100 {
			bad("screens[%d].scalingFactor must be positive, not %v", i, s.ScalingFactor)
		}
		d.Screens = append(d.Screens, Screen{Width: s.Width, Height: s.Height, ScalingFactor: s.ScalingFactor, ColourDepth: s.ColourDepth})
	}
	pixels("windowWidth", in.WindowWidth)
	pixels("windowHeight", in.WindowHeight)
	switch {
	case in.TZOffset == nil:
		bad("tzOffset is missing")
	case *in.TZOffset < -fphMaxTZOffset || *in.TZOffset > fphMaxTZOffset:
		bad("tzOffset %d is not a UTC offset in minutes", *in.TZOffset)
	default:
		d.TimezoneOffsetMinutes = *in.TZOffset
	}
	if len(errs) > 0 {
		return Device{}, fmt.Errorf("hmrc: device data: %w", errors.Join(errs...))
	}
	return d, nil
}

// ParseDeviceCookie decodes the mtdconnect_fph cookie value (base64url of
// the JSON ParseDeviceJSON reads, padding optional) and parses it.
func ParseDeviceCookie(value string) (Device, error) {
	if len(value) > base64.RawURLEncoding.EncodedLen(fphMaxDeviceJSON)+3 {
		return Device{}, errors.New("hmrc: device cookie is too long")
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(value, "="))
	if err != nil {
		return Device{}, fmt.Errorf("hmrc: device cookie: %w", err)
	}
	return ParseDeviceJSON(b)
}
