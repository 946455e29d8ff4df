package hmrcsim_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

// ninoRE is the regex HMRC's MTD APIs validate NINOs with.
var ninoRE = regexp.MustCompile(`^([ACEHJLMOPRSWXY][A-CEGHJ-NPR-TW-Z]|B[A-CEHJ-NPR-TW-Z]|G[ACEGHJ-NPR-TW-Z]|[KT][A-CEGHJ-MPR-TW-Z]|N[A-CEGHJL-NPR-SW-Z]|Z[A-CEGHJ-NPR-TW-Y])[0-9]{6}[A-D ]?$`)

func TestCreateTestUser(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	cc := clientcredentials.Config{
		ClientID: clientID, ClientSecret: clientSecret, TokenURL: e.srv.URL + "/oauth/token",
		AuthStyle: oauth2.AuthStyleInParams,
	}
	appTok, err := cc.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	status, u := e.apiWith(http.DefaultClient, "POST", "/create-test-user/individuals", appTok.AccessToken,
		strings.NewReader(`{"serviceNames":["national-insurance","self-assessment","mtd-income-tax"]}`))
	if status != 201 {
		t.Fatalf("create individual: %d %v", status, u)
	}
	for _, k := range []string{"userId", "password", "userFullName", "emailAddress", "saUtr", "nino", "mtdItId", "individualDetails"} {
		if u[k] == nil || u[k] == "" {
			t.Errorf("response lacks %s: %v", k, u)
		}
	}
	if nino, _ := u["nino"].(string); !ninoRE.MatchString(nino) {
		t.Errorf("nino %q does not pass HMRC's validation", nino)
	}
	if id, _ := u["mtdItId"].(string); !regexp.MustCompile(`^X[A-Z]IT[0-9]{11}$`).MatchString(id) {
		t.Errorf("mtdItId %q", id)
	}

	// The new user can sign in and grant authority.
	b := e.browser()
	p := e.get(b, e.conf.AuthCodeURL("s"))
	p = e.submit(b, p, map[string][]string{"user_id": {u["userId"].(string)}, "password": {u["password"].(string)}})
	if !strings.Contains(p.body, "Grant authority") {
		t.Fatalf("created user cannot sign in:\n%s", p.body)
	}

	status, org := e.apiWith(http.DefaultClient, "POST", "/create-test-user/organisations", appTok.AccessToken,
		strings.NewReader(`{"serviceNames":["mtd-vat"]}`))
	if vrn, _ := org["vrn"].(string); status != 201 || !regexp.MustCompile(`^[0-9]{9}$`).MatchString(vrn) || org["organisationDetails"] == nil {
		t.Errorf("create organisation: %d %v", status, org)
	}

	// No body means no enrolments.
	if status, bare := e.apiWith(http.DefaultClient, "POST", "/create-test-user/individuals", appTok.AccessToken, nil); status != 201 || bare["nino"] != nil {
		t.Errorf("empty request: %d %v", status, bare)
	}
	if status, body := e.apiWith(http.DefaultClient, "POST", "/create-test-user/individuals", appTok.AccessToken,
		strings.NewReader(`{"serviceNames":["corporation-tax"]}`)); status != 400 || body["code"] != "INVALID_REQUEST" {
		t.Errorf("organisation-only service for an individual: %d %v", status, body)
	}
	if status, body := e.api("GET", "/create-test-user/services", appTok.AccessToken); status != 200 {
		t.Errorf("services: %d %v", status, body)
	}

	// Application-restricted: a user token is the wrong kind.
	userTok := e.connect()
	if status, body := e.apiWith(http.DefaultClient, "POST", "/create-test-user/individuals", userTok.AccessToken, nil); status != 401 || body["code"] != "INCORRECT_ACCESS_TOKEN_TYPE" {
		t.Errorf("user token: %d %v", status, body)
	}
}
