package web_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/mtdconnect/mtdconnect/docs"
	"github.com/mtdconnect/mtdconnect/web"
)

// The OpenAPI description (docs/openapi.json) is checked two ways: it
// describes every route the API has, with the scope each needs, and
// nothing else; and every API answer of every web test validates against
// it (validatingTransport, under every testEnv's API client), as does every
// request the API accepted.

var openAPIValidator = sync.OnceValues(func() (validator.Validator, error) {
	doc, err := libopenapi.NewDocument(docs.OpenAPI)
	if err != nil {
		return nil, err
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return v, nil
})

func TestOpenAPIDocument(t *testing.T) {
	v, err := openAPIValidator()
	if err != nil {
		t.Fatal(err)
	}
	if ok, errs := v.ValidateDocument(); !ok {
		for _, e := range errs {
			t.Errorf("docs/openapi.json is not valid OpenAPI 3.1: %v", e)
		}
	}

	// Every route with its scope, and only those.
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(docs.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi %q, want 3.1", doc.OpenAPI)
	}
	described := map[string]string{}
	for path, item := range doc.Paths {
		for method, raw := range item {
			if method == "parameters" {
				continue
			}
			var op struct {
				Scope    string          `json:"x-scope"`
				Security json.RawMessage `json:"security"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			if op.Scope == "" && string(op.Security) != "[]" {
				t.Errorf("%s %s has no x-scope", method, path)
			}
			described[strings.ToUpper(method)+" "+path] = op.Scope
		}
	}
	env := newTestEnv(t)
	routes := web.APIRoutes(env.server)
	for route, scope := range routes {
		got, ok := described[route]
		switch {
		case !ok:
			t.Errorf("route %s is not in docs/openapi.json", route)
		case got != scope:
			t.Errorf("route %s needs scope %q; docs/openapi.json says %q", route, scope, got)
		}
	}
	for op := range described {
		if _, ok := routes[op]; !ok {
			t.Errorf("docs/openapi.json describes %s, which the API does not have", op)
		}
	}

	// Served as it is, without a key.
	resp, err := env.httpClient.Get(env.url + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || !bytes.Equal(body, docs.OpenAPI) {
		t.Errorf("GET /api/v1/openapi.json: %d %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
}

// validatingTransport checks every API exchange it carries against the
// OpenAPI description: the answer always (errors included), the request
// when the API accepted it (the tests send bad requests on purpose).
type validatingTransport struct {
	t    *testing.T
	base http.RoundTripper
	mu   sync.Mutex
}

func (vt *validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		var err error
		if reqBody, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := vt.base.RoundTrip(req)
	if err != nil || !strings.HasPrefix(req.URL.Path, "/api/") {
		return resp, err
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))

	v, verr := openAPIValidator()
	if verr != nil {
		vt.t.Errorf("openapi: %v", verr)
		return resp, nil
	}
	// The validator reads the bodies: give it copies.
	vreq := req.Clone(req.Context())
	vreq.Body = io.NopCloser(bytes.NewReader(reqBody))
	vresp := *resp
	vresp.Body = io.NopCloser(bytes.NewReader(respBody))
	vt.mu.Lock()
	defer vt.mu.Unlock()
	if ok, errs := v.ValidateHttpResponse(vreq, &vresp); !ok {
		for _, e := range errs {
			if e.ValidationSubType == "missing" && e.ValidationType == "path" && resp.StatusCode == http.StatusNotFound {
				continue // a route the API does not have: its 404 is not described
			}
			vt.t.Errorf("%s %s → %d: the answer does not match docs/openapi.json: %s\n%s", req.Method, req.URL.Path, resp.StatusCode, e.Error(), respBody)
		}
	}
	if resp.StatusCode < 300 {
		vreq.Body = io.NopCloser(bytes.NewReader(reqBody))
		if ok, errs := v.ValidateHttpRequest(vreq); !ok {
			for _, e := range errs {
				vt.t.Errorf("%s %s (accepted): the request does not match docs/openapi.json: %s\n%s", req.Method, req.URL.Path, e.Error(), reqBody)
			}
		}
	}
	return resp, nil
}
