package hmrcsim

import (
	"net/http"
	"time"
)

// Mode picks how the Income Tax and VAT APIs answer: as a kind, stateful
// stand-in for a newcomer's demo, or as HMRC's sandbox does.
type Mode int

const (
	// ModeDemo (the zero value) answers as production would for a landlord
	// who already has a UK property business: every test user has one, and
	// submissions, returns and calendar quarters show in the obligations.
	ModeDemo Mode = iota
	// ModeSandbox follows HMRC's sandbox test-data tables: canned DEFAULT
	// answers (Business Details lists a self-employment business only, the
	// Property Business PUT "simulates success" and stores nothing,
	// obligations are fixtures), every documented Gov-Test-Scenario, and
	// STATEFUL only where HMRC offers it and only with a test business made
	// through the Self Assessment Test Support API.
	ModeSandbox
)

// String names the mode as a flag would: "demo" or "sandbox".
func (m Mode) String() string {
	if m == ModeSandbox {
		return "sandbox"
	}
	return "demo"
}

// ParseMode reads "demo" or "sandbox" (for a command-line flag).
func ParseMode(s string) (Mode, bool) {
	switch s {
	case "demo", "":
		return ModeDemo, true
	case "sandbox":
		return ModeSandbox, true
	}
	return ModeDemo, false
}

// Controls says whether the simulator's control endpoints (/admin/clock,
// /admin/faults, /admin/stats) are served. They can move the clock and inject
// faults, so a simulator that a browser can reach serves them only when asked.
type Controls int

const (
	// ControlsDefault is the zero value. For now it serves the controls in
	// ModeDemo, as callers written before this option expect, and refuses
	// them in ModeSandbox. Once every caller says what it wants, it will
	// mean ControlsOff.
	ControlsDefault Controls = iota
	// ControlsOn serves them, to same-origin callers only (tests, loadtest).
	ControlsOn
	// ControlsOff answers 404 on /admin/*, as an unknown resource.
	ControlsOff
)

// Strict turns on, in ModeDemo, behaviours of HMRC's services that the
// client does not handle yet. ModeSandbox always has all of them. Each field
// is named for what HMRC does; the zero value keeps the demo as it was.
// (HMRC behaviours that broke no client test are on in both modes: the
// date rules of VAT and Income Tax obligations and of the cumulative PUT,
// amounts with more than 2 decimals, HMRC's message texts.)
type Strict struct {
	// EmptyViewReturn404: VAT View Return answers a period with no return
	// 404 with an empty body (vat-api ViewReturnService maps NOT_FOUND to
	// EmptyNotFoundError, which ViewReturnController answers as NotFound
	// with no body), not the OAS's NOT_FOUND body.
	EmptyViewReturn404 bool
}

// strict is the rule set in force: all of them in ModeSandbox.
func (s *Server) strict() Strict {
	if s.opts.Mode == ModeSandbox {
		return Strict{EmptyViewReturn404: true}
	}
	return s.opts.Strict
}

// sandbox reports whether the simulator follows HMRC's sandbox test data.
func (s *Server) sandbox() bool { return s.opts.Mode == ModeSandbox }

// Deprecation makes one API answer as HMRC's services answer for a
// deprecated version: Deprecation, Sunset and Link headers on every answer
// that reaches the API (business-details-api RequestHandler.withApiHeaders,
// AppConfig.deprecationFor), so a client's handling of them can be tested.
type Deprecation struct {
	// API is the API's name as the Test Fraud Prevention Headers API has
	// it: "business-details-mtd", "obligations-mtd",
	// "property-business-mtd", "individual-calculations-mtd", "vat-mtd" or
	// "self-assessment-test-support".
	API string
	// On is the deprecation date-time (the Deprecation header).
	On time.Time
	// Sunset is when the version may go; zero means On + 6 months, HMRC's
	// default when a deprecated version names no sunset date.
	Sunset time.Time
}

// deprecationDocs are the Link headers: the API's documentation page
// (AppConfig.apiDocumentationUrl: .../docs/api/service/<appName>).
var deprecationDocs = map[string]string{
	fraudAPIBusinessDetails:  "business-details-api",
	fraudAPIObligations:      "obligations-api",
	fraudAPIPropertyBusiness: "property-business-api",
	fraudAPICalculations:     "individual-calculations-api",
	VATFraudAPI:              "vat-api",
	testSupportAPI:           "mtd-sa-test-support-api",
}

// httpDate is HMRC's long date format for these headers: "EEE, dd MMM yyyy
// HH:mm:ss z" in GMT (DateUtils.longDateTimestampGmt).
const httpDate = "Mon, 02 Jan 2006 15:04:05 GMT"

// deprecationHeaders adds a deprecated API's headers to an answer of it.
func (s *Server) deprecationHeaders(w http.ResponseWriter, api string) {
	for _, d := range s.currentFaults().Deprecated {
		if d.API != api {
			continue
		}
		sunset := d.Sunset
		if sunset.IsZero() {
			sunset = d.On.AddDate(0, 6, 0)
		}
		w.Header().Set("Deprecation", d.On.UTC().Format(httpDate))
		w.Header().Set("Sunset", sunset.UTC().Format(httpDate))
		w.Header().Set("Link", "https://developer.service.hmrc.gov.uk/api-documentation/docs/api/service/"+deprecationDocs[api])
	}
}
