package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/seal"
	"github.com/mtdconnect/mtdconnect/sqlite"
	"github.com/mtdconnect/mtdconnect/webhook"
)

func newSealer(t *testing.T) *seal.Sealer {
	t.Helper()
	h, err := seal.NewKeyset()
	if err != nil {
		t.Fatal(err)
	}
	s, err := seal.New(h)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openStore(t *testing.T) mtdconnect.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "mtd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// receiver is a platform's endpoint: it verifies every message with the
// Standard Webhooks algorithm and fails while down.
type receiver struct {
	t      *testing.T
	secret func() string
	mu     sync.Mutex
	down   bool
	status int                 // answered when down; 0: 503
	seen   map[string][]string // webhook-id → bodies
	tries  map[string]int
	bad    int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	id := r.Header.Get(webhook.HeaderID)
	rc.tries[id]++
	if err := webhook.Verify(rc.secret(), r.Header, body, time.Now()); err != nil {
		rc.bad++
		rc.t.Errorf("message %s does not verify: %v", id, err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if rc.down {
		status := rc.status
		if status == 0 {
			status = http.StatusServiceUnavailable
		}
		w.WriteHeader(status)
		return
	}
	rc.seen[id] = append(rc.seen[id], string(body))
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) set(down bool, status int) {
	rc.mu.Lock()
	rc.down, rc.status = down, status
	rc.mu.Unlock()
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.seen)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type deployment struct {
	store   mtdconnect.Store
	manager *webhook.Manager
	user    *mtdconnect.User
	sealer  *seal.Sealer
}

func newDeployment(t *testing.T, policy webhook.Policy) *deployment {
	s := openStore(t)
	u := &mtdconnect.User{Ref: "landlord-1", Email: "ada@example.com"}
	if err := s.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	sealer := newSealer(t)
	return &deployment{store: s, sealer: sealer, user: u, manager: &webhook.Manager{Store: s, Sealer: sealer, Policy: policy}}
}

func (d *deployment) dispatch(t *testing.T, policy webhook.Policy) {
	disp, err := webhook.NewDispatcher(webhook.DispatcherConfig{Store: d.store, Sealer: d.sealer, Policy: policy,
		Poll: 10 * time.Millisecond, Lease: 5 * time.Second, Logger: slog.New(slog.DiscardHandler),
		Schedule: []time.Duration{20 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond,
			100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { disp.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func (d *deployment) events(t *testing.T, n int, typ string) {
	t.Helper()
	for i := range n {
		data, _ := json.Marshal(map[string]any{"landlord": d.user.Handle(), "purpose": "itsa", "i": i})
		if _, err := d.store.AppendEvents(t.Context(), &mtdconnect.Event{UserID: d.user.ID, Type: typ, Data: data}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDeliverAfterReceiverDown: every message verifies; a receiver down
// for a while gets every event afterwards, each with the webhook-id it
// was first tried with, in a body that did not change.
func TestDeliverAfterReceiverDown(t *testing.T) {
	policy := webhook.Policy{AllowLoopback: true}
	d := newDeployment(t, policy)
	var secret string
	rc := &receiver{t: t, secret: func() string { return secret }, seen: map[string][]string{}, tries: map[string]int{}, down: true}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	ep, sec, err := d.manager.Create(t.Context(), srv.URL+"/hooks", nil)
	if err != nil {
		t.Fatal(err)
	}
	secret = sec
	d.events(t, 20, mtdconnect.EventConnected)
	d.dispatch(t, policy)
	waitFor(t, "retries while down", func() bool {
		ds, _ := d.store.WebhookDeliveries(t.Context(), ep.ID, 0)
		for _, dl := range ds {
			if dl.Attempts < 2 {
				return false
			}
		}
		return true
	})
	rc.set(false, 0)
	waitFor(t, "every event delivered", func() bool {
		ds, _ := d.store.WebhookDeliveries(t.Context(), ep.ID, 0)
		for _, dl := range ds {
			if dl.State() != "delivered" {
				return false
			}
		}
		return rc.count() == 20
	})

	for id, bodies := range rc.seen {
		if rc.tries[id] < 3 {
			t.Errorf("%s tried %d times, want retries with the same webhook-id", id, rc.tries[id])
		}
		var msg struct {
			Type      string         `json:"type"`
			Timestamp time.Time      `json:"timestamp"`
			Data      map[string]any `json:"data"`
		}
		if err := json.Unmarshal([]byte(bodies[0]), &msg); err != nil {
			t.Fatalf("body %s: %v", bodies[0], err)
		}
		if msg.Type != mtdconnect.EventConnected || msg.Data["landlord"] != "landlord-1" || msg.Data["sequence"] == nil || msg.Timestamp.IsZero() {
			t.Errorf("body %s", bodies[0])
		}
	}
	ds, err := d.store.WebhookDeliveries(t.Context(), ep.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, dl := range ds {
		if dl.State() != "delivered" || dl.LastStatus != 204 {
			t.Errorf("delivery %d: %s %d", dl.ID, dl.State(), dl.LastStatus)
		}
	}
}

// TestRotationSignsWithBoth: during the overlap a receiver with either
// secret verifies.
func TestRotationSignsWithBoth(t *testing.T) {
	policy := webhook.Policy{AllowLoopback: true}
	d := newDeployment(t, policy)
	var old string
	rc := &receiver{t: t, secret: func() string { return old }, seen: map[string][]string{}, tries: map[string]int{}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	ep, sec, err := d.manager.Create(t.Context(), srv.URL, []string{mtdconnect.EventRecovered})
	if err != nil {
		t.Fatal(err)
	}
	old = sec
	_, newSecret, err := d.manager.Rotate(t.Context(), ep.ID)
	if err != nil || newSecret == old {
		t.Fatalf("Rotate: %v", err)
	}
	d.events(t, 1, mtdconnect.EventRecovered)
	d.events(t, 1, mtdconnect.EventConnected) // not wanted by the endpoint
	d.dispatch(t, policy)
	waitFor(t, "delivered with the old secret", func() bool { return rc.count() == 1 })
	rc.mu.Lock()
	rc.secret = func() string { return newSecret }
	rc.mu.Unlock()
	d.events(t, 1, mtdconnect.EventRecovered)
	waitFor(t, "delivered with the new secret", func() bool { return rc.count() == 2 })
	time.Sleep(50 * time.Millisecond)
	if rc.count() != 2 {
		t.Errorf("an event of a type the endpoint did not want was sent")
	}
}

// TestGoneDisables: 410 disables the endpoint; later events wait.
func TestGoneDisables(t *testing.T) {
	policy := webhook.Policy{AllowLoopback: true}
	d := newDeployment(t, policy)
	var secret string
	rc := &receiver{t: t, secret: func() string { return secret }, seen: map[string][]string{}, tries: map[string]int{}, down: true, status: http.StatusGone}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	ep, sec, err := d.manager.Create(t.Context(), srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	secret = sec
	d.events(t, 1, mtdconnect.EventConnected)
	d.dispatch(t, policy)
	waitFor(t, "disabled", func() bool {
		e, err := d.store.WebhookEndpoint(t.Context(), ep.ID)
		return err == nil && !e.DisabledAt.IsZero()
	})
	d.events(t, 3, mtdconnect.EventConnected)
	time.Sleep(100 * time.Millisecond)
	rc.mu.Lock()
	tries := 0
	for _, n := range rc.tries {
		tries += n
	}
	rc.mu.Unlock()
	if tries != 1 {
		t.Errorf("a disabled endpoint was sent %d requests, want only the one answered 410", tries)
	}
}

// TestRedirectsAndPrivateAddresses: a redirect is an answer, not followed;
// a loopback receiver not allowed is refused at dial time, and retried.
func TestRedirectsAndPrivateAddresses(t *testing.T) {
	var followed bool
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { followed = true }))
	defer target.Close()
	redirect := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusTemporaryRedirect))
	defer redirect.Close()

	allowed := webhook.Policy{AllowLoopback: true}
	d := newDeployment(t, allowed)
	ep, _, err := d.manager.Create(t.Context(), redirect.URL+"/hooks?token=s3cret", nil)
	if err != nil {
		t.Fatal(err)
	}
	d.events(t, 1, mtdconnect.EventConnected)
	// The dispatcher does not allow loopback, though the endpoint was
	// made when it was: the dial is refused.
	strict := &deployment{store: d.store, sealer: d.sealer}
	strict.dispatch(t, webhook.Policy{})
	var dl *mtdconnect.WebhookDelivery
	waitFor(t, "an attempt refused", func() bool {
		ds, _ := d.store.WebhookDeliveries(t.Context(), ep.ID, 0)
		dl = ds[0]
		return dl.Attempts > 0
	})
	if dl.LastStatus != 0 || !strings.Contains(dl.LastError, "not allowed") || dl.State() != "pending" || strings.Contains(dl.LastError, "s3cret") {
		t.Errorf("attempt to a loopback receiver not allowed: %d %q %s", dl.LastStatus, dl.LastError, dl.State())
	}

	d2 := newDeployment(t, allowed)
	ep2, _, err := d2.manager.Create(t.Context(), redirect.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	d2.events(t, 1, mtdconnect.EventConnected)
	d2.dispatch(t, allowed)
	waitFor(t, "an attempt answered", func() bool {
		ds, _ := d2.store.WebhookDeliveries(t.Context(), ep2.ID, 0)
		dl = ds[0]
		return dl.Attempts > 0
	})
	if dl.LastStatus != http.StatusTemporaryRedirect || followed || dl.State() != "pending" {
		t.Errorf("redirect: status %d followed %v state %s", dl.LastStatus, followed, dl.State())
	}
}

func TestCheckURL(t *testing.T) {
	for _, c := range []struct {
		url    string
		policy webhook.Policy
		ok     bool
	}{
		{"https://platform.example/hooks", webhook.Policy{}, true},
		{"http://platform.example/hooks", webhook.Policy{}, false},
		{"http://platform.example/hooks", webhook.Policy{AllowLoopback: true}, false},
		{"http://127.0.0.1:8080/hooks", webhook.Policy{}, false},
		{"http://127.0.0.1:8080/hooks", webhook.Policy{AllowLoopback: true}, true},
		{"http://localhost:8080/hooks", webhook.Policy{AllowLoopback: true}, true},
		{"https://localhost/hooks", webhook.Policy{}, false},
		{"https://[::1]/hooks", webhook.Policy{AllowLoopback: true}, true},
		{"https://10.0.0.5/hooks", webhook.Policy{AllowLoopback: true}, false},
		{"https://10.0.0.5/hooks", webhook.Policy{AllowPrivate: true}, true},
		{"https://192.168.1.1/hooks", webhook.Policy{}, false},
		{"https://169.254.169.254/latest/meta-data", webhook.Policy{}, false},
		{"https://100.64.0.1/", webhook.Policy{}, false},
		{"https://[fd00::1]/", webhook.Policy{}, false},
		{"https://[::ffff:10.0.0.1]/", webhook.Policy{}, false},
		{"https://0.0.0.0/", webhook.Policy{AllowPrivate: true, AllowLoopback: true}, false},
		{"ftp://platform.example/", webhook.Policy{}, false},
		{"/hooks", webhook.Policy{}, false},
		{"https://user:pw@platform.example/", webhook.Policy{}, false},
		{"https://platform.example/#x", webhook.Policy{}, false},
		{"https://" + strings.Repeat("a", 2000) + ".example/", webhook.Policy{}, false},
	} {
		_, err := c.policy.CheckURL(c.url)
		if (err == nil) != c.ok {
			t.Errorf("CheckURL(%.60s, %+v) = %v, want ok %v", c.url, c.policy, err, c.ok)
		}
	}
}

func TestBody(t *testing.T) {
	at := time.Date(2026, 12, 4, 10, 0, 0, 123_000_000, time.UTC)
	for _, c := range []struct{ data, want string }{
		{`{"landlord":"l1"}`, `{"type":"connection.connected","timestamp":"2026-12-04T10:00:00.123Z","data":{"sequence":7,"landlord":"l1"}}`},
		{`{}`, `{"type":"connection.connected","timestamp":"2026-12-04T10:00:00.123Z","data":{"sequence":7}}`},
	} {
		got := string(webhook.Body(&mtdconnect.Event{Type: mtdconnect.EventConnected, Seq: 7, Data: []byte(c.data), CreatedAt: at}))
		if got != c.want || !json.Valid([]byte(got)) {
			t.Errorf("Body(%s) = %s", c.data, got)
		}
	}
}
