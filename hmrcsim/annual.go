package hmrcsim

import (
	"bytes"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Property Business 6.0: the UK property annual submission (allowances and
// adjustments) for 2025-26 onwards, written from HMRC's OAS
// (uk_property_annual_submission*.yaml, def2 schemas) and service code
// (Def2_CreateAmendUkPropertyAnnualSubmissionValidator and RulesValidator,
// ResolveNonEmptyJsonObject, ResolveParsedNumber, the services' downstream
// error maps). Earlier years, with their FHL and non-FHL bodies, are outside
// the simulator's MTD (it starts in 2025-26) and answer
// RULE_TAX_YEAR_NOT_SUPPORTED.

// Property Business errors with the messages of HMRC's service.
var (
	pbErrFormatNino       = mtdError{Code: "FORMAT_NINO", Message: "The NINO format is invalid"}
	pbErrFormatBusinessID = mtdError{Code: "FORMAT_BUSINESS_ID", Message: "The Business ID format is invalid"}
	pbTaxYearErrors       = taxYearErrors{
		format:       mtdError{Code: "FORMAT_TAX_YEAR", Message: "The taxYear format is invalid"},
		rangeInvalid: mtdError{Code: "RULE_TAX_YEAR_RANGE_INVALID", Message: "A tax year range of one year is required"},
		notSupported: mtdError{Code: "RULE_TAX_YEAR_NOT_SUPPORTED", Message: "The tax year specified does not lie within the supported range"},
	}
	pbErrEmptyBody          = mtdError{Code: "RULE_INCORRECT_OR_EMPTY_BODY_SUBMITTED", Message: "An empty or non-matching body was submitted"}
	pbErrFormatString       = mtdError{Code: "FORMAT_STRING", Message: "The supplied string format is not valid"}
	pbErrFormatDate         = mtdError{Code: "FORMAT_DATE", Message: "The supplied date format is not valid"}
	pbErrBothAllowances     = mtdError{Code: "RULE_BOTH_ALLOWANCES_SUPPLIED", Message: "Both allowances and property allowances must not be present at the same time"}
	pbErrBuildingNameNumber = mtdError{Code: "RULE_BUILDING_NAME_NUMBER", Message: "Postcode must be supplied along with at least one of name or number"}
	pbErrTypeOfBusiness     = mtdError{Code: "RULE_TYPE_OF_BUSINESS_INCORRECT", Message: "The businessId is for a different type of business"}
	pbErrPropertyAllowance  = mtdError{Code: "RULE_PROPERTY_INCOME_ALLOWANCE", Message: "The propertyIncomeAllowance cannot be submitted if privateUseAdjustment is supplied"}
	pbErrOutsideAmendment   = mtdError{Code: "RULE_OUTSIDE_AMENDMENT_WINDOW", Message: "You are outside the amendment window"}
)

// Minimum tax years of the three endpoints: HMRC's ukMinimumTaxYear for a
// retrieve, foreignMinimumTaxYear for a delete (one endpoint for UK and
// foreign property), and the simulator's 2025-26 for a submission.
const (
	annualPutMinYear    = 2025
	annualGetMinYear    = 2022
	annualDeleteMinYear = 2021
)

// annualTarget checks the businessId and taxYear path parameters.
func annualTarget(r *http.Request, minStart int) (businessID string, start int, errs []mtdError) {
	businessID = r.PathValue("businessId")
	if !businessIDRE.MatchString(businessID) {
		errs = append(errs, pbErrFormatBusinessID)
	}
	start, yearErrs := parseTaxYear(r.PathValue("taxYear"), minStart, pbTaxYearErrors)
	return businessID, start, append(errs, yearErrs...)
}

// putAnnual is PUT /individuals/business/property/uk/{nino}/{businessId}/annual/{taxYear}
// (write): create or replace the annual submission. 200 with no body.
func (y *yearState) putAnnual(w http.ResponseWriter, r *http.Request) {
	c, ok := y.yearCaller(w, r, fraudAPIPropertyBusiness, "6.0", "write:self-assessment", pbErrFormatNino)
	if !ok {
		return
	}
	businessID, start, errs := annualTarget(r, annualPutMinYear)
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeMTDErrors(w, http.StatusBadRequest, pbErrEmptyBody)
		return
	}
	// The path and the body's structure are checked together, the rules
	// only once both are sound (HMRC's mapN, then andThen).
	body, bodyErrs := parseAnnualBody(raw)
	errs = append(errs, bodyErrs...)
	if len(errs) == 0 {
		errs = validateAnnualRules(body)
	}
	if len(errs) > 0 {
		writeValidationErrors(w, http.StatusBadRequest, errs...)
		return
	}
	sc, ok := yearScenario(w, r, "NOT_FOUND", "TYPE_OF_BUSINESS_INCORRECT", "PROPERTY_INCOME_ALLOWANCE", "STATEFUL", "OUTSIDE_AMENDMENT_WINDOW")
	if !ok {
		return
	}
	switch sc {
	case "NOT_FOUND":
		writeMTDErrors(w, http.StatusNotFound, errNotFound)
		return
	case "TYPE_OF_BUSINESS_INCORRECT":
		writeMTDErrors(w, http.StatusBadRequest, pbErrTypeOfBusiness)
		return
	case "PROPERTY_INCOME_ALLOWANCE":
		writeMTDErrors(w, http.StatusBadRequest, pbErrPropertyAllowance)
		return
	case "OUTSIDE_AMENDMENT_WINDOW":
		writeMTDErrors(w, http.StatusBadRequest, pbErrOutsideAmendment)
		return
	case "":
		if y.s.sandbox() { // the sandbox's DEFAULT: success, nothing stored
			w.WriteHeader(http.StatusOK)
			return
		}
	}
	// The business as the cumulative routes find it: the demo landlord's,
	// or the application's test business in the sandbox. A business of
	// another type is HMRC's INCOMPATIBLE_PAYLOAD.
	if !y.ukPropertyBusiness(w, c, businessID) {
		return
	}
	now := y.s.now()
	if y.outsideAmendmentWindow(c.user.NINO, start, now) {
		writeMTDErrors(w, http.StatusBadRequest, pbErrOutsideAmendment)
		return
	}
	// HMRC's downstream refuses the allowance with private use (its
	// FIELD_CONFLICT / BUSINESS_VALIDATION_FAILURE).
	if hasField(body, "ukProperty", "allowances", "propertyIncomeAllowance") && hasField(body, "ukProperty", "adjustments", "privateUseAdjustment") {
		writeMTDErrors(w, http.StatusBadRequest, pbErrPropertyAllowance)
		return
	}
	key := annualKey{c.vendor(y.s), ninoKey(c.user.NINO), businessID, taxYearString(start)}
	y.mu.Lock()
	y.annual[key] = &annualSubmission{body: knownAnnualFields(body), submittedOn: now}
	y.annualChanged[key] = now
	y.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// getAnnual is GET /individuals/business/property/uk/{nino}/{businessId}/annual/{taxYear}
// (read): the submission with its submittedOn.
func (y *yearState) getAnnual(w http.ResponseWriter, r *http.Request) {
	c, ok := y.yearCaller(w, r, fraudAPIPropertyBusiness, "6.0", "read:self-assessment", pbErrFormatNino)
	if !ok {
		return
	}
	businessID, start, errs := annualTarget(r, annualGetMinYear)
	if len(errs) > 0 {
		writeValidationErrors(w, http.StatusBadRequest, errs...)
		return
	}
	sc, ok := yearScenario(w, r, "UK_PROPERTY", "UK_ALL_OTHER_ALLOWANCES", "UK_PROPERTY_ALLOWANCE",
		"UK_FHL_ALL_OTHER_ALLOWANCES", "UK_FHL_PROPERTY_ALLOWANCE", "FOREIGN_PROPERTY", "STATEFUL")
	if !ok {
		return
	}
	switch sc {
	case "FOREIGN_PROPERTY":
		writeMTDErrors(w, http.StatusBadRequest, pbErrTypeOfBusiness)
		return
	case "UK_PROPERTY", "UK_ALL_OTHER_ALLOWANCES", "UK_FHL_ALL_OTHER_ALLOWANCES":
		// The FHL scenarios answer like their UK twins: FHL is gone from
		// 2025-26, the only years the simulator submits.
		writeJSON(w, http.StatusOK, cannedAnnual(false))
		return
	case "UK_PROPERTY_ALLOWANCE", "UK_FHL_PROPERTY_ALLOWANCE":
		writeJSON(w, http.StatusOK, cannedAnnual(true))
		return
	case "":
		if y.s.sandbox() { // the sandbox's DEFAULT: no data found
			writeMTDErrors(w, http.StatusNotFound, errNotFound)
			return
		}
	}
	// Data of another type of business is the service's
	// RULE_TYPE_OF_BUSINESS_INCORRECT (validateBusinessType).
	if !y.ukPropertyBusiness(w, c, businessID) {
		return
	}
	key := annualKey{c.vendor(y.s), ninoKey(c.user.NINO), businessID, taxYearString(start)}
	y.mu.Lock()
	sub := y.annual[key]
	y.mu.Unlock()
	if sub == nil {
		writeMTDErrors(w, http.StatusNotFound, errNotFound)
		return
	}
	out := map[string]any{"submittedOn": sub.submittedOn.UTC().Format(hmrcTimestamp)}
	for k, v := range sub.body {
		out[k] = v // stored bodies are never mutated
	}
	writeJSON(w, http.StatusOK, out)
}

// deleteAnnual is DELETE /individuals/business/property/{nino}/{businessId}/annual/{taxYear}
// (write): 204.
func (y *yearState) deleteAnnual(w http.ResponseWriter, r *http.Request) {
	c, ok := y.yearCaller(w, r, fraudAPIPropertyBusiness, "6.0", "write:self-assessment", pbErrFormatNino)
	if !ok {
		return
	}
	businessID, start, errs := annualTarget(r, annualDeleteMinYear)
	if len(errs) > 0 {
		writeValidationErrors(w, http.StatusBadRequest, errs...)
		return
	}
	sc, ok := yearScenario(w, r, "NOT_FOUND", "STATEFUL", "OUTSIDE_AMENDMENT_WINDOW")
	if !ok {
		return
	}
	switch sc {
	case "NOT_FOUND":
		writeMTDErrors(w, http.StatusNotFound, errNotFound)
		return
	case "OUTSIDE_AMENDMENT_WINDOW":
		writeMTDErrors(w, http.StatusBadRequest, pbErrOutsideAmendment)
		return
	case "":
		if y.s.sandbox() { // the sandbox's DEFAULT: success
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	// One endpoint for UK and foreign property: a business of either type
	// is found, and only a UK one can have a submission here.
	if _, found := y.s.itsa.business(c, businessID); !found {
		writeMTDErrors(w, http.StatusNotFound, errNotFound)
		return
	}
	now := y.s.now()
	if y.outsideAmendmentWindow(c.user.NINO, start, now) {
		writeMTDErrors(w, http.StatusBadRequest, pbErrOutsideAmendment)
		return
	}
	key := annualKey{c.vendor(y.s), ninoKey(c.user.NINO), businessID, taxYearString(start)}
	y.mu.Lock()
	_, found := y.annual[key]
	if found {
		delete(y.annual, key)
		y.annualChanged[key] = now
	}
	y.mu.Unlock()
	if !found {
		writeMTDErrors(w, http.StatusNotFound, errNotFound)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ukPropertyBusiness finds the business an annual submission names as the
// cumulative routes do (itsaState.businessLocked): the demo landlord's own,
// or in the sandbox one of the calling application's test businesses. It
// writes 404 when there is none, and 400 RULE_TYPE_OF_BUSINESS_INCORRECT for
// a business that is not UK property.
func (y *yearState) ukPropertyBusiness(w http.ResponseWriter, c itsaCall, businessID string) bool {
	biz, found := y.s.itsa.business(c, businessID)
	switch {
	case !found:
		writeMTDErrors(w, http.StatusNotFound, errNotFound)
		return false
	case biz.TypeOfBusiness != "uk-property":
		writeMTDErrors(w, http.StatusBadRequest, pbErrTypeOfBusiness)
		return false
	}
	return true
}

// hmrcTimestamp is HMRC's ISO 8601 UTC timestamp with milliseconds.
const hmrcTimestamp = "2006-01-02T15:04:05.000Z"

// ---- the body ----

// bodyReader walks a decoded JSON body as HMRC's Play JSON reads do,
// collecting the paths that are missing or of the wrong type. A JSON null is
// an absent optional field.
type bodyReader struct{ bad []string }

func (b *bodyReader) field(obj map[string]any, name, path string, required bool, ok func(any) bool) (any, bool) {
	v, present := obj[name]
	if !present || v == nil {
		if required {
			b.bad = append(b.bad, path)
		}
		return nil, false
	}
	if !ok(v) {
		b.bad = append(b.bad, path)
		return nil, false
	}
	return v, true
}

func isObject(v any) bool { _, ok := v.(map[string]any); return ok }
func isArray(v any) bool  { _, ok := v.([]any); return ok }
func isNumber(v any) bool { _, ok := v.(json.Number); return ok }
func isString(v any) bool { _, ok := v.(string); return ok }
func isBool(v any) bool   { _, ok := v.(bool); return ok }

func (b *bodyReader) object(obj map[string]any, name, path string, required bool) (map[string]any, bool) {
	v, ok := b.field(obj, name, path, required, isObject)
	if !ok {
		return nil, false
	}
	return v.(map[string]any), true
}

var (
	adjustmentAmounts = []string{"balancingCharge", "privateUseAdjustment", "businessPremisesRenovationAllowanceBalancingCharges"}
	// allowanceAmounts are in HMRC's order; propertyIncomeAllowance excludes
	// every other allowance, the buildings allowances included.
	allowanceAmounts = []string{"annualInvestmentAllowance", "businessPremisesRenovationAllowance", "otherCapitalAllowance",
		"costOfReplacingDomesticItems", "zeroEmissionsCarAllowance"}
	buildingAllowances = []string{"structuredBuildingAllowance", "enhancedStructuredBuildingAllowance"}
)

// parseAnnualBody decodes a submission and checks its structure: an object,
// ukProperty present, every field of the right type, then no empty object or
// array (HMRC's EmptinessChecker). Unknown fields are ignored, as HMRC's
// (non-strict) reads do.
func parseAnnualBody(raw []byte) (map[string]any, []mtdError) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var body map[string]any
	if err := dec.Decode(&body); err != nil || len(body) == 0 {
		return nil, []mtdError{pbErrEmptyBody}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, []mtdError{pbErrEmptyBody} // trailing data
	}
	var b bodyReader
	var empty []string // in HMRC's traversal order
	if uk, ok := b.object(body, "ukProperty", "/ukProperty", true); ok {
		adj, hasAdj := b.object(uk, "adjustments", "/ukProperty/adjustments", false)
		if hasAdj {
			for _, f := range adjustmentAmounts {
				b.field(adj, f, "/ukProperty/adjustments/"+f, false, isNumber)
			}
			b.field(adj, "nonResidentLandlord", "/ukProperty/adjustments/nonResidentLandlord", true, isBool)
			if rar, ok := b.object(adj, "rentARoom", "/ukProperty/adjustments/rentARoom", false); ok {
				b.field(rar, "jointlyLet", "/ukProperty/adjustments/rentARoom/jointlyLet", true, isBool)
			}
		}
		alw, hasAlw := b.object(uk, "allowances", "/ukProperty/allowances", false)
		alwEmpty := true
		if hasAlw {
			for _, f := range append(slices.Clone(allowanceAmounts), "propertyIncomeAllowance") {
				if _, ok := b.field(alw, f, "/ukProperty/allowances/"+f, false, isNumber); ok {
					alwEmpty = false
				}
			}
			for _, f := range buildingAllowances {
				path := "/ukProperty/allowances/" + f
				v, ok := b.field(alw, f, path, false, isArray)
				if !ok {
					continue
				}
				alwEmpty = false
				items := v.([]any)
				if len(items) == 0 {
					empty = append(empty, path)
				}
				for i, item := range items {
					b.buildingAllowance(item, path+"/"+strconv.Itoa(i))
				}
			}
		}
		switch {
		case !hasAdj && !hasAlw:
			empty = append([]string{"/ukProperty"}, empty...)
		case hasAlw && alwEmpty:
			empty = append([]string{"/ukProperty/allowances"}, empty...)
		}
	}
	if len(b.bad) > 0 {
		slices.Sort(b.bad)
		return nil, []mtdError{pbErrEmptyBody.withPaths(b.bad...)}
	}
	if len(empty) > 0 {
		return nil, []mtdError{pbErrEmptyBody.withPaths(empty...)}
	}
	return body, nil
}

// buildingAllowance reads one structures and buildings allowance entry.
func (b *bodyReader) buildingAllowance(item any, path string) {
	entry, ok := item.(map[string]any)
	if !ok {
		b.bad = append(b.bad, path)
		return
	}
	b.field(entry, "amount", path+"/amount", true, isNumber)
	if fy, ok := b.object(entry, "firstYear", path+"/firstYear", false); ok {
		b.field(fy, "qualifyingDate", path+"/firstYear/qualifyingDate", true, isString)
		b.field(fy, "qualifyingAmountExpenditure", path+"/firstYear/qualifyingAmountExpenditure", true, isNumber)
	}
	if bld, ok := b.object(entry, "building", path+"/building", true); ok {
		b.field(bld, "name", path+"/building/name", false, isString)
		b.field(bld, "number", path+"/building/number", false, isString)
		b.field(bld, "postcode", path+"/building/postcode", true, isString)
	}
}

// annualStringRE is HMRC's pattern for building names, numbers and postcodes.
var annualStringRE = regexp.MustCompile(`^[0-9a-zA-ZÀ-˿’\- _&` + "`" + `():.'^]{1,90}$`)

var (
	maxMoney             = big.NewRat(9999999999999, 100)
	maxPropertyAllowance = big.NewRat(1000, 1)
)

// checkMoney applies HMRC's ResolveParsedNumber: between lo (0) and hi, with
// at most two decimal places as written (1.500 has three). The message
// prints the bounds as HMRC's Scala does, e.g. "between 0 and 1000.0".
func checkMoney(v any, path string, hi *big.Rat, hiText string, errs *[]mtdError) {
	n, ok := v.(json.Number)
	if !ok {
		return
	}
	x, ok := new(big.Rat).SetString(n.String())
	if !ok || decimalScale(n.String()) > 2 || x.Sign() < 0 || x.Cmp(hi) > 0 {
		*errs = append(*errs, mtdError{Code: "FORMAT_VALUE", Message: "The value must be between 0 and " + hiText, Paths: []string{path}})
	}
}

// decimalScale is the scale of a JSON number literal as a Java BigDecimal
// sees it: digits after the point, less the exponent.
func decimalScale(s string) int {
	mant, exp, _ := strings.Cut(strings.ToLower(s), "e")
	scale := 0
	if _, frac, ok := strings.Cut(mant, "."); ok {
		scale = len(frac)
	}
	if exp != "" {
		e, ok := new(big.Int).SetString(strings.TrimPrefix(exp, "+"), 10)
		if !ok || !e.IsInt64() {
			return 1 << 30
		}
		scale -= int(e.Int64())
	}
	return scale
}

// validateAnnualRules applies HMRC's rules validator to a well-formed body:
// amounts, strings, dates, the building's name or number, and the property
// income allowance alone.
func validateAnnualRules(body map[string]any) []mtdError {
	var errs []mtdError
	uk := body["ukProperty"].(map[string]any)
	adj, _ := uk["adjustments"].(map[string]any)
	alw, _ := uk["allowances"].(map[string]any)
	for _, f := range adjustmentAmounts {
		checkMoney(adj[f], "/ukProperty/adjustments/"+f, maxMoney, "99999999999.99", &errs)
	}
	for _, f := range allowanceAmounts {
		checkMoney(alw[f], "/ukProperty/allowances/"+f, maxMoney, "99999999999.99", &errs)
	}
	checkMoney(alw["propertyIncomeAllowance"], "/ukProperty/allowances/propertyIncomeAllowance", maxPropertyAllowance, "1000.0", &errs)
	for _, f := range buildingAllowances {
		items, _ := alw[f].([]any)
		for i, item := range items {
			errs = append(errs, buildingRules(item.(map[string]any), "/ukProperty/allowances/"+f+"/"+strconv.Itoa(i))...)
		}
	}
	if alw["propertyIncomeAllowance"] != nil {
		for name, v := range alw {
			if name != "propertyIncomeAllowance" && v != nil && (slices.Contains(allowanceAmounts, name) || slices.Contains(buildingAllowances, name)) {
				errs = append(errs, pbErrBothAllowances.withPaths("/ukProperty/allowances"))
				break
			}
		}
	}
	return errs
}

func buildingRules(entry map[string]any, path string) []mtdError {
	var errs []mtdError
	fy, _ := entry["firstYear"].(map[string]any)
	checkMoney(fy["qualifyingAmountExpenditure"], path+"/firstYear/qualifyingAmountExpenditure", maxMoney, "99999999999.99", &errs)
	checkMoney(entry["amount"], path+"/amount", maxMoney, "99999999999.99", &errs)
	bld := entry["building"].(map[string]any)
	for _, f := range []string{"name", "number", "postcode"} {
		if s, ok := bld[f].(string); ok && !annualStringRE.MatchString(s) {
			errs = append(errs, pbErrFormatString.withPaths(path+"/building/"+f))
		}
	}
	if d, ok := fy["qualifyingDate"].(string); ok {
		if _, err := time.Parse(isoDate, d); err != nil || len(d) != len(isoDate) {
			errs = append(errs, pbErrFormatDate.withPaths(path+"/firstYear/qualifyingDate"))
		}
	}
	if bld["name"] == nil && bld["number"] == nil {
		errs = append(errs, pbErrBuildingNameNumber.withPaths(path+"/building"))
	}
	return errs
}

// knownAnnualFields keeps the fields of HMRC's model: HMRC stores a
// submission typed, so a field it does not know never comes back.
func knownAnnualFields(body map[string]any) map[string]any {
	pick := func(obj map[string]any, names ...string) map[string]any {
		out := map[string]any{}
		for _, n := range names {
			if v, ok := obj[n]; ok && v != nil {
				out[n] = v
			}
		}
		return out
	}
	uk := body["ukProperty"].(map[string]any)
	keptUK := map[string]any{}
	if adj, ok := uk["adjustments"].(map[string]any); ok {
		kept := pick(adj, append(slices.Clone(adjustmentAmounts), "nonResidentLandlord")...)
		if rar, ok := adj["rentARoom"].(map[string]any); ok {
			kept["rentARoom"] = pick(rar, "jointlyLet")
		}
		keptUK["adjustments"] = kept
	}
	if alw, ok := uk["allowances"].(map[string]any); ok {
		kept := pick(alw, append(slices.Clone(allowanceAmounts), "propertyIncomeAllowance")...)
		for _, f := range buildingAllowances {
			items, ok := alw[f].([]any)
			if !ok {
				continue
			}
			var keptItems []any
			for _, item := range items {
				entry := item.(map[string]any)
				k := pick(entry, "amount")
				if fy, ok := entry["firstYear"].(map[string]any); ok {
					k["firstYear"] = pick(fy, "qualifyingDate", "qualifyingAmountExpenditure")
				}
				k["building"] = pick(entry["building"].(map[string]any), "name", "number", "postcode")
				keptItems = append(keptItems, k)
			}
			kept[f] = keptItems
		}
		keptUK["allowances"] = kept
	}
	return map[string]any{"ukProperty": keptUK}
}

// hasField reports whether the nested field is present and not null.
func hasField(obj map[string]any, path ...string) bool {
	for i, name := range path {
		v, ok := obj[name]
		if !ok || v == nil {
			return false
		}
		if i == len(path)-1 {
			return true
		}
		if obj, ok = v.(map[string]any); !ok {
			return false
		}
	}
	return false
}

// cannedAnnual is the sandbox's answer to the UK_* scenarios: HMRC's OAS
// examples for 2025-26 onwards.
func cannedAnnual(propertyAllowance bool) map[string]any {
	adjustments := map[string]any{
		"balancingCharge": json.Number("565.34"), "businessPremisesRenovationAllowanceBalancingCharges": json.Number("563.34"),
		"nonResidentLandlord": true, "rentARoom": map[string]any{"jointlyLet": true},
	}
	if propertyAllowance {
		return map[string]any{"submittedOn": "2025-06-17T10:59:47.544Z", "ukProperty": map[string]any{
			"adjustments": adjustments,
			"allowances":  map[string]any{"propertyIncomeAllowance": json.Number("342.34")},
		}}
	}
	adjustments["privateUseAdjustment"] = json.Number("533.54")
	building := func(amount, date, spent, name, number, postcode string) map[string]any {
		return map[string]any{
			"amount":    json.Number(amount),
			"firstYear": map[string]any{"qualifyingDate": date, "qualifyingAmountExpenditure": json.Number(spent)},
			"building":  map[string]any{"name": name, "number": number, "postcode": postcode},
		}
	}
	return map[string]any{"submittedOn": "2025-06-17T10:59:47.544Z", "ukProperty": map[string]any{
		"adjustments": adjustments,
		"allowances": map[string]any{
			"annualInvestmentAllowance": json.Number("678.45"), "businessPremisesRenovationAllowance": json.Number("573.45"),
			"otherCapitalAllowance": json.Number("452.34"), "costOfReplacingDomesticItems": json.Number("567.34"),
			"zeroEmissionsCarAllowance":           json.Number("454.34"),
			"structuredBuildingAllowance":         []any{building("234.34", "2020-03-29", "3434.45", "Plaza", "1", "TF3 4EH")},
			"enhancedStructuredBuildingAllowance": []any{building("234.45", "2020-05-29", "453.34", "Plaza 2", "2", "TF3 4ER")},
		},
	}}
}
