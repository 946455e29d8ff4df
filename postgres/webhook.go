package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mtdconnect/mtdconnect"
)

// errSkip rolls back a keyed event whose key was used already.
var errSkip = errors.New("event key used already")

// querier is what the pool and a transaction both answer, so a write runs
// alone or in the transaction its events need.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// withEvents runs fn and writes events in one transaction; without events,
// fn runs on the pool as before (one statement is its own transaction).
func (s *Store) withEvents(ctx context.Context, events []*mtdconnect.Event, fn func(q querier) error) error {
	if len(events) == 0 {
		return fn(s.pool)
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return insertEvents(ctx, tx, events)
	})
}

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
// landlord's sequence (the users row's lock orders concurrent writers), and
// queues a delivery to every enabled endpoint that wants its type. A used
// Key returns errSkip: the transaction must roll back, leaving no gap.
func insertEvents(ctx context.Context, tx querier, events []*mtdconnect.Event) error {
	for _, e := range events {
		if e.CreatedAt.IsZero() {
			e.CreatedAt = time.Now()
		}
		var seq int64
		if err := tx.QueryRow(ctx, `UPDATE users SET event_seq = event_seq + 1 WHERE id = $1 RETURNING event_seq`,
			e.UserID).Scan(&seq); err != nil {
			return wrap("event sequence", err)
		}
		var id int64
		err := tx.QueryRow(ctx, `INSERT INTO events (user_id, seq, type, dedup_key, data, created_at)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
			e.UserID, seq, e.Type, e.Key, nonNil(e.Data), ts(e.CreatedAt)).Scan(&id)
		if err != nil {
			err = wrap("event", err)
			if e.Key != "" && errors.Is(err, mtdconnect.ErrConflict) {
				return errSkip
			}
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO webhook_deliveries (endpoint_id, event_id, next_try_at, created_at)
			SELECT id, $1, $2, $2 FROM webhook_endpoints
			WHERE disabled_at IS NULL AND (event_types = '' OR position(' ' || $3 || ' ' in ' ' || event_types || ' ') > 0)`,
			id, ts(e.CreatedAt), e.Type); err != nil {
			return wrap("event deliveries", err)
		}
		e.ID, e.Seq = id, seq
		e.CreatedAt = e.CreatedAt.UTC().Truncate(time.Millisecond)
	}
	return nil
}

// AppendEvents implements mtdconnect.Store: each event in its own
// transaction, so a used key skips that event only.
func (s *Store) AppendEvents(ctx context.Context, events ...*mtdconnect.Event) (int, error) {
	if err := checkEvents(events); err != nil {
		return 0, fmt.Errorf("postgres: append events: %w", err)
	}
	n := 0
	for _, e := range events {
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			return insertEvents(ctx, tx, []*mtdconnect.Event{e})
		})
		if errors.Is(err, errSkip) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("postgres: append events: %w", err)
		}
		n++
	}
	return n, nil
}

// Events implements mtdconnect.Store.
func (s *Store) Events(ctx context.Context, userID int64, limit int) ([]*mtdconnect.Event, error) {
	var lim *int
	if limit > 0 {
		lim = &limit
	}
	rows, err := s.pool.Query(ctx, `SELECT id, user_id, seq, type, dedup_key, data, created_at FROM events
		WHERE user_id = $1 ORDER BY seq LIMIT $2`, userID, lim)
	if err != nil {
		return nil, wrap("events", err)
	}
	defer rows.Close()
	var out []*mtdconnect.Event
	for rows.Next() {
		var e mtdconnect.Event
		var created *time.Time
		if err := rows.Scan(&e.ID, &e.UserID, &e.Seq, &e.Type, &e.Key, &e.Data, &created); err != nil {
			return nil, wrap("events", err)
		}
		e.CreatedAt = utc(created)
		out = append(out, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("events", err)
	}
	return out, nil
}

const endpointColumns = `id, uid, url, event_types, secret, previous_secret, previous_secret_until, created_at,
	disabled_at, disabled_reason`

func scanEndpoint(r pgx.Row) (*mtdconnect.WebhookEndpoint, error) {
	var e mtdconnect.WebhookEndpoint
	var types string
	var prevUntil, created, disabled *time.Time
	if err := r.Scan(&e.ID, &e.UID, &e.URL, &types, &e.Secret, &e.PreviousSecret, &prevUntil, &created,
		&disabled, &e.DisabledReason); err != nil {
		return nil, err
	}
	e.EventTypes = mtdconnect.SplitEventTypes(types)
	e.PreviousSecretUntil, e.CreatedAt, e.DisabledAt = utc(prevUntil), utc(created), utc(disabled)
	if len(e.PreviousSecret) == 0 {
		e.PreviousSecret = nil
	}
	return &e, nil
}

// CreateWebhookEndpoint implements mtdconnect.Store.
func (s *Store) CreateWebhookEndpoint(ctx context.Context, e *mtdconnect.WebhookEndpoint) error {
	types := mtdconnect.JoinEventTypes(e.EventTypes)
	if err := mtdconnect.CheckKey(e.UID); err != nil {
		return fmt.Errorf("postgres: create webhook endpoint: %w", err)
	}
	if err := mtdconnect.CheckText(e.URL, types, e.DisabledReason); err != nil {
		return fmt.Errorf("postgres: create webhook endpoint: %w", err)
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = s.now()
	}
	e.CreatedAt = e.CreatedAt.UTC().Truncate(time.Millisecond)
	err := s.pool.QueryRow(ctx, `INSERT INTO webhook_endpoints (uid, url, event_types, secret, previous_secret,
		previous_secret_until, created_at, disabled_at, disabled_reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		RETURNING id`,
		e.UID, e.URL, types, nonNil(e.Secret), nonNil(e.PreviousSecret), ts(e.PreviousSecretUntil), ts(e.CreatedAt),
		ts(e.DisabledAt), e.DisabledReason).Scan(&e.ID)
	if err != nil {
		return wrap("create webhook endpoint", err)
	}
	return nil
}

// WebhookEndpoint implements mtdconnect.Store.
func (s *Store) WebhookEndpoint(ctx context.Context, id int64) (*mtdconnect.WebhookEndpoint, error) {
	e, err := scanEndpoint(s.pool.QueryRow(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE id = $1`, id))
	if err != nil {
		return nil, wrap("webhook endpoint", err)
	}
	return e, nil
}

// WebhookEndpoints implements mtdconnect.Store.
func (s *Store) WebhookEndpoints(ctx context.Context) ([]*mtdconnect.WebhookEndpoint, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints ORDER BY id`)
	if err != nil {
		return nil, wrap("webhook endpoints", err)
	}
	defer rows.Close()
	var out []*mtdconnect.WebhookEndpoint
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, wrap("webhook endpoints", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("webhook endpoints", err)
	}
	return out, nil
}

// DeleteWebhookEndpoint implements mtdconnect.Store; its deliveries go by
// the foreign key's cascade.
func (s *Store) DeleteWebhookEndpoint(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM webhook_endpoints WHERE id = $1`, id)
	if err != nil {
		return wrap("delete webhook endpoint", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: delete webhook endpoint: %w", mtdconnect.ErrNotFound)
	}
	return nil
}

// RotateWebhookSecret implements mtdconnect.Store.
func (s *Store) RotateWebhookSecret(ctx context.Context, id int64, secret []byte, previousUntil time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_until = $1,
		secret = $2 WHERE id = $3`, ts(previousUntil), nonNil(secret), id)
	if err != nil {
		return wrap("rotate webhook secret", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: rotate webhook secret: %w", mtdconnect.ErrNotFound)
	}
	return nil
}

const deliveryColumns = `d.id, d.endpoint_id, d.attempts, d.last_status, d.last_error, d.last_attempt_at, d.next_try_at,
	d.lease_owner, d.delivered_at, d.failed_at, d.created_at,
	e.id, e.user_id, e.seq, e.type, e.dedup_key, e.data, e.created_at`

func scanDelivery(r pgx.Row) (*mtdconnect.WebhookDelivery, error) {
	var d mtdconnect.WebhookDelivery
	var lastAttempt, next, delivered, failed, created, eventCreated *time.Time
	if err := r.Scan(&d.ID, &d.EndpointID, &d.Attempts, &d.LastStatus, &d.LastError, &lastAttempt, &next,
		&d.LeaseOwner, &delivered, &failed, &created,
		&d.Event.ID, &d.Event.UserID, &d.Event.Seq, &d.Event.Type, &d.Event.Key, &d.Event.Data, &eventCreated); err != nil {
		return nil, err
	}
	d.LastAttemptAt, d.NextTryAt, d.DeliveredAt = utc(lastAttempt), utc(next), utc(delivered)
	d.FailedAt, d.CreatedAt, d.Event.CreatedAt = utc(failed), utc(created), utc(eventCreated)
	return &d, nil
}

func deliveries(ctx context.Context, q querier, where string, args ...any) ([]*mtdconnect.WebhookDelivery, error) {
	rows, err := q.Query(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries d
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

// ClaimDeliveries implements mtdconnect.Store. SKIP LOCKED lets instances
// claiming at once take different rows instead of waiting on each other.
func (s *Store) ClaimDeliveries(ctx context.Context, owner string, at time.Time, lease time.Duration, limit int) ([]*mtdconnect.WebhookDelivery, error) {
	if err := mtdconnect.CheckText(owner); err != nil {
		return nil, fmt.Errorf("postgres: claim deliveries: %w", err)
	}
	var out []*mtdconnect.WebhookDelivery
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `UPDATE webhook_deliveries SET next_try_at = $1, lease_owner = $2
			WHERE id IN (SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id
				WHERE d.delivered_at IS NULL AND d.failed_at IS NULL AND d.next_try_at <= $3 AND w.disabled_at IS NULL
				ORDER BY d.next_try_at LIMIT $4 FOR UPDATE OF d SKIP LOCKED)
			RETURNING id`, ts(at.Add(lease)), owner, ts(at), limit)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil || len(ids) == 0 {
			return err
		}
		out, err = deliveries(ctx, tx, `WHERE d.id = ANY($1) ORDER BY d.next_try_at, d.id`, ids)
		return err
	})
	if err != nil {
		return nil, wrap("claim deliveries", err)
	}
	return out, nil
}

// FinishDelivery implements mtdconnect.Store.
func (s *Store) FinishDelivery(ctx context.Context, id int64, owner string, a mtdconnect.DeliveryAttempt) error {
	if err := mtdconnect.CheckText(owner, a.Error); err != nil {
		return fmt.Errorf("postgres: finish delivery: %w", err)
	}
	var delivered, failed time.Time
	next := a.NextTryAt
	switch {
	case a.Delivered:
		delivered, next = a.At, a.At
	case a.NextTryAt.IsZero():
		failed, next = a.At, a.At
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var endpoint int64
		err := tx.QueryRow(ctx, `UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = $1,
			last_error = $2, last_attempt_at = $3, next_try_at = $4, lease_owner = '', delivered_at = $5, failed_at = $6
			WHERE id = $7 AND lease_owner = $8 AND delivered_at IS NULL AND failed_at IS NULL
			RETURNING endpoint_id`, a.Status, a.Error, ts(a.At), ts(next), ts(delivered), ts(failed), id, owner).Scan(&endpoint)
		if errors.Is(err, pgx.ErrNoRows) {
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = $1)`, id).Scan(&exists); err != nil {
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
		_, err = tx.Exec(ctx, `UPDATE webhook_endpoints SET disabled_at = $1, disabled_reason = $2
			WHERE id = $3 AND disabled_at IS NULL`, ts(a.At), fmt.Sprintf("the receiver answered %d", a.Status), endpoint)
		return err
	})
	if err != nil {
		return wrap("finish delivery", err)
	}
	return nil
}

// WebhookDeliveries implements mtdconnect.Store.
func (s *Store) WebhookDeliveries(ctx context.Context, endpointID int64, limit int) ([]*mtdconnect.WebhookDelivery, error) {
	var lim *int
	if limit > 0 {
		lim = &limit
	}
	out, err := deliveries(ctx, s.pool, `WHERE d.endpoint_id = $1 ORDER BY d.id DESC LIMIT $2`, endpointID, lim)
	if err != nil {
		return nil, wrap("webhook deliveries", err)
	}
	return out, nil
}

// RedeliverWebhook implements mtdconnect.Store.
func (s *Store) RedeliverWebhook(ctx context.Context, endpointID, deliveryID int64, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE webhook_deliveries SET delivered_at = NULL, failed_at = NULL, next_try_at = $1,
		lease_owner = '' WHERE id = $2 AND endpoint_id = $3`, ts(at), deliveryID, endpointID)
	if err != nil {
		return wrap("redeliver webhook", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: redeliver webhook: %w", mtdconnect.ErrNotFound)
	}
	return nil
}
