package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
	"github.com/mtdconnect/mtdconnect/sqlite"
)

// connectManually runs `connect --manual`, plays the landlord at the
// simulator with the printed URL, and pastes the code back.
func (e *cliEnv) connectManually(t *testing.T) string {
	t.Helper()
	return e.connectAs(t, simUserID, simUserPassword, "")
}

// connectAs runs `connect --manual` for the CLI's landlord (for purpose;
// "" for the command's default), signs in at the simulator as the HMRC test
// user userID with the printed URL, and pastes the code back. It returns
// what the command printed.
func (e *cliEnv) connectAs(t *testing.T, userID, password string, purpose mtdconnect.Purpose) string {
	t.Helper()
	args := []string{"connect", "--user", testEmail, "--manual"}
	if purpose != "" {
		args = append(args, "--purpose", string(purpose))
	}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	var errOut bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(t.Context(), args, e.getenv, inR, outW, &errOut)
		outW.Close()
	}()
	var transcript strings.Builder
	sc := bufio.NewScanner(outR)
	var authURL string
	for authURL == "" && sc.Scan() {
		line := sc.Text()
		transcript.WriteString(line + "\n")
		if s := strings.TrimSpace(line); strings.HasPrefix(s, "http") {
			authURL = s
		}
	}
	// On failure, closing stdin lets the command return.
	if authURL == "" {
		inW.Close()
		t.Fatalf("connect printed no authorise URL: %v\n%s", <-done, errOut.String())
	}
	if !strings.Contains(authURL, "redirect_uri=urn%3Aietf%3Awg%3Aoauth%3A2.0%3Aoob") {
		inW.Close()
		t.Fatalf("authorise URL %q does not use the out-of-band redirect", authURL)
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
		t.Fatalf("no code in the simulator's page title")
	}
	go func() {
		io.WriteString(inW, "  "+m[1]+"  \n") // pasted with stray spaces
		inW.Close()
	}()
	rest, _ := io.ReadAll(outR)
	transcript.Write(rest)
	if err := <-done; err != nil {
		t.Fatalf("connect: %v\n%s", err, errOut.String())
	}
	return transcript.String()
}

func TestManualFlow(t *testing.T) {
	e := newCLIEnv(t)
	out := e.connectManually(t)
	for _, want := range []string{"valid for 10 minutes", "Paste the code", "HMRC connection (Income Tax): Connected", "read:self-assessment write:self-assessment"} {
		if !strings.Contains(out, want) {
			t.Errorf("connect output lacks %q:\n%s", want, out)
		}
	}
	var st StatusJSON
	if err := json.Unmarshal([]byte(e.run(t, nil, "status", "--user", testEmail, "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Status != "connected" || st.AuthorityEndsAt == nil || st.AccessTokenExpiresAt == nil {
		t.Fatalf("status = %+v", st)
	}
	if out := e.run(t, nil, "test", "--user", testEmail); !strings.Contains(out, "HMRC answered: your UK property business is") {
		t.Fatalf("test: %q", out)
	}
	if out := e.run(t, nil, "disconnect", "--user", testEmail); !strings.Contains(out, "remove the authority at HMRC") {
		t.Fatalf("disconnect: %q", out)
	}
	if out := e.run(t, nil, "status", "--user", testEmail); !strings.Contains(out, "Not connected") {
		t.Fatalf("status after disconnect: %q", out)
	}
}

func TestManualFlowRejectsABadCode(t *testing.T) {
	e := newCLIEnv(t)
	var out, errOut bytes.Buffer
	err := run(t.Context(), []string{"connect", "--user", testEmail, "--manual"}, e.getenv, strings.NewReader("not-a-code\n"), &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "HMRC did not accept the code") {
		t.Fatalf("err = %v", err)
	}
	if st := e.run(t, nil, "status", "--user", testEmail); !strings.Contains(st, "Not connected") {
		t.Fatalf("a bad code changed the connection: %q", st)
	}
}

// Five separate processes sharing one SQLite file all need a token that
// has expired: exactly one refresh reaches HMRC.
func TestProcessesShareOneRefresh(t *testing.T) {
	if testing.Short() {
		t.Skip("starts five processes")
	}
	e := newCLIEnv(t)
	e.connectManually(t)
	// Move the stored expiry into the past, as if four hours went by.
	dbPath := filepath.Join(e.vars["MTDCONNECT_DATA_DIR"], "mtdconnect.db")
	st, err := sqlite.Open(t.Context(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.UserByEmail(t.Context(), testEmail)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := st.Connection(t.Context(), u.ID, mtdconnect.PurposeIncomeTax)
	if err != nil {
		t.Fatal(err)
	}
	conn.AccessExpiresAt = time.Now().Add(-time.Minute)
	if err := st.UpdateConnection(t.Context(), conn); err != nil {
		t.Fatal(err)
	}
	st.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	outs := make([][]byte, 5)
	errs := make([]error, 5)
	for i := range 5 {
		wg.Go(func() {
			outs[i], errs[i] = e.command(ctx, "test", "--user", testEmail).CombinedOutput()
		})
	}
	wg.Wait()
	for i := range 5 {
		if errs[i] != nil || !bytes.Contains(outs[i], []byte("HMRC answered: your UK property business is")) {
			t.Errorf("process %d: %v\n%s", i, errs[i], outs[i])
		}
	}
	s := e.sim.Stats()
	if s.Refreshes != 1 || s.RefreshReuses != 0 || s.InProgressRejections != 0 {
		t.Fatalf("simulator saw refreshes=%d reuses=%d in-progress=%d, want 1, 0, 0", s.Refreshes, s.RefreshReuses, s.InProgressRejections)
	}
}
