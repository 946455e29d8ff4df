package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

func testSubmissions(t *testing.T, s mtdconnect.Store) {
	ctx := t.Context()
	ada := mustUser(t, s, "ada@example.com")
	bob := mustUser(t, s, "bob@example.com")

	first := &mtdconnect.Submission{
		UserID: ada.ID, Purpose: mtdconnect.PurposeIncomeTax, Kind: mtdconnect.SubmissionUKPropertyCumulative,
		Period: "2025-26", PeriodStart: time.Date(2025, 4, 6, 0, 0, 0, 0, time.UTC), PeriodEnd: time.Date(2025, 7, 5, 0, 0, 0, 0, time.UTC),
		Body: []byte(`{"ukProperty":{}}`), CorrelationID: "c1", SubmittedAt: t0,
	}
	noErr(t, "SaveSubmission", s.SaveSubmission(ctx, first))
	if first.ID == 0 {
		t.Fatal("SaveSubmission did not set ID")
	}
	second := &mtdconnect.Submission{
		UserID: ada.ID, Purpose: mtdconnect.PurposeIncomeTax, Kind: mtdconnect.SubmissionUKPropertyCumulative,
		Period: "2025-26", Body: []byte(`{"ukProperty":{"income":{}}}`), Response: []byte(`{}`), SubmittedAt: t0.Add(time.Hour),
	}
	noErr(t, "SaveSubmission", s.SaveSubmission(ctx, second))
	vat := &mtdconnect.Submission{
		UserID: ada.ID, Purpose: mtdconnect.PurposeVAT, Kind: mtdconnect.SubmissionVATReturn, Period: "18A1",
		Body: []byte(`{"periodKey":"18A1"}`), Response: []byte(`{"formBundleNumber":"1"}`), ReceiptID: "r-1", SubmittedAt: t0,
	}
	noErr(t, "SaveSubmission", s.SaveSubmission(ctx, vat))

	got, err := s.Submissions(ctx, ada.ID, mtdconnect.PurposeIncomeTax, 0)
	noErr(t, "Submissions", err)
	if len(got) != 2 || got[0].ID != second.ID || got[1].ID != first.ID {
		t.Fatalf("Submissions = %+v, want the two ITSA ones, newest first", got)
	}
	checkSubmission(t, got[1], first)
	checkSubmission(t, got[0], second)

	got, err = s.Submissions(ctx, ada.ID, mtdconnect.PurposeIncomeTax, 1)
	noErr(t, "Submissions limit 1", err)
	if len(got) != 1 || got[0].ID != second.ID {
		t.Fatalf("Submissions limit 1 = %+v, want the newest", got)
	}

	one, err := s.Submission(ctx, ada.ID, vat.ID)
	noErr(t, "Submission", err)
	checkSubmission(t, one, vat)

	// Another user can neither list nor read Ada's receipts.
	got, err = s.Submissions(ctx, bob.ID, mtdconnect.PurposeIncomeTax, 0)
	noErr(t, "Submissions of bob", err)
	if len(got) != 0 {
		t.Fatalf("bob sees %d submissions, want none", len(got))
	}
	_, err = s.Submission(ctx, bob.ID, vat.ID)
	wantErr(t, "Submission of another user", err, mtdconnect.ErrNotFound)
	_, err = s.Submission(ctx, ada.ID, vat.ID+1000)
	wantErr(t, "Submission unknown", err, mtdconnect.ErrNotFound)
}

func checkSubmission(t *testing.T, got, want *mtdconnect.Submission) {
	t.Helper()
	checkBytes(t, "Body", got.Body, want.Body)
	checkBytes(t, "Response", got.Response, want.Response)
	g, w := *got, *want
	g.Body, g.Response, w.Body, w.Response = nil, nil, nil, nil
	w.PeriodStart, w.PeriodEnd, w.SubmittedAt = stored(w.PeriodStart), stored(w.PeriodEnd), stored(w.SubmittedAt)
	deepEqual(t, "submission", g, w)
}

func testApplication(t *testing.T, s mtdconnect.Store) {
	ctx := t.Context()
	_, err := s.Application(ctx, "sandbox")
	wantErr(t, "Application before any", err, mtdconnect.ErrNotFound)

	a := &mtdconnect.Application{
		Environment: "sandbox", ClientID: "client-1",
		RedirectURIs: []string{"https://example.com/oauth/hmrc/callback", "urn:ietf:wg:oauth:2.0:oob"},
		Secrets: []mtdconnect.ClientSecret{
			{ID: "s2", Sealed: []byte{1, 2, 3}, Last4: "wxyz", AddedAt: t0.Add(time.Hour)},
			{ID: "s1", Sealed: []byte{4, 5}, Last4: "abcd", AddedAt: t0},
		},
		UpdatedAt: t0, UpdatedBy: 7,
	}
	noErr(t, "SaveApplication", s.SaveApplication(ctx, a))
	got, err := s.Application(ctx, "sandbox")
	noErr(t, "Application", err)
	want := *a
	want.UpdatedAt = stored(a.UpdatedAt)
	want.Secrets = []mtdconnect.ClientSecret{a.Secrets[0], a.Secrets[1]}
	for i := range want.Secrets {
		want.Secrets[i].AddedAt = stored(want.Secrets[i].AddedAt)
	}
	deepEqual(t, "application", got, &want)

	// Replacing keeps one row per environment and drops removed secrets.
	a.Secrets = a.Secrets[:1]
	a.ClientID = "client-2"
	noErr(t, "SaveApplication again", s.SaveApplication(ctx, a))
	got, err = s.Application(ctx, "sandbox")
	noErr(t, "Application", err)
	if got.ClientID != "client-2" || len(got.Secrets) != 1 || got.Secrets[0].ID != "s2" {
		t.Fatalf("after replace: %+v", got)
	}
	_, err = s.Application(ctx, "production")
	wantErr(t, "Application of another environment", err, mtdconnect.ErrNotFound)
}

func testConfirmation(t *testing.T, s mtdconnect.Store) {
	ctx := t.Context()
	name := "hmrc-external-services:production"
	_, err := s.Confirmation(ctx, name)
	wantErr(t, "Confirmation before any", err, mtdconnect.ErrNotFound)

	first, err := s.Confirm(ctx, &mtdconnect.Confirmation{Name: name, UserID: 3, At: t0})
	noErr(t, "Confirm", err)
	deepEqual(t, "first confirmation", first, &mtdconnect.Confirmation{Name: name, UserID: 3, At: stored(t0)})

	// The first confirmation stands, whoever confirms again, concurrently.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			got, err := s.Confirm(ctx, &mtdconnect.Confirmation{Name: name, UserID: int64(10 + i), At: t0.Add(time.Hour)})
			if err != nil {
				t.Errorf("Confirm again: %v", err)
				return
			}
			if got.UserID != 3 {
				t.Errorf("Confirm again returned %+v, want the first (user 3)", got)
			}
		})
	}
	wg.Wait()
	got, err := s.Confirmation(ctx, name)
	noErr(t, "Confirmation", err)
	deepEqual(t, "stored confirmation", got, first)
}
