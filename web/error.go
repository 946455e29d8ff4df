package web

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
)

// Errors of this package's own.
var (
	errUnknownUser  = errors.New("web: no such user")
	errBadRequest   = errors.New("web: bad request")
	errMissingState = errors.New("web: callback without state")
)

// problem is an error as a client sees it: an HTTP status, a stable code
// for programs and a message in words a landlord understands.
type problem struct {
	Status  int
	Code    string
	Title   string // heading of the page that shows it
	Message string
	Reason  string // why a connection needs reconnecting
}

// classify is the one map from errors to what users see. Anything it does
// not know is an internal error: logged in full by the caller, shown as
// "Internal error." so no detail leaks.
func classify(err error) problem {
	var (
		reconnect *hmrc.ReconnectError
		api       *hmrc.APIError
		exchange  *hmrc.ExchangeError
	)
	switch {
	case errors.As(err, &reconnect):
		return problem{Status: http.StatusConflict, Code: "needs_reconnect", Title: "Connect to HMRC again",
			Message: "HMRC no longer accepts this connection: " + reconnect.Reason + ". Connect again.",
			Reason:  reconnect.Reason}
	case errors.Is(err, hmrc.ErrUnavailable):
		return problem{Status: http.StatusServiceUnavailable, Code: "hmrc_unavailable", Title: "HMRC could not be reached",
			Message: "HMRC could not be reached. Try again in a few minutes."}
	case errors.As(err, &api):
		code := api.Code
		if code == "" {
			code = "hmrc_error"
		}
		msg := "HMRC refused the request"
		if api.Message != "" {
			msg += ": " + api.Message
		}
		return problem{Status: http.StatusBadGateway, Code: code, Title: "HMRC refused the request", Message: msg + "."}
	case errors.Is(err, hmrc.ErrNotConnected), errors.Is(err, mtdconnect.ErrNotFound):
		return problem{Status: http.StatusNotFound, Code: "not_connected", Title: "Not connected to HMRC",
			Message: "This account is not connected to HMRC. Connect first."}
	case errors.Is(err, errUnknownUser):
		return problem{Status: http.StatusNotFound, Code: "user_not_found", Title: "No such user",
			Message: "There is no user with that id."}
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
	s.renderMessage(w, r, p.Status, message{Title: p.Title, Text: p.Message, Back: true})
}

type jsonError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	Reason  string `json:"reason,omitempty"`
}

// apiError answers an API request with err as JSON.
func (s *Server) apiError(w http.ResponseWriter, r *http.Request, err error) {
	s.writeJSONError(w, r, s.logProblem(r, err))
}

func (s *Server) writeJSONError(w http.ResponseWriter, r *http.Request, p problem) {
	s.writeJSON(w, r, p.Status, jsonError{Error: p.Code, Message: p.Message, Reason: p.Reason})
}

func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "write json", requestAttrs(r), slog.String("err", err.Error()))
	}
}
