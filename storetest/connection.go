package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

// fullConnection has every field set to something distinctive.
func fullConnection(userID int64, purpose mtdconnect.Purpose) *mtdconnect.Connection {
	return &mtdconnect.Connection{
		UserID:            userID,
		Purpose:           purpose,
		Status:            mtdconnect.StatusConnected,
		Reason:            "",
		Scopes:            "read:self-assessment write:self-assessment",
		Tokens:            []byte{0x00, 0x01, 0x02, 0xff, 0x00, 0x7f, 0x80},
		AccessExpiresAt:   t0.Add(4 * time.Hour),
		GrantedAt:         t0.Add(-30 * 24 * time.Hour),
		Environment:       "sandbox",
		ClientID:          "client-123",
		LastRefreshAt:     t0.Add(-time.Minute),
		LastUsedAt:        t0.Add(-time.Second),
		RefreshLeaseUntil: t0.Add(30 * time.Second),
		RefreshLeaseOwner: "instance-a/42",
		RefreshFailures:   3,
		LastError:         "HMRC unavailable (503)",
		CreatedAt:         t0.Add(-30 * 24 * time.Hour),
		UpdatedAt:         t0,
	}
}

// checkConnection compares got with want as a Store should return it:
// every field equal, times in UTC at millisecond precision.
func checkConnection(t *testing.T, got, want *mtdconnect.Connection) {
	t.Helper()
	checkBytes(t, "Tokens", got.Tokens, want.Tokens)
	g, w := *got, *want
	g.Tokens, w.Tokens = nil, nil
	for _, p := range []*time.Time{&w.AccessExpiresAt, &w.GrantedAt, &w.LastRefreshAt, &w.LastUsedAt,
		&w.RefreshLeaseUntil, &w.CreatedAt, &w.UpdatedAt} {
		*p = stored(*p)
	}
	deepEqual(t, "connection", g, w)
}

func mustConnection(t *testing.T, s mtdconnect.Store, userID int64, purpose mtdconnect.Purpose) *mtdconnect.Connection {
	t.Helper()
	c, err := s.Connection(t.Context(), userID, purpose)
	if err != nil {
		t.Fatalf("Connection(%d, %s): %v", userID, purpose, err)
	}
	return c
}

func testConnectionRoundTrip(t *testing.T, s mtdconnect.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	itsa := fullConnection(u.ID, mtdconnect.PurposeIncomeTax)
	noErr(t, "SaveConnection", s.SaveConnection(ctx, itsa))
	if itsa.Version == 0 {
		t.Fatal("SaveConnection did not set Version")
	}
	vat := &mtdconnect.Connection{
		UserID:          u.ID,
		Purpose:         mtdconnect.PurposeVAT,
		Status:          mtdconnect.StatusNeedsReconnect,
		Reason:          mtdconnect.ReasonRevoked,
		Scopes:          "read:vat write:vat",
		Tokens:          []byte("vat tokens"),
		AccessExpiresAt: t0.Add(time.Hour),
		GrantedAt:       t0.Add(-time.Hour),
		Environment:     "production",
		ClientID:        "client-456",
	}
	noErr(t, "SaveConnection vat", s.SaveConnection(ctx, vat))

	// One user's two purposes are separate rows.
	checkConnection(t, mustConnection(t, s, u.ID, mtdconnect.PurposeIncomeTax), itsa)
	checkConnection(t, mustConnection(t, s, u.ID, mtdconnect.PurposeVAT), vat)
}

func testConnectionZeroTimes(t *testing.T, s mtdconnect.Store) {
	u := mustUser(t, s, "ada@example.com")
	c := &mtdconnect.Connection{UserID: u.ID, Purpose: mtdconnect.PurposeIncomeTax, Status: mtdconnect.StatusConnected,
		Tokens: []byte{0}}
	noErr(t, "SaveConnection", s.SaveConnection(t.Context(), c))
	checkConnection(t, mustConnection(t, s, u.ID, c.Purpose), c)
}

func testConnectionNotFound(t *testing.T, s mtdconnect.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	noErr(t, "SaveConnection vat", s.SaveConnection(ctx, fullConnection(u.ID, mtdconnect.PurposeVAT)))

	// The user has a VAT connection but no Income Tax one.
	_, err := s.Connection(ctx, u.ID, mtdconnect.PurposeIncomeTax)
	wantErr(t, "Connection", err, mtdconnect.ErrNotFound)
	c := fullConnection(u.ID, mtdconnect.PurposeIncomeTax)
	c.Version = 1
	wantErr(t, "UpdateConnection", s.UpdateConnection(ctx, c), mtdconnect.ErrNotFound)
	wantErr(t, "TouchConnection", s.TouchConnection(ctx, u.ID, mtdconnect.PurposeIncomeTax, t0), mtdconnect.ErrNotFound)
	wantErr(t, "DeleteConnection", s.DeleteConnection(ctx, u.ID, mtdconnect.PurposeIncomeTax), mtdconnect.ErrNotFound)
	_, err = s.Connection(ctx, 404, mtdconnect.PurposeVAT)
	wantErr(t, "Connection of an unknown user", err, mtdconnect.ErrNotFound)
}

func testConnectionSaveReplaces(t *testing.T, s mtdconnect.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	noErr(t, "SaveConnection", s.SaveConnection(ctx, fullConnection(u.ID, mtdconnect.PurposeIncomeTax)))
	stale := mustConnection(t, s, u.ID, mtdconnect.PurposeIncomeTax)

	// A new grant: fields the old row had set are now empty, and the
	// caller's Version is ignored.
	grant := &mtdconnect.Connection{
		UserID:          u.ID,
		Purpose:         mtdconnect.PurposeIncomeTax,
		Status:          mtdconnect.StatusConnected,
		Scopes:          "read:self-assessment",
		Tokens:          []byte("new grant"),
		AccessExpiresAt: t0.Add(5 * time.Hour),
		GrantedAt:       t0.Add(time.Hour),
		Environment:     "sandbox",
		ClientID:        "client-789",
		CreatedAt:       t0.Add(time.Hour),
		UpdatedAt:       t0.Add(time.Hour),
		Version:         stale.Version - 1,
	}
	noErr(t, "SaveConnection replacing", s.SaveConnection(ctx, grant))
	if grant.Version <= stale.Version {
		t.Errorf("Version after replace = %d, want > %d", grant.Version, stale.Version)
	}
	checkConnection(t, mustConnection(t, s, u.ID, grant.Purpose), grant)

	// A refresh that read the old grant must not overwrite the new one.
	stale.Tokens = []byte("old grant, refreshed")
	wantErr(t, "UpdateConnection from before the replace", s.UpdateConnection(ctx, stale), mtdconnect.ErrConflict)
	checkConnection(t, mustConnection(t, s, u.ID, grant.Purpose), grant)
}

// testConnectionSaveAfterDelete guards against ABA: a copy read before a
// disconnect must not win against the connection made after it, even though
// the new row starts afresh.
func testConnectionSaveAfterDelete(t *testing.T, s mtdconnect.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	noErr(t, "SaveConnection", s.SaveConnection(ctx, fullConnection(u.ID, mtdconnect.PurposeIncomeTax)))
	stale := mustConnection(t, s, u.ID, mtdconnect.PurposeIncomeTax)
	noErr(t, "DeleteConnection", s.DeleteConnection(ctx, u.ID, mtdconnect.PurposeIncomeTax))

	again := fullConnection(u.ID, mtdconnect.PurposeIncomeTax)
	again.Tokens = []byte("reconnected")
	noErr(t, "SaveConnection again", s.SaveConnection(ctx, again))

	stale.Tokens = []byte("old grant, refreshed")
	wantErr(t, "UpdateConnection from before the delete", s.UpdateConnection(ctx, stale), mtdconnect.ErrConflict)
	checkConnection(t, mustConnection(t, s, u.ID, again.Purpose), again)
}

func testConnectionUpdate(t *testing.T, s mtdconnect.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	noErr(t, "SaveConnection", s.SaveConnection(ctx, fullConnection(u.ID, mtdconnect.PurposeIncomeTax)))
	c := mustConnection(t, s, u.ID, mtdconnect.PurposeIncomeTax)
	stale := *c

	c.Tokens = []byte{0xff, 0x00, 0xee}
	c.AccessExpiresAt = t0.Add(8 * time.Hour)
	c.LastRefreshAt = t0.Add(4 * time.Hour)
	c.RefreshLeaseUntil, c.RefreshLeaseOwner = time.Time{}, ""
	c.RefreshFailures, c.LastError = 0, ""
	c.Status, c.Reason = mtdconnect.StatusNeedsReconnect, mtdconnect.ReasonRefreshInterrupted
	c.UpdatedAt = t0.Add(4 * time.Hour)
	noErr(t, "UpdateConnection", s.UpdateConnection(ctx, c))
	if c.Version <= stale.Version {
		t.Errorf("Version after update = %d, want > %d", c.Version, stale.Version)
	}
	checkConnection(t, mustConnection(t, s, u.ID, c.Purpose), c)

	stale.LastError = "lost the race"
	wantErr(t, "UpdateConnection with the old version", s.UpdateConnection(ctx, &stale), mtdconnect.ErrConflict)
	checkConnection(t, mustConnection(t, s, u.ID, c.Purpose), c)

	// The winner's copy carries the new version, so it can write again.
	prev := c.Version
	c.RefreshFailures = 1
	noErr(t, "UpdateConnection again", s.UpdateConnection(ctx, c))
	if c.Version <= prev {
		t.Errorf("Version after second update = %d, want > %d", c.Version, prev)
	}
	checkConnection(t, mustConnection(t, s, u.ID, c.Purpose), c)
}

func testConnectionTouch(t *testing.T, s mtdconnect.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	noErr(t, "SaveConnection", s.SaveConnection(ctx, fullConnection(u.ID, mtdconnect.PurposeIncomeTax)))
	c := mustConnection(t, s, u.ID, mtdconnect.PurposeIncomeTax)

	used := t0.Add(time.Hour)
	noErr(t, "TouchConnection", s.TouchConnection(ctx, u.ID, c.Purpose, used))
	want := *c
	want.LastUsedAt = used
	checkConnection(t, mustConnection(t, s, u.ID, c.Purpose), &want)

	// A touch does not make readers' copies stale: the refresher that read
	// c before the use can still write. And the use it did not see is kept.
	c.Tokens = []byte("refreshed")
	noErr(t, "UpdateConnection after a touch", s.UpdateConnection(ctx, c))
	got := mustConnection(t, s, u.ID, c.Purpose)
	if want := stored(used); !got.LastUsedAt.Equal(want) {
		t.Errorf("LastUsedAt after an update from before the touch = %v, want %v", got.LastUsedAt, want)
	}
	checkBytes(t, "Tokens", got.Tokens, c.Tokens)

	// Touches arriving out of order keep the latest use.
	noErr(t, "TouchConnection earlier", s.TouchConnection(ctx, u.ID, c.Purpose, used.Add(-time.Minute)))
	if got := mustConnection(t, s, u.ID, c.Purpose); !got.LastUsedAt.Equal(stored(used)) {
		t.Errorf("LastUsedAt after an earlier touch = %v, want %v", got.LastUsedAt, stored(used))
	}
}

func testConnectionDelete(t *testing.T, s mtdconnect.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	vat := fullConnection(u.ID, mtdconnect.PurposeVAT)
	noErr(t, "SaveConnection itsa", s.SaveConnection(ctx, fullConnection(u.ID, mtdconnect.PurposeIncomeTax)))
	noErr(t, "SaveConnection vat", s.SaveConnection(ctx, vat))

	noErr(t, "DeleteConnection", s.DeleteConnection(ctx, u.ID, mtdconnect.PurposeIncomeTax))
	_, err := s.Connection(ctx, u.ID, mtdconnect.PurposeIncomeTax)
	wantErr(t, "Connection after delete", err, mtdconnect.ErrNotFound)
	wantErr(t, "DeleteConnection twice", s.DeleteConnection(ctx, u.ID, mtdconnect.PurposeIncomeTax), mtdconnect.ErrNotFound)
	checkConnection(t, mustConnection(t, s, u.ID, mtdconnect.PurposeVAT), vat)
}

// dueFixture saves one connection per case around a refresher's window and
// returns the query and the users of the connections it must return, in
// order.
func dueFixture(t *testing.T, s mtdconnect.Store) (mtdconnect.DueQuery, []int64) {
	t.Helper()
	q := mtdconnect.DueQuery{
		ExpiresFrom:   t0.Add(-30 * time.Minute),
		ExpiresBefore: t0.Add(10 * time.Minute),
		UsedSince:     t0.Add(-24 * time.Hour),
	}
	cases := []struct {
		name    string
		status  mtdconnect.Status
		expires time.Time
		used    time.Time
		due     bool
	}{
		{"due-late", mtdconnect.StatusConnected, t0.Add(5 * time.Minute), t0.Add(-time.Hour), true},
		{"due-soon", mtdconnect.StatusConnected, t0.Add(time.Minute), t0.Add(-10 * time.Minute), true},
		{"due-at-window-start", mtdconnect.StatusConnected, q.ExpiresFrom, q.UsedSince, true},
		{"at-window-end", mtdconnect.StatusConnected, q.ExpiresBefore, t0, false},
		{"expires-later", mtdconnect.StatusConnected, t0.Add(2 * time.Hour), t0, false},
		{"expired-long-ago", mtdconnect.StatusConnected, t0.Add(-time.Hour), t0, false},
		{"idle", mtdconnect.StatusConnected, t0.Add(3 * time.Minute), t0.Add(-72 * time.Hour), false},
		{"never-used", mtdconnect.StatusConnected, t0.Add(3 * time.Minute), time.Time{}, false},
		{"needs-reconnect", mtdconnect.StatusNeedsReconnect, t0.Add(2 * time.Minute), t0, false},
	}
	users := map[string]int64{}
	for _, tc := range cases {
		u := mustUser(t, s, tc.name+"@example.com")
		users[tc.name] = u.ID
		c := fullConnection(u.ID, mtdconnect.PurposeIncomeTax)
		c.Status, c.AccessExpiresAt, c.LastUsedAt = tc.status, tc.expires, tc.used
		noErr(t, "SaveConnection "+tc.name, s.SaveConnection(t.Context(), c))
	}
	return q, []int64{users["due-at-window-start"], users["due-soon"], users["due-late"]}
}

func dueUsers(cs []*mtdconnect.Connection) []int64 {
	ids := []int64{}
	for _, c := range cs {
		ids = append(ids, c.UserID)
	}
	return ids
}

func testDueConnections(t *testing.T, s mtdconnect.Store) {
	q, want := dueFixture(t, s)
	q.Limit = 100
	due, err := s.DueConnections(t.Context(), q)
	noErr(t, "DueConnections", err)
	deepEqual(t, "due users, soonest expiry first", dueUsers(due), want)
	if len(due) > 0 {
		// The rows come back whole.
		checkConnection(t, due[0], mustConnection(t, s, due[0].UserID, due[0].Purpose))
	}
}

func testDueConnectionsLimit(t *testing.T, s mtdconnect.Store) {
	q, want := dueFixture(t, s)
	for limit := 1; limit <= len(want); limit++ {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			q.Limit = limit
			due, err := s.DueConnections(t.Context(), q)
			noErr(t, "DueConnections", err)
			deepEqual(t, "due users", dueUsers(due), want[:limit])
		})
	}
}

func testAudit(t *testing.T, s mtdconnect.Store) {
	ctx := t.Context()
	ada := mustUser(t, s, "ada@example.com")
	grace := mustUser(t, s, "grace@example.com")
	kinds := []string{mtdconnect.AuditConnected, mtdconnect.AuditRefreshed, mtdconnect.AuditRefreshFailed,
		mtdconnect.AuditNeedsReconnect, mtdconnect.AuditDisconnected}
	var adas []*mtdconnect.AuditEvent
	for i, kind := range kinds {
		e := &mtdconnect.AuditEvent{UserID: ada.ID, Purpose: mtdconnect.PurposeIncomeTax, Kind: kind,
			Detail: fmt.Sprintf("event %d", i), At: t0.Add(time.Duration(i) * time.Minute)}
		noErr(t, "AppendAudit", s.AppendAudit(ctx, e))
		if e.ID == 0 {
			t.Fatal("AppendAudit did not set ID")
		}
		adas = append(adas, e)
		// Interleave another user's events.
		noErr(t, "AppendAudit grace", s.AppendAudit(ctx, &mtdconnect.AuditEvent{UserID: grace.ID,
			Purpose: mtdconnect.PurposeVAT, Kind: mtdconnect.AuditConsentDenied, At: t0}))
	}

	got, err := s.Audit(ctx, ada.ID, 3)
	noErr(t, "Audit", err)
	var want []*mtdconnect.AuditEvent
	for i := len(adas) - 1; i >= len(adas)-3; i-- {
		e := *adas[i]
		e.At = stored(e.At)
		want = append(want, &e)
	}
	deepEqual(t, "newest three", got, want)

	got, err = s.Audit(ctx, grace.ID, 100)
	noErr(t, "Audit grace", err)
	if len(got) != len(kinds) {
		t.Errorf("grace has %d events, want %d", len(got), len(kinds))
	}
	for _, e := range got {
		if e.UserID != grace.ID {
			t.Errorf("grace's audit holds an event of user %d", e.UserID)
		}
	}

	got, err = s.Audit(ctx, 404, 10)
	noErr(t, "Audit of a user with no events", err)
	if len(got) != 0 {
		t.Errorf("Audit of a user with no events = %d events", len(got))
	}
}

func testInterruptedRefreshes(t *testing.T, s mtdconnect.Store) {
	cases := []struct {
		name  string
		owner string
		until time.Time
	}{
		{"lease-ended-long-ago", "host/1/a", t0.Add(-time.Hour)},
		{"lease-ended-just-now", "host/2/b", t0.Add(-time.Second)},
		{"lease-still-held", "host/3/c", t0.Add(time.Minute)},
		{"no-lease", "", time.Time{}},
	}
	users := map[string]int64{}
	for _, tc := range cases {
		u := mustUser(t, s, tc.name+"@example.com")
		users[tc.name] = u.ID
		c := fullConnection(u.ID, mtdconnect.PurposeIncomeTax)
		c.RefreshLeaseOwner, c.RefreshLeaseUntil = tc.owner, tc.until
		noErr(t, "SaveConnection "+tc.name, s.SaveConnection(t.Context(), c))
	}
	got, err := s.InterruptedRefreshes(t.Context(), t0, 10)
	noErr(t, "InterruptedRefreshes", err)
	deepEqual(t, "interrupted, oldest lease first", dueUsers(got),
		[]int64{users["lease-ended-long-ago"], users["lease-ended-just-now"]})
	got, err = s.InterruptedRefreshes(t.Context(), t0, 1)
	noErr(t, "InterruptedRefreshes limit 1", err)
	deepEqual(t, "limit 1", dueUsers(got), []int64{users["lease-ended-long-ago"]})
}
