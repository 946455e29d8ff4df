package hmrcsim

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// Individual Calculations 8.0, written from HMRC's OAS (trigger.yaml,
// list.yaml, retrieve.yaml, submit_final_declaration.yaml, the def3/def4
// schemas for 2025-26 and 2026-27) and service code (the v8 validators and
// the services' downstream error maps). A calculation is asynchronous: it is
// worked out when triggered, from what HMRC holds at that moment, and can be
// retrieved calculationTime later on the simulator clock (HMRC asks software
// to wait at least 5 seconds; before that, retrieve answers 404).

// calculationTime is how long a calculation takes on the simulator clock.
const calculationTime = 5 * time.Second

// Calculation errors with the messages of HMRC's service.
var (
	calcErrFormatNino     = mtdError{Code: "FORMAT_NINO", Message: "The NINO format is invalid"}
	calcErrFormatCalcID   = mtdError{Code: "FORMAT_CALCULATION_ID", Message: "The provided calculation ID is invalid"}
	calcErrFormatCalcType = mtdError{Code: "FORMAT_CALCULATION_TYPE", Message: "The provided calculation type is not valid"}
	calcErrTypeNotAllowed = mtdError{Code: "RULE_CALCULATION_TYPE_NOT_ALLOWED", Message: "The provided calculation type is not applicable for this tax year"}
	calcTaxYearErrors     = taxYearErrors{
		format:       mtdError{Code: "FORMAT_TAX_YEAR", Message: "The provided tax year format is invalid"},
		rangeInvalid: mtdError{Code: "RULE_TAX_YEAR_RANGE_INVALID", Message: "A tax year range of one year is required"},
		notSupported: mtdError{Code: "RULE_TAX_YEAR_NOT_SUPPORTED", Message: "The tax year specified does not lie within the supported range"},
	}
	calcErrNoSubmissions          = mtdError{Code: "RULE_NO_INCOME_SUBMISSIONS_EXIST", Message: "No income submissions exist for the tax year"}
	calcErrDeclared               = mtdError{Code: "RULE_FINAL_DECLARATION_RECEIVED", Message: "Final declaration has already been received"}
	calcErrSourcesChanged         = mtdError{Code: "RULE_INCOME_SOURCES_CHANGED", Message: "Income sources data has changed. Trigger a new calculation"}
	calcErrRecentSubmissions      = mtdError{Code: "RULE_RECENT_SUBMISSIONS_EXIST", Message: "More recent submissions exist. Trigger a new calculation"}
	calcErrResidencyChanged       = mtdError{Code: "RULE_RESIDENCY_CHANGED", Message: "Residency has changed. Trigger a new calculation"}
	calcErrInProgress             = mtdError{Code: "RULE_CALCULATION_IN_PROGRESS", Message: "A calculation is in progress. Please wait before triggering a new calculation"}
	calcErrBusinessValidation     = mtdError{Code: "RULE_BUSINESS_VALIDATION_FAILURE", Message: "Business validation rule failures"}
	calcErrTaxYearNotEnded        = mtdError{Code: "RULE_TAX_YEAR_NOT_ENDED", Message: "The specified tax year has not yet ended"}
	calcErrPremature              = mtdError{Code: "RULE_PREMATURE_FINALISATION", Message: "Finalisation cannot occur until after the end of the tax year"}
	calcErrDeclarationNotReceived = mtdError{Code: "RULE_DECLARATION_NOT_RECEIVED", Message: "The final declaration has not been received"}
	calcErrOutsideAmendment       = mtdError{Code: "RULE_OUTSIDE_AMENDMENT_WINDOW", Message: "You are outside the amendment window"}
	calcErrSourcesInvalid         = mtdError{Code: "RULE_INCOME_SOURCES_INVALID", Message: "No valid income sources could be found"}
	calcErrSubmissionFailed       = mtdError{Code: "RULE_SUBMISSION_FAILED", Message: "The submission cannot be completed due to validation failures"}
	calcErrDeclarationTaxYear     = mtdError{Code: "RULE_FINAL_DECLARATION_TAX_YEAR", Message: "Final declaration cannot be submitted until after the end of the tax year"}
	calcErrDeclarationInProgress  = mtdError{Code: "RULE_FINAL_DECLARATION_IN_PROGRESS", Message: "There is a calculation in progress for the tax year"}
)

// calcIDRE is HMRC's calculation ID pattern, matched whole as Scala's
// Regex.matches does: eight digits, or a UUID.
var calcIDRE = regexp.MustCompile(`^(?:[0-9]{8}|[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})$`)

var (
	triggerTypes     = []string{"in-year", "intent-to-finalise", "intent-to-amend"}
	declarationTypes = []string{"final-declaration", "confirm-amendment"}
	listTypes        = []string{"in-year", "intent-to-finalise", "intent-to-amend", "final-declaration", "confirm-amendment"}
)

// Gov-Test-Scenario error simulations of HMRC's test-data tables.
var (
	triggerScenarios = map[string]mtdError{
		"NO_INCOME_SUBMISSIONS_EXIST": calcErrNoSubmissions,
		"FINAL_DECLARATION_RECEIVED":  calcErrDeclared,
		"INCOME_SOURCES_CHANGED":      calcErrSourcesChanged,
		"RECENT_SUBMISSIONS_EXIST":    calcErrRecentSubmissions,
		"RESIDENCY_CHANGED":           calcErrResidencyChanged,
		"CALCULATION_IN_PROGRESS":     calcErrInProgress,
		"BUSINESS_VALIDATION_FAILURE": calcErrBusinessValidation,
		"TAX_YEAR_NOT_ENDED":          calcErrTaxYearNotEnded,
	}
	declarationScenarios = map[string]mtdError{
		"OUTSIDE_AMENDMENT_WINDOW":      calcErrOutsideAmendment,
		"FINAL_DECLARATION_IN_PROGRESS": calcErrDeclarationInProgress,
		"FINAL_DECLARATION_RECEIVED":    calcErrDeclared,
		"FINAL_DECLARATION_TAX_YEAR":    calcErrDeclarationTaxYear,
		"INCOME_SOURCES_CHANGED":        calcErrSourcesChanged,
		"INCOME_SOURCES_INVALID":        calcErrSourcesInvalid,
		"NO_INCOME_SUBMISSIONS_EXIST":   calcErrNoSubmissions,
		"RECENT_SUBMISSIONS_EXIST":      calcErrRecentSubmissions,
		"RESIDENCY_CHANGED":             calcErrResidencyChanged,
		"SUBMISSION_FAILED":             calcErrSubmissionFailed,
		"TAX_YEAR_NOT_SUPPORTED":        calcTaxYearErrors.notSupported,
	}
	// retrieveExamples are the sandbox's example calculations; the
	// simulator answers each with its own canned UK property example.
	retrieveExamples = []string{"UK_MULTIPLE_INCOMES_EXAMPLE", "UK_PROP_DIVIDENDS_EXAMPLE", "UK_PROP_GIFTAID_EXAMPLE",
		"UK_PROP_SAVINGS_EXAMPLE", "UK_SE_GIFTAID_EXAMPLE", "UK_SE_SAVINGS_EXAMPLE", "SCOT_SE_DIVIDENDS_EXAMPLE"}
)

// sandboxCalculationID is the ID of the sandbox's canned calculations (the
// OAS examples').
const sandboxCalculationID = "f2fb30e5-4ab6-4a29-b3c1-c7264259ff1c"

// calculation is one triggered calculation. Its result is worked out when it
// is triggered and never changes; a final declaration or an amendment's
// confirmation only stamps it.
type calculation struct {
	id                   string
	calcType             string // how it was triggered: in-year, intent-to-finalise, intent-to-amend
	requestedAt, readyAt time.Time
	// finalisedAt is set by the final declaration made with it,
	// confirmedAt by the confirmation of an amendment.
	finalisedAt, confirmedAt time.Time
	result                   calcResult
}

func (c *calculation) ready(now time.Time) bool { return !now.Before(c.readyAt) }

// listType is the calculation's type in the list: a declared one shows as
// final-declaration, a confirmed amendment as confirm-amendment.
func (c *calculation) listType() string {
	switch {
	case !c.finalisedAt.IsZero():
		return "final-declaration"
	case !c.confirmedAt.IsZero():
		return "confirm-amendment"
	}
	return c.calcType
}

// retrieveType is the same in the retrieve's metadata, which names a final
// declaration declare-finalisation.
func (c *calculation) retrieveType() string {
	if t := c.listType(); t != "final-declaration" {
		return t
	}
	return "declare-finalisation"
}

// declarationLocked is the calculation the year's final declaration was made
// with, or nil; the caller holds y.mu.
func (y *yearState) declarationLocked(k yearKey) *calculation {
	for _, c := range y.calcs[k] {
		if !c.finalisedAt.IsZero() {
			return c
		}
	}
	return nil
}

func (y *yearState) calculationLocked(k yearKey, id string) *calculation {
	for _, c := range y.calcs[k] {
		if c.id == id {
			return c
		}
	}
	return nil
}

// newCalculationID returns a random version 4 UUID.
func newCalculationID() string {
	h := randomHex()
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-" + string("89ab"[h[16]%4]) + h[17:20] + "-" + h[20:32]
}

// ---- trigger ----

// trigger is POST /individuals/calculations/{nino}/self-assessment/{taxYear}/trigger/{calculationType}
// (write): 202 {"calculationId"}.
func (y *yearState) trigger(w http.ResponseWriter, r *http.Request) {
	c, ok := y.yearCaller(w, r, fraudAPICalculations, "8.0", "write:self-assessment", calcErrFormatNino)
	if !ok {
		return
	}
	start, errs := parseTaxYear(r.PathValue("taxYear"), 2017, calcTaxYearErrors)
	calcType := r.PathValue("calculationType")
	if !slices.Contains(triggerTypes, calcType) {
		errs = append(errs, calcErrFormatCalcType)
	}
	if len(errs) == 0 && calcType == "intent-to-amend" && start < 2025 {
		errs = append(errs, calcErrTypeNotAllowed)
	}
	if len(errs) > 0 {
		writeValidationErrors(w, http.StatusBadRequest, errs...)
		return
	}
	sc, ok := yearScenario(w, r, slices.Collect(maps.Keys(triggerScenarios))...)
	if !ok {
		return
	}
	if e, simulated := triggerScenarios[sc]; simulated {
		writeMTDErrors(w, http.StatusBadRequest, e)
		return
	}
	// Individual Calculations has no STATEFUL: the sandbox's answers are
	// canned, and only the demo calculates.
	if y.s.sandbox() {
		writeJSON(w, http.StatusAccepted, map[string]string{"calculationId": sandboxCalculationID})
		return
	}

	now := y.s.now()
	ty := taxYearString(start)
	data := y.s.itsa.yearData(c, ty)
	key := yearKey{ninoKey(c.user.NINO), ty}
	calc, refusal := y.newCalculation(key, data.annualKey, calcInput{
		nino: c.user.NINO, businessID: data.businessID, start: start, calcType: calcType,
		summary: data.summary, received: data.received, periods: data.periods,
	}, now)
	if refusal != nil {
		writeMTDErrors(w, http.StatusBadRequest, *refusal)
		return
	}
	y.s.log.Info("hmrcsim: calculation triggered", "type", calcType, "tax_year", ty)
	writeJSON(w, http.StatusAccepted, map[string]string{"calculationId": calc.id})
}

// newCalculation refuses a trigger as HMRC would, or works out and keeps the
// calculation; in.annual is read here, under y.mu.
func (y *yearState) newCalculation(key yearKey, akey annualKey, in calcInput, now time.Time) (*calculation, *mtdError) {
	y.mu.Lock()
	defer y.mu.Unlock()
	refuse := func(e mtdError) (*calculation, *mtdError) { return nil, &e }
	if calcs := y.calcs[key]; len(calcs) > 0 && !calcs[len(calcs)-1].ready(now) {
		return refuse(calcErrInProgress)
	}
	declared := y.declarationLocked(key) != nil
	switch {
	case in.calcType != "intent-to-amend" && declared:
		return refuse(calcErrDeclared)
	case in.calcType == "intent-to-amend" && !declared:
		return refuse(calcErrDeclarationNotReceived)
	case in.calcType == "intent-to-amend" && dateOf(now).After(amendmentWindowEnd(in.start)):
		return refuse(calcErrOutsideAmendment)
	case in.calcType == "intent-to-finalise" && dateOf(now).Before(taxYearEnd(in.start)):
		return refuse(calcErrPremature)
	}
	in.annual = y.annual[akey]
	if in.summary == nil && in.annual == nil {
		return refuse(calcErrNoSubmissions)
	}
	c := &calculation{
		id: newCalculationID(), calcType: in.calcType, requestedAt: now, readyAt: now.Add(calculationTime),
		result: calculate(in),
	}
	y.calcs[key] = append(y.calcs[key], c)
	return c, nil
}

// yearData is what a calculation reads of the ITSA data for the demo
// landlord's UK property business (the only one the demo calculates for).
type yearData struct {
	businessID string
	annualKey  annualKey // where the business's annual submission is kept
	summary    *cumulativeSummary
	received   map[string]string // quarterly period end -> when its update arrived
	periods    periods           // the year's periods: standard or calendar quarters
}

// yearData copies, under s.mu, what a calculation for c's tax year reads.
func (st *itsaState) yearData(c itsaCall, taxYear string) yearData {
	k := itsaKey{c.vendor(st.s), ninoKey(c.user.NINO), ukPropertyBusinessID(c.user.NINO), taxYear}
	d := yearData{businessID: k.businessID, annualKey: annualKey{k.vendor, k.nino, k.businessID, k.taxYear}}
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	if s := st.summaries[k]; s != nil {
		copied := *s // the body is never mutated after storing
		d.summary = &copied
	}
	d.received = maps.Clone(st.received[k])
	d.periods = st.periodsLocked(k)
	return d
}

// ---- list ----

type calcListItem struct {
	CalculationID        string       `json:"calculationId"`
	CalculationTimestamp string       `json:"calculationTimestamp"`
	CalculationType      string       `json:"calculationType"`
	CalculationTrigger   string       `json:"calculationTrigger"`
	CalculationOutcome   string       `json:"calculationOutcome"`
	LiabilityAmount      *json.Number `json:"liabilityAmount,omitempty"`
	FromDate             string       `json:"fromDate,omitempty"`
	ToDate               string       `json:"toDate,omitempty"`
}

// listCalculations is GET /individuals/calculations/{nino}/self-assessment/{taxYear}
// (read), optionally ?calculationType=: the processed calculations, newest
// first.
func (y *yearState) listCalculations(w http.ResponseWriter, r *http.Request) {
	c, ok := y.yearCaller(w, r, fraudAPICalculations, "8.0", "read:self-assessment", calcErrFormatNino)
	if !ok {
		return
	}
	start, errs := parseTaxYear(r.PathValue("taxYear"), 2017, calcTaxYearErrors)
	q := r.URL.Query()
	filter := q.Get("calculationType")
	if q.Has("calculationType") && !slices.Contains(listTypes, filter) {
		errs = append(errs, calcErrFormatCalcType)
	}
	// 2023-24 and 2024-25 know no amendments.
	if len(errs) == 0 && (start == 2023 || start == 2024) && (filter == "intent-to-amend" || filter == "confirm-amendment") {
		errs = append(errs, calcErrTypeNotAllowed)
	}
	if len(errs) > 0 {
		writeValidationErrors(w, http.StatusBadRequest, errs...)
		return
	}
	sc, ok := yearScenario(w, r, "NOT_FOUND", "DYNAMIC")
	if !ok {
		return
	}
	var items []calcListItem
	switch {
	case sc == "NOT_FOUND":
		writeMTDErrors(w, http.StatusNotFound, errNotFound)
		return
	case sc == "DYNAMIC" || y.s.sandbox():
		items = cannedList(start, sc == "DYNAMIC")
	default:
		now := y.s.now()
		y.mu.Lock()
		calcs := y.calcs[yearKey{ninoKey(c.user.NINO), taxYearString(start)}]
		for i := len(calcs) - 1; i >= 0; i-- {
			if calc := calcs[i]; calc.ready(now) {
				items = append(items, calc.listItem())
			}
		}
		y.mu.Unlock()
	}
	items = slices.DeleteFunc(items, func(it calcListItem) bool { return filter != "" && it.CalculationType != filter })
	if len(items) == 0 {
		writeMTDErrors(w, http.StatusNotFound, errNotFound)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"calculations": items})
}

func (c *calculation) listItem() calcListItem {
	it := calcListItem{
		CalculationID: c.id, CalculationTimestamp: c.readyAt.UTC().Format(hmrcTimestamp),
		CalculationType: c.listType(), CalculationTrigger: "attended", CalculationOutcome: "PROCESSED",
		FromDate: c.result.PeriodFrom, ToDate: c.result.PeriodTo,
	}
	if calc := c.result.Calculation; calc != nil {
		due := calc.TaxCalculation.TotalIncomeTaxAndNicsDue
		it.LiabilityAmount = &due
	}
	return it
}

// cannedList is the sandbox's list: HMRC's example, with the dates of the
// requested tax year under DYNAMIC.
func cannedList(start int, dynamic bool) []calcListItem {
	declared, inYear := "2021-07-12T07:51:43.112Z", "2021-06-22T08:53:44.122Z"
	from, to := "2025-05-15", "2025-06-15"
	if dynamic {
		declared = time.Date(start+1, time.July, 12, 7, 51, 43, 112e6, time.UTC).Format(hmrcTimestamp)
		inYear = time.Date(start, time.December, 22, 8, 53, 44, 122e6, time.UTC).Format(hmrcTimestamp)
		from, to = time.Date(start, time.April, 6, 0, 0, 0, 0, time.UTC).Format(isoDate), time.Date(start, time.October, 5, 0, 0, 0, 0, time.UTC).Format(isoDate)
	}
	liability := json.Number("236.89")
	return []calcListItem{
		{CalculationID: "c432a56d-e811-474c-a26a-76fc3bcaefe5", CalculationTimestamp: declared, CalculationType: "final-declaration",
			CalculationTrigger: "attended", CalculationOutcome: "PROCESSED"},
		{CalculationID: sandboxCalculationID, CalculationTimestamp: inYear, CalculationType: "in-year",
			CalculationTrigger: "unattended", CalculationOutcome: "REJECTED", LiabilityAmount: &liability, FromDate: from, ToDate: to},
	}
}

// ---- retrieve ----

// retrieveCalculation is GET /individuals/calculations/{nino}/self-assessment/{taxYear}/{calculationId}
// (read): 404 until the calculation has finished.
func (y *yearState) retrieveCalculation(w http.ResponseWriter, r *http.Request) {
	c, ok := y.yearCaller(w, r, fraudAPICalculations, "8.0", "read:self-assessment", calcErrFormatNino)
	if !ok {
		return
	}
	start, errs := parseTaxYear(r.PathValue("taxYear"), 2017, calcTaxYearErrors)
	id := r.PathValue("calculationId")
	if !calcIDRE.MatchString(id) {
		errs = append(errs, calcErrFormatCalcID)
	}
	if len(errs) > 0 {
		writeValidationErrors(w, http.StatusBadRequest, errs...)
		return
	}
	sc, ok := yearScenario(w, r, append([]string{"NOT_FOUND", "ERROR_MESSAGES_EXIST", "DYNAMIC"}, retrieveExamples...)...)
	if !ok {
		return
	}
	switch {
	case sc == "NOT_FOUND":
		writeMTDErrors(w, http.StatusNotFound, errNotFound)
		return
	case sc == "DYNAMIC" && start < 2023:
		writeMTDErrors(w, http.StatusBadRequest, errYearGovTestScenario)
		return
	case sc != "" || y.s.sandbox():
		writeJSON(w, http.StatusOK, cannedCalculation(start, sc))
		return
	}
	now := y.s.now()
	y.mu.Lock()
	calc := y.calculationLocked(yearKey{ninoKey(c.user.NINO), taxYearString(start)}, id)
	var view calcView
	found := calc != nil && calc.ready(now)
	if found {
		view = calc.view(taxYearString(start))
	}
	y.mu.Unlock()
	if !found {
		writeMTDErrors(w, http.StatusNotFound, errNotFound)
		return
	}
	writeJSON(w, http.StatusOK, view)
}

// calcView is the retrieve response (def3 for 2025-26, def4 from 2026-27:
// the same for the parts a landlord's calculation fills).
type calcView struct {
	Metadata    calcMetadata  `json:"metadata"`
	Inputs      calcInputs    `json:"inputs"`
	Calculation *calcDetail   `json:"calculation,omitempty"`
	Messages    *calcMessages `json:"messages,omitempty"`
}

type calcMetadata struct {
	CalculationID         string `json:"calculationId"`
	TaxYear               string `json:"taxYear"`
	RequestedBy           string `json:"requestedBy"`
	RequestedTimestamp    string `json:"requestedTimestamp,omitempty"`
	CalculationReason     string `json:"calculationReason"`
	CalculationTimestamp  string `json:"calculationTimestamp,omitempty"`
	CalculationType       string `json:"calculationType"`
	FinalisationTimestamp string `json:"finalisationTimestamp,omitempty"`
	ConfirmationTimestamp string `json:"confirmationTimestamp,omitempty"`
	PeriodFrom            string `json:"periodFrom"`
	PeriodTo              string `json:"periodTo"`
}

func (c *calculation) view(taxYear string) calcView {
	md := calcMetadata{
		CalculationID: c.id, TaxYear: taxYear, RequestedBy: "customer",
		RequestedTimestamp: c.requestedAt.UTC().Format(hmrcTimestamp), CalculationReason: "customer-request",
		CalculationTimestamp: c.readyAt.UTC().Format(hmrcTimestamp), CalculationType: c.retrieveType(),
		PeriodFrom: c.result.PeriodFrom, PeriodTo: c.result.PeriodTo,
	}
	if !c.finalisedAt.IsZero() {
		md.FinalisationTimestamp = c.finalisedAt.UTC().Format(hmrcTimestamp)
	}
	if !c.confirmedAt.IsZero() {
		md.ConfirmationTimestamp = c.confirmedAt.UTC().Format(hmrcTimestamp)
	}
	return calcView{Metadata: md, Inputs: c.result.Inputs, Calculation: c.result.Calculation, Messages: c.result.Messages}
}

// ---- final declaration and confirmation of an amendment ----

// submitFinalDeclaration is POST /individuals/calculations/{nino}/self-assessment/{taxYear}/{calculationId}/{calculationType}
// (write), calculationType final-declaration (with an intent-to-finalise
// calculation) or confirm-amendment (with an intent-to-amend one): 204.
func (y *yearState) submitFinalDeclaration(w http.ResponseWriter, r *http.Request) {
	c, ok := y.yearCaller(w, r, fraudAPICalculations, "8.0", "write:self-assessment", calcErrFormatNino)
	if !ok {
		return
	}
	start, errs := parseTaxYear(r.PathValue("taxYear"), 0, calcTaxYearErrors)
	id, kind := r.PathValue("calculationId"), r.PathValue("calculationType")
	if !calcIDRE.MatchString(id) {
		errs = append(errs, calcErrFormatCalcID)
	}
	if !slices.Contains(declarationTypes, kind) {
		errs = append(errs, calcErrFormatCalcType)
	}
	if len(errs) == 0 && kind == "confirm-amendment" && start < 2025 {
		errs = append(errs, calcErrSubmissionFailed)
	}
	if len(errs) > 0 {
		writeValidationErrors(w, http.StatusBadRequest, errs...)
		return
	}
	known := append(slices.Collect(maps.Keys(declarationScenarios)), "NOT_FOUND")
	sc, ok := yearScenario(w, r, known...)
	if !ok {
		return
	}
	if sc == "NOT_FOUND" {
		writeMTDErrors(w, http.StatusNotFound, errNotFound)
		return
	}
	if e, simulated := declarationScenarios[sc]; simulated {
		writeMTDErrors(w, http.StatusBadRequest, e)
		return
	}
	if y.s.sandbox() {
		w.WriteHeader(http.StatusNoContent)
		return
	}

	now := y.s.now()
	ty := taxYearString(start)
	data := y.s.itsa.yearData(c, ty)
	key := yearKey{ninoKey(c.user.NINO), ty}

	want := "intent-to-finalise"
	if kind == "confirm-amendment" {
		want = "intent-to-amend"
	}
	y.mu.Lock()
	calc := y.calculationLocked(key, id)
	e, status := y.declarationRefusal(calc, want, key, data.annualKey, data.summary, start, now)
	if e == nil {
		if kind == "final-declaration" {
			calc.finalisedAt = now
		} else {
			calc.confirmedAt = now
		}
	}
	y.mu.Unlock()
	if e != nil {
		writeMTDErrors(w, status, *e)
		return
	}
	y.s.log.Info("hmrcsim: calculation confirmed", "type", kind, "tax_year", ty)
	w.WriteHeader(http.StatusNoContent)
}

// declarationRefusal is HMRC's reason to refuse declaring with c (nil if
// none); the caller holds y.mu.
func (y *yearState) declarationRefusal(c *calculation, want string, key yearKey, akey annualKey, sum *cumulativeSummary, start int, now time.Time) (*mtdError, int) {
	refuse := func(e mtdError) (*mtdError, int) { return &e, http.StatusBadRequest }
	switch {
	case c == nil || c.calcType != want:
		// "Either the calculation ID was not found or the calculation was
		// in year" (the OAS).
		e := errNotFound
		return &e, http.StatusNotFound
	case !c.ready(now):
		return refuse(calcErrDeclarationInProgress)
	case dateOf(now).Before(taxYearEnd(start)):
		return refuse(calcErrDeclarationTaxYear)
	case want == "intent-to-finalise" && y.declarationLocked(key) != nil,
		want == "intent-to-amend" && !c.confirmedAt.IsZero():
		return refuse(calcErrDeclared)
	case want == "intent-to-amend" && dateOf(now).After(amendmentWindowEnd(start)):
		return refuse(calcErrOutsideAmendment)
	case c.result.Calculation == nil:
		// The calculation has errors: HMRC's BUSINESS_VALIDATION.
		return refuse(calcErrSubmissionFailed)
	}
	// Not the latest: data or a calculation of the same kind came after it.
	changed := y.annualChanged[akey]
	if sum != nil && sum.submittedOn.After(changed) {
		changed = sum.submittedOn
	}
	newer := slices.ContainsFunc(y.calcs[key], func(o *calculation) bool {
		return o.calcType == c.calcType && o.requestedAt.After(c.requestedAt)
	})
	if newer || changed.After(c.requestedAt) {
		return refuse(calcErrRecentSubmissions)
	}
	return nil, 0
}

// ---- working out a calculation ----

// calcResult is what a calculation found when it ran.
type calcResult struct {
	PeriodFrom  string        `json:"periodFrom"`
	PeriodTo    string        `json:"periodTo"`
	Inputs      calcInputs    `json:"inputs"`
	Calculation *calcDetail   `json:"calculation,omitempty"`
	Messages    *calcMessages `json:"messages,omitempty"`
}

type calcInputs struct {
	PersonalInformation calcPersonalInformation `json:"personalInformation"`
	IncomeSources       calcIncomeSources       `json:"incomeSources"`
}

type calcPersonalInformation struct {
	Identifier string `json:"identifier"`
	TaxRegime  string `json:"taxRegime"`
}

type calcIncomeSources struct {
	BusinessIncomeSources []calcBusinessIncomeSource `json:"businessIncomeSources,omitempty"`
}

type calcBusinessIncomeSource struct {
	IncomeSourceID            string `json:"incomeSourceId"`
	IncomeSourceType          string `json:"incomeSourceType"`
	AccountingPeriodStartDate string `json:"accountingPeriodStartDate"`
	AccountingPeriodEndDate   string `json:"accountingPeriodEndDate"`
	Source                    string `json:"source"`
	LatestPeriodEndDate       string `json:"latestPeriodEndDate"`
	LatestReceivedDateTime    string `json:"latestReceivedDateTime"`
}

type calcDetail struct {
	AllowancesAndDeductions *calcAllowances        `json:"allowancesAndDeductions,omitempty"`
	Reliefs                 *calcReliefs           `json:"reliefs,omitempty"`
	TaxDeductedAtSource     *calcTaxDeducted       `json:"taxDeductedAtSource,omitempty"`
	BusinessProfitAndLoss   []calcBusinessProfit   `json:"businessProfitAndLoss,omitempty"`
	IncomeSummaryTotals     *calcIncomeTotals      `json:"incomeSummaryTotals,omitempty"`
	TaxCalculation          calcTaxCalculation     `json:"taxCalculation"`
	EndOfYearEstimate       *calcEndOfYearEstimate `json:"endOfYearEstimate,omitempty"`
}

type calcAllowances struct {
	PersonalAllowance        json.Number `json:"personalAllowance"`
	ReducedPersonalAllowance json.Number `json:"reducedPersonalAllowance,omitempty"`
}

type calcReliefs struct {
	ResidentialFinanceCosts calcFinanceCosts `json:"residentialFinanceCosts"`
}

type calcFinanceCosts struct {
	AdjustedTotalIncome                json.Number        `json:"adjustedTotalIncome"`
	TotalAllowableAmount               json.Number        `json:"totalAllowableAmount"`
	RelievableAmount                   json.Number        `json:"relievableAmount"`
	Rate                               json.Number        `json:"rate"`
	TotalResidentialFinanceCostsRelief json.Number        `json:"totalResidentialFinanceCostsRelief"`
	UKProperty                         calcFinanceCostsUK `json:"ukProperty"`
}

type calcFinanceCostsUK struct {
	AmountClaimed      json.Number `json:"amountClaimed"`
	AllowableAmount    json.Number `json:"allowableAmount"`
	CarryForwardAmount json.Number `json:"carryForwardAmount,omitempty"`
}

type calcTaxDeducted struct {
	UKLandAndProperty json.Number `json:"ukLandAndProperty"`
}

type calcBusinessProfit struct {
	IncomeSourceID        string      `json:"incomeSourceId"`
	IncomeSourceType      string      `json:"incomeSourceType"`
	TotalIncome           json.Number `json:"totalIncome"`
	TotalExpenses         json.Number `json:"totalExpenses"`
	NetProfit             json.Number `json:"netProfit,omitempty"`
	NetLoss               json.Number `json:"netLoss,omitempty"`
	TotalAdditions        json.Number `json:"totalAdditions"`
	TotalDeductions       json.Number `json:"totalDeductions"`
	TaxableProfit         json.Number `json:"taxableProfit"`
	AdjustedIncomeTaxLoss json.Number `json:"adjustedIncomeTaxLoss,omitempty"`
}

type calcIncomeTotals struct {
	TotalPropertyProfit        json.Number `json:"totalPropertyProfit"`
	TotalUKOtherPropertyProfit json.Number `json:"totalUKOtherPropertyProfit"`
}

type calcTaxCalculation struct {
	IncomeTax                 calcIncomeTax `json:"incomeTax"`
	TotalIncomeTaxNicsCharged json.Number   `json:"totalIncomeTaxNicsCharged"`
	TotalTaxDeducted          json.Number   `json:"totalTaxDeducted,omitempty"`
	TotalIncomeTaxAndNicsDue  json.Number   `json:"totalIncomeTaxAndNicsDue"`
}

type calcIncomeTax struct {
	TotalIncomeReceivedFromAllSources json.Number    `json:"totalIncomeReceivedFromAllSources"`
	TotalAllowancesAndDeductions      json.Number    `json:"totalAllowancesAndDeductions"`
	TotalTaxableIncome                json.Number    `json:"totalTaxableIncome"`
	PayPensionsProfit                 calcIncomeItem `json:"payPensionsProfit"`
	IncomeTaxCharged                  json.Number    `json:"incomeTaxCharged"`
	TotalReliefs                      json.Number    `json:"totalReliefs,omitempty"`
	IncomeTaxDueAfterReliefs          json.Number    `json:"incomeTaxDueAfterReliefs"`
	TotalIncomeTaxDue                 json.Number    `json:"totalIncomeTaxDue"`
}

type calcIncomeItem struct {
	IncomeReceived      json.Number   `json:"incomeReceived"`
	AllowancesAllocated json.Number   `json:"allowancesAllocated"`
	TaxableIncome       json.Number   `json:"taxableIncome"`
	IncomeTaxAmount     json.Number   `json:"incomeTaxAmount"`
	TaxBands            []calcTaxBand `json:"taxBands,omitempty"`
}

type calcTaxBand struct {
	Name                 string      `json:"name"`
	Rate                 json.Number `json:"rate"`
	BandLimit            json.Number `json:"bandLimit"`
	ApportionedBandLimit json.Number `json:"apportionedBandLimit"`
	Income               json.Number `json:"income"`
	TaxAmount            json.Number `json:"taxAmount"`
}

type calcEndOfYearEstimate struct {
	IncomeSource                 []calcEstimateSource `json:"incomeSource"`
	TotalEstimatedIncome         json.Number          `json:"totalEstimatedIncome"`
	TotalAllowancesAndDeductions json.Number          `json:"totalAllowancesAndDeductions"`
	TotalTaxableIncome           json.Number          `json:"totalTaxableIncome"`
	IncomeTaxAmount              json.Number          `json:"incomeTaxAmount"`
	TotalTaxDeducted             json.Number          `json:"totalTaxDeducted,omitempty"`
	IncomeTaxNicAmount           json.Number          `json:"incomeTaxNicAmount"`
}

type calcEstimateSource struct {
	IncomeSourceID   string      `json:"incomeSourceId"`
	IncomeSourceType string      `json:"incomeSourceType"`
	TaxableIncome    json.Number `json:"taxableIncome"`
}

type calcMessages struct {
	Info     []calcMessage `json:"info,omitempty"`
	Warnings []calcMessage `json:"warnings,omitempty"`
	Errors   []calcMessage `json:"errors,omitempty"`
}

type calcMessage struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

// The simulator's calculation messages. HMRC's message IDs are not
// published; these are the simulator's own, in HMRC's shape, from C99001 up.
const (
	msgMissingUpdate     = "C99001"
	msgAllowanceExpenses = "C99002"
	msgRentARoomLimit    = "C99003"
	msgNoRates           = "C99004"
	msgLoss              = "C99101"
	msgFinanceCarried    = "C99102"
)

func (p pounds) number() json.Number { return json.Number(strconv.FormatInt(int64(p), 10)) }

// calcInput is everything a calculation reads.
type calcInput struct {
	nino, businessID string
	start            int
	calcType         string
	summary          *cumulativeSummary
	received         map[string]string // quarterly period end -> received date
	periods          periods           // the landlord's quarterly periods for the year
	annual           *annualSubmission
}

// calculate works out a calculation. An in-year one covers the year to the
// last update and forecasts the whole year; the others cover the year and
// turn HMRC's warnings into errors, as HMRC's final declaration calculation
// does. With errors there are no results.
func calculate(in calcInput) calcResult {
	ty := taxYearString(in.start)
	yearStart := time.Date(in.start, time.April, 6, 0, 0, 0, 0, time.UTC)
	yearLast := taxYearEnd(in.start).AddDate(0, 0, -1)
	periodTo := yearLast
	var latestReceived time.Time
	if in.summary != nil {
		latestReceived = in.summary.submittedOn
	}
	if in.annual != nil && in.annual.submittedOn.After(latestReceived) {
		latestReceived = in.annual.submittedOn
	}
	if in.calcType == "in-year" {
		periodTo = inYearPeriodEnd(in.summary, in.received, yearLast)
	}
	res := calcResult{
		PeriodFrom: yearStart.Format(isoDate), PeriodTo: periodTo.Format(isoDate),
		Inputs: calcInputs{
			PersonalInformation: calcPersonalInformation{Identifier: ninoKey(in.nino), TaxRegime: "uk"},
			IncomeSources: calcIncomeSources{BusinessIncomeSources: []calcBusinessIncomeSource{{
				IncomeSourceID: in.businessID, IncomeSourceType: "uk-property",
				AccountingPeriodStartDate: yearStart.Format(isoDate), AccountingPeriodEndDate: yearLast.Format(isoDate),
				Source: "MTD-SA", LatestPeriodEndDate: periodTo.Format(isoDate),
				LatestReceivedDateTime: latestReceived.UTC().Format(hmrcTimestamp),
			}}},
		},
	}
	var msgs calcMessages
	final := in.calcType != "in-year"
	problem := func(id, text string) {
		if final {
			msgs.Errors = append(msgs.Errors, calcMessage{id, text})
		} else {
			msgs.Warnings = append(msgs.Warnings, calcMessage{id, text})
		}
	}

	rates, known := taxYearRates[in.start]
	if !known {
		msgs.Errors = append(msgs.Errors, calcMessage{msgNoRates,
			fmt.Sprintf("The simulator has no Income Tax rates for %s, so it cannot calculate this year.", ty)})
	}
	fig := propertyFiguresOf(in.summary, in.annual)
	if final {
		// The landlord's own periods: calendar quarters end on the last
		// day of June, September, December and March.
		for _, end := range in.periods.ends {
			if _, ok := in.received[end.Format(isoDate)]; !ok {
				msgs.Errors = append(msgs.Errors, calcMessage{msgMissingUpdate, fmt.Sprintf(
					"The quarterly update for the UK property business for the period %s to %s has not been received. Send it before you finalise the year.",
					longDate(in.periods.start), longDate(end))})
			}
		}
	}
	if fig.PropertyIncomeAllowance > 0 && fig.claimsExpenses {
		problem(msgAllowanceExpenses, "You have claimed the property income allowance as well as expenses or residential finance costs. "+
			"If you claim the allowance, remove all expenses from your latest quarterly update.")
	}
	if limit := rates.rentARoomLimit.pence(); known && fig.RentARoomClaimed > 0 {
		if fig.RentARoomJointlyLet {
			limit /= 2
		}
		if fig.RentARoomClaimed > min(limit, fig.RentARoomRents) {
			problem(msgRentARoomLimit, fmt.Sprintf("The rent-a-room relief claimed, %s, is more than the rents received or the limit of %s; %s has been allowed.",
				fig.RentARoomClaimed.text(), limit.text(), min(limit, fig.RentARoomRents).text()))
		}
	}
	if len(msgs.Errors) > 0 {
		res.Messages = &msgs
		return res
	}

	tax := computeTax(rates, fig.propertyYear)
	detail := calculationDetail(in.businessID, tax)
	if in.calcType == "in-year" {
		est := computeTax(rates, fig.forecast(yearStart, periodTo, yearLast))
		detail.EndOfYearEstimate = &calcEndOfYearEstimate{
			IncomeSource:         []calcEstimateSource{{IncomeSourceID: in.businessID, IncomeSourceType: "uk-property", TaxableIncome: est.Profit.Taxable.number()}},
			TotalEstimatedIncome: est.TotalIncome.number(), TotalAllowancesAndDeductions: est.AllowanceGiven.number(),
			TotalTaxableIncome: est.TaxableIncome.number(), IncomeTaxAmount: est.IncomeTaxDue.number(),
			IncomeTaxNicAmount: est.BalanceDue.number(),
		}
		if est.TaxDeducted > 0 {
			detail.EndOfYearEstimate.TotalTaxDeducted = est.TaxDeducted.number()
		}
	}
	res.Calculation = &detail
	if tax.Profit.Loss > 0 {
		msgs.Info = append(msgs.Info, calcMessage{msgLoss, fmt.Sprintf(
			"Your UK property business made a loss of %s. You can carry it forward against future property profits with the Individual Losses API or your HMRC online account.",
			tax.Profit.Loss.pence().text())})
	}
	if cf := tax.FinanceCosts.CarriedForward; cf > 0 {
		msgs.Info = append(msgs.Info, calcMessage{msgFinanceCarried, fmt.Sprintf(
			"Residential finance costs of %s could not be relieved this year and are carried forward.", cf.text())})
	}
	if len(msgs.Info)+len(msgs.Warnings) > 0 {
		res.Messages = &msgs
	}
	return res
}

// inYearPeriodEnd is the end of what an in-year calculation covers: the
// summary's toDate, else the last quarterly period it fulfilled, else the
// year's end (only an annual submission).
func inYearPeriodEnd(sum *cumulativeSummary, received map[string]string, yearLast time.Time) time.Time {
	if sum != nil {
		if to, ok := sum.body["toDate"].(string); ok {
			if t, ok := parseDate(to); ok {
				return t
			}
		}
	}
	var latest time.Time
	for end := range received {
		if t, ok := parseDate(end); ok && t.After(latest) {
			latest = t
		}
	}
	if latest.IsZero() {
		return yearLast
	}
	return latest
}

// longDate writes 5 April 2027.
func longDate(t time.Time) string { return t.Format("2 January 2006") }

// calculationDetail is the calculation block of a result without errors.
func calculationDetail(businessID string, tax taxComputation) calcDetail {
	p := tax.Profit
	bpl := calcBusinessProfit{
		IncomeSourceID: businessID, IncomeSourceType: "uk-property",
		TotalIncome: p.Income.number(), TotalExpenses: p.Expenses.number(),
		TotalAdditions: p.Additions.number(), TotalDeductions: p.Deductions.number(),
		TaxableProfit: p.Taxable.number(),
	}
	if p.NetProfit >= 0 {
		bpl.NetProfit = p.NetProfit.number()
	} else {
		bpl.NetLoss = (-p.NetProfit).number()
	}
	if p.Loss > 0 {
		bpl.AdjustedIncomeTaxLoss = p.Loss.number()
	}
	d := calcDetail{
		AllowancesAndDeductions: &calcAllowances{PersonalAllowance: tax.PersonalAllowance.number()},
		BusinessProfitAndLoss:   []calcBusinessProfit{bpl},
		IncomeSummaryTotals:     &calcIncomeTotals{TotalPropertyProfit: p.Taxable.number(), TotalUKOtherPropertyProfit: p.Taxable.number()},
	}
	if tax.AllowanceGiven != tax.PersonalAllowance {
		d.AllowancesAndDeductions.ReducedPersonalAllowance = tax.AllowanceGiven.number()
	}
	if f := tax.FinanceCosts; f.Claimed > 0 {
		d.Reliefs = &calcReliefs{ResidentialFinanceCosts: calcFinanceCosts{
			AdjustedTotalIncome: tax.TotalIncome.pence().number(), TotalAllowableAmount: f.Allowable.number(),
			RelievableAmount: f.Relievable.number(), Rate: json.Number(strconv.FormatInt(tax.FinanceCostRate, 10)),
			TotalResidentialFinanceCostsRelief: f.Relief.number(),
			UKProperty:                         calcFinanceCostsUK{AmountClaimed: f.Claimed.wholePounds().number(), AllowableAmount: f.Allowable.number()},
		}}
		if f.CarriedForward > 0 {
			d.Reliefs.ResidentialFinanceCosts.UKProperty.CarryForwardAmount = f.CarriedForward.number()
		}
	}
	if tax.TaxDeducted > 0 {
		d.TaxDeductedAtSource = &calcTaxDeducted{UKLandAndProperty: tax.TaxDeducted.number()}
	}
	var bands []calcTaxBand
	for _, b := range tax.Bands {
		bands = append(bands, calcTaxBand{
			Name: b.Name, Rate: json.Number(strconv.FormatInt(b.Rate, 10)), BandLimit: b.Limit.number(), ApportionedBandLimit: b.Limit.number(),
			Income: b.Income.number(), TaxAmount: b.Tax.number(),
		})
	}
	d.TaxCalculation = calcTaxCalculation{
		IncomeTax: calcIncomeTax{
			TotalIncomeReceivedFromAllSources: tax.TotalIncome.number(),
			TotalAllowancesAndDeductions:      tax.AllowanceGiven.number(),
			TotalTaxableIncome:                tax.TaxableIncome.number(),
			PayPensionsProfit: calcIncomeItem{
				IncomeReceived: tax.TotalIncome.number(), AllowancesAllocated: min(tax.AllowanceGiven, tax.TotalIncome).number(),
				TaxableIncome: tax.TaxableIncome.number(), IncomeTaxAmount: tax.IncomeTaxCharged.number(), TaxBands: bands,
			},
			IncomeTaxCharged:         tax.IncomeTaxCharged.number(),
			IncomeTaxDueAfterReliefs: tax.IncomeTaxDue.number(),
			TotalIncomeTaxDue:        tax.IncomeTaxDue.number(),
		},
		TotalIncomeTaxNicsCharged: tax.IncomeTaxDue.number(),
		TotalIncomeTaxAndNicsDue:  tax.BalanceDue.number(),
	}
	if tax.FinanceCosts.Relief > 0 {
		d.TaxCalculation.IncomeTax.TotalReliefs = tax.FinanceCosts.Relief.number()
	}
	if tax.TaxDeducted > 0 {
		d.TaxCalculation.TotalTaxDeducted = tax.TaxDeducted.number()
	}
	return d
}

// propertyFigures are a calculation's inputs, with what the checks need.
type propertyFigures struct {
	propertyYear
	claimsExpenses bool // any expense or residential finance cost, which the property income allowance excludes
}

// propertyFiguresOf reads the cumulative summary and the annual submission.
// Both were validated when submitted, so every amount is a number of at most
// two decimal places.
func propertyFiguresOf(sum *cumulativeSummary, annual *annualSubmission) propertyFigures {
	var f propertyFigures
	if sum != nil {
		inc := []string{"ukProperty", "income"}
		exp := []string{"ukProperty", "expenses"}
		b := sum.body
		f.Rents = amountAt(b, append(inc, "periodAmount")...)
		f.LeasePremiums = amountAt(b, append(inc, "premiumsOfLeaseGrant")...)
		f.ReversePremiums = amountAt(b, append(inc, "reversePremiums")...)
		f.OtherIncome = amountAt(b, append(inc, "otherIncome")...)
		f.TaxDeducted = amountAt(b, append(inc, "taxDeducted")...)
		f.RentARoomRents = amountAt(b, append(inc, "rentARoom", "rentsReceived")...)
		if hasField(b, append(exp, "consolidatedExpenses")...) {
			f.Expenses = amountAt(b, append(exp, "consolidatedExpenses")...)
			f.claimsExpenses = f.Expenses != 0
		}
		for _, name := range itemisedExpenses {
			v := amountAt(b, append(exp, name)...)
			f.Expenses += v
			f.claimsExpenses = f.claimsExpenses || v != 0
		}
		f.ResidentialFinanceCosts = amountAt(b, append(exp, "residentialFinancialCost")...)
		f.FinanceCostsBroughtForward = amountAt(b, append(exp, "residentialFinancialCostsCarriedForward")...)
		f.claimsExpenses = f.claimsExpenses || f.ResidentialFinanceCosts != 0
		f.RentARoomClaimed = amountAt(b, append(exp, "rentARoom", "amountClaimed")...)
	}
	if annual != nil {
		b := annual.body
		adj := []string{"ukProperty", "adjustments"}
		alw := []string{"ukProperty", "allowances"}
		f.BalancingCharges = amountAt(b, append(adj, "balancingCharge")...) +
			amountAt(b, append(adj, "businessPremisesRenovationAllowanceBalancingCharges")...)
		f.PrivateUse = amountAt(b, append(adj, "privateUseAdjustment")...)
		f.RentARoomJointlyLet, _ = nestedValue(b, append(adj, "rentARoom", "jointlyLet")...).(bool)
		for _, name := range allowanceAmounts {
			f.CapitalAllowances += amountAt(b, append(alw, name)...)
		}
		for _, name := range buildingAllowances {
			items, _ := nestedValue(b, append(alw, name)...).([]any)
			for _, item := range items {
				entry, _ := item.(map[string]any)
				f.CapitalAllowances += amountAt(entry, "amount")
			}
		}
		f.PropertyIncomeAllowance = amountAt(b, append(alw, "propertyIncomeAllowance")...)
	}
	return f
}

// forecast scales the year-to-date figures of an in-year calculation to the
// whole year (from yearStart to periodTo, of yearStart to yearLast); the
// annual allowances and adjustments are already for the year.
func (f propertyFigures) forecast(yearStart, periodTo, yearLast time.Time) propertyYear {
	covered := int64(periodTo.Sub(yearStart).Hours()/24) + 1
	year := int64(yearLast.Sub(yearStart).Hours()/24) + 1
	p := f.propertyYear
	if covered <= 0 || covered >= year {
		return p
	}
	scale := func(v pence) pence { return pence(int64(v) * year / covered) }
	p.Rents, p.LeasePremiums, p.ReversePremiums, p.OtherIncome = scale(p.Rents), scale(p.LeasePremiums), scale(p.ReversePremiums), scale(p.OtherIncome)
	p.RentARoomRents, p.RentARoomClaimed = scale(p.RentARoomRents), scale(p.RentARoomClaimed)
	p.Expenses, p.ResidentialFinanceCosts, p.TaxDeducted = scale(p.Expenses), scale(p.ResidentialFinanceCosts), scale(p.TaxDeducted)
	return p
}

// nestedValue is obj[path[0]][path[1]]…, or nil.
func nestedValue(obj map[string]any, path ...string) any {
	var v any = obj
	for _, name := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[name]
	}
	return v
}

// amountAt is the money at path in pence, 0 if absent.
func amountAt(obj map[string]any, path ...string) pence {
	n, ok := nestedValue(obj, path...).(json.Number)
	if !ok {
		return 0
	}
	x, ok := new(big.Rat).SetString(n.String())
	if !ok {
		return 0
	}
	x.Mul(x, big.NewRat(100, 1))
	if !x.IsInt() || !x.Num().IsInt64() {
		return 0 // never stored: amounts are validated to two decimals
	}
	return pence(x.Num().Int64())
}

// ---- the sandbox's canned calculation ----

// cannedCalculation is the sandbox's answer to DEFAULT and its example
// scenarios, worked out by the simulator for a fixed UK property example
// (rents £20,000, expenses £4,000, finance costs £3,000); ERROR_MESSAGES_EXIST
// has errors and no calculation. DYNAMIC dates follow the tax year.
func cannedCalculation(start int, scenario string) calcView {
	rates, ok := taxYearRates[start]
	if !ok {
		rates = englandRates2025
	}
	const businessID = "XAIS12345678910"
	requested := time.Date(2025, time.April, 15, 9, 35, 15, 94e6, time.UTC)
	if scenario == "DYNAMIC" {
		requested = time.Date(start+1, time.April, 15, 9, 35, 15, 94e6, time.UTC)
	}
	yearStart := time.Date(start, time.April, 6, 0, 0, 0, 0, time.UTC)
	yearLast := taxYearEnd(start).AddDate(0, 0, -1)
	v := calcView{
		Metadata: calcMetadata{
			CalculationID: sandboxCalculationID, TaxYear: taxYearString(start), RequestedBy: "customer",
			RequestedTimestamp: requested.Format(hmrcTimestamp), CalculationReason: "customer-request",
			CalculationTimestamp: requested.Format(hmrcTimestamp), CalculationType: "intent-to-finalise",
			PeriodFrom: yearStart.Format(isoDate), PeriodTo: yearLast.Format(isoDate),
		},
		Inputs: calcInputs{
			PersonalInformation: calcPersonalInformation{Identifier: "VO123456A", TaxRegime: "uk"},
			IncomeSources: calcIncomeSources{BusinessIncomeSources: []calcBusinessIncomeSource{{
				IncomeSourceID: businessID, IncomeSourceType: "uk-property",
				AccountingPeriodStartDate: yearStart.Format(isoDate), AccountingPeriodEndDate: yearLast.Format(isoDate),
				Source: "MTD-SA", LatestPeriodEndDate: yearLast.Format(isoDate), LatestReceivedDateTime: requested.Format(hmrcTimestamp),
			}}},
		},
	}
	if scenario == "ERROR_MESSAGES_EXIST" {
		v.Messages = &calcMessages{Errors: []calcMessage{{msgMissingUpdate, fmt.Sprintf(
			"The quarterly update for the UK property business for the period %s to %s has not been received. Send it before you finalise the year.",
			longDate(yearStart), longDate(yearLast))}}}
		return v
	}
	d := calculationDetail(businessID, computeTax(rates, propertyYear{Rents: 2_000_000, Expenses: 400_000, ResidentialFinanceCosts: 300_000}))
	v.Calculation = &d
	return v
}
