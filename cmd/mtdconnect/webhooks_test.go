package main

import (
	"strings"
	"testing"
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
