package sqlite

import (
	"context"
	"errors"
	"fmt"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/mtdconnect/mtdconnect"
)

// IncomeTaxBusiness implements mtdconnect.Store.
func (s *Store) IncomeTaxBusiness(ctx context.Context, userID int64) (*mtdconnect.IncomeTaxBusiness, error) {
	b := mtdconnect.IncomeTaxBusiness{UserID: userID}
	var found int64
	err := s.db.QueryRowContext(ctx, `SELECT nino, environment, business_id, found_at FROM income_tax_businesses
		WHERE user_id = ?`, userID).Scan(&b.NINO, &b.Environment, &b.BusinessID, &found)
	if err != nil {
		return nil, notFound("income tax business", err)
	}
	b.FoundAt = msTime(found)
	return &b, nil
}

// SaveIncomeTaxBusiness implements mtdconnect.Store.
func (s *Store) SaveIncomeTaxBusiness(ctx context.Context, b *mtdconnect.IncomeTaxBusiness) error {
	if err := mtdconnect.CheckText(b.NINO, b.Environment, b.BusinessID); err != nil {
		return fmt.Errorf("sqlite: save income tax business: %w", err)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO income_tax_businesses (user_id, nino, environment, business_id, found_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (user_id) DO UPDATE SET nino = excluded.nino, environment = excluded.environment,
			business_id = excluded.business_id, found_at = excluded.found_at`,
		b.UserID, b.NINO, b.Environment, b.BusinessID, ms(b.FoundAt))
	return userRowErr("save income tax business", err)
}

// DeleteIncomeTaxBusiness implements mtdconnect.Store.
func (s *Store) DeleteIncomeTaxBusiness(ctx context.Context, userID int64) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM income_tax_businesses WHERE user_id = ?`, userID); err != nil {
		return fmt.Errorf("sqlite: delete income tax business: %w", err)
	}
	return nil
}

// CachedObligations implements mtdconnect.Store.
func (s *Store) CachedObligations(ctx context.Context, userID int64, key string) (*mtdconnect.CachedObligations, error) {
	if err := mtdconnect.CheckKey(key); err != nil {
		return nil, fmt.Errorf("sqlite: cached obligations: %w", err)
	}
	o := mtdconnect.CachedObligations{UserID: userID, Key: key}
	var fetched int64
	err := s.db.QueryRowContext(ctx, `SELECT body, fetched_at FROM cached_obligations WHERE user_id = ? AND key = ?`,
		userID, key).Scan(&o.Body, &fetched)
	if err != nil {
		return nil, notFound("cached obligations", err)
	}
	o.FetchedAt = msTime(fetched)
	return &o, nil
}

// SaveObligations implements mtdconnect.Store.
func (s *Store) SaveObligations(ctx context.Context, o *mtdconnect.CachedObligations) error {
	if err := mtdconnect.CheckKey(o.Key); err != nil {
		return fmt.Errorf("sqlite: save obligations: %w", err)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO cached_obligations (user_id, key, body, fetched_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (user_id, key) DO UPDATE SET body = excluded.body, fetched_at = excluded.fetched_at`,
		o.UserID, o.Key, nonNil(o.Body), ms(o.FetchedAt))
	return userRowErr("save obligations", err)
}

// DeleteObligations implements mtdconnect.Store.
func (s *Store) DeleteObligations(ctx context.Context, userID int64) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM cached_obligations WHERE user_id = ?`, userID); err != nil {
		return fmt.Errorf("sqlite: delete obligations: %w", err)
	}
	return nil
}

// userRowErr wraps the error of a write to a row of a user's: a foreign
// key violation means the user does not exist (ErrNotFound).
func userRowErr(op string, err error) error {
	var e *sqlite.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &e) && e.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return fmt.Errorf("sqlite: %s: %w", op, mtdconnect.ErrNotFound)
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}
