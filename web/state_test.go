package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
)

// TestObligationStateOneWording: the quarterly page, the tax year page and
// the API word each obligation's state the same way, and periods due before
// the landlord connected are "Not sent", not a red "Overdue"; one that falls
// due while connected is "Overdue" everywhere.
func TestObligationStateOneWording(t *testing.T) {
	env := newTestEnv(t)
	b := env.incomeTaxLandlord(false)
	now := env.Clock.Now()
	y := itsa.CurrentTaxYear(now)
	prev := periods(y-1, now)
	current := periods(y, now)

	// Before: last year's periods, all due before the landlord connected.
	p := b.get("/quarterly?taxYear=" + (y - 1).String())
	for _, ob := range prev {
		p.mustContain(t, ob.startW+" to "+ob.endW+" "+ob.dueW+" Not sent Due before you connected mtdconnect")
	}
	if strings.Contains(p.body, "tag-overdue") {
		t.Error("last year's periods are shown as red overdue")
	}
	ty := b.get("/tax-year/" + (y - 1).String())
	ty.mustContain(t, "Quarterly update "+prev[0].startW+" to "+prev[0].endW+" "+prev[0].dueW+" Not sent")
	ty.mustNotContain(t, "Overdue")
	status, m := env.apiCall(t, http.MethodGet, fmt.Sprintf("/api/v1/users/id:%d/hmrc/obligations?taxYear=%s", env.landlord.ID, y-1), "", batchProcess())
	if status != http.StatusOK {
		t.Fatalf("API: %d %v", status, m)
	}
	for _, o := range m["obligations"].([]any) {
		if o := o.(map[string]any); o["state"] != "due_before_connected" || o["status"] != "open" {
			t.Errorf("API obligation %v: want state due_before_connected, HMRC's status open", o)
		}
	}

	// A period of this year that falls due while connected: Overdue, in
	// every place, and still HMRC's "open" in the API's status.
	var later *period
	for i, ob := range current {
		if ob.due.After(now) {
			later = &current[i]
			break
		}
	}
	if later == nil {
		t.Skip("no period of this tax year falls due later")
	}
	p = b.get("/quarterly?taxYear=" + y.String())
	p.mustContain(t, later.startW+" to "+later.endW+" "+later.dueW+" Open")
	env.Clock.Advance(later.due.Sub(now) + 48*time.Hour)
	b.signIn(landlordEmail, landlordPassword) // the session has expired meanwhile
	p = b.get("/quarterly?taxYear=" + y.String())
	p.mustContain(t, later.startW+" to "+later.endW+" "+later.dueW+" Overdue")
	b.get("/tax-year/"+y.String()).mustContain(t, later.startW+" to "+later.endW+" "+later.dueW+" 2 days overdue Overdue")
	_, m = env.apiCall(t, http.MethodGet, fmt.Sprintf("/api/v1/users/id:%d/hmrc/tax-years/%s", env.landlord.ID, y), "", batchProcess())
	found := false
	for _, o := range m["quarterly"].([]any) {
		if o := o.(map[string]any); o["period_end"] == later.endS {
			found = true
			if o["state"] != "overdue" || o["status"] != "open" {
				t.Errorf("API deadline %v: want state overdue, status open", o)
			}
		}
	}
	if !found {
		t.Errorf("the API's year has no %s: %v", later.endS, m)
	}
}
