package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

// testRecoveryCodes: codes are replaced as a set, each is used once, they
// are the user's own, and they go when the app is removed or the user
// deleted.
func testRecoveryCodes(t *testing.T, s mtdconnect.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	other := mustUser(t, s, "bob@example.com")
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	left := func(id int64, want int) {
		t.Helper()
		n, err := s.RecoveryCodesLeft(ctx, id)
		noErr(t, "RecoveryCodesLeft", err)
		if n != want {
			t.Fatalf("RecoveryCodesLeft = %d, want %d", n, want)
		}
	}
	left(u.ID, 0)
	noErr(t, "SetTOTP", s.SetTOTP(ctx, u.ID, []byte("sealed"), 7))
	noErr(t, "SetRecoveryCodes", s.SetRecoveryCodes(ctx, u.ID, [][]byte{[]byte("h1"), []byte("h2"), []byte("h3")}, at))
	noErr(t, "SetRecoveryCodes other", s.SetRecoveryCodes(ctx, other.ID, [][]byte{[]byte("h9")}, at))
	left(u.ID, 3)

	noErr(t, "UseRecoveryCode h2", s.UseRecoveryCode(ctx, u.ID, []byte("h2")))
	wantErr(t, "UseRecoveryCode h2 again", s.UseRecoveryCode(ctx, u.ID, []byte("h2")), mtdconnect.ErrNotFound)
	wantErr(t, "UseRecoveryCode of another user", s.UseRecoveryCode(ctx, u.ID, []byte("h9")), mtdconnect.ErrNotFound)
	wantErr(t, "UseRecoveryCode unknown", s.UseRecoveryCode(ctx, u.ID, []byte("nope")), mtdconnect.ErrNotFound)
	left(u.ID, 2)
	left(other.ID, 1)

	// Regenerating replaces every old code.
	noErr(t, "SetRecoveryCodes again", s.SetRecoveryCodes(ctx, u.ID, [][]byte{[]byte("n1"), []byte("n2")}, at))
	wantErr(t, "an old code after regenerating", s.UseRecoveryCode(ctx, u.ID, []byte("h1")), mtdconnect.ErrNotFound)
	left(u.ID, 2)

	// Racing uses of one code: one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for range 8 {
		wg.Go(func() {
			err := s.UseRecoveryCode(ctx, u.ID, []byte("n1"))
			switch {
			case err == nil:
				mu.Lock()
				won++
				mu.Unlock()
			case !errors.Is(err, mtdconnect.ErrNotFound):
				t.Errorf("UseRecoveryCode: %v", err)
			}
		})
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d of 8 concurrent uses of one recovery code succeeded, want 1", won)
	}

	// Removing the app removes its codes; the other user keeps theirs.
	noErr(t, "SetTOTP remove", s.SetTOTP(ctx, u.ID, nil, 0))
	left(u.ID, 0)
	left(other.ID, 1)
	noErr(t, "DeleteUser", s.DeleteUser(ctx, other.ID, at, at.AddDate(6, 0, 0)))
	left(other.ID, 0)
}
