package sandbox

// HMRC's Self Assessment Test Support API v1.0 (sandbox only), "Create a
// Test Business" (business_create.yaml): a business for the test user, so
// that the STATEFUL scenarios of Business Details, Property Business and
// the quarterly period type reach data of the developer's own. Unlike
// Create Test User it is user-restricted (write:self-assessment): it
// carries the landlord's Income Tax token, and so the fraud prevention
// headers every user-restricted call carries. HMRC purges test businesses
// 7 days after creation, and allows one of each property business.

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/fraud"
)

// APITestSupport is the Self Assessment Test Support API in
// hmrc.APIError.API.
const APITestSupport = "self-assessment-test-support"

// Business types a test business can have that this service's journeys use.
const (
	BusinessUKProperty = "uk-property"
)

// CreateTestBusiness creates a test business of typeOfBusiness (only
// BusinessUKProperty today, which needs no trading name or address) for
// the landlord's NINO and returns its business ID. HMRC's refusals are
// *hmrc.APIError (400 RULE_PROPERTY_BUSINESS_ADDED when the landlord has
// one already); it refuses to run against production. The creation is not
// repeated after a failure HMRC may have acted on.
func (c *Client) CreateTestBusiness(ctx context.Context, userID int64, nino, typeOfBusiness string, origin *fraud.Origin) (string, error) {
	if c.hmrc.Environment() == hmrc.EnvProduction {
		return "", errors.New("sandbox: the Self Assessment Test Support API exists in HMRC's sandbox only, and this client calls production")
	}
	if typeOfBusiness != BusinessUKProperty {
		return "", fmt.Errorf("sandbox: create test business: type %q is not one this service uses (%s)", typeOfBusiness, BusinessUKProperty)
	}
	n, err := mtdconnect.ParseNINO(nino)
	if err != nil {
		return "", err
	}
	var out struct {
		BusinessID string `json:"businessId"`
	}
	resp, err := c.hmrc.Do(ctx, hmrc.Call{
		API: APITestSupport, UserID: userID, Purpose: mtdconnect.PurposeIncomeTax, Priority: hmrc.Interactive,
		Method: http.MethodPost, Path: "/individuals/self-assessment-test-support/business/" + n,
		Accept: "application/vnd.hmrc.1.0+json", Fraud: origin,
		Body: struct {
			TypeOfBusiness string `json:"typeOfBusiness"`
		}{typeOfBusiness},
	}, &out)
	if err != nil {
		return "", fmt.Errorf("sandbox: create test business: %w", err)
	}
	if out.BusinessID == "" {
		return "", fmt.Errorf("sandbox: create test business: HMRC's answer has no business ID (%d bytes)", len(resp.Body))
	}
	return out.BusinessID, nil
}
