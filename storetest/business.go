package storetest

import (
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

// The landlord's UK property business: stored, replaced, kept per user,
// refused for a user that does not exist, forgotten on delete.
func testIncomeTaxBusiness(t *testing.T, s mtdconnect.Store) {
	ctx := t.Context()
	ada := mustUser(t, s, "ada@example.com")
	bob := mustUser(t, s, "bob@example.com")

	_, err := s.IncomeTaxBusiness(ctx, ada.ID)
	wantErr(t, "IncomeTaxBusiness before any", err, mtdconnect.ErrNotFound)

	b := &mtdconnect.IncomeTaxBusiness{UserID: ada.ID, NINO: "AA123456A", Environment: "sandbox",
		BusinessID: "XPIS12345678901", FoundAt: t0}
	noErr(t, "SaveIncomeTaxBusiness", s.SaveIncomeTaxBusiness(ctx, b))
	got, err := s.IncomeTaxBusiness(ctx, ada.ID)
	noErr(t, "IncomeTaxBusiness", err)
	want := *b
	want.FoundAt = stored(t0)
	deepEqual(t, "IncomeTaxBusiness", *got, want)

	// A new lookup (another NINO, a ceased business) replaces it whole.
	repl := &mtdconnect.IncomeTaxBusiness{UserID: ada.ID, NINO: "BB123456B", Environment: "production",
		BusinessID: "XAIS00000000001", FoundAt: t0.Add(time.Hour)}
	noErr(t, "SaveIncomeTaxBusiness again", s.SaveIncomeTaxBusiness(ctx, repl))
	got, err = s.IncomeTaxBusiness(ctx, ada.ID)
	noErr(t, "IncomeTaxBusiness after replace", err)
	want = *repl
	want.FoundAt = stored(repl.FoundAt)
	deepEqual(t, "IncomeTaxBusiness after replace", *got, want)

	_, err = s.IncomeTaxBusiness(ctx, bob.ID)
	wantErr(t, "Bob's business", err, mtdconnect.ErrNotFound)

	// A user that does not exist: refused, nothing written.
	err = s.SaveIncomeTaxBusiness(ctx, &mtdconnect.IncomeTaxBusiness{UserID: 999999, NINO: "AA123456A",
		Environment: "sandbox", BusinessID: "XPIS12345678901", FoundAt: t0})
	wantErr(t, "SaveIncomeTaxBusiness of no user", err, mtdconnect.ErrNotFound)
	_, err = s.IncomeTaxBusiness(ctx, 999999)
	wantErr(t, "IncomeTaxBusiness of no user", err, mtdconnect.ErrNotFound)

	noErr(t, "DeleteIncomeTaxBusiness", s.DeleteIncomeTaxBusiness(ctx, ada.ID))
	_, err = s.IncomeTaxBusiness(ctx, ada.ID)
	wantErr(t, "IncomeTaxBusiness after delete", err, mtdconnect.ErrNotFound)
	noErr(t, "DeleteIncomeTaxBusiness of none", s.DeleteIncomeTaxBusiness(ctx, ada.ID))
}

// Obligations kept: by user and key, replaced whole, refused for a user
// that does not exist, every key of one user (only) forgotten on delete.
func testCachedObligations(t *testing.T, s mtdconnect.Store) {
	ctx := t.Context()
	ada := mustUser(t, s, "ada@example.com")
	bob := mustUser(t, s, "bob@example.com")

	_, err := s.CachedObligations(ctx, ada.ID, "itsa:2025-26")
	wantErr(t, "CachedObligations before any", err, mtdconnect.ErrNotFound)

	save := func(userID int64, key, body string, at time.Time) {
		t.Helper()
		noErr(t, "SaveObligations "+key, s.SaveObligations(ctx, &mtdconnect.CachedObligations{
			UserID: userID, Key: key, Body: []byte(body), FetchedAt: at}))
	}
	check := func(userID int64, key, body string, at time.Time) {
		t.Helper()
		got, err := s.CachedObligations(ctx, userID, key)
		noErr(t, "CachedObligations "+key, err)
		if got.UserID != userID || got.Key != key || !got.FetchedAt.Equal(stored(at)) || got.FetchedAt.Location() != time.UTC {
			t.Errorf("CachedObligations(%d, %s) = %+v", userID, key, got)
		}
		checkBytes(t, "body of "+key, got.Body, []byte(body))
	}
	save(ada.ID, "itsa:2025-26", `[{"end":"2025-07-05"}]`, t0)
	save(ada.ID, "itsa:2026-27", `[]`, t0)
	save(bob.ID, "itsa:2025-26", `[{"end":"bob"}]`, t0)
	check(ada.ID, "itsa:2025-26", `[{"end":"2025-07-05"}]`, t0)
	check(bob.ID, "itsa:2025-26", `[{"end":"bob"}]`, t0)

	save(ada.ID, "itsa:2025-26", `[{"end":"2025-10-05"}]`, t0.Add(time.Minute))
	check(ada.ID, "itsa:2025-26", `[{"end":"2025-10-05"}]`, t0.Add(time.Minute))
	check(ada.ID, "itsa:2026-27", `[]`, t0)

	err = s.SaveObligations(ctx, &mtdconnect.CachedObligations{UserID: 999999, Key: "itsa:2025-26", Body: []byte(`[]`), FetchedAt: t0})
	wantErr(t, "SaveObligations of no user", err, mtdconnect.ErrNotFound)

	noErr(t, "DeleteObligations", s.DeleteObligations(ctx, ada.ID))
	for _, key := range []string{"itsa:2025-26", "itsa:2026-27"} {
		_, err = s.CachedObligations(ctx, ada.ID, key)
		wantErr(t, "CachedObligations after delete "+key, err, mtdconnect.ErrNotFound)
	}
	check(bob.ID, "itsa:2025-26", `[{"end":"bob"}]`, t0)
}
