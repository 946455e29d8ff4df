package landlord

import (
	"context"
	"encoding/json"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

// The events a platform hears of (webhooks) are decided here, the one home
// of each action: the connection's changes in connectionEvents (whoever
// makes them: an action of this package or the hmrc refresher), a
// submission's in keep, a deletion's in DeleteUser, the reminders in
// remind.go. Each is written by the store in the transaction of the change.

// RefreshFailingAfter is how many transient refresh failures in a row make
// a connection.refresh_failing event (once, until it recovers).
const RefreshFailingAfter = 3

type actorKey struct{}

// withActor carries who asked for an action to the events of the
// connection changes package hmrc makes on its behalf.
func withActor(ctx context.Context, by Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, by)
}

func actorOf(ctx context.Context) (Actor, bool) {
	by, ok := ctx.Value(actorKey{}).(Actor)
	return by, ok
}

// eventData is the "data" of every event: the landlord by handle and the
// purpose, and what the event adds. Never a token, a code, a NINO or a VRN.
type eventData struct {
	Landlord string             `json:"landlord"`
	Purpose  mtdconnect.Purpose `json:"purpose,omitempty"`
	Status   mtdconnect.Status  `json:"status,omitempty"`

	ReasonCode string `json:"reason_code,omitempty"`
	Reason     string `json:"reason,omitempty"`
	By         string `json:"by,omitempty"`
	Failures   int    `json:"refresh_failures,omitempty"`
	Error      string `json:"error,omitempty"`

	AuthorityEndsAt *time.Time `json:"authority_ends_at,omitempty"`
	// A reminder: which one (30, 7 or 1 days before; 14 or 3) and the
	// whole days actually left.
	ReminderDays int  `json:"reminder_days,omitempty"`
	DaysLeft     *int `json:"days_left,omitempty"`

	// submission.accepted
	SubmissionID  int64      `json:"submission_id,omitempty"`
	Kind          string     `json:"kind,omitempty"`
	Period        string     `json:"period,omitempty"`
	PeriodStart   string     `json:"period_start,omitempty"`
	PeriodEnd     string     `json:"period_end,omitempty"`
	CorrelationID string     `json:"correlation_id,omitempty"`
	ReceiptID     string     `json:"receipt_id,omitempty"`
	SubmittedAt   *time.Time `json:"submitted_at,omitempty"`

	// obligation.due_soon
	Due string `json:"due,omitempty"`
}

func (s *Service) newEvent(u *mtdconnect.User, typ, key string, d eventData) *mtdconnect.Event {
	d.Landlord = u.Handle()
	data, err := json.Marshal(d)
	if err != nil {
		panic("landlord: event data: " + err.Error()) // plain fields always encode
	}
	return &mtdconnect.Event{UserID: u.ID, Type: typ, Key: key, Data: data, CreatedAt: s.now()}
}

func date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.DateOnly)
}

func timePtr(t time.Time) *time.Time {
	t = t.UTC()
	return &t
}

// connectionEvents is the rule of which connection changes the platform
// hears of; package hmrc writes them with the change (OnConnectionChange).
func (s *Service) connectionEvents(ctx context.Context, before, after *mtdconnect.Connection) []*mtdconnect.Event {
	var typ string
	var d eventData
	switch {
	case after == nil && before != nil:
		typ = mtdconnect.EventDisconnected
		d = eventData{Purpose: before.Purpose, Status: mtdconnect.StatusNotConnected, By: string(ActorAdministrator)}
		if by, ok := actorOf(ctx); ok {
			d.By = string(by.Kind)
		}
	case after == nil:
		return nil
	case before == nil:
		typ = mtdconnect.EventConnected
		d = eventData{Purpose: after.Purpose, Status: after.Status, AuthorityEndsAt: timePtr(after.GrantEndsAt())}
	case before.Status == mtdconnect.StatusConnected && after.Status == mtdconnect.StatusNeedsReconnect:
		typ = mtdconnect.EventNeedsReconnect
		d = eventData{Purpose: after.Purpose, Status: after.Status, ReasonCode: mtdconnect.ReasonCode(after.Reason), Reason: after.Reason}
	case after.Status != mtdconnect.StatusConnected:
		return nil
	case before.RefreshFailures >= RefreshFailingAfter && after.RefreshFailures == 0:
		typ = mtdconnect.EventRecovered
		d = eventData{Purpose: after.Purpose, Status: after.Status}
	case before.RefreshFailures < RefreshFailingAfter && after.RefreshFailures >= RefreshFailingAfter:
		typ = mtdconnect.EventRefreshFailing
		d = eventData{Purpose: after.Purpose, Status: after.Status, Failures: after.RefreshFailures, Error: after.LastError}
	default:
		return nil
	}
	u, err := s.store.UserByID(ctx, connUserID(before, after))
	if err != nil {
		// The change goes ahead without its event only if the landlord
		// cannot be read; say so loudly.
		s.log.Error("webhook event: read the landlord", "user_id", connUserID(before, after), "type", typ, "err", err)
		return nil
	}
	return []*mtdconnect.Event{s.newEvent(u, typ, "", d)}
}

func connUserID(before, after *mtdconnect.Connection) int64 {
	if after != nil {
		return after.UserID
	}
	return before.UserID
}

// submissionEvent reports a submission HMRC accepted, of any kind.
func (s *Service) submissionEvent(u *mtdconnect.User, sub *mtdconnect.Submission) *mtdconnect.Event {
	return s.newEvent(u, mtdconnect.EventSubmissionAccepted, "", eventData{
		Purpose: sub.Purpose, Kind: sub.Kind, Period: sub.Period,
		PeriodStart: date(sub.PeriodStart), PeriodEnd: date(sub.PeriodEnd),
		CorrelationID: sub.CorrelationID, ReceiptID: sub.ReceiptID, SubmittedAt: timePtr(sub.SubmittedAt),
	})
}
