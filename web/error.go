package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
	"github.com/mtdconnect/mtdconnect/landlord"
)

// Errors of this package's own.
var (
	errBadRequest   = errors.New("web: bad request")
	errMissingState = errors.New("web: callback without state")
)

// jsonBodyError is an API body that is not the JSON expected; Problem says
// how, for the platform's developers.
type jsonBodyError struct{ Problem string }

func (e *jsonBodyError) Error() string { return "web: request body: " + e.Problem }

// problem is an error as a client sees it: an HTTP status, a stable code
// for programs and a message in words a landlord understands.
type problem struct {
	Status  int
	Code    string
	Title   string // heading of the page that shows it
	Message string
	Reason  string // why a connection needs reconnecting
	Scope   string // the scope an API key lacks (insufficient_scope)
	// Errors are the individual problems (fields, headers) behind it.
	Errors []fieldError
	// Action says what the landlord can do about it, when one of the
	// pages' usual links fits: reconnect, settings (check the NINO).
	Action string
	// RetryAfter, in seconds, is sent as Retry-After when not zero.
	RetryAfter int
}

// fieldError is one problem with one part of a request: HMRC's code and
// the JSON-pointer paths of a body, or the header at fault.
type fieldError struct {
	Code    string   `json:"code,omitempty"`
	Message string   `json:"message"`
	Paths   []string `json:"paths,omitempty"`
	Header  string   `json:"header,omitempty"`
}

// Actions of a problem.
const (
	actionReconnect = "reconnect"
	actionSettings  = "settings"
)

// classify is the one map from errors to what users see. Anything it does
// not know is an internal error: logged in full by the caller, shown as
// "Internal error." so no detail leaks.
func classify(err error) problem {
	var (
		reconnect *hmrc.ReconnectError
		busy      *hmrc.BusyError
		api       *hmrc.APIError
		exchange  *hmrc.ExchangeError
		appErr    *hmrc.ApplicationError
		headers   headerErrors
		nino      *mtdconnect.NINOError
		badJSON   *jsonBodyError
		badRef    *mtdconnect.RefError
		deleted   *landlord.DeletedError
		badUser   *landlord.InvalidUserError
		scenario  *hmrc.TestScenarioError
		badConn   *landlord.ConnectRequestError
		badRet    *landlord.ReturnURLError
	)
	if verrs := hmrc.ValidationErrorsIn(err); len(verrs) > 0 {
		p := problem{Status: http.StatusBadRequest, Code: "invalid_request", Title: "Check the figures",
			Message: "Some of the details cannot be sent to HMRC as they are, so nothing was sent. Correct them and try again."}
		for _, v := range verrs {
			p.Errors = append(p.Errors, fieldError{Code: v.Code, Message: v.Message, Paths: v.Paths})
		}
		return p
	}
	// VAT's own errors, and HMRC's answers to VAT calls (vat.go).
	if p, ok := classifyVAT(err); ok {
		return p
	}
	// The year end's refusals, and HMRC's answers to its calls
	// (yearend_error.go).
	if p, ok := classifyYearEnd(err); ok {
		return p
	}
	// The proxy's refusals (proxy_api.go).
	if p, ok := classifyProxy(err); ok {
		return p
	}
	// The webhooks' (webhooks_api.go).
	if p, ok := classifyWebhooks(err); ok {
		return p
	}
	switch {
	case errors.Is(err, errNoDeviceData):
		return problem{Status: http.StatusBadRequest, Code: "device_data_missing", Title: "Your browser must allow scripts",
			Message: "Your browser must allow scripts for HMRC's fraud-prevention rules: HMRC requires some details of your " +
				"browser (such as screen size and time zone) with every request, and they are collected by a small script " +
				"on our pages. Turn on JavaScript for this site, reload the page and try again. Nothing was sent to HMRC."}
	case errors.Is(err, errBadDeviceData):
		return problem{Status: http.StatusBadRequest, Code: "device_data_invalid", Title: "Your browser's details could not be used",
			Message: "The details of your browser that HMRC's fraud-prevention rules require could not be read, so nothing " +
				"was sent to HMRC. Reload the page and try again; if it keeps happening, try another browser."}
	case errors.Is(err, errDeviceDataRequired):
		return problem{Status: http.StatusBadRequest, Code: "device_data_required", Title: "The landlord's device data is required",
			Message: "This request sends the landlord's data to HMRC, and HMRC's fraud-prevention rules need the landlord's device " +
				"data with it, in the Mtd-Client-* headers (see docs/API.md). If no user started the request, say so with " +
				"Mtd-Client-Connection-Method: BATCH_PROCESS_DIRECT. Nothing was sent to HMRC.",
			Errors: []fieldError{{Header: hdrClientMethod, Message: "send the landlord's device data, or " + hdrClientMethod + ": BATCH_PROCESS_DIRECT"}}}
	case errors.Is(err, landlord.ErrCalendarNeedsAprilYear):
		return problem{Status: http.StatusBadRequest, Code: "calendar_quarters_need_april_year", Title: "Calendar quarters are for an April to March year",
			Message: "Calendar quarters are for landlords whose accounting period runs from 1 April to 31 March: HMRC asks software " +
				"not to offer them to others. If yours does, confirm it and choose again. Nothing was sent to HMRC."}
	case errors.Is(err, landlord.ErrQuartersFixed):
		return problem{Status: http.StatusConflict, Code: "quarters_fixed", Title: "Your quarters are fixed for this tax year",
			Message: "An update was already sent for this tax year, and HMRC fixes the quarters with the year's first update. " +
				"You can choose again for the next tax year. Nothing was sent to HMRC."}
	case errors.As(err, &headers):
		p := problem{Status: http.StatusBadRequest, Code: "invalid_device_headers", Title: "Bad device headers",
			Message: "The landlord's device data in the Mtd-Client-* headers is incomplete or malformed (see docs/API.md): " + headers.summary() + "."}
		for _, h := range headers {
			p.Errors = append(p.Errors, fieldError{Header: h.Header, Message: h.Header + " " + h.Problem})
		}
		return p
	case errors.As(err, &scenario):
		return problem{Status: http.StatusBadRequest, Code: "test_scenario_refused", Title: "Bad request",
			Message: sentence(strings.TrimPrefix(scenario.Error(), "hmrc: ")) + " Nothing was sent to HMRC."}
	case errors.Is(err, landlord.ErrNoNINO):
		return problem{Status: http.StatusConflict, Code: "nino_required", Title: "Add your National Insurance number",
			Message: "Your National Insurance number is needed before mtdconnect can read or send your Income Tax updates. Add it in your settings.",
			Action:  actionSettings}
	case errors.As(err, &nino):
		return problem{Status: http.StatusConflict, Code: "nino_invalid", Title: "Check your National Insurance number",
			Message: "The National Insurance number saved for you " + nino.Problem + ". Correct it in your settings.",
			Action:  actionSettings}
	case errors.As(err, &badJSON):
		return problem{Status: http.StatusBadRequest, Code: "invalid_json", Title: "Bad request",
			Message: "The request body is not the JSON this endpoint takes: " + badJSON.Problem + "."}
	case errors.Is(err, itsa.ErrNoUKProperty):
		return problem{Status: http.StatusNotFound, Code: "no_uk_property_business", Title: "HMRC has no UK property business for you",
			Message: "HMRC has no UK property business for your National Insurance number, so there are no quarterly updates to " +
				"send yet. Check your National Insurance number in your settings; if it is right, sign up your property income " +
				"for Making Tax Digital at HMRC first.", Action: actionSettings}
	case errors.Is(err, itsa.ErrNoSubmission):
		return problem{Status: http.StatusNotFound, Code: "no_submission", Title: "Nothing sent yet",
			Message: "HMRC holds no quarterly update for this tax year yet."}
	case errors.As(err, &reconnect):
		return problem{Status: http.StatusConflict, Code: "needs_reconnect", Title: "Connect to HMRC again",
			Message: "HMRC no longer accepts this connection: " + reconnect.Reason + ". Connect again.",
			Reason:  reconnect.Reason}
	case errors.Is(err, hmrc.ErrNotConfirmed):
		return problem{Status: http.StatusForbidden, Code: "hmrc_not_allowed", Title: "HMRC cannot be connected yet",
			Message: "An administrator must first allow this service to call HMRC's external web services (Admin → HMRC application). Nothing was sent to HMRC."}
	case errors.As(err, &appErr):
		return problem{Status: http.StatusBadRequest, Code: "invalid_application", Title: "Check the HMRC application",
			Message: sentence(appErr.Message) + " Nothing was changed."}
	case errors.Is(err, hmrc.ErrNoApplication):
		return problem{Status: http.StatusConflict, Code: "no_application", Title: "No HMRC application",
			Message: "No HMRC application is stored yet: enter its client ID and client secret first."}
	case errors.As(err, &busy):
		n := busy.RetrySeconds()
		return problem{Status: http.StatusServiceUnavailable, Code: "hmrc_busy", Title: "HMRC is busy", RetryAfter: n,
			Message: fmt.Sprintf("HMRC is busy: mtdconnect is already sending HMRC as many requests as HMRC allows. "+
				"Nothing was sent to HMRC. Try again in %s.", plural(n, "second"))}
	case errors.Is(err, hmrc.ErrUnavailable):
		return problem{Status: http.StatusServiceUnavailable, Code: "hmrc_unavailable", Title: "HMRC could not be reached",
			Message: "HMRC could not be reached. Try again in a few minutes."}
	case errors.As(err, &api):
		if p, ok := classifyAPIError(api); ok {
			return p
		}
		code := api.Code
		if code == "" {
			code = "hmrc_error"
		}
		msg := "HMRC refused the request"
		if api.Message != "" {
			msg += ": " + api.Message
		}
		msg += ". Try again later"
		if api.CorrelationID != "" {
			msg += "; if it keeps happening, contact support and quote HMRC's reference " + api.CorrelationID
		}
		return problem{Status: http.StatusBadGateway, Code: code, Title: "HMRC refused the request", Message: msg + "."}
	case errors.Is(err, hmrc.ErrNotConnected), errors.Is(err, mtdconnect.ErrNotFound):
		return problem{Status: http.StatusNotFound, Code: "not_connected", Title: "Not connected to HMRC",
			Message: "This account is not connected to HMRC. Connect first."}
	case errors.As(err, &badUser):
		p := problem{Status: http.StatusBadRequest, Code: "invalid_request", Title: "Check the details",
			Message: "Nothing was changed: correct the details and try again."}
		for _, f := range badUser.Fields {
			p.Errors = append(p.Errors, fieldError{Code: f.Code, Message: f.Message, Paths: []string{"/" + f.Field}})
		}
		return p
	case errors.As(err, &badConn):
		return problem{Status: http.StatusBadRequest, Code: "invalid_request", Title: "Bad request",
			Message: "The connect session was not made: " + badConn.Field + " " + badConn.Message + ".",
			Errors:  []fieldError{{Message: badConn.Field + " " + badConn.Message, Paths: []string{"/" + badConn.Field}}}}
	case errors.Is(err, landlord.ErrReturnURLNotAllowed):
		return problem{Status: http.StatusBadRequest, Code: "return_url_not_allowed", Title: "Bad request",
			Message: "The return_url is not one an administrator allowed (Admin → Connect links, or MTDCONNECT_CONNECT_RETURN_URLS). No connect session was made.",
			Errors:  []fieldError{{Message: "return_url is not allowed", Paths: []string{"/return_url"}}}}
	case errors.As(err, &badRet):
		return problem{Status: http.StatusBadRequest, Code: "invalid_return_url", Title: "Check the return URL",
			Message: sentence(badRet.Message)}
	case errors.Is(err, landlord.ErrConnectLinkUnknown):
		// A mistyped or cut link: the landlord's mistake, not ours.
		return problem{Status: http.StatusNotFound, Code: "connect_link_not_found", Title: "This link does not work",
			Message: "This connection link is not valid: it may be mistyped or incomplete. Nothing was changed."}
	case errors.Is(err, landlord.ErrConnectSessionUnknown):
		return problem{Status: http.StatusNotFound, Code: "connect_session_not_found", Title: "No such connect session",
			Message: "There is no connect session with that ID (a deleted landlord's sessions are deleted with them)."}
	case errors.As(err, &badRef):
		return problem{Status: http.StatusBadRequest, Code: "invalid_user", Title: "Bad request",
			Message: sentence(badRef.Error())}
	case errors.As(err, &deleted):
		return problem{Status: http.StatusGone, Code: "user_deleted", Title: "This landlord was deleted",
			Message: "This landlord was deleted on " + deleted.DeletedAt.UTC().Format(time.DateOnly) +
				". Their receipts are kept until " + deleted.KeptUntil.UTC().Format(time.DateOnly) +
				" and can be read at /api/v1/users/" + deleted.Handle + "/hmrc/submissions."}
	case errors.Is(err, landlord.ErrAdministrator):
		return problem{Status: http.StatusConflict, Code: "user_is_administrator", Title: "Administrators cannot be deleted here",
			Message: "This user is an administrator of mtdconnect; administrators are not deleted through the API. Nothing was changed."}
	case errors.Is(err, landlord.ErrUnknownUser):
		return problem{Status: http.StatusNotFound, Code: "user_not_found", Title: "No such user",
			Message: "There is no landlord with that ID."}
	case errors.Is(err, mtdconnect.ErrInvalidText):
		return problem{Status: http.StatusBadRequest, Code: "invalid_text", Title: "This request cannot be used",
			Message: "It holds characters that cannot be used (a NUL character, or text that is not UTF-8) or a value that is too long. Nothing was changed."}
	case errors.Is(err, errBadRequest):
		return problem{Status: http.StatusBadRequest, Code: "bad_request", Title: "Bad request",
			Message: "The request is not valid."}
	case errors.Is(err, errMissingState):
		return problem{Status: http.StatusBadRequest, Code: "state_missing", Title: "This is not a valid reply from HMRC",
			Message: "The reply from HMRC is missing its security check, so it was not used. Nothing was changed. Connect again from your settings."}
	case errors.Is(err, hmrc.ErrStateUnknown):
		return problem{Status: http.StatusBadRequest, Code: "state_unknown", Title: "This reply from HMRC cannot be used",
			Message: "This reply from HMRC is not recognised, or it was already used. Nothing was changed. Connect again from your settings."}
	case errors.Is(err, hmrc.ErrStateExpired):
		return problem{Status: http.StatusBadRequest, Code: "state_expired", Title: "The connection attempt expired",
			Message: "More than 10 minutes passed between starting to connect and coming back from HMRC, so the attempt expired. Nothing was changed. Connect again."}
	case errors.Is(err, hmrc.ErrStateOtherUser):
		return problem{Status: http.StatusBadRequest, Code: "state_other_user", Title: "This reply from HMRC is for another account",
			Message: "This connection attempt was started by a different account from the one you are signed in to. Nothing was changed. Sign in to the account that started it, or connect again from this one."}
	case errors.As(err, &exchange):
		return problem{Status: http.StatusBadRequest, Code: "code_refused", Title: "HMRC did not accept the authorisation",
			Message: "HMRC did not accept the authorisation code. It may have expired or been used already. Connect again."}
	}
	return problem{Status: http.StatusInternalServerError, Code: "internal", Title: "Something went wrong",
		Message: "Internal error."}
}

// logProblem logs err when it is internal (an expected HMRC answer is
// not an error of ours) and returns what to show.
func (s *Server) logProblem(r *http.Request, err error) problem {
	p := classify(err)
	switch {
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The browser or platform hung up: nothing went wrong here.
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "client went away", requestAttrs(r))
	case p.Code == "hmrc_busy":
		// Overload is answered, not an error: the metrics count it.
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "refused: HMRC's rate budget is busy", requestAttrs(r), slog.Int("retry_after", p.RetryAfter))
	case p.Status >= 500 && p.Code == "internal":
		s.log.LogAttrs(r.Context(), slog.LevelError, "internal error", requestAttrs(r), slog.String("err", err.Error()))
	case p.Status >= 500:
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "hmrc unavailable", requestAttrs(r), slog.String("err", err.Error()))
	default:
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request refused", requestAttrs(r), slog.String("code", p.Code))
	}
	return p
}

// serverError answers a browser request that failed inside.
func (s *Server) serverError(w http.ResponseWriter, r *http.Request, err error) {
	p := s.logProblem(r, err)
	setRetryAfter(w, p)
	s.renderMessage(w, r, p.Status, message{Title: p.Title, Text: p.Message, Back: true})
}

type jsonError struct {
	Error      string       `json:"error"`
	Message    string       `json:"message"`
	ReasonCode string       `json:"reason_code,omitempty"`
	Reason     string       `json:"reason,omitempty"`
	Scope      string       `json:"scope,omitempty"`
	Errors     []fieldError `json:"errors,omitempty"`
}

// apiError answers an API request with err as JSON.
func (s *Server) apiError(w http.ResponseWriter, r *http.Request, err error) {
	s.writeJSONError(w, r, s.logProblem(r, err))
}

func (s *Server) writeJSONError(w http.ResponseWriter, r *http.Request, p problem) {
	setRetryAfter(w, p)
	s.writeJSON(w, r, p.Status, jsonError{Error: p.Code, Message: p.Message, ReasonCode: mtdconnect.ReasonCode(p.Reason),
		Reason: p.Reason, Scope: p.Scope, Errors: p.Errors})
}

// setRetryAfter tells the client when to try again, if p says.
func setRetryAfter(w http.ResponseWriter, p problem) {
	if p.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(p.RetryAfter))
	}
}

func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "write json", requestAttrs(r), slog.String("err", err.Error()))
	}
}

// classifyAPIError words the HMRC refusals a landlord can act on. HMRC's
// code stays the problem's code, so programs can branch on it.
func classifyAPIError(api *hmrc.APIError) (problem, bool) {
	p := problem{Code: api.Code}
	switch api.Code {
	case "INVALID_CREDENTIALS", "MISSING_CREDENTIALS", "UNAUTHORIZED", "INCORRECT_ACCESS_TOKEN_TYPE", "INVALID_SCOPE":
		if api.Status != http.StatusUnauthorized && api.Status != http.StatusForbidden {
			return p, false
		}
		p.Status, p.Title, p.Action = http.StatusConflict, "Connect to HMRC again", actionReconnect
		p.Message = "HMRC did not accept mtdconnect's authority for this request. Connect to HMRC again, then try again."
	case "CLIENT_OR_AGENT_NOT_AUTHORISED":
		p.Status, p.Title, p.Action = http.StatusForbidden, "HMRC says this connection cannot act for you", actionSettings
		p.Message = "HMRC says the Government Gateway account you connected cannot act for the National Insurance number " +
			"saved in your settings. Check the number in your settings, or connect again signing in with the account " +
			"that holds your Income Tax."
	case "FORMAT_NINO":
		p.Status, p.Title, p.Action = http.StatusConflict, "Check your National Insurance number", actionSettings
		p.Message = "HMRC says your National Insurance number is not valid. Correct it in your settings."
	case "MATCHING_RESOURCE_NOT_FOUND", "NOT_FOUND", "NO_BUSINESS_FOUND":
		p.Status, p.Title, p.Action = http.StatusNotFound, "HMRC found nothing", actionSettings
		p.Message = "HMRC found no matching record for your National Insurance number. Check the number in your settings, " +
			"and that your property income is signed up for Making Tax Digital."
	case "RULE_EARLY_DATA_SUBMISSION_NOT_ACCEPTED":
		p.Status, p.Title = http.StatusUnprocessableEntity, "Too early to send this update"
		p.Message = "HMRC does not accept an update more than 10 days before the end of its period. Nothing was sent. " +
			"Try again closer to the end of the period."
	case "RULE_OUTSIDE_AMENDMENT_WINDOW":
		p.Status, p.Title = http.StatusUnprocessableEntity, "Too late to change this update"
		p.Message = "HMRC no longer accepts changes to this tax year's quarterly updates: the window for amendments has " +
			"closed. Make any correction in your tax return instead."
	case "RULE_TAX_YEAR_NOT_SUPPORTED", "RULE_TAX_YEAR_RANGE_INVALID", "FORMAT_TAX_YEAR":
		p.Status, p.Title = http.StatusUnprocessableEntity, "HMRC does not take updates for this tax year"
		p.Message = "HMRC does not take year-to-date property updates for this tax year through Making Tax Digital (they start in 2025-26)."
	case "RULE_INSOLVENT_TRADER":
		p.Status, p.Title = http.StatusUnprocessableEntity, "HMRC cannot take updates online"
		p.Message = "HMRC's records show an insolvency for you, so it does not take quarterly updates online. Contact HMRC."
	case "RULE_ADVANCE_SUBMISSION_REQUIRES_PERIOD_END_DATE":
		p.Status, p.Title = http.StatusUnprocessableEntity, "Send this update for a whole quarter"
		p.Message = "HMRC takes an update before its period has ended only if it runs to the end of a quarter. " +
			"Nothing was accepted. Choose the period again from your quarterly updates."
	case "RULE_SUBMISSION_END_DATE_CANNOT_MOVE_BACKWARDS":
		p.Status, p.Title = http.StatusUnprocessableEntity, "HMRC already has a later update"
		p.Message = "HMRC already holds an update for this tax year that runs to a later date, and an update cannot end " +
			"earlier than it. Updates are year to date: send the update for the latest period instead."
	case "RULE_START_DATE_NOT_ALIGNED_WITH_REPORTING_TYPE":
		p.Status, p.Title = http.StatusUnprocessableEntity, "The update does not start when HMRC expects"
		p.Message = "HMRC expects an update to start on the first day of the tax year for your quarters (6 April, or " +
			"1 April with calendar quarters). Nothing was accepted. Choose the period again from your quarterly updates."
	case "RULE_START_DATE_NOT_ALIGNED_TO_COMMENCEMENT_DATE":
		p.Status, p.Title = http.StatusUnprocessableEntity, "The update does not start when your business started"
		p.Message = "Your property business started during this tax year, and HMRC expects the update to start on that day. " +
			"Nothing was accepted. Choose the period again from your quarterly updates."
	case "RULE_END_DATE_NOT_ALIGNED_WITH_REPORTING_TYPE":
		p.Status, p.Title = http.StatusUnprocessableEntity, "The update does not end on one of your quarters"
		p.Message = "HMRC expects an update to end on the last day of one of your quarters (the 5th of the month with " +
			"standard quarters, the month's last day with calendar quarters). Nothing was accepted. Choose the period again from your quarterly updates."
	case "RULE_START_AND_END_DATE_NOT_ALLOWED":
		p.Status, p.Title = http.StatusUnprocessableEntity, "HMRC takes this update without dates"
		p.Message = "HMRC's records show that you report this business once a year, not quarterly, so it takes its " +
			"updates without a start and end date. Nothing was accepted."
	case "RULE_MISSING_SUBMISSION_DATES":
		p.Status, p.Title = http.StatusUnprocessableEntity, "HMRC needs the update's dates"
		p.Message = "HMRC needs the start and end date of this update, since you report quarterly. Nothing was accepted. " +
			"Choose the period from your quarterly updates."
	case "RULE_TYPE_OF_BUSINESS_INCORRECT":
		p.Status, p.Title, p.Action = http.StatusUnprocessableEntity, "HMRC says this is not a UK property business", actionSettings
		p.Message = "The business HMRC holds under the ID mtdconnect used is not a UK property business. Test your HMRC " +
			"connection in your settings: mtdconnect then looks your UK property business up again."
	case "RULE_BUSINESS_ID_STATE_CONFLICT":
		p.Status, p.Title = http.StatusConflict, "Your quarters are fixed for this tax year"
		p.Message = "HMRC already has an update for this tax year, so the quarters can no longer be changed for it. You can choose again for the next tax year."
	case "RULE_QUARTERLY_PERIOD_UPDATING":
		p.Status, p.Title = http.StatusUnprocessableEntity, "HMRC cannot change your quarters today"
		p.Message = "Your business started between 1 and 5 April, and HMRC does not change the quarters during those days. Try again after 5 April."
	case "RULE_BUSINESS_ID_NOT_FOUND":
		p.Status, p.Title, p.Action = http.StatusNotFound, "HMRC does not find your business", actionSettings
		p.Message = "HMRC does not find the business mtdconnect holds for you. Test your HMRC connection in your settings to look it up again."
	case "RULE_REQUEST_CANNOT_BE_FULFILLED":
		p.Status, p.Title = http.StatusUnprocessableEntity, "HMRC cannot do this for you"
		p.Message = "HMRC cannot do this for your business or for this tax year"
		if api.Message != "" {
			p.Message += " (HMRC says: " + api.Message + ")"
		}
		p.Message += ". The choice of quarters, for one, is for the current tax year only."
	case "RULE_INCORRECT_GOV_TEST_SCENARIO":
		p.Status, p.Title = http.StatusBadRequest, "Unknown test scenario"
		p.Message = "HMRC's sandbox does not know the Gov-Test-Scenario sent with this request."
	case "MESSAGE_THROTTLED_OUT":
		p.Status, p.Title = http.StatusServiceUnavailable, "HMRC is busy"
		p.Message = "HMRC is receiving too many requests from mtdconnect just now. Try again in a minute."
	default:
		if api.Status != http.StatusBadRequest && api.Status != http.StatusUnprocessableEntity || len(api.Errors) == 0 {
			return p, false
		}
		// A refusal of the figures themselves (INVALID_REQUEST,
		// FORMAT_VALUE, RULE_BOTH_EXPENSES_SUPPLIED, …) that the local
		// checks did not foresee: show HMRC's reasons by field.
		p.Status, p.Title = http.StatusUnprocessableEntity, "HMRC did not accept the figures"
		p.Message = "HMRC did not accept some of the figures. Correct them and try again."
	}
	for _, e := range api.Errors {
		p.Errors = append(p.Errors, fieldError{Code: e.Code, Message: e.Message, Paths: slices.Clone(e.Paths)})
	}
	return p, true
}
