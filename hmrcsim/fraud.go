package hmrcsim

// Fraud prevention headers (HMRC spec v3.3) and the sandbox-only Test Fraud
// Prevention Headers API (txm-fph-validator-api v1.0). The validator here is
// written from the published spec on its own, deliberately sharing nothing
// with the connector's header builder, so a misreading of the spec on one side
// shows up as a test failure rather than two bugs agreeing.
//
// The Test API's code is not public. Its paths, version, application-
// restricted access and answers are from its OAS as developers quote it:
//
//   - GET /test/fraud-prevention-headers/validate: 200 {specVersion, code
//     (VALID_HEADERS, INVALID_HEADERS, POTENTIALLY_INVALID_HEADERS), message,
//     errors[], warnings[]}, each item {code, message, headers[]}, with the
//     OAS's messages for a valid set and for no headers at all;
//   - GET /test/fraud-prevention-headers/{api}/validation-feedback
//     [?connectionMethod=]: the most recent request to each endpoint of the
//     API, each {path, method, requestTimestamp, code, headers[{header,
//     value, code, errors[], warnings[]}], crossValidation[{headers, code,
//     errors[]}]}.
//
// Which check is an error and which a warning is the simulator's reading of
// the spec; the real validator's severities are not published.

import (
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Fraud-header verdicts (FraudResult.Code).
const (
	FraudValid              = "VALID_HEADERS"
	FraudInvalid            = "INVALID_HEADERS"
	FraudPotentiallyInvalid = "POTENTIALLY_INVALID_HEADERS"
)

// Issue codes (FraudIssue.Code).
const (
	IssueMissing            = "MISSING_HEADER"
	IssueInvalid            = "INVALID_HEADER"
	IssueEmpty              = "EMPTY_HEADER"
	IssuePotentiallyInvalid = "POTENTIALLY_INVALID_HEADER"
)

// FraudResult is the Test Fraud Prevention Headers API's verdict on one
// request's headers.
type FraudResult struct {
	SpecVersion string       `json:"specVersion"`
	Code        string       `json:"code"`
	Message     string       `json:"message"`
	Errors      []FraudIssue `json:"errors,omitempty"`
	Warnings    []FraudIssue `json:"warnings,omitempty"`
}

// FraudIssue is one error or warning; issues with the same code and message
// are merged, listing every header concerned (lower-case names).
type FraudIssue struct {
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Headers []string `json:"headers"`
}

// Header names as the spec spells them.
const (
	fhConnectionMethod   = "Gov-Client-Connection-Method"
	fhBrowserJSUserAgent = "Gov-Client-Browser-JS-User-Agent"
	fhDeviceID           = "Gov-Client-Device-ID"
	fhMultiFactor        = "Gov-Client-Multi-Factor"
	fhPublicIP           = "Gov-Client-Public-IP"
	fhPublicIPTimestamp  = "Gov-Client-Public-IP-Timestamp"
	fhPublicPort         = "Gov-Client-Public-Port"
	fhScreens            = "Gov-Client-Screens"
	fhTimezone           = "Gov-Client-Timezone"
	fhUserIDs            = "Gov-Client-User-IDs"
	fhWindowSize         = "Gov-Client-Window-Size"
	fhUserAgent          = "Gov-Client-User-Agent"
	fhLocalIPs           = "Gov-Client-Local-IPs"
	fhLocalIPsTimestamp  = "Gov-Client-Local-IPs-Timestamp"
	fhMACAddresses       = "Gov-Client-MAC-Addresses"
	fhVendorForwarded    = "Gov-Vendor-Forwarded"
	fhVendorLicenseIDs   = "Gov-Vendor-License-IDs"
	fhVendorProductName  = "Gov-Vendor-Product-Name"
	fhVendorPublicIP     = "Gov-Vendor-Public-IP"
	fhVendorVersion      = "Gov-Vendor-Version"
)

// fraudRequired lists the headers each supported connection method must send
// (FPH connection-method pages).
var fraudRequired = map[string][]string{
	"WEB_APP_VIA_SERVER": {
		fhConnectionMethod, fhBrowserJSUserAgent, fhDeviceID, fhMultiFactor, fhPublicIP,
		fhPublicIPTimestamp, fhPublicPort, fhScreens, fhTimezone, fhUserIDs, fhWindowSize,
		fhVendorForwarded, fhVendorLicenseIDs, fhVendorProductName, fhVendorPublicIP, fhVendorVersion,
	},
	"DESKTOP_APP_DIRECT": {
		fhConnectionMethod, fhDeviceID, fhLocalIPs, fhLocalIPsTimestamp, fhMACAddresses, fhMultiFactor,
		fhScreens, fhTimezone, fhUserAgent, fhUserIDs, fhWindowSize, fhVendorLicenseIDs,
		fhVendorProductName, fhVendorVersion,
	},
	"BATCH_PROCESS_DIRECT": {
		fhConnectionMethod, fhDeviceID, fhLocalIPs, fhLocalIPsTimestamp, fhMACAddresses, fhTimezone,
		fhUserAgent, fhUserIDs, fhVendorLicenseIDs, fhVendorProductName, fhVendorVersion,
	},
}

// fraudKnownMethods are every connection method the spec names; the ones
// without a list in fraudRequired are refused rather than waved through.
var fraudKnownMethods = []string{
	"WEB_APP_VIA_SERVER", "DESKTOP_APP_DIRECT", "DESKTOP_APP_VIA_SERVER", "MOBILE_APP_DIRECT",
	"MOBILE_APP_VIA_SERVER", "BATCH_PROCESS_DIRECT", "OTHER_DIRECT", "OTHER_VIA_SERVER",
}

// fraudMayBeEmpty are headers whose empty value is the documented
// missing-data case (single-factor sign-in, no licences): a warning only.
var fraudMayBeEmpty = []string{fhMultiFactor, fhVendorLicenseIDs}

var (
	fphUuidRE        = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	fphMsTimestampRE = regexp.MustCompile(`^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.\d{3}Z$`)
	fphMfaTimestamp  = regexp.MustCompile(`^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(:(\d{2})(\.\d{3})?)?Z$`)
	fphTimezoneRE    = regexp.MustCompile(`^UTC[+-](\d{2}):(\d{2})$`)
	fphPositiveIntRE = regexp.MustCompile(`^[1-9]\d{0,5}$`)
	fphNumberRE      = regexp.MustCompile(`^\d+(\.\d+)?$`)
)

// fraudPlaceholders are the "never send" values of the missing-data rules.
var fraudPlaceholders = []string{"null", "undefined", "nil", "none", "n/a", "unknown", "nan"}

// fraudChecker accumulates issues for one validation.
type fraudChecker struct {
	errors, warnings []FraudIssue
}

func (c *fraudChecker) add(warn bool, code, header, msg string) {
	list := &c.errors
	if warn {
		list = &c.warnings
	}
	name := strings.ToLower(header)
	for i := range *list {
		if (*list)[i].Code == code && (*list)[i].Message == msg {
			if !slices.Contains((*list)[i].Headers, name) {
				(*list)[i].Headers = append((*list)[i].Headers, name)
			}
			return
		}
	}
	*list = append(*list, FraudIssue{Code: code, Message: msg, Headers: []string{name}})
}

func (c *fraudChecker) invalid(header, msg string) { c.add(false, IssueInvalid, header, msg) }
func (c *fraudChecker) potentially(header, msg string) {
	c.add(true, IssuePotentiallyInvalid, header, msg)
}

// ValidateFraudHeaders checks h as HMRC's Test Fraud Prevention Headers API
// does, for the connection method h names. WEB_APP_VIA_SERVER,
// DESKTOP_APP_DIRECT and BATCH_PROCESS_DIRECT are supported; the other
// methods the spec names are reported as unsupported (an error), never valid.
func ValidateFraudHeaders(h http.Header) FraudResult {
	res := FraudResult{SpecVersion: "3.3"}
	sent := false
	for k := range h {
		if strings.HasPrefix(strings.ToLower(k), "gov-client-") || strings.HasPrefix(strings.ToLower(k), "gov-vendor-") {
			sent = true
			break
		}
	}
	if !sent {
		res.Code = FraudInvalid
		res.Message = "No fraud prevention headers submitted. These are required by law. Check the specification."
		return res
	}

	c := &fraudChecker{}
	method, hasMethod := fphHeaderValue(h, fhConnectionMethod)
	var required []string
	switch {
	case !hasMethod:
		c.add(false, IssueMissing, fhConnectionMethod, "Header required")
	case fraudRequired[method] != nil:
		required = fraudRequired[method]
	case slices.Contains(fraudKnownMethods, method):
		c.invalid(fhConnectionMethod, "Connection method "+method+" is not supported by this simulator")
	default:
		c.invalid(fhConnectionMethod, "Value must be a valid connection method")
	}

	// Every required header present; everything present (required or not)
	// checked for its format, since a malformed extra header is still wrong.
	for _, name := range required {
		if _, ok := fphHeaderValue(h, name); !ok {
			c.add(false, IssueMissing, name, "Header required")
		}
	}
	for _, name := range allFraudHeaders() {
		v, ok := fphHeaderValue(h, name)
		if !ok || name == fhConnectionMethod {
			continue
		}
		if strings.TrimSpace(v) == "" {
			if slices.Contains(fraudMayBeEmpty, name) {
				c.add(true, IssueEmpty, name, "Header is empty. Only send an empty value if the data cannot be collected and HMRC has agreed")
			} else {
				c.add(false, IssueEmpty, name, "Header value must not be empty")
			}
			continue
		}
		if !fphIsPrintableASCII(v) {
			c.invalid(name, "Value must be US-ASCII; percent-encode other characters")
			continue
		}
		if fphIsPlaceholder(v) {
			c.invalid(name, "Value must not be a placeholder such as null or undefined")
			continue
		}
		if name != fhBrowserJSUserAgent && !fphValidPercentEncoding(v) {
			c.invalid(name, "Value has invalid percent-encoding")
			continue
		}
		checkFraudHeader(c, method, name, v)
	}
	checkForwardedPair(c, h)

	res.Errors, res.Warnings = c.errors, c.warnings
	switch {
	case len(res.Errors) > 0:
		res.Code, res.Message = FraudInvalid, "At least 1 header is invalid"
	case len(res.Warnings) > 0:
		res.Code, res.Message = FraudPotentiallyInvalid, "At least 1 header is potentially invalid"
	default:
		res.Code, res.Message = FraudValid, "All headers required for your connection method have been supplied and all appear to be valid. Validation is based on a single request. We have access to all requests and can draw additional conclusions."
	}
	return res
}

func allFraudHeaders() []string {
	return []string{
		fhConnectionMethod, fhBrowserJSUserAgent, fhDeviceID, fhMultiFactor, fhPublicIP,
		fhPublicIPTimestamp, fhPublicPort, fhScreens, fhTimezone, fhUserIDs, fhWindowSize, fhUserAgent,
		fhLocalIPs, fhLocalIPsTimestamp, fhMACAddresses, fhVendorForwarded, fhVendorLicenseIDs,
		fhVendorProductName, fhVendorPublicIP, fhVendorVersion,
	}
}

// fphHeaderValue returns a header's value (repeated lines joined with ",", as
// list headers may legitimately be split) and whether it was sent at all.
func fphHeaderValue(h http.Header, name string) (string, bool) {
	vs, ok := h[http.CanonicalHeaderKey(name)]
	if !ok {
		return "", false
	}
	return strings.Join(vs, ","), true
}

func fphIsPrintableASCII(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return false
		}
	}
	return true
}

func fphIsPlaceholder(v string) bool {
	return slices.Contains(fraudPlaceholders, strings.ToLower(strings.TrimSpace(v)))
}

// fphValidPercentEncoding reports whether every % starts a two-hex-digit escape.
func fphValidPercentEncoding(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] == '%' {
			if i+2 >= len(v) || !fphIsHex(v[i+1]) || !fphIsHex(v[i+2]) {
				return false
			}
			i += 2
		}
	}
	return true
}

func fphIsHex(b byte) bool {
	return '0' <= b && b <= '9' || 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F'
}

// fphDecode undoes percent-encoding (without turning '+' into a space).
func fphDecode(v string) (string, bool) {
	s, err := url.PathUnescape(v)
	return s, err == nil
}

// fphParseKV parses a key-value structure k1=v1&k2=v2 into decoded pairs.
func fphParseKV(v string) (map[string]string, bool) {
	out := map[string]string{}
	for part := range strings.SplitSeq(v, "&") {
		k, val, ok := strings.Cut(part, "=")
		if !ok || k == "" {
			return nil, false
		}
		dk, ok1 := fphDecode(k)
		dv, ok2 := fphDecode(val)
		if !ok1 || !ok2 || dk == "" {
			return nil, false
		}
		out[dk] = dv
	}
	return out, true
}

// fphParseKVList parses a comma-separated list of key-value structures.
func fphParseKVList(v string) ([]map[string]string, bool) {
	var out []map[string]string
	for item := range strings.SplitSeq(v, ",") {
		kv, ok := fphParseKV(item)
		if !ok {
			return nil, false
		}
		out = append(out, kv)
	}
	return out, true
}

func fphAnyPlaceholder(kv map[string]string) bool {
	for _, v := range kv {
		if fphIsPlaceholder(v) {
			return true
		}
	}
	return false
}

// fphValidDateTime checks a regexp match's year..second groups for a real date.
func fphValidDateTime(m []string, secIdx int) bool {
	n := func(i int) int { x, _ := strconv.Atoi(m[i]); return x }
	mo, d, hh, mm := n(2), n(3), n(4), n(5)
	ss := 0
	if secIdx > 0 && m[secIdx] != "" {
		ss = n(secIdx)
	}
	return mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && hh <= 23 && mm <= 59 && ss <= 59
}

func fphCheckMsTimestamp(c *fraudChecker, name, v string) {
	m := fphMsTimestampRE.FindStringSubmatch(v)
	if m == nil || !fphValidDateTime(m, 6) {
		c.invalid(name, "Value must be a UTC timestamp in the format yyyy-MM-ddThh:mm:ss.sssZ")
	}
}

// fphCheckIP checks one (possibly percent-encoded) IP: malformed is an error,
// a non-public address a warning.
func fphCheckIP(c *fraudChecker, name, raw, what string) {
	d, ok := fphDecode(raw)
	addr, err := netip.ParseAddr(d)
	if !ok || err != nil || addr.Zone() != "" {
		c.invalid(name, what+" must be a valid IPv4 or IPv6 address")
		return
	}
	if !fphIsPublicIP(addr) {
		c.potentially(name, what+" is not a public IP address")
	}
}

func fphIsPublicIP(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsGlobalUnicast() && !a.IsPrivate() && !a.IsLoopback()
}

func checkFraudHeader(c *fraudChecker, method, name, v string) {
	switch name {
	case fhBrowserJSUserAgent:
		// navigator.userAgent as reported; only the generic checks apply.
	case fhDeviceID:
		if !fphUuidRE.MatchString(v) {
			c.invalid(name, "Value must be a UUID")
		}
	case fhMultiFactor:
		items, ok := fphParseKVList(v)
		if !ok {
			c.invalid(name, "Value must be a list of key-value structures")
			return
		}
		for _, kv := range items {
			switch kv["type"] {
			case "TOTP", "AUTH_CODE", "OTHER":
			default:
				c.invalid(name, "type must be TOTP, AUTH_CODE or OTHER")
			}
			if m := fphMfaTimestamp.FindStringSubmatch(kv["timestamp"]); m == nil || !fphValidDateTime(m, 7) {
				c.invalid(name, "timestamp must be a UTC timestamp in the format yyyy-MM-ddThh:mmZ")
			}
			if ref := kv["unique-reference"]; ref == "" || fphIsPlaceholder(ref) {
				c.invalid(name, "unique-reference is required")
			}
		}
	case fhPublicIP:
		fphCheckIP(c, name, v, "Value")
	case fhVendorPublicIP:
		fphCheckIP(c, name, v, "Value")
	case fhPublicIPTimestamp, fhLocalIPsTimestamp:
		fphCheckMsTimestamp(c, name, v)
	case fhPublicPort:
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 || p > 65535 || strings.HasPrefix(v, "0") || strings.HasPrefix(v, "+") {
			c.invalid(name, "Value must be an integer between 1 and 65535")
		} else if p == 80 || p == 443 {
			c.potentially(name, "Value looks like a server port, not the client's source port")
		}
	case fhScreens:
		items, ok := fphParseKVList(v)
		if !ok {
			c.invalid(name, "Value must be a list of key-value structures")
			return
		}
		for _, kv := range items {
			if !fphPositiveIntRE.MatchString(kv["width"]) || !fphPositiveIntRE.MatchString(kv["height"]) {
				c.invalid(name, "width and height must be positive integers")
			}
			if f, err := strconv.ParseFloat(kv["scaling-factor"], 64); !fphNumberRE.MatchString(kv["scaling-factor"]) || err != nil || f <= 0 {
				c.invalid(name, "At least 1 screen is missing a value for scaling factor")
			}
			if !fphPositiveIntRE.MatchString(kv["colour-depth"]) {
				c.invalid(name, "At least 1 screen is missing a value for colour depth")
			}
		}
	case fhWindowSize:
		kv, ok := fphParseKV(v)
		if !ok || !fphPositiveIntRE.MatchString(kv["width"]) || !fphPositiveIntRE.MatchString(kv["height"]) {
			c.invalid(name, "Value must be width=<int>&height=<int> with positive integers")
		}
	case fhTimezone:
		m := fphTimezoneRE.FindStringSubmatch(v)
		if m == nil {
			c.invalid(name, fphTimezoneMsg)
			return
		}
		hh, _ := strconv.Atoi(m[1])
		mm, _ := strconv.Atoi(m[2])
		if hh > 14 || mm > 59 {
			c.invalid(name, fphTimezoneMsg)
		}
	case fhUserIDs:
		kv, ok := fphParseKV(v)
		switch {
		case !ok:
			c.invalid(name, "Value must be a key-value structure")
		case fphAnyPlaceholder(kv):
			c.invalid(name, "Value must not be a placeholder such as null or undefined")
		case strings.HasPrefix(method, "WEB_APP") && fphHasKey(kv, "os"):
			c.potentially(name, "Check you are using the correct Gov-Client-Connection-Method. Web applications do not usually provide the os field as browsers do not expose this information.")
		case (method == "BATCH_PROCESS_DIRECT" || method == "DESKTOP_APP_DIRECT") && !fphHasKey(kv, "os"):
			c.potentially(name, "Value should include the os user ID")
		case len(kv) == 1 && fphHasKey(kv, "os"):
			c.potentially(name, "Value should include the user's ID in your software, not only os")
		}
	case fhUserAgent:
		kv, ok := fphParseKV(v)
		if !ok {
			c.invalid(name, "Value must be a key-value structure")
			return
		}
		if fphAnyPlaceholder(kv) {
			c.invalid(name, "Value must not be a placeholder such as null or undefined")
			return
		}
		for _, k := range []string{"os-family", "os-version", "device-manufacturer", "device-model"} {
			if kv[k] == "" {
				c.potentially(name, "Value should include os-family, os-version, device-manufacturer and device-model")
				break
			}
		}
	case fhLocalIPs:
		for item := range strings.SplitSeq(v, ",") {
			d, ok := fphDecode(item)
			if _, err := netip.ParseAddr(d); !ok || err != nil {
				c.invalid(name, "Value must be a list of IP addresses")
				return
			}
		}
	case fhMACAddresses:
		for item := range strings.SplitSeq(v, ",") {
			d, ok := fphDecode(item)
			if _, err := fphParseMAC(d); !ok || err != nil {
				c.invalid(name, "Value must be a list of percent-encoded MAC addresses")
				return
			}
		}
	case fhVendorForwarded:
		items, ok := fphParseKVList(v)
		if !ok {
			c.invalid(name, "Value must be a list of by=<ip>&for=<ip> structures")
			return
		}
		for _, kv := range items {
			by, okBy := netip.ParseAddr(kv["by"])
			fr, okFor := netip.ParseAddr(kv["for"])
			if okBy != nil || okFor != nil {
				c.invalid(name, "Value must be a list of by=<ip>&for=<ip> structures")
				return
			}
			if !fphIsPublicIP(by) || !fphIsPublicIP(fr) {
				c.potentially(name, "by and for should be public IP addresses")
			}
		}
	case fhVendorLicenseIDs:
		kv, ok := fphParseKV(v)
		if !ok {
			c.invalid(name, "Value must be a key-value structure")
		} else if fphAnyPlaceholder(kv) {
			c.invalid(name, "Value must not be a placeholder such as null or undefined")
		}
	case fhVendorProductName:
		if strings.ContainsAny(v, " &=,") {
			c.invalid(name, "Value must be percent-encoded")
		}
	case fhVendorVersion:
		kv, ok := fphParseKV(v)
		if !ok {
			c.invalid(name, "Value must be a key-value structure of software name and version")
			return
		}
		for _, ver := range kv {
			if ver == "" || fphIsPlaceholder(ver) {
				c.invalid(name, "Each software name must have a version")
				return
			}
		}
	}
}

// fphTimezoneMsg is the Test API's message for a malformed timezone.
const fphTimezoneMsg = "Value must be a recognised timezone in UTC format, submitted as UTC±<hh>:<mm>"

// fphForwardedMsg is the Test API's cross-validation error.
const fphForwardedMsg = "At least 1 pair of IPs in Gov-Vendor-Forwarded must include Gov-Client-Public-IP in the 'for' field and Gov-Vendor-Public-IP in the 'by' field. Check all 3 headers are consistent."

// IssueCrossHeader is the code of an error between several headers.
const IssueCrossHeader = "INVALID_HEADERS"

// checkForwardedPair cross-checks Gov-Vendor-Forwarded against the IP
// headers: at least one hop must be by=Gov-Vendor-Public-IP and
// for=Gov-Client-Public-IP (for the first hop, the spec says, these are the
// vendor's and the client's addresses). Malformed values were already
// reported by their own checks, so this stays quiet about them.
func checkForwardedPair(c *fraudChecker, h http.Header) {
	fwd, ok1 := fphHeaderValue(h, fhVendorForwarded)
	client, ok2 := fphHeaderValue(h, fhPublicIP)
	vendor, ok3 := fphHeaderValue(h, fhVendorPublicIP)
	if !ok1 || !ok2 || !ok3 {
		return
	}
	items, ok := fphParseKVList(fwd)
	ca, err1 := parseEncodedAddr(client)
	va, err2 := parseEncodedAddr(vendor)
	if !ok || err1 != nil || err2 != nil || len(items) == 0 {
		return
	}
	for _, kv := range items {
		by, err3 := netip.ParseAddr(kv["by"])
		fr, err4 := netip.ParseAddr(kv["for"])
		if err3 != nil || err4 != nil {
			return
		}
		if by.Unmap() == va.Unmap() && fr.Unmap() == ca.Unmap() {
			return
		}
	}
	for _, name := range []string{fhPublicIP, fhVendorForwarded, fhVendorPublicIP} {
		c.add(false, IssueCrossHeader, name, fphForwardedMsg)
	}
}

func parseEncodedAddr(v string) (netip.Addr, error) {
	d, ok := fphDecode(v)
	if !ok {
		return netip.Addr{}, strconv.ErrSyntax
	}
	return netip.ParseAddr(d)
}

func fphHasKey(kv map[string]string, k string) bool { _, ok := kv[k]; return ok }

// fphParseMAC accepts the colon- or hyphen-separated 48-bit forms.
func fphParseMAC(s string) ([]byte, error) {
	s = strings.ReplaceAll(s, "-", ":")
	parts := strings.Split(s, ":")
	if len(parts) != 6 {
		return nil, strconv.ErrSyntax
	}
	out := make([]byte, 6)
	for i, p := range parts {
		if len(p) != 2 || !fphIsHex(p[0]) || !fphIsHex(p[1]) {
			return nil, strconv.ErrSyntax
		}
		b, _ := strconv.ParseUint(p, 16, 8)
		out[i] = byte(b)
	}
	return out, nil
}

// ---- Per-server feedback state ----

// fraudRecord is the verdict on the most recent request to one endpoint,
// as validation-feedback shows it.
type fraudRecord struct {
	Path             string             `json:"path"`
	Method           string             `json:"method"`
	RequestTimestamp string             `json:"requestTimestamp"`
	Code             string             `json:"code"`
	Headers          []fraudHeaderCheck `json:"headers"`
	CrossValidation  []fraudCrossCheck  `json:"crossValidation"`

	connectionMethod string
	result           FraudResult
	seq              int
}

// fraudHeaderCheck is one header's verdict: VALID_HEADER, INVALID_HEADER,
// MISSING_HEADER, EMPTY_HEADER or POTENTIALLY_INVALID_HEADER.
type fraudHeaderCheck struct {
	Header   string   `json:"header"`
	Value    string   `json:"value,omitempty"`
	Code     string   `json:"code"`
	Errors   []string `json:"errors"`
	Warnings []string `json:"warnings"`
}

// fraudCrossCheck is a check between headers (Gov-Vendor-Forwarded against
// the two public IPs).
type fraudCrossCheck struct {
	Headers []string `json:"headers"`
	Code    string   `json:"code"`
	Errors  []string `json:"errors"`
}

// feedbackFor breaks a verdict down by header: every header the method
// requires or the request sent, in the spec's order.
func feedbackFor(h http.Header, res FraudResult, method string) ([]fraudHeaderCheck, []fraudCrossCheck) {
	var names []string
	for _, name := range allFraudHeaders() {
		_, sent := fphHeaderValue(h, name)
		if sent || slices.Contains(fraudRequired[method], name) || name == fhConnectionMethod {
			names = append(names, name)
		}
	}
	cross := fraudCrossCheck{Headers: []string{"gov-client-public-ip", "gov-vendor-forwarded", "gov-vendor-public-ip"}, Code: FraudValid, Errors: []string{}}
	var out []fraudHeaderCheck
	for _, name := range names {
		lower := strings.ToLower(name)
		v, _ := fphHeaderValue(h, name)
		hc := fraudHeaderCheck{Header: lower, Value: v, Code: "VALID_HEADER", Errors: []string{}, Warnings: []string{}}
		for _, is := range res.Errors {
			if !slices.Contains(is.Headers, lower) {
				continue
			}
			if is.Code == IssueCrossHeader {
				cross.Code = FraudInvalid
				if !slices.Contains(cross.Errors, is.Message) {
					cross.Errors = append(cross.Errors, is.Message)
				}
				continue
			}
			hc.Errors = append(hc.Errors, is.Message)
			hc.Code = is.Code
		}
		for _, is := range res.Warnings {
			if slices.Contains(is.Headers, lower) {
				hc.Warnings = append(hc.Warnings, is.Message)
				if len(hc.Errors) == 0 {
					hc.Code = is.Code
				}
			}
		}
		out = append(out, hc)
	}
	var crosses []fraudCrossCheck
	if method == "WEB_APP_VIA_SERVER" || cross.Code != FraudValid {
		crosses = append(crosses, cross)
	}
	return out, crosses
}

// fraudState is one Server's feedback store. It has its own mutex rather
// than s.mu, which every request takes for token and rate-limit bookkeeping.
type fraudState struct {
	mu   sync.Mutex
	seq  int
	apis map[string]map[string]*fraudRecord // api -> "METHOD path" -> latest
}

// registerFraud adds HMRC's Test Fraud Prevention Headers API.
func registerFraud(s *Server, mux *http.ServeMux) {
	s.fraud = &fraudState{apis: map[string]map[string]*fraudRecord{}}
	s.handleAPI(mux, "GET /test/fraud-prevention-headers/validate", s.fraudValidate)
	s.handleAPI(mux, "GET /test/fraud-prevention-headers/{api}/validation-feedback", s.fraudFeedback)
}

// RecordFraudHeaders validates r's fraud prevention headers and keeps the
// result as the latest for r's endpoint (method and path) under api, e.g.
// "business-details-mtd", "obligations-mtd", "property-business-mtd" or
// "vat-mtd". The ITSA and VAT handlers call it on every request; the
// validation-feedback route and LastFraudResult read it back.
func (s *Server) RecordFraudHeaders(api string, r *http.Request) FraudResult {
	res := ValidateFraudHeaders(r.Header)
	cm, _ := fphHeaderValue(r.Header, fhConnectionMethod)
	st := s.fraud
	st.mu.Lock()
	defer st.mu.Unlock()
	st.seq++
	byEndpoint := st.apis[api]
	if byEndpoint == nil {
		byEndpoint = map[string]*fraudRecord{}
		st.apis[api] = byEndpoint
	}
	headers, cross := feedbackFor(r.Header, res, cm)
	byEndpoint[r.Method+" "+r.URL.Path] = &fraudRecord{
		Path: r.URL.Path, Method: r.Method,
		RequestTimestamp: s.now().UTC().Format("2006-01-02T15:04:05.000Z"),
		Code:             res.Code, Headers: headers, CrossValidation: fphNonNilCross(cross),
		connectionMethod: cm, result: res, seq: st.seq,
	}
	return res
}

func fphNonNilCross(x []fraudCrossCheck) []fraudCrossCheck {
	if x == nil {
		return []fraudCrossCheck{}
	}
	return x
}

// LastFraudResult returns the verdict on the most recent request recorded
// under api (any endpoint), for tests in other packages.
func (s *Server) LastFraudResult(api string) (FraudResult, bool) {
	st := s.fraud
	st.mu.Lock()
	defer st.mu.Unlock()
	var last *fraudRecord
	for _, rec := range st.apis[api] {
		if last == nil || rec.seq > last.seq {
			last = rec
		}
	}
	if last == nil {
		return FraudResult{}, false
	}
	return last.result, true
}

// fraudValidate is GET /test/fraud-prevention-headers/validate: 200 with the
// verdict whatever the headers are.
func (s *Server) fraudValidate(w http.ResponseWriter, r *http.Request) {
	if !requireAccept(w, r, "1.0") {
		return
	}
	if _, ok := s.apiApplication(w, r); !ok {
		return
	}
	writeJSON(w, http.StatusOK, ValidateFraudHeaders(r.Header))
}

// fraudFeedback is GET /test/fraud-prevention-headers/{api}/validation-feedback:
// the latest request to each endpoint of the API, those sent with
// connectionMethod only when the query names one (it is optional).
func (s *Server) fraudFeedback(w http.ResponseWriter, r *http.Request) {
	if !requireAccept(w, r, "1.0") {
		return
	}
	if _, ok := s.apiApplication(w, r); !ok {
		return
	}
	q := r.URL.Query()
	cm, filtered := q.Get("connectionMethod"), q.Has("connectionMethod")
	if filtered && !slices.Contains(fraudKnownMethods, cm) {
		writeAPIError(w, http.StatusBadRequest, "INVALID_REQUEST", "connectionMethod query parameter is invalid")
		return
	}
	st := s.fraud
	st.mu.Lock()
	var recs []fraudRecord
	for _, rec := range st.apis[r.PathValue("api")] {
		if !filtered || rec.connectionMethod == cm {
			recs = append(recs, *rec)
		}
	}
	st.mu.Unlock()
	if len(recs) == 0 {
		writeAPIError(w, http.StatusNotFound, "MATCHING_RESOURCE_NOT_FOUND", "No requests found for the API (and connection method)")
		return
	}
	slices.SortFunc(recs, func(a, b fraudRecord) int { return b.seq - a.seq })
	writeJSON(w, http.StatusOK, map[string]any{"specVersion": "3.3", "requests": recs})
}
