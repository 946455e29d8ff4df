package main

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc/sandbox"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

// sandboxField reads "Label: value" from create-user's text output.
func sandboxField(t *testing.T, out, label string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(label) + `:\s+(\S+)\s*$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("create-user output has no %q:\n%s", label, out)
	}
	return m[1]
}

// The test user created at the simulator has valid identifiers, and its
// credentials make a real connection.
func TestSandboxCreateUserConnects(t *testing.T) {
	e := newCLIEnv(t)
	out, errOut, err := e.exec(t, nil, "sandbox", "create-user", "--services", "mtd-income-tax,mtd-vat")
	if err != nil {
		t.Fatalf("create-user: %v\n%s", err, errOut)
	}
	userID := sandboxField(t, out, "User ID")
	password := sandboxField(t, out, "Password")
	nino := sandboxField(t, out, "National Insurance number (NINO)")
	vrn := sandboxField(t, out, "VAT registration number (VRN)")
	sandboxField(t, out, "MTD Income Tax ID")
	if n, err := mtdconnect.ParseNINO(nino); err != nil || n != nino {
		t.Errorf("NINO %q: %q, %v", nino, n, err)
	}
	if v, err := mtdconnect.ParseVRN(vrn); err != nil || v != vrn {
		t.Errorf("VRN %q: %q, %v", vrn, v, err)
	}
	for _, want := range []string{"the HMRC simulator", "Settings → HMRC connection", "mtdconnect connect --user EMAIL --manual", "across restarts"} {
		if !strings.Contains(out, want) {
			t.Errorf("create-user output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(errOut, password) {
		t.Errorf("the test user's password is in the log:\n%s", errOut)
	}

	e.connectAs(t, userID, password, mtdconnect.PurposeVAT)
	var st StatusJSON
	if err := json.Unmarshal([]byte(e.run(t, nil, "status", "--user", testEmail, "--purpose", "vat", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Status != "connected" || st.Scopes != "read:vat write:vat" {
		t.Fatalf("status after connecting as the test user: %+v", st)
	}
	e.run(t, nil, "users", "set", "--email", testEmail, "--vrn", vrn)
	if got := e.run(t, nil, "test", "--user", testEmail, "--purpose", "vat"); !strings.Contains(got, "HMRC answered:") || !strings.Contains(got, "open VAT return") {
		t.Fatalf("test: %q", got)
	}
}

func TestSandboxCreateUserJSON(t *testing.T) {
	tests := []struct {
		services  string
		want      []string
		nino, vrn bool
	}{
		{"mtd-income-tax,mtd-vat", []string{"mtd-income-tax", "mtd-vat"}, true, true},
		{" MTD-VAT , national-insurance ", []string{"mtd-vat", "national-insurance"}, true, true},
		{"mtd-vat", []string{"mtd-vat"}, false, true},
		{"mtd-income-tax", []string{"mtd-income-tax"}, true, false},
	}
	e := newCLIEnv(t)
	for _, tt := range tests {
		t.Run(tt.services, func(t *testing.T) {
			out := e.run(t, nil, "sandbox", "create-user", "--services", tt.services, "--json")
			var u TestUserJSON
			if err := json.Unmarshal([]byte(out), &u); err != nil {
				t.Fatalf("--json output does not parse: %v\n%s", err, out)
			}
			if u.Environment != "simulator" || !slices.Equal(u.Services, tt.want) || u.UserID == "" || u.Password == "" {
				t.Fatalf("user %+v", u)
			}
			if _, err := mtdconnect.ParseNINO(u.NINO); (err == nil) != tt.nino {
				t.Errorf("NINO %q: %v", u.NINO, err)
			}
			if _, err := mtdconnect.ParseVRN(u.VRN); (err == nil) != tt.vrn {
				t.Errorf("VRN %q: %v", u.VRN, err)
			}
			if (u.MTDITID != "") != slices.Contains(tt.want, sandbox.ServiceMTDIncomeTax) {
				t.Errorf("MTD IT ID %q for %v", u.MTDITID, tt.want)
			}
		})
	}
}

// Bad input is refused with a clear error before anything reaches HMRC.
func TestSandboxCreateUserRefused(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"empty", []string{"--services", ""}, nil, "--services is empty"},
		{"blank", []string{"--services", "  "}, nil, "--services is empty"},
		{"typo", []string{"--services", "mtd-income-tax,mtd-vta"}, nil, `"mtd-vta" is not a Create Test User service`},
		{"space inside", []string{"--services", "mtd vat"}, nil, `"mtd vat" is not a Create Test User service`},
		{"twice", []string{"--services", "mtd-vat,MTD-VAT"}, nil, `lists "mtd-vat" twice`},
		{"empty name", []string{"--services", "mtd-vat,,mtd-income-tax"}, nil, "has an empty name"},
		{"trailing comma", []string{"--services", "mtd-vat,"}, nil, "has an empty name"},
		{"not used here", []string{"--services", "customs-services"}, nil, "this service does not use it"},
		{"argument", []string{"mtd-vat"}, nil, `unexpected argument "mtd-vat"`},
		{"production", []string{"--services", "mtd-vat"}, map[string]string{"MTDCONNECT_HMRC": "production"}, "sandbox only"},
		{"production flag", []string{"--hmrc", "production"}, nil, "MTDCONNECT_HMRC=sandbox"},
	}
	e := newCLIEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.sim.Stats()
			saved := map[string]string{}
			for k, v := range tt.env {
				saved[k] = e.vars[k]
				e.vars[k] = v
			}
			defer maps.Copy(e.vars, saved)
			_, _, err := e.exec(t, nil, append([]string{"sandbox", "create-user"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to say %q", err, tt.want)
			}
			if after := e.sim.Stats(); after.TokenRequests != before.TokenRequests || after.APIRequests != before.APIRequests {
				t.Fatalf("a refused request reached HMRC: %+v, then %+v", before, after)
			}
		})
	}
}

// With MTDCONNECT_HMRC=simulator and no simulator running, the error says
// to start one, and nothing is created.
func TestSandboxCreateUserNeedsSimulator(t *testing.T) {
	addr := freeAddr(t) // nothing listens there now
	dir := t.TempDir()
	e := &cliEnv{vars: map[string]string{
		"MTDCONNECT_DATA_DIR":       dir,
		"MTDCONNECT_HMRC":           "simulator",
		"MTDCONNECT_SIMULATOR_ADDR": addr,
	}}
	_, _, err := e.exec(t, nil, "sandbox", "create-user")
	if err == nil {
		t.Fatal("create-user succeeded with no simulator running")
	}
	for _, want := range []string{"no HMRC simulator is running at " + addr, "mtdconnect serve", "mtdconnect simulator"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "mtdconnect.db")); !os.IsNotExist(err) {
		t.Errorf("the refused command created the database: %v", err)
	}
}

// Against the sandbox (the simulator standing in, through the URL
// overrides) with the application stored by `app set`: refused until an
// administrator confirms the consent, with the way to do it in the error;
// then it works.
func TestSandboxCreateUserNeedsConsent(t *testing.T) {
	const clientID, secret = "sandboxAppClientId0001", "7a1c2f3e-5b6d-4e8f-9a0b-1c2d3e4f5a6b"
	e := newSimCLIEnv(t, "sandbox", hmrcsim.Application{ClientID: clientID, ClientSecret: secret, Name: "sandbox test"})
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// No application stored yet: the error says how to store one.
	_, _, err := e.exec(t, nil, "sandbox", "create-user")
	if err == nil || !strings.Contains(err.Error(), "mtdconnect app set --env sandbox") {
		t.Fatalf("with no application: %v", err)
	}
	e.run(t, nil, "app", "set", "--env", "sandbox", "--client-id", clientID, "--client-secret-file", secretFile)

	before := e.sim.Stats()
	_, _, err = e.exec(t, nil, "sandbox", "create-user")
	if err == nil || !strings.Contains(err.Error(), "mtdconnect app confirm --env sandbox") || !strings.Contains(err.Error(), "Admin → HMRC application") {
		t.Fatalf("without consent: %v", err)
	}
	if after := e.sim.Stats(); after.TokenRequests != before.TokenRequests || after.APIRequests != before.APIRequests {
		t.Fatal("create-user reached HMRC without the consent")
	}

	e.run(t, nil, "app", "confirm", "--env", "sandbox")
	out := e.run(t, nil, "sandbox", "create-user", "--services", "mtd-vat")
	for _, want := range []string{"HMRC's sandbox", "HMRC's sandbox sign-in page", "VAT registration number (VRN)", "unused for 3 months"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, err := mtdconnect.ParseVRN(sandboxField(t, out, "VAT registration number (VRN)")); err != nil {
		t.Error(err)
	}
	if after := e.sim.Stats(); after.TokenRequests != before.TokenRequests+1 || after.APIRequests != before.APIRequests+1 {
		t.Fatalf("want one token request and one API request, got %+v then %+v", before, after)
	}
}
