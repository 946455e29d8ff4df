package hmrc

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
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Service names of Create Test User that this service's journeys need.
const (
	TestServiceNationalInsurance = "national-insurance"
	TestServiceSelfAssessment    = "self-assessment"
	TestServiceMTDIncomeTax      = "mtd-income-tax"
	TestServiceMTDVAT            = "mtd-vat"
)

// TestUser is a sandbox test user as Create Test User returns it. Password
// is a credential: String leaves it out, so a logged TestUser does not show it.
type TestUser struct {
	UserID              string                 `json:"userId"` // the Government Gateway user ID to sign in with
	Password            string                 `json:"password"`
	UserFullName        string                 `json:"userFullName"`
	EmailAddress        string                 `json:"emailAddress"`
	IndividualDetails   *TestIndividualDetails `json:"individualDetails,omitempty"`
	SAUTR               string                 `json:"saUtr,omitempty"`
	NINO                string                 `json:"nino,omitempty"`
	MTDITID             string                 `json:"mtdItId,omitempty"`
	VRN                 string                 `json:"vrn,omitempty"`
	VATRegistrationDate string                 `json:"vatRegistrationDate,omitempty"` // YYYY-MM-DD
	EORINumber          string                 `json:"eoriNumber,omitempty"`
}

// TestIndividualDetails is the made-up person behind a test user.
type TestIndividualDetails struct {
	FirstName   string      `json:"firstName"`
	LastName    string      `json:"lastName"`
	DateOfBirth string      `json:"dateOfBirth"` // YYYY-MM-DD
	Address     TestAddress `json:"address"`
}

// TestAddress is a test user's address.
type TestAddress struct {
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
// for services (e.g. TestServiceMTDIncomeTax, TestServiceMTDVAT; none gives a
// user with no enrolments) and returns its credentials and identifiers. It
// refuses to run against production, where the API does not exist, and
// until an administrator has allowed calls to HMRC's external services
// (ErrNotConfirmed; the simulator needs no consent).
//
// Both requests (the application token and the user) spend the shared rate
// budget at Interactive priority: someone is waiting for the user. The
// creation is not repeated after a failure HMRC may have acted on.
func (c *Client) CreateTestUser(ctx context.Context, services []string) (*TestUser, error) {
	if c.cfg.Environment == EnvProduction {
		return nil, errors.New("hmrc: Create Test User exists in HMRC's sandbox only, and this client calls production")
	}
	for i, s := range services {
		if !testServicePattern.MatchString(s) {
			return nil, fmt.Errorf("hmrc: create test user: %q is not a service name (e.g. %s)", s, TestServiceMTDVAT)
		}
		if slices.Contains(services[:i], s) {
			return nil, fmt.Errorf("hmrc: create test user: service %q is listed twice", s)
		}
	}
	if err := c.requireConsent(ctx); err != nil {
		return nil, err
	}
	token, err := c.applicationToken(ctx)
	if err != nil {
		return nil, err
	}
	if services == nil {
		services = []string{}
	}
	body, err := json.Marshal(struct {
		ServiceNames []string `json:"serviceNames"`
	}{services})
	if err != nil {
		return nil, fmt.Errorf("hmrc: create test user: %w", err)
	}
	call := Call{Method: http.MethodPost, Path: "/create-test-user/individuals", Accept: "application/vnd.hmrc.1.0+json"}
	var lastErr error
	for attempt := 1; attempt <= c.cfg.MaxAttempts; attempt++ {
		if attempt > 1 {
			if err := sleep(ctx, backoff(c.cfg.RetryBase, attempt-1)); err != nil {
				return nil, err
			}
		}
		if err := c.limiter.Wait(ctx, Interactive); err != nil {
			return nil, err
		}
		resp, err := c.send(ctx, call, nil, body, token)
		switch {
		case err != nil && sentNothing(err):
			lastErr = err
			continue
		case err != nil:
			return nil, fmt.Errorf("%w: create test user (it may have been created): %v", ErrUnavailable, err)
		case resp.Status == http.StatusTooManyRequests:
			c.limiter.Throttled(ctx)
			lastErr = c.apiError(resp) // not processed: safe to repeat
			continue
		case resp.Status >= 500:
			return nil, fmt.Errorf("%w: create test user: %w", ErrUnavailable, c.apiError(resp))
		case resp.Status < 200 || resp.Status > 299:
			return nil, fmt.Errorf("hmrc: create test user: %w", c.apiError(resp))
		}
		var u TestUser
		if err := json.Unmarshal(resp.Body, &u); err != nil || u.UserID == "" || u.Password == "" {
			return nil, fmt.Errorf("hmrc: create test user: HMRC's answer has no user ID and password (%d bytes)", len(resp.Body))
		}
		c.log.Info("hmrc sandbox test user created", "test_user", u.UserID, "services", services)
		return &u, nil
	}
	return nil, fmt.Errorf("%w: create test user: %v", ErrUnavailable, lastErr)
}

// applicationToken gets an application-restricted access token with the
// client_credentials grant, the client ID and secret in the form body as
// HMRC wants. It asks for no scope: Create Test User needs none. A token
// request is safe to repeat, so transient failures are retried.
func (c *Client) applicationToken(ctx context.Context) (string, error) {
	cr := c.creds.current(ctx)
	cc := clientcredentials.Config{
		ClientID: cr.clientID, ClientSecret: cr.secret,
		TokenURL: c.oauth.Endpoint.TokenURL, AuthStyle: oauth2.AuthStyleInParams,
	}
	var lastErr error
	for attempt := 1; attempt <= c.cfg.MaxAttempts; attempt++ {
		if attempt > 1 {
			if err := sleep(ctx, backoff(c.cfg.RetryBase, attempt-1)); err != nil {
				return "", err
			}
		}
		if err := c.limiter.Wait(ctx, Interactive); err != nil {
			return "", err
		}
		tok, err := cc.Token(c.oauthContext(ctx))
		if err == nil {
			return tok.AccessToken, nil
		}
		lastErr = err
		switch classify(err) {
		case failThrottled:
			c.limiter.Throttled(ctx)
		case failTransient:
		default:
			return "", fmt.Errorf("hmrc: application token refused: %s", redact(err))
		}
	}
	return "", fmt.Errorf("%w: application token: %s", ErrUnavailable, redact(lastErr))
}
