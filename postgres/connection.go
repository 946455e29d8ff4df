package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mtdconnect/mtdconnect"
)

const connectionColumns = `user_id, purpose, status, reason, scopes, tokens, access_expires_at, granted_at,
	environment, client_id, last_refresh_at, last_used_at, refresh_lease_until, refresh_lease_owner,
	refresh_failures, last_error, version, created_at, updated_at`

func scanConnection(row interface{ Scan(...any) error }) (*mtdconnect.Connection, error) {
	var (
		c                                             mtdconnect.Connection
		accessExpires, granted, lastRefresh, lastUsed *time.Time
		leaseUntil, created, updated                  *time.Time
	)
	err := row.Scan(&c.UserID, (*string)(&c.Purpose), (*string)(&c.Status), &c.Reason, &c.Scopes, &c.Tokens,
		&accessExpires, &granted, &c.Environment, &c.ClientID, &lastRefresh, &lastUsed, &leaseUntil,
		&c.RefreshLeaseOwner, &c.RefreshFailures, &c.LastError, &c.Version, &created, &updated)
	if err != nil {
		return nil, err
	}
	c.AccessExpiresAt, c.GrantedAt = utc(accessExpires), utc(granted)
	c.LastRefreshAt, c.LastUsedAt = utc(lastRefresh), utc(lastUsed)
	c.RefreshLeaseUntil, c.CreatedAt, c.UpdatedAt = utc(leaseUntil), utc(created), utc(updated)
	return &c, nil
}

// connectionArgs are $1..$18: every column but version, in connectionColumns order.
func connectionArgs(c *mtdconnect.Connection) []any {
	return []any{
		c.UserID, string(c.Purpose), string(c.Status), c.Reason, c.Scopes, c.Tokens,
		ts(c.AccessExpiresAt), ts(c.GrantedAt), c.Environment, c.ClientID,
		ts(c.LastRefreshAt), ts(c.LastUsedAt), ts(c.RefreshLeaseUntil), c.RefreshLeaseOwner,
		c.RefreshFailures, c.LastError, ts(c.CreatedAt), ts(c.UpdatedAt),
	}
}

// connectionSet is the SET list of SaveConnection's upsert and of
// UpdateConnection, given what last_used_at becomes. Every write takes a
// fresh version from the one sequence.
func connectionSet(lastUsed string) string {
	return `status = $3, reason = $4, scopes = $5, tokens = $6,
	access_expires_at = $7, granted_at = $8, environment = $9, client_id = $10,
	last_refresh_at = $11, last_used_at = ` + lastUsed + `, refresh_lease_until = $13, refresh_lease_owner = $14,
	refresh_failures = $15, last_error = $16, created_at = $17, updated_at = $18,
	version = nextval('connection_version')`
}

func (s *Store) Connection(ctx context.Context, userID int64, purpose mtdconnect.Purpose) (*mtdconnect.Connection, error) {
	if err := mtdconnect.CheckText(string(purpose)); err != nil {
		return nil, fmt.Errorf("postgres: connection: %w", err)
	}
	c, err := scanConnection(s.pool.QueryRow(ctx,
		`SELECT `+connectionColumns+` FROM connections WHERE user_id = $1 AND purpose = $2`,
		userID, string(purpose)))
	if err != nil {
		return nil, wrap("connection", err)
	}
	return c, nil
}

// SaveConnection creates the connection or replaces it whole, with a
// version never used before (even by a deleted row), so any
// compare-and-swap keyed on the old grant's version loses. It sets
// c.Version.
func (s *Store) SaveConnection(ctx context.Context, c *mtdconnect.Connection, events ...*mtdconnect.Event) error {
	if err := errors.Join(checkConnectionText(c), checkEvents(events)); err != nil {
		return fmt.Errorf("postgres: save connection: %w", err)
	}
	err := s.withEvents(ctx, events, func(q querier) error {
		return q.QueryRow(ctx, `
		INSERT INTO connections (`+connectionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
			nextval('connection_version'), $17, $18)
		ON CONFLICT (user_id, purpose) DO UPDATE SET `+connectionSet("$12")+`
		RETURNING version`,
			connectionArgs(c)...,
		).Scan(&c.Version)
	})
	if err != nil {
		return wrap("save connection", err)
	}
	return nil
}

// UpdateConnection writes c only if the stored version is still c.Version,
// then sets c.Version to the new one. ErrConflict if the version moved on,
// ErrNotFound if the row is gone. last_used_at only moves forward:
// TouchConnection does not bump the version, so c may carry a use older than
// one recorded since c was read; c.LastUsedAt is set to what is stored.
func (s *Store) UpdateConnection(ctx context.Context, c *mtdconnect.Connection, events ...*mtdconnect.Event) error {
	if err := errors.Join(checkConnectionText(c), checkEvents(events)); err != nil {
		return fmt.Errorf("postgres: update connection: %w", err)
	}
	args := append(connectionArgs(c), c.Version)
	var (
		version  int64
		lastUsed *time.Time
	)
	err := s.withEvents(ctx, events, func(q querier) error {
		err := q.QueryRow(ctx, `
		UPDATE connections SET `+connectionSet("GREATEST(connections.last_used_at, $12)")+`
		WHERE user_id = $1 AND purpose = $2 AND version = $19
		RETURNING version, last_used_at`,
			args...,
		).Scan(&version, &lastUsed)
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		// No row matched: tell a lost race from a deleted row.
		var exists bool
		if err := q.QueryRow(ctx,
			`SELECT EXISTS (SELECT 1 FROM connections WHERE user_id = $1 AND purpose = $2)`,
			c.UserID, string(c.Purpose),
		).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return fmt.Errorf("version %d: %w", c.Version, mtdconnect.ErrConflict)
		}
		return mtdconnect.ErrNotFound
	})
	if err != nil {
		return wrap("update connection", err)
	}
	c.Version, c.LastUsedAt = version, utc(lastUsed)
	return nil
}

// TouchConnection records a use without bumping the version (a use is not a
// change a compare-and-swap should lose to). last_used_at never moves
// backwards, so touches racing each other keep the latest.
func (s *Store) TouchConnection(ctx context.Context, userID int64, purpose mtdconnect.Purpose, at time.Time) error {
	if err := mtdconnect.CheckText(string(purpose)); err != nil {
		return fmt.Errorf("postgres: touch connection: %w", err)
	}
	tag, err := s.pool.Exec(ctx,
		`UPDATE connections SET last_used_at = GREATEST(last_used_at, $3) WHERE user_id = $1 AND purpose = $2`,
		userID, string(purpose), ts(at))
	if err != nil {
		return wrap("touch connection", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: touch connection: %w", mtdconnect.ErrNotFound)
	}
	return nil
}

// DeleteConnection deletes the connection. ErrNotFound if there is none.
func (s *Store) DeleteConnection(ctx context.Context, userID int64, purpose mtdconnect.Purpose, events ...*mtdconnect.Event) error {
	if err := errors.Join(mtdconnect.CheckText(string(purpose)), checkEvents(events)); err != nil {
		return fmt.Errorf("postgres: delete connection: %w", err)
	}
	err := s.withEvents(ctx, events, func(q querier) error {
		tag, err := q.Exec(ctx,
			`DELETE FROM connections WHERE user_id = $1 AND purpose = $2`, userID, string(purpose))
		if err == nil && tag.RowsAffected() == 0 {
			err = mtdconnect.ErrNotFound
		}
		return err
	})
	if err != nil {
		return wrap("delete connection", err)
	}
	return nil
}

// DueConnections returns the connected connections whose access token
// expires in [q.ExpiresFrom, q.ExpiresBefore) and that were used at or after
// q.UsedSince, soonest expiry first, at most q.Limit of them (all if Limit
// is not positive). A zero ExpiresFrom or UsedSince is no bound; a zero
// ExpiresBefore is an empty window. The query is a range scan of the
// partial index connections_due, so it reads due rows only.
func (s *Store) DueConnections(ctx context.Context, q mtdconnect.DueQuery) ([]*mtdconnect.Connection, error) {
	if q.ExpiresBefore.IsZero() {
		return nil, nil
	}
	query, args := dueQuery(q)
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, wrap("due connections", err)
	}
	defer rows.Close()
	var due []*mtdconnect.Connection
	for rows.Next() {
		c, err := scanConnection(rows)
		if err != nil {
			return nil, wrap("due connections", err)
		}
		due = append(due, c)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("due connections", err)
	}
	return due, nil
}

// dueQuery builds the SQL of DueConnections. Zero bounds are left out of the
// text rather than passed as NULL, so that even a generic plan has index
// bounds to work with. status stays a literal so the partial index matches.
func dueQuery(q mtdconnect.DueQuery) (string, []any) {
	var (
		b    strings.Builder
		args []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	b.WriteString(`SELECT ` + connectionColumns + ` FROM connections WHERE status = 'connected'`)
	b.WriteString(` AND access_expires_at < ` + arg(ts(q.ExpiresBefore)))
	if !q.ExpiresFrom.IsZero() {
		b.WriteString(` AND access_expires_at >= ` + arg(ts(q.ExpiresFrom)))
	}
	if !q.UsedSince.IsZero() {
		b.WriteString(` AND last_used_at >= ` + arg(ts(q.UsedSince)))
	}
	b.WriteString(` ORDER BY access_expires_at, user_id, purpose`)
	if q.Limit > 0 {
		b.WriteString(` LIMIT ` + arg(q.Limit))
	}
	return b.String(), args
}

// InterruptedRefreshes implements mtdconnect.Store.
func (s *Store) InterruptedRefreshes(ctx context.Context, before time.Time, limit int) ([]*mtdconnect.Connection, error) {
	if limit <= 0 {
		limit = 1 << 30
	}
	rows, err := s.pool.Query(ctx, `SELECT `+connectionColumns+` FROM connections
		WHERE refresh_lease_owner <> '' AND refresh_lease_until < $1
		ORDER BY refresh_lease_until LIMIT $2`, ts(before), limit)
	if err != nil {
		return nil, wrap("interrupted refreshes", err)
	}
	defer rows.Close()
	var out []*mtdconnect.Connection
	for rows.Next() {
		c, err := scanConnection(rows)
		if err != nil {
			return nil, wrap("interrupted refreshes", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("interrupted refreshes", err)
	}
	return out, nil
}

// checkConnectionText refuses a connection with text no store can keep.
func checkConnectionText(c *mtdconnect.Connection) error {
	return mtdconnect.CheckText(string(c.Purpose), string(c.Status), c.Reason, c.Scopes, c.Environment,
		c.ClientID, c.RefreshLeaseOwner, c.LastError)
}
