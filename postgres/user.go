package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

const userColumns = `id, email, password_hash, nino, vrn, admin, totp_secret, totp_last_step, created_at`

func scanUser(row interface{ Scan(...any) error }) (*mtdconnect.User, error) {
	var u mtdconnect.User
	if err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.NINO, &u.VRN, &u.Admin, &u.TOTPSecret, &u.TOTPLastStep, &u.CreatedAt); err != nil {
		return nil, err
	}
	u.CreatedAt = u.CreatedAt.UTC()
	if len(u.TOTPSecret) == 0 {
		u.TOTPSecret = nil // none enrolled reads back as it was written
	}
	return &u, nil
}

// CreateUser inserts u and sets its ID and CreatedAt (from s.Now).
// ErrConflict if the email is taken.
func (s *Store) CreateUser(ctx context.Context, u *mtdconnect.User) error {
	if err := mtdconnect.CheckKey(u.Email); err != nil {
		return fmt.Errorf("postgres: create user: %w", err)
	}
	if err := mtdconnect.CheckText(u.PasswordHash, u.NINO, u.VRN); err != nil {
		return fmt.Errorf("postgres: create user: %w", err)
	}
	created := ts(s.now())
	err := s.pool.QueryRow(ctx, `
		INSERT INTO users (email, password_hash, nino, vrn, admin, totp_secret, totp_last_step, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		RETURNING id`,
		u.Email, u.PasswordHash, u.NINO, u.VRN, u.Admin, nonNil(u.TOTPSecret), u.TOTPLastStep, created,
	).Scan(&u.ID)
	if err != nil {
		return wrap("create user", err)
	}
	u.CreatedAt = *created
	return nil
}

func (s *Store) UserByID(ctx context.Context, id int64) (*mtdconnect.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if err != nil {
		return nil, wrap("user by id", err)
	}
	return u, nil
}

func (s *Store) UserByEmail(ctx context.Context, email string) (*mtdconnect.User, error) {
	if err := mtdconnect.CheckKey(email); err != nil {
		return nil, fmt.Errorf("postgres: user by email: %w", err)
	}
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email = $1`, email))
	if err != nil {
		return nil, wrap("user by email", err)
	}
	return u, nil
}

// UpdateUser writes u's email, password hash, NINO, VRN and admin flag.
// ErrNotFound if the user is gone, ErrConflict if the email is taken.
func (s *Store) UpdateUser(ctx context.Context, u *mtdconnect.User) error {
	if err := mtdconnect.CheckKey(u.Email); err != nil {
		return fmt.Errorf("postgres: update user: %w", err)
	}
	if err := mtdconnect.CheckText(u.PasswordHash, u.NINO, u.VRN); err != nil {
		return fmt.Errorf("postgres: update user: %w", err)
	}
	tag, err := s.pool.Exec(ctx, `
		UPDATE users SET email = $2, password_hash = $3, nino = $4, vrn = $5, admin = $6
		WHERE id = $1`,
		u.ID, u.Email, u.PasswordHash, u.NINO, u.VRN, u.Admin)
	if err != nil {
		return wrap("update user", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: update user: %w", mtdconnect.ErrNotFound)
	}
	return nil
}

func (s *Store) CreateSession(ctx context.Context, sess *mtdconnect.Session) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO sessions (token_hash, user_id, mfa_at, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)`,
		sess.TokenHash, sess.UserID, ts(sess.MFAAt), ts(sess.CreatedAt), ts(sess.ExpiresAt))
	if err != nil {
		return wrap("create session", err)
	}
	return nil
}

func (s *Store) SessionByHash(ctx context.Context, hash []byte) (*mtdconnect.Session, error) {
	var (
		sess                      mtdconnect.Session
		mfaAt, created, expiresAt *time.Time
	)
	err := s.pool.QueryRow(ctx, `
		SELECT token_hash, user_id, mfa_at, created_at, expires_at
		FROM sessions WHERE token_hash = $1`, hash,
	).Scan(&sess.TokenHash, &sess.UserID, &mfaAt, &created, &expiresAt)
	if err != nil {
		return nil, wrap("session by hash", err)
	}
	sess.MFAAt, sess.CreatedAt, sess.ExpiresAt = utc(mfaAt), utc(created), utc(expiresAt)
	return &sess, nil
}

// DeleteSession deletes the session. ErrNotFound if there is none.
func (s *Store) DeleteSession(ctx context.Context, hash []byte) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE token_hash = $1`, hash)
	if err != nil {
		return wrap("delete session", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: delete session: %w", mtdconnect.ErrNotFound)
	}
	return nil
}

// CreateAPIKey inserts k and sets its ID and CreatedAt (from s.Now).
// ErrConflict if the hash exists.
func (s *Store) CreateAPIKey(ctx context.Context, k *mtdconnect.APIKey) error {
	if err := mtdconnect.CheckText(k.Name); err != nil {
		return fmt.Errorf("postgres: create api key: %w", err)
	}
	created := ts(s.now())
	err := s.pool.QueryRow(ctx, `
		INSERT INTO api_keys (name, hash, created_at) VALUES ($1, $2, $3)
		RETURNING id`,
		k.Name, k.Hash, created,
	).Scan(&k.ID)
	if err != nil {
		return wrap("create api key", err)
	}
	k.CreatedAt = *created
	return nil
}

func (s *Store) APIKeyByHash(ctx context.Context, hash []byte) (*mtdconnect.APIKey, error) {
	var k mtdconnect.APIKey
	err := s.pool.QueryRow(ctx, `SELECT id, name, hash, created_at FROM api_keys WHERE hash = $1`, hash).
		Scan(&k.ID, &k.Name, &k.Hash, &k.CreatedAt)
	if err != nil {
		return nil, wrap("api key by hash", err)
	}
	k.CreatedAt = k.CreatedAt.UTC()
	return &k, nil
}

// CreatePendingAuthorization inserts p. ErrConflict if its state exists.
func (s *Store) CreatePendingAuthorization(ctx context.Context, p *mtdconnect.PendingAuthorization) error {
	if err := mtdconnect.CheckKey(p.State); err != nil {
		return fmt.Errorf("postgres: create pending authorization: %w", err)
	}
	if err := mtdconnect.CheckText(string(p.Purpose), p.RedirectURI); err != nil {
		return fmt.Errorf("postgres: create pending authorization: %w", err)
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO pending_authorizations (state, user_id, purpose, verifier, redirect_uri, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		p.State, p.UserID, string(p.Purpose), p.Verifier, p.RedirectURI, ts(p.CreatedAt), ts(p.ExpiresAt))
	if err != nil {
		return wrap("create pending authorization", err)
	}
	return nil
}

func (s *Store) PendingAuthorization(ctx context.Context, state string) (*mtdconnect.PendingAuthorization, error) {
	if err := mtdconnect.CheckKey(state); err != nil {
		return nil, fmt.Errorf("postgres: pending authorization: %w", err)
	}
	var (
		p                  mtdconnect.PendingAuthorization
		created, expiresAt *time.Time
	)
	err := s.pool.QueryRow(ctx, `
		SELECT state, user_id, purpose, verifier, redirect_uri, created_at, expires_at
		FROM pending_authorizations WHERE state = $1`, state,
	).Scan(&p.State, &p.UserID, (*string)(&p.Purpose), &p.Verifier, &p.RedirectURI, &created, &expiresAt)
	if err != nil {
		return nil, wrap("pending authorization", err)
	}
	p.CreatedAt, p.ExpiresAt = utc(created), utc(expiresAt)
	return &p, nil
}

// DeletePendingAuthorization consumes the pending authorisation: one DELETE,
// so of several concurrent callers exactly one sees the row go and gets nil;
// the others get ErrNotFound.
func (s *Store) DeletePendingAuthorization(ctx context.Context, state string) error {
	if err := mtdconnect.CheckKey(state); err != nil {
		return fmt.Errorf("postgres: delete pending authorization: %w", err)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM pending_authorizations WHERE state = $1`, state)
	if err != nil {
		return wrap("delete pending authorization", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: delete pending authorization: %w", mtdconnect.ErrNotFound)
	}
	return nil
}

// UseTOTPStep records step as the last accepted TOTP step, only if it is
// later than the stored one; ErrConflict otherwise.
func (s *Store) UseTOTPStep(ctx context.Context, userID, step int64) error {
	tag, err := s.pool.Exec(ctx, `UPDATE users SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2`,
		userID, step)
	if err != nil {
		return wrap("use totp step", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: use totp step: %w", mtdconnect.ErrConflict)
	}
	return nil
}

// SetTOTP enrols (sealed non-empty) or removes the user's authenticator
// app. ErrNotFound if the user is gone.
func (s *Store) SetTOTP(ctx context.Context, userID int64, sealed []byte, lastStep int64) error {
	tag, err := s.pool.Exec(ctx, `UPDATE users SET totp_secret = $2, totp_last_step = $3 WHERE id = $1`,
		userID, nonNil(sealed), lastStep)
	if err != nil {
		return wrap("set totp", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: set totp: %w", mtdconnect.ErrNotFound)
	}
	return nil
}
