package hmrc_test

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect/hmrc"
)

// Create Test User gives credentials that work: the new user grants VAT
// authority on the simulator's pages and its VRN has obligations.
func TestCreateTestUser(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	u, err := e.client.CreateTestUser(ctx, []string{hmrc.TestServiceMTDIncomeTax, hmrc.TestServiceMTDVAT})
	if err != nil {
		t.Fatal(err)
	}
	if len(u.UserID) != 12 || u.Password == "" || u.NINO == "" || u.MTDITID == "" || len(u.VRN) != 9 || u.VATRegistrationDate == "" ||
		u.IndividualDetails == nil || u.IndividualDetails.FirstName == "" {
		t.Fatalf("test user %+v", u)
	}
	if strings.Contains(u.String(), u.Password) || strings.Contains(strings.ToLower(u.String()), "password") {
		t.Fatalf("String shows the password: %s", u)
	}
	// A JSON log handler does not use String; the user must not reach it
	// whole either.
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("created", "user", u, "value", *u)
	if strings.Contains(logged.String(), u.Password) {
		t.Fatalf("the log shows the password: %s", logged.String())
	}
	e.connectVAT(t, u.UserID, u.Password)
	list, err := e.client.VATObligations(ctx, e.userID, u.VRN, time.Time{}, time.Time{}, hmrc.VATStatusOpen, webOrigin())
	if err != nil || len(list) == 0 {
		t.Fatalf("the new user's obligations: %v, %v", list, err)
	}

	// A user with no services has no identifiers.
	bare, err := e.client.CreateTestUser(ctx, nil)
	if err != nil || bare.VRN != "" || bare.NINO != "" || bare.UserID == u.UserID {
		t.Fatalf("bare user %+v, %v", bare, err)
	}
	// A service the sandbox does not know is HMRC's refusal.
	var ae *hmrc.APIError
	if _, err := e.client.CreateTestUser(ctx, []string{"no-such-service"}); !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
		t.Fatalf("unknown service: %v", err)
	}
}

func TestCreateTestUserRefusedLocally(t *testing.T) {
	e := newEnv(t)
	before := e.Sim.Stats()
	for _, services := range [][]string{{""}, {"MTD-VAT"}, {"mtd-vat", "mtd-vat"}, {"mtd vat"}} {
		if _, err := e.client.CreateTestUser(t.Context(), services); err == nil {
			t.Errorf("%q accepted", services)
		}
	}
	if after := e.Sim.Stats(); after.TokenRequests != before.TokenRequests || after.APIRequests != before.APIRequests {
		t.Fatal("a refused request reached HMRC")
	}
	prod, err := hmrc.New(hmrc.Config{
		ClientID: clientID, ClientSecret: clientSecret, Environment: hmrc.EnvProduction,
		AuthorizeURL: e.SimURL + "/oauth/authorize", TokenURL: e.SimURL + "/oauth/token", APIURL: e.SimURL,
		Store: e.Store, Sealer: e.Sealer,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prod.CreateTestUser(t.Context(), []string{hmrc.TestServiceMTDVAT}); err == nil || !strings.Contains(err.Error(), "sandbox") {
		t.Fatalf("production: %v", err)
	}
	if after := e.Sim.Stats(); after.TokenRequests != before.TokenRequests {
		t.Fatal("production client asked for a token")
	}
}
