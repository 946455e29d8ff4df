package expiry_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/expiry"
	"github.com/mtdconnect/mtdconnect/sqlite"
)

// TestSweeperRun: a running sweeper deletes a session once it expires and
// leaves a live one, and stops when its context ends.
func TestSweeperRun(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "mtdconnect.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := t.Context()
	u := &mtdconnect.User{Email: "ada@example.com", PasswordHash: "h"}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i, exp := range []time.Duration{200 * time.Millisecond, time.Hour} {
		if err := st.CreateSession(ctx, &mtdconnect.Session{TokenHash: []byte{byte(i)}, UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(exp)}); err != nil {
			t.Fatal(err)
		}
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- (&expiry.Sweeper{Store: st, Every: 20 * time.Millisecond}).Run(runCtx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := st.SessionByHash(ctx, []byte{0})
		if errors.Is(err, mtdconnect.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the expired session is still there: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := st.SessionByHash(ctx, []byte{1}); err != nil {
		t.Errorf("the live session went: %v", err)
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("Run = %v after its context ended, want nil", err)
	}
}
