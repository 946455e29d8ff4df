package hmrcsim

import (
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// Consent plays a landlord on the simulator's pages, over HTTP as a browser
// would: it opens authURL, signs in as the test user and grants authority
// (or declines it). It returns where the simulator sent the browser: the
// application's redirect URI with code and state (or error=access_denied),
// or, for the out-of-band redirect, the page showing the code. c should
// have a cookie jar; its redirects are handled here.
func Consent(c *http.Client, authURL, userID, password string, grant bool) (location, page string, err error) {
	hc := *c
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	decision := "deny"
	if grant {
		decision = "grant"
	}
	next, method, form := authURL, http.MethodGet, url.Values(nil)
	for range 10 {
		resp, body, err := do(&hc, method, next, form)
		if err != nil {
			return "", "", err
		}
		if loc := resp.Header.Get("Location"); loc != "" {
			u, err := resp.Request.URL.Parse(loc)
			if err != nil {
				return "", "", err
			}
			if u.Host != resp.Request.URL.Host || u.Scheme != resp.Request.URL.Scheme {
				return u.String(), "", nil // left the simulator: the callback
			}
			next, method, form = u.String(), http.MethodGet, nil
			continue
		}
		if resp.StatusCode != http.StatusOK {
			return "", body, fmt.Errorf("hmrcsim: %s answered %d", resp.Request.URL.Path, resp.StatusCode)
		}
		action, fields, ok := parseForm(body)
		if !ok {
			return "", body, nil // no form: the out-of-band code page
		}
		switch {
		case strings.Contains(body, `name="password"`):
			if strings.Contains(body, "error") && form != nil && form.Get("password") != "" {
				return "", body, errors.New("hmrcsim: sign-in refused")
			}
			fields.Set("user_id", userID)
			fields.Set("password", password)
		case strings.Contains(body, `name="decision"`):
			fields.Set("decision", decision)
		default:
			return "", body, nil
		}
		u, err := resp.Request.URL.Parse(action)
		if err != nil {
			return "", "", err
		}
		next, method, form = u.String(), http.MethodPost, fields
	}
	return "", "", errors.New("hmrcsim: too many pages")
}

func do(c *http.Client, method, u string, form url.Values) (*http.Response, string, error) {
	var rd io.Reader
	if form != nil {
		rd = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return nil, "", err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

var (
	formRe   = regexp.MustCompile(`(?is)<form[^>]*action="([^"]*)"[^>]*>(.*?)</form>`)
	hiddenRe = regexp.MustCompile(`(?is)<input[^>]*type="hidden"[^>]*>`)
	nameRe   = regexp.MustCompile(`name="([^"]*)"`)
	valueRe  = regexp.MustCompile(`value="([^"]*)"`)
)

// parseForm returns the first form's action and hidden fields.
func parseForm(body string) (action string, fields url.Values, ok bool) {
	m := formRe.FindStringSubmatch(body)
	if m == nil {
		return "", nil, false
	}
	fields = url.Values{}
	for _, in := range hiddenRe.FindAllString(m[2], -1) {
		n, v := nameRe.FindStringSubmatch(in), valueRe.FindStringSubmatch(in)
		if n == nil {
			continue
		}
		val := ""
		if v != nil {
			val = html.UnescapeString(v[1])
		}
		fields.Set(html.UnescapeString(n[1]), val)
	}
	return html.UnescapeString(m[1]), fields, true
}
