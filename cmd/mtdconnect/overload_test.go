package main

import (
	"database/sql"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/sqlite"
)

// openDataStore opens the SQLite database of the environment's data
// directory beside the commands, closed when the test ends.
func (e *cliEnv) openDataStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(e.vars["MTDCONNECT_DATA_DIR"], "mtdconnect.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

var tryAgainRe = regexp.MustCompile(`try again in (\d+) s`)

// --hmrc-interactive-wait (MTDCONNECT_HMRC_INTERACTIVE_WAIT) is how long a
// landlord's call may queue for HMRC's rate budget: booked further ahead,
// the call is refused at once, nothing sent, saying when to try again.
func TestInteractiveWaitSetting(t *testing.T) {
	e := newCLIEnv(t)
	e.connectManually(t)
	st := e.openDataStore(t)
	// The deployment's other instances have booked the budget 30 s ahead.
	if err := st.DelaySlots(t.Context(), "hmrc:simulator", time.Now().Add(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	before := e.sim.Stats()
	for _, tc := range []struct {
		name     string
		set      func()
		min, max int // the seconds to wait before trying again
	}{
		{"default 3s", func() {}, 22, 27},
		{"MTDCONNECT_HMRC_INTERACTIVE_WAIT=20s", func() { e.vars["MTDCONNECT_HMRC_INTERACTIVE_WAIT"] = "20s" }, 5, 10},
	} {
		tc.set()
		start := time.Now()
		msg := e.fail(t, "", "test", "--user", testEmail)
		m := tryAgainRe.FindStringSubmatch(msg)
		if m == nil {
			t.Fatalf("%s: the refusal does not say when to try again: %s", tc.name, msg)
		}
		// The budget's queue shrinks as the test runs: the bounds allow
		// for a few seconds of it.
		if n, _ := strconv.Atoi(m[1]); n < tc.min || n > tc.max {
			t.Errorf("%s: try again in %d s, want %d to %d: %s", tc.name, n, tc.min, tc.max, msg)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s: the refusal took %v; it must come at once", tc.name, d)
		}
	}
	if after := e.sim.Stats(); after.APIRequests != before.APIRequests || after.TokenRequests != before.TokenRequests {
		t.Errorf("HMRC received %d API and %d token requests while the budget was busy, want none",
			after.APIRequests-before.APIRequests, after.TokenRequests-before.TokenRequests)
	}
}

// serve runs the expiry sweeper: sessions and pending authorisations that
// expired are deleted once it starts, live ones kept.
func TestServeSweepsExpired(t *testing.T) {
	e := newServeEnv(t, nil)
	// The database as a previous run left it.
	e.run(t, nil, "users", "add", "--email", testEmail, "--password", testPassword)
	st := e.openDataStore(t)
	u, err := st.UserByEmail(t.Context(), testEmail)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i, exp := range []time.Duration{-time.Hour, time.Hour} {
		if err := st.CreateSession(t.Context(), &mtdconnect.Session{TokenHash: []byte{byte(i)}, UserID: u.ID,
			CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(exp)}); err != nil {
			t.Fatal(err)
		}
		if err := st.CreatePendingAuthorization(t.Context(), &mtdconnect.PendingAuthorization{State: "state-" + strconv.Itoa(i),
			UserID: u.ID, Purpose: mtdconnect.PurposeIncomeTax, RedirectURI: "http://127.0.0.1/cb",
			CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(exp)}); err != nil {
			t.Fatal(err)
		}
	}
	db, err := sql.Open("sqlite", filepath.Join(e.vars["MTDCONNECT_DATA_DIR"], "mtdconnect.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	count := func(table string) int {
		t.Helper()
		var n int
		if err := db.QueryRowContext(t.Context(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if s, p := count("sessions"), count("pending_authorizations"); s != 2 || p != 2 {
		t.Fatalf("before serve: %d sessions, %d pending authorisations; want 2 and 2", s, p)
	}

	e.startInProcess(t, "serve")
	deadline := time.Now().Add(20 * time.Second)
	for count("sessions") != 1 || count("pending_authorizations") != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("serve kept expired rows: %d sessions, %d pending authorisations; want 1 and 1 (the live ones)",
				count("sessions"), count("pending_authorizations"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := st.SessionByHash(t.Context(), []byte{1}); err != nil {
		t.Errorf("the live session: %v", err)
	}
}
