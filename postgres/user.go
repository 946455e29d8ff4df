package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mtdconnect/mtdconnect"
)

const userColumns = `id, ref, email, display_name, password_hash, nino, vrn, admin, totp_secret, totp_last_step, created_at,
	deleted_at, records_kept_until`

func scanUser(row interface{ Scan(...any) error }) (*mtdconnect.User, error) {
	var u mtdconnect.User
	var ref *string
	var deleted, keep *time.Time
	if err := row.Scan(&u.ID, &ref, &u.Email, &u.DisplayName, &u.PasswordHash, &u.NINO, &u.VRN, &u.Admin, &u.TOTPSecret,
		&u.TOTPLastStep, &u.CreatedAt, &deleted, &keep); err != nil {
		return nil, err
	}
	if ref != nil {
		u.Ref = *ref
	}
	u.CreatedAt, u.DeletedAt, u.RecordsKeptUntil = u.CreatedAt.UTC(), utc(deleted), utc(keep)
	if len(u.TOTPSecret) == 0 {
		u.TOTPSecret = nil // none enrolled reads back as it was written
	}
	return &u, nil
}

// nullRef is how a ref is stored: NULL for none, so that the UNIQUE
// constraint holds only between refs.
func nullRef(ref string) *string {
	if ref == "" {
		return nil
	}
	return &ref
}

// CreateUser inserts u and sets its ID and CreatedAt (from s.Now).
// ErrConflict if the ref, or the sign-in email, is taken.
func (s *Store) CreateUser(ctx context.Context, u *mtdconnect.User) error {
	if err := mtdconnect.CheckKey(u.Ref, u.Email); err != nil {
		return fmt.Errorf("postgres: create user: %w", err)
	}
	if err := mtdconnect.CheckText(u.DisplayName, u.PasswordHash, u.NINO, u.VRN); err != nil {
		return fmt.Errorf("postgres: create user: %w", err)
	}
	created := ts(s.now())
	err := s.pool.QueryRow(ctx, `
		INSERT INTO users (ref, email, display_name, password_hash, nino, vrn, admin, totp_secret, totp_last_step, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		RETURNING id`,
		nullRef(u.Ref), u.Email, u.DisplayName, u.PasswordHash, u.NINO, u.VRN, u.Admin, nonNil(u.TOTPSecret), u.TOTPLastStep, created,
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
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users
		WHERE email = $1 AND email <> '' AND ref IS NULL AND deleted_at IS NULL`, email))
	if err != nil {
		return nil, wrap("user by email", err)
	}
	return u, nil
}

func (s *Store) UserByRef(ctx context.Context, ref string) (*mtdconnect.User, error) {
	if err := mtdconnect.CheckKey(ref); err != nil {
		return nil, fmt.Errorf("postgres: user by ref: %w", err)
	}
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE ref = $1`, ref))
	if err != nil {
		return nil, wrap("user by ref", err)
	}
	return u, nil
}

// UpdateUser writes u's email, display name, password hash, NINO, VRN and
// admin flag. ErrNotFound if the user is gone or deleted, ErrConflict if
// the email is taken.
func (s *Store) UpdateUser(ctx context.Context, u *mtdconnect.User) error {
	if err := mtdconnect.CheckKey(u.Email); err != nil {
		return fmt.Errorf("postgres: update user: %w", err)
	}
	if err := mtdconnect.CheckText(u.DisplayName, u.PasswordHash, u.NINO, u.VRN); err != nil {
		return fmt.Errorf("postgres: update user: %w", err)
	}
	tag, err := s.pool.Exec(ctx, `
		UPDATE users SET email = $2, display_name = $3, password_hash = $4, nino = $5, vrn = $6, admin = $7
		WHERE id = $1 AND deleted_at IS NULL`,
		u.ID, u.Email, u.DisplayName, u.PasswordHash, u.NINO, u.VRN, u.Admin)
	if err != nil {
		return wrap("update user", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: update user: %w", mtdconnect.ErrNotFound)
	}
	return nil
}

// DeleteUser clears the user and deletes their credentials in one
// statement (data-modifying CTEs run as one atomic statement).
func (s *Store) DeleteUser(ctx context.Context, id int64, at, keepUntil time.Time, events ...*mtdconnect.Event) error {
	if err := checkEvents(events); err != nil {
		return fmt.Errorf("postgres: delete user: %w", err)
	}
	err := s.withEvents(ctx, events, func(q querier) error {
		tag, err := q.Exec(ctx, `
		WITH u AS (
			UPDATE users SET ref = NULL, email = '', display_name = '', password_hash = '', nino = '', vrn = '',
				admin = false, totp_secret = ''::bytea, totp_last_step = 0, deleted_at = $2, records_kept_until = $3
			WHERE id = $1 AND deleted_at IS NULL
			RETURNING id
		), s AS (
			DELETE FROM sessions WHERE user_id IN (SELECT id FROM u)
		), c AS (
			DELETE FROM connections WHERE user_id IN (SELECT id FROM u)
		), p AS (
			DELETE FROM pending_authorizations WHERE user_id IN (SELECT id FROM u)
		), cs AS (
			DELETE FROM connect_sessions WHERE user_id IN (SELECT id FROM u)
		), b AS (
			DELETE FROM income_tax_businesses WHERE user_id IN (SELECT id FROM u)
		), o AS (
			DELETE FROM cached_obligations WHERE user_id IN (SELECT id FROM u)
		), r AS (
			DELETE FROM recovery_codes WHERE user_id IN (SELECT id FROM u)
		)
		SELECT id FROM u`, id, ts(at), ts(keepUntil))
		if err == nil && tag.RowsAffected() == 0 {
			err = mtdconnect.ErrNotFound
		}
		return err
	})
	if err != nil {
		return wrap("delete user", err)
	}
	return nil
}

// PurgeDeletedUsers removes deleted users past their retention; their
// receipts and audit go with them (ON DELETE CASCADE).
func (s *Store) PurgeDeletedUsers(ctx context.Context, before time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM users WHERE deleted_at IS NOT NULL AND records_kept_until <= $1`, ts(before))
	if err != nil {
		return 0, wrap("purge deleted users", err)
	}
	return int(tag.RowsAffected()), nil
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

const apiKeyColumns = `id, name, hash, scopes, last_used_at, revoked_at, expires_at, created_at`

func scanAPIKey(row interface{ Scan(...any) error }) (*mtdconnect.APIKey, error) {
	var k mtdconnect.APIKey
	var scopes string
	var used, revoked, expires *time.Time
	if err := row.Scan(&k.ID, &k.Name, &k.Hash, &scopes, &used, &revoked, &expires, &k.CreatedAt); err != nil {
		return nil, err
	}
	for _, f := range strings.Fields(scopes) {
		k.Scopes = append(k.Scopes, mtdconnect.Scope(f))
	}
	k.LastUsedAt, k.RevokedAt, k.ExpiresAt, k.CreatedAt = utc(used), utc(revoked), utc(expires), k.CreatedAt.UTC()
	return &k, nil
}

// CreateAPIKey inserts k and sets its ID and CreatedAt (from s.Now).
// ErrConflict if the hash exists.
func (s *Store) CreateAPIKey(ctx context.Context, k *mtdconnect.APIKey) error {
	if err := mtdconnect.CheckText(k.Name, mtdconnect.JoinScopes(k.Scopes)); err != nil {
		return fmt.Errorf("postgres: create api key: %w", err)
	}
	created := ts(s.now())
	err := s.pool.QueryRow(ctx, `
		INSERT INTO api_keys (name, hash, scopes, created_at) VALUES ($1, $2, $3, $4)
		RETURNING id`,
		k.Name, k.Hash, mtdconnect.JoinScopes(k.Scopes), created,
	).Scan(&k.ID)
	if err != nil {
		return wrap("create api key", err)
	}
	k.CreatedAt = *created
	return nil
}

func (s *Store) APIKeyByHash(ctx context.Context, hash []byte) (*mtdconnect.APIKey, error) {
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = $1`, hash))
	if err != nil {
		return nil, wrap("api key by hash", err)
	}
	return k, nil
}

func (s *Store) APIKey(ctx context.Context, id int64) (*mtdconnect.APIKey, error) {
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = $1`, id))
	if err != nil {
		return nil, wrap("api key", err)
	}
	return k, nil
}

func (s *Store) APIKeys(ctx context.Context) ([]*mtdconnect.APIKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY id`)
	if err != nil {
		return nil, wrap("api keys", err)
	}
	defer rows.Close()
	var out []*mtdconnect.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, wrap("api keys", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("api keys", err)
	}
	return out, nil
}

// apiKeyStateError tells why a conditional write of key id matched no
// row: ErrNotFound if the key does not exist, ErrConflict otherwise.
func (s *Store) apiKeyStateError(ctx context.Context, op string, id int64) error {
	var one int
	err := s.pool.QueryRow(ctx, `SELECT 1 FROM api_keys WHERE id = $1`, id).Scan(&one)
	if err != nil {
		return wrap(op, err)
	}
	return fmt.Errorf("postgres: %s: %w", op, mtdconnect.ErrConflict)
}

func (s *Store) RevokeAPIKey(ctx context.Context, id int64, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`, id, ts(at))
	if err != nil {
		return wrap("revoke api key", err)
	}
	if tag.RowsAffected() == 0 {
		return s.apiKeyStateError(ctx, "revoke api key", id)
	}
	return nil
}

// RotateAPIKey sets the old key's expiry and inserts its successor in one
// statement.
func (s *Store) RotateAPIKey(ctx context.Context, id int64, newHash []byte, oldExpiresAt time.Time) (*mtdconnect.APIKey, error) {
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `
		WITH old AS (
			UPDATE api_keys SET expires_at = $2 WHERE id = $1 AND revoked_at IS NULL AND expires_at IS NULL
			RETURNING name, scopes
		)
		INSERT INTO api_keys (name, hash, scopes, created_at) SELECT name, $3, scopes, $4 FROM old
		RETURNING `+apiKeyColumns, id, ts(oldExpiresAt), newHash, ts(s.now())))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, s.apiKeyStateError(ctx, "rotate api key", id)
	}
	if err != nil {
		return nil, wrap("rotate api key", err)
	}
	return k, nil
}

func (s *Store) TouchAPIKey(ctx context.Context, id int64, at, ifBefore time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE api_keys SET last_used_at = $2
		WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)`, id, ts(at), ts(ifBefore))
	if err != nil {
		return wrap("touch api key", err)
	}
	return nil
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
	// The recovery codes stand in for the app: they go with it (one
	// statement, so atomically).
	tag, err := s.pool.Exec(ctx, `
		WITH r AS (
			DELETE FROM recovery_codes WHERE user_id = $1 AND length($2::bytea) = 0
		)
		UPDATE users SET totp_secret = $2, totp_last_step = $3 WHERE id = $1`,
		userID, nonNil(sealed), lastStep)
	if err != nil {
		return wrap("set totp", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: set totp: %w", mtdconnect.ErrNotFound)
	}
	return nil
}

// SetRecoveryCodes implements mtdconnect.Store: the old codes deleted and
// the new inserted in one statement.
func (s *Store) SetRecoveryCodes(ctx context.Context, userID int64, hashes [][]byte, at time.Time) error {
	if hashes == nil {
		hashes = [][]byte{}
	}
	_, err := s.pool.Exec(ctx, `
		WITH d AS (
			DELETE FROM recovery_codes WHERE user_id = $1
		)
		INSERT INTO recovery_codes (user_id, code_hash, created_at)
		SELECT $1, h, $3 FROM unnest($2::bytea[]) AS h`, userID, hashes, ts(at))
	if err != nil {
		return wrap("set recovery codes", err)
	}
	return nil
}

// UseRecoveryCode implements mtdconnect.Store.
func (s *Store) UseRecoveryCode(ctx context.Context, userID int64, hash []byte) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1 AND code_hash = $2`, userID, hash)
	if err != nil {
		return wrap("use recovery code", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: use recovery code: %w", mtdconnect.ErrNotFound)
	}
	return nil
}

// RecoveryCodesLeft implements mtdconnect.Store.
func (s *Store) RecoveryCodesLeft(ctx context.Context, userID int64) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = $1`, userID).Scan(&n); err != nil {
		return 0, wrap("count recovery codes", err)
	}
	return n, nil
}
