package hmrc_test

import (
	"reflect"
	"testing"

	"github.com/mtdconnect/mtdconnect/hmrc"
)

// HMRC sends a single field error with its paths at the top level
// (shared reference §3); APIError has no field for them, so they become the
// only item of Errors. The bodies are HMRC's documented shapes.
func TestAPIErrorKeepsPaths(t *testing.T) {
	cases := []struct {
		name string
		body string
		want []hmrc.APIErrorItem
	}{
		{"SingleWithPaths",
			`{"code":"RULE_BOTH_EXPENSES_SUPPLIED","message":"Both expenses and consolidatedExpenses can not be present at the same time","paths":["/ukProperty/expenses"]}`,
			[]hmrc.APIErrorItem{{Code: "RULE_BOTH_EXPENSES_SUPPLIED", Message: "Both expenses and consolidatedExpenses can not be present at the same time", Paths: []string{"/ukProperty/expenses"}}}},
		{"SingleWithoutPaths", `{"code":"FORMAT_NINO","message":"The provided NINO is invalid"}`, nil},
		{"Several",
			`{"code":"INVALID_REQUEST","message":"Invalid request","errors":[{"code":"FORMAT_VALUE","message":"m","paths":["/x","/y"]}]}`,
			[]hmrc.APIErrorItem{{Code: "FORMAT_VALUE", Message: "m", Paths: []string{"/x", "/y"}}}},
		{"NotJSON", `<html>bad gateway</html>`, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := &hmrc.Response{Status: 400, Body: []byte(c.body)}
			ae := hmrc.ParseAPIError("property-business", resp)
			if ae.API != "property-business" || ae.Status != 400 {
				t.Errorf("API %q status %d", ae.API, ae.Status)
			}
			if !reflect.DeepEqual(ae.Errors, c.want) {
				t.Errorf("Errors = %+v, want %+v", ae.Errors, c.want)
			}
		})
	}
}
