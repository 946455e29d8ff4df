package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/mtdconnect/mtdconnect"
)

const userColumns = `id, email, password_hash, nino, vrn, admin, totp_secret, totp_last_step, created_at`

func scanUser(r scanner) (*mtdconnect.User, error) {
	var u mtdconnect.User
	var created int64
	if err := r.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.NINO, &u.VRN, &u.Admin, &u.TOTPSecret, &u.TOTPLastStep, &created); err != nil {
		return nil, err
	}
	u.CreatedAt = msTime(created)
	if len(u.TOTPSecret) == 0 {
		u.TOTPSecret = nil // none enrolled reads back as it was written
	}
	return &u, nil
}

// CreateUser implements mtdconnect.Store.
func (s *Store) CreateUser(ctx context.Context, u *mtdconnect.User) error {
	if err := mtdconnect.CheckKey(u.Email); err != nil {
		return fmt.Errorf("sqlite: create user: %w", err)
	}
	if err := mtdconnect.CheckText(u.PasswordHash, u.NINO, u.VRN); err != nil {
		return fmt.Errorf("sqlite: create user: %w", err)
	}
	created := now()
	res, err := s.db.ExecContext(ctx, `INSERT INTO users (email, password_hash, nino, vrn, admin, totp_secret, totp_last_step, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, u.Email, u.PasswordHash, u.NINO, u.VRN, u.Admin, nonNil(u.TOTPSecret), u.TOTPLastStep, ms(created))
	if isUnique(err) {
		return fmt.Errorf("sqlite: create user: email in use: %w", mtdconnect.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("sqlite: create user: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("sqlite: create user: %w", err)
	}
	u.ID, u.CreatedAt = id, created
	return nil
}

// UserByID implements mtdconnect.Store.
func (s *Store) UserByID(ctx context.Context, id int64) (*mtdconnect.User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	return u, notFound("user by id", err)
}

// UserByEmail implements mtdconnect.Store.
func (s *Store) UserByEmail(ctx context.Context, email string) (*mtdconnect.User, error) {
	if err := mtdconnect.CheckKey(email); err != nil {
		return nil, fmt.Errorf("sqlite: user by email: %w", err)
	}
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE email = ?`, email))
	return u, notFound("user by email", err)
}

// UpdateUser implements mtdconnect.Store.
func (s *Store) UpdateUser(ctx context.Context, u *mtdconnect.User) error {
	if err := mtdconnect.CheckKey(u.Email); err != nil {
		return fmt.Errorf("sqlite: update user: %w", err)
	}
	if err := mtdconnect.CheckText(u.PasswordHash, u.NINO, u.VRN); err != nil {
		return fmt.Errorf("sqlite: update user: %w", err)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE users SET email = ?, password_hash = ?, nino = ?, vrn = ?, admin = ?
		WHERE id = ?`, u.Email, u.PasswordHash, u.NINO, u.VRN, u.Admin, u.ID)
	if isUnique(err) {
		return fmt.Errorf("sqlite: update user: email in use: %w", mtdconnect.ErrConflict)
	}
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("sqlite: update user: %w", err)
	}
	return nil
}

// CreateSession implements mtdconnect.Store.
func (s *Store) CreateSession(ctx context.Context, sess *mtdconnect.Session) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO sessions (token_hash, user_id, mfa_at, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?)`, sess.TokenHash, sess.UserID, ms(sess.MFAAt), ms(sess.CreatedAt), ms(sess.ExpiresAt))
	if isUnique(err) {
		err = mtdconnect.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("sqlite: create session: %w", err)
	}
	return nil
}

// SessionByHash implements mtdconnect.Store.
func (s *Store) SessionByHash(ctx context.Context, hash []byte) (*mtdconnect.Session, error) {
	var sess mtdconnect.Session
	var mfa, created, expires int64
	err := s.db.QueryRowContext(ctx, `SELECT token_hash, user_id, mfa_at, created_at, expires_at
		FROM sessions WHERE token_hash = ?`, hash).
		Scan(&sess.TokenHash, &sess.UserID, &mfa, &created, &expires)
	if err != nil {
		return nil, notFound("session by hash", err)
	}
	sess.MFAAt, sess.CreatedAt, sess.ExpiresAt = msTime(mfa), msTime(created), msTime(expires)
	return &sess, nil
}

// DeleteSession implements mtdconnect.Store.
func (s *Store) DeleteSession(ctx context.Context, hash []byte) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = ?`, hash)
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("sqlite: delete session: %w", err)
	}
	return nil
}

// CreateAPIKey implements mtdconnect.Store.
func (s *Store) CreateAPIKey(ctx context.Context, k *mtdconnect.APIKey) error {
	if err := mtdconnect.CheckText(k.Name); err != nil {
		return fmt.Errorf("sqlite: create api key: %w", err)
	}
	created := now()
	res, err := s.db.ExecContext(ctx, `INSERT INTO api_keys (name, hash, created_at) VALUES (?, ?, ?)`,
		k.Name, k.Hash, ms(created))
	if isUnique(err) {
		err = mtdconnect.ErrConflict
	}
	var id int64
	if err == nil {
		id, err = res.LastInsertId()
	}
	if err != nil {
		return fmt.Errorf("sqlite: create api key: %w", err)
	}
	k.ID, k.CreatedAt = id, created
	return nil
}

// APIKeyByHash implements mtdconnect.Store.
func (s *Store) APIKeyByHash(ctx context.Context, hash []byte) (*mtdconnect.APIKey, error) {
	var k mtdconnect.APIKey
	var created int64
	err := s.db.QueryRowContext(ctx, `SELECT id, name, hash, created_at FROM api_keys WHERE hash = ?`, hash).
		Scan(&k.ID, &k.Name, &k.Hash, &created)
	if err != nil {
		return nil, notFound("api key by hash", err)
	}
	k.CreatedAt = msTime(created)
	return &k, nil
}

// notFound wraps a lookup's error with what was looked up, turning
// sql.ErrNoRows into ErrNotFound. It returns nil for a nil err.
func notFound(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlite: %s: %w", what, mtdconnect.ErrNotFound)
	default:
		return fmt.Errorf("sqlite: %s: %w", what, err)
	}
}

// UseTOTPStep implements mtdconnect.Store.
func (s *Store) UseTOTPStep(ctx context.Context, userID, step int64) error {
	res, err := s.db.ExecContext(ctx, `UPDATE users SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?`,
		step, userID, step)
	if err == nil {
		if err = affected(res); errors.Is(err, mtdconnect.ErrNotFound) {
			err = mtdconnect.ErrConflict
		}
	}
	if err != nil {
		return fmt.Errorf("sqlite: use totp step: %w", err)
	}
	return nil
}

// SetTOTP implements mtdconnect.Store.
func (s *Store) SetTOTP(ctx context.Context, userID int64, sealed []byte, lastStep int64) error {
	res, err := s.db.ExecContext(ctx, `UPDATE users SET totp_secret = ?, totp_last_step = ? WHERE id = ?`,
		nonNil(sealed), lastStep, userID)
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("sqlite: set totp: %w", err)
	}
	return nil
}
