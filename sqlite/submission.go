package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

const submissionColumns = `id, user_id, purpose, kind, period, period_start, period_end, body, response,
	correlation_id, receipt_id, submitted_at`

func scanSubmission(r scanner) (*mtdconnect.Submission, error) {
	var sub mtdconnect.Submission
	var start, end, at int64
	if err := r.Scan(&sub.ID, &sub.UserID, &sub.Purpose, &sub.Kind, &sub.Period, &start, &end, &sub.Body,
		&sub.Response, &sub.CorrelationID, &sub.ReceiptID, &at); err != nil {
		return nil, err
	}
	sub.PeriodStart, sub.PeriodEnd, sub.SubmittedAt = msTime(start), msTime(end), msTime(at)
	return &sub, nil
}

// SaveSubmission implements mtdconnect.Store.
func (s *Store) SaveSubmission(ctx context.Context, sub *mtdconnect.Submission, events ...*mtdconnect.Event) error {
	if err := mtdconnect.CheckText(string(sub.Purpose), sub.Kind, sub.Period, sub.CorrelationID, sub.ReceiptID); err != nil {
		return fmt.Errorf("sqlite: save submission: %w", err)
	}
	if err := checkEvents(events); err != nil {
		return fmt.Errorf("sqlite: save submission: %w", err)
	}
	var id int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO submissions (user_id, purpose, kind, period, period_start,
			period_end, body, response, correlation_id, receipt_id, submitted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			sub.UserID, sub.Purpose, sub.Kind, sub.Period, ms(sub.PeriodStart), ms(sub.PeriodEnd), nonNil(sub.Body),
			nonNil(sub.Response), sub.CorrelationID, sub.ReceiptID, ms(sub.SubmittedAt))
		if err != nil {
			return err
		}
		if id, err = res.LastInsertId(); err != nil {
			return err
		}
		return insertEvents(ctx, tx, events)
	})
	if err != nil {
		return fmt.Errorf("sqlite: save submission: %w", err)
	}
	sub.ID = id
	return nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Submissions implements mtdconnect.Store.
func (s *Store) Submissions(ctx context.Context, userID int64, purpose mtdconnect.Purpose, limit int) ([]*mtdconnect.Submission, error) {
	if err := mtdconnect.CheckText(string(purpose)); err != nil {
		return nil, fmt.Errorf("sqlite: submissions: %w", err)
	}
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+submissionColumns+` FROM submissions
		WHERE user_id = ? AND purpose = ? ORDER BY id DESC LIMIT ?`, userID, purpose, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: submissions: %w", err)
	}
	defer rows.Close()
	var out []*mtdconnect.Submission
	for rows.Next() {
		sub, err := scanSubmission(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: submissions: %w", err)
		}
		out = append(out, sub)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: submissions: %w", err)
	}
	return out, nil
}

// Submission implements mtdconnect.Store.
func (s *Store) Submission(ctx context.Context, userID, id int64) (*mtdconnect.Submission, error) {
	sub, err := scanSubmission(s.db.QueryRowContext(ctx, `SELECT `+submissionColumns+` FROM submissions
		WHERE id = ? AND user_id = ?`, id, userID))
	return sub, notFound("submission", err)
}

// storedSecret is a ClientSecret in the applications.secrets JSON column.
type storedSecret struct {
	ID      string    `json:"id"`
	Sealed  []byte    `json:"sealed"`
	Last4   string    `json:"last4"`
	AddedAt time.Time `json:"added_at"`
}

// SaveApplication implements mtdconnect.Store.
func (s *Store) SaveApplication(ctx context.Context, a *mtdconnect.Application) error {
	if err := checkApplicationText(a); err != nil {
		return fmt.Errorf("sqlite: save application: %w", err)
	}
	secrets := make([]storedSecret, len(a.Secrets))
	for i, sec := range a.Secrets {
		sec.AddedAt = sec.AddedAt.UTC().Truncate(time.Millisecond)
		secrets[i] = storedSecret(sec)
	}
	sj, err := json.Marshal(secrets)
	if err != nil {
		return fmt.Errorf("sqlite: save application: %w", err)
	}
	uris := a.RedirectURIs
	if uris == nil {
		uris = []string{}
	}
	uj, err := json.Marshal(uris)
	if err != nil {
		return fmt.Errorf("sqlite: save application: %w", err)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO applications (environment, client_id, redirect_uris, secrets,
		updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (environment) DO UPDATE SET client_id = excluded.client_id,
		redirect_uris = excluded.redirect_uris, secrets = excluded.secrets,
		updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
		a.Environment, a.ClientID, string(uj), string(sj), ms(a.UpdatedAt), a.UpdatedBy)
	if err != nil {
		return fmt.Errorf("sqlite: save application: %w", err)
	}
	return nil
}

// Application implements mtdconnect.Store.
func (s *Store) Application(ctx context.Context, environment string) (*mtdconnect.Application, error) {
	if err := mtdconnect.CheckKey(environment); err != nil {
		return nil, fmt.Errorf("sqlite: application: %w", err)
	}
	var a mtdconnect.Application
	var uj, sj string
	var updated int64
	err := s.db.QueryRowContext(ctx, `SELECT environment, client_id, redirect_uris, secrets, updated_at, updated_by
		FROM applications WHERE environment = ?`, environment).
		Scan(&a.Environment, &a.ClientID, &uj, &sj, &updated, &a.UpdatedBy)
	if err != nil {
		return nil, notFound("application", err)
	}
	a.UpdatedAt = msTime(updated)
	if err := decodeApplication(&a, []byte(uj), []byte(sj)); err != nil {
		return nil, fmt.Errorf("sqlite: application: %w", err)
	}
	return &a, nil
}

func decodeApplication(a *mtdconnect.Application, uris, secrets []byte) error {
	if err := json.Unmarshal(uris, &a.RedirectURIs); err != nil {
		return err
	}
	var stored []storedSecret
	if err := json.Unmarshal(secrets, &stored); err != nil {
		return err
	}
	for _, sec := range stored {
		sec.AddedAt = sec.AddedAt.UTC()
		a.Secrets = append(a.Secrets, mtdconnect.ClientSecret(sec))
	}
	return nil
}

// Confirm implements mtdconnect.Store.
func (s *Store) Confirm(ctx context.Context, c *mtdconnect.Confirmation) (*mtdconnect.Confirmation, error) {
	if err := mtdconnect.CheckKey(c.Name); err != nil {
		return nil, fmt.Errorf("sqlite: confirm: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO confirmations (name, user_id, at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO NOTHING`, c.Name, c.UserID, ms(c.At)); err != nil {
		return nil, fmt.Errorf("sqlite: confirm: %w", err)
	}
	return s.Confirmation(ctx, c.Name)
}

// Confirmation implements mtdconnect.Store.
func (s *Store) Confirmation(ctx context.Context, name string) (*mtdconnect.Confirmation, error) {
	if err := mtdconnect.CheckKey(name); err != nil {
		return nil, fmt.Errorf("sqlite: confirmation: %w", err)
	}
	var c mtdconnect.Confirmation
	var at int64
	err := s.db.QueryRowContext(ctx, `SELECT name, user_id, at FROM confirmations WHERE name = ?`, name).
		Scan(&c.Name, &c.UserID, &at)
	if err != nil {
		return nil, notFound("confirmation", err)
	}
	c.At = msTime(at)
	return &c, nil
}

// checkApplicationText refuses an application with text no store can keep.
func checkApplicationText(a *mtdconnect.Application) error {
	if err := mtdconnect.CheckKey(a.Environment); err != nil {
		return err
	}
	if err := mtdconnect.CheckText(a.ClientID); err != nil {
		return err
	}
	if err := mtdconnect.CheckText(a.RedirectURIs...); err != nil {
		return err
	}
	for _, sec := range a.Secrets {
		if err := mtdconnect.CheckText(sec.ID, sec.Last4); err != nil {
			return err
		}
	}
	return nil
}
