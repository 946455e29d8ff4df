package hmrc_test

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/seal"
)

// TestNoRedirectFollowed: an answer of 307 from the token endpoint or an
// API would make a following client send the client secret, the refresh
// token or the access token to whatever host the answer names. The client
// follows none; the stored pair is kept (a redirect is not a refusal).
func TestNoRedirectFollowed(t *testing.T) {
	e := newEnv(t)
	var stolen atomic.Int64
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stolen.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(elsewhere.Close)

	sim, err := url.Parse(e.SimURL)
	if err != nil {
		t.Fatal(err)
	}
	var redirectPath atomic.Value // the path answered with 307; "" for none
	redirectPath.Store("")
	proxy := httputil.NewSingleHostReverseProxy(sim)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := redirectPath.Load().(string); p != "" && strings.HasPrefix(r.URL.Path, p) {
			http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusTemporaryRedirect)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	e.SimURL = front.URL
	e.client = e.newClient(t)
	e.connect(t)
	before := e.conn(t)

	// The token endpoint redirects a refresh.
	redirectPath.Store("/oauth/token")
	err = e.client.Refresh(t.Context(), e.userID, mtdconnect.PurposeIncomeTax)
	if !errors.Is(err, hmrc.ErrUnavailable) {
		t.Errorf("refresh answered with a redirect: err = %v, want ErrUnavailable", err)
	}
	after := e.conn(t)
	if after.Status != mtdconnect.StatusConnected || !bytes.Equal(after.Tokens, before.Tokens) || after.RefreshLeaseOwner != "" {
		t.Errorf("after a redirected refresh: status %s, tokens kept %t, lease %q", after.Status, bytes.Equal(after.Tokens, before.Tokens), after.RefreshLeaseOwner)
	}

	// An API answers with a redirect.
	redirectPath.Store("/individuals/")
	if _, err := useConnection(t.Context(), e.client, e.userID); !errors.Is(err, hmrc.ErrUnavailable) {
		t.Errorf("API call answered with a redirect: err = %v, want ErrUnavailable", err)
	}
	if n := stolen.Load(); n != 0 {
		t.Fatalf("the redirect target received %d request(s): the client followed a redirect", n)
	}

	redirectPath.Store("")
	if err := e.client.Refresh(t.Context(), e.userID, mtdconnect.PurposeIncomeTax); err != nil {
		t.Fatalf("refresh once HMRC answers normally: %v", err)
	}
}

// TestEndpointsMustBeHTTPS: tokens and the client secret go to sandbox and
// production only over TLS; the simulator, and a host on this machine, may
// be plain http.
func TestEndpointsMustBeHTTPS(t *testing.T) {
	st := newEnv(t).Store
	kh, err := seal.NewKeyset()
	if err != nil {
		t.Fatal(err)
	}
	sealer, _ := seal.New(kh)
	tests := []struct {
		env, base string
		ok        bool
	}{
		{hmrc.EnvProduction, "https://api.service.hmrc.gov.uk", true},
		{hmrc.EnvSandbox, "https://test-api.service.hmrc.gov.uk", true},
		{hmrc.EnvProduction, "http://api.service.hmrc.gov.uk", false},
		{hmrc.EnvSandbox, "http://test-api.service.hmrc.gov.uk", false},
		{hmrc.EnvSandbox, "http://10.1.2.3:8080", false},
		{hmrc.EnvSandbox, "ftp://test-api.service.hmrc.gov.uk", false},
		{hmrc.EnvSandbox, "http://127.0.0.1:9090", true},
		{hmrc.EnvSandbox, "http://localhost:9090", true},
		{hmrc.EnvSandbox, "http://[::1]:9090", true},
		{hmrc.EnvSimulator, "http://hmrcsim.internal:9090", true},
	}
	for _, tt := range tests {
		t.Run(tt.env+" "+tt.base, func(t *testing.T) {
			_, err := hmrc.New(hmrc.Config{
				ClientID: clientID, ClientSecret: clientSecret, Environment: tt.env,
				AuthorizeURL: tt.base + "/oauth/authorize", TokenURL: tt.base + "/oauth/token", APIURL: tt.base,
				Store: st, Sealer: sealer, RequestTimeout: time.Second,
			})
			if (err == nil) != tt.ok {
				t.Fatalf("New = %v; want ok %t", err, tt.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "https") {
				t.Errorf("the error does not say https is needed: %v", err)
			}
		})
	}
}
