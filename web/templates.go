package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/*
var staticFS embed.FS

// pageNames are the views; each is parsed once, with the layout, at start.
var pageNames = []string{
	"signin", "signin_code", "message",
	"settings_hmrc", "disconnect", "security", "security_totp", "security_recovery",
	"quarterly", "quarterly_receipt",
	"taxyear", "calculation", "adjustments", "amend", "correction", "yearend_receipt",
	"vat", "vat_receipt", "vat_return",
	"admin_hmrc", "admin_keys", "admin_connect", "admin_webhooks",
	"connect", "connect_result",
}

// templateFuncs are the functions the templates call.
var templateFuncs = template.FuncMap{
	// problem is a one-item error summary (the errorSummary partial) of
	// text, linking to anchor; none when text is empty.
	"problem": func(anchor, text string) []summaryItem {
		if text == "" {
			return nil
		}
		return []summaryItem{{Anchor: anchor, Text: text}}
	},
}

func parseTemplates() (map[string]*template.Template, error) {
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(templateFuncs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web: parse template %s: %w", name, err)
		}
		pages[name] = t
	}
	// Every template file must be a declared view (or the layout), so a
	// new file cannot be silently left out.
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if _, ok := pages[name]; !ok && name != "layout" {
			return nil, fmt.Errorf("web: template %s is not a declared view", f)
		}
	}
	return pages, nil
}

// layoutData is what layout.html gets; Data goes to the view's "content".
type layoutData struct {
	Title string
	User  *mtdconnect.User
	Data  any
}

// render writes a page. It renders into a buffer first, so a template error
// becomes a clean 500 instead of half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name, title string, data any) {
	var buf bytes.Buffer
	err := s.pages[name].ExecuteTemplate(&buf, "layout", layoutData{Title: title, User: currentUser(r.Context()), Data: data})
	if err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelError, "render", requestAttrs(r), slog.String("template", name), slog.String("err", err.Error()))
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(summaryInPageOrder(buf.Bytes()))
}

// The error summary's items, and the ids they link to (the errorSummary
// partial's markup).
var (
	summaryListRE = regexp.MustCompile(`(?s)(<div class="error-summary"[^>]*>\s*<h2[^>]*>[^<]*</h2>\s*<ul>)(.*?)(\s*</ul>)`)
	summaryItemRE = regexp.MustCompile(`(?s)\s*<li><a href="#([^"]+)">.*?</a></li>`)
)

// summaryInPageOrder puts the error summary's items in the order of the
// fields they link to on the page, as GOV.UK's pattern wants, whatever
// order the problems were found in (HMRC lists its errors in its own
// order), and says a range shared by several of them once. Items whose
// field is not found keep their place at the end.
func summaryInPageOrder(page []byte) []byte {
	m := summaryListRE.FindSubmatchIndex(page)
	if m == nil {
		return page
	}
	list := page[m[4]:m[5]]
	type item struct {
		text []byte
		at   int
	}
	var items []item
	covered := 0
	for _, im := range summaryItemRE.FindAllSubmatchIndex(list, -1) {
		covered += im[1] - im[0]
		id := list[im[2]:im[3]]
		at := bytes.Index(page[m[1]:], []byte(` id="`+string(id)+`"`))
		if at < 0 {
			at = len(page)
		}
		items = append(items, item{text: list[im[0]:im[1]], at: at})
	}
	if covered != len(list) {
		return page // not the partial's markup: leave it as it is
	}
	slices.SortStableFunc(items, func(a, b item) int { return a.at - b.at })
	// HMRC's limits, said once: when several problems carry the same
	// range, the summary names it at its end instead of in each (the
	// messages next to the fields keep it).
	count := map[string]int{}
	for _, it := range items {
		for _, r := range summaryRangeRE.FindAll(it.text, -1) {
			count[string(r)]++
		}
	}
	var ranges []string
	for i := range items {
		items[i].text = summaryRangeRE.ReplaceAllFunc(items[i].text, func(r []byte) []byte {
			if count[string(r)] < 2 {
				return r
			}
			if phrase := strings.TrimLeft(string(r), ", "); !slices.Contains(ranges, phrase) {
				ranges = append(ranges, phrase)
			}
			return nil
		})
	}
	out := make([]byte, 0, len(page))
	out = append(out, page[:m[4]]...)
	for _, it := range items {
		out = append(out, it.text...)
	}
	for _, phrase := range ranges {
		out = append(out, "\n    <li>HMRC accepts amounts "+phrase+".</li>"...)
	}
	return append(out, page[m[5]:]...)
}

// summaryRangeRE is an HMRC range in a problem's words: ", between −£1 and
// £2" or ", up to £2".
var summaryRangeRE = regexp.MustCompile(`,? (?:between −£[0-9,.]+ and £[0-9,.]+|up to £[0-9,.]+)`)

// message is a page that says one thing, such as why a callback failed.
type message struct {
	Title string
	Text  string
	Back  bool // link back to the settings page (or BackURL)
	// BackURL and BackText, when set, are where Back leads and its words.
	BackURL, BackText string
	SignIn            bool // offer to sign in
	Home              bool // link to the home page (the 404 page)
}

func (s *Server) renderMessage(w http.ResponseWriter, r *http.Request, status int, m message) {
	s.render(w, r, status, "message", m.Title, m)
}

// formatDate formats a date the way GOV.UK does: 2 January 2028.
func (s *Server) formatDate(t time.Time) string { return t.In(s.london).Format("2 January 2006") }

// formatTime formats a moment: 2 January 2028 at 14:05.
func (s *Server) formatTime(t time.Time) string {
	return t.In(s.london).Format("2 January 2006 at 15:04")
}

// humanDuration says d in at most two units: "3 hours 59 minutes".
func humanDuration(d time.Duration) string {
	if d < time.Minute {
		return "less than a minute"
	}
	d = d.Truncate(time.Minute)
	days := int(d / (24 * time.Hour))
	hours := int(d % (24 * time.Hour) / time.Hour)
	minutes := int(d % time.Hour / time.Minute)
	var parts []string
	for _, u := range []struct {
		n    int
		unit string
	}{{days, "day"}, {hours, "hour"}, {minutes, "minute"}} {
		if u.n == 0 {
			if len(parts) > 0 {
				break // "2 days", not "2 days 0 hours 5 minutes"
			}
			continue
		}
		parts = append(parts, plural(u.n, u.unit))
		if len(parts) == 2 {
			break
		}
	}
	return strings.Join(parts, " ")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
