package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

const connectColumns = `id, token_hash, user_id, purpose, return_url, display, status, error, created_by, state, browser_hash,
	created_at, expires_at, started_at, finished_at`

func scanConnectSession(row interface{ Scan(...any) error }) (*mtdconnect.ConnectSession, error) {
	var cs mtdconnect.ConnectSession
	var started, finished *time.Time
	if err := row.Scan(&cs.ID, &cs.TokenHash, &cs.UserID, (*string)(&cs.Purpose), &cs.ReturnURL, &cs.Display, (*string)(&cs.Status), &cs.Error,
		&cs.CreatedBy, &cs.State, &cs.BrowserHash, &cs.CreatedAt, &cs.ExpiresAt, &started, &finished); err != nil {
		return nil, err
	}
	if len(cs.BrowserHash) == 0 {
		cs.BrowserHash = nil
	}
	cs.CreatedAt, cs.ExpiresAt, cs.StartedAt, cs.FinishedAt = cs.CreatedAt.UTC(), cs.ExpiresAt.UTC(), utc(started), utc(finished)
	return &cs, nil
}

// CreateConnectSession stores cs. ErrConflict if its ID or token hash is
// taken, ErrNotFound if its user does not exist.
func (s *Store) CreateConnectSession(ctx context.Context, cs *mtdconnect.ConnectSession) error {
	if err := mtdconnect.CheckKey(cs.ID, cs.State); err != nil {
		return fmt.Errorf("postgres: create connect session: %w", err)
	}
	if err := mtdconnect.CheckText(string(cs.Purpose), cs.ReturnURL, cs.Display, string(cs.Status), cs.Error); err != nil {
		return fmt.Errorf("postgres: create connect session: %w", err)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO connect_sessions (`+connectColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		cs.ID, cs.TokenHash, cs.UserID, string(cs.Purpose), cs.ReturnURL, cs.Display, string(cs.Status), cs.Error, cs.CreatedBy,
		cs.State, nonNil(cs.BrowserHash), ts(cs.CreatedAt), ts(cs.ExpiresAt), ts(cs.StartedAt), ts(cs.FinishedAt))
	if err != nil {
		return wrap("create connect session", err)
	}
	return nil
}

func (s *Store) connectSession(ctx context.Context, what, where string, arg any) (*mtdconnect.ConnectSession, error) {
	cs, err := scanConnectSession(s.pool.QueryRow(ctx, `SELECT `+connectColumns+` FROM connect_sessions WHERE `+where+` = $1`, arg))
	if err != nil {
		return nil, wrap(what, err)
	}
	return cs, nil
}

func (s *Store) ConnectSession(ctx context.Context, id string) (*mtdconnect.ConnectSession, error) {
	if err := mtdconnect.CheckKey(id); err != nil {
		return nil, fmt.Errorf("postgres: connect session: %w", err)
	}
	return s.connectSession(ctx, "connect session", "id", id)
}

func (s *Store) ConnectSessionByToken(ctx context.Context, tokenHash []byte) (*mtdconnect.ConnectSession, error) {
	return s.connectSession(ctx, "connect session by token", "token_hash", tokenHash)
}

func (s *Store) ConnectSessionByState(ctx context.Context, state string) (*mtdconnect.ConnectSession, error) {
	if err := mtdconnect.CheckKey(state); err != nil {
		return nil, fmt.Errorf("postgres: connect session by state: %w", err)
	}
	if state == "" {
		return nil, fmt.Errorf("postgres: connect session by state: %w", mtdconnect.ErrNotFound)
	}
	return s.connectSession(ctx, "connect session by state", "state", state)
}

// connectStateError tells why a conditional write of session id matched
// no row.
func (s *Store) connectStateError(ctx context.Context, op, id string) error {
	var one int
	if err := s.pool.QueryRow(ctx, `SELECT 1 FROM connect_sessions WHERE id = $1`, id).Scan(&one); err != nil {
		return wrap(op, err)
	}
	return fmt.Errorf("postgres: %s: %w", op, mtdconnect.ErrConflict)
}

// StartConnectSession: one conditional UPDATE, so of racers one wins.
func (s *Store) StartConnectSession(ctx context.Context, id, state string, browserHash []byte, at time.Time) error {
	if err := mtdconnect.CheckKey(id, state); err != nil {
		return fmt.Errorf("postgres: start connect session: %w", err)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE connect_sessions SET state = $2, browser_hash = $3, started_at = $4
		WHERE id = $1 AND status = 'pending' AND state = ''`, id, state, nonNil(browserHash), ts(at))
	if err != nil {
		return wrap("start connect session", err)
	}
	if tag.RowsAffected() == 0 {
		return s.connectStateError(ctx, "start connect session", id)
	}
	return nil
}

// FinishConnectSession: one conditional UPDATE; the first outcome stands.
func (s *Store) FinishConnectSession(ctx context.Context, id string, status mtdconnect.ConnectSessionStatus, errCode string, at time.Time) error {
	if err := mtdconnect.CheckKey(id); err != nil {
		return fmt.Errorf("postgres: finish connect session: %w", err)
	}
	if err := mtdconnect.CheckText(string(status), errCode); err != nil {
		return fmt.Errorf("postgres: finish connect session: %w", err)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE connect_sessions SET status = $2, error = $3, finished_at = $4
		WHERE id = $1 AND status = 'pending'`, id, string(status), errCode, ts(at))
	if err != nil {
		return wrap("finish connect session", err)
	}
	if tag.RowsAffected() == 0 {
		return s.connectStateError(ctx, "finish connect session", id)
	}
	return nil
}

func (s *Store) ReturnURLs(ctx context.Context) ([]*mtdconnect.AllowedReturnURL, error) {
	rows, err := s.pool.Query(ctx, `SELECT url, added_by, added_at FROM return_urls ORDER BY url`)
	if err != nil {
		return nil, wrap("return urls", err)
	}
	defer rows.Close()
	var out []*mtdconnect.AllowedReturnURL
	for rows.Next() {
		var u mtdconnect.AllowedReturnURL
		if err := rows.Scan(&u.URL, &u.AddedBy, &u.AddedAt); err != nil {
			return nil, wrap("return urls", err)
		}
		u.AddedAt = u.AddedAt.UTC()
		out = append(out, &u)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("return urls", err)
	}
	return out, nil
}

func (s *Store) AddReturnURL(ctx context.Context, u *mtdconnect.AllowedReturnURL) error {
	if err := mtdconnect.CheckKey(u.URL); err != nil {
		return fmt.Errorf("postgres: add return url: %w", err)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO return_urls (url, added_by, added_at) VALUES ($1, $2, $3)`, u.URL, u.AddedBy, ts(u.AddedAt))
	if err != nil {
		return wrap("add return url", err)
	}
	return nil
}

func (s *Store) RemoveReturnURL(ctx context.Context, url string) error {
	if err := mtdconnect.CheckKey(url); err != nil {
		return fmt.Errorf("postgres: remove return url: %w", err)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM return_urls WHERE url = $1`, url)
	if err != nil {
		return wrap("remove return url", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: remove return url: %w", mtdconnect.ErrNotFound)
	}
	return nil
}
