// Package storetest is the conformance suite every mtdconnect.Store must
// pass. The sqlite and postgres tests run it against real databases, so the
// two backends cannot drift apart. It is imported only from _test files.
package storetest

import (
	"bytes"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

type test struct {
	name string
	run  func(t *testing.T, s mtdconnect.Store)
}

// Run runs every case against a fresh store from open. Run closes each store
// when its subtest ends; open should clean up anything else it made.
func Run(t *testing.T, open func(t *testing.T) mtdconnect.Store) {
	tests := []test{
		{"Ping", testPing},
		{"UserCreate", testUserCreate},
		{"UserDuplicateEmail", testUserDuplicateEmail},
		{"UserNotFound", testUserNotFound},
		{"UserUpdate", testUserUpdate},
		{"SetTOTP", testSetTOTP},
		{"UseTOTPStep", testUseTOTPStep},
		{"RaceUseTOTPStep", testRaceUseTOTPStep},
		{"RecoveryCodes", testRecoveryCodes},
		{"Session", testSession},
		{"APIKey", testAPIKey},
		{"APIKeyLifecycle", testAPIKeyLifecycle},
		{"UserRef", testUserRef},
		{"DeleteUser", testDeleteUser},
		{"ConnectSession", testConnectSession},
		{"ReturnURLs", testReturnURLs},
		{"PendingAuthorization", testPendingAuthorization},
		{"ConnectionRoundTrip", testConnectionRoundTrip},
		{"ConnectionZeroTimes", testConnectionZeroTimes},
		{"ConnectionNotFound", testConnectionNotFound},
		{"ConnectionSaveReplaces", testConnectionSaveReplaces},
		{"ConnectionSaveAfterDelete", testConnectionSaveAfterDelete},
		{"ConnectionUpdate", testConnectionUpdate},
		{"ConnectionTouch", testConnectionTouch},
		{"ConnectionDelete", testConnectionDelete},
		{"DueConnections", testDueConnections},
		{"DueConnectionsLimit", testDueConnectionsLimit},
		{"InterruptedRefreshes", testInterruptedRefreshes},
		{"Audit", testAudit},
		{"Submissions", testSubmissions},
		{"IncomeTaxBusiness", testIncomeTaxBusiness},
		{"CachedObligations", testCachedObligations},
		{"Application", testApplication},
		{"Confirmation", testConfirmation},
		{"SealedSamples", testSealedSamples},
		{"ReserveSlot", testReserveSlot},
		{"ReserveSlotMaxWait", testReserveSlotMaxWait},
		{"DelaySlots", testDelaySlots},
		{"ReserveSlotPeek", testReserveSlotPeek},
		{"DeleteExpired", testDeleteExpired},
		{"InvalidText", testInvalidText},
		{"Outbox", testOutbox},
		{"WebhookEndpoints", testWebhookEndpoints},
		{"WebhookDeliveries", testWebhookDeliveries},
		{"RaceClaimDeliveries", func(t *testing.T, s mtdconnect.Store) { testRaceClaimDeliveries(t, s) }},
		{"RaceUpdateConnection", func(t *testing.T, s mtdconnect.Store) { testRaceUpdateConnection(t, s) }},
		{"RaceNoLostUpdate", func(t *testing.T, s mtdconnect.Store) { testRaceNoLostUpdate(t, s) }},
		{"RaceDeletePendingAuthorization", func(t *testing.T, s mtdconnect.Store) { testRaceDeletePending(t, s) }},
		{"RaceReserveSlot", func(t *testing.T, s mtdconnect.Store) { testRaceReserveSlot(t, s) }},
		{"RaceRotateAPIKey", func(t *testing.T, s mtdconnect.Store) { testRaceRotateAPIKey(t, s) }},
		{"RaceCreateRef", func(t *testing.T, s mtdconnect.Store) { testRaceCreateRef(t, s) }},
		{"RaceConnectSession", func(t *testing.T, s mtdconnect.Store) { testRaceConnectSession(t, s) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { closeStore(t, s) })
			tc.run(t, s)
		})
	}
}

// RunShared runs the cases that matter across processes: open returns two
// independent handles (a and b) on one fresh database, as two instances of
// the service would hold. Run closes both when each subtest ends.
func RunShared(t *testing.T, open func(t *testing.T) (a, b mtdconnect.Store)) {
	tests := []struct {
		name string
		run  func(t *testing.T, a, b mtdconnect.Store)
	}{
		{"Visibility", testSharedVisibility},
		{"StaleUpdate", testSharedStaleUpdate},
		{"RaceUpdateConnection", func(t *testing.T, a, b mtdconnect.Store) { testRaceUpdateConnection(t, a, b) }},
		{"RaceNoLostUpdate", func(t *testing.T, a, b mtdconnect.Store) { testRaceNoLostUpdate(t, a, b) }},
		{"RaceDeletePendingAuthorization", func(t *testing.T, a, b mtdconnect.Store) { testRaceDeletePending(t, a, b) }},
		{"RaceReserveSlot", func(t *testing.T, a, b mtdconnect.Store) { testRaceReserveSlot(t, a, b) }},
		{"RaceRotateAPIKey", func(t *testing.T, a, b mtdconnect.Store) { testRaceRotateAPIKey(t, a, b) }},
		{"RaceCreateRef", func(t *testing.T, a, b mtdconnect.Store) { testRaceCreateRef(t, a, b) }},
		{"RaceConnectSession", func(t *testing.T, a, b mtdconnect.Store) { testRaceConnectSession(t, a, b) }},
		{"RaceClaimDeliveries", func(t *testing.T, a, b mtdconnect.Store) { testRaceClaimDeliveries(t, a, b) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := open(t)
			t.Cleanup(func() { closeStore(t, a); closeStore(t, b) })
			tc.run(t, a, b)
		})
	}
}

// testPing: an open store answers; a closed one says so (a readiness
// check must not report a store that is gone as reachable).
func testPing(t *testing.T, s mtdconnect.Store) {
	noErr(t, "Ping", s.Ping(t.Context()))
	noErr(t, "Close", s.Close())
	if err := s.Ping(t.Context()); err == nil {
		t.Fatal("Ping after Close = nil, want an error")
	}
}

func closeStore(t *testing.T, s mtdconnect.Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Errorf("close store: %v", err)
	}
}

// t0 is deliberately not UTC and not on a millisecond, so every round trip
// checks both the conversion to UTC and the truncation to milliseconds.
var t0 = time.Date(2026, time.March, 14, 9, 26, 53, 589_793_238, time.FixedZone("BST", 3600))

// stored is t as a Store returns it: UTC, millisecond precision, zero kept.
func stored(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Truncate(time.Millisecond).UTC()
}

func mustUser(t *testing.T, s mtdconnect.Store, email string) *mtdconnect.User {
	t.Helper()
	u := &mtdconnect.User{Email: email, PasswordHash: "$argon2id$hash"}
	if err := s.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("CreateUser(%s): %v", email, err)
	}
	return u
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// deepEqual fails the test with both values when they differ.
func deepEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// checkBytes compares byte fields on their contents: a backend may return an
// empty slice where nil was stored, or the other way round.
func checkBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s = %x, want %x", what, got, want)
	}
}

func checkStoredTime(t *testing.T, what string, got time.Time) {
	t.Helper()
	if got.IsZero() || got.Location() != time.UTC || !got.Equal(got.Truncate(time.Millisecond)) {
		t.Errorf("%s = %v, want a non-zero UTC time with millisecond precision", what, got)
	}
	if d := time.Since(got); d < -time.Minute || d > time.Minute {
		t.Errorf("%s = %v, want about now", what, got)
	}
}

func testUserCreate(t *testing.T, s mtdconnect.Store) {
	ctx := t.Context()
	u := &mtdconnect.User{Email: "ada@example.com", PasswordHash: "h1", NINO: "AA123456A", VRN: "123456789"}
	noErr(t, "CreateUser", s.CreateUser(ctx, u))
	if u.ID == 0 {
		t.Fatal("CreateUser did not set ID")
	}
	checkStoredTime(t, "CreatedAt", u.CreatedAt)

	got, err := s.UserByID(ctx, u.ID)
	noErr(t, "UserByID", err)
	deepEqual(t, "UserByID", got, u)
	got, err = s.UserByEmail(ctx, u.Email)
	noErr(t, "UserByEmail", err)
	deepEqual(t, "UserByEmail", got, u)

	other := mustUser(t, s, "grace@example.com")
	if other.ID == u.ID {
		t.Errorf("two users share ID %d", u.ID)
	}
}

func testUserDuplicateEmail(t *testing.T, s mtdconnect.Store) {
	ctx := t.Context()
	ada := mustUser(t, s, "ada@example.com")
	wantErr(t, "CreateUser with a taken email",
		s.CreateUser(ctx, &mtdconnect.User{Email: ada.Email, PasswordHash: "h"}), mtdconnect.ErrConflict)

	grace := mustUser(t, s, "grace@example.com")
	changed := *grace
	changed.Email = ada.Email
	wantErr(t, "UpdateUser to a taken email", s.UpdateUser(ctx, &changed), mtdconnect.ErrConflict)
	got, err := s.UserByID(ctx, grace.ID)
	noErr(t, "UserByID", err)
	deepEqual(t, "user after a refused update", got, grace)
}

func testUserNotFound(t *testing.T, s mtdconnect.Store) {
	ctx := t.Context()
	_, err := s.UserByID(ctx, 404)
	wantErr(t, "UserByID", err, mtdconnect.ErrNotFound)
	_, err = s.UserByEmail(ctx, "nobody@example.com")
	wantErr(t, "UserByEmail", err, mtdconnect.ErrNotFound)
	_, err = s.UserByRef(ctx, "nobody")
	wantErr(t, "UserByRef", err, mtdconnect.ErrNotFound)
	wantErr(t, "UpdateUser", s.UpdateUser(ctx, &mtdconnect.User{ID: 404, Email: "x@example.com"}), mtdconnect.ErrNotFound)
}

func testUserUpdate(t *testing.T, s mtdconnect.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	u.Email, u.PasswordHash, u.NINO, u.VRN, u.Admin = "ada@lovelace.example", "h2", "QQ123456C", "987654321", true
	noErr(t, "UpdateUser", s.UpdateUser(ctx, u))
	got, err := s.UserByID(ctx, u.ID)
	noErr(t, "UserByID", err)
	deepEqual(t, "updated user", got, u)

	u.NINO, u.VRN, u.Admin = "", "", false
	noErr(t, "UpdateUser clearing", s.UpdateUser(ctx, u))
	got, err = s.UserByEmail(ctx, u.Email)
	noErr(t, "UserByEmail", err)
	deepEqual(t, "cleared user", got, u)
}

func testSession(t *testing.T, s mtdconnect.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	sess := &mtdconnect.Session{
		TokenHash: []byte{0x00, 0x01, 0xfe, 0xff, 0x00},
		UserID:    u.ID,
		MFAAt:     t0,
		CreatedAt: t0,
		ExpiresAt: t0.Add(12 * time.Hour),
	}
	noErr(t, "CreateSession", s.CreateSession(ctx, sess))
	wantErr(t, "CreateSession twice", s.CreateSession(ctx, sess), mtdconnect.ErrConflict)
	noMFA := &mtdconnect.Session{TokenHash: []byte("other"), UserID: u.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	noErr(t, "CreateSession without MFA", s.CreateSession(ctx, noMFA))

	for _, want := range []*mtdconnect.Session{sess, noMFA} {
		got, err := s.SessionByHash(ctx, want.TokenHash)
		noErr(t, "SessionByHash", err)
		checkBytes(t, "TokenHash", got.TokenHash, want.TokenHash)
		deepEqual(t, "session",
			[]any{got.UserID, got.MFAAt, got.CreatedAt, got.ExpiresAt},
			[]any{want.UserID, stored(want.MFAAt), stored(want.CreatedAt), stored(want.ExpiresAt)})
	}

	noErr(t, "DeleteSession", s.DeleteSession(ctx, sess.TokenHash))
	_, err := s.SessionByHash(ctx, sess.TokenHash)
	wantErr(t, "SessionByHash after delete", err, mtdconnect.ErrNotFound)
	wantErr(t, "DeleteSession twice", s.DeleteSession(ctx, sess.TokenHash), mtdconnect.ErrNotFound)
	if _, err := s.SessionByHash(ctx, noMFA.TokenHash); err != nil {
		t.Errorf("deleting one session removed another: %v", err)
	}
}

func testAPIKey(t *testing.T, s mtdconnect.Store) {
	ctx := t.Context()
	k := &mtdconnect.APIKey{Name: "platform", Hash: []byte{0xde, 0xad, 0x00, 0xbe, 0xef}}
	noErr(t, "CreateAPIKey", s.CreateAPIKey(ctx, k))
	if k.ID == 0 {
		t.Fatal("CreateAPIKey did not set ID")
	}
	checkStoredTime(t, "CreatedAt", k.CreatedAt)

	got, err := s.APIKeyByHash(ctx, k.Hash)
	noErr(t, "APIKeyByHash", err)
	checkBytes(t, "Hash", got.Hash, k.Hash)
	deepEqual(t, "api key", []any{got.ID, got.Name, got.CreatedAt}, []any{k.ID, k.Name, k.CreatedAt})

	wantErr(t, "CreateAPIKey with a taken hash",
		s.CreateAPIKey(ctx, &mtdconnect.APIKey{Name: "copy", Hash: k.Hash}), mtdconnect.ErrConflict)
	_, err = s.APIKeyByHash(ctx, []byte("unknown"))
	wantErr(t, "APIKeyByHash unknown", err, mtdconnect.ErrNotFound)

	k2 := &mtdconnect.APIKey{Name: "platform", Hash: []byte("second")}
	noErr(t, "CreateAPIKey second", s.CreateAPIKey(ctx, k2))
	if k2.ID == k.ID {
		t.Errorf("two keys share ID %d", k.ID)
	}
}

func testPendingAuthorization(t *testing.T, s mtdconnect.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	p := &mtdconnect.PendingAuthorization{
		State:       "st-7f3a",
		UserID:      u.ID,
		Purpose:     mtdconnect.PurposeVAT,
		Verifier:    []byte{0x00, 0x10, 0xff, 0x00},
		RedirectURI: "https://mtd.example/callback",
		CreatedAt:   t0,
		ExpiresAt:   t0.Add(10 * time.Minute),
	}
	noErr(t, "CreatePendingAuthorization", s.CreatePendingAuthorization(ctx, p))
	wantErr(t, "CreatePendingAuthorization twice", s.CreatePendingAuthorization(ctx, p), mtdconnect.ErrConflict)

	got, err := s.PendingAuthorization(ctx, p.State)
	noErr(t, "PendingAuthorization", err)
	checkBytes(t, "Verifier", got.Verifier, p.Verifier)
	deepEqual(t, "pending authorization",
		[]any{got.State, got.UserID, got.Purpose, got.RedirectURI, got.CreatedAt, got.ExpiresAt},
		[]any{p.State, p.UserID, p.Purpose, p.RedirectURI, stored(p.CreatedAt), stored(p.ExpiresAt)})

	noErr(t, "DeletePendingAuthorization", s.DeletePendingAuthorization(ctx, p.State))
	_, err = s.PendingAuthorization(ctx, p.State)
	wantErr(t, "PendingAuthorization after delete", err, mtdconnect.ErrNotFound)
	wantErr(t, "DeletePendingAuthorization twice", s.DeletePendingAuthorization(ctx, p.State), mtdconnect.ErrNotFound)
}

func testSharedVisibility(t *testing.T, a, b mtdconnect.Store) {
	ctx := t.Context()
	u := mustUser(t, a, "ada@example.com")
	got, err := b.UserByEmail(ctx, u.Email)
	noErr(t, "UserByEmail on b", err)
	deepEqual(t, "user seen by b", got, u)

	c := fullConnection(u.ID, mtdconnect.PurposeIncomeTax)
	noErr(t, "SaveConnection on a", a.SaveConnection(ctx, c))
	gotC, err := b.Connection(ctx, u.ID, c.Purpose)
	noErr(t, "Connection on b", err)
	checkConnection(t, gotC, c)
}

func testSharedStaleUpdate(t *testing.T, a, b mtdconnect.Store) {
	ctx := t.Context()
	u := mustUser(t, a, "ada@example.com")
	noErr(t, "SaveConnection", a.SaveConnection(ctx, fullConnection(u.ID, mtdconnect.PurposeIncomeTax)))
	onA, err := a.Connection(ctx, u.ID, mtdconnect.PurposeIncomeTax)
	noErr(t, "Connection on a", err)
	onB, err := b.Connection(ctx, u.ID, mtdconnect.PurposeIncomeTax)
	noErr(t, "Connection on b", err)

	onB.Tokens = []byte("rotated by b")
	noErr(t, "UpdateConnection on b", b.UpdateConnection(ctx, onB))
	onA.Tokens = []byte("rotated by a")
	wantErr(t, "stale UpdateConnection on a", a.UpdateConnection(ctx, onA), mtdconnect.ErrConflict)

	got, err := a.Connection(ctx, u.ID, mtdconnect.PurposeIncomeTax)
	noErr(t, "Connection on a", err)
	checkConnection(t, got, onB)
}

func testUseTOTPStep(t *testing.T, s mtdconnect.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	noErr(t, "UseTOTPStep 100", s.UseTOTPStep(ctx, u.ID, 100))
	wantErr(t, "UseTOTPStep 100 again", s.UseTOTPStep(ctx, u.ID, 100), mtdconnect.ErrConflict)
	wantErr(t, "UseTOTPStep 99", s.UseTOTPStep(ctx, u.ID, 99), mtdconnect.ErrConflict)
	noErr(t, "UseTOTPStep 101", s.UseTOTPStep(ctx, u.ID, 101))
	got, err := s.UserByID(ctx, u.ID)
	noErr(t, "UserByID", err)
	if got.TOTPLastStep != 101 {
		t.Fatalf("TOTPLastStep = %d, want 101", got.TOTPLastStep)
	}
	if err := s.UseTOTPStep(ctx, u.ID+1000, 5); err == nil {
		t.Fatal("UseTOTPStep of an unknown user succeeded")
	}
}

// testRaceUseTOTPStep: one code posted many times at once is accepted once.
func testRaceUseTOTPStep(t *testing.T, s mtdconnect.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for range 8 {
		wg.Go(func() {
			err := s.UseTOTPStep(ctx, u.ID, 42)
			switch {
			case err == nil:
				mu.Lock()
				won++
				mu.Unlock()
			case !errors.Is(err, mtdconnect.ErrConflict):
				t.Errorf("UseTOTPStep: %v", err)
			}
		})
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d of 8 concurrent uses of one step succeeded, want 1", won)
	}
}

// testSetTOTP: the second factor has its own writes, which a stale
// UpdateUser (a settings save racing a sign-in) does not undo.
func testSetTOTP(t *testing.T, s mtdconnect.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	stale := *u
	noErr(t, "SetTOTP", s.SetTOTP(ctx, u.ID, []byte("sealed totp secret"), 59_000_001))
	got, err := s.UserByID(ctx, u.ID)
	noErr(t, "UserByID", err)
	checkBytes(t, "TOTPSecret", got.TOTPSecret, []byte("sealed totp secret"))
	if got.TOTPLastStep != 59_000_001 {
		t.Errorf("TOTPLastStep = %d", got.TOTPLastStep)
	}

	stale.NINO = "QQ123456C"
	noErr(t, "UpdateUser from a stale copy", s.UpdateUser(ctx, &stale))
	got, err = s.UserByID(ctx, u.ID)
	noErr(t, "UserByID", err)
	if got.NINO != "QQ123456C" || len(got.TOTPSecret) == 0 || got.TOTPLastStep != 59_000_001 {
		t.Errorf("after a stale UpdateUser: NINO %q, TOTP secret %q, last step %d; want the NINO written and the factor kept",
			got.NINO, got.TOTPSecret, got.TOTPLastStep)
	}

	noErr(t, "SetTOTP removing", s.SetTOTP(ctx, u.ID, nil, 0))
	got, err = s.UserByID(ctx, u.ID)
	noErr(t, "UserByID", err)
	if got.TOTPSecret != nil || got.TOTPLastStep != 0 {
		t.Errorf("after removal: %q %d", got.TOTPSecret, got.TOTPLastStep)
	}
	wantErr(t, "SetTOTP unknown user", s.SetTOTP(ctx, u.ID+1000, nil, 0), mtdconnect.ErrNotFound)
}
