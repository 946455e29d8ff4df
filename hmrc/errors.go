package hmrc

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Errors callers branch on.
var (
	ErrNotConnected   = errors.New("hmrc: not connected")
	ErrStateUnknown   = errors.New("hmrc: unknown or already used authorisation request")
	ErrStateExpired   = errors.New("hmrc: authorisation request expired")
	ErrStateOtherUser = errors.New("hmrc: authorisation request belongs to another user")
	// ErrUnavailable wraps failures that retrying later may cure: HMRC
	// unreachable, 5xx, throttled, or a refresh still running elsewhere.
	ErrUnavailable = errors.New("hmrc: unavailable")
)

// ReconnectError means the connection's grant is gone; the landlord must
// connect again. Reason is in words a landlord reads.
type ReconnectError struct{ Reason string }

func (e *ReconnectError) Error() string { return "hmrc: needs reconnect: " + e.Reason }

// ExchangeError means HMRC refused an authorisation code.
type ExchangeError struct{ Code, Description string }

func (e *ExchangeError) Error() string {
	return fmt.Sprintf("hmrc: code exchange refused: %s: %s", e.Code, e.Description)
}

// APIError is an HMRC API answer other than success, in HMRC's shape.
type APIError struct {
	// API names the API that answered, as the Call named it (e.g.
	// "business-details", "obligations", "property-business", "vat").
	API           string
	Status        int
	Code, Message string
	// Errors are the individual errors HMRC listed, or the one error it
	// sent with the JSON-pointer paths of the fields at fault; nil when it
	// named no field.
	Errors        []APIErrorItem `json:"errors,omitempty"`
	CorrelationID string
}

// APIErrorItem is one of several errors HMRC returns together.
type APIErrorItem struct {
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Paths   []string `json:"paths,omitempty"`
}

func (e *APIError) Error() string {
	api := e.API
	if api == "" {
		api = "api"
	}
	return fmt.Sprintf("hmrc: %s: %d %s: %s", api, e.Status, e.Code, e.Message)
}

// ValidationError is a request refused here, before it was sent, because
// HMRC would refuse it for its shape: HMRC's own code and message, and the
// JSON-pointer paths of the fields at fault. It is always used as a
// pointer; several are joined with JoinValidationErrors.
type ValidationError struct {
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Paths   []string `json:"paths,omitempty"`
}

func (e *ValidationError) Error() string {
	if len(e.Paths) == 0 {
		return e.Code + ": " + e.Message
	}
	return e.Code + ": " + e.Message + " (" + strings.Join(e.Paths, ", ") + ")"
}

// JoinValidationErrors joins a validation result into one error, nil when
// it is empty.
func JoinValidationErrors(errs []*ValidationError) error {
	if len(errs) == 0 {
		return nil
	}
	list := make([]error, len(errs))
	for i, e := range errs {
		list[i] = e
	}
	return errors.Join(list...)
}

// ValidationErrorsIn returns every *ValidationError in err's tree (wrapped
// or joined), in order; none when err is not a local refusal.
func ValidationErrorsIn(err error) []*ValidationError {
	var out []*ValidationError
	walk(err, func(e error) {
		if v, ok := e.(*ValidationError); ok {
			out = append(out, v)
		}
	})
	return out
}

// HasErrorCode reports whether err, or an error it wraps or joins, carries
// HMRC's code: an *APIError's own code or one of its Errors (HMRC wraps
// some errors, e.g. VAT's DUPLICATE_SUBMISSION inside BUSINESS_ERROR), or a
// *ValidationError's.
func HasErrorCode(err error, code string) bool {
	found := false
	walk(err, func(e error) {
		switch x := e.(type) {
		case *APIError:
			found = found || x.Code == code || slices.ContainsFunc(x.Errors, func(it APIErrorItem) bool { return it.Code == code })
		case *ValidationError:
			found = found || x.Code == code
		}
	})
	return found
}

// walk visits err and every error it wraps or joins.
func walk(err error, visit func(error)) {
	if err == nil {
		return
	}
	visit(err)
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			walk(e, visit)
		}
	case interface{ Unwrap() error }:
		walk(u.Unwrap(), visit)
	}
}
