package webhook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/seal"
)

// RotationOverlap is how long a rotated secret keeps signing next to the
// new one, so the platform can switch without losing a message.
const RotationOverlap = 24 * time.Hour

// InputError is a request about endpoints refused for what it asked (a 400).
type InputError struct{ Message string }

func (e *InputError) Error() string { return e.Message }

// Manager makes, lists, rotates and deletes endpoints and redelivers; the
// API, the admin page and the command line call it. A secret is shown
// once, in what Create and Rotate return, and stored sealed.
type Manager struct {
	Store  mtdconnect.Store
	Sealer *seal.Sealer
	Policy Policy
	Now    func() time.Time // nil: time.Now
}

func (m *Manager) now() time.Time {
	if m.Now == nil {
		return time.Now()
	}
	return m.Now()
}

// maxEndpoints bounds how many endpoints a deployment keeps: each event is
// queued for each.
const maxEndpoints = 50

// Create checks the URL and event types (none: every type) and makes an
// endpoint; it returns it and its secret, to show once.
func (m *Manager) Create(ctx context.Context, rawURL string, types []string) (*mtdconnect.WebhookEndpoint, string, error) {
	u, err := m.Policy.CheckURL(rawURL)
	if err != nil {
		var bad *URLError
		if errors.As(err, &bad) {
			return nil, "", &InputError{Message: "url: " + bad.Message}
		}
		return nil, "", err
	}
	var clean []string
	for _, t := range types {
		if !mtdconnect.ValidEventType(t) {
			return nil, "", &InputError{Message: "events: " + (&mtdconnect.EventTypeError{Type: t}).Error()}
		}
		if !slices.Contains(clean, t) {
			clean = append(clean, t)
		}
	}
	existing, err := m.Store.WebhookEndpoints(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("webhook: create endpoint: %w", err)
	}
	if len(existing) >= maxEndpoints {
		return nil, "", &InputError{Message: fmt.Sprintf("at most %d endpoints: delete one first", maxEndpoints)}
	}
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	e := &mtdconnect.WebhookEndpoint{UID: "ep_" + hex.EncodeToString(b), URL: u.String(), EventTypes: clean, CreatedAt: m.now()}
	secret := NewSecret()
	if e.Secret, err = m.Sealer.Seal([]byte(secret), secretAD(e.UID)); err != nil {
		return nil, "", fmt.Errorf("webhook: seal the secret: %w", err)
	}
	if err := m.Store.CreateWebhookEndpoint(ctx, e); err != nil {
		return nil, "", fmt.Errorf("webhook: create endpoint: %w", err)
	}
	return e, secret, nil
}

// Rotate gives endpoint id a new secret and returns it; the old one signs
// too for RotationOverlap.
func (m *Manager) Rotate(ctx context.Context, id int64) (*mtdconnect.WebhookEndpoint, string, error) {
	e, err := m.Store.WebhookEndpoint(ctx, id)
	if err != nil {
		return nil, "", fmt.Errorf("webhook: rotate: %w", err)
	}
	secret := NewSecret()
	sealed, err := m.Sealer.Seal([]byte(secret), secretAD(e.UID))
	if err != nil {
		return nil, "", fmt.Errorf("webhook: seal the secret: %w", err)
	}
	if err := m.Store.RotateWebhookSecret(ctx, id, sealed, m.now().Add(RotationOverlap)); err != nil {
		return nil, "", fmt.Errorf("webhook: rotate: %w", err)
	}
	e, err = m.Store.WebhookEndpoint(ctx, id)
	if err != nil {
		return nil, "", fmt.Errorf("webhook: rotate: %w", err)
	}
	return e, secret, nil
}

// Redeliver makes a delivery of endpoint id due now, whatever its state.
func (m *Manager) Redeliver(ctx context.Context, endpointID, deliveryID int64) error {
	if err := m.Store.RedeliverWebhook(ctx, endpointID, deliveryID, m.now()); err != nil {
		return fmt.Errorf("webhook: redeliver: %w", err)
	}
	return nil
}
