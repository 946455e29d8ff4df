package web_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestNINOAndConnectOneFlow: the National Insurance number typed next to
// Connect to HMRC is saved by Connect; a bad one stops the connect with
// the error next to the field; Test connection saves the number typed
// next to it and, with none, says so at the field rather than sending the
// landlord to the page they are on.
func TestNINOAndConnectOneFlow(t *testing.T) {
	env := newTestEnv(t)
	b := env.browser()
	b.signIn(landlordEmail, landlordPassword)

	p := b.get("/settings/hmrc")
	f := p.findForm(t, "/settings/hmrc/connect")
	if _, ok := f.values["nino"]; !ok {
		t.Fatalf("the connect form has no National Insurance number field: %v", f.values)
	}

	// A bad number: nothing saved, nothing started, the error at the field.
	f.values.Set("nino", "AA12345")
	p = b.post("/settings/hmrc/connect", f.values)
	if p.status != http.StatusBadRequest || strings.HasPrefix(p.url.String(), env.SimURL) {
		t.Fatalf("a bad number: status %d at %s", p.status, p.url)
	}
	p.mustRefuseField(t, "/settings/hmrc/connect", "nino", "must be 2 letters, 6 digits", "AA12345")
	if u := env.user(env.landlord.ID); u.NINO != "" {
		t.Errorf("stored NINO %q", u.NINO)
	}

	// Typed and connected in one go.
	f.values.Set("nino", " aa 12 34 56 a ")
	signIn := b.post("/settings/hmrc/connect", f.values)
	if u := env.user(env.landlord.ID); u.NINO != testNINO {
		t.Errorf("after Connect the stored NINO is %q, want %s", u.NINO, testNINO)
	}
	p = b.get(b.grantAtHMRC(signIn, "grant"))
	p.mustContain(t, "Connected")
	if got := p.findForm(t, "/settings/nino").values.Get("nino"); got != testNINO {
		t.Errorf("the field shows %q", got)
	}

	// Test connection with the field emptied: the page says it at the
	// field; the number stays.
	tf := p.findForm(t, "/settings/hmrc/test")
	tf.values.Set("nino", "")
	u := *env.user(env.landlord.ID)
	u.NINO = ""
	if err := env.Store.UpdateUser(t.Context(), &u); err != nil {
		t.Fatal(err)
	}
	p = b.post("/settings/hmrc/test", tf.values)
	if p.status != http.StatusBadRequest || p.url.Path != "/settings/hmrc/test" {
		t.Fatalf("test without a NINO: status %d at %s", p.status, p.url)
	}
	p.mustRefuseField(t, "/settings/hmrc/test", "nino", "Enter your National Insurance number to test your Income Tax connection", "")
	p.mustNotContain(t, "in your settings")

	// Typed next to Test connection: saved, then tested.
	tf.values.Set("nino", testNINO)
	p = b.post("/settings/hmrc/test", tf.values)
	p.mustContain(t, "HMRC answered: your UK property business is")
	if u := env.user(env.landlord.ID); u.NINO != testNINO {
		t.Errorf("after Test connection the stored NINO is %q", u.NINO)
	}
}
