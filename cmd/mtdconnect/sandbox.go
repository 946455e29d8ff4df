package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/sandbox"
	"github.com/mtdconnect/mtdconnect/landlord"
)

// sandboxServices are the Create Test User services this service's
// journeys use, the ones `sandbox create-user --services` accepts.
var sandboxServices = []string{
	sandbox.ServiceMTDIncomeTax,
	sandbox.ServiceMTDVAT,
	sandbox.ServiceNationalInsurance,
	sandbox.ServiceSelfAssessment,
}

// otherHMRCServices are the other services HMRC's Create Test User API
// offers individuals (its create-individual-request schema). Named
// separately so that asking for one says why it is refused rather than
// calling it a typo.
var otherHMRCServices = []string{"customs-services", "goods-vehicle-movements", "common-transit-convention-traders"}

const defaultSandboxServices = sandbox.ServiceMTDIncomeTax + "," + sandbox.ServiceMTDVAT

// TestUserJSON is a created test user as `sandbox create-user --json`
// prints it. It holds the test user's password: the command exists to hand
// it over, and the user is a made-up one in HMRC's sandbox.
type TestUserJSON struct {
	Environment         string   `json:"environment"`
	Services            []string `json:"services"`
	UserID              string   `json:"user_id"`
	Password            string   `json:"password"`
	Name                string   `json:"name,omitempty"`
	Email               string   `json:"email,omitempty"`
	NINO                string   `json:"nino,omitempty"`
	MTDITID             string   `json:"mtd_it_id,omitempty"`
	VRN                 string   `json:"vrn,omitempty"`
	VATRegistrationDate string   `json:"vat_registration_date,omitempty"`
	SAUTR               string   `json:"sa_utr,omitempty"`
	// Landlord and BusinessID: with --user, the landlord given the test
	// user's identifiers, and the UK property test business created for it.
	Landlord   string `json:"landlord,omitempty"`
	BusinessID string `json:"business_id,omitempty"`
}

func runSandboxCreateUser(ctx context.Context, cfg *Config, servicesFlag, landlordEmail string, asJSON bool, p *proc) error {
	stdout := p.stdout
	// Everything that can be refused is refused before the database is
	// opened or anything is sent.
	services, err := parseSandboxServices(servicesFlag)
	if err != nil {
		return err
	}
	if cfg.HMRC == hmrc.EnvProduction {
		return errors.New("HMRC has Create Test User in its sandbox only: production has real taxpayers and no test users. " +
			"Run this with MTDCONNECT_HMRC=sandbox (and the sandbox application's credentials), or against the simulator")
	}
	if err := cfg.resolve(); err != nil {
		return err
	}
	if cfg.HMRC == hmrc.EnvSimulator {
		if err := checkSimulatorRunning(cfg); err != nil {
			return err
		}
	}
	a, err := openApp(ctx, cfg, p.stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	var landlordUser *mtdconnect.User
	if landlordEmail != "" {
		if landlordUser, err = a.userByEmail(ctx, landlordEmail); err != nil {
			return err
		}
	}
	u, err := sandbox.New(a.hmrc).CreateTestUser(ctx, services)
	if err != nil {
		return explainCreateUser(cfg, err)
	}
	out := TestUserJSON{
		Environment: cfg.HMRC, Services: services,
		UserID: u.UserID, Password: u.Password, Name: u.UserFullName, Email: u.EmailAddress,
		NINO: u.NINO, MTDITID: u.MTDITID, VRN: u.VRN, VATRegistrationDate: u.VATRegistrationDate, SAUTR: u.SAUTR,
	}
	if !asJSON {
		printTestUser(stdout, cfg, services, u, landlordUser != nil)
	}
	if landlordUser != nil {
		// The prompts of the sign-in go where a person reads them; with
		// --json standard output holds the JSON only.
		talk := stdout
		if asJSON {
			talk = p.stderr
		}
		out.Landlord = landlordUser.Email
		if out.BusinessID, err = setUpTestLandlord(ctx, a, landlordUser, u, talk, p.stdin); err != nil {
			return err
		}
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	return nil
}

// setUpTestLandlord gives the landlord the test user's identifiers and,
// when the test user has Income Tax, connects the landlord as it (HMRC's
// out-of-band flow: the person running the command signs in with the test
// user's credentials and pastes the code) and creates its UK property test
// business, stored as the landlord's. It returns the business ID.
func setUpTestLandlord(ctx context.Context, a *app, u *mtdconnect.User, tu *sandbox.TestUser, talk io.Writer, stdin io.Reader) (string, error) {
	if tu.NINO != "" {
		u.NINO = tu.NINO
	}
	if tu.VRN != "" {
		u.VRN = tu.VRN
	}
	if err := a.store.UpdateUser(ctx, u); err != nil {
		return "", fmt.Errorf("give %s the test user's identifiers: %w", u.Email, err)
	}
	fmt.Fprintf(talk, "\n%s now has the test user's NINO %s and VRN %s.\n", u.Email, cmpOr(u.NINO, "(none)"), cmpOr(u.VRN, "(none)"))
	if tu.MTDITID == "" || tu.NINO == "" {
		fmt.Fprintln(talk, "The test user has no MTD Income Tax enrolment, so no UK property test business is made.")
		return "", nil
	}
	fmt.Fprintf(talk, "\nHMRC creates a test business only for a connected landlord: connect %s for Income Tax, signing in at HMRC as the test user above.\n", u.Email)
	if err := manualConnect(ctx, a, u, mtdconnect.PurposeIncomeTax, stdin, talk); err != nil {
		return "", err
	}
	fmt.Fprintln(talk)
	id, err := createTestBusiness(ctx, a, u)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(talk, "Created a UK property test business for %s: %s\n", u.Email, id)
	fmt.Fprintln(talk, "It is stored as the landlord's business, so the pages and the API use it; Gov-Test-Scenario: STATEFUL reaches its data.")
	return id, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// createTestBusiness creates the landlord's UK property test business
// through the Self Assessment Test Support API and explains its refusals.
func createTestBusiness(ctx context.Context, a *app, u *mtdconnect.User) (string, error) {
	origin, err := a.hmrc.BatchOrigin(map[string]string{"mtdconnect": strconv.FormatInt(u.ID, 10)})
	if err != nil {
		return "", fmt.Errorf("describe this server for HMRC's fraud prevention headers: %w", err)
	}
	id, err := a.landlord.CreateTestBusiness(ctx, landlord.ByAdministrator(""), u.ID, origin)
	var ae *hmrc.APIError
	switch {
	case err == nil:
		return id, nil
	case errors.As(err, &ae) && ae.Status == http.StatusNotFound && ae.Code == "MATCHING_RESOURCE_NOT_FOUND" && a.cfg.HMRC == hmrc.EnvSimulator:
		return "", errors.New("the simulator runs in demo mode, which has no Self Assessment Test Support API (every test user already has a UK property business there): " +
			"run it with --simulator-mode sandbox (MTDCONNECT_SIMULATOR_MODE=sandbox) to make test businesses as in HMRC's sandbox")
	case errors.As(err, &ae) && ae.Code == "RULE_PROPERTY_BUSINESS_ADDED":
		return "", errors.New("HMRC already holds a UK property test business for this test user (one of each property business is allowed; HMRC purges them 7 days after creation): " +
			"find it with `mtdconnect test --user EMAIL` and Gov-Test-Scenario STATEFUL, or use another test user")
	case errors.As(err, &ae) && (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden):
		return "", fmt.Errorf("HMRC refused: check that the application is subscribed to the Self Assessment Test Support API at HMRC's Developer Hub: %w", err)
	}
	return "", explain(err)
}

func runSandboxCreateBusiness(ctx context.Context, cfg *Config, uf userFlags, p *proc) error {
	if cfg.HMRC == hmrc.EnvProduction {
		return errors.New("HMRC has the Self Assessment Test Support API in its sandbox only: run this with MTDCONNECT_HMRC=sandbox, or against the simulator")
	}
	a, u, _, err := uf.open(ctx, cfg, p.stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	if u.NINO == "" {
		return explain(landlord.ErrNoNINO)
	}
	id, err := createTestBusiness(ctx, a, u)
	if err != nil {
		return err
	}
	fmt.Fprintf(p.stdout, "Created a UK property test business for %s: %s\n", u.Email, id)
	return nil
}

// parseSandboxServices reads --services: names separated by commas, spaces
// around them ignored, each one this service uses, none twice.
func parseSandboxServices(s string) ([]string, error) {
	known := strings.Join(sandboxServices, ", ")
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("--services is empty: a test user with no services can use neither MTD API; give one or more of %s", known)
	}
	var out []string
	for name := range strings.SplitSeq(s, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		switch {
		case name == "":
			return nil, fmt.Errorf("--services %q has an empty name: separate the names with single commas, e.g. %s", s, defaultSandboxServices)
		case slices.Contains(out, name):
			return nil, fmt.Errorf("--services lists %q twice", name)
		case slices.Contains(otherHMRCServices, name):
			return nil, fmt.Errorf("--services: HMRC offers %q, but this service does not use it; give one or more of %s", name, known)
		case !slices.Contains(sandboxServices, name):
			return nil, fmt.Errorf("--services: %q is not a Create Test User service; give one or more of %s", name, known)
		}
		out = append(out, name)
	}
	return out, nil
}

// checkSimulatorRunning makes sure something answers at the simulator's
// addresses. `sandbox create-user` does not start a simulator of its own:
// the test user must live in the one the service talks to.
func checkSimulatorRunning(cfg *Config) error {
	var hosts []string
	for _, raw := range []string{cfg.TokenURL, cfg.APIURL} {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return fmt.Errorf("the simulator's address %q is not a URL", raw)
		}
		host := u.Host
		if u.Port() == "" {
			port := "80"
			if u.Scheme == "https" {
				port = "443"
			}
			host = net.JoinHostPort(u.Hostname(), port)
		}
		if !slices.Contains(hosts, host) {
			hosts = append(hosts, host)
		}
	}
	for _, host := range hosts {
		conn, err := net.DialTimeout("tcp", host, 2*time.Second)
		if err != nil {
			return fmt.Errorf("no HMRC simulator is running at %s (%v). Start one first, then run this again:\n"+
				"  mtdconnect serve       runs the service with its simulator on %s\n"+
				"  mtdconnect simulator   runs the simulator alone\n"+
				"Test users live in the simulator that creates them, so create them in the one the service uses", host, err, cfg.SimulatorAddr)
		}
		conn.Close()
	}
	return nil
}

// explainCreateUser turns a Create Test User failure into what to do.
func explainCreateUser(cfg *Config, err error) error {
	var ae *hmrc.APIError
	switch {
	case errors.Is(err, hmrc.ErrNotConfirmed):
		// The error names both ways to confirm (the admin page and the
		// command); say why it applies to a test user too.
		return fmt.Errorf("%w. Creating a test user calls HMRC's %s, so it needs the same consent as connecting", err, cfg.HMRC)
	case errors.As(err, &ae) && (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden):
		return fmt.Errorf("HMRC refused the application: check that the %s application is subscribed to the Create Test User API at HMRC's Developer Hub and that its credentials are current: %w", cfg.HMRC, err)
	case errors.Is(err, hmrc.ErrUnavailable):
		// A test user HMRC created but whose answer was lost is harmless:
		// unused test users are deleted after 3 months.
		return fmt.Errorf("HMRC %s could not be reached or failed; try again in a few minutes: %w", cfg.HMRC, err)
	}
	return err
}

func printTestUser(w io.Writer, cfg *Config, services []string, u *sandbox.TestUser, landlordGiven bool) {
	where := "HMRC's sandbox"
	if cfg.HMRC == hmrc.EnvSimulator {
		where = "the HMRC simulator"
	}
	fmt.Fprintf(w, "Created a test user in %s, enrolled for %s.\n\n", where, strings.Join(services, ", "))
	row := func(label, value string) {
		if value != "" {
			fmt.Fprintf(w, "  %-34s %s\n", label+":", value)
		}
	}
	row("User ID", u.UserID)
	row("Password", u.Password)
	row("Name", u.UserFullName)
	row("National Insurance number (NINO)", u.NINO)
	row("MTD Income Tax ID", u.MTDITID)
	row("Self Assessment UTR", u.SAUTR)
	row("VAT registration number (VRN)", u.VRN)
	row("VAT registration date", u.VATRegistrationDate)
	if landlordGiven {
		return // setUpTestLandlord carries on
	}

	fmt.Fprintln(w, "\nNext:")
	n := 1
	step := func(format string, args ...any) {
		fmt.Fprintf(w, "  %d. "+format+"\n", append([]any{n}, args...)...)
		n++
	}
	if u.NINO != "" {
		step("Sign in to mtdconnect as the landlord and enter the NINO %s at Settings → HMRC connection (Your details).", u.NINO)
	}
	if u.VRN != "" {
		step("Enter the VRN %s on the VAT page.", u.VRN)
	}
	signIn := "HMRC's sandbox sign-in page"
	if cfg.HMRC == hmrc.EnvSimulator {
		signIn = "the simulator's sign-in page"
	}
	step("Connect at Settings → HMRC connection, or: mtdconnect connect --user EMAIL --manual [--purpose vat].\n"+
		"     When %s asks, sign in with the user ID and password above and grant authority.", signIn)
	if u.MTDITID != "" {
		step("Create its UK property test business: mtdconnect sandbox create-business --user EMAIL\n" +
			"     (or run create-user with --user EMAIL, which does steps 1 to 3 and this one in one go).")
	}
	if cfg.HMRC == hmrc.EnvSimulator {
		fmt.Fprintln(w, "\nThe simulator of `mtdconnect serve` keeps this user in its data directory across restarts;\n"+
			"`mtdconnect simulator` on its own keeps it in memory, until it stops.")
	} else {
		fmt.Fprintln(w, "\nKeep these details: HMRC will not show the password again, and deletes test users unused for 3 months.")
	}
}
