package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

func event(userID int64, typ string) *mtdconnect.Event {
	return &mtdconnect.Event{UserID: userID, Type: typ, Data: []byte(`{"landlord":"x"}`), CreatedAt: t0}
}

func eventTypes(t *testing.T, s mtdconnect.Store, userID int64) []string {
	t.Helper()
	events, err := s.Events(t.Context(), userID, 0)
	noErr(t, "Events", err)
	var out []string
	for i, e := range events {
		if e.Seq != int64(i+1) {
			t.Errorf("event %d has seq %d, want %d (no gaps, in order)", i, e.Seq, i+1)
		}
		out = append(out, e.Type)
	}
	return out
}

// testOutbox: an event is written with the change it reports, and only if
// the change is: a lost compare-and-swap or a missing row writes none, and
// an event that cannot be written undoes the change.
func testOutbox(t *testing.T, s mtdconnect.Store) {
	ctx := t.Context()
	ada := mustUser(t, s, "ada@example.com")
	bob := mustUser(t, s, "bob@example.com")

	c := fullConnection(ada.ID, mtdconnect.PurposeIncomeTax)
	e := event(ada.ID, mtdconnect.EventConnected)
	noErr(t, "SaveConnection", s.SaveConnection(ctx, c, e))
	if e.ID == 0 || e.Seq != 1 {
		t.Errorf("event ID %d seq %d, want set and 1", e.ID, e.Seq)
	}
	stale := *c
	next := *c
	next.Status, next.Reason = mtdconnect.StatusNeedsReconnect, mtdconnect.ReasonRevoked
	noErr(t, "UpdateConnection", s.UpdateConnection(ctx, &next, event(ada.ID, mtdconnect.EventNeedsReconnect)))
	stale.LastError = "stale"
	wantErr(t, "stale UpdateConnection", s.UpdateConnection(ctx, &stale, event(ada.ID, mtdconnect.EventRecovered)), mtdconnect.ErrConflict)
	noErr(t, "DeleteConnection", s.DeleteConnection(ctx, ada.ID, mtdconnect.PurposeIncomeTax, event(ada.ID, mtdconnect.EventDisconnected)))
	wantErr(t, "DeleteConnection again", s.DeleteConnection(ctx, ada.ID, mtdconnect.PurposeIncomeTax,
		event(ada.ID, mtdconnect.EventDisconnected)), mtdconnect.ErrNotFound)
	noErr(t, "SaveSubmission", s.SaveSubmission(ctx, &mtdconnect.Submission{UserID: ada.ID, Purpose: mtdconnect.PurposeVAT,
		Kind: mtdconnect.SubmissionVATReturn, Period: "18A1", SubmittedAt: t0}, event(ada.ID, mtdconnect.EventSubmissionAccepted)))
	deepEqual(t, "ada's events", eventTypes(t, s, ada.ID), []string{mtdconnect.EventConnected,
		mtdconnect.EventNeedsReconnect, mtdconnect.EventDisconnected, mtdconnect.EventSubmissionAccepted})

	// An event of a user that does not exist cannot be written: the
	// connection it came with is not saved either.
	wantErr(t, "SaveConnection with an orphan event", s.SaveConnection(ctx, fullConnection(bob.ID, mtdconnect.PurposeVAT),
		event(bob.ID+1000, mtdconnect.EventConnected)), mtdconnect.ErrNotFound)
	wantErr(t, "the connection", func() error { _, err := s.Connection(ctx, bob.ID, mtdconnect.PurposeVAT); return err }(),
		mtdconnect.ErrNotFound)
	wantErr(t, "SaveSubmission with an orphan event", s.SaveSubmission(ctx, &mtdconnect.Submission{UserID: bob.ID,
		Purpose: mtdconnect.PurposeVAT, Kind: mtdconnect.SubmissionVATReturn, Period: "18A1", SubmittedAt: t0},
		event(bob.ID+1000, mtdconnect.EventSubmissionAccepted)), mtdconnect.ErrNotFound)
	subs, err := s.Submissions(ctx, bob.ID, mtdconnect.PurposeVAT, 0)
	noErr(t, "Submissions", err)
	if len(subs) != 0 {
		t.Errorf("a submission whose event failed was kept: %+v", subs)
	}
	if got := eventTypes(t, s, bob.ID); len(got) != 0 {
		t.Errorf("bob's events = %v, want none", got)
	}

	// Deleting a landlord writes their last events with it; a second
	// deletion (ErrNotFound) writes none.
	noErr(t, "SaveConnection", s.SaveConnection(ctx, fullConnection(bob.ID, mtdconnect.PurposeVAT)))
	noErr(t, "DeleteUser", s.DeleteUser(ctx, bob.ID, t0, t0.AddDate(6, 0, 0), event(bob.ID, mtdconnect.EventDisconnected)))
	wantErr(t, "DeleteUser again", s.DeleteUser(ctx, bob.ID, t0, t0.AddDate(6, 0, 0), event(bob.ID, mtdconnect.EventDisconnected)),
		mtdconnect.ErrNotFound)
	deepEqual(t, "bob's events", eventTypes(t, s, bob.ID), []string{mtdconnect.EventDisconnected})

	// A reminder's key makes it happen once.
	r := event(ada.ID, mtdconnect.EventAuthorityExpiring)
	r.Key = "authority_expiring:itsa:2026-01-01:7"
	again := *r
	n, err := s.AppendEvents(ctx, r, event(ada.ID, mtdconnect.EventObligationDueSoon))
	noErr(t, "AppendEvents", err)
	again.ID, again.Seq = 0, 0
	n2, err := s.AppendEvents(ctx, &again)
	noErr(t, "AppendEvents again", err)
	if n != 2 || n2 != 0 {
		t.Errorf("AppendEvents wrote %d then %d, want 2 then 0 (the key used once)", n, n2)
	}
	got := eventTypes(t, s, ada.ID)
	if len(got) != 6 {
		t.Errorf("ada's events = %v, want 6 numbered without a gap", got)
	}
	events, err := s.Events(ctx, ada.ID, 1)
	noErr(t, "Events", err)
	if len(events) != 1 || events[0].Key != "" || string(events[0].Data) != `{"landlord":"x"}` ||
		!events[0].CreatedAt.Equal(stored(t0)) || events[0].UserID != ada.ID {
		t.Errorf("Events(limit 1) = %+v", events)
	}

	// Purging a landlord's records takes their events too.
	n, err = s.PurgeDeletedUsers(ctx, t0.AddDate(7, 0, 0))
	noErr(t, "PurgeDeletedUsers", err)
	if got := eventTypes(t, s, bob.ID); n != 1 || len(got) != 0 {
		t.Errorf("after the purge (%d) bob's events = %v", n, got)
	}
}

func mustEndpoint(t *testing.T, s mtdconnect.Store, uid string, types ...string) *mtdconnect.WebhookEndpoint {
	t.Helper()
	e := &mtdconnect.WebhookEndpoint{UID: uid, URL: "https://platform.example/hooks/" + uid, EventTypes: types,
		Secret: []byte("sealed-" + uid), CreatedAt: t0}
	noErr(t, "CreateWebhookEndpoint", s.CreateWebhookEndpoint(t.Context(), e))
	return e
}

// testWebhookEndpoints: endpoints round-trip, rotate, and delete with
// their deliveries.
func testWebhookEndpoints(t *testing.T, s mtdconnect.Store) {
	ctx := t.Context()
	all := mustEndpoint(t, s, "ep_all")
	some := mustEndpoint(t, s, "ep_some", mtdconnect.EventConnected, mtdconnect.EventDisconnected)
	wantErr(t, "duplicate UID", s.CreateWebhookEndpoint(ctx, &mtdconnect.WebhookEndpoint{UID: "ep_all",
		URL: "https://x.example", Secret: []byte("s")}), mtdconnect.ErrConflict)

	got, err := s.WebhookEndpoint(ctx, some.ID)
	noErr(t, "WebhookEndpoint", err)
	want := *some
	want.CreatedAt = stored(t0)
	deepEqual(t, "endpoint", got, &want)
	list, err := s.WebhookEndpoints(ctx)
	noErr(t, "WebhookEndpoints", err)
	if len(list) != 2 || list[0].ID != all.ID || list[1].ID != some.ID || list[0].EventTypes != nil {
		t.Errorf("WebhookEndpoints = %+v", list)
	}

	until := t0.Add(24 * time.Hour)
	noErr(t, "RotateWebhookSecret", s.RotateWebhookSecret(ctx, some.ID, []byte("sealed-new"), until))
	got, err = s.WebhookEndpoint(ctx, some.ID)
	noErr(t, "WebhookEndpoint", err)
	if string(got.Secret) != "sealed-new" || string(got.PreviousSecret) != "sealed-ep_some" || !got.PreviousSecretUntil.Equal(stored(until)) {
		t.Errorf("after rotation: secret %q previous %q until %v", got.Secret, got.PreviousSecret, got.PreviousSecretUntil)
	}
	wantErr(t, "rotate unknown", s.RotateWebhookSecret(ctx, 9999, []byte("x"), until), mtdconnect.ErrNotFound)

	// Each event is queued for the endpoints that want its type.
	ada := mustUser(t, s, "ada@example.com")
	noErr(t, "SaveConnection", s.SaveConnection(ctx, fullConnection(ada.ID, mtdconnect.PurposeVAT), event(ada.ID, mtdconnect.EventConnected)))
	_, err = s.AppendEvents(ctx, event(ada.ID, mtdconnect.EventObligationDueSoon))
	noErr(t, "AppendEvents", err)
	for _, c := range []struct {
		e    *mtdconnect.WebhookEndpoint
		want []string
	}{
		{all, []string{mtdconnect.EventObligationDueSoon, mtdconnect.EventConnected}},
		{some, []string{mtdconnect.EventConnected}},
	} {
		ds, err := s.WebhookDeliveries(ctx, c.e.ID, 0)
		noErr(t, "WebhookDeliveries", err)
		var types []string
		for _, d := range ds {
			types = append(types, d.Event.Type)
			if d.State() != "pending" || d.Attempts != 0 || !d.NextTryAt.Equal(stored(t0)) {
				t.Errorf("new delivery %+v", d)
			}
		}
		deepEqual(t, "deliveries of "+c.e.UID, types, c.want)
	}

	noErr(t, "DeleteWebhookEndpoint", s.DeleteWebhookEndpoint(ctx, all.ID))
	wantErr(t, "DeleteWebhookEndpoint again", s.DeleteWebhookEndpoint(ctx, all.ID), mtdconnect.ErrNotFound)
	wantErr(t, "WebhookEndpoint deleted", func() error { _, err := s.WebhookEndpoint(ctx, all.ID); return err }(), mtdconnect.ErrNotFound)
	ds, err := s.WebhookDeliveries(ctx, all.ID, 0)
	noErr(t, "WebhookDeliveries", err)
	if len(ds) != 0 {
		t.Errorf("a deleted endpoint's deliveries were kept: %d", len(ds))
	}
}

// testWebhookDeliveries: claim, lease, retry, deliver, give up, 410, redeliver.
func testWebhookDeliveries(t *testing.T, s mtdconnect.Store) {
	ctx := t.Context()
	ep := mustEndpoint(t, s, "ep")
	ada := mustUser(t, s, "ada@example.com")
	_, err := s.AppendEvents(ctx, event(ada.ID, mtdconnect.EventConnected), event(ada.ID, mtdconnect.EventRecovered))
	noErr(t, "AppendEvents", err)

	lease := time.Minute
	if got, err := s.ClaimDeliveries(ctx, "a", t0.Add(-time.Second), lease, 10); err != nil || len(got) != 0 {
		t.Fatalf("claim before due = %v, %v; want none", got, err)
	}
	got, err := s.ClaimDeliveries(ctx, "a", t0, lease, 1)
	noErr(t, "ClaimDeliveries", err)
	if len(got) != 1 || got[0].Event.Type != mtdconnect.EventConnected || got[0].LeaseOwner != "a" ||
		!got[0].NextTryAt.Equal(stored(t0.Add(lease))) || got[0].Event.Seq != 1 || got[0].EndpointID != ep.ID {
		t.Fatalf("claim = %+v", got)
	}
	first := got[0]
	got, err = s.ClaimDeliveries(ctx, "b", t0, lease, 10)
	noErr(t, "ClaimDeliveries", err)
	if len(got) != 1 || got[0].Event.Type != mtdconnect.EventRecovered {
		t.Fatalf("second claim = %+v, want only the one not leased", got)
	}
	second := got[0]

	// a fails and retries in an hour; b's lease ends without an answer.
	retry := t0.Add(time.Hour)
	noErr(t, "FinishDelivery", s.FinishDelivery(ctx, first.ID, "a", mtdconnect.DeliveryAttempt{At: t0, Status: 503,
		Error: "503 Service Unavailable", NextTryAt: retry}))
	wantErr(t, "finish by another owner", s.FinishDelivery(ctx, first.ID, "b", mtdconnect.DeliveryAttempt{At: t0, Delivered: true}),
		mtdconnect.ErrConflict)
	got, err = s.ClaimDeliveries(ctx, "c", t0.Add(lease), lease, 10)
	noErr(t, "ClaimDeliveries", err)
	if len(got) != 1 || got[0].ID != second.ID {
		t.Fatalf("claim after b's lease ended = %+v, want b's delivery again", got)
	}
	wantErr(t, "b finishing after c took over", s.FinishDelivery(ctx, second.ID, "b",
		mtdconnect.DeliveryAttempt{At: t0, Delivered: true}), mtdconnect.ErrConflict)
	noErr(t, "FinishDelivery", s.FinishDelivery(ctx, second.ID, "c", mtdconnect.DeliveryAttempt{At: t0.Add(lease), Status: 204, Delivered: true}))
	wantErr(t, "finish twice", s.FinishDelivery(ctx, second.ID, "c", mtdconnect.DeliveryAttempt{At: t0, Delivered: true}), mtdconnect.ErrConflict)
	wantErr(t, "finish unknown", s.FinishDelivery(ctx, 99999, "c", mtdconnect.DeliveryAttempt{At: t0, Delivered: true}), mtdconnect.ErrNotFound)

	log, err := s.WebhookDeliveries(ctx, ep.ID, 0)
	noErr(t, "WebhookDeliveries", err)
	if len(log) != 2 || log[0].ID != second.ID || log[0].State() != "delivered" || log[0].LastStatus != 204 ||
		log[0].Attempts != 1 || log[1].State() != "pending" || log[1].Attempts != 1 || log[1].LastStatus != 503 ||
		log[1].LastError != "503 Service Unavailable" || !log[1].NextTryAt.Equal(stored(retry)) || log[1].LeaseOwner != "" {
		t.Fatalf("delivery log = %+v %+v", log[0], log[1])
	}

	// Given up, then redelivered.
	got, err = s.ClaimDeliveries(ctx, "a", retry, lease, 10)
	noErr(t, "ClaimDeliveries", err)
	if len(got) != 1 {
		t.Fatalf("claim at retry = %+v", got)
	}
	noErr(t, "FinishDelivery", s.FinishDelivery(ctx, first.ID, "a", mtdconnect.DeliveryAttempt{At: retry, Status: 500}))
	if got, _ := s.ClaimDeliveries(ctx, "a", retry.Add(time.Hour), lease, 10); len(got) != 0 {
		t.Fatalf("a failed delivery was claimed: %+v", got)
	}
	noErr(t, "RedeliverWebhook", s.RedeliverWebhook(ctx, ep.ID, first.ID, retry))
	wantErr(t, "RedeliverWebhook of another endpoint", s.RedeliverWebhook(ctx, ep.ID+1, first.ID, retry), mtdconnect.ErrNotFound)
	got, err = s.ClaimDeliveries(ctx, "a", retry, lease, 10)
	noErr(t, "ClaimDeliveries", err)
	if len(got) != 1 || got[0].ID != first.ID || got[0].Attempts != 2 {
		t.Fatalf("claim after redeliver = %+v", got)
	}

	// 410 Gone disables the endpoint: nothing of it is claimed any more.
	noErr(t, "FinishDelivery", s.FinishDelivery(ctx, first.ID, "a", mtdconnect.DeliveryAttempt{At: retry, Status: 410, Disable: true}))
	e, err := s.WebhookEndpoint(ctx, ep.ID)
	noErr(t, "WebhookEndpoint", err)
	if !e.DisabledAt.Equal(stored(retry)) || e.DisabledReason == "" {
		t.Errorf("after 410: disabled %v %q", e.DisabledAt, e.DisabledReason)
	}
	_, err = s.AppendEvents(ctx, event(ada.ID, mtdconnect.EventDisconnected))
	noErr(t, "AppendEvents", err)
	if got, _ := s.ClaimDeliveries(ctx, "a", retry.Add(time.Hour), lease, 10); len(got) != 0 {
		t.Fatalf("a disabled endpoint's delivery was claimed: %+v", got)
	}
}

// testRaceClaimDeliveries: instances claiming at once never take the same
// delivery, and together take them all.
func testRaceClaimDeliveries(t *testing.T, stores ...mtdconnect.Store) {
	ctx := t.Context()
	s := stores[0]
	mustEndpoint(t, s, "ep")
	ada := mustUser(t, s, "ada@example.com")
	const n = 40
	var events []*mtdconnect.Event
	for range n {
		events = append(events, event(ada.ID, mtdconnect.EventRecovered))
	}
	_, err := s.AppendEvents(ctx, events...)
	noErr(t, "AppendEvents", err)

	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := stores[i%len(stores)]
			for {
				got, err := st.ClaimDeliveries(ctx, fmt.Sprint("owner", i), t0, time.Minute, 3)
				if err != nil {
					t.Errorf("ClaimDeliveries: %v", err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, d := range got {
					seen[d.ID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != n {
		t.Errorf("claimed %d deliveries, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("delivery %d claimed %d times", id, c)
		}
	}
}
