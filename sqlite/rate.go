package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

// ReserveSlot implements mtdconnect.Store. The read and the write share one
// immediate transaction, so every process sharing the file books from the
// same next_at and no two callers get the same slot.
func (s *Store) ReserveSlot(ctx context.Context, name string, interval, maxWait time.Duration, now time.Time) (time.Time, bool, error) {
	if err := mtdconnect.CheckKey(name); err != nil {
		return time.Time{}, false, fmt.Errorf("sqlite: reserve slot: %w", err)
	}
	var slot int64
	var ok bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var next int64
		err := tx.QueryRowContext(ctx, `SELECT next_at FROM rate_slots WHERE name = ?`, name).Scan(&next)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		// An idle budget does not bank slots: the earliest slot is now.
		slot = max(next, ms(now))
		if maxWait < 0 || slot > ms(now.Add(maxWait)) {
			return nil
		}
		ok = true
		_, err = tx.ExecContext(ctx, `INSERT INTO rate_slots (name, next_at) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET next_at = excluded.next_at`, name, slot+interval.Milliseconds())
		return err
	})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("sqlite: reserve slot: %w", err)
	}
	return msTime(slot), ok, nil
}

// DelaySlots implements mtdconnect.Store. It only ever pushes next_at later,
// so a late or repeated 429 cannot pull the budget forward.
func (s *Store) DelaySlots(ctx context.Context, name string, until time.Time) error {
	if err := mtdconnect.CheckKey(name); err != nil {
		return fmt.Errorf("sqlite: delay slots: %w", err)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO rate_slots (name, next_at) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET next_at = max(next_at, excluded.next_at)`, name, ms(until))
	if err != nil {
		return fmt.Errorf("sqlite: delay slots: %w", err)
	}
	return nil
}

// DeleteExpired implements mtdconnect.Store, in one transaction.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{
			`DELETE FROM sessions WHERE expires_at < ?`,
			`DELETE FROM pending_authorizations WHERE expires_at < ?`,
			// A budget whose next slot has passed books as if absent.
			`DELETE FROM rate_slots WHERE next_at < ?`,
		} {
			res, err := tx.ExecContext(ctx, q, ms(now))
			if err != nil {
				return err
			}
			k, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += k
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete expired: %w", err)
	}
	return n, nil
}
