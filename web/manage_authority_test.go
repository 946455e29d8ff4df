package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDisconnectAdviceSaysOneAuthority: a landlord connected for Income
// Tax and VAT who disconnects VAT is told that removing mtdconnect at HMRC
// also ends Income Tax, and it does: HMRC's page lists mtdconnect once, with
// both permissions, and removing it leaves the Income Tax connection
// needing a reconnect.
func TestDisconnectAdviceSaysOneAuthority(t *testing.T) {
	env := newTestEnv(t)
	b := env.vatLandlord(false)
	b.setNINO(testNINO)
	b.connect()

	// The confirmation says it before anything is done.
	f := b.get("/settings/hmrc?purpose=vat").findForm(t, "/settings/hmrc/disconnect")
	b.post("/settings/hmrc/disconnect", f.values).mustContain(t, "removing it there ends both connections")

	f.values.Set("confirm", "yes")
	p := b.post("/settings/hmrc/disconnect", f.values)
	p.mustContain(t, "Disconnected from HMRC.", "HMRC lists mtdconnect once, with all the permissions you gave it: "+
		"removing it there also ends your Income Tax connection. To keep using mtdconnect for Income Tax, leave it at HMRC.")

	// What HMRC's page shows: one application with both permissions.
	manage := env.SimURL + "/applications-manage-authority"
	signIn := b.get(manage).findForm(t, "/applications-manage-authority/sign-in")
	signIn.values.Set("user_id", simUserID)
	signIn.values.Set("password", simPassword)
	p = b.post(env.SimURL+signIn.action, signIn.values)
	if n := strings.Count(p.body, `<tr class="application">`); n != 1 {
		t.Fatalf("HMRC's page lists %d applications, want 1:\n%s", n, p.text())
	}
	p.mustContain(t, "read:self-assessment", "read:vat")
	remove := p.findForm(t, "/applications-manage-authority/remove")
	if p := b.post(env.SimURL+remove.action, remove.values); p.status != http.StatusOK {
		t.Fatalf("remove at HMRC: status %d", p.status)
	}

	// The Income Tax connection is gone with it.
	env.Clock.Advance(5 * time.Hour) // past the access token: the refresh is refused
	test := b.get("/settings/hmrc").findForm(t, "/settings/hmrc/test")
	b.post("/settings/hmrc/test", test.values)
	p = b.get("/settings/hmrc")
	p.mustContain(t, "Needs reconnect")

	// With only one connection, removing at HMRC ends all of it.
	b2 := env.browser()
	b2.signIn(otherEmail, otherPassword)
	b2.setNINO("AB123456C")
	b2.connect()
	f = b2.get("/settings/hmrc").findForm(t, "/settings/hmrc/disconnect")
	f.values.Set("confirm", "yes")
	p = b2.post("/settings/hmrc/disconnect", f.values)
	p.mustContain(t, "Removing mtdconnect there ends all the authority you gave it")
	p.mustNotContain(t, "also ends your")
}
