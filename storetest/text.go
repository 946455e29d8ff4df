package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

// badTexts are values no store keeps as text: PostgreSQL refuses the first
// two (SQLSTATE 22021), and a key this long overflows its btree index
// (SQLSTATE 54000). Each store refuses all three with ErrInvalidText,
// before writing anything, so both answer alike.
var badTexts = map[string]string{
	"NUL":          "ada\x00@example.com",
	"invalid UTF8": "ada\xff\xfe@example.com",
	"too long key": strings.Repeat("a", mtdconnect.MaxKeyBytes) + "@example.com",
}

// testInvalidText offers each method that takes text each bad value, and
// wants ErrInvalidText and nothing stored.
func testInvalidText(t *testing.T, s mtdconnect.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	noErr(t, "SaveConnection", s.SaveConnection(ctx, fullConnection(u.ID, mtdconnect.PurposeIncomeTax)))
	noErr(t, "CreateConnectSession", s.CreateConnectSession(ctx, newConnectSession(u.ID, "cs_text_kept")))
	calls := []struct {
		name string
		// long says the value is a key (indexed), where a too long one is
		// refused too; other text may be long.
		long bool
		call func(ctx context.Context, bad string) error
	}{
		{"CreateUser email", true, func(ctx context.Context, bad string) error {
			return s.CreateUser(ctx, &mtdconnect.User{Email: bad, PasswordHash: "h"})
		}},
		{"CreateUser NINO", false, func(ctx context.Context, bad string) error {
			return s.CreateUser(ctx, &mtdconnect.User{Email: "x@example.com", PasswordHash: "h", NINO: bad})
		}},
		{"UserByEmail", true, func(ctx context.Context, bad string) error {
			_, err := s.UserByEmail(ctx, bad)
			return err
		}},
		{"UpdateUser", true, func(ctx context.Context, bad string) error {
			v := *u
			v.Email = bad
			return s.UpdateUser(ctx, &v)
		}},
		{"CreateAPIKey", false, func(ctx context.Context, bad string) error {
			return s.CreateAPIKey(ctx, &mtdconnect.APIKey{Name: bad, Hash: []byte("h")})
		}},
		{"CreatePendingAuthorization", true, func(ctx context.Context, bad string) error {
			return s.CreatePendingAuthorization(ctx, &mtdconnect.PendingAuthorization{State: bad, UserID: u.ID,
				Purpose: mtdconnect.PurposeVAT, RedirectURI: "https://mtd.example/cb", CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)})
		}},
		{"PendingAuthorization", true, func(ctx context.Context, bad string) error {
			_, err := s.PendingAuthorization(ctx, bad)
			return err
		}},
		{"DeletePendingAuthorization", true, func(ctx context.Context, bad string) error {
			return s.DeletePendingAuthorization(ctx, bad)
		}},
		{"Connection", false, func(ctx context.Context, bad string) error {
			_, err := s.Connection(ctx, u.ID, mtdconnect.Purpose(bad))
			return err
		}},
		{"SaveConnection", false, func(ctx context.Context, bad string) error {
			c := fullConnection(u.ID, mtdconnect.PurposeVAT)
			c.LastError = bad
			return s.SaveConnection(ctx, c)
		}},
		{"UpdateConnection", false, func(ctx context.Context, bad string) error {
			c, err := s.Connection(ctx, u.ID, mtdconnect.PurposeIncomeTax)
			if err != nil {
				return err
			}
			c.Reason = bad
			return s.UpdateConnection(ctx, c)
		}},
		{"SaveConnection event", false, func(ctx context.Context, bad string) error {
			c := fullConnection(u.ID, mtdconnect.PurposeVAT)
			return s.SaveConnection(ctx, c, &mtdconnect.Event{UserID: u.ID, Type: mtdconnect.EventConnected, Data: []byte(bad)})
		}},
		{"AppendEvents type", false, func(ctx context.Context, bad string) error {
			_, err := s.AppendEvents(ctx, &mtdconnect.Event{UserID: u.ID, Type: bad, Data: []byte("{}")})
			return err
		}},
		{"AppendEvents key", true, func(ctx context.Context, bad string) error {
			_, err := s.AppendEvents(ctx, &mtdconnect.Event{UserID: u.ID, Type: mtdconnect.EventRecovered, Key: bad, Data: []byte("{}")})
			return err
		}},
		{"CreateWebhookEndpoint URL", false, func(ctx context.Context, bad string) error {
			return s.CreateWebhookEndpoint(ctx, &mtdconnect.WebhookEndpoint{UID: "ep_text", URL: bad, Secret: []byte("s")})
		}},
		{"CreateWebhookEndpoint UID", true, func(ctx context.Context, bad string) error {
			return s.CreateWebhookEndpoint(ctx, &mtdconnect.WebhookEndpoint{UID: bad, URL: "https://x.example", Secret: []byte("s")})
		}},
		{"ClaimDeliveries owner", false, func(ctx context.Context, bad string) error {
			_, err := s.ClaimDeliveries(ctx, bad, t0, time.Minute, 1)
			return err
		}},
		{"FinishDelivery error", false, func(ctx context.Context, bad string) error {
			return s.FinishDelivery(ctx, 1, "owner", mtdconnect.DeliveryAttempt{At: t0, Error: bad, NextTryAt: t0})
		}},
		{"SaveSubmission", false, func(ctx context.Context, bad string) error {
			return s.SaveSubmission(ctx, &mtdconnect.Submission{UserID: u.ID, Purpose: mtdconnect.PurposeVAT,
				Kind: mtdconnect.SubmissionVATReturn, Period: bad, Body: []byte("{}"), SubmittedAt: t0})
		}},
		{"SaveApplication", true, func(ctx context.Context, bad string) error {
			return s.SaveApplication(ctx, &mtdconnect.Application{Environment: bad, ClientID: "client-1", UpdatedAt: t0})
		}},
		{"Application", true, func(ctx context.Context, bad string) error {
			_, err := s.Application(ctx, bad)
			return err
		}},
		{"Confirm", true, func(ctx context.Context, bad string) error {
			_, err := s.Confirm(ctx, &mtdconnect.Confirmation{Name: bad, At: t0})
			return err
		}},
		{"AppendAudit", false, func(ctx context.Context, bad string) error {
			return s.AppendAudit(ctx, &mtdconnect.AuditEvent{UserID: u.ID, Purpose: mtdconnect.PurposeVAT, Kind: "k", Detail: bad, At: t0})
		}},
		{"ReserveSlot", true, func(ctx context.Context, bad string) error {
			_, _, err := s.ReserveSlot(ctx, bad, time.Second, time.Hour, t0)
			return err
		}},
		{"DelaySlots", true, func(ctx context.Context, bad string) error {
			return s.DelaySlots(ctx, bad, t0)
		}},
		// The platform's landlords, connect sessions, the stored business
		// and obligations.
		{"CreateUser ref", true, func(ctx context.Context, bad string) error {
			return s.CreateUser(ctx, &mtdconnect.User{Ref: bad})
		}},
		{"CreateUser display name", false, func(ctx context.Context, bad string) error {
			return s.CreateUser(ctx, &mtdconnect.User{Email: "x@example.com", PasswordHash: "h", DisplayName: bad})
		}},
		{"UserByRef", true, func(ctx context.Context, bad string) error {
			_, err := s.UserByRef(ctx, bad)
			return err
		}},
		{"UpdateUser display name", false, func(ctx context.Context, bad string) error {
			v := *u
			v.DisplayName = bad
			return s.UpdateUser(ctx, &v)
		}},
		{"CreateAPIKey scopes", false, func(ctx context.Context, bad string) error {
			return s.CreateAPIKey(ctx, &mtdconnect.APIKey{Name: "k", Hash: []byte("h2"), Scopes: []mtdconnect.Scope{mtdconnect.Scope(bad)}})
		}},
		{"CreateConnectSession ID", true, func(ctx context.Context, bad string) error {
			return s.CreateConnectSession(ctx, newConnectSession(u.ID, bad))
		}},
		{"CreateConnectSession return URL", false, func(ctx context.Context, bad string) error {
			cs := newConnectSession(u.ID, "cs_text")
			cs.ReturnURL = bad
			return s.CreateConnectSession(ctx, cs)
		}},
		{"ConnectSession", true, func(ctx context.Context, bad string) error {
			_, err := s.ConnectSession(ctx, bad)
			return err
		}},
		{"ConnectSessionByState", true, func(ctx context.Context, bad string) error {
			_, err := s.ConnectSessionByState(ctx, bad)
			return err
		}},
		{"StartConnectSession", true, func(ctx context.Context, bad string) error {
			return s.StartConnectSession(ctx, "cs_text_kept", bad, []byte("b"), t0)
		}},
		{"FinishConnectSession", false, func(ctx context.Context, bad string) error {
			return s.FinishConnectSession(ctx, "cs_text_kept", mtdconnect.ConnectFailed, bad, t0)
		}},
		{"AddReturnURL", true, func(ctx context.Context, bad string) error {
			return s.AddReturnURL(ctx, &mtdconnect.AllowedReturnURL{URL: bad, AddedAt: t0})
		}},
		{"RemoveReturnURL", true, func(ctx context.Context, bad string) error {
			return s.RemoveReturnURL(ctx, bad)
		}},
		{"SaveIncomeTaxBusiness", false, func(ctx context.Context, bad string) error {
			return s.SaveIncomeTaxBusiness(ctx, &mtdconnect.IncomeTaxBusiness{UserID: u.ID, NINO: "AA123456A",
				Environment: "sandbox", BusinessID: bad, FoundAt: t0})
		}},
		{"CachedObligations", true, func(ctx context.Context, bad string) error {
			_, err := s.CachedObligations(ctx, u.ID, bad)
			return err
		}},
		{"SaveObligations", true, func(ctx context.Context, bad string) error {
			return s.SaveObligations(ctx, &mtdconnect.CachedObligations{UserID: u.ID, Key: bad, Body: []byte("[]"), FetchedAt: t0})
		}},
	}
	before := snapshot(t, s, u.ID)
	for _, c := range calls {
		for kind, bad := range badTexts {
			if kind == "too long key" && !c.long {
				continue
			}
			if err := c.call(ctx, bad); !errors.Is(err, mtdconnect.ErrInvalidText) {
				t.Errorf("%s with %s: err = %v, want ErrInvalidText", c.name, kind, err)
			}
		}
	}
	if after := snapshot(t, s, u.ID); after != before {
		t.Errorf("refused text changed the store:\nbefore %s\nafter  %s", before, after)
	}
	// Long text that is no key is kept whole.
	long := strings.Repeat("é", 3000)
	noErr(t, "AppendAudit with long detail", s.AppendAudit(ctx, &mtdconnect.AuditEvent{UserID: u.ID, Purpose: mtdconnect.PurposeVAT, Kind: "k", Detail: long, At: t0}))
	events, err := s.Audit(ctx, u.ID, 1)
	noErr(t, "Audit", err)
	if len(events) != 1 || events[0].Detail != long {
		t.Errorf("a long detail did not come back whole")
	}
}

// snapshot describes what a refused write could have changed.
func snapshot(t *testing.T, s mtdconnect.Store, userID int64) string {
	t.Helper()
	ctx := t.Context()
	var b strings.Builder
	u, err := s.UserByID(ctx, userID)
	noErr(t, "UserByID", err)
	b.WriteString(u.Email + "|" + u.NINO)
	if _, err := s.UserByEmail(ctx, "x@example.com"); !errors.Is(err, mtdconnect.ErrNotFound) {
		b.WriteString("|x exists")
	}
	for _, p := range []mtdconnect.Purpose{mtdconnect.PurposeIncomeTax, mtdconnect.PurposeVAT} {
		c, err := s.Connection(ctx, userID, p)
		if err == nil {
			b.WriteString("|" + string(p) + ":" + c.Reason + ":" + c.LastError)
		}
	}
	subs, err := s.Submissions(ctx, userID, mtdconnect.PurposeVAT, 10)
	noErr(t, "Submissions", err)
	events, err := s.Audit(ctx, userID, 10)
	noErr(t, "Audit", err)
	if _, err := s.Application(ctx, "sandbox"); err == nil {
		b.WriteString("|application")
	}
	if u.DisplayName != "" {
		b.WriteString("|named")
	}
	if cs, err := s.ConnectSession(ctx, "cs_text_kept"); err == nil {
		b.WriteString("|session:" + string(cs.Status) + ":" + cs.State + ":" + cs.Error)
	}
	if _, err := s.ConnectSession(ctx, "cs_text"); err == nil {
		b.WriteString("|another session")
	}
	urls, err := s.ReturnURLs(ctx)
	noErr(t, "ReturnURLs", err)
	if _, err := s.IncomeTaxBusiness(ctx, userID); err == nil {
		b.WriteString("|business")
	}
	b.WriteString("|" + strings.Repeat("u", len(urls)))
	webhooks, err := s.WebhookEndpoints(ctx)
	noErr(t, "WebhookEndpoints", err)
	outbox, err := s.Events(ctx, userID, 0)
	noErr(t, "Events", err)
	b.WriteString("|" + strings.Repeat("w", len(webhooks)) + strings.Repeat("o", len(outbox)))
	keys, err := s.APIKeys(ctx)
	noErr(t, "APIKeys", err)
	b.WriteString("|" + strings.Repeat("k", len(keys)))
	b.WriteString("|" + strings.Repeat("s", len(subs)) + strings.Repeat("e", len(events)))
	return b.String()
}
