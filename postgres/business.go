package postgres

import (
	"context"
	"fmt"

	"github.com/mtdconnect/mtdconnect"
)

// IncomeTaxBusiness implements mtdconnect.Store.
func (s *Store) IncomeTaxBusiness(ctx context.Context, userID int64) (*mtdconnect.IncomeTaxBusiness, error) {
	b := mtdconnect.IncomeTaxBusiness{UserID: userID}
	err := s.pool.QueryRow(ctx, `SELECT nino, environment, business_id, found_at FROM income_tax_businesses
		WHERE user_id = $1`, userID).Scan(&b.NINO, &b.Environment, &b.BusinessID, &b.FoundAt)
	if err != nil {
		return nil, wrap("income tax business", err)
	}
	b.FoundAt = b.FoundAt.UTC()
	return &b, nil
}

// SaveIncomeTaxBusiness implements mtdconnect.Store.
func (s *Store) SaveIncomeTaxBusiness(ctx context.Context, b *mtdconnect.IncomeTaxBusiness) error {
	if err := mtdconnect.CheckText(b.NINO, b.Environment, b.BusinessID); err != nil {
		return fmt.Errorf("postgres: save income tax business: %w", err)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO income_tax_businesses (user_id, nino, environment, business_id, found_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (user_id) DO UPDATE SET nino = excluded.nino, environment = excluded.environment,
			business_id = excluded.business_id, found_at = excluded.found_at`,
		b.UserID, b.NINO, b.Environment, b.BusinessID, ts(b.FoundAt))
	if err != nil {
		return wrap("save income tax business", err)
	}
	return nil
}

// DeleteIncomeTaxBusiness implements mtdconnect.Store.
func (s *Store) DeleteIncomeTaxBusiness(ctx context.Context, userID int64) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM income_tax_businesses WHERE user_id = $1`, userID); err != nil {
		return wrap("delete income tax business", err)
	}
	return nil
}

// CachedObligations implements mtdconnect.Store.
func (s *Store) CachedObligations(ctx context.Context, userID int64, key string) (*mtdconnect.CachedObligations, error) {
	if err := mtdconnect.CheckKey(key); err != nil {
		return nil, fmt.Errorf("postgres: cached obligations: %w", err)
	}
	o := mtdconnect.CachedObligations{UserID: userID, Key: key}
	err := s.pool.QueryRow(ctx, `SELECT body, fetched_at FROM cached_obligations WHERE user_id = $1 AND key = $2`,
		userID, key).Scan(&o.Body, &o.FetchedAt)
	if err != nil {
		return nil, wrap("cached obligations", err)
	}
	o.FetchedAt = o.FetchedAt.UTC()
	return &o, nil
}

// SaveObligations implements mtdconnect.Store.
func (s *Store) SaveObligations(ctx context.Context, o *mtdconnect.CachedObligations) error {
	if err := mtdconnect.CheckKey(o.Key); err != nil {
		return fmt.Errorf("postgres: save obligations: %w", err)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO cached_obligations (user_id, key, body, fetched_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id, key) DO UPDATE SET body = excluded.body, fetched_at = excluded.fetched_at`,
		o.UserID, o.Key, nonNil(o.Body), ts(o.FetchedAt))
	if err != nil {
		return wrap("save obligations", err)
	}
	return nil
}

// DeleteObligations implements mtdconnect.Store.
func (s *Store) DeleteObligations(ctx context.Context, userID int64) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM cached_obligations WHERE user_id = $1`, userID); err != nil {
		return wrap("delete obligations", err)
	}
	return nil
}
