package main

import (
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
	"github.com/mtdconnect/mtdconnect/postgres"
	"github.com/mtdconnect/mtdconnect/sqlite"
	"github.com/mtdconnect/mtdconnect/web"
)

// openEnvStore opens the environment's database, as its commands do.
func openEnvStore(t *testing.T, e *cliEnv) mtdconnect.Store {
	t.Helper()
	var st mtdconnect.Store
	var err error
	if u := e.vars["MTDCONNECT_DATABASE_URL"]; u != "" {
		st, err = postgres.Open(t.Context(), u)
	} else {
		st, err = sqlite.Open(t.Context(), filepath.Join(e.vars["MTDCONNECT_DATA_DIR"], "mtdconnect.db"))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// adminPageStatus signs in at base as email and says how /admin/hmrc
// answers.
func adminPageStatus(t *testing.T, base, email, password string) int {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(base+"/signin", url.Values{"email": {email}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign in as %s: %d", email, resp.StatusCode)
	}
	resp, err = c.Get(base + "/admin/hmrc")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/admin/hmrc" {
		t.Fatalf("/admin/hmrc as %s ended at %s: not signed in?", email, resp.Request.URL)
	}
	return resp.StatusCode
}

// TestDemoAccountsOnlyForTheSimulator: a start with the simulator makes the
// demo landlord (no administrator, even where an earlier version made it
// one) and a separate demo administrator, both printed; a sandbox start on
// that database refuses, naming the accounts and the commands that fix
// it, and starts once they are fixed. On SQLite and PostgreSQL.
func TestDemoAccountsOnlyForTheSimulator(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			extra := map[string]string{}
			if backend == "postgres" {
				extra["MTDCONNECT_DATABASE_URL"] = testPostgresURL(t)
			}
			e := newServeEnv(t, extra)
			// A database from before: the demo landlord an administrator.
			e.run(t, nil, "users", "add", "--email", "first@example.com", "--password", "first-password")
			st := openEnvStore(t, e)
			hash, err := web.HashPassword(demoPassword)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.CreateUser(t.Context(), &mtdconnect.User{Email: demoEmail, PasswordHash: hash, Admin: true}); err != nil {
				t.Fatal(err)
			}

			srv := e.startInProcess(t, "serve")
			// The banner's last line comes after its first, which says serve is up.
			for deadline := time.Now().Add(10 * time.Second); !strings.Contains(srv.logs.String(), "/settings/hmrc") && time.Now().Before(deadline); {
				time.Sleep(20 * time.Millisecond)
			}
			mustContain(t, "the simulator's banner", srv.logs.String(), demoEmail, demoPassword, demoAdminEmail, demoAdminPassword, "/admin/hmrc")
			if got := adminPageStatus(t, srv.url, demoEmail, demoPassword); got != http.StatusForbidden && got != http.StatusNotFound {
				t.Errorf("/admin/hmrc as the demo landlord: %d, want it refused", got)
			}
			if got := adminPageStatus(t, srv.url, demoAdminEmail, demoAdminPassword); got != http.StatusOK {
				t.Errorf("/admin/hmrc as the demo administrator: %d, want 200", got)
			}
			srv.stop()

			// The same database against HMRC's sandbox (here a simulator on
			// this machine standing in for it).
			sim := hmrcsim.New(hmrcsim.Options{Mode: hmrcsim.ModeSandbox})
			sim.AddApplication(hmrcsim.Application{ClientID: "sandbox-client", ClientSecret: "sandbox-secret"})
			hs := httptest.NewServer(sim.Handler())
			t.Cleanup(hs.Close)
			for k, v := range map[string]string{
				"MTDCONNECT_HMRC": "sandbox", "MTDCONNECT_CLIENT_ID": "sandbox-client", "MTDCONNECT_CLIENT_SECRET": "sandbox-secret",
				"MTDCONNECT_HMRC_AUTHORIZE_URL": hs.URL + "/oauth/authorize", "MTDCONNECT_HMRC_TOKEN_URL": hs.URL + "/oauth/token",
				"MTDCONNECT_HMRC_API_URL": hs.URL,
			} {
				e.vars[k] = v
			}
			msg := e.fail(t, "", "serve")
			mustContain(t, "a sandbox start with the demo's accounts", msg, "refusing to start", demoEmail, demoAdminEmail,
				"mtdconnect users passwd --email "+demoEmail, "mtdconnect users delete --email "+demoAdminEmail, "users add --email E --admin")
			if strings.Contains(msg, "first@example.com") {
				t.Errorf("the refusal names an account without a demo password: %s", msg)
			}

			mustContain(t, "passwd to a demo password", e.fail(t, "", "users", "passwd", "--email", demoEmail, "--password", demoAdminPassword), "published password")
			e.run(t, nil, "users", "passwd", "--email", demoEmail, "--password", "a-new-password")
			msg = e.fail(t, "", "serve")
			if strings.Contains(msg, demoEmail) || !strings.Contains(msg, demoAdminEmail) {
				t.Errorf("after the landlord's new password, the refusal: %s", msg)
			}
			mustContain(t, "passwd too short", e.fail(t, "", "users", "passwd", "--email", demoEmail, "--password", "short"), "at least 8 characters")
			mustContain(t, "passwd of nobody", e.fail(t, "", "users", "passwd", "--email", "nobody@example.com", "--password", "long-enough"), "no user with email nobody@example.com")
			mustContain(t, "delete nobody", e.fail(t, "", "users", "delete", "--email", "nobody@example.com"), "no user with email nobody@example.com")
			mustContain(t, "delete", e.run(t, nil, "users", "delete", "--email", demoAdminEmail), "deleted "+demoAdminEmail, "kept until")
			if _, err := st.UserByEmail(t.Context(), demoAdminEmail); err == nil {
				t.Errorf("the deleted demo administrator still signs in")
			}
			e.run(t, nil, "users", "add", "--email", "boss@example.com", "--password", "boss-password", "--admin")
			srv = e.startInProcess(t, "serve")
			if got := adminPageStatus(t, srv.url, "boss@example.com", "boss-password"); got != http.StatusOK {
				t.Errorf("/admin/hmrc as the administrator added with --admin: %d, want 200", got)
			}
			srv.stop()
		})
	}
}
