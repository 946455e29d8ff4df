package hmrc_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

// sunsetting stands in for HMRC announcing an API version's end: every API
// answer carries Deprecation and Sunset headers (HMRC sends them on
// versions it is retiring; the simulator's versions are all current).
type sunsetting struct{ next http.RoundTripper }

func (s sunsetting) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.next.RoundTrip(req)
	if err == nil && !strings.HasPrefix(req.URL.Path, "/oauth/") {
		resp.Header.Set("Deprecation", "@1767225600")
		resp.Header.Set("Sunset", "Fri, 01 Jan 2027 00:00:00 GMT")
	}
	return resp, err
}

// propertyCall is a call of the UK property cumulative summary of the
// landlord's business for 2025-26.
func propertyCall(e *env, t *testing.T, method string) hmrc.Call {
	t.Helper()
	id, err := useConnection(t.Context(), e.client, e.userID)
	if err != nil {
		t.Fatal(err)
	}
	return hmrc.Call{
		API: itsa.APIPropertyBusiness, UserID: e.userID, Purpose: mtdconnect.PurposeIncomeTax,
		Method: method, Path: "/individuals/business/property/uk/TC663795B/" + id + "/cumulative/2025-26",
		Accept: "application/vnd.hmrc.6.0+json", Priority: hmrc.Interactive, Idempotent: true, Fraud: webOrigin(),
	}
}

// A proxy sends the platform's body as it is and gets HMRC's answer as it
// is: status, headers (X-CorrelationId, Deprecation, Sunset) and body,
// refusals included; typed callers still get *APIError naming the API.
func TestDoPassThrough(t *testing.T) {
	e := newEnv(t)
	e.client = e.NewClient(t, func(c *hmrc.Config) { c.HTTPClient = &http.Client{Transport: sunsetting{e.Tokens}} })
	e.connect(t)
	ctx := t.Context()

	put := propertyCall(e, t, http.MethodPut)
	put.PassThrough, put.ContentType = true, "application/json"
	put.RawBody = []byte(`{"fromDate":"2025-04-06","toDate":"2025-07-05","ukProperty":{"income":{"periodAmount":1200.5}}}`)
	resp, err := e.client.Do(ctx, put, nil)
	if err != nil || resp.Status != http.StatusNoContent || len(resp.CorrelationID) != 36 ||
		resp.Header.Get("X-CorrelationId") != resp.CorrelationID || resp.Header.Get("Sunset") == "" || resp.Header.Get("Deprecation") == "" {
		t.Fatalf("PUT raw: %+v, %v", resp, err)
	}
	get := propertyCall(e, t, http.MethodGet)
	get.PassThrough = true
	resp, err = e.client.Do(ctx, get, nil)
	if err != nil || resp.Status != http.StatusOK || !strings.Contains(string(resp.Body), `"periodAmount":1200.5`) {
		t.Fatalf("GET raw: %+v, %v", resp, err)
	}

	// HMRC's refusal of a raw body comes back as HMRC sent it.
	put.RawBody = []byte(`{"ukProperty":{"income":{"periodAmount":-1}}}`)
	resp, err = e.client.Do(ctx, put, nil)
	var body struct{ Code string }
	if err != nil || resp.Status != http.StatusBadRequest || json.Unmarshal(resp.Body, &body) != nil || body.Code == "" ||
		len(resp.CorrelationID) != 36 || resp.Header.Get("Sunset") == "" {
		t.Fatalf("refused raw PUT: %+v, %v", resp, err)
	}
	// The same refusal to a typed caller is an *APIError saying which API.
	put.PassThrough = false
	resp, err = e.client.Do(ctx, put, nil)
	var ae *hmrc.APIError
	if !errors.As(err, &ae) || ae.API != itsa.APIPropertyBusiness || ae.Status != http.StatusBadRequest || ae.Code != body.Code ||
		resp == nil || resp.Status != http.StatusBadRequest || !strings.Contains(err.Error(), "property-business") {
		t.Fatalf("typed refusal: %v (%+v)", err, ae)
	}

	// HMRC failing: the last 5xx is passed on once the retries are spent.
	e.Sim.SetFaults(hmrcsim.Faults{ErrorRate: 1})
	before := e.Sim.Stats().APIRequests
	resp, err = e.client.Do(ctx, get, nil)
	if err != nil || resp.Status != http.StatusInternalServerError {
		t.Fatalf("GET during 500s: %+v, %v", resp, err)
	}
	if n := e.Sim.Stats().APIRequests - before; n != 4 {
		t.Errorf("the GET was tried %d times, want 4", n)
	}
	e.Sim.SetFaults(hmrcsim.Faults{})

	// A body given twice is refused before anything is sent.
	before = e.Sim.Stats().APIRequests
	both := put
	both.Body = map[string]any{"ukProperty": map[string]any{}}
	if _, err := e.client.Do(ctx, both, nil); err == nil || e.Sim.Stats().APIRequests != before {
		t.Errorf("Body and RawBody: %v", err)
	}
}

// An application-restricted call carries the application's own token: it
// needs no landlord's connection, and the fraud prevention headers go only
// when given.
func TestDoApplicationRestricted(t *testing.T) {
	e := newEnv(t) // the landlord has no connection
	ctx := t.Context()
	validate := hmrc.Call{
		API: "test-fraud-prevention-headers", Application: true, Priority: hmrc.Interactive, Idempotent: true,
		Method: http.MethodGet, Path: "/test/fraud-prevention-headers/validate", Accept: "application/vnd.hmrc.1.0+json",
		Fraud: webOrigin(),
	}
	var verdict hmrcsim.FraudResult
	if _, err := e.client.Do(ctx, validate, &verdict); err != nil || verdict.Code != hmrcsim.FraudValid {
		t.Fatalf("validate: %+v, %v", verdict, err)
	}
	validate.Fraud = nil
	if _, err := e.client.Do(ctx, validate, &verdict); err != nil || verdict.Code != hmrcsim.FraudInvalid {
		t.Fatalf("validate without headers: %+v, %v", verdict, err)
	}
	if conns, err := e.Store.Connection(ctx, e.userID, mtdconnect.PurposeIncomeTax); !errors.Is(err, mtdconnect.ErrNotFound) {
		t.Fatalf("a connection appeared: %+v, %v", conns, err)
	}
	// A user-restricted call still needs the landlord's connection.
	user := validate
	user.Application, user.UserID, user.Purpose, user.Fraud = false, e.userID, mtdconnect.PurposeIncomeTax, webOrigin()
	if _, err := e.client.Do(ctx, user, nil); !errors.Is(err, hmrc.ErrNotConnected) {
		t.Fatalf("user-restricted without a connection: %v", err)
	}
}

// Gov-Test-Scenario is sent on the call only outside production, and only
// when it is a scenario name.
func TestDoTestScenario(t *testing.T) {
	e := newEnv(t)
	e.connect(t)
	call := hmrc.Call{
		API: itsa.APIBusinessDetails, UserID: e.userID, Purpose: mtdconnect.PurposeIncomeTax,
		Method: http.MethodGet, Path: "/individuals/business/details/TC663795B/list",
		Accept: "application/vnd.hmrc.2.0+json", Priority: hmrc.Interactive, Idempotent: true, Fraud: webOrigin(),
		TestScenario: "NOT_FOUND",
	}
	_, err := e.client.Do(t.Context(), call, nil)
	var ae *hmrc.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		t.Fatalf("NOT_FOUND scenario: %v", err)
	}
	before := e.Sim.Stats().APIRequests
	call.TestScenario = "not a name"
	if _, err := e.client.Do(t.Context(), call, nil); err == nil {
		t.Error("a malformed scenario was sent")
	}
	call.TestScenario = "NOT_FOUND"
	prod := e.NewClient(t, func(c *hmrc.Config) { c.Environment = hmrc.EnvProduction })
	if _, err := prod.Do(t.Context(), call, nil); err == nil || !strings.Contains(err.Error(), "sandbox only") {
		t.Errorf("production with a scenario: %v", err)
	}
	if n := e.Sim.Stats().APIRequests - before; n != 0 {
		t.Errorf("%d refused calls reached HMRC", n)
	}
}
