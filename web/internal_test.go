package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/proxy"
	"github.com/mtdconnect/mtdconnect/landlord"
)

func TestHumanDuration(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{0, "less than a minute"},
		{59 * time.Second, "less than a minute"},
		{time.Minute, "1 minute"},
		{4 * time.Hour, "4 hours"},
		{3*time.Hour + 59*time.Minute + 59*time.Second, "3 hours 59 minutes"},
		{25 * time.Hour, "1 day 1 hour"},
		{48*time.Hour + 5*time.Minute, "2 days"},
		{49*time.Hour + 5*time.Minute, "2 days 1 hour"},
	} {
		if got := humanDuration(tt.d); got != tt.want {
			t.Errorf("humanDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, tt := range []struct {
		err    error
		status int
		code   string
		msg    string
	}{
		{&hmrc.ReconnectError{Reason: mtdconnect.ReasonRevoked}, 409, "needs_reconnect", "HMRC no longer accepts this connection: authority removed at HMRC. Connect again."},
		{fmt.Errorf("refresh: %w", &hmrc.ReconnectError{Reason: "x"}), 409, "needs_reconnect", ""},
		{fmt.Errorf("%w: 503", hmrc.ErrUnavailable), 503, "hmrc_unavailable", "HMRC could not be reached. Try again in a few minutes."},
		{&hmrc.APIError{Status: 400, Code: "RULE_NEW_TO_US", Message: "Something new"}, 502, "RULE_NEW_TO_US", "HMRC refused the request: Something new. Try again later."},
		{hmrc.ErrNotConnected, 404, "not_connected", ""},
		{mtdconnect.ErrNotFound, 404, "not_connected", ""},
		{landlord.ErrUnknownUser, 404, "user_not_found", ""},
		{errBadRequest, 400, "bad_request", ""},
		{hmrc.ErrStateUnknown, 400, "state_unknown", ""},
		{hmrc.ErrStateExpired, 400, "state_expired", ""},
		{hmrc.ErrStateOtherUser, 400, "state_other_user", ""},
		{&hmrc.ExchangeError{Code: "invalid_grant"}, 400, "code_refused", "HMRC did not accept the authorisation code. It may have expired or been used already. Connect again."},
		{errors.New("database is locked: secret detail"), http.StatusInternalServerError, "internal", "Internal error."},
		{&hmrc.TestScenarioError{Problem: "is for the sandbox only, and this service calls HMRC's production"}, 400, "test_scenario_refused",
			"Gov-Test-Scenario is for the sandbox only, and this service calls HMRC's production. Nothing was sent to HMRC."},
		{&proxy.PathError{Problem: "has an encoded slash or backslash (%2F, %5C)"}, 400, "invalid_path",
			"The path to pass on to HMRC has an encoded slash or backslash (%2F, %5C). Nothing was sent to HMRC."},
		{proxy.ErrNotAllowed, 403, "path_not_allowed", ""},
		{&proxy.IdentifierError{Problem: "names a National Insurance number that is not the landlord's"}, 403, "identifier_not_landlords",
			"The path names a National Insurance number that is not the landlord's: a landlord's authority is used only for their own " +
				"National Insurance number or VAT registration number. Nothing was sent to HMRC."},
		{proxy.ErrMethod, 405, "method_not_allowed", ""},
		{errDeviceDataRequired, 400, "device_data_required", ""},
	} {
		p := classify(tt.err)
		if p.Status != tt.status || p.Code != tt.code || (tt.msg != "" && p.Message != tt.msg) {
			t.Errorf("classify(%v) = %d %q %q, want %d %q %q", tt.err, p.Status, p.Code, p.Message, tt.status, tt.code, tt.msg)
		}
	}
}

func TestPassword(t *testing.T) {
	h, err := HashPassword("s3cret passphrase")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q is not PHC argon2id", h)
	}
	if !CheckPassword(h, "s3cret passphrase") {
		t.Error("the right password does not match")
	}
	if CheckPassword(h, "s3cret passphrasE") || CheckPassword(h, "") {
		t.Error("a wrong password matches")
	}
	h2, _ := HashPassword("s3cret passphrase")
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=4294967295,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", strings.Replace(h, "v=19", "v=16", 1)} {
		if CheckPassword(bad, "s3cret passphrase") {
			t.Errorf("malformed hash %q matches", bad)
		}
	}
	if _, err := HashPassword(""); err == nil {
		t.Error("an empty password was hashed")
	}
}

func TestAPIKey(t *testing.T) {
	k1, h1 := NewAPIKey()
	k2, _ := NewAPIKey()
	if !strings.HasPrefix(k1, "mtdc_") || len(k1) != len("mtdc_")+43 || k1 == k2 {
		t.Errorf("keys %q %q", k1, k2)
	}
	if string(HashAPIKey(k1)) != string(h1) || len(h1) != 32 {
		t.Error("HashAPIKey does not give the stored hash")
	}
}

func TestNewChecksConfig(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New accepted an empty config")
	}
	for _, local := range []string{"localhost", "127.0.0.1", "::1"} {
		if !isLocalHost(local) {
			t.Errorf("%s is not local", local)
		}
	}
	if isLocalHost("mtdconnect.example") || isLocalHost("10.0.0.1") {
		t.Error("a remote host counts as local")
	}
}

// A client that hangs up is not an internal error: logged at info, once.
func TestClientWentAwayNotAnError(t *testing.T) {
	var logs bytes.Buffer
	s := &Server{log: slog.New(slog.NewTextHandler(&logs, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/quarterly", nil)
	s.logProblem(r, fmt.Errorf("hmrc: obligations: %w", context.Canceled))
	if out := logs.String(); strings.Contains(out, "level=ERROR") || !strings.Contains(out, "client went away") {
		t.Errorf("log:\n%s", out)
	}
}

// callKindOf (the proxy's rule) reads for GET and HEAD only: any other
// method may send the landlord's data to HMRC.
func TestCallKindOf(t *testing.T) {
	for method, want := range map[string]callKind{
		http.MethodGet: callReads, http.MethodHead: callReads,
		http.MethodPost: callSends, http.MethodPut: callSends, http.MethodDelete: callSends, http.MethodPatch: callSends,
	} {
		if got := callKindOf(method); got != want {
			t.Errorf("%s: %v, want %v", method, got, want)
		}
	}
}
