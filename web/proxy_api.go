package web

// The HMRC proxy: /api/v1/users/{user}/hmrc/proxy/{path...} passes the
// platform's call of an MTD API on to HMRC for the landlord and answers
// with HMRC's status, body and a few of its headers (proxy.ResponseHeaders),
// marked as HMRC's with Mtd-Answered-By. The checks are the landlord
// service's and hmrc/proxy's; mtdconnect's own refusals are the API's usual
// JSON errors, never marked.

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/proxy"
	"github.com/mtdconnect/mtdconnect/landlord"
)

// hdrAnsweredBy marks an answer that is HMRC's, passed on: its absence
// means mtdconnect answered (a refusal, or HMRC unreachable).
const hdrAnsweredBy = "Mtd-Answered-By"

// errProxyBodyTooLarge: a body over proxy.MaxBody.
var errProxyBodyTooLarge = errors.New("web: proxy request body too large")

// proxyPrefixSegments is how many segments of the request's path come
// before the HMRC path: /api/v1/users/{user}/hmrc/proxy.
const proxyPrefixSegments = 6

// handleAPIProxy serves the proxy for any method.
func (s *Server) handleAPIProxy(w http.ResponseWriter, r *http.Request) {
	resp, err := s.proxyCall(w, r)
	if err != nil {
		if errors.Is(err, proxy.ErrMethod) {
			w.Header().Set("Allow", strings.Join(proxy.Methods, ", "))
		}
		s.apiError(w, r, err)
		return
	}
	h := w.Header()
	for _, name := range proxy.ResponseHeaders {
		if vs := resp.Header.Values(name); len(vs) > 0 {
			h[name] = vs // HMRC's spelling (X-CorrelationId)
		}
	}
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = nil // as HMRC sent it: none, not a guess
	}
	h.Set(hdrAnsweredBy, "hmrc")
	w.WriteHeader(resp.Status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(resp.Body)
	}
}

func (s *Server) proxyCall(w http.ResponseWriter, r *http.Request) (*hmrc.Response, error) {
	if !slices.Contains(proxy.Methods, r.Method) {
		return nil, proxy.ErrMethod
	}
	id, err := s.apiUserID(r)
	if err != nil {
		return nil, err
	}
	origin, err := s.apiOrigin(r, id, callKindOf(r.Method))
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, proxy.MaxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, errProxyBodyTooLarge
	}
	if err != nil {
		return nil, fmt.Errorf("web: read proxy request body: %w", err)
	}
	segs := strings.SplitN(r.URL.EscapedPath(), "/", proxyPrefixSegments+2)
	path := "/"
	if len(segs) == proxyPrefixSegments+2 {
		path += segs[proxyPrefixSegments+1]
	}
	return s.landlord.Proxy(r.Context(), byAPI(r), landlord.ProxyRequest{
		UserID: id, Method: r.Method, Path: path, RawQuery: r.URL.RawQuery,
		Accept: strings.Join(r.Header.Values("Accept"), ", "), ContentType: r.Header.Get("Content-Type"),
		Body: body, Origin: origin, TestScenario: testScenario(r),
	})
}

// classifyProxy words the proxy's refusals; nothing was sent to HMRC.
func classifyProxy(err error) (problem, bool) {
	var (
		pathErr *proxy.PathError
		idErr   *proxy.IdentifierError
	)
	switch {
	case errors.As(err, &pathErr):
		return problem{Status: http.StatusBadRequest, Code: "invalid_path", Title: "Bad request",
			Message: "The path to pass on to HMRC " + strings.TrimPrefix(pathErr.Error(), "proxy: the path ") + ". Nothing was sent to HMRC."}, true
	case errors.Is(err, proxy.ErrNotAllowed):
		return problem{Status: http.StatusForbidden, Code: "path_not_allowed", Title: "Not an API the proxy passes on",
			Message: "The path is not in one of the MTD APIs the proxy passes calls on to (see docs/API.md): HMRC's OAuth and " +
				"test-support endpoints and other APIs are never reached through it. Nothing was sent to HMRC."}, true
	case errors.As(err, &idErr):
		return problem{Status: http.StatusForbidden, Code: "identifier_not_landlords", Title: "Not this landlord's data",
			Message: "The path " + strings.TrimPrefix(idErr.Error(), "proxy: the path ") + ": a landlord's authority is used " +
				"only for their own National Insurance number or VAT registration number. Nothing was sent to HMRC."}, true
	case errors.Is(err, proxy.ErrMethod):
		return problem{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Title: "Bad request",
			Message: "The proxy passes on " + strings.Join(proxy.Methods, ", ") + " only. Nothing was sent to HMRC."}, true
	case errors.Is(err, errProxyBodyTooLarge):
		return problem{Status: http.StatusRequestEntityTooLarge, Code: "request_too_large", Title: "Bad request",
			Message: fmt.Sprintf("The body is larger than %d bytes, far more than any MTD API takes. Nothing was sent to HMRC.", proxy.MaxBody)}, true
	}
	return problem{}, false
}
