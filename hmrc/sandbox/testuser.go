// Package sandbox calls HMRC's test-support APIs, which exist in its
// sandbox only: Create Test User and the Test Fraud Prevention Headers API,
// application-restricted (the calls carry the application's own token,
// hmrc.Call.Application), and the Self Assessment Test Support API's
// "Create a Test Business", which carries the landlord's Income Tax token.
// Every call is refused when the client calls production.
package sandbox

// HMRC's Create Test User API v1.0 (sandbox only): a Government Gateway
// test user enrolled for the services asked for, to sign in with on HMRC's
// sandbox grant page.
//
// The API is application-restricted: it takes an application token from the
// client_credentials grant, not a landlord's token, and it is not one of the
// VAT or Income Tax (MTD) APIs to which the fraud prevention rules apply, so
// no fraud prevention headers are sent (shared reference §5 and §7; HMRC's
// specification lists only the MTD APIs and their associated endpoints).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"

	"github.com/mtdconnect/mtdconnect/hmrc"
)

// APICreateTestUser is Create Test User in hmrc.APIError.API.
const APICreateTestUser = "create-test-user"

// Service names of Create Test User that this service's journeys need.
const (
	ServiceNationalInsurance = "national-insurance"
	ServiceSelfAssessment    = "self-assessment"
	ServiceMTDIncomeTax      = "mtd-income-tax"
	ServiceMTDVAT            = "mtd-vat"
)

// Client calls HMRC's test-support APIs through an hmrc.Client.
type Client struct{ hmrc *hmrc.Client }

// New returns a Client over c.
func New(c *hmrc.Client) *Client { return &Client{hmrc: c} }

// TestUser is a sandbox test user as Create Test User returns it. Password
// is a credential: String leaves it out, so a logged TestUser does not show it.
type TestUser struct {
	UserID              string             `json:"userId"` // the Government Gateway user ID to sign in with
	Password            string             `json:"password"`
	UserFullName        string             `json:"userFullName"`
	EmailAddress        string             `json:"emailAddress"`
	IndividualDetails   *IndividualDetails `json:"individualDetails,omitempty"`
	SAUTR               string             `json:"saUtr,omitempty"`
	NINO                string             `json:"nino,omitempty"`
	MTDITID             string             `json:"mtdItId,omitempty"`
	VRN                 string             `json:"vrn,omitempty"`
	VATRegistrationDate string             `json:"vatRegistrationDate,omitempty"` // YYYY-MM-DD
	EORINumber          string             `json:"eoriNumber,omitempty"`
}

// IndividualDetails is the made-up person behind a test user.
type IndividualDetails struct {
	FirstName   string  `json:"firstName"`
	LastName    string  `json:"lastName"`
	DateOfBirth string  `json:"dateOfBirth"` // YYYY-MM-DD
	Address     Address `json:"address"`
}

// Address is a test user's address.
type Address struct {
	Line1    string `json:"line1"`
	Line2    string `json:"line2"`
	Postcode string `json:"postcode"`
}

// String shows the user without the password.
func (u TestUser) String() string {
	return fmt.Sprintf("test user %s (%s) nino=%s vrn=%s", u.UserID, u.UserFullName, u.NINO, u.VRN)
}

// LogValue is String, for log handlers that would otherwise write the
// struct field by field, password included.
func (u TestUser) LogValue() slog.Value { return slog.StringValue(u.String()) }

var testServicePattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,63}$`)

// CreateTestUser creates an individual test user in HMRC's sandbox enrolled
// for services (e.g. ServiceMTDIncomeTax, ServiceMTDVAT; none gives a
// user with no enrolments) and returns its credentials and identifiers. It
// refuses to run against production, where the API does not exist, and
// until an administrator has allowed calls to HMRC's external services
// (hmrc.ErrNotConfirmed; the simulator needs no consent).
//
// Both requests (the application token and the user) spend the shared rate
// budget at Interactive priority: someone is waiting for the user. The
// creation is not repeated after a failure HMRC may have acted on.
func (c *Client) CreateTestUser(ctx context.Context, services []string) (*TestUser, error) {
	if c.hmrc.Environment() == hmrc.EnvProduction {
		return nil, errors.New("sandbox: Create Test User exists in HMRC's sandbox only, and this client calls production")
	}
	for i, s := range services {
		if !testServicePattern.MatchString(s) {
			return nil, fmt.Errorf("sandbox: create test user: %q is not a service name (e.g. %s)", s, ServiceMTDVAT)
		}
		if slices.Contains(services[:i], s) {
			return nil, fmt.Errorf("sandbox: create test user: service %q is listed twice", s)
		}
	}
	if services == nil {
		services = []string{}
	}
	var u TestUser
	resp, err := c.hmrc.Do(ctx, hmrc.Call{
		API: APICreateTestUser, Application: true, Priority: hmrc.Interactive,
		Method: http.MethodPost, Path: "/create-test-user/individuals", Accept: "application/vnd.hmrc.1.0+json",
		Body: struct {
			ServiceNames []string `json:"serviceNames"`
		}{services},
	}, &u)
	if err != nil {
		return nil, fmt.Errorf("sandbox: create test user: %w", err)
	}
	if u.UserID == "" || u.Password == "" {
		return nil, fmt.Errorf("sandbox: create test user: HMRC's answer has no user ID and password (%d bytes)", len(resp.Body))
	}
	return &u, nil
}
