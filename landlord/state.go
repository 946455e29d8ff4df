package landlord

import "time"

// State is an obligation's state (a quarterly update, a final declaration,
// a VAT return), worded once for the pages and the API: HMRC's own status
// says only open or fulfilled, and "open" hides whether it is overdue or
// already sent.
type State string

const (
	// StateOpen: not sent, and its due date is today or later.
	StateOpen State = "open"
	// StateOverdue: not sent, and its due date has passed.
	StateOverdue State = "overdue"
	// StateSent: sent through mtdconnect and accepted; HMRC does not show
	// it as received yet (it may take up to an hour).
	StateSent State = "sent"
	// StateReceived: HMRC shows it as received (fulfilled).
	StateReceived State = "received"
	// StateDueBeforeConnected: not sent, and it was due before the
	// landlord first connected mtdconnect to HMRC for it: from before the
	// landlord used mtdconnect (often before Making Tax Digital applied to
	// them), so it is not shown as an alarm; HMRC's online account says
	// whether anything is owed.
	StateDueBeforeConnected State = "due_before_connected"
)

// Label is the state in words, as every page shows it.
func (s State) Label() string {
	switch s {
	case StateOpen:
		return "Open"
	case StateOverdue:
		return "Overdue"
	case StateSent:
		return "Sent"
	case StateReceived:
		return "Received"
	case StateDueBeforeConnected:
		return "Not sent"
	}
	return string(s)
}

// Tag is the style of the state's tag on the pages: red only for overdue.
func (s State) Tag() string {
	switch s {
	case StateReceived:
		return "fulfilled"
	case StateDueBeforeConnected:
		return "not_connected"
	}
	return string(s)
}

// StateOf works out an obligation's state on today (YYYY-MM-DD, UK):
// fulfilled is HMRC's status, sent says mtdconnect sent an accepted update
// HMRC does not show yet, due is its due date and connectedSince when the
// landlord first connected for it (zero when not known).
func StateOf(fulfilled, sent bool, due, today string, connectedSince time.Time) State {
	switch {
	case fulfilled:
		return StateReceived
	case sent:
		return StateSent
	case due >= today:
		return StateOpen
	case !connectedSince.IsZero() && due < connectedSince.Format(time.DateOnly):
		return StateDueBeforeConnected
	}
	return StateOverdue
}
