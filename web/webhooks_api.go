package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/webhook"
)

// The platform's webhook endpoints and their delivery log (webhooks
// scope). The signing secret is in the answers that make one (create,
// rotate) and nowhere else, never in a log.

var (
	errWebhookNotFound  = errors.New("web: no such webhook endpoint")
	errDeliveryNotFound = errors.New("web: no such webhook delivery")
	errNoWebhooks       = errors.New("web: webhooks are not set up on this server")
)

// classifyWebhooks maps the webhooks' errors to problems.
func classifyWebhooks(err error) (problem, bool) {
	var bad *webhook.InputError
	switch {
	case errors.As(err, &bad):
		return problem{Status: http.StatusBadRequest, Code: "invalid_request", Title: "Bad request",
			Message: "Nothing was stored: " + strings.TrimSuffix(bad.Message, ".") + "."}, true
	case errors.Is(err, errWebhookNotFound):
		return problem{Status: http.StatusNotFound, Code: "webhook_not_found", Title: "No such webhook endpoint",
			Message: "There is no webhook endpoint with that ID."}, true
	case errors.Is(err, errDeliveryNotFound):
		return problem{Status: http.StatusNotFound, Code: "delivery_not_found", Title: "No such delivery",
			Message: "The webhook endpoint has no delivery with that ID."}, true
	case errors.Is(err, errNoWebhooks):
		return problem{Status: http.StatusServiceUnavailable, Code: "webhooks_unavailable", Title: "Webhooks are not set up",
			Message: "This server has no sealing keyset for webhook secrets."}, true
	}
	return problem{}, false
}

type apiWebhook struct {
	ID        int64     `json:"id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"` // empty: every type
	Status    string    `json:"status"` // enabled or disabled
	CreatedAt time.Time `json:"created_at"`
	// DisabledAt and DisabledReason say why deliveries stopped (410).
	DisabledAt     *time.Time `json:"disabled_at,omitempty"`
	DisabledReason string     `json:"disabled_reason,omitempty"`
	// Secret is shown once: in the answer that made it.
	Secret string `json:"secret,omitempty"`
	// PreviousSecretExpiresAt is the end of a rotation's overlap, while
	// the previous secret still signs.
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func webhookOf(e *mtdconnect.WebhookEndpoint, now time.Time) apiWebhook {
	out := apiWebhook{ID: e.ID, URL: e.URL, Events: e.EventTypes, Status: "enabled", CreatedAt: e.CreatedAt.UTC(),
		DisabledReason: e.DisabledReason}
	if out.Events == nil {
		out.Events = []string{}
	}
	if !e.DisabledAt.IsZero() {
		out.Status, out.DisabledAt = "disabled", optTime(e.DisabledAt)
	}
	if len(e.PreviousSecret) > 0 && now.Before(e.PreviousSecretUntil) {
		out.PreviousSecretExpiresAt = optTime(e.PreviousSecretUntil)
	}
	return out
}

type apiDelivery struct {
	ID            int64      `json:"id"`
	EventID       int64      `json:"event_id"`
	MessageID     string     `json:"message_id"` // the webhook-id header
	Type          string     `json:"type"`
	Sequence      int64      `json:"sequence"`
	State         string     `json:"state"` // pending, delivered or failed
	Attempts      int        `json:"attempts"`
	LastStatus    int        `json:"last_status,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	LastAttemptAt *time.Time `json:"last_attempt_at,omitempty"`
	NextTryAt     *time.Time `json:"next_try_at,omitempty"`
	DeliveredAt   *time.Time `json:"delivered_at,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
}

func deliveryOf(d *mtdconnect.WebhookDelivery) apiDelivery {
	out := apiDelivery{ID: d.ID, EventID: d.Event.ID, MessageID: webhook.MessageID(&d.Event), Type: d.Event.Type,
		Sequence: d.Event.Seq, State: d.State(), Attempts: d.Attempts, LastStatus: d.LastStatus, LastError: d.LastError,
		LastAttemptAt: optTime(d.LastAttemptAt), DeliveredAt: optTime(d.DeliveredAt), CreatedAt: d.CreatedAt.UTC()}
	if out.State == "pending" {
		out.NextTryAt = optTime(d.NextTryAt)
	}
	return out
}

// webhookID reads the path's {id}: a malformed one is as unknown.
func webhookID(r *http.Request, name string, notFound error) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, notFound
	}
	return id, nil
}

func (s *Server) webhookManager() (*webhook.Manager, error) {
	if s.webhooks == nil {
		return nil, errNoWebhooks
	}
	return s.webhooks, nil
}

// handleAPICreateWebhook is POST /api/v1/webhooks {url, events}.
func (s *Server) handleAPICreateWebhook(w http.ResponseWriter, r *http.Request) (int, any, error) {
	m, err := s.webhookManager()
	if err != nil {
		return 0, nil, err
	}
	var body struct {
		URL    string   `json:"url"`
		Events []string `json:"events"`
	}
	if err := decodeJSONBody(w, r, &body); err != nil {
		return 0, nil, err
	}
	e, secret, err := m.Create(r.Context(), body.URL, body.Events)
	if err != nil {
		return 0, nil, err
	}
	s.log.Info("webhook endpoint created", "endpoint_id", e.ID, "api_key_id", apiKeyID(r))
	out := webhookOf(e, s.now())
	out.Secret = secret
	w.Header().Set("Location", "/api/v1/webhooks/"+strconv.FormatInt(e.ID, 10))
	return http.StatusCreated, out, nil
}

// handleAPIWebhooks is GET /api/v1/webhooks.
func (s *Server) handleAPIWebhooks(w http.ResponseWriter, r *http.Request) (int, any, error) {
	list, err := s.store.WebhookEndpoints(r.Context())
	if err != nil {
		return 0, nil, err
	}
	out := []apiWebhook{}
	for _, e := range list {
		out = append(out, webhookOf(e, s.now()))
	}
	return http.StatusOK, struct {
		Webhooks []apiWebhook `json:"webhooks"`
	}{out}, nil
}

func (s *Server) endpoint(r *http.Request) (*mtdconnect.WebhookEndpoint, error) {
	id, err := webhookID(r, "id", errWebhookNotFound)
	if err != nil {
		return nil, err
	}
	e, err := s.store.WebhookEndpoint(r.Context(), id)
	if errors.Is(err, mtdconnect.ErrNotFound) {
		return nil, errWebhookNotFound
	}
	return e, err
}

// handleAPIWebhook is GET /api/v1/webhooks/{id}.
func (s *Server) handleAPIWebhook(w http.ResponseWriter, r *http.Request) (int, any, error) {
	e, err := s.endpoint(r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, webhookOf(e, s.now()), nil
}

// handleAPIDeleteWebhook is DELETE /api/v1/webhooks/{id}: the endpoint and
// its deliveries go.
func (s *Server) handleAPIDeleteWebhook(w http.ResponseWriter, r *http.Request) (int, any, error) {
	id, err := webhookID(r, "id", errWebhookNotFound)
	if err != nil {
		return 0, nil, err
	}
	if err := s.store.DeleteWebhookEndpoint(r.Context(), id); errors.Is(err, mtdconnect.ErrNotFound) {
		return 0, nil, errWebhookNotFound
	} else if err != nil {
		return 0, nil, err
	}
	s.log.Info("webhook endpoint deleted", "endpoint_id", id, "api_key_id", apiKeyID(r))
	return http.StatusNoContent, nil, nil
}

// handleAPIRotateWebhook is POST /api/v1/webhooks/{id}/rotate-secret.
func (s *Server) handleAPIRotateWebhook(w http.ResponseWriter, r *http.Request) (int, any, error) {
	m, err := s.webhookManager()
	if err != nil {
		return 0, nil, err
	}
	id, err := webhookID(r, "id", errWebhookNotFound)
	if err != nil {
		return 0, nil, err
	}
	e, secret, err := m.Rotate(r.Context(), id)
	if errors.Is(err, mtdconnect.ErrNotFound) {
		return 0, nil, errWebhookNotFound
	}
	if err != nil {
		return 0, nil, err
	}
	s.log.Info("webhook secret rotated", "endpoint_id", id, "api_key_id", apiKeyID(r))
	out := webhookOf(e, s.now())
	out.Secret = secret
	return http.StatusOK, out, nil
}

// handleAPIWebhookDeliveries is GET /api/v1/webhooks/{id}/deliveries:
// the newest 100 (?limit= up to 1000).
func (s *Server) handleAPIWebhookDeliveries(w http.ResponseWriter, r *http.Request) (int, any, error) {
	e, err := s.endpoint(r)
	if err != nil {
		return 0, nil, err
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return 0, nil, &webhook.InputError{Message: "limit must be a number from 1 to 1000"}
		}
		limit = n
	}
	list, err := s.store.WebhookDeliveries(r.Context(), e.ID, limit)
	if err != nil {
		return 0, nil, err
	}
	out := []apiDelivery{}
	for _, d := range list {
		out = append(out, deliveryOf(d))
	}
	return http.StatusOK, struct {
		Deliveries []apiDelivery `json:"deliveries"`
	}{out}, nil
}

// handleAPIRedeliver is POST /api/v1/webhooks/{id}/deliveries/{delivery}/redeliver.
func (s *Server) handleAPIRedeliver(w http.ResponseWriter, r *http.Request) (int, any, error) {
	m, err := s.webhookManager()
	if err != nil {
		return 0, nil, err
	}
	e, err := s.endpoint(r)
	if err != nil {
		return 0, nil, err
	}
	did, err := webhookID(r, "delivery", errDeliveryNotFound)
	if err != nil {
		return 0, nil, err
	}
	if err := m.Redeliver(r.Context(), e.ID, did); errors.Is(err, mtdconnect.ErrNotFound) {
		return 0, nil, errDeliveryNotFound
	} else if err != nil {
		return 0, nil, err
	}
	return http.StatusAccepted, nil, nil
}
