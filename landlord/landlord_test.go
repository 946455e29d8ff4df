package landlord_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/fraud"
	"github.com/mtdconnect/mtdconnect/hmrc/hmrctest"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
	"github.com/mtdconnect/mtdconnect/hmrc/vat"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
	"github.com/mtdconnect/mtdconnect/landlord"
)

const (
	simUser     = "100000000001"
	simPassword = "sim-password"
	nino        = "TC663795B"
	vrn         = "123456789"
)

// env is the shared test deployment (clock at 1 May 2026, so the 2025-26
// tax year's periods and VAT period 26A1 have ended, 26A2 has not) with a
// landlord whose test user at the simulator has Income Tax and VAT, and the
// service over it.
type env struct {
	*hmrctest.Env
	svc    *landlord.Service
	userID int64
}

// newEnv builds the deployment; wrap, when given, wraps the HMRC client's
// transport.
func newEnv(t *testing.T, wrap func(http.RoundTripper) http.RoundTripper) *env {
	t.Helper()
	h := hmrctest.New(t, hmrctest.Options{
		Start: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC),
		Configure: func(h *hmrctest.Env, cfg *hmrc.Config) {
			if wrap != nil {
				cfg.HTTPClient = &http.Client{Transport: wrap(h.Tokens), Timeout: 5 * time.Second}
			}
		},
	})
	h.Sim.AddTestUser(hmrcsim.TestUser{UserID: simUser, Password: simPassword, NINO: nino, VRN: vrn, VATRegistrationDate: "2025-01-15"})
	svc, err := landlord.New(landlord.Config{Store: h.Store, HMRC: h.Client, ITSA: itsa.New(h.Client, h.Store), VAT: vat.New(h.Client),
		Logger: h.Logger, Now: h.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &env{Env: h, svc: svc, userID: h.CreateUser(t, "landlord@example.com", nino, vrn).ID}
}

// connect connects the landlord for p through the service, granting at the
// simulator's pages.
func (e *env) connect(t *testing.T, by landlord.Actor, p mtdconnect.Purpose) *landlord.ConnectionStatus {
	t.Helper()
	authURL, state, err := e.svc.StartConnect(t.Context(), by, e.userID, p, "")
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.svc.CompleteConnect(t.Context(), by, e.userID, state, hmrctest.Grant(t, authURL, state, simUser, simPassword))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func origin() *fraud.Origin { return hmrctest.BrowserOrigin() }

// logged is the message of a log line as the text handler writes it.
func logged(action string) string {
	if strings.Contains(action, " ") {
		return `msg="` + action + `"`
	}
	return "msg=" + action
}

// q1 is a year-to-date update for the first quarter of 2025-26.
func q1() itsa.UKPropertyCumulative {
	return itsa.UKPropertyCumulative{
		FromDate: "2025-04-06", ToDate: "2025-07-05",
		UKProperty: itsa.UKProperty{Income: &itsa.UKPropertyIncome{PeriodAmount: mtdconnect.Pence(300050)}},
	}
}

// vatReturn is HMRC's OAS example for periodKey: box 3 = 1 + 2, box 5 = |3 − 4|.
func vatReturn(t *testing.T, periodKey string) vat.Return {
	t.Helper()
	a := func(s string) mtdconnect.Amount {
		x, err := mtdconnect.ParseAmount(s)
		if err != nil {
			t.Fatal(err)
		}
		return *x
	}
	return vat.Return{
		PeriodKey: periodKey, VATDueSales: a("105.50"), VATDueAcquisitions: a("-100.45"), TotalVATDue: a("5.05"),
		VATReclaimedCurrPeriod: a("105.15"), NetVATDue: a("100.10"), TotalValueSalesExVAT: a("300"),
		TotalValuePurchasesExVAT: a("300"), TotalValueGoodsSuppliedExVAT: a("3000"), TotalAcquisitionsExVAT: a("3000"), Finalised: true,
	}
}

// The connection's life through the service: status, connect, refresh,
// test, disconnect, each logged once with who did it.
func TestConnection(t *testing.T) {
	e := newEnv(t, nil)
	ctx := t.Context()
	by := landlord.ByPlatform(7)

	st, err := e.svc.Status(ctx, e.userID, mtdconnect.PurposeIncomeTax)
	if err != nil || st.Status != mtdconnect.StatusNotConnected || st.Connected() || len(st.Scopes) != 0 || !st.ConnectedSince.IsZero() {
		t.Fatalf("before connecting: %+v, %v", st, err)
	}
	if err := e.svc.Refresh(ctx, by, e.userID, mtdconnect.PurposeIncomeTax); !errors.Is(err, hmrc.ErrNotConnected) {
		t.Fatalf("refresh before connecting: %v", err)
	}

	st = e.connect(t, by, mtdconnect.PurposeIncomeTax)
	now := e.Clock.Now()
	if !st.Connected() || st.Purpose != mtdconnect.PurposeIncomeTax || strings.Join(st.Scopes, " ") != "read:self-assessment write:self-assessment" ||
		!st.ConnectedSince.Equal(now) || !st.AuthorityEndsAt.Equal(now.AddDate(0, 18, 0)) || !st.AccessTokenExpiresAt.After(now) {
		t.Fatalf("connected: %+v", st)
	}
	if err := e.svc.Refresh(ctx, by, e.userID, mtdconnect.PurposeIncomeTax); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.svc.Status(ctx, e.userID, mtdconnect.PurposeIncomeTax); !st.LastRefreshAt.Equal(now) {
		t.Errorf("last refresh %v, want %v", st.LastRefreshAt, now)
	}
	msg, err := e.svc.Test(ctx, by, e.userID, mtdconnect.PurposeIncomeTax, origin(), "")
	if err != nil || !strings.HasPrefix(msg, "HMRC answered: your UK property business is X") {
		t.Fatalf("Test = %q, %v", msg, err)
	}
	// Not connected for VAT: the VAT test says so, and asks nothing.
	if _, err := e.svc.Test(ctx, by, e.userID, mtdconnect.PurposeVAT, origin(), ""); !errors.Is(err, hmrc.ErrNotConnected) {
		t.Fatalf("VAT test without a VAT connection: %v", err)
	}
	if err := e.svc.Disconnect(ctx, by, e.userID, mtdconnect.PurposeIncomeTax); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.svc.Status(ctx, e.userID, mtdconnect.PurposeIncomeTax); st.Status != mtdconnect.StatusNotConnected {
		t.Errorf("after disconnecting: %+v", st)
	}
	if err := e.svc.Disconnect(ctx, by, e.userID, mtdconnect.PurposeIncomeTax); !errors.Is(err, hmrc.ErrNotConnected) {
		t.Errorf("second disconnect: %v", err)
	}

	logs := e.Logs.String()
	for _, action := range []string{"connection started", "connected", "connection refreshed", "connection tested", "disconnected"} {
		if n := strings.Count(logs, logged(action)+" by.kind=platform by.id=7 user_id="); n != 1 {
			t.Errorf("%q logged %d times with the actor:\n%s", action, n, logs)
		}
	}
}

// Who asked, and for whom: an unknown landlord is refused before HMRC is
// asked, and one without the identifier a call needs is told so.
func TestUnknownUserAndMissingIdentifiers(t *testing.T) {
	e := newEnv(t, nil)
	ctx := t.Context()
	by := landlord.ByAdministrator("")
	before := e.Sim.Stats()
	for name, call := range map[string]func() error{
		"Status": func() error { _, err := e.svc.Status(ctx, 999, mtdconnect.PurposeVAT); return err },
		"StartConnect": func() error {
			_, _, err := e.svc.StartConnect(ctx, by, 999, mtdconnect.PurposeVAT, "")
			return err
		},
		"Test":     func() error { _, err := e.svc.Test(ctx, by, 999, mtdconnect.PurposeVAT, origin(), ""); return err },
		"Receipts": func() error { _, err := e.svc.Receipts(ctx, 999, landlord.ReceiptQuery{}); return err },
		"Submit": func() error {
			_, err := e.svc.SubmitQuarterlyUpdate(ctx, by, landlord.QuarterlyUpdate{UserID: 999, TaxYear: 2025, Body: q1(), Origin: origin()})
			return err
		},
	} {
		if err := call(); !errors.Is(err, landlord.ErrUnknownUser) {
			t.Errorf("%s for an unknown user: %v", name, err)
		}
	}
	bare := e.CreateUser(t, "bare@example.com", "", "").ID
	if _, err := e.svc.Obligations(ctx, bare, 2025, origin(), ""); !errors.Is(err, landlord.ErrNoNINO) {
		t.Errorf("obligations without a NINO: %v", err)
	}
	if _, err := e.svc.VATObligationsToShow(ctx, bare, origin()); !errors.Is(err, landlord.ErrNoVRN) {
		t.Errorf("VAT obligations without a VRN: %v", err)
	}
	if _, _, err := e.svc.FileVATReturn(ctx, by, landlord.VATFiling{UserID: bare, Return: vatReturn(t, "26A1"), Origin: origin()}); !errors.Is(err, landlord.ErrNoVRN) {
		t.Errorf("VAT return without a VRN: %v", err)
	}
	if after := e.Sim.Stats(); after.APIRequests != before.APIRequests || after.TokenRequests != before.TokenRequests {
		t.Error("HMRC was asked")
	}
}

// hangUp cancels the caller's context as soon as the request whose method
// and path prefix match is on its way to HMRC: the landlord closed the page
// while HMRC was working.
type hangUp struct {
	next         http.RoundTripper
	method, path string
	mu           sync.Mutex
	cancel       context.CancelFunc
}

func (h *hangUp) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == h.method && strings.HasPrefix(req.URL.Path, h.path) {
		h.mu.Lock()
		if h.cancel != nil {
			h.cancel()
		}
		h.mu.Unlock()
	}
	return h.next.RoundTrip(req)
}

// A quarterly update: refused locally and kept nowhere when HMRC would
// refuse it; once HMRC is asked, the receipt is kept even when the caller
// hung up meanwhile.
func TestSubmitQuarterlyUpdate(t *testing.T) {
	hang := &hangUp{method: http.MethodPut, path: "/individuals/business/property/"}
	e := newEnv(t, func(next http.RoundTripper) http.RoundTripper { hang.next = next; return hang })
	e.connect(t, landlord.ByLandlord(e.userID), mtdconnect.PurposeIncomeTax)
	by := landlord.ByLandlord(e.userID)

	bad := q1()
	bad.UKProperty.Income.PeriodAmount = mtdconnect.Pence(-1)
	before := e.Sim.Stats().APIRequests
	_, err := e.svc.SubmitQuarterlyUpdate(t.Context(), by, landlord.QuarterlyUpdate{UserID: e.userID, TaxYear: 2025, Body: bad, Origin: origin()})
	if verrs := hmrc.ValidationErrorsIn(err); len(verrs) != 1 || verrs[0].Code != itsa.CodeFormatValue {
		t.Fatalf("negative income: %v", err)
	}
	if e.Sim.Stats().APIRequests != before {
		t.Error("a refused update reached HMRC")
	}

	ctx, cancel := context.WithCancel(t.Context())
	hang.mu.Lock()
	hang.cancel = cancel
	hang.mu.Unlock()
	sub, err := e.svc.SubmitQuarterlyUpdate(ctx, by, landlord.QuarterlyUpdate{UserID: e.userID, TaxYear: 2025, Body: q1(), Origin: origin()})
	if ctx.Err() == nil {
		t.Fatal("the caller did not hang up")
	}
	if err != nil || sub.ID == 0 || len(sub.CorrelationID) != 36 || sub.Period != "2025-26" || sub.Kind != mtdconnect.SubmissionUKPropertyCumulative ||
		sub.PeriodStart.Format(time.DateOnly) != "2025-04-06" || sub.PeriodEnd.Format(time.DateOnly) != "2025-07-05" || !sub.SubmittedAt.Equal(e.Clock.Now()) {
		t.Fatalf("submission %+v, %v", sub, err)
	}
	kept, err := e.svc.Receipt(t.Context(), e.userID, sub.ID, mtdconnect.SubmissionUKPropertyCumulative)
	if err != nil || kept.CorrelationID != sub.CorrelationID || !strings.Contains(string(kept.Body), `"periodAmount":3000.50`) {
		t.Fatalf("kept %+v, %v", kept, err)
	}
	if _, err := e.svc.Receipt(t.Context(), e.userID, sub.ID, mtdconnect.SubmissionVATReturn); !errors.Is(err, mtdconnect.ErrNotFound) {
		t.Errorf("the receipt as a VAT one: %v", err)
	}
	obs, err := e.svc.Obligations(t.Context(), e.userID, 2025, origin(), "")
	if err != nil || len(obs.Obligations) != 4 || !obs.Obligations[0].AwaitingHMRC() || obs.Obligations[0].Sent.ID != sub.ID || obs.Obligations[1].Sent != nil {
		t.Fatalf("obligations after Q1: %+v, %v", obs, err)
	}
	got, err := e.svc.CumulativeSummary(t.Context(), e.userID, 2025, origin(), "")
	if err != nil || got.ToDate != "2025-07-05" {
		t.Fatalf("summary %+v, %v", got, err)
	}
	if strings.Count(e.Logs.String(), `msg="quarterly update submitted" by.kind=landlord`) != 1 {
		t.Errorf("the submission is not logged once with its actor:\n%s", e.Logs.String())
	}
}

// closeAfter closes the store as soon as HMRC answers the request whose
// method and path prefix match: the database is gone just when the receipt
// is to be written.
type closeAfter struct {
	next         http.RoundTripper
	method, path string
	store        mtdconnect.Store
}

func (c *closeAfter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	if req.Method == c.method && strings.HasPrefix(req.URL.Path, c.path) {
		c.store.Close()
	}
	return resp, err
}

// A receipt that cannot be stored is a *ReceiptError carrying HMRC's
// references: the return was filed and must not be filed again.
func TestReceiptNotStored(t *testing.T) {
	closer := &closeAfter{method: http.MethodPost, path: "/organisations/vat/"}
	e := newEnv(t, func(next http.RoundTripper) http.RoundTripper { closer.next = next; return closer })
	closer.store = e.Store
	e.connect(t, landlord.ByLandlord(e.userID), mtdconnect.PurposeVAT)
	rec, sub, err := e.svc.FileVATReturn(t.Context(), landlord.ByLandlord(e.userID), landlord.VATFiling{
		UserID: e.userID, Return: vatReturn(t, "26A1"), Origin: origin(),
	})
	var lost *landlord.ReceiptError
	if !errors.As(err, &lost) || lost.Submission != sub || sub.ID != 0 || rec.FormBundleNumber == "" || sub.ReceiptID == "" || len(sub.CorrelationID) != 36 {
		t.Fatalf("FileVATReturn = %+v, %+v, %v", rec, sub, err)
	}
	if logs := e.Logs.String(); !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, sub.CorrelationID) {
		t.Errorf("the lost receipt is not logged with HMRC's reference:\n%s", logs)
	}
}

// A VAT return: not before its period ends, kept with its period, never
// filed twice; the receipts of both purposes come newest first.
func TestFileVATReturn(t *testing.T) {
	e := newEnv(t, nil)
	ctx := t.Context()
	by := landlord.ByAdministrator("ops")
	e.connect(t, by, mtdconnect.PurposeVAT)
	e.connect(t, by, mtdconnect.PurposeIncomeTax)

	list, err := e.svc.VATObligationsToShow(ctx, e.userID, origin())
	if err != nil || len(list) == 0 {
		t.Fatalf("obligations: %v, %v", list, err)
	}
	var keys []string
	for _, o := range list {
		keys = append(keys, o.PeriodKey)
	}
	if got := strings.Join(keys, " "); !strings.Contains(got, "26A1") || !strings.HasSuffix(got, "26A2") {
		t.Errorf("periods %s: want the last 12 months and the open current one, in order", got)
	}

	day := func(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d }
	before := e.Sim.Stats().APIRequests
	if _, _, err := e.svc.FileVATReturn(ctx, by, landlord.VATFiling{UserID: e.userID, Return: vatReturn(t, "26A2"),
		PeriodStart: day("2026-04-01"), PeriodEnd: day("2026-06-30"), Origin: origin()}); !errors.Is(err, landlord.ErrPeriodNotEnded) {
		t.Fatalf("a period not ended: %v", err)
	}
	if e.Sim.Stats().APIRequests != before {
		t.Error("a return for a period not ended reached HMRC")
	}

	rec, sub, err := e.svc.FileVATReturn(ctx, by, landlord.VATFiling{UserID: e.userID, Return: vatReturn(t, "26A1"),
		PeriodStart: day("2026-01-01"), PeriodEnd: day("2026-03-31"), Origin: origin()})
	if err != nil || rec.FormBundleNumber == "" || sub.ID == 0 || sub.Period != "26A1" || !sub.PeriodEnd.Equal(day("2026-03-31")) {
		t.Fatalf("filed: %+v %+v, %v", rec, sub, err)
	}
	if _, _, err := e.svc.FileVATReturn(ctx, by, landlord.VATFiling{UserID: e.userID, Return: vatReturn(t, "26A1"), Origin: origin()}); !hmrc.HasErrorCode(err, vat.CodeDuplicateSubmission) {
		t.Fatalf("filed twice: %v", err)
	}
	if ret, err := e.svc.VATReturn(ctx, e.userID, "26A1", origin(), ""); err != nil || ret.NetVATDue.String() != "100.10" {
		t.Fatalf("the return HMRC holds: %+v, %v", ret, err)
	}

	e.Clock.Advance(time.Minute)
	itsaSub, err := e.svc.SubmitQuarterlyUpdate(ctx, by, landlord.QuarterlyUpdate{UserID: e.userID, TaxYear: 2025, Body: q1(), Origin: origin()})
	if err != nil {
		t.Fatal(err)
	}
	all, err := e.svc.Receipts(ctx, e.userID, landlord.ReceiptQuery{})
	if err != nil || len(all) != 2 || all[0].ID != itsaSub.ID || all[1].ID != sub.ID {
		t.Fatalf("all receipts: %+v, %v", all, err)
	}
	vats, err := e.svc.Receipts(ctx, e.userID, landlord.ReceiptQuery{Kind: mtdconnect.SubmissionVATReturn})
	if err != nil || len(vats) != 1 || vats[0].ID != sub.ID {
		t.Fatalf("VAT receipts: %+v, %v", vats, err)
	}
	if !strings.Contains(e.Logs.String(), `msg="VAT return filed" by.kind=administrator by.id=ops`) {
		t.Errorf("the filing is not logged with its actor:\n%s", e.Logs.String())
	}
}

// Obligations are kept in the store for every instance: a landlord's pages
// cost HMRC one call per ObligationsTTL, the receipt of an update shows at
// once as "sent", HMRC is asked again within SentRecheck until it shows
// the update received, and a disconnection forgets them.
func TestObligationsKept(t *testing.T) {
	e := newEnv(t, nil)
	ctx := t.Context()
	by := landlord.ByLandlord(e.userID)
	e.connect(t, by, mtdconnect.PurposeIncomeTax)
	// Another instance: its own HMRC client and service, the same store.
	other, err := landlord.New(landlord.Config{Store: e.Store, HMRC: e.NewClient(t), ITSA: itsa.New(e.NewClient(t), e.Store),
		VAT: vat.New(e.Client), Logger: e.Logger, Now: e.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	calls := func() int64 { return e.Sim.Stats().APIRequests }
	read := func(svc *landlord.Service, wantCalls int64, scenario string) *landlord.QuarterlyObligations {
		t.Helper()
		before := calls()
		q, err := svc.Obligations(ctx, e.userID, 2025, origin(), scenario)
		if err != nil {
			t.Fatal(err)
		}
		if n := calls() - before; n != wantCalls {
			t.Fatalf("%d HMRC calls, want %d", n, wantCalls)
		}
		return q
	}
	q := read(e.svc, 2, "") // the business ID, then the obligations
	if len(q.Obligations) != 4 || q.PeriodType != itsa.PeriodTypeStandard || !q.FetchedAt.Equal(e.Clock.Now()) {
		t.Fatalf("obligations %+v", q)
	}
	read(other, 0, "")
	e.Clock.Advance(landlord.ObligationsTTL - time.Second)
	read(other, 0, "")
	e.Clock.Advance(time.Second)
	read(other, 1, "")
	read(e.svc, 0, "")
	// A sandbox scenario's answer is neither taken from nor kept.
	read(e.svc, 1, "CUMULATIVE")
	read(e.svc, 0, "")

	// The update: "sent" at once, from the receipt; HMRC asked again
	// within SentRecheck while it shows the period open.
	sub, err := e.svc.SubmitQuarterlyUpdate(ctx, by, landlord.QuarterlyUpdate{UserID: e.userID, TaxYear: 2025, Body: q1(), Origin: origin()})
	if err != nil {
		t.Fatal(err)
	}
	q = read(other, 0, "")
	if ob := q.Obligations[0]; !ob.AwaitingHMRC() || ob.Sent.ID != sub.ID || q.Obligations[1].Sent != nil || q.CanChoosePeriodType {
		t.Fatalf("after the update: %+v", q)
	}
	e.Clock.Advance(landlord.SentRecheck)
	if q = read(other, 1, ""); !q.Obligations[0].AwaitingHMRC() {
		t.Fatalf("HMRC's hour is not over: %+v", q.Obligations[0])
	}
	e.Clock.Advance(landlord.FulfilmentWindow)
	if q = read(e.svc, 1, ""); !q.Obligations[0].Fulfilled() || q.Obligations[0].Sent != nil || q.Obligations[0].Received != "2026-05-01" {
		t.Fatalf("an hour later: %+v", q.Obligations[0])
	}
	read(other, 0, "") // received: kept the whole ObligationsTTL again

	// Disconnected: the obligations read under the authority are forgotten.
	if err := e.svc.Disconnect(ctx, by, e.userID, mtdconnect.PurposeIncomeTax); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Store.CachedObligations(ctx, e.userID, "itsa:"+q.BusinessID+":2025-26"); !errors.Is(err, mtdconnect.ErrNotFound) {
		t.Errorf("kept after disconnecting: %v", err)
	}
}
