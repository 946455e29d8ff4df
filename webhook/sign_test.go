package webhook_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect/webhook"
)

// The Standard Webhooks specification's test vector (its reference
// libraries' TestWebhookSign).
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTimestamp = 1614265330
	vectorBody      = `{"test": 2432232314}`
	vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignVector(t *testing.T) {
	got, err := webhook.Sign(vectorSecret, vectorID, time.Unix(vectorTimestamp, 0), []byte(vectorBody))
	if err != nil || got != vectorSignature {
		t.Fatalf("Sign = %q, %v; want %q", got, err, vectorSignature)
	}
}

func TestVerify(t *testing.T) {
	at := time.Unix(vectorTimestamp, 0)
	header := func(sig string) http.Header {
		h := http.Header{}
		h.Set(webhook.HeaderID, vectorID)
		h.Set(webhook.HeaderTimestamp, strconv.Itoa(vectorTimestamp))
		h.Set(webhook.HeaderSignature, sig)
		return h
	}
	other := "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
	for _, c := range []struct {
		name string
		h    http.Header
		body string
		now  time.Time
		ok   bool
	}{
		{"the vector", header(vectorSignature), vectorBody, at, true},
		{"among others (a rotation's overlap)", header(other + " " + vectorSignature), vectorBody, at.Add(time.Minute), true},
		{"another signature", header(other), vectorBody, at, false},
		{"another body", header(vectorSignature), `{"test": 2432232315}`, at, false},
		{"too old", header(vectorSignature), vectorBody, at.Add(webhook.Tolerance + time.Second), false},
		{"from the future", header(vectorSignature), vectorBody, at.Add(-webhook.Tolerance - time.Second), false},
		{"no id", func() http.Header { h := header(vectorSignature); h.Del(webhook.HeaderID); return h }(), vectorBody, at, false},
	} {
		err := webhook.Verify(vectorSecret, c.h, []byte(c.body), c.now)
		if (err == nil) != c.ok {
			t.Errorf("%s: Verify = %v, want ok %v", c.name, err, c.ok)
		}
	}
}

func TestNewSecret(t *testing.T) {
	a, b := webhook.NewSecret(), webhook.NewSecret()
	if a == b || len(a) != len("whsec_")+44 || a[:6] != "whsec_" {
		t.Fatalf("NewSecret = %q, %q", a, b)
	}
	if _, err := webhook.Sign(a, "msg_1", time.Now(), nil); err != nil {
		t.Fatalf("Sign with a new secret: %v", err)
	}
}
