package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc/hmrctest"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

// newSandboxModeCLIEnv is the CLI pointed at the simulator's
// sandbox-faithful mode, with the landlord testEmail (no NINO yet).
func newSandboxModeCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	e := newSimCLIEnvWith(t, "simulator", hmrcsim.Application{ClientID: "cli-client", ClientSecret: "cli-secret", Name: "cli test"},
		hmrcsim.Options{Mode: hmrcsim.ModeSandbox})
	e.vars["MTDCONNECT_CLIENT_ID"] = "cli-client"
	e.vars["MTDCONNECT_CLIENT_SECRET"] = "cli-secret"
	e.vars["MTDCONNECT_LICENCE_IDS"] = "mtdconnect=cli-test-licence"
	e.vars["MTDCONNECT_HMRC_RATE"] = "50" // the check makes some twenty calls
	e.run(t, nil, "users", "add", "--email", testEmail, "--password", testPassword)
	return e
}

// createUserFor runs `sandbox create-user --user testEmail` as a developer
// does: it reads the test user's credentials, signs in with them at the
// simulator's page the command names, and pastes the code back. It
// returns what the command printed and the test user's credentials.
func (e *cliEnv) createUserFor(t *testing.T, extra ...string) (out, userID, password string) {
	t.Helper()
	args := append([]string{"sandbox", "create-user", "--user", testEmail}, extra...)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	var errOut hmrctest.LogBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(t.Context(), args, e.getenv, inR, outW, &errOut)
		outW.Close()
	}()
	var transcript strings.Builder
	sc := bufio.NewScanner(outR)
	var authURL string
	for sc.Scan() {
		line := sc.Text()
		transcript.WriteString(line + "\n")
		if m := regexp.MustCompile(`^\s+User ID:\s+(\S+)$`).FindStringSubmatch(line); m != nil {
			userID = m[1]
		}
		if m := regexp.MustCompile(`^\s+Password:\s+(\S+)$`).FindStringSubmatch(line); m != nil {
			password = m[1]
		}
		if s := strings.TrimSpace(line); strings.HasPrefix(s, "http") {
			authURL = s
			break
		}
	}
	if authURL == "" || userID == "" || password == "" {
		inW.Close()
		t.Fatalf("create-user printed no authorise URL or credentials: %v\n%s\n%s", <-done, transcript.String(), errOut.String())
	}
	jar, _ := cookiejar.New(nil)
	_, page, err := hmrcsim.Consent(&http.Client{Jar: jar}, authURL, userID, password, true)
	if err != nil {
		inW.Close()
		t.Fatalf("the test user could not grant authority: %v", err)
	}
	m := regexp.MustCompile(`<title>[^<]*code=([^<\s]+)`).FindStringSubmatch(page)
	if m == nil {
		inW.Close()
		t.Fatalf("no code on the simulator's page")
	}
	var rest strings.Builder
	copied := make(chan struct{})
	go func() {
		io.Copy(&rest, outR) // until run returns and closes outW
		close(copied)
	}()
	io.WriteString(inW, m[1]+"\n")
	select {
	case err := <-done:
		<-copied
		if err != nil {
			t.Fatalf("create-user: %v\n%s%s\n%s", err, transcript.String(), rest.String(), errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("create-user did not finish")
	}
	inW.Close()
	return transcript.String() + rest.String(), userID, password
}

// `sandbox create-user --user` gives the landlord the test user's
// identifiers, connects it for Income Tax and creates its UK property test
// business, stored as the landlord's; `sandbox check` then calls every
// endpoint the product uses and reports HMRC's answers with their
// correlation IDs, each one answered.
func TestSandboxCreateUserAndCheck(t *testing.T) {
	e := newSandboxModeCLIEnv(t)
	out, userID, password := e.createUserFor(t)
	m := regexp.MustCompile(`Created a UK property test business for ` + regexp.QuoteMeta(testEmail) + `: (\S+)`).FindStringSubmatch(out)
	if m == nil || !itsa.ValidBusinessID(m[1]) {
		t.Fatalf("no business ID printed:\n%s", out)
	}
	bid := m[1]
	for _, want := range []string{"now has the test user's NINO", "HMRC creates a test business only for a connected landlord", "STATEFUL"} {
		if !strings.Contains(out, want) {
			t.Errorf("create-user does not say %q:\n%s", want, out)
		}
	}
	// Stored: the landlord's status is connected, and `test` lists the
	// business (STATEFUL is the sandbox's way to list test businesses; the
	// default lists a self-employment only).
	if got := e.run(t, nil, "status", "--user", testEmail); !strings.Contains(got, "Connected") {
		t.Errorf("status: %s", got)
	}
	if got := e.run(t, nil, "test", "--user", testEmail); !strings.Contains(got, "no UK property business") {
		t.Errorf("test (the sandbox's default list): %s", got)
	}
	e.connectAs(t, userID, password, mtdconnect.PurposeVAT)

	// A second test business of the same type is HMRC's refusal, in words.
	if msg := e.fail(t, "", "sandbox", "create-business", "--user", testEmail); !strings.Contains(msg, "already holds a UK property test business") {
		t.Errorf("second business: %s", msg)
	}

	raw := e.run(t, nil, "sandbox", "check", "--user", testEmail, "--json")
	var rows []CheckRow
	if err := json.Unmarshal([]byte(raw), &rows); err != nil {
		t.Fatalf("check --json: %v\n%s", err, raw)
	}
	want := map[string]int{
		"Create Test User: individual":                                                     201,
		"Business Details: list all businesses":                                            200,
		"Business Details: create and amend quarterly period type":                         204,
		"Obligations: income and expenditure":                                              404, // the sandbox's default obligations are another business's
		"Property Business: create or amend UK property cumulative summary":                204,
		"Property Business: retrieve UK property cumulative summary":                       200,
		"Obligations: final declaration":                                                   200,
		"Property Business: create and amend UK property annual submission":                200,
		"Individual Calculations: trigger a calculation (in-year)":                         202,
		"Individual Calculations: retrieve a calculation":                                  200,
		"Individual Calculations: list calculations":                                       200,
		"Individual Calculations: trigger a calculation (intent-to-finalise)":              202,
		"Individual Calculations: submit a final declaration (final-declaration)":          204,
		"Test Fraud Prevention Headers: validation feedback (individual-calculations-mtd)": 200,
		"VAT: retrieve obligations":                                                        200,
		"VAT: submit return":                                                               201,
		"VAT: view return":                                                                 200,
		"Test Fraud Prevention Headers: validate":                                          200,
		"Test Fraud Prevention Headers: validation feedback (vat-mtd)":                     200,
		"Test Fraud Prevention Headers: validation feedback (obligations-mtd)":             200,
	}
	seen := map[string]bool{}
	for _, r := range rows {
		seen[r.Call] = true
		if r.Problem != "" {
			t.Errorf("%s: %+v", r.Call, r)
		}
		if st, ok := want[r.Call]; ok && r.Status != st {
			t.Errorf("%s: status %d, want %d (%+v)", r.Call, r.Status, st, r)
		}
		if r.Status != 0 && len(r.CorrelationID) != 36 {
			t.Errorf("%s: correlation ID %q", r.Call, r.CorrelationID)
		}
		if strings.Contains(r.Path, bid) && false || regexp.MustCompile(`[A-Z]{2}[0-9]{6}[A-D]`).MatchString(r.Path) {
			t.Errorf("%s: a NINO in the path %q", r.Call, r.Path)
		}
	}
	for call := range want {
		if !seen[call] {
			t.Errorf("%s was not called", call)
		}
	}
	if seen["Self Assessment Test Support: create a test business"] {
		t.Error("a second test business was made though the landlord has one")
	}

	// Run again, as text: the VAT return is now a duplicate, HMRC's answer
	// to a call that works.
	text := e.run(t, nil, "sandbox", "check", "--user", testEmail)
	for _, want := range []string{"CALL", "STATUS", "HMRC CODE", "CORRELATION ID", "VAT: submit return", "403", "BUSINESS_ERROR", "docs/PRODUCTION.md"} {
		if !strings.Contains(text, want) {
			t.Errorf("check's table lacks %q:\n%s", want, text)
		}
	}
}

// sandbox check is refused against production: it files an update and a
// return.
func TestSandboxCheckRefusedInProduction(t *testing.T) {
	e := newCLIEnv(t)
	e.vars["MTDCONNECT_HMRC"] = "production"
	for _, args := range [][]string{{"sandbox", "check", "--user", testEmail}, {"fraud-headers", "check"}, {"sandbox", "create-business", "--user", testEmail}} {
		if msg := e.fail(t, "", args...); !strings.Contains(msg, "sandbox") || !strings.Contains(msg, "production") && !strings.Contains(msg, "MTDCONNECT_HMRC=sandbox") {
			t.Errorf("%v: %s", args, msg)
		}
	}
}

// In the simulator's demo there is no Test Support API: create-user --user
// says how to get the sandbox's behaviour.
func TestSandboxCreateUserDemoMode(t *testing.T) {
	e := newSimCLIEnv(t, "simulator", hmrcsim.Application{ClientID: "cli-client", ClientSecret: "cli-secret", Name: "cli test"})
	e.vars["MTDCONNECT_CLIENT_ID"] = "cli-client"
	e.vars["MTDCONNECT_CLIENT_SECRET"] = "cli-secret"
	e.vars["MTDCONNECT_LICENCE_IDS"] = "mtdconnect=cli-test-licence"
	e.run(t, nil, "users", "add", "--email", testEmail, "--password", testPassword)
	e.sim.AddTestUser(hmrcsim.TestUser{UserID: simUserID, Password: simUserPassword, NINO: simUserNINO})
	e.connectAs(t, simUserID, simUserPassword, mtdconnect.PurposeIncomeTax)
	e.run(t, nil, "users", "set", "--email", testEmail, "--nino", simUserNINO)
	msg := e.fail(t, "", "sandbox", "create-business", "--user", testEmail)
	if !strings.Contains(msg, "demo mode") || !strings.Contains(msg, "--simulator-mode sandbox") {
		t.Errorf("create-business in the demo: %s", msg)
	}
}

// fraud-headers check sends this deployment's batch headers to the Test
// Fraud Prevention Headers API and prints HMRC's verdict, then its
// feedback on the latest request to each API.
func TestFraudHeadersCheck(t *testing.T) {
	e := newCLIEnv(t)
	e.vars["MTDCONNECT_HMRC_RATE"] = "50"
	out := e.run(t, nil, "fraud-headers", "check")
	for _, want := range []string{"BATCH_PROCESS_DIRECT", "VALID_HEADERS: All headers required", "business-details-mtd WEB_APP_VIA_SERVER: no request seen yet",
		"vat-mtd BATCH_PROCESS_DIRECT: no request seen yet", "/admin/hmrc"} {
		if !strings.Contains(out, want) {
			t.Errorf("fraud-headers check lacks %q:\n%s", want, out)
		}
	}
	// After a batch call to Business Details, HMRC's feedback covers it.
	e.connectAs(t, simUserID, simUserPassword, mtdconnect.PurposeIncomeTax)
	e.run(t, nil, "test", "--user", testEmail)
	raw := e.run(t, nil, "fraud-headers", "check", "--json")
	var got struct {
		Verdict  struct{ Code string }
		Feedback []struct {
			API      string
			Seen     bool
			Requests []struct{ Method, Code string }
		}
	}
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatalf("--json: %v\n%s", err, raw)
	}
	if got.Verdict.Code != "VALID_HEADERS" {
		t.Errorf("verdict %+v", got.Verdict)
	}
	i := slices.IndexFunc(got.Feedback, func(f struct {
		API      string
		Seen     bool
		Requests []struct{ Method, Code string }
	}) bool {
		return f.API == "business-details-mtd BATCH_PROCESS_DIRECT"
	})
	if i < 0 || !got.Feedback[i].Seen || len(got.Feedback[i].Requests) != 1 || got.Feedback[i].Requests[0].Code != "VALID_HEADERS" {
		t.Errorf("feedback %+v", got.Feedback)
	}
}
