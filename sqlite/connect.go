package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

const connectColumns = `id, token_hash, user_id, purpose, return_url, display, status, error, created_by, state, browser_hash,
	created_at, expires_at, started_at, finished_at`

func scanConnectSession(r scanner) (*mtdconnect.ConnectSession, error) {
	var cs mtdconnect.ConnectSession
	var created, expires, started, finished int64
	if err := r.Scan(&cs.ID, &cs.TokenHash, &cs.UserID, (*string)(&cs.Purpose), &cs.ReturnURL, &cs.Display, (*string)(&cs.Status), &cs.Error,
		&cs.CreatedBy, &cs.State, &cs.BrowserHash, &created, &expires, &started, &finished); err != nil {
		return nil, err
	}
	if len(cs.BrowserHash) == 0 {
		cs.BrowserHash = nil
	}
	cs.CreatedAt, cs.ExpiresAt, cs.StartedAt, cs.FinishedAt = msTime(created), msTime(expires), msTime(started), msTime(finished)
	return &cs, nil
}

// CreateConnectSession implements mtdconnect.Store.
func (s *Store) CreateConnectSession(ctx context.Context, cs *mtdconnect.ConnectSession) error {
	if err := mtdconnect.CheckKey(cs.ID, cs.State); err != nil {
		return fmt.Errorf("sqlite: create connect session: %w", err)
	}
	if err := mtdconnect.CheckText(string(cs.Purpose), cs.ReturnURL, cs.Display, string(cs.Status), cs.Error); err != nil {
		return fmt.Errorf("sqlite: create connect session: %w", err)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO connect_sessions (`+connectColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		cs.ID, cs.TokenHash, cs.UserID, string(cs.Purpose), cs.ReturnURL, cs.Display, string(cs.Status), cs.Error, cs.CreatedBy,
		cs.State, nonNil(cs.BrowserHash), ms(cs.CreatedAt), ms(cs.ExpiresAt), ms(cs.StartedAt), ms(cs.FinishedAt))
	switch {
	case isUnique(err):
		err = mtdconnect.ErrConflict
	case isForeignKey(err):
		err = mtdconnect.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("sqlite: create connect session: %w", err)
	}
	return nil
}

func (s *Store) connectSession(ctx context.Context, what, where string, arg any) (*mtdconnect.ConnectSession, error) {
	cs, err := scanConnectSession(s.db.QueryRowContext(ctx, `SELECT `+connectColumns+` FROM connect_sessions WHERE `+where+` = ?`, arg))
	return cs, notFound(what, err)
}

// ConnectSession implements mtdconnect.Store.
func (s *Store) ConnectSession(ctx context.Context, id string) (*mtdconnect.ConnectSession, error) {
	if err := mtdconnect.CheckKey(id); err != nil {
		return nil, fmt.Errorf("sqlite: connect session: %w", err)
	}
	return s.connectSession(ctx, "connect session", "id", id)
}

// ConnectSessionByToken implements mtdconnect.Store.
func (s *Store) ConnectSessionByToken(ctx context.Context, tokenHash []byte) (*mtdconnect.ConnectSession, error) {
	return s.connectSession(ctx, "connect session by token", "token_hash", tokenHash)
}

// ConnectSessionByState implements mtdconnect.Store.
func (s *Store) ConnectSessionByState(ctx context.Context, state string) (*mtdconnect.ConnectSession, error) {
	if err := mtdconnect.CheckKey(state); err != nil {
		return nil, fmt.Errorf("sqlite: connect session by state: %w", err)
	}
	if state == "" {
		return nil, fmt.Errorf("sqlite: connect session by state: %w", mtdconnect.ErrNotFound)
	}
	return s.connectSession(ctx, "connect session by state", "state", state)
}

// connectStateError tells why a conditional write of session id matched
// no row.
func (s *Store) connectStateError(ctx context.Context, id string) error {
	var one int
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM connect_sessions WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return mtdconnect.ErrNotFound
	}
	if err != nil {
		return err
	}
	return mtdconnect.ErrConflict
}

// StartConnectSession implements mtdconnect.Store.
func (s *Store) StartConnectSession(ctx context.Context, id, state string, browserHash []byte, at time.Time) error {
	if err := mtdconnect.CheckKey(id, state); err != nil {
		return fmt.Errorf("sqlite: start connect session: %w", err)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE connect_sessions SET state = ?, browser_hash = ?, started_at = ?
		WHERE id = ? AND status = 'pending' AND state = ''`, state, nonNil(browserHash), ms(at), id)
	if isUnique(err) {
		err = mtdconnect.ErrConflict
	}
	if err == nil {
		if err = affected(res); errors.Is(err, mtdconnect.ErrNotFound) {
			err = s.connectStateError(ctx, id)
		}
	}
	if err != nil {
		return fmt.Errorf("sqlite: start connect session: %w", err)
	}
	return nil
}

// FinishConnectSession implements mtdconnect.Store.
func (s *Store) FinishConnectSession(ctx context.Context, id string, status mtdconnect.ConnectSessionStatus, errCode string, at time.Time) error {
	if err := mtdconnect.CheckKey(id); err != nil {
		return fmt.Errorf("sqlite: finish connect session: %w", err)
	}
	if err := mtdconnect.CheckText(string(status), errCode); err != nil {
		return fmt.Errorf("sqlite: finish connect session: %w", err)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE connect_sessions SET status = ?, error = ?, finished_at = ?
		WHERE id = ? AND status = 'pending'`, string(status), errCode, ms(at), id)
	if err == nil {
		if err = affected(res); errors.Is(err, mtdconnect.ErrNotFound) {
			err = s.connectStateError(ctx, id)
		}
	}
	if err != nil {
		return fmt.Errorf("sqlite: finish connect session: %w", err)
	}
	return nil
}

// ReturnURLs implements mtdconnect.Store.
func (s *Store) ReturnURLs(ctx context.Context) ([]*mtdconnect.AllowedReturnURL, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT url, added_by, added_at FROM return_urls ORDER BY url`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: return urls: %w", err)
	}
	defer rows.Close()
	var out []*mtdconnect.AllowedReturnURL
	for rows.Next() {
		var u mtdconnect.AllowedReturnURL
		var at int64
		if err := rows.Scan(&u.URL, &u.AddedBy, &at); err != nil {
			return nil, fmt.Errorf("sqlite: return urls: %w", err)
		}
		u.AddedAt = msTime(at)
		out = append(out, &u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: return urls: %w", err)
	}
	return out, nil
}

// AddReturnURL implements mtdconnect.Store.
func (s *Store) AddReturnURL(ctx context.Context, u *mtdconnect.AllowedReturnURL) error {
	if err := mtdconnect.CheckKey(u.URL); err != nil {
		return fmt.Errorf("sqlite: add return url: %w", err)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO return_urls (url, added_by, added_at) VALUES (?, ?, ?)`, u.URL, u.AddedBy, ms(u.AddedAt))
	if isUnique(err) {
		err = mtdconnect.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("sqlite: add return url: %w", err)
	}
	return nil
}

// RemoveReturnURL implements mtdconnect.Store.
func (s *Store) RemoveReturnURL(ctx context.Context, url string) error {
	if err := mtdconnect.CheckKey(url); err != nil {
		return fmt.Errorf("sqlite: remove return url: %w", err)
	}
	res, err := s.db.ExecContext(ctx, `DELETE FROM return_urls WHERE url = ?`, url)
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("sqlite: remove return url: %w", err)
	}
	return nil
}
