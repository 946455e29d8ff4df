// Package fraud builds HMRC's fraud prevention headers, which the law
// requires on every VAT (MTD) and Income Tax (MTD) API call, from the
// origin of the call: the landlord's browser (WEB_APP_VIA_SERVER) or this
// server doing work no one initiated (BATCH_PROCESS_DIRECT).
package fraud

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
// Origin.MissingData after agreeing it with HMRC (the spec's "missing header
// data" process), and only for the few headers where that can apply.
//
// Whether Gov-Client-Public-IP is really public is left to HMRC's validator:
// the service is often run and tested on 127.0.0.1, so Headers rejects only
// malformed addresses.

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ConnectionMethod is the value of Gov-Client-Connection-Method.
type ConnectionMethod string

const (
	// WebAppViaServer is for requests a landlord triggers in the
	// browser; the originating device is the landlord's browser.
	WebAppViaServer ConnectionMethod = "WEB_APP_VIA_SERVER"
	// BatchProcessDirect is for work no user initiated (an
	// overnight obligations poll); the originating device is this server.
	BatchProcessDirect ConnectionMethod = "BATCH_PROCESS_DIRECT"
)

// Header names exactly as the spec spells them. http.Header canonicalises
// them on Set (Gov-Client-Public-Ip); header names are case-insensitive and
// HMRC's validator reports them lower-case.
const (
	govClientConnectionMethod   = "Gov-Client-Connection-Method"
	govClientBrowserJSUserAgent = "Gov-Client-Browser-JS-User-Agent"
	govClientDeviceID           = "Gov-Client-Device-ID"
	govClientMultiFactor        = "Gov-Client-Multi-Factor"
	govClientPublicIP           = "Gov-Client-Public-IP"
	govClientPublicIPTimestamp  = "Gov-Client-Public-IP-Timestamp"
	govClientPublicPort         = "Gov-Client-Public-Port"
	govClientScreens            = "Gov-Client-Screens"
	govClientTimezone           = "Gov-Client-Timezone"
	govClientUserIDs            = "Gov-Client-User-IDs"
	govClientWindowSize         = "Gov-Client-Window-Size"
	govClientLocalIPs           = "Gov-Client-Local-IPs"
	govClientLocalIPsTimestamp  = "Gov-Client-Local-IPs-Timestamp"
	govClientMACAddresses       = "Gov-Client-MAC-Addresses"
	govClientUserAgent          = "Gov-Client-User-Agent"
	govVendorForwarded          = "Gov-Vendor-Forwarded"
	govVendorLicenseIDs         = "Gov-Vendor-License-IDs"
	govVendorProductName        = "Gov-Vendor-Product-Name"
	govVendorPublicIP           = "Gov-Vendor-Public-IP"
	govVendorVersion            = "Gov-Vendor-Version"
)

var headerSets = map[ConnectionMethod][]string{
	WebAppViaServer: {
		govClientConnectionMethod, govClientBrowserJSUserAgent, govClientDeviceID, govClientMultiFactor, govClientPublicIP,
		govClientPublicIPTimestamp, govClientPublicPort, govClientScreens, govClientTimezone, govClientUserIDs,
		govClientWindowSize, govVendorForwarded, govVendorLicenseIDs, govVendorProductName,
		govVendorPublicIP, govVendorVersion,
	},
	BatchProcessDirect: {
		govClientConnectionMethod, govClientDeviceID, govClientLocalIPs, govClientLocalIPsTimestamp,
		govClientMACAddresses, govClientTimezone, govClientUserAgent, govClientUserIDs, govVendorLicenseIDs,
		govVendorProductName, govVendorVersion,
	},
}

// mayBeMissing are the headers Origin.MissingData may name: the ones
// where the spec itself anticipates that a value may be impossible to
// collect (single-factor sign-in, no licence on the device, a load balancer
// that drops the source port, a host without MAC addresses).
var mayBeMissing = map[string]bool{
	govClientMultiFactor: true, govVendorLicenseIDs: true, govClientPublicPort: true, govClientMACAddresses: true,
}

// HeaderNames returns the header names, as the spec spells them, that
// Origin.Headers produces for m (16 for web, 11 for batch), or nil for a
// method this package does not build.
func HeaderNames(m ConnectionMethod) []string {
	return slices.Clone(headerSets[m])
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
	DeviceManufacturer    string    // required: the host's, or the configuration's where the host cannot tell
	DeviceModel           string    // required, as DeviceManufacturer
	TimezoneOffsetMinutes int       // JS convention, as Device.TimezoneOffsetMinutes
}

// Origin is who and what originated one HMRC call: everything needed to
// build its fraud prevention headers.
//
// For WEB_APP_VIA_SERVER every field except BatchDevice is read. For
// BATCH_PROCESS_DIRECT only Method, Device.DeviceID (the server's own
// persistent device ID), UserIDs, Vendor.ProductName, Vendor.Version,
// Vendor.LicenseIDs, BatchDevice and MissingData are read.
type Origin struct {
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

// HeaderError says which header could not be built and why.
type HeaderError struct {
	Header  string // e.g. "Gov-Client-Screens"
	Field   string // e.g. "Device.Screens[0].Width"
	Problem string
}

func (e *HeaderError) Error() string {
	return fmt.Sprintf("fraud: header %s: %s %s", e.Header, e.Field, e.Problem)
}

// builder collects header values and every problem found.
type builder struct {
	h       http.Header
	missing map[string]bool
	errs    []error
}

func (b *builder) fail(header, field, problem string) {
	b.errs = append(b.errs, &HeaderError{Header: header, Field: field, Problem: problem})
}

// empty sends header with no value if the caller declared it missing, and
// otherwise records that field is required.
func (b *builder) empty(header, field string) {
	if b.missing[header] {
		b.h[http.CanonicalHeaderKey(header)] = []string{""}
		return
	}
	b.fail(header, field, "is required")
}

func (b *builder) set(header, value string) { b.h.Set(header, value) }

// Headers builds exactly the header set of r.Method: 16 headers for
// WEB_APP_VIA_SERVER, 11 for BATCH_PROCESS_DIRECT. If any value is missing
// or malformed it returns nil and an error joining one *HeaderError per
// problem (use errors.As to get the first).
func (o Origin) Headers() (http.Header, error) {
	names, ok := headerSets[o.Method]
	if !ok {
		return nil, &HeaderError{Header: govClientConnectionMethod, Field: "Method",
			Problem: fmt.Sprintf("%q is not supported (use %s or %s)", o.Method, WebAppViaServer, BatchProcessDirect)}
	}
	b := &builder{h: make(http.Header, len(names)), missing: map[string]bool{}}
	for _, m := range o.MissingData {
		canon := ""
		for _, n := range names {
			if strings.EqualFold(n, m) {
				canon = n
			}
		}
		if canon == "" || !mayBeMissing[canon] {
			b.fail(m, "MissingData", fmt.Sprintf("cannot name %q: only %s, %s, %s or %s of the %s headers may be declared missing",
				m, govClientMultiFactor, govVendorLicenseIDs, govClientPublicPort, govClientMACAddresses, o.Method))
			continue
		}
		b.missing[canon] = true
	}

	b.set(govClientConnectionMethod, string(o.Method))
	o.deviceID(b)
	o.userIDs(b)
	o.vendor(b)
	if o.Method == WebAppViaServer {
		o.web(b)
	} else {
		o.batch(b)
	}
	if len(b.errs) > 0 {
		return nil, errors.Join(b.errs...)
	}
	return b.h, nil
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func (o Origin) deviceID(b *builder) {
	switch id := o.Device.DeviceID; {
	case id == "":
		b.fail(govClientDeviceID, "Device.DeviceID", "is required")
	case !uuidPattern.MatchString(id):
		b.fail(govClientDeviceID, "Device.DeviceID", "must be a UUID like beec798b-b366-47fa-b1f8-92cede14a1ce")
	default:
		b.set(govClientDeviceID, id)
	}
}

func (o Origin) userIDs(b *builder) {
	var pairs [][2]string
	if o.Method == BatchProcessDirect {
		if o.BatchDevice == nil || o.BatchDevice.OSUser == "" {
			b.fail(govClientUserIDs, "BatchDevice.OSUser", "is required")
		} else {
			pairs = append(pairs, [2]string{"os", o.BatchDevice.OSUser})
		}
	}
	for _, k := range sortedKeys(o.UserIDs) {
		v := o.UserIDs[k]
		switch {
		case k == "":
			b.fail(govClientUserIDs, "UserIDs", "has an empty key")
			continue
		case k == "os":
			b.fail(govClientUserIDs, `UserIDs["os"]`, "must not be set: web apps send no os key, and batch takes it from BatchDevice.OSUser")
			continue
		case v == "":
			b.fail(govClientUserIDs, fmt.Sprintf("UserIDs[%q]", k), "is empty")
			continue
		}
		pairs = append(pairs, [2]string{k, v})
	}
	if len(pairs) == 0 {
		if o.Method == WebAppViaServer {
			b.fail(govClientUserIDs, "UserIDs", "is required (e.g. mtdconnect=<account id>)")
		}
		return
	}
	b.set(govClientUserIDs, keyValues(pairs))
}

func (o Origin) vendor(b *builder) {
	v := o.Vendor
	if v.ProductName == "" {
		b.fail(govVendorProductName, "Vendor.ProductName", "is required")
	} else {
		b.set(govVendorProductName, escape(v.ProductName))
	}
	if v.Version == "" {
		b.fail(govVendorVersion, "Vendor.Version", "is required")
	} else if v.ProductName != "" {
		b.set(govVendorVersion, keyValues([][2]string{{v.ProductName, v.Version}}))
	}

	var lic [][2]string
	for _, k := range sortedKeys(v.LicenseIDs) {
		switch {
		case k == "":
			b.fail(govVendorLicenseIDs, "Vendor.LicenseIDs", "has an empty software name")
		case v.LicenseIDs[k] == "":
			b.fail(govVendorLicenseIDs, fmt.Sprintf("Vendor.LicenseIDs[%q]", k), "is empty")
		default:
			sum := sha256.Sum256([]byte(v.LicenseIDs[k]))
			lic = append(lic, [2]string{k, hex.EncodeToString(sum[:])})
		}
	}
	switch {
	case len(lic) > 0:
		b.set(govVendorLicenseIDs, keyValues(lic))
	case len(v.LicenseIDs) == 0:
		b.empty(govVendorLicenseIDs, "Vendor.LicenseIDs")
	}
}

func (o Origin) web(b *builder) {
	d := o.Device
	switch {
	case d.JSUserAgent == "":
		b.fail(govClientBrowserJSUserAgent, "Device.JSUserAgent", "is required")
	case strings.TrimSpace(d.JSUserAgent) == "" || d.JSUserAgent == "undefined" || d.JSUserAgent == "null":
		b.fail(govClientBrowserJSUserAgent, "Device.JSUserAgent", fmt.Sprintf("%q is not a user agent", d.JSUserAgent))
	default:
		b.set(govClientBrowserJSUserAgent, escapeNonPrintable(d.JSUserAgent))
	}

	if len(d.Screens) == 0 {
		b.fail(govClientScreens, "Device.Screens", "is required (at least one screen)")
	}
	var screens []string
	for i, s := range d.Screens {
		f := fmt.Sprintf("Device.Screens[%d]", i)
		ok := positive(b, govClientScreens, f+".Width", s.Width)
		ok = positive(b, govClientScreens, f+".Height", s.Height) && ok
		ok = positive(b, govClientScreens, f+".ColourDepth", s.ColourDepth) && ok
		if !(s.ScalingFactor > 0) || math.IsInf(s.ScalingFactor, 0) {
			b.fail(govClientScreens, f+".ScalingFactor", fmt.Sprintf("must be a positive number, not %v", s.ScalingFactor))
			ok = false
		}
		if ok {
			screens = append(screens, keyValues([][2]string{
				{"width", strconv.Itoa(s.Width)},
				{"height", strconv.Itoa(s.Height)},
				{"scaling-factor", strconv.FormatFloat(s.ScalingFactor, 'f', -1, 64)},
				{"colour-depth", strconv.Itoa(s.ColourDepth)},
			}))
		}
	}
	if len(screens) == len(d.Screens) && len(screens) > 0 {
		b.set(govClientScreens, strings.Join(screens, ","))
	}

	okW := positive(b, govClientWindowSize, "Device.WindowWidth", d.WindowWidth)
	okH := positive(b, govClientWindowSize, "Device.WindowHeight", d.WindowHeight)
	if okW && okH {
		b.set(govClientWindowSize, keyValues([][2]string{{"width", strconv.Itoa(d.WindowWidth)}, {"height", strconv.Itoa(d.WindowHeight)}}))
	}

	timezoneHeader(b, "Device.TimezoneOffsetMinutes", d.TimezoneOffsetMinutes)

	clientIP, okClient := ipValue(b, govClientPublicIP, "ClientIP", o.ClientIP)
	if okClient {
		b.set(govClientPublicIP, clientIP)
	}
	if o.ReceivedAt.IsZero() {
		b.fail(govClientPublicIPTimestamp, "ReceivedAt", "is required")
	} else {
		b.set(govClientPublicIPTimestamp, FormatTimestamp(o.ReceivedAt))
	}
	switch p := o.ClientPort; {
	case p == 0:
		b.empty(govClientPublicPort, "ClientPort")
	case p < 0 || p > 65535:
		b.fail(govClientPublicPort, "ClientPort", fmt.Sprintf("%d is not a TCP port (1–65535)", p))
	case p == 80 || p == 443:
		b.fail(govClientPublicPort, "ClientPort", fmt.Sprintf("%d is a server port; send the client's source port", p))
	default:
		b.set(govClientPublicPort, strconv.Itoa(p))
	}

	vendorIP, okVendor := ipValue(b, govVendorPublicIP, "Vendor.PublicIP", o.Vendor.PublicIP)
	if okVendor {
		b.set(govVendorPublicIP, vendorIP)
	}
	hops := o.Forwarded
	if len(hops) == 0 {
		if okClient && okVendor {
			b.set(govVendorForwarded, keyValues([][2]string{{"by", vendorIP}, {"for", clientIP}}))
		} else {
			b.fail(govVendorForwarded, "Forwarded", "cannot be derived without valid ClientIP and Vendor.PublicIP")
		}
	} else {
		var list []string
		ok := true
		for i, hop := range hops {
			by, okBy := ipValue(b, govVendorForwarded, fmt.Sprintf("Forwarded[%d].By", i), hop.By)
			fr, okFor := ipValue(b, govVendorForwarded, fmt.Sprintf("Forwarded[%d].For", i), hop.For)
			ok = ok && okBy && okFor
			if i == 0 && okBy && okVendor && !sameIP(by, vendorIP) {
				b.fail(govVendorForwarded, "Forwarded[0].By", fmt.Sprintf("%s must equal Vendor.PublicIP %s", by, vendorIP))
				ok = false
			}
			if i == 0 && okFor && okClient && !sameIP(fr, clientIP) {
				b.fail(govVendorForwarded, "Forwarded[0].For", fmt.Sprintf("%s must equal ClientIP %s", fr, clientIP))
				ok = false
			}
			list = append(list, keyValues([][2]string{{"by", by}, {"for", fr}}))
		}
		if ok {
			b.set(govVendorForwarded, strings.Join(list, ","))
		}
	}

	if len(o.MultiFactor) == 0 {
		b.empty(govClientMultiFactor, "MultiFactor")
	}
	var factors []string
	for i, m := range o.MultiFactor {
		f := fmt.Sprintf("MultiFactor[%d]", i)
		ok := true
		if m.Type != "TOTP" && m.Type != "AUTH_CODE" && m.Type != "OTHER" {
			b.fail(govClientMultiFactor, f+".Type", fmt.Sprintf("%q must be TOTP, AUTH_CODE or OTHER", m.Type))
			ok = false
		}
		if m.At.IsZero() {
			b.fail(govClientMultiFactor, f+".At", "is required")
			ok = false
		}
		if m.UniqueReference == "" {
			b.fail(govClientMultiFactor, f+".UniqueReference", "is required")
			ok = false
		}
		if ok {
			factors = append(factors, keyValues([][2]string{
				{"type", m.Type},
				{"timestamp", multiFactorTime(m.At)},
				{"unique-reference", m.UniqueReference},
			}))
		}
	}
	if len(factors) > 0 && len(factors) == len(o.MultiFactor) {
		b.set(govClientMultiFactor, strings.Join(factors, ","))
	}
}

func (o Origin) batch(b *builder) {
	bd := o.BatchDevice
	if bd == nil {
		b.fail(govClientLocalIPs, "BatchDevice", "is required for "+string(BatchProcessDirect)+" (see HostBatchDevice)")
		return
	}
	timezoneHeader(b, "BatchDevice.TimezoneOffsetMinutes", bd.TimezoneOffsetMinutes)

	if len(bd.LocalIPs) == 0 {
		b.fail(govClientLocalIPs, "BatchDevice.LocalIPs", "is required")
	}
	var ips []string
	for i, s := range bd.LocalIPs {
		if ip, ok := ipValue(b, govClientLocalIPs, fmt.Sprintf("BatchDevice.LocalIPs[%d]", i), s); ok {
			ips = append(ips, escape(ip))
		}
	}
	if len(ips) > 0 && len(ips) == len(bd.LocalIPs) {
		b.set(govClientLocalIPs, strings.Join(ips, ","))
	}
	if bd.LocalIPsAt.IsZero() {
		b.fail(govClientLocalIPsTimestamp, "BatchDevice.LocalIPsAt", "is required")
	} else {
		b.set(govClientLocalIPsTimestamp, FormatTimestamp(bd.LocalIPsAt))
	}

	if len(bd.MACAddresses) == 0 {
		b.empty(govClientMACAddresses, "BatchDevice.MACAddresses")
	}
	var macs []string
	for i, s := range bd.MACAddresses {
		if _, err := net.ParseMAC(s); err != nil || s == "" {
			b.fail(govClientMACAddresses, fmt.Sprintf("BatchDevice.MACAddresses[%d]", i), fmt.Sprintf("%q is not a MAC address", s))
			continue
		}
		macs = append(macs, escape(s))
	}
	if len(macs) > 0 && len(macs) == len(bd.MACAddresses) {
		b.set(govClientMACAddresses, strings.Join(macs, ","))
	}

	ua := [][2]string{{"os-family", bd.OSFamily}, {"os-version", bd.OSVersion}}
	if bd.OSFamily == "" {
		b.fail(govClientUserAgent, "BatchDevice.OSFamily", "is required")
	}
	if bd.OSVersion == "" {
		b.fail(govClientUserAgent, "BatchDevice.OSVersion", "is required")
	}
	// The spec's four fields, always: a host that cannot tell its maker or
	// model (a VM without DMI data) must be told them by its configuration.
	if bd.DeviceManufacturer == "" {
		b.fail(govClientUserAgent, "BatchDevice.DeviceManufacturer", "is required; this host does not report it, so the configuration must give it")
	}
	if bd.DeviceModel == "" {
		b.fail(govClientUserAgent, "BatchDevice.DeviceModel", "is required; this host does not report it, so the configuration must give it")
	}
	ua = append(ua, [2]string{"device-manufacturer", bd.DeviceManufacturer}, [2]string{"device-model", bd.DeviceModel})
	if bd.OSFamily != "" && bd.OSVersion != "" && bd.DeviceManufacturer != "" && bd.DeviceModel != "" {
		b.set(govClientUserAgent, keyValues(ua))
	}
}

func positive(b *builder, header, field string, n int) bool {
	if n > 0 {
		return true
	}
	b.fail(header, field, fmt.Sprintf("must be a positive whole number of pixels or bits, not %d", n))
	return false
}

// maxTZOffset is the widest UTC offset in use (UTC-12:00 to UTC+14:00)
// with room to spare.
const maxTZOffset = 18 * 60

func timezoneHeader(b *builder, field string, offset int) {
	if offset < -maxTZOffset || offset > maxTZOffset {
		b.fail(govClientTimezone, field, fmt.Sprintf("%d minutes is not a UTC offset", offset))
		return
	}
	b.set(govClientTimezone, EncodeTimezone(offset))
}

// ipValue checks that s is an IP address without port or zone and returns it
// as given (HMRC's own examples keep leading zeros and upper case), except
// that an IPv4-mapped IPv6 address becomes plain IPv4.
func ipValue(b *builder, header, field, s string) (string, bool) {
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

func sameIP(x, y string) bool {
	a, errA := netip.ParseAddr(x)
	c, errC := netip.ParseAddr(y)
	return errA == nil && errC == nil && a.Unmap() == c.Unmap()
}

func sortedKeys(m map[string]string) []string {
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

// multiFactorTime formats the timestamp of a factor: yyyy-MM-ddThh:mmZ
// when t falls on a whole minute (the spec's minimum, as in its example),
// otherwise with seconds and milliseconds, which the spec also allows.
func multiFactorTime(t time.Time) string {
	t = t.UTC()
	if t.Second() == 0 && t.Nanosecond() < int(time.Millisecond) {
		return t.Format("2006-01-02T15:04Z")
	}
	return FormatTimestamp(t)
}

// escape percent-encodes every byte of s except RFC 3986 unreserved
// characters (A–Z a–z 0–9 - . _ ~), with upper-case hex. Unlike
// url.QueryEscape a space is %20, and unlike url.PathEscape '&', '=', ':',
// ',' and '+' are all encoded, so the result can never contain a separator.
func escape(s string) string {
	const hexDigits = "0123456789ABCDEF"
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	buf := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			buf = append(buf, c)
		} else {
			buf = append(buf, '%', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	return string(buf)
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// escapeNonPrintable percent-encodes only the bytes outside printable
// US-ASCII (controls, DEL and non-ASCII), so a header value is always legal
// and cannot be split; everything else, '%' included, is sent as the browser
// reported it.
func escapeNonPrintable(s string) string {
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

// keyValues encodes pairs as k1=v1&k2=v2, keys and values percent-encoded,
// separators not.
func keyValues(pairs [][2]string) string {
	var sb strings.Builder
	for i, p := range pairs {
		if i > 0 {
			sb.WriteByte('&')
		}
		sb.WriteString(escape(p[0]))
		sb.WriteByte('=')
		sb.WriteString(escape(p[1]))
	}
	return sb.String()
}
