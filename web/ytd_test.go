package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

// TestYearToDateFromLastUpdate: the next update's form starts from the
// last update's figures, and a received period is corrected from its
// receipt: a new cumulative update for the same period, which HMRC holds
// instead.
func TestYearToDateFromLastUpdate(t *testing.T) {
	env := newTestEnv(t)
	b := env.incomeTaxLandlord(false)
	target, pageURL := firstOpen(t, env.Clock.Now())

	f := b.get(pageURL).findForm(t, "/quarterly/submit").values
	if f.Get("income.periodAmount") != "" {
		t.Fatalf("the first form is not empty: %v", f)
	}
	f.Set("income.periodAmount", "1000.00")
	f.Set("expenses.repairsAndMaintenance", "150.5")
	p := b.post("/quarterly/submit", f)
	if p.status != http.StatusOK || !strings.HasPrefix(p.url.Path, "/quarterly/receipts/") {
		t.Fatalf("first update ended on %s (status %d)", p.url, p.status)
	}
	receipt := p.url.Path
	env.Clock.Advance(time.Hour + 5*time.Minute) // HMRC shows it received

	// The next period's form holds the figures so far.
	p = b.get(pageURL)
	next := p.findForm(t, "/quarterly/submit").values
	if next.Get("to") == target.endS {
		t.Fatalf("the form is for the period just sent: %v", next)
	}
	if next.Get("income.periodAmount") != "1000.00" || next.Get("expenses.repairsAndMaintenance") != "150.5" {
		t.Errorf("the next form starts from %v, not the last update's figures", next)
	}
	p.mustContain(t, "The figures of your last update ("+target.startW+" to "+target.endW+") are filled in")

	// The received period: corrected from its receipt.
	rp := b.get(receipt)
	rp.mustContain(t, "Correct this update")
	link := fmt.Sprintf(`href="/quarterly?taxYear=%s&amp;period=%s#update"`, target.taxYear, target.endS)
	if !strings.Contains(rp.body, link) {
		t.Fatalf("no correction link %s on the receipt:\n%s", link, rp.body)
	}
	p = b.get(fmt.Sprintf("/quarterly?taxYear=%s&period=%s", target.taxYear, target.endS))
	p.mustContain(t, target.startW+" to "+target.endW+" "+target.dueW+" Received", "Corrected update for "+target.startW+" to "+target.endW,
		"HMRC has an update for this period. Send your corrected totals: they replace it.")
	c := p.findForm(t, "/quarterly/submit").values
	if c.Get("from") != target.startS || c.Get("to") != target.endS || c.Get("income.periodAmount") != "1000.00" {
		t.Fatalf("correction form %v", c)
	}
	c.Set("income.periodAmount", "1200.00")
	p = b.post("/quarterly/submit", c)
	if p.status != http.StatusOK || !strings.HasPrefix(p.url.Path, "/quarterly/receipts/") || p.url.Path == receipt {
		t.Fatalf("correction ended on %s (status %d):\n%s", p.url, p.status, p.text())
	}
	if got, err := env.itsa.UKPropertyCumulative(t.Context(), env.landlord.ID, testNINO, target.taxYear, mustBatch(t, env)); err != nil ||
		got.UKProperty.Income.PeriodAmount.String() != "1200.00" || got.ToDate != target.endS {
		t.Errorf("HMRC holds %+v, %v", got, err)
	}
	if subs, _ := env.Store.Submissions(t.Context(), env.landlord.ID, mtdconnect.PurposeIncomeTax, 10); len(subs) != 2 {
		t.Errorf("%d receipts, want the first and the correction", len(subs))
	}
	// The first receipt now says a later update replaced it.
	b.get(receipt).mustContain(t, "A later update of this tax year replaced these figures")
}
