package storetest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

// testSealedSamples: a store with nothing sealed has no samples (a new
// keyset may be generated for it); each kind of sealed data shows up,
// at most mtdconnect.SealedSampleLimit values of a kind.
func testSealedSamples(t *testing.T, s mtdconnect.Store) {
	ctx := t.Context()
	samples := func() [][]byte {
		t.Helper()
		got, err := s.SealedSamples(ctx)
		noErr(t, "SealedSamples", err)
		return got
	}
	if got := samples(); len(got) != 0 {
		t.Fatalf("an empty store: %d samples %x, want none", len(got), got)
	}
	// Users, sessions and API keys alone seal nothing.
	u := mustUser(t, s, "ada@example.com")
	noErr(t, "CreateSession", s.CreateSession(ctx, &mtdconnect.Session{TokenHash: []byte("session-hash"), UserID: u.ID,
		CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}))
	if got := samples(); len(got) != 0 {
		t.Fatalf("a store with a user only: samples %x, want none", got)
	}

	// More connections than the limit: the samples stay bounded.
	for i := range mtdconnect.SealedSampleLimit + 2 {
		o := mustUser(t, s, fmt.Sprintf("owner%d@example.com", i))
		c := fullConnection(o.ID, mtdconnect.PurposeIncomeTax)
		c.Tokens = []byte(fmt.Sprintf("sealed tokens %d", i))
		noErr(t, "SaveConnection", s.SaveConnection(ctx, c))
	}
	noErr(t, "SetTOTP", s.SetTOTP(ctx, u.ID, []byte("sealed totp"), 0))
	noErr(t, "CreatePendingAuthorization", s.CreatePendingAuthorization(ctx, &mtdconnect.PendingAuthorization{
		State: "st-1", UserID: u.ID, Purpose: mtdconnect.PurposeVAT, Verifier: []byte("sealed verifier"),
		RedirectURI: "https://mtd.example/callback", CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute)}))
	noErr(t, "SaveApplication", s.SaveApplication(ctx, &mtdconnect.Application{
		Environment: "sandbox", ClientID: "client-1", UpdatedAt: t0,
		Secrets: []mtdconnect.ClientSecret{{ID: "s1", Sealed: []byte("sealed secret\x00\xff"), Last4: "abcd", AddedAt: t0}},
	}))

	noErr(t, "CreateWebhookEndpoint", s.CreateWebhookEndpoint(ctx, &mtdconnect.WebhookEndpoint{
		UID: "ep_sealed", URL: "https://platform.example/hooks", Secret: []byte("sealed webhook secret"),
		PreviousSecret: []byte("sealed webhook previous"), PreviousSecretUntil: t0.Add(time.Hour), CreatedAt: t0}))

	got := samples()
	count := func(prefix string) int {
		n := 0
		for _, b := range got {
			if bytes.HasPrefix(b, []byte(prefix)) {
				n++
			}
		}
		return n
	}
	for _, k := range []struct {
		prefix string
		want   int
	}{
		{"sealed tokens ", mtdconnect.SealedSampleLimit},
		{"sealed totp", 1},
		{"sealed verifier", 1},
		{"sealed secret\x00\xff", 1},
		{"sealed webhook secret", 1},
		{"sealed webhook previous", 1},
	} {
		if n := count(k.prefix); n != k.want {
			t.Errorf("samples of %q: %d, want %d (all: %q)", k.prefix, n, k.want, got)
		}
	}
	if len(got) != mtdconnect.SealedSampleLimit+5 {
		t.Errorf("%d samples, want %d: %q", len(got), mtdconnect.SealedSampleLimit+5, got)
	}
}
