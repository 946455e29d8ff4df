package storetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

// The platform's side of the store: landlords by the platform's own ref,
// deleting them with their records kept, and scoped API keys.

func mustRefUser(t *testing.T, s mtdconnect.Store, ref string) *mtdconnect.User {
	t.Helper()
	u := &mtdconnect.User{Ref: ref}
	if err := s.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("CreateUser(ref %q): %v", ref, err)
	}
	return u
}

func testUserRef(t *testing.T, s mtdconnect.Store) {
	ctx := t.Context()
	// Refs are kept exactly: case, spaces inside, slashes, any script.
	refs := []string{"landlord-42", "Landlord-42", "a/b c", "ünïcødé 家主", "x"}
	for _, ref := range refs {
		u := &mtdconnect.User{Ref: ref, Email: "shared@example.com", DisplayName: "Jo " + ref, NINO: "AA123456A", VRN: "123456789"}
		noErr(t, "CreateUser "+ref, s.CreateUser(ctx, u))
		got, err := s.UserByRef(ctx, ref)
		noErr(t, "UserByRef "+ref, err)
		deepEqual(t, "UserByRef "+ref, got, u)
		got, err = s.UserByID(ctx, u.ID)
		noErr(t, "UserByID", err)
		deepEqual(t, "UserByID of a ref'd user", got, u)
	}
	wantErr(t, "CreateUser with a taken ref", s.CreateUser(ctx, &mtdconnect.User{Ref: "landlord-42"}), mtdconnect.ErrConflict)
	_, err := s.UserByRef(ctx, "LANDLORD-42")
	wantErr(t, "UserByRef in another case", err, mtdconnect.ErrNotFound)

	// A platform's landlords share an email, or have none, and are never
	// found by email: they do not sign in.
	noErr(t, "CreateUser without email", s.CreateUser(ctx, &mtdconnect.User{Ref: "no-email-1"}))
	noErr(t, "CreateUser without email", s.CreateUser(ctx, &mtdconnect.User{Ref: "no-email-2"}))
	_, err = s.UserByEmail(ctx, "shared@example.com")
	wantErr(t, "UserByEmail of a platform's landlord", err, mtdconnect.ErrNotFound)
	_, err = s.UserByEmail(ctx, "")
	wantErr(t, "UserByEmail empty", err, mtdconnect.ErrNotFound)
	// A landlord who signs in may have the email a platform's landlord has.
	ada := &mtdconnect.User{Email: "shared@example.com", PasswordHash: "h"}
	noErr(t, "CreateUser signing in with a platform landlord's email", s.CreateUser(ctx, ada))
	got, err := s.UserByEmail(ctx, "shared@example.com")
	noErr(t, "UserByEmail", err)
	if got.ID != ada.ID {
		t.Errorf("UserByEmail found user %d, want the one who signs in (%d)", got.ID, ada.ID)
	}

	// Updates keep the ref and write the display name.
	u, err := s.UserByRef(ctx, "x")
	noErr(t, "UserByRef", err)
	u.DisplayName, u.Email, u.NINO = "Renamed", "new@example.com", ""
	noErr(t, "UpdateUser", s.UpdateUser(ctx, u))
	got, err = s.UserByRef(ctx, "x")
	noErr(t, "UserByRef after update", err)
	deepEqual(t, "updated ref'd user", got, u)
}

func testDeleteUser(t *testing.T, s mtdconnect.Store) {
	ctx := t.Context()
	u := &mtdconnect.User{Ref: "leaving", Email: "leaving@example.com", DisplayName: "Jo", NINO: "AA123456A", VRN: "123456789"}
	noErr(t, "CreateUser", s.CreateUser(ctx, u))
	stay := mustRefUser(t, s, "staying")

	// What goes: sessions, connections, pending authorisations, the UK
	// property business and kept obligations. What stays: receipts and
	// audit.
	for _, id := range []int64{u.ID, stay.ID} {
		noErr(t, "SaveIncomeTaxBusiness", s.SaveIncomeTaxBusiness(ctx, &mtdconnect.IncomeTaxBusiness{UserID: id, NINO: "AA123456A",
			Environment: "sandbox", BusinessID: "XPIS12345678901", FoundAt: t0}))
		noErr(t, "SaveObligations", s.SaveObligations(ctx, &mtdconnect.CachedObligations{UserID: id, Key: "itsa:2025-26", Body: []byte("[]"), FetchedAt: t0}))
		noErr(t, "CreateSession", s.CreateSession(ctx, &mtdconnect.Session{TokenHash: []byte{byte(id), 1}, UserID: id, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}))
		noErr(t, "SaveConnection", s.SaveConnection(ctx, fullConnection(id, mtdconnect.PurposeIncomeTax)))
		noErr(t, "CreatePendingAuthorization", s.CreatePendingAuthorization(ctx, &mtdconnect.PendingAuthorization{
			State: fmt.Sprintf("st-%d", id), UserID: id, Purpose: mtdconnect.PurposeVAT, RedirectURI: "https://x/cb", CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}))
		noErr(t, "SaveSubmission", s.SaveSubmission(ctx, &mtdconnect.Submission{UserID: id, Purpose: mtdconnect.PurposeVAT,
			Kind: mtdconnect.SubmissionVATReturn, Period: "26A1", Body: []byte("{}"), Response: []byte("{}"), SubmittedAt: t0}))
		noErr(t, "AppendAudit", s.AppendAudit(ctx, &mtdconnect.AuditEvent{UserID: id, Purpose: mtdconnect.PurposeVAT, Kind: "connected", At: t0}))
	}

	at, keep := t0.Add(time.Hour), t0.AddDate(7, 0, 0)
	noErr(t, "DeleteUser", s.DeleteUser(ctx, u.ID, at, keep))
	wantErr(t, "DeleteUser twice", s.DeleteUser(ctx, u.ID, at, keep), mtdconnect.ErrNotFound)
	wantErr(t, "DeleteUser unknown", s.DeleteUser(ctx, 404, at, keep), mtdconnect.ErrNotFound)

	got, err := s.UserByID(ctx, u.ID)
	noErr(t, "UserByID of a deleted user", err)
	want := &mtdconnect.User{ID: u.ID, CreatedAt: u.CreatedAt, DeletedAt: stored(at), RecordsKeptUntil: stored(keep)}
	deepEqual(t, "deleted user (nothing personal kept)", got, want)
	if !got.Deleted() {
		t.Error("Deleted() = false")
	}
	_, err = s.UserByRef(ctx, "leaving")
	wantErr(t, "UserByRef of a deleted user", err, mtdconnect.ErrNotFound)
	_, err = s.SessionByHash(ctx, []byte{byte(u.ID), 1})
	wantErr(t, "session of a deleted user", err, mtdconnect.ErrNotFound)
	_, err = s.Connection(ctx, u.ID, mtdconnect.PurposeIncomeTax)
	wantErr(t, "connection of a deleted user", err, mtdconnect.ErrNotFound)
	_, err = s.PendingAuthorization(ctx, fmt.Sprintf("st-%d", u.ID))
	wantErr(t, "pending authorisation of a deleted user", err, mtdconnect.ErrNotFound)
	_, err = s.IncomeTaxBusiness(ctx, u.ID)
	wantErr(t, "UK property business of a deleted user", err, mtdconnect.ErrNotFound)
	_, err = s.CachedObligations(ctx, u.ID, "itsa:2025-26")
	wantErr(t, "kept obligations of a deleted user", err, mtdconnect.ErrNotFound)
	if subs, err := s.Submissions(ctx, u.ID, mtdconnect.PurposeVAT, 10); err != nil || len(subs) != 1 {
		t.Errorf("receipts of a deleted user: %d, %v; want 1 kept", len(subs), err)
	}
	if evs, err := s.Audit(ctx, u.ID, 10); err != nil || len(evs) != 1 {
		t.Errorf("audit of a deleted user: %d, %v; want 1 kept", len(evs), err)
	}
	wantErr(t, "UpdateUser of a deleted user", s.UpdateUser(ctx, &mtdconnect.User{ID: u.ID, Email: "back@example.com"}), mtdconnect.ErrNotFound)

	// The other landlord lost nothing.
	if _, err := s.SessionByHash(ctx, []byte{byte(stay.ID), 1}); err != nil {
		t.Errorf("other landlord's session: %v", err)
	}
	if _, err := s.Connection(ctx, stay.ID, mtdconnect.PurposeIncomeTax); err != nil {
		t.Errorf("other landlord's connection: %v", err)
	}
	if _, err := s.IncomeTaxBusiness(ctx, stay.ID); err != nil {
		t.Errorf("other landlord's UK property business: %v", err)
	}
	if _, err := s.CachedObligations(ctx, stay.ID, "itsa:2025-26"); err != nil {
		t.Errorf("other landlord's kept obligations: %v", err)
	}

	// The same ref again is a new landlord, who sees nothing of the old one.
	again := mustRefUser(t, s, "leaving")
	if again.ID == u.ID {
		t.Fatalf("a re-created landlord got the deleted one's ID %d", u.ID)
	}
	if subs, _ := s.Submissions(ctx, again.ID, mtdconnect.PurposeVAT, 10); len(subs) != 0 {
		t.Errorf("re-created landlord sees %d receipts of the deleted one", len(subs))
	}

	// Purging: not before the retention ends; then the row and its records.
	n, err := s.PurgeDeletedUsers(ctx, keep.Add(-time.Millisecond))
	noErr(t, "PurgeDeletedUsers early", err)
	if n != 0 {
		t.Errorf("purged %d users before their retention ended", n)
	}
	n, err = s.PurgeDeletedUsers(ctx, keep)
	noErr(t, "PurgeDeletedUsers", err)
	if n != 1 {
		t.Errorf("purged %d users, want 1", n)
	}
	_, err = s.UserByID(ctx, u.ID)
	wantErr(t, "UserByID after purge", err, mtdconnect.ErrNotFound)
	if subs, err := s.Submissions(ctx, u.ID, mtdconnect.PurposeVAT, 10); err != nil || len(subs) != 0 {
		t.Errorf("receipts after purge: %d, %v", len(subs), err)
	}
	for _, id := range []int64{stay.ID, again.ID} {
		if _, err := s.UserByID(ctx, id); err != nil {
			t.Errorf("purge removed a landlord who was not deleted: %v", err)
		}
	}
	// An ID is never handed out again.
	next := mustRefUser(t, s, "next")
	if next.ID <= again.ID {
		t.Errorf("new user got ID %d, not above %d", next.ID, again.ID)
	}
}

func testAPIKeyLifecycle(t *testing.T, s mtdconnect.Store) {
	ctx := t.Context()
	scopes := []mtdconnect.Scope{mtdconnect.ScopeConnect, mtdconnect.ScopeConnectionsRead}
	k := &mtdconnect.APIKey{Name: "platform", Hash: []byte("hash-1"), Scopes: scopes}
	noErr(t, "CreateAPIKey", s.CreateAPIKey(ctx, k))
	got, err := s.APIKey(ctx, k.ID)
	noErr(t, "APIKey", err)
	deepEqual(t, "APIKey", got, k)
	got, err = s.APIKeyByHash(ctx, k.Hash)
	noErr(t, "APIKeyByHash", err)
	deepEqual(t, "APIKeyByHash", got, k)
	_, err = s.APIKey(ctx, 404)
	wantErr(t, "APIKey unknown", err, mtdconnect.ErrNotFound)

	// Last use: written only when the stored one is older than ifBefore.
	noErr(t, "TouchAPIKey", s.TouchAPIKey(ctx, k.ID, t0, t0.Add(-time.Minute)))
	noErr(t, "TouchAPIKey within the interval", s.TouchAPIKey(ctx, k.ID, t0.Add(30*time.Second), t0.Add(-30*time.Second)))
	got, _ = s.APIKey(ctx, k.ID)
	deepEqual(t, "LastUsedAt after a coalesced touch", got.LastUsedAt, stored(t0))
	noErr(t, "TouchAPIKey after the interval", s.TouchAPIKey(ctx, k.ID, t0.Add(2*time.Minute), t0.Add(time.Minute)))
	got, _ = s.APIKey(ctx, k.ID)
	deepEqual(t, "LastUsedAt", got.LastUsedAt, stored(t0.Add(2*time.Minute)))

	// Rotation: a successor with the same name and scopes; the old key
	// gets its expiry, once.
	grace := t0.Add(24 * time.Hour)
	next, err := s.RotateAPIKey(ctx, k.ID, []byte("hash-2"), grace)
	noErr(t, "RotateAPIKey", err)
	if next.ID == k.ID || next.Name != k.Name || !equalScopes(next.Scopes, scopes) || !next.ExpiresAt.IsZero() || !next.LastUsedAt.IsZero() {
		t.Errorf("rotated key %+v", next)
	}
	checkStoredTime(t, "rotated CreatedAt", next.CreatedAt)
	got, _ = s.APIKeyByHash(ctx, []byte("hash-2"))
	deepEqual(t, "successor by hash", got, next)
	old, _ := s.APIKey(ctx, k.ID)
	deepEqual(t, "old key's ExpiresAt", old.ExpiresAt, stored(grace))
	_, err = s.RotateAPIKey(ctx, k.ID, []byte("hash-3"), grace)
	wantErr(t, "RotateAPIKey twice", err, mtdconnect.ErrConflict)
	_, err = s.RotateAPIKey(ctx, 404, []byte("hash-4"), grace)
	wantErr(t, "RotateAPIKey unknown", err, mtdconnect.ErrNotFound)
	_, err = s.RotateAPIKey(ctx, next.ID, []byte("hash-1"), grace)
	wantErr(t, "RotateAPIKey to a taken hash", err, mtdconnect.ErrConflict)
	if again, _ := s.APIKey(ctx, next.ID); !again.ExpiresAt.IsZero() {
		t.Errorf("a refused rotation changed the key: %+v", again)
	}

	// Revocation: once; a revoked key cannot be rotated.
	noErr(t, "RevokeAPIKey", s.RevokeAPIKey(ctx, next.ID, t0.Add(time.Hour)))
	wantErr(t, "RevokeAPIKey twice", s.RevokeAPIKey(ctx, next.ID, t0.Add(2*time.Hour)), mtdconnect.ErrConflict)
	wantErr(t, "RevokeAPIKey unknown", s.RevokeAPIKey(ctx, 404, t0), mtdconnect.ErrNotFound)
	got, _ = s.APIKey(ctx, next.ID)
	deepEqual(t, "RevokedAt (the first stands)", got.RevokedAt, stored(t0.Add(time.Hour)))
	_, err = s.RotateAPIKey(ctx, next.ID, []byte("hash-5"), grace)
	wantErr(t, "RotateAPIKey of a revoked key", err, mtdconnect.ErrConflict)

	// A key without scopes reads back without scopes.
	bare := &mtdconnect.APIKey{Name: "bare", Hash: []byte("hash-bare")}
	noErr(t, "CreateAPIKey without scopes", s.CreateAPIKey(ctx, bare))
	list, err := s.APIKeys(ctx)
	noErr(t, "APIKeys", err)
	if len(list) != 3 || list[0].ID != k.ID || list[1].ID != next.ID || list[2].ID != bare.ID || len(list[2].Scopes) != 0 {
		t.Errorf("APIKeys = %+v", list)
	}
}

func equalScopes(a, b []mtdconnect.Scope) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// testRaceRotateAPIKey: of several rotations of one key at once, exactly one
// makes a successor.
func testRaceRotateAPIKey(t *testing.T, stores ...mtdconnect.Store) {
	ctx := t.Context()
	k := &mtdconnect.APIKey{Name: "platform", Hash: []byte("race"), Scopes: mtdconnect.AllScopes}
	noErr(t, "CreateAPIKey", stores[0].CreateAPIKey(ctx, k))
	const n = 10
	var (
		start = make(chan struct{})
		wg    sync.WaitGroup
		wins  atomic.Int32
	)
	for i := range n {
		s := stores[i%len(stores)]
		wg.Go(func() {
			<-start
			switch _, err := s.RotateAPIKey(ctx, k.ID, []byte{byte(i), 'r'}, t0); {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, mtdconnect.ErrConflict):
				t.Errorf("RotateAPIKey: %v, want nil or ErrConflict", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if got := wins.Load(); got != 1 {
		t.Errorf("%d of %d rotations succeeded, want exactly 1", got, n)
	}
	if list, _ := stores[0].APIKeys(ctx); len(list) != 2 {
		t.Errorf("%d keys after racing rotations, want 2", len(list))
	}
}

// testRaceCreateRef: of several creations of one ref at once, exactly one
// succeeds (the others see ErrConflict and update instead).
func testRaceCreateRef(t *testing.T, stores ...mtdconnect.Store) {
	ctx := t.Context()
	const n = 10
	var (
		start = make(chan struct{})
		wg    sync.WaitGroup
		wins  atomic.Int32
	)
	for i := range n {
		s := stores[i%len(stores)]
		wg.Go(func() {
			<-start
			switch err := s.CreateUser(ctx, &mtdconnect.User{Ref: "racer"}); {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, mtdconnect.ErrConflict):
				t.Errorf("CreateUser: %v, want nil or ErrConflict", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if got := wins.Load(); got != 1 {
		t.Errorf("%d of %d creations of one ref succeeded, want exactly 1", got, n)
	}
}
