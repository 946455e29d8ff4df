package main

// `mtdconnect sandbox check` and `mtdconnect fraud-headers check`: what HMRC
// asks of a product before production credentials. "You are required to
// test all endpoints shown within the documentation" (HMRC's end-to-end
// service guide, how-to-integrate), and the fraud prevention headers must
// be right first (Test Fraud Prevention Headers API). Both refuse
// production: the check files a quarterly update and a VAT return.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/calc"
	"github.com/mtdconnect/mtdconnect/hmrc/fraud"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
	"github.com/mtdconnect/mtdconnect/hmrc/sandbox"
	"github.com/mtdconnect/mtdconnect/hmrc/vat"
	"github.com/mtdconnect/mtdconnect/landlord"
)

// CheckRow is one request of `sandbox check` and HMRC's answer.
type CheckRow struct {
	Call          string `json:"call"`
	Method        string `json:"method"`
	Path          string `json:"path"` // with the NINO or VRN as {id}
	Status        int    `json:"status"`
	Code          string `json:"code,omitempty"` // HMRC's error code
	CorrelationID string `json:"correlation_id,omitempty"`
	// Problem says why the call counts as failed: no answer from HMRC,
	// HMRC's 5xx, a refused authority or a request HMRC found malformed.
	Problem string `json:"problem,omitempty"`
}

// authorityCodes are HMRC's 403 codes that say the call's authority is
// wrong: the application's subscription, the token or the landlord's.
var authorityCodes = []string{"CLIENT_OR_AGENT_NOT_AUTHORISED", "INVALID_SCOPE", "INCORRECT_ACCESS_TOKEN_TYPE",
	"UNAUTHORIZED", "FORBIDDEN", "RESOURCE_FORBIDDEN", "INVALID_CREDENTIALS", "MISSING_CREDENTIALS"}

// checkRecorder collects the requests made under its context.
type checkRecorder struct {
	mu   sync.Mutex
	rows []CheckRow
}

func (r *checkRecorder) record(x hmrc.Exchange) {
	row := CheckRow{Call: callName(x), Method: x.Method, Path: x.Path, Status: x.Status, Code: x.Code, CorrelationID: x.CorrelationID}
	switch {
	case x.Err != nil || x.Status == 0:
		row.Problem = "no answer from HMRC"
	case x.Status >= 500:
		row.Problem = "HMRC failed"
	case x.Status == http.StatusUnauthorized || x.Status == http.StatusForbidden && slices.Contains(authorityCodes, x.Code):
		// A 403 of a business rule (a duplicate VAT return) is HMRC's
		// answer to a call that works.
		row.Problem = "HMRC refused the authority"
	case x.Status == http.StatusBadRequest && (strings.HasPrefix(x.Code, "FORMAT_") || x.Code == "INVALID_REQUEST" ||
		x.Code == "RULE_INCORRECT_OR_EMPTY_BODY_SUBMITTED" || x.Code == "RULE_INCORRECT_GOV_TEST_SCENARIO"):
		row.Problem = "HMRC found the request malformed"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rows = append(r.rows, row)
}

// note records a step that sent nothing, and why.
func (r *checkRecorder) note(call string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rows = append(r.rows, CheckRow{Call: call, Problem: "not called: " + err.Error()})
}

// callName names an HMRC request as its API's documentation does.
func callName(x hmrc.Exchange) string {
	p := x.Path
	switch x.API {
	case itsa.APIBusinessDetails:
		if x.Method == http.MethodPut {
			return "Business Details: create and amend quarterly period type"
		}
		return "Business Details: list all businesses"
	case itsa.APIObligations:
		if strings.HasSuffix(p, "/crystallisation") {
			return "Obligations: final declaration"
		}
		return "Obligations: income and expenditure"
	case itsa.APIPropertyBusiness:
		switch annual := strings.Contains(p, "/annual/"); {
		case annual && x.Method == http.MethodPut:
			return "Property Business: create and amend UK property annual submission"
		case annual:
			return "Property Business: retrieve UK property annual submission"
		case x.Method == http.MethodPut:
			return "Property Business: create or amend UK property cumulative summary"
		}
		return "Property Business: retrieve UK property cumulative summary"
	case calc.API:
		// …/self-assessment/{taxYear}[/trigger/{type} | /{id}[/{type}]]
		rest := strings.Split(strings.TrimPrefix(p, "/"), "/")
		switch {
		case x.Method == http.MethodPost && len(rest) >= 2 && rest[len(rest)-2] == "trigger":
			return "Individual Calculations: trigger a calculation (" + rest[len(rest)-1] + ")"
		case x.Method == http.MethodPost:
			return "Individual Calculations: submit a final declaration (" + rest[len(rest)-1] + ")"
		case strings.HasSuffix(p, "/self-assessment/"+rest[len(rest)-1]) && len(rest[len(rest)-1]) == 7:
			return "Individual Calculations: list calculations"
		}
		return "Individual Calculations: retrieve a calculation"
	case vat.API:
		switch {
		case strings.HasSuffix(p, "/obligations"):
			return "VAT: retrieve obligations"
		case x.Method == http.MethodPost:
			return "VAT: submit return"
		}
		return "VAT: view return"
	case sandbox.APICreateTestUser:
		return "Create Test User: individual"
	case sandbox.APITestSupport:
		return "Self Assessment Test Support: create a test business"
	case sandbox.APIFraudHeaders:
		if strings.HasSuffix(p, "/validate") {
			return "Test Fraud Prevention Headers: validate"
		}
		api := strings.TrimSuffix(strings.TrimPrefix(p, "/test/fraud-prevention-headers/"), "/validation-feedback")
		return "Test Fraud Prevention Headers: validation feedback (" + api + ")"
	}
	return x.API + " " + x.Method + " " + p
}

func runSandboxCheck(ctx context.Context, cfg *Config, email string, asJSON bool, p *proc) error {
	if cfg.HMRC == hmrc.EnvProduction {
		return errors.New("sandbox check files a quarterly update and a VAT return to test every endpoint: run it against HMRC's sandbox (MTDCONNECT_HMRC=sandbox) or the simulator, never production")
	}
	a, err := openApp(ctx, cfg, p.stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	u, err := a.userByEmail(ctx, email)
	if err != nil {
		return err
	}
	rec := &checkRecorder{}
	ctx = hmrc.WithRecorder(ctx, rec.record)
	origin, err := a.hmrc.BatchOrigin(map[string]string{"mtdconnect": strconv.FormatInt(u.ID, 10)})
	if err != nil {
		return fmt.Errorf("describe this server for HMRC's fraud prevention headers: %w", err)
	}
	checkCalls(ctx, a, u, origin, rec)
	failed := 0
	for _, r := range rec.rows {
		if r.Problem != "" {
			failed++
		}
	}
	if asJSON {
		enc := json.NewEncoder(p.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rec.rows); err != nil {
			return err
		}
	} else {
		printCheck(p.stdout, cfg, u, rec.rows)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d calls failed (see PROBLEM)", failed, len(rec.rows))
	}
	return nil
}

// checkCalls makes every call the product makes, through the product's own
// API clients, as the landlord u (batch calls: no landlord waits). A step
// that cannot be made is noted and the others go on.
func checkCalls(ctx context.Context, a *app, u *mtdconnect.User, origin *fraud.Origin, rec *checkRecorder) {
	sb := sandbox.New(a.hmrc)
	ic := itsa.New(a.hmrc, a.store)
	vc := vat.New(a.hmrc)
	if _, err := sb.CreateTestUser(ctx, []string{sandbox.ServiceMTDIncomeTax, sandbox.ServiceMTDVAT}); err != nil && len(hmrcErrors(err)) == 0 {
		rec.note("Create Test User: individual", err)
	}

	// Income Tax: the business ID (stored, or listed and stored), the
	// test business when the landlord has none, the quarters, the
	// obligations, an update and its read-back.
	switch {
	case u.NINO == "":
		rec.note("Income Tax", errors.New("the landlord has no NINO (mtdconnect users set --email EMAIL --nino NINO)"))
	default:
		if _, err := ic.Businesses(ctx, u.ID, u.NINO, origin, itsa.WithPriority(hmrc.Interactive)); err != nil && len(hmrcErrors(err)) == 0 {
			rec.note("Business Details: list all businesses", err)
		}
		_, err := ic.UKPropertyBusinessID(ctx, u.ID, u.NINO, origin)
		if errors.Is(err, itsa.ErrNoUKProperty) {
			// The sandbox lists a self-employment only by default: make
			// the landlord's UK property test business.
			_, err = a.landlord.CreateTestBusiness(ctx, landlord.ByAdministrator("sandbox check"), u.ID, origin)
		}
		if err != nil {
			if len(hmrcErrors(err)) == 0 {
				rec.note("Income Tax", err)
			}
			break
		}
		taxYear := itsa.CurrentTaxYear(a.hmrc.Now())
		_, _ = ic.SetQuarterlyPeriodType(ctx, u.ID, u.NINO, taxYear, itsa.PeriodTypeStandard, origin)
		obs, _ := ic.Obligations(ctx, u.ID, u.NINO, taxYear, origin)
		from, to := taxYear.FirstDay(), fmt.Sprintf("%04d-07-05", int(taxYear))
		if len(obs) > 0 {
			from, to = obs[0].Start, obs[0].End
		}
		one, _ := mtdconnect.ParseAmount("100.00")
		body := itsa.UKPropertyCumulative{FromDate: from, ToDate: to, UKProperty: itsa.UKProperty{Income: &itsa.UKPropertyIncome{PeriodAmount: one}}}
		if _, err := ic.SubmitUKPropertyCumulative(ctx, u.ID, u.NINO, taxYear, body, origin); err != nil && len(hmrcErrors(err)) == 0 {
			rec.note("Property Business: create or amend UK property cumulative summary", err)
		}
		if _, err := ic.UKPropertyCumulative(ctx, u.ID, u.NINO, taxYear, origin); err != nil && len(hmrcErrors(err)) == 0 && !errors.Is(err, itsa.ErrNoSubmission) {
			rec.note("Property Business: retrieve UK property cumulative summary", err)
		}
		checkYearEnd(ctx, a, u, taxYear, origin, rec)
	}

	// VAT: the open obligations, a nil return for the first of them and
	// its read-back.
	switch {
	case u.VRN == "":
		rec.note("VAT", errors.New("the landlord has no VRN (mtdconnect users set --email EMAIL --vrn VRN)"))
	default:
		obs, err := vc.Obligations(ctx, u.ID, u.VRN, time.Time{}, time.Time{}, vat.StatusOpen, origin)
		if err != nil {
			if len(hmrcErrors(err)) == 0 {
				rec.note("VAT: retrieve obligations", err)
			}
			break
		}
		if len(obs) == 0 {
			rec.note("VAT: submit return", errors.New("HMRC lists no open VAT obligation to file"))
			break
		}
		key := obs[0].PeriodKey
		zero := *mtdconnect.Pence(0)
		ret := vat.Return{PeriodKey: key, VATDueSales: zero, VATDueAcquisitions: zero, TotalVATDue: zero, VATReclaimedCurrPeriod: zero,
			NetVATDue: zero, TotalValueSalesExVAT: zero, TotalValuePurchasesExVAT: zero, TotalValueGoodsSuppliedExVAT: zero,
			TotalAcquisitionsExVAT: zero, Finalised: true}
		if _, err := vc.SubmitReturn(ctx, u.ID, u.VRN, ret, origin); err != nil && len(hmrcErrors(err)) == 0 {
			rec.note("VAT: submit return", err)
		}
		if _, err := vc.Return(ctx, u.ID, u.VRN, key, origin); err != nil && len(hmrcErrors(err)) == 0 && !errors.Is(err, vat.ErrNoReturn) {
			rec.note("VAT: view return", err)
		}
	}

	// The fraud prevention headers: this request's, and HMRC's feedback
	// on the calls above.
	if _, err := sb.ValidateFraudHeaders(ctx, origin); err != nil && len(hmrcErrors(err)) == 0 {
		rec.note("Test Fraud Prevention Headers: validate", err)
	}
	for _, api := range sandbox.FeedbackAPIs {
		if _, err := sb.FraudFeedback(ctx, api, string(fraud.BatchProcessDirect)); err != nil && len(hmrcErrors(err)) == 0 {
			rec.note("Test Fraud Prevention Headers: validation feedback ("+api+")", err)
		}
	}
}

// checkYearEnd makes the year end's calls for taxYear: the final
// declaration obligation, the annual submission and its read-back, an
// estimate (triggered, awaited as HMRC asks, retrieved) and the list of
// calculations, then the final declaration's calculation and declaration.
// Before the year is over HMRC refuses the last two with a business rule
// (RULE_TAX_YEAR_NOT_ENDED): an answer, so the endpoints count as tested.
func checkYearEnd(ctx context.Context, a *app, u *mtdconnect.User, taxYear itsa.TaxYear, origin *fraud.Origin, rec *checkRecorder) {
	ic := itsa.New(a.hmrc, a.store)
	cc := calc.New(a.hmrc)
	if _, err := ic.FinalDeclarationObligation(ctx, u.ID, u.NINO, taxYear, origin); err != nil && len(hmrcErrors(err)) == 0 {
		rec.note("Obligations: final declaration", err)
	}
	no := false
	zero, _ := mtdconnect.ParseAmount("0.00")
	annual := itsa.UKPropertyAnnual{UKProperty: &itsa.UKPropertyYear{
		Adjustments: &itsa.UKPropertyAdjustments{PrivateUseAdjustment: zero, NonResidentLandlord: &no}}}
	if _, err := ic.SubmitUKPropertyAnnual(ctx, u.ID, u.NINO, taxYear, annual, origin); err != nil && len(hmrcErrors(err)) == 0 {
		rec.note("Property Business: create and amend UK property annual submission", err)
	}
	if _, err := ic.UKPropertyAnnual(ctx, u.ID, u.NINO, taxYear, origin); err != nil && len(hmrcErrors(err)) == 0 && !errors.Is(err, itsa.ErrNoAnnualSubmission) {
		rec.note("Property Business: retrieve UK property annual submission", err)
	}
	by := landlord.ByAdministrator("sandbox check")
	_, err := a.landlord.Calculate(ctx, by, landlord.CalculationRequest{UserID: u.ID, TaxYear: taxYear, Type: calc.InYear, Origin: origin})
	var pending *landlord.CalculationPendingError
	if err != nil && len(hmrcErrors(err)) == 0 && !errors.As(err, &pending) {
		rec.note("Individual Calculations: trigger a calculation (in-year)", err)
	}
	if _, err := cc.List(ctx, u.ID, u.NINO, taxYear, "", origin); err != nil && len(hmrcErrors(err)) == 0 {
		rec.note("Individual Calculations: list calculations", err)
	}
	id, _, err := cc.Trigger(ctx, u.ID, u.NINO, taxYear, calc.IntentToFinalise, origin)
	switch {
	case err != nil:
		if len(hmrcErrors(err)) == 0 {
			rec.note("Individual Calculations: trigger a calculation (intent-to-finalise)", err)
		}
	default:
		// The declaration needs HMRC to have finished the calculation.
		if _, err := a.landlord.Calculation(ctx, u.ID, taxYear, id, origin, ""); err != nil && len(hmrcErrors(err)) == 0 && !errors.Is(err, calc.ErrNotReady) {
			rec.note("Individual Calculations: retrieve a calculation", err)
		}
		if _, err := cc.Submit(ctx, u.ID, u.NINO, taxYear, id, calc.FinalDeclaration, origin); err != nil && len(hmrcErrors(err)) == 0 {
			rec.note("Individual Calculations: submit a final declaration (final-declaration)", err)
		}
	}
}

// hmrcErrors are HMRC's own answers in err (recorded as such), as opposed
// to a refusal before anything was sent.
func hmrcErrors(err error) []*hmrc.APIError {
	var ae *hmrc.APIError
	if errors.As(err, &ae) || errors.Is(err, hmrc.ErrUnavailable) {
		return []*hmrc.APIError{ae}
	}
	return nil
}

func printCheck(w io.Writer, cfg *Config, u *mtdconnect.User, rows []CheckRow) {
	where := "HMRC's sandbox"
	if cfg.HMRC == hmrc.EnvSimulator {
		where = "the HMRC simulator (" + cfg.APIURL + ")"
	}
	fmt.Fprintf(w, "Every endpoint mtdconnect uses, called in %s as %s:\n\n", where, u.Email)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CALL\tSTATUS\tHMRC CODE\tCORRELATION ID\tPROBLEM")
	for _, r := range rows {
		status := "-"
		if r.Status != 0 {
			status = strconv.Itoa(r.Status)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Call, status, cmpOr(r.Code, "-"), cmpOr(r.CorrelationID, "-"), r.Problem)
	}
	tw.Flush()
	var calls []string
	for _, r := range rows {
		if r.Status != 0 && !slices.Contains(calls, r.Call) {
			calls = append(calls, r.Call)
		}
	}
	fmt.Fprintf(w, "\n%d requests to %d endpoints. HMRC's correlation IDs above are its references for these calls: "+
		"keep them for the production approval (docs/PRODUCTION.md).\n", len(rows), len(calls))
}

func runFraudHeadersCheck(ctx context.Context, cfg *Config, asJSON bool, p *proc) error {
	if cfg.HMRC == hmrc.EnvProduction {
		return errors.New("HMRC has the Test Fraud Prevention Headers API in its sandbox only: run this with MTDCONNECT_HMRC=sandbox, or against the simulator")
	}
	a, err := openApp(ctx, cfg, p.stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	origin, err := a.hmrc.BatchOrigin(map[string]string{"mtdconnect": "fraud-headers-check"})
	if err != nil {
		return fmt.Errorf("describe this server for HMRC's fraud prevention headers: %w", err)
	}
	sb := sandbox.New(a.hmrc)
	verdict, err := sb.ValidateFraudHeaders(ctx, origin)
	if err != nil {
		return explainCreateUser(cfg, err)
	}
	var feedback []*sandbox.FraudFeedback
	for _, api := range sandbox.FeedbackAPIs {
		for _, method := range []fraud.ConnectionMethod{fraud.WebAppViaServer, fraud.BatchProcessDirect} {
			f, err := sb.FraudFeedback(ctx, api, string(method))
			if err != nil {
				return explainCreateUser(cfg, err)
			}
			f.API = api + " " + string(method)
			feedback = append(feedback, f)
		}
	}
	if asJSON {
		enc := json.NewEncoder(p.stdout)
		enc.SetIndent("", "  ")
		type fb struct {
			API      string                 `json:"api"`
			Seen     bool                   `json:"seen"`
			Requests []sandbox.FraudRequest `json:"requests"`
		}
		out := struct {
			Verdict  *sandbox.FraudVerdict `json:"verdict"`
			Feedback []fb                  `json:"feedback"`
		}{Verdict: verdict}
		for _, f := range feedback {
			out.Feedback = append(out.Feedback, fb{f.API, f.Seen, f.Requests})
		}
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		printFraudCheck(p.stdout, verdict, feedback)
	}
	if verdict.Code == sandbox.VerdictInvalid {
		return errors.New("HMRC found this deployment's batch fraud prevention headers invalid (see ERRORS)")
	}
	return nil
}

func printFraudCheck(w io.Writer, v *sandbox.FraudVerdict, feedback []*sandbox.FraudFeedback) {
	fmt.Fprintf(w, "HMRC's verdict on this deployment's headers for calls no landlord starts (BATCH_PROCESS_DIRECT):\n  %s: %s\n", v.Code, v.Message)
	fmt.Fprintf(w, "  correlation ID: %s\n", v.CorrelationID)
	issues := func(title string, list []sandbox.FraudIssue) {
		if len(list) == 0 {
			return
		}
		fmt.Fprintf(w, "\n%s:\n", title)
		for _, i := range list {
			fmt.Fprintf(w, "  %s %s: %s\n", i.Code, strings.Join(i.Headers, ", "), i.Message)
		}
	}
	issues("ERRORS", v.Errors)
	issues("WARNINGS", v.Warnings)
	fmt.Fprintln(w, "\nHMRC's feedback on the latest sandbox request to each endpoint, by connection method:")
	for _, f := range feedback {
		if !f.Seen {
			fmt.Fprintf(w, "  %s: no request seen yet\n", f.API)
			continue
		}
		for _, r := range f.Requests {
			fmt.Fprintf(w, "  %s: %s %s at %s: %s\n", f.API, r.Method, r.Path, r.RequestTimestamp, r.Code)
			for _, h := range r.Headers {
				for _, e := range h.Errors {
					fmt.Fprintf(w, "      error   %s: %s\n", h.Header, e)
				}
				for _, e := range h.Warnings {
					fmt.Fprintf(w, "      warning %s: %s\n", h.Header, e)
				}
			}
		}
	}
	fmt.Fprintln(w, "\nThe landlords' browsers' headers (WEB_APP_VIA_SERVER) are checked from the admin page, /admin/hmrc.")
}
