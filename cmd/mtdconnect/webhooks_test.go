package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/webhook"
)

// The webhook commands: add refuses a bad URL or event type (nothing
// stored) and prints the secret once; list never shows it; rotate-secret
// prints a new one; deliveries shows the log; delete removes the endpoint.
func TestWebhooksCommands(t *testing.T) {
	e := newCLIEnv(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"webhooks", "add", "--url", "http://platform.example/hooks"}, "https"},
		{[]string{"webhooks", "add", "--url", "https://10.0.0.1/hooks"}, "private"},
		{[]string{"webhooks", "add", "--url", "https://platform.example/hooks", "--events", "connection.exploded"}, `unknown event type "connection.exploded"`},
		{[]string{"webhooks", "delete"}, "--id is required"},
		{[]string{"webhooks", "delete", "--id", "9"}, "no webhook endpoint 9"},
	} {
		if msg := e.fail(t, "", c.args...); !strings.Contains(msg, c.want) {
			t.Errorf("%v: %s, want %q", c.args, msg, c.want)
		}
	}
	if list := e.run(t, nil, "webhooks", "list"); !strings.Contains(list, "No webhook endpoints") {
		t.Fatalf("refused endpoints were stored:\n%s", list)
	}

	out, errOut, err := e.exec(t, nil, "webhooks", "add", "--url", "https://platform.example/hooks", "--events", "connection.connected, submission.accepted")
	if err != nil {
		t.Fatal(err, errOut)
	}
	secret := strings.TrimSpace(out)
	if !strings.HasPrefix(secret, "whsec_") || !strings.Contains(errOut, "shown once") {
		t.Fatalf("add printed %q / %q", out, errOut)
	}
	list := e.run(t, nil, "webhooks", "list")
	if strings.Contains(list, secret) || !strings.Contains(list, "https://platform.example/hooks") ||
		!strings.Contains(list, "connection.connected, submission.accepted") || !strings.Contains(list, "enabled") {
		t.Errorf("list:\n%s", list)
	}
	out, _, err = e.exec(t, nil, "webhooks", "rotate-secret", "--id", "1")
	if next := strings.TrimSpace(out); err != nil || !strings.HasPrefix(next, "whsec_") || next == secret {
		t.Fatalf("rotate-secret: %q %v", out, err)
	}
	if log := e.run(t, nil, "webhooks", "deliveries", "--id", "1"); !strings.Contains(log, "WEBHOOK-ID") {
		t.Errorf("deliveries:\n%s", log)
	}
	e.run(t, nil, "webhooks", "delete", "--id", "1")
	if list := e.run(t, nil, "webhooks", "list"); !strings.Contains(list, "No webhook endpoints") {
		t.Errorf("after delete:\n%s", list)
	}
}

// SIGTERM while a webhook is at the receiver: the attempt finishes and is
// recorded (delivered, sent once), then serve exits 0. Nothing is lost,
// nothing sent twice.
func TestServeDrainsWebhookOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	e := newCLIEnv(t)
	e.vars["MTDCONNECT_ADDR"] = freeAddr(t)
	e.vars["MTDCONNECT_WEBHOOKS_ALLOW_LOOPBACK"] = "true"
	var secret atomic.Value
	secret.Store("")
	arrived := make(chan string, 10)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify(secret.Load().(string), r.Header, body, time.Now()); err != nil {
			t.Errorf("a message does not verify: %v", err)
		}
		arrived <- r.Header.Get(webhook.HeaderID)
		time.Sleep(2 * time.Second) // the stop arrives meanwhile
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()
	out, errOut, err := e.exec(t, nil, "webhooks", "add", "--url", receiver.URL+"/hooks")
	if err != nil {
		t.Fatal(err, errOut)
	}
	secret.Store(strings.TrimSpace(out))

	store := openTestStore(t, e)
	u, err := store.UserByEmail(t.Context(), testEmail)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.AppendEvents(t.Context(), &mtdconnect.Event{UserID: u.ID, Type: mtdconnect.EventRecovered,
		Data: []byte(`{"landlord":"id:1","purpose":"itsa"}`)}); err != nil {
		t.Fatal(err)
	}
	srv := e.startChild(t, "serve")
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		t.Fatalf("no webhook arrived within 30s\n%s", srv.logs)
	}
	srv.signal(syscall.SIGTERM)
	if err := srv.wait(time.Minute); err != nil {
		t.Errorf("serve exited with %v", err)
	}
	ds, err := store.WebhookDeliveries(t.Context(), 1, 0)
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries %v %v", ds, err)
	}
	if d := ds[0]; d.State() != "delivered" || d.Attempts != 1 || d.LastStatus != http.StatusNoContent {
		t.Errorf("after the stop: %s, %d attempts, status %d; want delivered once\n%s", d.State(), d.Attempts, d.LastStatus, srv.logs)
	}
	if len(arrived) != 0 {
		t.Error("the message was sent again")
	}
	if !strings.Contains(srv.logs.String(), "webhook dispatcher stopped") {
		t.Errorf("the log does not say the dispatcher stopped:\n%s", srv.logs)
	}
}
