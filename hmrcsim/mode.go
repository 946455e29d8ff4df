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
	// ControlsDefault is the zero value: ControlsOff.
	ControlsDefault Controls = iota
	// ControlsOn serves them, to same-origin callers only (tests, loadtest).
	ControlsOn
	// ControlsOff answers 404 on /admin/*, as an unknown resource.
	ControlsOff
)

// DefaultFulfilmentDelay is how long after a quarterly update or a final
// declaration the simulator shows its obligation as fulfilled when
// Options.FulfilmentDelay is zero: HMRC's "it may take up to an hour for
// the obligation to be marked as fulfilled" (E2E
// make-updates-during-tax-year), at its longest.
const DefaultFulfilmentDelay = time.Hour

// fulfilmentDelay is the delay in force (Options.FulfilmentDelay).
func (s *Server) fulfilmentDelay() time.Duration {
	switch d := s.opts.FulfilmentDelay; {
	case d < 0:
		return 0
	case d == 0:
		return DefaultFulfilmentDelay
	default:
		return d
	}
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
