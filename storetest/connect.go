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

func newConnectSession(userID int64, id string) *mtdconnect.ConnectSession {
	return &mtdconnect.ConnectSession{
		ID: id, TokenHash: []byte("token-" + id), UserID: userID, Purpose: mtdconnect.PurposeVAT,
		ReturnURL: "https://platform.example/settings/hmrc?tab=1", Display: mtdconnect.DisplayPopup,
		Status: mtdconnect.ConnectPending, CreatedBy: 3, CreatedAt: t0, ExpiresAt: t0.Add(30 * time.Minute),
	}
}

func testConnectSession(t *testing.T, s mtdconnect.Store) {
	ctx := t.Context()
	u := mustRefUser(t, s, "p-1")
	cs := newConnectSession(u.ID, "cs_one")
	noErr(t, "CreateConnectSession", s.CreateConnectSession(ctx, cs))
	wantErr(t, "CreateConnectSession twice", s.CreateConnectSession(ctx, cs), mtdconnect.ErrConflict)
	sameToken := newConnectSession(u.ID, "cs_two")
	sameToken.TokenHash = cs.TokenHash
	wantErr(t, "CreateConnectSession with a taken token", s.CreateConnectSession(ctx, sameToken), mtdconnect.ErrConflict)
	wantErr(t, "CreateConnectSession of no user", s.CreateConnectSession(ctx, newConnectSession(404, "cs_none")), mtdconnect.ErrNotFound)

	want := *cs
	want.CreatedAt, want.ExpiresAt = stored(cs.CreatedAt), stored(cs.ExpiresAt)
	got, err := s.ConnectSession(ctx, cs.ID)
	noErr(t, "ConnectSession", err)
	deepEqual(t, "ConnectSession", got, &want)
	got, err = s.ConnectSessionByToken(ctx, cs.TokenHash)
	noErr(t, "ConnectSessionByToken", err)
	deepEqual(t, "ConnectSessionByToken", got, &want)
	_, err = s.ConnectSessionByState(ctx, "")
	wantErr(t, "ConnectSessionByState before it started", err, mtdconnect.ErrNotFound)
	_, err = s.ConnectSession(ctx, "cs_unknown")
	wantErr(t, "ConnectSession unknown", err, mtdconnect.ErrNotFound)
	_, err = s.ConnectSessionByToken(ctx, []byte("unknown"))
	wantErr(t, "ConnectSessionByToken unknown", err, mtdconnect.ErrNotFound)

	// Started once: state and browser recorded.
	at := t0.Add(time.Minute)
	noErr(t, "StartConnectSession", s.StartConnectSession(ctx, cs.ID, "state-1", []byte{0, 1, 2}, at))
	wantErr(t, "StartConnectSession twice", s.StartConnectSession(ctx, cs.ID, "state-2", []byte{9}, at), mtdconnect.ErrConflict)
	wantErr(t, "StartConnectSession unknown", s.StartConnectSession(ctx, "cs_unknown", "state-3", nil, at), mtdconnect.ErrNotFound)
	want.State, want.BrowserHash, want.StartedAt = "state-1", []byte{0, 1, 2}, stored(at)
	got, err = s.ConnectSessionByState(ctx, "state-1")
	noErr(t, "ConnectSessionByState", err)
	deepEqual(t, "started session", got, &want)
	_, err = s.ConnectSessionByState(ctx, "state-2")
	wantErr(t, "ConnectSessionByState of a refused start", err, mtdconnect.ErrNotFound)
	// A state belongs to one session.
	other := newConnectSession(u.ID, "cs_other")
	noErr(t, "CreateConnectSession other", s.CreateConnectSession(ctx, other))
	wantErr(t, "StartConnectSession with a taken state", s.StartConnectSession(ctx, other.ID, "state-1", nil, at), mtdconnect.ErrConflict)

	// Finished once: the first outcome stands.
	done := t0.Add(2 * time.Minute)
	noErr(t, "FinishConnectSession", s.FinishConnectSession(ctx, cs.ID, mtdconnect.ConnectFailed, mtdconnect.ConnectErrorCodeRefused, done))
	wantErr(t, "FinishConnectSession twice", s.FinishConnectSession(ctx, cs.ID, mtdconnect.ConnectConnected, "", done), mtdconnect.ErrConflict)
	wantErr(t, "FinishConnectSession unknown", s.FinishConnectSession(ctx, "cs_unknown", mtdconnect.ConnectConnected, "", done), mtdconnect.ErrNotFound)
	want.Status, want.Error, want.FinishedAt = mtdconnect.ConnectFailed, mtdconnect.ConnectErrorCodeRefused, stored(done)
	got, _ = s.ConnectSession(ctx, cs.ID)
	deepEqual(t, "finished session", got, &want)
	// A finished session cannot start.
	noErr(t, "FinishConnectSession other", s.FinishConnectSession(ctx, other.ID, mtdconnect.ConnectExpired, mtdconnect.ConnectErrorLinkExpired, done))
	wantErr(t, "StartConnectSession of a finished session", s.StartConnectSession(ctx, other.ID, "state-9", nil, at), mtdconnect.ErrConflict)

	// Deleting the landlord deletes their connect sessions.
	noErr(t, "DeleteUser", s.DeleteUser(ctx, u.ID, done, done.AddDate(7, 0, 0)))
	_, err = s.ConnectSession(ctx, cs.ID)
	wantErr(t, "ConnectSession of a deleted landlord", err, mtdconnect.ErrNotFound)
}

func testReturnURLs(t *testing.T, s mtdconnect.Store) {
	ctx := t.Context()
	list, err := s.ReturnURLs(ctx)
	noErr(t, "ReturnURLs empty", err)
	if len(list) != 0 {
		t.Fatalf("ReturnURLs = %v, want none", list)
	}
	b := &mtdconnect.AllowedReturnURL{URL: "https://b.example/settings", AddedBy: 4, AddedAt: t0}
	a := &mtdconnect.AllowedReturnURL{URL: "https://a.example", AddedAt: t0.Add(time.Hour)}
	noErr(t, "AddReturnURL", s.AddReturnURL(ctx, b))
	noErr(t, "AddReturnURL", s.AddReturnURL(ctx, a))
	wantErr(t, "AddReturnURL twice", s.AddReturnURL(ctx, &mtdconnect.AllowedReturnURL{URL: a.URL, AddedAt: t0}), mtdconnect.ErrConflict)
	list, err = s.ReturnURLs(ctx)
	noErr(t, "ReturnURLs", err)
	deepEqual(t, "ReturnURLs", list, []*mtdconnect.AllowedReturnURL{
		{URL: a.URL, AddedAt: stored(a.AddedAt)}, {URL: b.URL, AddedBy: 4, AddedAt: stored(b.AddedAt)}})
	noErr(t, "RemoveReturnURL", s.RemoveReturnURL(ctx, a.URL))
	wantErr(t, "RemoveReturnURL twice", s.RemoveReturnURL(ctx, a.URL), mtdconnect.ErrNotFound)
	list, _ = s.ReturnURLs(ctx)
	if len(list) != 1 || list[0].URL != b.URL {
		t.Errorf("after removal: %v", list)
	}
}

// testRaceConnectSession: two browsers (or two instances) pressing Continue
// on one link, and two callbacks finishing one session: one wins each.
func testRaceConnectSession(t *testing.T, stores ...mtdconnect.Store) {
	ctx := t.Context()
	u := mustRefUser(t, stores[0], "racer")
	cs := newConnectSession(u.ID, "cs_race")
	noErr(t, "CreateConnectSession", stores[0].CreateConnectSession(ctx, cs))
	race := func(what string, op func(s mtdconnect.Store, i int) error) {
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
				switch err := op(s, i); {
				case err == nil:
					wins.Add(1)
				case !errors.Is(err, mtdconnect.ErrConflict):
					t.Errorf("%s: %v, want nil or ErrConflict", what, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if got := wins.Load(); got != 1 {
			t.Errorf("%s: %d of %d racers won, want exactly 1", what, got, n)
		}
	}
	race("StartConnectSession", func(s mtdconnect.Store, i int) error {
		return s.StartConnectSession(ctx, cs.ID, fmt.Sprintf("state-%d", i), []byte{byte(i)}, t0)
	})
	race("FinishConnectSession", func(s mtdconnect.Store, i int) error {
		status := mtdconnect.ConnectConnected
		if i%2 == 1 {
			status = mtdconnect.ConnectFailed
		}
		return s.FinishConnectSession(ctx, cs.ID, status, "", t0)
	})
}
