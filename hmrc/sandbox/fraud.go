package sandbox

// HMRC's Test Fraud Prevention Headers API v1.0 (sandbox only,
// application-restricted), which HMRC asks vendors to check their fraud
// prevention headers with before production:
//
//   - GET /test/fraud-prevention-headers/validate judges the headers sent
//     with the request itself;
//   - GET /test/fraud-prevention-headers/{api}/validation-feedback
//     [?connectionMethod=] judges the most recent sandbox request to each
//     endpoint of an MTD API.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"

	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/fraud"
)

// APIFraudHeaders is the Test Fraud Prevention Headers API in
// hmrc.APIError.API.
const APIFraudHeaders = "txm-fph-validator"

// The MTD APIs this service calls, as the validation feedback names them.
const (
	FeedbackBusinessDetails  = "business-details-mtd"
	FeedbackObligations      = "obligations-mtd"
	FeedbackPropertyBusiness = "property-business-mtd"
	FeedbackCalculations     = "individual-calculations-mtd"
	FeedbackVAT              = "vat-mtd"
)

// FeedbackAPIs are the MTD APIs this service calls, for validation
// feedback.
var FeedbackAPIs = []string{FeedbackBusinessDetails, FeedbackObligations, FeedbackPropertyBusiness, FeedbackCalculations, FeedbackVAT}

// HMRC's verdicts.
const (
	VerdictValid              = "VALID_HEADERS"
	VerdictInvalid            = "INVALID_HEADERS"
	VerdictPotentiallyInvalid = "POTENTIALLY_INVALID_HEADERS"
)

// FraudVerdict is HMRC's judgement of one request's headers.
type FraudVerdict struct {
	SpecVersion string       `json:"specVersion"`
	Code        string       `json:"code"` // VerdictValid, VerdictInvalid or VerdictPotentiallyInvalid
	Message     string       `json:"message"`
	Errors      []FraudIssue `json:"errors,omitempty"`
	Warnings    []FraudIssue `json:"warnings,omitempty"`
	// CorrelationID is HMRC's reference for the validate call.
	CorrelationID string `json:"-"`
}

// FraudIssue is one error or warning, with the headers it concerns.
type FraudIssue struct {
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Headers []string `json:"headers"`
}

// FraudFeedback is HMRC's judgement of the latest request to each endpoint
// of one API.
type FraudFeedback struct {
	API           string         `json:"-"`
	SpecVersion   string         `json:"specVersion"`
	Requests      []FraudRequest `json:"requests"`
	CorrelationID string         `json:"-"`
	// Seen is false when HMRC saw no request (of that connection method).
	Seen bool `json:"-"`
}

// FraudRequest is one request HMRC saw and its verdict, header by header.
type FraudRequest struct {
	Path             string             `json:"path"`
	Method           string             `json:"method"`
	RequestTimestamp string             `json:"requestTimestamp"`
	Code             string             `json:"code"`
	Headers          []FraudHeaderCheck `json:"headers"`
}

// FraudHeaderCheck is one header's verdict in the feedback.
type FraudHeaderCheck struct {
	Header   string   `json:"header"`
	Value    string   `json:"value,omitempty"`
	Code     string   `json:"code"`
	Errors   []string `json:"errors"`
	Warnings []string `json:"warnings"`
}

const acceptFraud = "application/vnd.hmrc.1.0+json"

func (c *Client) refuseProduction() error {
	if c.hmrc.Environment() == hmrc.EnvProduction {
		return errors.New("sandbox: the Test Fraud Prevention Headers API exists in HMRC's sandbox only, and this client calls production")
	}
	return nil
}

// ValidateFraudHeaders sends the fraud prevention headers of origin (this
// deployment as the origin of a call: a batch process, or a landlord's
// browser) to HMRC's validator and returns its verdict. The headers are
// built exactly as for an MTD call, so the verdict is on what the service
// sends.
func (c *Client) ValidateFraudHeaders(ctx context.Context, origin *fraud.Origin) (*FraudVerdict, error) {
	if err := c.refuseProduction(); err != nil {
		return nil, err
	}
	if origin == nil {
		return nil, errors.New("sandbox: validate fraud headers: the origin to validate is required")
	}
	var v FraudVerdict
	resp, err := c.hmrc.Do(ctx, hmrc.Call{
		API: APIFraudHeaders, Application: true, Priority: hmrc.Interactive, Idempotent: true,
		Method: http.MethodGet, Path: "/test/fraud-prevention-headers/validate", Accept: acceptFraud, Fraud: origin,
	}, &v)
	if err != nil {
		return nil, fmt.Errorf("sandbox: validate fraud headers: %w", err)
	}
	if v.Code == "" {
		return nil, fmt.Errorf("sandbox: validate fraud headers: HMRC's answer has no verdict (%d bytes)", len(resp.Body))
	}
	v.CorrelationID = resp.CorrelationID
	return &v, nil
}

var feedbackAPIPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{1,63}$`)

// FraudFeedback asks HMRC how it judged the most recent sandbox request to
// each endpoint of api (e.g. FeedbackVAT) sent with connectionMethod
// (fraud.WebAppViaServer, fraud.BatchProcessDirect; "" for any). HMRC
// having seen no such request is Seen false, not an error.
func (c *Client) FraudFeedback(ctx context.Context, api, connectionMethod string) (*FraudFeedback, error) {
	if err := c.refuseProduction(); err != nil {
		return nil, err
	}
	if !feedbackAPIPattern.MatchString(api) {
		return nil, fmt.Errorf("sandbox: fraud feedback: %q is not an API name such as %s", api, FeedbackVAT)
	}
	q := url.Values{}
	if connectionMethod != "" {
		q.Set("connectionMethod", connectionMethod)
	}
	f := FraudFeedback{API: api}
	resp, err := c.hmrc.Do(ctx, hmrc.Call{
		API: APIFraudHeaders, Application: true, Priority: hmrc.Interactive, Idempotent: true,
		Method: http.MethodGet, Path: "/test/fraud-prevention-headers/" + api + "/validation-feedback", Query: q,
		Accept: acceptFraud,
	}, &f)
	var ae *hmrc.APIError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		f.CorrelationID = ae.CorrelationID
		return &f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sandbox: fraud feedback %s: %w", api, err)
	}
	f.CorrelationID, f.Seen = resp.CorrelationID, true
	return &f, nil
}
