package landlord_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc/hmrctest"
	"github.com/mtdconnect/mtdconnect/landlord"
)

// failToken answers HMRC's token endpoint with 503 while on.
type failToken struct {
	next http.RoundTripper
	on   atomic.Bool
}

func (f *failToken) RoundTrip(req *http.Request) (*http.Response, error) {
	if f.on.Load() && strings.HasSuffix(req.URL.Path, "/oauth/token") {
		return &http.Response{StatusCode: http.StatusServiceUnavailable, Body: http.NoBody, Header: http.Header{}, Request: req}, nil
	}
	return f.next.RoundTrip(req)
}

type event struct {
	Type string
	Seq  int64
	Data map[string]any
}

func events(t *testing.T, e *env, userID int64) []event {
	t.Helper()
	list, err := e.Store.Events(t.Context(), userID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []event
	for _, ev := range list {
		var d map[string]any
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{nino, vrn} {
			if strings.Contains(string(ev.Data), secret) {
				t.Errorf("event %s names the landlord's NINO or VRN: %s", ev.Type, ev.Data)
			}
		}
		out = append(out, event{ev.Type, ev.Seq, d})
	}
	return out
}

func types(evs []event) string {
	var s []string
	for _, e := range evs {
		s = append(s, e.Type)
	}
	return strings.Join(s, " ")
}

// Every change of a connection is an event, whoever makes it (an action,
// the refresher): connected, refresh failing and recovered, needs
// reconnect with its reason, disconnected by whom, and the deletion of
// the landlord; never one for a change that did not happen.
func TestConnectionEvents(t *testing.T) {
	ft := &failToken{}
	e := newEnv(t, func(next http.RoundTripper) http.RoundTripper { ft.next = next; return ft })
	ctx := t.Context()
	by := landlord.ByLandlord(e.userID)
	e.connect(t, by, mtdconnect.PurposeIncomeTax)

	// HMRC's token endpoint down: failures counted, one event at the
	// threshold; back: recovered.
	ft.on.Store(true)
	for range landlord.RefreshFailingAfter + 1 {
		if err := e.svc.Refresh(ctx, by, e.userID, mtdconnect.PurposeIncomeTax); err == nil {
			t.Fatal("a refresh succeeded with HMRC down")
		}
	}
	ft.on.Store(false)
	if err := e.svc.Refresh(ctx, by, e.userID, mtdconnect.PurposeIncomeTax); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Refresh(ctx, by, e.userID, mtdconnect.PurposeIncomeTax); err != nil {
		t.Fatal(err)
	}

	// Revoked at HMRC: the next refresh finds out.
	e.Sim.Revoke(simUser, hmrctest.ClientID)
	if err := e.svc.Refresh(ctx, by, e.userID, mtdconnect.PurposeIncomeTax); err == nil {
		t.Fatal("a refresh succeeded after the grant was revoked")
	}
	e.connect(t, landlord.ByPlatform(7), mtdconnect.PurposeIncomeTax)
	if err := e.svc.Disconnect(ctx, landlord.ByPlatform(7), e.userID, mtdconnect.PurposeIncomeTax); err != nil {
		t.Fatal(err)
	}
	e.connect(t, by, mtdconnect.PurposeVAT)
	if _, err := e.svc.DeleteUser(ctx, landlord.ByAdministrator("ops"), e.userID); err != nil {
		t.Fatal(err)
	}

	evs := events(t, e, e.userID)
	want := "connection.connected connection.refresh_failing connection.recovered connection.needs_reconnect " +
		"connection.connected connection.disconnected connection.connected connection.disconnected"
	if got := types(evs); got != want {
		t.Fatalf("events:\n got %s\nwant %s", got, want)
	}
	for i, ev := range evs {
		if ev.Seq != int64(i+1) || ev.Data["landlord"] != "id:"+itoa(e.userID) {
			t.Errorf("event %d: seq %d data %v", i, ev.Seq, ev.Data)
		}
	}
	if d := evs[1].Data; d["refresh_failures"] != float64(landlord.RefreshFailingAfter) || d["error"] == "" {
		t.Errorf("refresh_failing: %v", d)
	}
	if d := evs[3].Data; d["reason_code"] != "revoked" || d["reason"] != mtdconnect.ReasonRevoked || d["status"] != "needs_reconnect" {
		t.Errorf("needs_reconnect: %v", d)
	}
	if d := evs[5].Data; d["by"] != "platform" || d["purpose"] != "itsa" {
		t.Errorf("disconnected by the platform: %v", d)
	}
	if d := evs[7].Data; d["by"] != "administrator" || d["purpose"] != "vat" {
		t.Errorf("disconnected by the deletion: %v", d)
	}
}

// Reminders: the authority's end (the nearest of 30, 7, 1 days) and the
// obligations due within 14 or 3 days, each once, from obligations read at
// most once a day.
func TestReminders(t *testing.T) {
	e := newEnv(t, nil)
	ctx := t.Context()
	e.connect(t, landlord.ByLandlord(e.userID), mtdconnect.PurposeIncomeTax)
	calls := func() int64 { return e.Sim.Stats().APIRequests }

	// 1 May 2026: the last quarter of 2025-26 is due on 5 May.
	before := calls()
	if err := e.svc.Remind(ctx); err != nil {
		t.Fatal(err)
	}
	read := calls() - before
	if read == 0 {
		t.Fatal("obligations were not read")
	}
	evs := events(t, e, e.userID)
	if types(evs) != "connection.connected obligation.due_soon" {
		t.Fatalf("events: %s", types(evs))
	}
	if d := evs[1].Data; d["kind"] != "quarterly-update" || d["due"] != "2026-05-05" || d["reminder_days"] != 14.0 || d["days_left"] != 4.0 {
		t.Errorf("due_soon: %v", d)
	}
	before = calls()
	if err := e.svc.Remind(ctx); err != nil {
		t.Fatal(err)
	}
	if n := calls() - before; n != 0 {
		t.Errorf("obligations read again within a day: %d calls", n)
	}
	e.Clock.Advance(2 * 24 * time.Hour) // 3 May: 2 days left
	if err := e.svc.Remind(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Remind(ctx); err != nil {
		t.Fatal(err)
	}
	evs = events(t, e, e.userID)
	if types(evs) != "connection.connected obligation.due_soon obligation.due_soon" || evs[2].Data["reminder_days"] != 3.0 {
		t.Fatalf("events: %s %v", types(evs), evs[len(evs)-1].Data)
	}

	// Six days before the authority's end: "7 days", once.
	conn, err := e.Store.Connection(ctx, e.userID, mtdconnect.PurposeIncomeTax)
	if err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(conn.GrantEndsAt().Add(-6 * 24 * time.Hour).Sub(e.Clock.Now()))
	for range 2 {
		if err := e.svc.Remind(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var expiring []event
	for _, ev := range events(t, e, e.userID) {
		if ev.Type == mtdconnect.EventAuthorityExpiring {
			expiring = append(expiring, ev)
		}
	}
	if len(expiring) != 1 || expiring[0].Data["reminder_days"] != 7.0 || expiring[0].Data["days_left"] != 6.0 || expiring[0].Data["authority_ends_at"] == nil {
		t.Fatalf("authority_expiring: %+v", expiring)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }
