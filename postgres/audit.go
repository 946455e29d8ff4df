package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mtdconnect/mtdconnect"
)

// AppendAudit appends e and sets its ID.
func (s *Store) AppendAudit(ctx context.Context, e *mtdconnect.AuditEvent) error {
	if err := mtdconnect.CheckText(string(e.Purpose), e.Kind, e.Detail); err != nil {
		return fmt.Errorf("postgres: append audit: %w", err)
	}
	err := s.pool.QueryRow(ctx, `
		INSERT INTO audit_events (user_id, purpose, kind, detail, at) VALUES ($1, $2, $3, $4, $5)
		RETURNING id`,
		e.UserID, string(e.Purpose), e.Kind, e.Detail, ts(e.At),
	).Scan(&e.ID)
	if err != nil {
		return wrap("append audit", err)
	}
	return nil
}

// Audit returns the user's latest limit events (all if limit is not
// positive), newest first.
func (s *Store) Audit(ctx context.Context, userID int64, limit int) ([]*mtdconnect.AuditEvent, error) {
	query := `SELECT id, user_id, purpose, kind, detail, at FROM audit_events WHERE user_id = $1 ORDER BY id DESC`
	args := []any{userID}
	if limit > 0 {
		query += ` LIMIT $2`
		args = append(args, limit)
	}
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, wrap("audit", err)
	}
	defer rows.Close()
	var events []*mtdconnect.AuditEvent
	for rows.Next() {
		var (
			e  mtdconnect.AuditEvent
			at *time.Time
		)
		if err := rows.Scan(&e.ID, &e.UserID, (*string)(&e.Purpose), &e.Kind, &e.Detail, &at); err != nil {
			return nil, wrap("audit", err)
		}
		e.At = utc(at)
		events = append(events, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("audit", err)
	}
	return events, nil
}

// ReserveSlot books the next free slot of the named budget in one
// statement, so one transaction whether it books or not: the row lock taken
// by INSERT … ON CONFLICT DO UPDATE serialises concurrent callers on every
// instance, and each one sees the booking of the one before, so no two get
// the same slot. The slot is max(next_at, now) (an idle budget banks no
// slots); booking moves next_at to slot+interval. When the slot is later
// than now+maxWait the WHERE clause of the DO UPDATE leaves the row
// untouched, the insert returns nothing, and the second half of the UNION
// reports the slot as it stood, with ok false.
//
// Times are in milliseconds like every stored time; interval is rounded up
// to the millisecond so the budget is never overspent.
func (s *Store) ReserveSlot(ctx context.Context, name string, interval, maxWait time.Duration, now time.Time) (time.Time, bool, error) {
	if err := mtdconnect.CheckKey(name); err != nil {
		return time.Time{}, false, fmt.Errorf("postgres: reserve slot: %w", err)
	}
	n := now.UTC().Truncate(time.Millisecond)
	iv := (max(interval, 0) + time.Millisecond - 1) / time.Millisecond
	var (
		at time.Time
		ok bool
	)
	err := s.pool.QueryRow(ctx, `
		WITH booked AS (
			INSERT INTO rate_slots AS r (name, next_at)
			SELECT $1, $2::timestamptz + $3::bigint * interval '1 millisecond' WHERE $4::bigint >= 0
			ON CONFLICT (name) DO UPDATE
				SET next_at = GREATEST(r.next_at, $2::timestamptz) + $3::bigint * interval '1 millisecond'
				WHERE GREATEST(r.next_at, $2::timestamptz) <= $2::timestamptz + $4::bigint * interval '1 millisecond'
			RETURNING next_at - $3::bigint * interval '1 millisecond' AS at
		)
		SELECT at, true FROM booked
		UNION ALL
		SELECT GREATEST(next_at, $2::timestamptz), false FROM rate_slots
		WHERE name = $1 AND NOT EXISTS (SELECT FROM booked)`,
		name, n, int64(iv), waitMillis(maxWait),
	).Scan(&at, &ok)
	if errors.Is(err, pgx.ErrNoRows) {
		// Not booked, and the row was made after this statement's
		// snapshot: the slot is at least now (informative only).
		return n, false, nil
	}
	if err != nil {
		return time.Time{}, false, wrap("reserve slot", err)
	}
	return at.UTC(), ok, nil
}

// waitMillis is maxWait in milliseconds; negative stays negative (a look
// that books nothing), however small.
func waitMillis(maxWait time.Duration) int64 {
	if maxWait < 0 {
		return -1
	}
	return int64(maxWait / time.Millisecond)
}

// DelaySlots moves the named budget's next free slot to at least until.
func (s *Store) DelaySlots(ctx context.Context, name string, until time.Time) error {
	if err := mtdconnect.CheckKey(name); err != nil {
		return fmt.Errorf("postgres: delay slots: %w", err)
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO rate_slots AS r (name, next_at) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET next_at = GREATEST(r.next_at, EXCLUDED.next_at)`,
		name, ts(until))
	if err != nil {
		return wrap("delay slots", err)
	}
	return nil
}

func isNotFound(err error) bool { return errors.Is(err, mtdconnect.ErrNotFound) }

// DeleteExpired deletes expired sessions, pending authorisations and idle
// rate budgets in one statement.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `
		WITH s AS (DELETE FROM sessions WHERE expires_at < $1 RETURNING 1),
		     p AS (DELETE FROM pending_authorizations WHERE expires_at < $1 RETURNING 1),
		     r AS (DELETE FROM rate_slots WHERE next_at < $1 RETURNING 1)
		SELECT (SELECT count(*) FROM s) + (SELECT count(*) FROM p) + (SELECT count(*) FROM r)`,
		ts(now)).Scan(&n)
	if err != nil {
		return 0, wrap("delete expired", err)
	}
	return n, nil
}
