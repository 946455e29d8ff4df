// Package calc makes HMRC's Individual Calculations (MTD) v8.0 calls on top
// of hmrc.Client.Do: trigger a Self Assessment tax calculation, list and
// retrieve calculations, and submit the final declaration or the
// confirmation of an amendment made with one. HMRC's own calculation is the
// one that counts: mtdconnect never works out tax itself.
//
// A calculation is asynchronous: HMRC answers the trigger with an ID at
// once and asks software to wait at least 5 seconds before retrieving it;
// until it is ready, retrieving it answers 404 (ErrNotReady here). The
// caller decides how to wait (landlord.Service polls within the rate
// budget).
//
// As in hmrc/itsa, what HMRC would refuse for its shape (the NINO, the tax
// year, the calculation's ID and type) is refused here first, as a
// *hmrc.ValidationError with HMRC's code and message, and never sent.
package calc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/fraud"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
)

// API names the Individual Calculations API in hmrc.APIError.API.
const API = "individual-calculations"

// accept is the version called: 8.0 (9.0 is published but not released).
const accept = "application/vnd.hmrc.8.0+json"

// Type is a calculation's type, as HMRC names it.
type Type string

// The types. A calculation is triggered as InYear, IntentToFinalise or
// IntentToAmend; a final declaration is submitted as FinalDeclaration with
// an IntentToFinalise calculation, an amendment confirmed as
// ConfirmAmendment with an IntentToAmend one. Once declared, HMRC lists the
// calculation as FinalDeclaration and its metadata says
// DeclareFinalisation; a confirmed amendment is ConfirmAmendment in both.
const (
	InYear              Type = "in-year"
	IntentToFinalise    Type = "intent-to-finalise"
	IntentToAmend       Type = "intent-to-amend"
	FinalDeclaration    Type = "final-declaration"
	ConfirmAmendment    Type = "confirm-amendment"
	DeclareFinalisation Type = "declare-finalisation"
)

// AmendmentFirstTaxYear is the first tax year of amendments after a final
// declaration (intent-to-amend, confirm-amendment): 2025-26.
const AmendmentFirstTaxYear itsa.TaxYear = 2025

// ErrNotReady means HMRC answered 404 for a calculation: it has not
// finished (HMRC asks to wait at least 5 seconds after the trigger), or HMRC
// has no calculation of that ID for the landlord and year.
var ErrNotReady = errors.New("calc: HMRC has no finished calculation of that ID yet")

// Client makes the Individual Calculations calls through an hmrc.Client.
type Client struct{ hmrc *hmrc.Client }

// New returns a Client over c.
func New(c *hmrc.Client) *Client { return &Client{hmrc: c} }

// Option adjusts one call.
type Option func(*options)

type options struct {
	priority hmrc.Priority
	scenario string
}

// WithPriority sets the call's place in the rate budget; calls are
// Interactive unless told otherwise.
func WithPriority(p hmrc.Priority) Option { return func(o *options) { o.priority = p } }

// WithTestScenario sends HMRC's sandbox Gov-Test-Scenario header (""
// for none). The call fails, sending nothing, if the client calls
// production.
func WithTestScenario(name string) Option { return func(o *options) { o.scenario = name } }

func (c *Client) options(opts []Option) (options, error) {
	o := options{priority: hmrc.Interactive}
	for _, f := range opts {
		f(&o)
	}
	return o, c.hmrc.CheckTestScenario(o.scenario)
}

func (c *Client) do(ctx context.Context, o options, userID int64, call hmrc.Call, out any) (*hmrc.Response, error) {
	call.API = API
	call.UserID = userID
	call.Purpose = mtdconnect.PurposeIncomeTax
	call.Priority = o.priority
	call.Accept = accept
	// Reads are safe to repeat. A trigger or a declaration is not: after a
	// failure HMRC may have acted on, it is not sent again.
	call.Idempotent = call.Method == http.MethodGet
	call.TestScenario = o.scenario
	return c.hmrc.Do(ctx, call, out)
}

func basePath(nino string, taxYear itsa.TaxYear) string {
	return "/individuals/calculations/" + nino + "/self-assessment/" + taxYear.String()
}

// Trigger asks HMRC to calculate the landlord's tax for taxYear: t is
// InYear (an estimate, at any time), IntentToFinalise (the calculation for
// the final declaration, after the tax year) or IntentToAmend (after a
// final declaration, from 2025-26). It returns the calculation's ID, to
// retrieve no sooner than 5 seconds later, and HMRC's answer (its
// X-CorrelationId).
func (c *Client) Trigger(ctx context.Context, userID int64, nino string, taxYear itsa.TaxYear, t Type, origin *fraud.Origin, opts ...Option) (string, *hmrc.Response, error) {
	n, err := checkTrigger(nino, taxYear, t)
	if err != nil {
		return "", nil, err
	}
	o, err := c.options(opts)
	if err != nil {
		return "", nil, err
	}
	var out struct {
		CalculationID string `json:"calculationId"`
	}
	resp, err := c.do(ctx, o, userID, hmrc.Call{
		Method: http.MethodPost, Path: basePath(n, taxYear) + "/trigger/" + string(t), Fraud: origin,
	}, &out)
	if err != nil {
		return "", nil, fmt.Errorf("calc: trigger %s calculation %s: %w", t, taxYear, err)
	}
	if !ValidID(out.CalculationID) {
		return "", resp, fmt.Errorf("calc: trigger %s calculation %s: HMRC returned a malformed calculation ID %q", t, taxYear, out.CalculationID)
	}
	return out.CalculationID, resp, nil
}

// Retrieve returns the calculation id of taxYear; ErrNotReady while HMRC
// is still calculating it (or has none of that ID).
func (c *Client) Retrieve(ctx context.Context, userID int64, nino string, taxYear itsa.TaxYear, id string, origin *fraud.Origin, opts ...Option) (*Calculation, error) {
	n, err := checkRetrieve(nino, taxYear, id)
	if err != nil {
		return nil, err
	}
	o, err := c.options(opts)
	if err != nil {
		return nil, err
	}
	var raw json.RawMessage
	_, err = c.do(ctx, o, userID, hmrc.Call{Method: http.MethodGet, Path: basePath(n, taxYear) + "/" + id, Fraud: origin}, &raw)
	if isNotFound(err) {
		return nil, fmt.Errorf("%w (%w)", ErrNotReady, err)
	}
	if err != nil {
		return nil, fmt.Errorf("calc: retrieve calculation %s: %w", taxYear, err)
	}
	calc, err := ParseCalculation(raw)
	if err != nil {
		return nil, fmt.Errorf("calc: retrieve calculation %s: %w", taxYear, err)
	}
	return calc, nil
}

// List returns the landlord's finished calculations of taxYear, newest
// first, of type t ("" for every type): HMRC's own and those software
// triggered. None is an empty list.
func (c *Client) List(ctx context.Context, userID int64, nino string, taxYear itsa.TaxYear, t Type, origin *fraud.Origin, opts ...Option) ([]Summary, error) {
	n, err := checkList(nino, taxYear, t)
	if err != nil {
		return nil, err
	}
	o, err := c.options(opts)
	if err != nil {
		return nil, err
	}
	var q url.Values
	if t != "" {
		q = url.Values{"calculationType": {string(t)}}
	}
	var out struct {
		Calculations []Summary `json:"calculations"`
	}
	_, err = c.do(ctx, o, userID, hmrc.Call{Method: http.MethodGet, Path: basePath(n, taxYear), Query: q, Fraud: origin}, &out)
	if isNotFound(err) {
		return []Summary{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("calc: list calculations %s: %w", taxYear, err)
	}
	if out.Calculations == nil {
		out.Calculations = []Summary{}
	}
	return out.Calculations, nil
}

// Submit makes the final declaration (t FinalDeclaration) with the
// intent-to-finalise calculation id, or confirms an amendment (t
// ConfirmAmendment) with the intent-to-amend calculation id. HMRC's
// declaration wording must have been shown to the landlord and agreed to
// first: HMRC cannot check that, the caller must. HMRC answers 204; the
// Response carries its X-CorrelationId. It is never sent twice: after a
// failure HMRC may have acted on, the error wraps hmrc.ErrUnavailable.
func (c *Client) Submit(ctx context.Context, userID int64, nino string, taxYear itsa.TaxYear, id string, t Type, origin *fraud.Origin, opts ...Option) (*hmrc.Response, error) {
	n, err := checkSubmit(nino, taxYear, id, t)
	if err != nil {
		return nil, err
	}
	o, err := c.options(opts)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, o, userID, hmrc.Call{
		Method: http.MethodPost, Path: basePath(n, taxYear) + "/" + id + "/" + string(t), Fraud: origin,
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("calc: %s %s: %w", t, taxYear, err)
	}
	return resp, nil
}

func isNotFound(err error) bool {
	var ae *hmrc.APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// ---- what HMRC returns ----

// Summary is one calculation of HMRC's list.
type Summary struct {
	CalculationID        string `json:"calculationId"`
	CalculationTimestamp string `json:"calculationTimestamp"`
	CalculationType      Type   `json:"calculationType"`
	CalculationTrigger   string `json:"calculationTrigger,omitempty"`
	CalculationOutcome   string `json:"calculationOutcome,omitempty"` // PROCESSED, ERROR or REJECTED
	// LiabilityAmount is the total Income Tax and NICs due; nil when HMRC
	// gave none (a calculation with errors).
	LiabilityAmount *Money `json:"liabilityAmount,omitempty"`
	FromDate        string `json:"fromDate,omitempty"`
	ToDate          string `json:"toDate,omitempty"`
}

// Money is an amount HMRC sends: a JSON number, or (in some of HMRC's
// examples) a number in a string.
type Money struct{ mtdconnect.Amount }

// UnmarshalJSON accepts a JSON number or a string holding one.
func (m *Money) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		a, err := mtdconnect.ParseAmount(strings.TrimSpace(s))
		if err != nil {
			return err
		}
		m.Amount = *a
		return nil
	}
	return m.Amount.UnmarshalJSON(b)
}

// Calculation is a retrieved calculation: what mtdconnect shows of HMRC's
// answer, which Raw holds whole.
type Calculation struct {
	Metadata Metadata `json:"metadata"`
	// Detail is the calculation's result; nil when HMRC found errors
	// (Messages.Errors), which a landlord must correct first.
	Detail   *Detail   `json:"calculation,omitempty"`
	Messages *Messages `json:"messages,omitempty"`
	// Raw is HMRC's answer as it came.
	Raw json.RawMessage `json:"-"`
}

// ParseCalculation reads HMRC's retrieve answer.
func ParseCalculation(raw []byte) (*Calculation, error) {
	var c Calculation
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("decode calculation: %w", err)
	}
	if c.Metadata.CalculationID == "" {
		return nil, errors.New("decode calculation: no calculation ID")
	}
	c.Raw = json.RawMessage(bytes.Clone(raw))
	return &c, nil
}

// Type is the calculation's type as its metadata says.
func (c *Calculation) Type() Type { return c.Metadata.CalculationType }

// Errors are HMRC's error messages: while there are any there is no result,
// and no declaration can be made with the calculation.
func (c *Calculation) Errors() []Message {
	if c.Messages == nil {
		return nil
	}
	return c.Messages.Errors
}

// HasErrors reports whether HMRC found errors (or gave no result).
func (c *Calculation) HasErrors() bool { return len(c.Errors()) > 0 || c.Detail == nil }

// Declared reports whether a final declaration was made with it.
func (c *Calculation) Declared() bool {
	return c.Metadata.CalculationType == DeclareFinalisation || c.Metadata.FinalisationTimestamp != ""
}

// Confirmed reports whether an amendment was confirmed with it.
func (c *Calculation) Confirmed() bool {
	return c.Metadata.CalculationType == ConfirmAmendment || c.Metadata.ConfirmationTimestamp != ""
}

// Metadata says what the calculation is.
type Metadata struct {
	CalculationID         string `json:"calculationId"`
	TaxYear               string `json:"taxYear"`
	RequestedBy           string `json:"requestedBy,omitempty"`
	RequestedTimestamp    string `json:"requestedTimestamp,omitempty"`
	CalculationReason     string `json:"calculationReason,omitempty"`
	CalculationTimestamp  string `json:"calculationTimestamp,omitempty"`
	CalculationType       Type   `json:"calculationType"`
	FinalisationTimestamp string `json:"finalisationTimestamp,omitempty"`
	ConfirmationTimestamp string `json:"confirmationTimestamp,omitempty"`
	PeriodFrom            string `json:"periodFrom"`
	PeriodTo              string `json:"periodTo"`
}

// Messages are HMRC's explanations, warnings and errors.
type Messages struct {
	Info     []Message `json:"info,omitempty"`
	Warnings []Message `json:"warnings,omitempty"`
	Errors   []Message `json:"errors,omitempty"`
}

// Message is one of HMRC's messages, in HMRC's words.
type Message struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

// Detail is the part of HMRC's result a landlord's summary shows (HMRC's
// answer has much more, for other kinds of income; Calculation.Raw keeps
// it). Amounts are pounds, whole where HMRC gives whole pounds.
type Detail struct {
	AllowancesAndDeductions *AllowancesAndDeductions `json:"allowancesAndDeductions,omitempty"`
	Reliefs                 *Reliefs                 `json:"reliefs,omitempty"`
	TaxDeductedAtSource     *TaxDeductedAtSource     `json:"taxDeductedAtSource,omitempty"`
	BusinessProfitAndLoss   []BusinessProfitAndLoss  `json:"businessProfitAndLoss,omitempty"`
	TaxCalculation          *TaxCalculation          `json:"taxCalculation,omitempty"`
	EndOfYearEstimate       *EndOfYearEstimate       `json:"endOfYearEstimate,omitempty"`
}

// AllowancesAndDeductions: the personal allowance available and, when
// high income reduced it, what was left.
type AllowancesAndDeductions struct {
	PersonalAllowance        *Money `json:"personalAllowance,omitempty"`
	ReducedPersonalAllowance *Money `json:"reducedPersonalAllowance,omitempty"`
}

// Reliefs: the residential finance costs tax reduction.
type Reliefs struct {
	ResidentialFinanceCosts *ResidentialFinanceCosts `json:"residentialFinanceCosts,omitempty"`
}

// ResidentialFinanceCosts is the finance costs relief (at the basic rate).
type ResidentialFinanceCosts struct {
	AdjustedTotalIncome                *Money `json:"adjustedTotalIncome,omitempty"`
	TotalAllowableAmount               *Money `json:"totalAllowableAmount,omitempty"`
	RelievableAmount                   *Money `json:"relievableAmount,omitempty"`
	Rate                               *Money `json:"rate,omitempty"`
	TotalResidentialFinanceCostsRelief *Money `json:"totalResidentialFinanceCostsRelief,omitempty"`
}

// TaxDeductedAtSource: tax already taken from property income (the
// non-resident landlord scheme).
type TaxDeductedAtSource struct {
	UKLandAndProperty *Money `json:"ukLandAndProperty,omitempty"`
}

// BusinessProfitAndLoss is one business's figures.
type BusinessProfitAndLoss struct {
	IncomeSourceID        string `json:"incomeSourceId"`
	IncomeSourceType      string `json:"incomeSourceType"` // uk-property, self-employment, …
	TotalIncome           *Money `json:"totalIncome,omitempty"`
	TotalExpenses         *Money `json:"totalExpenses,omitempty"`
	NetProfit             *Money `json:"netProfit,omitempty"`
	NetLoss               *Money `json:"netLoss,omitempty"`
	TotalAdditions        *Money `json:"totalAdditions,omitempty"`
	TotalDeductions       *Money `json:"totalDeductions,omitempty"`
	TaxableProfit         *Money `json:"taxableProfit,omitempty"`
	AdjustedIncomeTaxLoss *Money `json:"adjustedIncomeTaxLoss,omitempty"`
}

// TaxCalculation is the tax and National Insurance worked out.
type TaxCalculation struct {
	IncomeTax                 *IncomeTax `json:"incomeTax,omitempty"`
	Nics                      *Nics      `json:"nics,omitempty"`
	TotalIncomeTaxNicsCharged *Money     `json:"totalIncomeTaxNicsCharged,omitempty"`
	TotalTaxDeducted          *Money     `json:"totalTaxDeducted,omitempty"`
	TotalIncomeTaxAndNicsDue  *Money     `json:"totalIncomeTaxAndNicsDue,omitempty"`
}

// IncomeTax is the Income Tax part.
type IncomeTax struct {
	TotalIncomeReceivedFromAllSources *Money      `json:"totalIncomeReceivedFromAllSources,omitempty"`
	TotalAllowancesAndDeductions      *Money      `json:"totalAllowancesAndDeductions,omitempty"`
	TotalTaxableIncome                *Money      `json:"totalTaxableIncome,omitempty"`
	PayPensionsProfit                 *IncomeItem `json:"payPensionsProfit,omitempty"`
	IncomeTaxCharged                  *Money      `json:"incomeTaxCharged,omitempty"`
	TotalReliefs                      *Money      `json:"totalReliefs,omitempty"`
	IncomeTaxDueAfterReliefs          *Money      `json:"incomeTaxDueAfterReliefs,omitempty"`
	TotalIncomeTaxDue                 *Money      `json:"totalIncomeTaxDue,omitempty"`
}

// IncomeItem is the tax on one kind of income (pay, pensions and profits,
// property profits included) with its bands.
type IncomeItem struct {
	IncomeReceived      *Money    `json:"incomeReceived,omitempty"`
	AllowancesAllocated *Money    `json:"allowancesAllocated,omitempty"`
	TaxableIncome       *Money    `json:"taxableIncome,omitempty"`
	IncomeTaxAmount     *Money    `json:"incomeTaxAmount,omitempty"`
	TaxBands            []TaxBand `json:"taxBands,omitempty"`
}

// TaxBand is the tax charged in one band, e.g. basic rate at 20%.
type TaxBand struct {
	Name      string `json:"name"` // HMRC's: BRT, HRT, ART, ZRT…
	Rate      *Money `json:"rate,omitempty"`
	BandLimit *Money `json:"bandLimit,omitempty"`
	Income    *Money `json:"income,omitempty"`
	TaxAmount *Money `json:"taxAmount,omitempty"`
}

// Nics is National Insurance. Class 4 is charged on trading profits and
// property income pays no Class 2, so a landlord's is nil.
type Nics struct {
	Nic2Amount *Money `json:"nic2Amount,omitempty"`
	Nic4Amount *Money `json:"nic4Amount,omitempty"`
	TotalNic   *Money `json:"totalNic,omitempty"`
}

// EndOfYearEstimate is an in-year calculation's forecast of the whole year.
type EndOfYearEstimate struct {
	TotalEstimatedIncome         *Money `json:"totalEstimatedIncome,omitempty"`
	TotalAllowancesAndDeductions *Money `json:"totalAllowancesAndDeductions,omitempty"`
	TotalTaxableIncome           *Money `json:"totalTaxableIncome,omitempty"`
	IncomeTaxAmount              *Money `json:"incomeTaxAmount,omitempty"`
	Nic2                         *Money `json:"nic2,omitempty"`
	Nic4                         *Money `json:"nic4,omitempty"`
	TotalNicAmount               *Money `json:"totalNicAmount,omitempty"`
	TotalTaxDeducted             *Money `json:"totalTaxDeducted,omitempty"`
	IncomeTaxNicAmount           *Money `json:"incomeTaxNicAmount,omitempty"`
}
