package web

// Text enters the service here, and is checked here: a NUL byte or bytes
// that are not UTF-8, anywhere in a path, a query string, a form or a JSON
// body, are answered 400 before any handler runs, so no page, store or log
// sees them (PostgreSQL refuses them outright; SQLite would keep them).
// Values are bounded too. The stores refuse such text with
// mtdconnect.ErrInvalidText as well, which classify answers 400, so
// nothing slips through a handler that reads text some other way.

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
)

// Longest path, and longest form or query value, taken. No page's field
// needs more; a key the stores index (an email, a state) must be shorter
// still, which the handlers and stores check.
const (
	maxPathBytes  = 1024
	maxFieldBytes = 4096
)

// textOK reports whether the request's path and query hold usable text.
func textOK(r *http.Request) bool {
	if len(r.URL.Path) > maxPathBytes || !mtdconnect.ValidText(r.URL.Path) {
		return false
	}
	q, err := queryValues(r)
	return err == nil && valuesOK(q)
}

// queryValues parses the query string, refusing one that does not parse.
func queryValues(r *http.Request) (map[string][]string, error) {
	if r.URL.RawQuery == "" {
		return nil, nil
	}
	return url.ParseQuery(r.URL.RawQuery)
}

func valuesOK(vs map[string][]string) bool {
	for k, list := range vs {
		if len(k) > maxFieldBytes || !mtdconnect.ValidText(k) {
			return false
		}
		for _, v := range list {
			if len(v) > maxFieldBytes || !mtdconnect.ValidText(v) {
				return false
			}
		}
	}
	return true
}

// browserText refuses browser requests with bad text in the path, the
// query or a form body. The pages post only URL-encoded forms; other
// bodies, which Request.FormValue would parse too, are refused.
func (s *Server) browserText(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok := textOK(r)
		if ok && r.Method != http.MethodGet && r.Method != http.MethodHead && r.ContentLength != 0 {
			ct := strings.ToLower(r.Header.Get("Content-Type"))
			ok = strings.HasPrefix(ct, "application/x-www-form-urlencoded") && r.ParseForm() == nil && valuesOK(r.PostForm)
		}
		if !ok {
			s.log.LogAttrs(r.Context(), slog.LevelInfo, "request refused: unusable text", requestAttrs(r))
			s.renderMessage(w, r, http.StatusBadRequest, message{
				Title: "This request cannot be used",
				Text: "It holds characters that cannot be used (a NUL character, or text that is not UTF-8) " +
					"or a value that is too long. Nothing was changed.",
				Back: true,
			})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// apiText refuses API requests with bad text in the path, the query, a
// JSON body's strings, or Gov-Test-Scenario (which, besides, has no place
// in production).
func (s *Server) apiText(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !textOK(r) || !s.jsonTextOK(w, r) {
			s.writeJSONError(w, r, problem{Status: http.StatusBadRequest, Code: "invalid_text",
				Message: "The request holds text that cannot be used (a NUL character, or bytes that are not UTF-8) " +
					"or a value that is too long. Nothing was changed."})
			return
		}
		if v := strings.TrimSpace(r.Header.Get("Gov-Test-Scenario")); v != "" || len(r.Header.Values("Gov-Test-Scenario")) > 0 {
			if err := s.checkTestScenario(v); err != nil {
				s.apiError(w, r, err)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// checkTestScenario refuses a Gov-Test-Scenario that is not one of HMRC's
// names, or any in production, as the HMRC client would before sending
// (an *hmrc.TestScenarioError): here before any handler runs, so no page,
// store or log sees it. A header sent empty is not a name either.
func (s *Server) checkTestScenario(v string) error {
	if v == "" {
		return &hmrc.TestScenarioError{Problem: "must be a scenario name of HMRC's: upper-case letters, digits and _"}
	}
	return s.hmrc.CheckTestScenario(v)
}

// jsonTextOK reads a JSON body (up to maxAPIBody; a larger one is left to
// the handler, which refuses it) and reports whether it is UTF-8 and none
// of its strings holds a NUL. The body is put back for the handler. A body
// that is not JSON is left to the handler too.
func (s *Server) jsonTextOK(w http.ResponseWriter, r *http.Request) bool {
	if r.Body == nil || r.Body == http.NoBody {
		return true
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxAPIBody+1))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(raw), r.Body), r.Body}
	if err != nil || len(raw) > maxAPIBody {
		return true
	}
	if !utf8.Valid(raw) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return true
	}
	return jsonStringsOK(v)
}

func jsonStringsOK(v any) bool {
	switch v := v.(type) {
	case string:
		return mtdconnect.ValidText(v)
	case []any:
		for _, e := range v {
			if !jsonStringsOK(e) {
				return false
			}
		}
	case map[string]any:
		for k, e := range v {
			if !mtdconnect.ValidText(k) || !jsonStringsOK(e) {
				return false
			}
		}
	}
	return true
}
