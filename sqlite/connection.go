package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

// CreatePendingAuthorization implements mtdconnect.Store.
func (s *Store) CreatePendingAuthorization(ctx context.Context, p *mtdconnect.PendingAuthorization) error {
	if err := mtdconnect.CheckKey(p.State); err != nil {
		return fmt.Errorf("sqlite: create pending authorization: %w", err)
	}
	if err := mtdconnect.CheckText(string(p.Purpose), p.RedirectURI); err != nil {
		return fmt.Errorf("sqlite: create pending authorization: %w", err)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO pending_authorizations
		(state, user_id, purpose, verifier, redirect_uri, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		p.State, p.UserID, p.Purpose, p.Verifier, p.RedirectURI, ms(p.CreatedAt), ms(p.ExpiresAt))
	if isUnique(err) {
		err = mtdconnect.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("sqlite: create pending authorization: %w", err)
	}
	return nil
}

// PendingAuthorization implements mtdconnect.Store.
func (s *Store) PendingAuthorization(ctx context.Context, state string) (*mtdconnect.PendingAuthorization, error) {
	if err := mtdconnect.CheckKey(state); err != nil {
		return nil, fmt.Errorf("sqlite: pending authorization: %w", err)
	}
	var p mtdconnect.PendingAuthorization
	var created, expires int64
	err := s.db.QueryRowContext(ctx, `SELECT state, user_id, purpose, verifier, redirect_uri, created_at, expires_at
		FROM pending_authorizations WHERE state = ?`, state).
		Scan(&p.State, &p.UserID, &p.Purpose, &p.Verifier, &p.RedirectURI, &created, &expires)
	if err != nil {
		return nil, notFound("pending authorization", err)
	}
	p.CreatedAt, p.ExpiresAt = msTime(created), msTime(expires)
	return &p, nil
}

// DeletePendingAuthorization implements mtdconnect.Store. One DELETE is
// atomic, so of several concurrent callers only one sees a row affected.
func (s *Store) DeletePendingAuthorization(ctx context.Context, state string) error {
	if err := mtdconnect.CheckKey(state); err != nil {
		return fmt.Errorf("sqlite: delete pending authorization: %w", err)
	}
	res, err := s.db.ExecContext(ctx, `DELETE FROM pending_authorizations WHERE state = ?`, state)
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("sqlite: delete pending authorization: %w", err)
	}
	return nil
}

const connectionColumns = `user_id, purpose, status, reason, scopes, tokens, access_expires_at, granted_at,
	environment, client_id, last_refresh_at, last_used_at, refresh_lease_until, refresh_lease_owner,
	refresh_failures, last_error, version, created_at, updated_at`

func scanConnection(r scanner) (*mtdconnect.Connection, error) {
	var c mtdconnect.Connection
	var accessExpires, granted, lastRefresh, lastUsed, leaseUntil, created, updated int64
	err := r.Scan(&c.UserID, &c.Purpose, &c.Status, &c.Reason, &c.Scopes, &c.Tokens, &accessExpires, &granted,
		&c.Environment, &c.ClientID, &lastRefresh, &lastUsed, &leaseUntil, &c.RefreshLeaseOwner,
		&c.RefreshFailures, &c.LastError, &c.Version, &created, &updated)
	if err != nil {
		return nil, err
	}
	c.AccessExpiresAt = msTime(accessExpires)
	c.GrantedAt = msTime(granted)
	c.LastRefreshAt = msTime(lastRefresh)
	c.LastUsedAt = msTime(lastUsed)
	c.RefreshLeaseUntil = msTime(leaseUntil)
	c.CreatedAt = msTime(created)
	c.UpdatedAt = msTime(updated)
	return &c, nil
}

// Connection implements mtdconnect.Store.
func (s *Store) Connection(ctx context.Context, userID int64, purpose mtdconnect.Purpose) (*mtdconnect.Connection, error) {
	if err := mtdconnect.CheckText(string(purpose)); err != nil {
		return nil, fmt.Errorf("sqlite: connection: %w", err)
	}
	c, err := scanConnection(s.db.QueryRowContext(ctx, `SELECT `+connectionColumns+` FROM connections
		WHERE user_id = ? AND purpose = ?`, userID, purpose))
	return c, notFound("connection", err)
}

// nextVersion hands out connection versions from one counter, so a version
// never repeats for a connection even across delete and re-create.
func nextVersion(ctx context.Context, tx *sql.Tx) (int64, error) {
	var v int64
	err := tx.QueryRowContext(ctx, `UPDATE connection_version SET last = last + 1 RETURNING last`).Scan(&v)
	return v, err
}

// SaveConnection implements mtdconnect.Store. REPLACE is exactly "create or
// replace whole"; the fresh version makes any copy of the old row stale.
func (s *Store) SaveConnection(ctx context.Context, c *mtdconnect.Connection, events ...*mtdconnect.Event) error {
	if err := errors.Join(checkConnectionText(c), checkEvents(events)); err != nil {
		return fmt.Errorf("sqlite: save connection: %w", err)
	}
	var v int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if v, err = nextVersion(ctx, tx); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `REPLACE INTO connections (`+connectionColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.UserID, c.Purpose, c.Status, c.Reason, c.Scopes, c.Tokens, ms(c.AccessExpiresAt), ms(c.GrantedAt),
			c.Environment, c.ClientID, ms(c.LastRefreshAt), ms(c.LastUsedAt), ms(c.RefreshLeaseUntil),
			c.RefreshLeaseOwner, c.RefreshFailures, c.LastError, v, ms(c.CreatedAt), ms(c.UpdatedAt))
		if err != nil {
			return err
		}
		return insertEvents(ctx, tx, events)
	})
	if err != nil {
		return fmt.Errorf("sqlite: save connection: %w", err)
	}
	c.Version = v
	return nil
}

// UpdateConnection implements mtdconnect.Store. last_used_at only moves
// forward: TouchConnection does not bump the version, so c may carry a use
// time older than one recorded since c was read, and that use must not be
// lost (DueConnections relies on it). c.LastUsedAt is set to what is stored.
func (s *Store) UpdateConnection(ctx context.Context, c *mtdconnect.Connection, events ...*mtdconnect.Event) error {
	if err := errors.Join(checkConnectionText(c), checkEvents(events)); err != nil {
		return fmt.Errorf("sqlite: update connection: %w", err)
	}
	var v, lastUsed int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if v, err = nextVersion(ctx, tx); err != nil {
			return err
		}
		err = tx.QueryRowContext(ctx, `UPDATE connections SET
			status = ?, reason = ?, scopes = ?, tokens = ?, access_expires_at = ?, granted_at = ?,
			environment = ?, client_id = ?, last_refresh_at = ?, last_used_at = max(last_used_at, ?),
			refresh_lease_until = ?, refresh_lease_owner = ?, refresh_failures = ?, last_error = ?,
			version = ?, created_at = ?, updated_at = ?
			WHERE user_id = ? AND purpose = ? AND version = ?
			RETURNING last_used_at`,
			c.Status, c.Reason, c.Scopes, c.Tokens, ms(c.AccessExpiresAt), ms(c.GrantedAt),
			c.Environment, c.ClientID, ms(c.LastRefreshAt), ms(c.LastUsedAt),
			ms(c.RefreshLeaseUntil), c.RefreshLeaseOwner, c.RefreshFailures, c.LastError,
			v, ms(c.CreatedAt), ms(c.UpdatedAt),
			c.UserID, c.Purpose, c.Version).Scan(&lastUsed)
		if err == nil {
			return insertEvents(ctx, tx, events)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		// Nothing matched: the row is gone, or its version moved on. The
		// write lock is held, so the answer cannot change under us.
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM connections
			WHERE user_id = ? AND purpose = ?)`, c.UserID, c.Purpose).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return mtdconnect.ErrConflict
		}
		return mtdconnect.ErrNotFound
	})
	if err != nil {
		return fmt.Errorf("sqlite: update connection: %w", err)
	}
	c.Version, c.LastUsedAt = v, msTime(lastUsed)
	return nil
}

// TouchConnection implements mtdconnect.Store. Like UpdateConnection it never
// moves last_used_at backwards, so touches racing each other keep the latest.
func (s *Store) TouchConnection(ctx context.Context, userID int64, purpose mtdconnect.Purpose, at time.Time) error {
	if err := mtdconnect.CheckText(string(purpose)); err != nil {
		return fmt.Errorf("sqlite: touch connection: %w", err)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE connections SET last_used_at = max(last_used_at, ?)
		WHERE user_id = ? AND purpose = ?`, ms(at), userID, purpose)
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("sqlite: touch connection: %w", err)
	}
	return nil
}

// DeleteConnection implements mtdconnect.Store.
func (s *Store) DeleteConnection(ctx context.Context, userID int64, purpose mtdconnect.Purpose, events ...*mtdconnect.Event) error {
	if err := errors.Join(mtdconnect.CheckText(string(purpose)), checkEvents(events)); err != nil {
		return fmt.Errorf("sqlite: delete connection: %w", err)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM connections WHERE user_id = ? AND purpose = ?`, userID, purpose)
		if err == nil {
			err = affected(res)
		}
		if err != nil {
			return err
		}
		return insertEvents(ctx, tx, events)
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete connection: %w", err)
	}
	return nil
}

// dueQuery walks the partial index connections_due over the expiry window
// only, in index order, so LIMIT stops the walk early and rows outside the
// window (or not connected) are never visited. status must stay a literal
// for the planner to match the partial index.
const dueQuery = `SELECT ` + connectionColumns + ` FROM connections
	WHERE status = 'connected' AND access_expires_at >= ? AND access_expires_at < ? AND last_used_at >= ?
	ORDER BY access_expires_at
	LIMIT ?`

// DueConnections implements mtdconnect.Store. A Limit of 0 or less means
// no limit.
func (s *Store) DueConnections(ctx context.Context, q mtdconnect.DueQuery) ([]*mtdconnect.Connection, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.db.QueryContext(ctx, dueQuery, ms(q.ExpiresFrom), ms(q.ExpiresBefore), ms(q.UsedSince), limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: due connections: %w", err)
	}
	defer rows.Close()
	var due []*mtdconnect.Connection
	for rows.Next() {
		c, err := scanConnection(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: due connections: %w", err)
		}
		due = append(due, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: due connections: %w", err)
	}
	return due, nil
}

// AppendAudit implements mtdconnect.Store.
func (s *Store) AppendAudit(ctx context.Context, e *mtdconnect.AuditEvent) error {
	if err := mtdconnect.CheckText(string(e.Purpose), e.Kind, e.Detail); err != nil {
		return fmt.Errorf("sqlite: append audit: %w", err)
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO audit_events (user_id, purpose, kind, detail, at)
		VALUES (?, ?, ?, ?, ?)`, e.UserID, e.Purpose, e.Kind, e.Detail, ms(e.At))
	var id int64
	if err == nil {
		id, err = res.LastInsertId()
	}
	if err != nil {
		return fmt.Errorf("sqlite: append audit: %w", err)
	}
	e.ID = id
	return nil
}

// Audit implements mtdconnect.Store. A limit of 0 or less means no limit.
func (s *Store) Audit(ctx context.Context, userID int64, limit int) ([]*mtdconnect.AuditEvent, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, user_id, purpose, kind, detail, at FROM audit_events
		WHERE user_id = ? ORDER BY id DESC LIMIT ?`, userID, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: audit: %w", err)
	}
	defer rows.Close()
	var events []*mtdconnect.AuditEvent
	for rows.Next() {
		var e mtdconnect.AuditEvent
		var at int64
		if err := rows.Scan(&e.ID, &e.UserID, &e.Purpose, &e.Kind, &e.Detail, &at); err != nil {
			return nil, fmt.Errorf("sqlite: audit: %w", err)
		}
		e.At = msTime(at)
		events = append(events, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: audit: %w", err)
	}
	return events, nil
}

// InterruptedRefreshes implements mtdconnect.Store.
func (s *Store) InterruptedRefreshes(ctx context.Context, before time.Time, limit int) ([]*mtdconnect.Connection, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+connectionColumns+` FROM connections
		WHERE refresh_lease_owner <> '' AND refresh_lease_until < ?
		ORDER BY refresh_lease_until LIMIT ?`, ms(before), limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: interrupted refreshes: %w", err)
	}
	defer rows.Close()
	var out []*mtdconnect.Connection
	for rows.Next() {
		c, err := scanConnection(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: interrupted refreshes: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: interrupted refreshes: %w", err)
	}
	return out, nil
}

// checkConnectionText refuses a connection with text no store can keep.
func checkConnectionText(c *mtdconnect.Connection) error {
	return mtdconnect.CheckText(string(c.Purpose), string(c.Status), c.Reason, c.Scopes, c.Environment,
		c.ClientID, c.RefreshLeaseOwner, c.LastError)
}
