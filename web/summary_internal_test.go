package web

import (
	"strings"
	"testing"
)

// TestSummaryInPageOrder: the error summary lists the problems in the
// order of their fields on the page, whatever order they were found in.
func TestSummaryInPageOrder(t *testing.T) {
	page := func(items ...string) string {
		var b strings.Builder
		b.WriteString(`<main><div class="error-summary" role="alert" id="error-summary" tabindex="-1" autofocus aria-labelledby="error-summary-title">
  <h2 id="error-summary-title">There is a problem</h2>
  <ul>`)
		for _, it := range items {
			b.WriteString("\n    <li><a href=\"#" + it + "\">Problem with " + it + "</a></li>")
		}
		b.WriteString(`
  </ul>
</div>
<form><input id="rent"><input id="repairs"><fieldset id="expenses"><input id="finance"></fieldset></form></main>`)
		return b.String()
	}
	for _, tc := range []struct {
		name string
		in   []string
		want []string
	}{
		{"HMRC's order", []string{"finance", "rent", "expenses", "repairs"}, []string{"rent", "repairs", "expenses", "finance"}},
		{"already in order", []string{"rent", "finance"}, []string{"rent", "finance"}},
		{"unknown field last", []string{"nowhere", "repairs", "rent"}, []string{"rent", "repairs", "nowhere"}},
		{"one", []string{"finance"}, []string{"finance"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(summaryInPageOrder([]byte(page(tc.in...))))
			if want := page(tc.want...); got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
	// No summary, or markup that is not the partial's: unchanged.
	for _, in := range []string{`<main><p>fine</p></main>`,
		`<div class="error-summary" role="alert"><h2>There is a problem</h2><ul><li>not a link</li><li><a href="#b">b</a></li></ul></div><input id="b">`} {
		if got := string(summaryInPageOrder([]byte(in))); got != in {
			t.Errorf("%q became %q", in, got)
		}
	}
}

// TestSummaryRangeOnce: HMRC's limits shared by several problems are said
// once, at the summary's end; a range only one problem has stays in it.
func TestSummaryRangeOnce(t *testing.T) {
	const head = `<div class="error-summary" role="alert" id="error-summary" tabindex="-1" autofocus aria-labelledby="error-summary-title">
  <h2 id="error-summary-title">There is a problem</h2>
  <ul>`
	const tail = "\n  </ul>\n</div><input id=\"a\"><input id=\"b\"><input id=\"c\">"
	li := func(id, text string) string { return "\n    <li><a href=\"#" + id + "\">" + text + "</a></li>" }
	in := head +
		li("b", "Enter box 6 in whole pounds, with no pence, between −£9,999,999,999,999 and £9,999,999,999,999") +
		li("a", "Enter box 7 in whole pounds, with no pence, between −£9,999,999,999,999 and £9,999,999,999,999") +
		li("c", "Enter box 5 as £0 or more, up to £99,999,999,999.99, with no more than 2 decimal places") + tail
	want := head +
		li("a", "Enter box 7 in whole pounds, with no pence") +
		li("b", "Enter box 6 in whole pounds, with no pence") +
		li("c", "Enter box 5 as £0 or more, up to £99,999,999,999.99, with no more than 2 decimal places") +
		"\n    <li>HMRC accepts amounts between −£9,999,999,999,999 and £9,999,999,999,999.</li>" + tail
	if got := string(summaryInPageOrder([]byte(in))); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
