package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

// errSkip rolls back a keyed event whose key was used already.
var errSkip = errors.New("event key used already")

// checkEvents refuses events with text no store can keep.
func checkEvents(events []*mtdconnect.Event) error {
	for _, e := range events {
		if err := mtdconnect.CheckText(e.Type, string(e.Data)); err != nil {
			return err
		}
		if err := mtdconnect.CheckKey(e.Key); err != nil {
			return err
		}
	}
	return nil
}

// insertEvents writes events into the outbox in tx, numbering each in its
// landlord's sequence, and queues a delivery to every enabled endpoint that
// wants its type. With a used Key it returns errSkip (the caller's
// transaction must not commit a numbered gap).
func insertEvents(ctx context.Context, tx *sql.Tx, events []*mtdconnect.Event) error {
	for _, e := range events {
		if e.CreatedAt.IsZero() {
			e.CreatedAt = now()
		}
		if e.Key != "" {
			var used bool
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM events WHERE user_id = ? AND dedup_key = ?)`,
				e.UserID, e.Key).Scan(&used); err != nil {
				return fmt.Errorf("event: %w", err)
			}
			if used {
				return errSkip
			}
		}
		var seq int64
		err := tx.QueryRowContext(ctx, `UPDATE users SET event_seq = event_seq + 1 WHERE id = ? RETURNING event_seq`,
			e.UserID).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("event of user %d: %w", e.UserID, mtdconnect.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("event sequence: %w", err)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO events (user_id, seq, type, dedup_key, data, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`, e.UserID, seq, e.Type, e.Key, nonNil(e.Data), ms(e.CreatedAt))
		if err != nil {
			return fmt.Errorf("event: %w", err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			return fmt.Errorf("event: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (endpoint_id, event_id, next_try_at, created_at)
			SELECT id, ?, ?, ? FROM webhook_endpoints
			WHERE disabled_at = 0 AND (event_types = '' OR instr(' ' || event_types || ' ', ' ' || ? || ' ') > 0)`,
			id, ms(e.CreatedAt), ms(e.CreatedAt), e.Type); err != nil {
			return fmt.Errorf("event deliveries: %w", err)
		}
		e.ID, e.Seq, e.CreatedAt = id, seq, msTime(ms(e.CreatedAt))
	}
	return nil
}

// AppendEvents implements mtdconnect.Store: each event in its own
// transaction, so a used key skips that event only.
func (s *Store) AppendEvents(ctx context.Context, events ...*mtdconnect.Event) (int, error) {
	if err := checkEvents(events); err != nil {
		return 0, fmt.Errorf("sqlite: append events: %w", err)
	}
	n := 0
	for _, e := range events {
		err := s.tx(ctx, func(tx *sql.Tx) error { return insertEvents(ctx, tx, []*mtdconnect.Event{e}) })
		if errors.Is(err, errSkip) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("sqlite: append events: %w", err)
		}
		n++
	}
	return n, nil
}

// Events implements mtdconnect.Store.
func (s *Store) Events(ctx context.Context, userID int64, limit int) ([]*mtdconnect.Event, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, user_id, seq, type, dedup_key, data, created_at FROM events
		WHERE user_id = ? ORDER BY seq LIMIT ?`, userID, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: events: %w", err)
	}
	defer rows.Close()
	var out []*mtdconnect.Event
	for rows.Next() {
		var e mtdconnect.Event
		var created int64
		if err := rows.Scan(&e.ID, &e.UserID, &e.Seq, &e.Type, &e.Key, &e.Data, &created); err != nil {
			return nil, fmt.Errorf("sqlite: events: %w", err)
		}
		e.CreatedAt = msTime(created)
		out = append(out, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: events: %w", err)
	}
	return out, nil
}

const endpointColumns = `id, uid, url, event_types, secret, previous_secret, previous_secret_until, created_at,
	disabled_at, disabled_reason`

func scanEndpoint(r scanner) (*mtdconnect.WebhookEndpoint, error) {
	var e mtdconnect.WebhookEndpoint
	var types string
	var prevUntil, created, disabled int64
	if err := r.Scan(&e.ID, &e.UID, &e.URL, &types, &e.Secret, &e.PreviousSecret, &prevUntil, &created,
		&disabled, &e.DisabledReason); err != nil {
		return nil, err
	}
	e.EventTypes = mtdconnect.SplitEventTypes(types)
	e.PreviousSecretUntil, e.CreatedAt, e.DisabledAt = msTime(prevUntil), msTime(created), msTime(disabled)
	if len(e.PreviousSecret) == 0 {
		e.PreviousSecret = nil
	}
	return &e, nil
}

// CreateWebhookEndpoint implements mtdconnect.Store.
func (s *Store) CreateWebhookEndpoint(ctx context.Context, e *mtdconnect.WebhookEndpoint) error {
	types := mtdconnect.JoinEventTypes(e.EventTypes)
	if err := mtdconnect.CheckKey(e.UID); err != nil {
		return fmt.Errorf("sqlite: create webhook endpoint: %w", err)
	}
	if err := mtdconnect.CheckText(e.URL, types, e.DisabledReason); err != nil {
		return fmt.Errorf("sqlite: create webhook endpoint: %w", err)
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = now()
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO webhook_endpoints (uid, url, event_types, secret, previous_secret,
		previous_secret_until, created_at, disabled_at, disabled_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.UID, e.URL, types, nonNil(e.Secret), nonNil(e.PreviousSecret), ms(e.PreviousSecretUntil), ms(e.CreatedAt),
		ms(e.DisabledAt), e.DisabledReason)
	if isUnique(err) {
		err = mtdconnect.ErrConflict
	}
	var id int64
	if err == nil {
		id, err = res.LastInsertId()
	}
	if err != nil {
		return fmt.Errorf("sqlite: create webhook endpoint: %w", err)
	}
	e.ID = id
	e.CreatedAt = msTime(ms(e.CreatedAt))
	return nil
}

// WebhookEndpoint implements mtdconnect.Store.
func (s *Store) WebhookEndpoint(ctx context.Context, id int64) (*mtdconnect.WebhookEndpoint, error) {
	e, err := scanEndpoint(s.db.QueryRowContext(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE id = ?`, id))
	return e, notFound("webhook endpoint", err)
}

// WebhookEndpoints implements mtdconnect.Store.
func (s *Store) WebhookEndpoints(ctx context.Context) ([]*mtdconnect.WebhookEndpoint, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: webhook endpoints: %w", err)
	}
	defer rows.Close()
	var out []*mtdconnect.WebhookEndpoint
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: webhook endpoints: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: webhook endpoints: %w", err)
	}
	return out, nil
}

// DeleteWebhookEndpoint implements mtdconnect.Store; its deliveries go by
// the foreign key's cascade.
func (s *Store) DeleteWebhookEndpoint(ctx context.Context, id int64) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM webhook_endpoints WHERE id = ?`, id)
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("sqlite: delete webhook endpoint: %w", err)
	}
	return nil
}

// RotateWebhookSecret implements mtdconnect.Store.
func (s *Store) RotateWebhookSecret(ctx context.Context, id int64, secret []byte, previousUntil time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_until = ?,
		secret = ? WHERE id = ?`, ms(previousUntil), nonNil(secret), id)
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("sqlite: rotate webhook secret: %w", err)
	}
	return nil
}

const deliveryColumns = `d.id, d.endpoint_id, d.attempts, d.last_status, d.last_error, d.last_attempt_at, d.next_try_at,
	d.lease_owner, d.delivered_at, d.failed_at, d.created_at,
	e.id, e.user_id, e.seq, e.type, e.dedup_key, e.data, e.created_at`

func scanDelivery(r scanner) (*mtdconnect.WebhookDelivery, error) {
	var d mtdconnect.WebhookDelivery
	var lastAttempt, next, delivered, failed, created, eventCreated int64
	if err := r.Scan(&d.ID, &d.EndpointID, &d.Attempts, &d.LastStatus, &d.LastError, &lastAttempt, &next,
		&d.LeaseOwner, &delivered, &failed, &created,
		&d.Event.ID, &d.Event.UserID, &d.Event.Seq, &d.Event.Type, &d.Event.Key, &d.Event.Data, &eventCreated); err != nil {
		return nil, err
	}
	d.LastAttemptAt, d.NextTryAt, d.DeliveredAt = msTime(lastAttempt), msTime(next), msTime(delivered)
	d.FailedAt, d.CreatedAt, d.Event.CreatedAt = msTime(failed), msTime(created), msTime(eventCreated)
	return &d, nil
}

func (s *Store) deliveries(ctx context.Context, q queryer, where string, args ...any) ([]*mtdconnect.WebhookDelivery, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries d
		JOIN events e ON e.id = d.event_id `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*mtdconnect.WebhookDelivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// ClaimDeliveries implements mtdconnect.Store. The write transaction is
// the whole database's (SQLite has one writer), so two claims never take
// the same row.
func (s *Store) ClaimDeliveries(ctx context.Context, owner string, at time.Time, lease time.Duration, limit int) ([]*mtdconnect.WebhookDelivery, error) {
	if err := mtdconnect.CheckText(owner); err != nil {
		return nil, fmt.Errorf("sqlite: claim deliveries: %w", err)
	}
	// A read first: an idle dispatcher (every instance, twice a second)
	// must not take the database's one write lock for nothing.
	var due bool
	if err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM webhook_deliveries
		WHERE delivered_at = 0 AND failed_at = 0 AND next_try_at <= ?)`, ms(at)).Scan(&due); err != nil {
		return nil, fmt.Errorf("sqlite: claim deliveries: %w", err)
	}
	if !due {
		return nil, nil
	}
	var out []*mtdconnect.WebhookDelivery
	err := s.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE webhook_deliveries SET next_try_at = ?, lease_owner = ?
			WHERE id IN (SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id
				WHERE d.delivered_at = 0 AND d.failed_at = 0 AND d.next_try_at <= ? AND w.disabled_at = 0
				ORDER BY d.next_try_at LIMIT ?)
			RETURNING id`, ms(at.Add(lease)), owner, ms(at), limit)
		if err != nil {
			return err
		}
		var ids []string
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, fmt.Sprint(id))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		out, err = s.deliveries(ctx, tx, `WHERE d.id IN (`+strings.Join(ids, ",")+`) ORDER BY d.next_try_at, d.id`)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim deliveries: %w", err)
	}
	return out, nil
}

// FinishDelivery implements mtdconnect.Store.
func (s *Store) FinishDelivery(ctx context.Context, id int64, owner string, a mtdconnect.DeliveryAttempt) error {
	if err := mtdconnect.CheckText(owner, a.Error); err != nil {
		return fmt.Errorf("sqlite: finish delivery: %w", err)
	}
	var delivered, failed int64
	next := ms(a.NextTryAt)
	switch {
	case a.Delivered:
		delivered, next = ms(a.At), ms(a.At)
	case a.NextTryAt.IsZero():
		failed, next = ms(a.At), ms(a.At)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var endpoint int64
		err := tx.QueryRowContext(ctx, `UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = ?,
			last_error = ?, last_attempt_at = ?, next_try_at = ?, lease_owner = '', delivered_at = ?, failed_at = ?
			WHERE id = ? AND lease_owner = ? AND delivered_at = 0 AND failed_at = 0
			RETURNING endpoint_id`, a.Status, a.Error, ms(a.At), next, delivered, failed, id, owner).Scan(&endpoint)
		if errors.Is(err, sql.ErrNoRows) {
			var exists bool
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = ?)`, id).Scan(&exists); err != nil {
				return err
			}
			if exists {
				return mtdconnect.ErrConflict
			}
			return mtdconnect.ErrNotFound
		}
		if err != nil || !a.Disable {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE webhook_endpoints SET disabled_at = ?, disabled_reason = ?
			WHERE id = ? AND disabled_at = 0`, ms(a.At), fmt.Sprintf("the receiver answered %d", a.Status), endpoint)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: finish delivery: %w", err)
	}
	return nil
}

// WebhookDeliveries implements mtdconnect.Store.
func (s *Store) WebhookDeliveries(ctx context.Context, endpointID int64, limit int) ([]*mtdconnect.WebhookDelivery, error) {
	if limit <= 0 {
		limit = -1
	}
	out, err := s.deliveries(ctx, s.db, `WHERE d.endpoint_id = ? ORDER BY d.id DESC LIMIT ?`, endpointID, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: webhook deliveries: %w", err)
	}
	return out, nil
}

// RedeliverWebhook implements mtdconnect.Store.
func (s *Store) RedeliverWebhook(ctx context.Context, endpointID, deliveryID int64, at time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE webhook_deliveries SET delivered_at = 0, failed_at = 0, next_try_at = ?,
		lease_owner = '' WHERE id = ? AND endpoint_id = ?`, ms(at), deliveryID, endpointID)
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("sqlite: redeliver webhook: %w", err)
	}
	return nil
}
