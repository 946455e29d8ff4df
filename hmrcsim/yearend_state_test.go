package hmrcsim_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// declaredYear is a simulator where 2026-27 was declared with one
// calculation, and a later annual submission was deleted; it returns the
// declared calculation's ID.
func declaredYear(t *testing.T) (*yearEnv, string) {
	t.Helper()
	y := afterYear(t)
	const ty = "2026-27"
	y.putCumulative(ty, wholeYear2627)
	if r := y.call("PUT", annualPath(itsaNINO, y.bid, ty), acceptProp, "", `{"ukProperty":{"adjustments":{"nonResidentLandlord":false,"rentARoom":{"jointlyLet":true}},"allowances":{"structuredBuildingAllowance":[{"amount":100,"building":{"number":"7","postcode":"TF3 4EH"}}]}}}`); r.status != http.StatusOK {
		t.Fatalf("annual: %d %v", r.status, r.body)
	}
	y.trigger(ty, "in-year")
	y.clock.Advance(5 * time.Second)
	id := y.trigger(ty, "intent-to-finalise")
	y.calculation(ty, id)
	if r := y.call("POST", declarePath(itsaNINO, ty, id, "final-declaration"), acceptCalc, "", ""); r.status != http.StatusNoContent {
		t.Fatalf("declare: %d %v", r.status, r.body)
	}
	if r := y.call("PUT", annualPath(itsaNINO, y.bid, "2025-26"), acceptProp, "", `{"ukProperty":{"allowances":{"propertyIncomeAllowance":500}}}`); r.status != http.StatusOK {
		t.Fatalf("annual 2025-26: %d %v", r.status, r.body)
	}
	if r := y.call("DELETE", annualDeletePath(itsaNINO, y.bid, "2025-26"), acceptProp, "", ""); r.status != http.StatusNoContent {
		t.Fatalf("delete 2025-26: %d %v", r.status, r.body)
	}
	return y, id
}

// TestYearEndSurvivesRestart: annual submissions, calculations and the final
// declaration outlive a restart: the same answers, the same refusals, and the
// snapshot saves again byte for byte.
func TestYearEndSurvivesRestart(t *testing.T) {
	y, id := declaredYear(t)
	const ty = "2026-27"
	paths := []string{
		annualPath(itsaNINO, y.bid, ty), calcListPath(itsaNINO, ty, ""), calcPath(itsaNINO, ty, id),
		crystallisationPath(itsaNINO, ""),
	}
	accepts := []string{acceptProp, acceptCalc, acceptCalc, acceptOBL}
	var before []map[string]any
	for i, p := range paths {
		before = append(before, y.call("GET", p, accepts[i], "", "").body)
	}
	snapshot := save(t, y.sim)
	if !bytes.Contains(snapshot, []byte(`"yearEnd"`)) || !bytes.Contains(snapshot, []byte(id)) {
		t.Fatalf("the snapshot has no year end:\n%s", snapshot)
	}

	restarted := &yearEnv{env: y.restarted(t, snapshot, nil), bid: y.bid}
	if again := save(t, restarted.sim); !bytes.Equal(again, snapshot) {
		t.Errorf("a loaded snapshot saves differently:\n got %s\nwant %s", again, snapshot)
	}
	restarted.tok = restarted.connect().AccessToken
	for i, p := range paths {
		r := restarted.call("GET", p, accepts[i], "", "")
		if r.status != http.StatusOK || !jsonEqual(r.body, before[i]) {
			t.Errorf("GET %s after restart: %d %v\nbefore: %v", p, r.status, r.body, before[i])
		}
	}
	// Still declared; the deleted 2025-26 submission is still gone and
	// still dates its change.
	wantError(t, restarted.call("POST", declarePath(itsaNINO, ty, id, "final-declaration"), acceptCalc, "", ""), http.StatusBadRequest, "RULE_FINAL_DECLARATION_RECEIVED")
	wantError(t, restarted.call("GET", annualPath(itsaNINO, y.bid, "2025-26"), acceptProp, "", ""), http.StatusNotFound, "MATCHING_RESOURCE_NOT_FOUND")
	amend := restarted.trigger(ty, "intent-to-amend")
	restarted.calculation(ty, amend)
	if r := restarted.call("POST", declarePath(itsaNINO, ty, amend, "confirm-amendment"), acceptCalc, "", ""); r.status != http.StatusNoContent {
		t.Fatalf("confirm after restart: %d %v", r.status, r.body)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// TestYearEndBadSnapshots: a snapshot with inconsistent year-end data is
// refused and changes nothing.
func TestYearEndBadSnapshots(t *testing.T) {
	y, _ := declaredYear(t)
	good := save(t, y.sim)
	edit := func(change func(ye map[string]any)) string {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		change(m["yearEnd"].(map[string]any))
		b, _ := json.Marshal(m)
		return string(b)
	}
	item := func(ye map[string]any, list string, i int) map[string]any {
		return ye[list].([]any)[i].(map[string]any)
	}
	calcs := func(ye map[string]any) []any { return ye["calculations"].([]any) }
	for _, c := range []struct {
		name, snapshot, want string
	}{
		{"AnnualBadNINO", edit(func(ye map[string]any) { item(ye, "annualSubmissions", 0)["nino"] = "AA123456A" }), "invalid NINO"},
		{"AnnualBadBusiness", edit(func(ye map[string]any) { item(ye, "annualSubmissions", 0)["businessId"] = "X" }), "invalid business ID"},
		{"AnnualTwice", edit(func(ye map[string]any) {
			ye["annualSubmissions"] = append(ye["annualSubmissions"].([]any), item(ye, "annualSubmissions", 1))
		}), "appears twice"},
		{"AnnualInvalidBody", edit(func(ye map[string]any) {
			item(ye, "annualSubmissions", 1)["submission"] = map[string]any{"ukProperty": map[string]any{"allowances": map[string]any{"propertyIncomeAllowance": 5000}}}
		}), "not a valid submission"},
		{"AnnualNoChangeTime", edit(func(ye map[string]any) { delete(item(ye, "annualSubmissions", 0), "changedAt") }), "changedAt is required"},
		{"CalculationRepeated", edit(func(ye map[string]any) { ye["calculations"] = append(calcs(ye), calcs(ye)[0]) }), "ID invalid or repeated"},
		{"CalculationUnknownType", edit(func(ye map[string]any) { item(ye, "calculations", 0)["calculationType"] = "estimate" }), "unknown type"},
		{"InYearDeclared", edit(func(ye map[string]any) { item(ye, "calculations", 0)["finalisedAt"] = "2027-04-10T09:00:00Z" }), "cannot be declared"},
		{"ReadyBeforeRequested", edit(func(ye map[string]any) { item(ye, "calculations", 0)["readyAt"] = "2020-01-01T00:00:00Z" }), "in that order"},
		{"OutOfOrder", edit(func(ye map[string]any) {
			c := calcs(ye)
			c[0], c[1] = c[1], c[0]
		}), "order they were triggered"},
		{"EmptyResult", edit(func(ye map[string]any) {
			item(ye, "calculations", 0)["result"] = map[string]any{"periodFrom": "2026-04-06"}
		}), "result without"},
		{"UnknownField", edit(func(ye map[string]any) { ye["penalties"] = []any{} }), `unknown field "penalties"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := y.sim.LoadState(strings.NewReader(c.snapshot))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("LoadState: %v, want an error containing %q", err, c.want)
			}
			if after := save(t, y.sim); !bytes.Equal(after, good) {
				t.Fatal("a refused snapshot changed the simulator")
			}
		})
	}
	// A simulator without year-end data writes no yearEnd at all.
	if fresh := save(t, newYearEnv(t).sim); bytes.Contains(fresh, []byte("yearEnd")) {
		t.Errorf("an empty year end is written: %s", fresh)
	}
}
