package mtdconnect

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The event types a platform can be sent (Standard Webhooks' "type").
const (
	EventConnected          = "connection.connected"
	EventNeedsReconnect     = "connection.needs_reconnect"
	EventRefreshFailing     = "connection.refresh_failing"
	EventRecovered          = "connection.recovered"
	EventDisconnected       = "connection.disconnected"
	EventAuthorityExpiring  = "connection.authority_expiring"
	EventSubmissionAccepted = "submission.accepted"
	EventObligationDueSoon  = "obligation.due_soon"
)

// EventTypes are every event type, in the order they are listed.
var EventTypes = []string{
	EventConnected, EventNeedsReconnect, EventRefreshFailing, EventRecovered, EventDisconnected,
	EventAuthorityExpiring, EventSubmissionAccepted, EventObligationDueSoon,
}

// ValidEventType reports whether t is a known event type.
func ValidEventType(t string) bool { return slices.Contains(EventTypes, t) }

// EventTypeError names an event type that does not exist.
type EventTypeError struct{ Type string }

func (e *EventTypeError) Error() string {
	return "unknown event type " + strconv.Quote(e.Type) + " (the types are " + strings.Join(EventTypes, ", ") + ")"
}

// Event is one thing that happened to a landlord, kept in the outbox: it is
// written in the same transaction as the change it reports, so it is never
// lost nor invented, and delivered to every webhook endpoint that wants its
// type.
type Event struct {
	ID     int64
	UserID int64
	// Seq numbers the landlord's events 1, 2, 3…, set by the store, so a
	// receiver can order them.
	Seq  int64
	Type string
	// Key, when set, makes the event happen once: a second event of the
	// user with the same key is skipped (reminders: "authority expiring in
	// 7 days" for one grant).
	Key string
	// Data is the JSON object of the event's "data", without the sequence
	// number (added when it is sent). It names the landlord by their
	// handle, never a token, a code, a NINO or a VRN.
	Data      []byte
	CreatedAt time.Time
}

// WebhookEndpoint is a URL of the platform that events are sent to.
type WebhookEndpoint struct {
	ID int64
	// UID is random and names the endpoint in its secrets' sealing.
	UID string
	URL string
	// EventTypes it wants; empty: every type.
	EventTypes []string
	// Secret is the signing secret ("whsec_" and base64), sealed; it is
	// shown once, when made.
	Secret []byte
	// PreviousSecret, sealed, signs too until PreviousSecretUntil: the
	// overlap of a rotation. Empty when none.
	PreviousSecret      []byte
	PreviousSecretUntil time.Time
	CreatedAt           time.Time
	// DisabledAt is when deliveries stopped (the receiver answered 410
	// Gone); zero while enabled.
	DisabledAt     time.Time
	DisabledReason string
}

// Wants reports whether the endpoint is sent events of type t.
func (e *WebhookEndpoint) Wants(t string) bool {
	return len(e.EventTypes) == 0 || slices.Contains(e.EventTypes, t)
}

// WebhookDelivery is one event to one endpoint: its attempts until the
// receiver answers 2xx.
type WebhookDelivery struct {
	ID         int64
	EndpointID int64
	Event      Event
	Attempts   int
	// LastStatus is the HTTP status of the last attempt, 0 when it got
	// none (LastError says why).
	LastStatus    int
	LastError     string
	LastAttemptAt time.Time
	// NextTryAt is when it is due; while an instance holds it (LeaseOwner)
	// it is the end of that lease.
	NextTryAt   time.Time
	LeaseOwner  string
	DeliveredAt time.Time
	// FailedAt is when retrying stopped (zero while it goes on).
	FailedAt  time.Time
	CreatedAt time.Time
}

// State is the delivery's state in a word: delivered, failed or pending.
func (d *WebhookDelivery) State() string {
	switch {
	case !d.DeliveredAt.IsZero():
		return "delivered"
	case !d.FailedAt.IsZero():
		return "failed"
	}
	return "pending"
}

// DeliveryAttempt is the outcome of one attempt to deliver.
type DeliveryAttempt struct {
	At        time.Time
	Status    int
	Error     string
	Delivered bool
	// NextTryAt is when to try again; zero (and not Delivered): give up.
	NextTryAt time.Time
	// Disable stops every delivery to the endpoint (410 Gone).
	Disable bool
}

// WebhookStore is the part of the Store that keeps the outbox, the
// endpoints and the deliveries. The writes that make a change (connections,
// submissions, deleting a landlord) take the events reporting it and write
// them in their own transaction.
type WebhookStore interface {
	// AppendEvents writes events that report no change of their own
	// (reminders). An event whose Key the user has used already is
	// skipped; it returns how many were written.
	AppendEvents(ctx context.Context, events ...*Event) (int, error)
	// Events lists a user's events, oldest first.
	Events(ctx context.Context, userID int64, limit int) ([]*Event, error)

	// CreateWebhookEndpoint sets ID and CreatedAt; ErrConflict if the UID
	// is taken.
	CreateWebhookEndpoint(ctx context.Context, e *WebhookEndpoint) error
	WebhookEndpoint(ctx context.Context, id int64) (*WebhookEndpoint, error)
	WebhookEndpoints(ctx context.Context) ([]*WebhookEndpoint, error) // oldest first
	// DeleteWebhookEndpoint deletes it and its deliveries.
	DeleteWebhookEndpoint(ctx context.Context, id int64) error
	// RotateWebhookSecret makes the current secret the previous one, valid
	// until previousUntil, and secret the current one.
	RotateWebhookSecret(ctx context.Context, id int64, secret []byte, previousUntil time.Time) error

	// ClaimDeliveries leases up to limit due deliveries of enabled
	// endpoints to owner until now+lease (their NextTryAt), oldest due
	// first. Of instances claiming at once, each delivery goes to one; a
	// lease not finished (its holder died) makes it due again.
	ClaimDeliveries(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*WebhookDelivery, error)
	// FinishDelivery records an attempt of a delivery owner holds;
	// ErrConflict if owner does not hold it any more (another instance
	// claimed it after the lease ended), ErrNotFound if it is gone.
	FinishDelivery(ctx context.Context, id int64, owner string, a DeliveryAttempt) error
	// WebhookDeliveries lists an endpoint's deliveries, newest first.
	WebhookDeliveries(ctx context.Context, endpointID int64, limit int) ([]*WebhookDelivery, error)
	// RedeliverWebhook makes a delivery of the endpoint due again at now,
	// delivered or failed; ErrNotFound if there is no such delivery.
	RedeliverWebhook(ctx context.Context, endpointID, deliveryID int64, now time.Time) error
}

// JoinEventTypes is how a list of event types is stored: space-separated.
func JoinEventTypes(types []string) string { return strings.Join(types, " ") }

// SplitEventTypes reads what JoinEventTypes wrote; nil for none.
func SplitEventTypes(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	return strings.Fields(s)
}
