package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

const userColumns = `id, ref, email, display_name, password_hash, nino, vrn, admin, totp_secret, totp_last_step, created_at,
	deleted_at, records_kept_until`

func scanUser(r scanner) (*mtdconnect.User, error) {
	var u mtdconnect.User
	var ref sql.NullString
	var created, deleted, keep int64
	if err := r.Scan(&u.ID, &ref, &u.Email, &u.DisplayName, &u.PasswordHash, &u.NINO, &u.VRN, &u.Admin, &u.TOTPSecret,
		&u.TOTPLastStep, &created, &deleted, &keep); err != nil {
		return nil, err
	}
	u.Ref = ref.String
	u.CreatedAt, u.DeletedAt, u.RecordsKeptUntil = msTime(created), msTime(deleted), msTime(keep)
	if len(u.TOTPSecret) == 0 {
		u.TOTPSecret = nil // none enrolled reads back as it was written
	}
	return &u, nil
}

// nullRef is how a ref is stored: NULL for none, so that the UNIQUE
// constraint holds only between refs.
func nullRef(ref string) sql.NullString { return sql.NullString{String: ref, Valid: ref != ""} }

// CreateUser implements mtdconnect.Store.
func (s *Store) CreateUser(ctx context.Context, u *mtdconnect.User) error {
	if err := mtdconnect.CheckKey(u.Ref, u.Email); err != nil {
		return fmt.Errorf("sqlite: create user: %w", err)
	}
	if err := mtdconnect.CheckText(u.DisplayName, u.PasswordHash, u.NINO, u.VRN); err != nil {
		return fmt.Errorf("sqlite: create user: %w", err)
	}
	created := now()
	res, err := s.db.ExecContext(ctx, `INSERT INTO users (ref, email, display_name, password_hash, nino, vrn, admin,
		totp_secret, totp_last_step, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, nullRef(u.Ref), u.Email, u.DisplayName, u.PasswordHash, u.NINO, u.VRN, u.Admin,
		nonNil(u.TOTPSecret), u.TOTPLastStep, ms(created))
	if isUnique(err) {
		return fmt.Errorf("sqlite: create user: ref or email in use: %w", mtdconnect.ErrConflict)
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
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users
		WHERE email = ? AND email <> '' AND ref IS NULL AND deleted_at = 0`, email))
	return u, notFound("user by email", err)
}

// UserByRef implements mtdconnect.Store.
func (s *Store) UserByRef(ctx context.Context, ref string) (*mtdconnect.User, error) {
	if err := mtdconnect.CheckKey(ref); err != nil {
		return nil, fmt.Errorf("sqlite: user by ref: %w", err)
	}
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE ref = ?`, ref))
	return u, notFound("user by ref", err)
}

// UpdateUser implements mtdconnect.Store.
func (s *Store) UpdateUser(ctx context.Context, u *mtdconnect.User) error {
	if err := mtdconnect.CheckKey(u.Email); err != nil {
		return fmt.Errorf("sqlite: update user: %w", err)
	}
	if err := mtdconnect.CheckText(u.DisplayName, u.PasswordHash, u.NINO, u.VRN); err != nil {
		return fmt.Errorf("sqlite: update user: %w", err)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE users SET email = ?, display_name = ?, password_hash = ?, nino = ?, vrn = ?, admin = ?
		WHERE id = ? AND deleted_at = 0`, u.Email, u.DisplayName, u.PasswordHash, u.NINO, u.VRN, u.Admin, u.ID)
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

// DeleteUser implements mtdconnect.Store.
func (s *Store) DeleteUser(ctx context.Context, id int64, at, keepUntil time.Time, events ...*mtdconnect.Event) error {
	if err := checkEvents(events); err != nil {
		return fmt.Errorf("sqlite: delete user: %w", err)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET ref = NULL, email = '', display_name = '', password_hash = '',
			nino = '', vrn = '', admin = 0, totp_secret = x'', totp_last_step = 0, deleted_at = ?, records_kept_until = ?
			WHERE id = ? AND deleted_at = 0`, ms(at), ms(keepUntil), id)
		if err == nil {
			err = affected(res)
		}
		if err != nil {
			return err
		}
		for _, table := range []string{"sessions", "connections", "pending_authorizations", "connect_sessions",
			"income_tax_businesses", "cached_obligations", "recovery_codes"} {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE user_id = ?`, id); err != nil {
				return fmt.Errorf("%s: %w", table, err)
			}
		}
		return insertEvents(ctx, tx, events)
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete user: %w", err)
	}
	return nil
}

// PurgeDeletedUsers implements mtdconnect.Store.
func (s *Store) PurgeDeletedUsers(ctx context.Context, before time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM users WHERE deleted_at <> 0 AND records_kept_until <= ?`, ms(before))
	var n int64
	if err == nil {
		n, err = res.RowsAffected()
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite: purge deleted users: %w", err)
	}
	return int(n), nil
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

const apiKeyColumns = `id, name, hash, scopes, last_used_at, revoked_at, expires_at, created_at`

func scanAPIKey(r scanner) (*mtdconnect.APIKey, error) {
	var k mtdconnect.APIKey
	var scopes string
	var used, revoked, expires, created int64
	if err := r.Scan(&k.ID, &k.Name, &k.Hash, &scopes, &used, &revoked, &expires, &created); err != nil {
		return nil, err
	}
	for _, f := range strings.Fields(scopes) {
		k.Scopes = append(k.Scopes, mtdconnect.Scope(f))
	}
	k.LastUsedAt, k.RevokedAt, k.ExpiresAt, k.CreatedAt = msTime(used), msTime(revoked), msTime(expires), msTime(created)
	return &k, nil
}

// CreateAPIKey implements mtdconnect.Store.
func (s *Store) CreateAPIKey(ctx context.Context, k *mtdconnect.APIKey) error {
	if err := mtdconnect.CheckText(k.Name, mtdconnect.JoinScopes(k.Scopes)); err != nil {
		return fmt.Errorf("sqlite: create api key: %w", err)
	}
	created := now()
	res, err := s.db.ExecContext(ctx, `INSERT INTO api_keys (name, hash, scopes, created_at) VALUES (?, ?, ?, ?)`,
		k.Name, k.Hash, mtdconnect.JoinScopes(k.Scopes), ms(created))
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
	k, err := scanAPIKey(s.db.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = ?`, hash))
	return k, notFound("api key by hash", err)
}

// APIKey implements mtdconnect.Store.
func (s *Store) APIKey(ctx context.Context, id int64) (*mtdconnect.APIKey, error) {
	k, err := scanAPIKey(s.db.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = ?`, id))
	return k, notFound("api key", err)
}

// APIKeys implements mtdconnect.Store.
func (s *Store) APIKeys(ctx context.Context) ([]*mtdconnect.APIKey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: api keys: %w", err)
	}
	defer rows.Close()
	var out []*mtdconnect.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: api keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: api keys: %w", err)
	}
	return out, nil
}

// apiKeyStateError tells why a conditional write of key id matched no
// row: ErrNotFound if the key does not exist, ErrConflict otherwise.
func apiKeyStateError(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, id int64) error {
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM api_keys WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return mtdconnect.ErrNotFound
	}
	if err != nil {
		return err
	}
	return mtdconnect.ErrConflict
}

// RevokeAPIKey implements mtdconnect.Store.
func (s *Store) RevokeAPIKey(ctx context.Context, id int64, at time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at = 0`, ms(at), id)
	if err == nil {
		if err = affected(res); errors.Is(err, mtdconnect.ErrNotFound) {
			err = apiKeyStateError(ctx, s.db, id)
		}
	}
	if err != nil {
		return fmt.Errorf("sqlite: revoke api key: %w", err)
	}
	return nil
}

// RotateAPIKey implements mtdconnect.Store.
func (s *Store) RotateAPIKey(ctx context.Context, id int64, newHash []byte, oldExpiresAt time.Time) (*mtdconnect.APIKey, error) {
	var k *mtdconnect.APIKey
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_keys SET expires_at = ? WHERE id = ? AND revoked_at = 0 AND expires_at = 0`,
			ms(oldExpiresAt), id)
		if err == nil {
			if err = affected(res); errors.Is(err, mtdconnect.ErrNotFound) {
				err = apiKeyStateError(ctx, tx, id)
			}
		}
		if err != nil {
			return err
		}
		res, err = tx.ExecContext(ctx, `INSERT INTO api_keys (name, hash, scopes, created_at)
			SELECT name, ?, scopes, ? FROM api_keys WHERE id = ?`, newHash, ms(now()), id)
		if isUnique(err) {
			return mtdconnect.ErrConflict
		}
		var newID int64
		if err == nil {
			newID, err = res.LastInsertId()
		}
		if err != nil {
			return err
		}
		k, err = scanAPIKey(tx.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = ?`, newID))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: rotate api key: %w", err)
	}
	return k, nil
}

// TouchAPIKey implements mtdconnect.Store.
func (s *Store) TouchAPIKey(ctx context.Context, id int64, at, ifBefore time.Time) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE api_keys SET last_used_at = ? WHERE id = ? AND last_used_at < ?`,
		ms(at), id, ms(ifBefore)); err != nil {
		return fmt.Errorf("sqlite: touch api key: %w", err)
	}
	return nil
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
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET totp_secret = ?, totp_last_step = ? WHERE id = ?`,
			nonNil(sealed), lastStep, userID)
		if err == nil {
			err = affected(res)
		}
		if err == nil && len(sealed) == 0 {
			// The recovery codes stand in for the app: they go with it.
			_, err = tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: set totp: %w", err)
	}
	return nil
}

// SetRecoveryCodes implements mtdconnect.Store.
func (s *Store) SetRecoveryCodes(ctx context.Context, userID int64, hashes [][]byte, at time.Time) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID); err != nil {
			return err
		}
		for _, h := range hashes {
			if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES (?, ?, ?)`,
				userID, h, ms(at)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: set recovery codes: %w", err)
	}
	return nil
}

// UseRecoveryCode implements mtdconnect.Store.
func (s *Store) UseRecoveryCode(ctx context.Context, userID int64, hash []byte) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = ? AND code_hash = ?`, userID, hash)
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("sqlite: use recovery code: %w", err)
	}
	return nil
}

// RecoveryCodesLeft implements mtdconnect.Store.
func (s *Store) RecoveryCodesLeft(ctx context.Context, userID int64) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = ?`, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count recovery codes: %w", err)
	}
	return n, nil
}
