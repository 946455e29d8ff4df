package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mtdconnect/mtdconnect"
)

// TestFormsTrustOnlyHMRC: the period a form sends back must be one of
// HMRC's obligations, and amounts are plain decimals only; anything else is
// a clear 400 and nothing reaches HMRC's submission APIs or the receipts.
func TestFormsTrustOnlyHMRC(t *testing.T) {
	env := newTestEnv(t)
	b := env.incomeTaxLandlord(false)
	target, pageURL := firstOpen(t, env.Clock.Now())
	form := b.get(pageURL).findForm(t, "/quarterly/submit").values
	nothingSent := func(t *testing.T) {
		t.Helper()
		if _, sent := env.Sim.LastFraudResult("property-business-mtd"); sent {
			t.Error("a refused update reached HMRC")
		}
		if subs, _ := env.Store.Submissions(t.Context(), env.landlord.ID, mtdconnect.PurposeIncomeTax, 10); len(subs) != 0 {
			t.Errorf("a refused update left a receipt: %+v", subs)
		}
	}
	with := func(changes map[string]string) url.Values {
		f := url.Values{}
		for k, v := range form {
			f[k] = v
		}
		f.Set("income.periodAmount", "1000")
		for k, v := range changes {
			f.Set(k, v)
		}
		return f
	}

	t.Run("quarterly period not HMRC's", func(t *testing.T) {
		for _, tt := range []map[string]string{
			{"to": target.end.AddDate(0, 0, -1).Format("2006-01-02")},    // a period end HMRC does not have
			{"from": target.start.AddDate(0, 0, 1).Format("2006-01-02")}, // a later start
			{"to": target.end.AddDate(0, 1, 0).Format("2006-01-02")},     // a longer one, not an obligation's
		} {
			p := b.post("/quarterly/submit", with(tt))
			if p.status != http.StatusBadRequest {
				t.Fatalf("%v: status %d:\n%s", tt, p.status, p.text())
			}
			p.mustContain(t, "This is not one of your quarterly periods", "Nothing was sent to HMRC")
			nothingSent(t)
		}
	})

	t.Run("quarterly amounts in another notation", func(t *testing.T) {
		for _, typed := range []string{"1e5", "0x10", "1_000", "Inf", "1E3"} {
			p := b.post("/quarterly/submit", with(map[string]string{"income.periodAmount": typed}))
			if p.status != http.StatusBadRequest {
				t.Fatalf("%s: status %d:\n%s", typed, p.status, p.text())
			}
			p.mustContain(t, "Enter rents and other property income as an amount in pounds, like 1250.00, in plain figures ("+typed+" is not)")
			nothingSent(t)
		}
	})

	t.Run("API amounts in another notation", func(t *testing.T) {
		cumulative := fmt.Sprintf("/api/v1/users/id:%d/hmrc/property/uk/cumulative/%s", env.landlord.ID, target.taxYear)
		for _, n := range []string{"1e5", "1.5E2", "12345e-2"} {
			body := fmt.Sprintf(`{"fromDate":%q,"toDate":%q,"ukProperty":{"income":{"periodAmount":%s}}}`, target.startS, target.endS, n)
			status, m := env.apiCall(t, http.MethodPut, cumulative, body, batchProcess())
			if status != http.StatusBadRequest || m["error"] != "invalid_json" {
				t.Errorf("%s: %d %v", n, status, m)
			}
			if msg, _ := m["message"].(string); !containsAll(msg, n, "plain decimal notation", "like 1250.00") {
				t.Errorf("%s: message %q does not say how to write it", n, msg)
			}
		}
		nothingSent(t)
	})

	// The good one still goes.
	p := b.post("/quarterly/submit", with(nil))
	if p.status != http.StatusOK {
		t.Fatalf("a good update: status %d:\n%s", p.status, p.text())
	}
}

func TestVATFormTrustsOnlyHMRC(t *testing.T) {
	env := newTestEnv(t)
	b := env.vatLandlord(true)
	p := b.get("/vat")
	good := returnForm(t, p)
	var ended []vatPeriod
	for _, vp := range vatPeriods(env.Clock.Now()) {
		if vp.ended {
			ended = append(ended, vp)
		}
	}
	if len(ended) < 2 || good.Get("periodKey") != ended[0].key {
		t.Fatalf("the form is for %v; ended periods %+v", good, ended)
	}
	for name, tt := range map[string]map[string]string{
		"another period's key": {"periodKey": ended[1].key},
		"a made-up key":        {"periodKey": "99Z9"},
		"a moved start":        {"start": ended[0].start.AddDate(0, 0, 1).Format("2006-01-02")},
		"a moved end":          {"end": ended[0].end.AddDate(0, 0, -1).Format("2006-01-02")},
	} {
		t.Run(name, func(t *testing.T) {
			f := url.Values{}
			for k, v := range good {
				f[k] = v
			}
			for k, v := range tt {
				f.Set(k, v)
			}
			p := b.post("/vat/submit", f)
			if p.status != http.StatusBadRequest {
				t.Fatalf("status %d:\n%s", p.status, p.text())
			}
			p.mustContain(t, "This is not one of your VAT periods", "Nothing was sent to HMRC")
			if subs, _ := env.Store.Submissions(t.Context(), env.landlord.ID, mtdconnect.PurposeVAT, 10); len(subs) != 0 {
				t.Errorf("a refused return left a receipt: %+v", subs)
			}
		})
	}
	f := url.Values{}
	for k, v := range good {
		f[k] = v
	}
	f.Set("vatDueSales", "1e3")
	p = b.post("/vat/submit", f)
	if p.status != http.StatusBadRequest {
		t.Fatalf("1e3: status %d", p.status)
	}
	p.mustContain(t, "Enter box 1 as an amount in pounds, like 1250.00, in plain figures (1e3 is not)")

	if p := b.post("/vat/submit", good); p.status != http.StatusOK {
		t.Fatalf("the good return: status %d:\n%s", p.status, p.text())
	}
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
