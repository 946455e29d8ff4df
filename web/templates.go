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
	"admin_hmrc", "admin_keys", "admin_connect",
	"connect", "connect_result",
}

func parseTemplates() (map[string]*template.Template, error) {
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := template.ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
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
	w.Write(buf.Bytes())
}

// message is a page that says one thing, such as why a callback failed.
type message struct {
	Title  string
	Text   string
	Back   bool // link back to the settings page
	SignIn bool // offer to sign in
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
