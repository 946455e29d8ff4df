package sandbox_test

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/hmrctest"
	"github.com/mtdconnect/mtdconnect/hmrc/sandbox"
	"github.com/mtdconnect/mtdconnect/hmrc/vat"
)

// Create Test User gives credentials that work: the new user grants VAT
// authority on the simulator's pages and its VRN has obligations.
// newEnv is the shared test deployment with a landlord and the sandbox
// client over its HMRC client.
func newEnv(t *testing.T) (*hmrctest.Env, *sandbox.Client, int64) {
	t.Helper()
	e := hmrctest.New(t, hmrctest.Options{})
	return e, sandbox.New(e.Client), e.CreateUser(t, "landlord@example.com", "", "").ID
}

func TestCreateTestUser(t *testing.T) {
	e, sb, userID := newEnv(t)
	ctx := t.Context()
	u, err := sb.CreateTestUser(ctx, []string{sandbox.ServiceMTDIncomeTax, sandbox.ServiceMTDVAT})
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
	e.Connect(t, e.Client, userID, mtdconnect.PurposeVAT, u.UserID, u.Password)
	origin, err := e.Client.BatchOrigin(map[string]string{"mtdconnect": "1"})
	if err != nil {
		t.Fatal(err)
	}
	list, err := vat.New(e.Client).Obligations(ctx, userID, u.VRN, time.Time{}, time.Time{}, vat.StatusOpen, origin)
	if err != nil || len(list) == 0 {
		t.Fatalf("the new user's obligations: %v, %v", list, err)
	}

	// A user with no services has no identifiers.
	bare, err := sb.CreateTestUser(ctx, nil)
	if err != nil || bare.VRN != "" || bare.NINO != "" || bare.UserID == u.UserID {
		t.Fatalf("bare user %+v, %v", bare, err)
	}
	// A service the sandbox does not know is HMRC's refusal.
	var ae *hmrc.APIError
	if _, err := sb.CreateTestUser(ctx, []string{"no-such-service"}); !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || ae.API != sandbox.APICreateTestUser {
		t.Fatalf("unknown service: %v", err)
	}
}

func TestCreateTestUserRefusedLocally(t *testing.T) {
	e, sb, _ := newEnv(t)
	before := e.Sim.Stats()
	for _, services := range [][]string{{""}, {"MTD-VAT"}, {"mtd-vat", "mtd-vat"}, {"mtd vat"}} {
		if _, err := sb.CreateTestUser(t.Context(), services); err == nil {
			t.Errorf("%q accepted", services)
		}
	}
	if after := e.Sim.Stats(); after.TokenRequests != before.TokenRequests || after.APIRequests != before.APIRequests {
		t.Fatal("a refused request reached HMRC")
	}
	prod := e.NewClient(t, func(c *hmrc.Config) { c.Environment = hmrc.EnvProduction })
	if _, err := sandbox.New(prod).CreateTestUser(t.Context(), []string{sandbox.ServiceMTDVAT}); err == nil || !strings.Contains(err.Error(), "sandbox") {
		t.Fatalf("production: %v", err)
	}
	if after := e.Sim.Stats(); after.TokenRequests != before.TokenRequests {
		t.Fatal("production client asked for a token")
	}
}
