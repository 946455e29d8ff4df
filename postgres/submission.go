package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mtdconnect/mtdconnect"
)

const submissionColumns = `id, user_id, purpose, kind, period, period_start, period_end, body, response,
	correlation_id, receipt_id, submitted_at`

func scanSubmission(r pgx.Row) (*mtdconnect.Submission, error) {
	var sub mtdconnect.Submission
	var start, end *time.Time
	if err := r.Scan(&sub.ID, &sub.UserID, &sub.Purpose, &sub.Kind, &sub.Period, &start, &end, &sub.Body,
		&sub.Response, &sub.CorrelationID, &sub.ReceiptID, &sub.SubmittedAt); err != nil {
		return nil, err
	}
	sub.PeriodStart, sub.PeriodEnd, sub.SubmittedAt = utc(start), utc(end), sub.SubmittedAt.UTC()
	return &sub, nil
}

// SaveSubmission records sub and sets its ID.
func (s *Store) SaveSubmission(ctx context.Context, sub *mtdconnect.Submission, events ...*mtdconnect.Event) error {
	if err := mtdconnect.CheckText(string(sub.Purpose), sub.Kind, sub.Period, sub.CorrelationID, sub.ReceiptID); err != nil {
		return fmt.Errorf("postgres: save submission: %w", err)
	}
	if err := checkEvents(events); err != nil {
		return fmt.Errorf("postgres: save submission: %w", err)
	}
	err := s.withEvents(ctx, events, func(q querier) error {
		return q.QueryRow(ctx, `
		INSERT INTO submissions (user_id, purpose, kind, period, period_start, period_end, body, response,
			correlation_id, receipt_id, submitted_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		RETURNING id`,
			sub.UserID, string(sub.Purpose), sub.Kind, sub.Period, ts(sub.PeriodStart), ts(sub.PeriodEnd),
			nonNil(sub.Body), nonNil(sub.Response), sub.CorrelationID, sub.ReceiptID, ts(sub.SubmittedAt),
		).Scan(&sub.ID)
	})
	if err != nil {
		return wrap("save submission", err)
	}
	return nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Submissions lists the user's submissions for purpose, newest first (all
// if limit is not positive).
func (s *Store) Submissions(ctx context.Context, userID int64, purpose mtdconnect.Purpose, limit int) ([]*mtdconnect.Submission, error) {
	if err := mtdconnect.CheckText(string(purpose)); err != nil {
		return nil, fmt.Errorf("postgres: submissions: %w", err)
	}
	query := `SELECT ` + submissionColumns + ` FROM submissions WHERE user_id = $1 AND purpose = $2 ORDER BY id DESC`
	args := []any{userID, string(purpose)}
	if limit > 0 {
		query += ` LIMIT $3`
		args = append(args, limit)
	}
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, wrap("submissions", err)
	}
	defer rows.Close()
	var out []*mtdconnect.Submission
	for rows.Next() {
		sub, err := scanSubmission(rows)
		if err != nil {
			return nil, wrap("submissions", err)
		}
		out = append(out, sub)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("submissions", err)
	}
	return out, nil
}

// Submission returns one of the user's submissions.
func (s *Store) Submission(ctx context.Context, userID, id int64) (*mtdconnect.Submission, error) {
	sub, err := scanSubmission(s.pool.QueryRow(ctx, `SELECT `+submissionColumns+` FROM submissions
		WHERE id = $1 AND user_id = $2`, id, userID))
	if err != nil {
		return nil, wrap("submission", err)
	}
	return sub, nil
}

// storedSecret is a ClientSecret in the applications.secrets JSON column.
type storedSecret struct {
	ID      string    `json:"id"`
	Sealed  []byte    `json:"sealed"`
	Last4   string    `json:"last4"`
	AddedAt time.Time `json:"added_at"`
}

// SaveApplication creates or replaces the application of a.Environment.
func (s *Store) SaveApplication(ctx context.Context, a *mtdconnect.Application) error {
	if err := checkApplicationText(a); err != nil {
		return fmt.Errorf("postgres: save application: %w", err)
	}
	secrets := make([]storedSecret, len(a.Secrets))
	for i, sec := range a.Secrets {
		sec.AddedAt = sec.AddedAt.UTC().Truncate(time.Millisecond)
		secrets[i] = storedSecret(sec)
	}
	sj, err := json.Marshal(secrets)
	if err != nil {
		return fmt.Errorf("postgres: save application: %w", err)
	}
	uris := a.RedirectURIs
	if uris == nil {
		uris = []string{}
	}
	uj, err := json.Marshal(uris)
	if err != nil {
		return fmt.Errorf("postgres: save application: %w", err)
	}
	_, err = s.pool.Exec(ctx, `
		INSERT INTO applications (environment, client_id, redirect_uris, secrets, updated_at, updated_by)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (environment) DO UPDATE SET client_id = excluded.client_id,
			redirect_uris = excluded.redirect_uris, secrets = excluded.secrets,
			updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
		a.Environment, a.ClientID, string(uj), string(sj), ts(a.UpdatedAt), a.UpdatedBy)
	if err != nil {
		return wrap("save application", err)
	}
	return nil
}

// Application returns the application registered for environment.
func (s *Store) Application(ctx context.Context, environment string) (*mtdconnect.Application, error) {
	if err := mtdconnect.CheckKey(environment); err != nil {
		return nil, fmt.Errorf("postgres: application: %w", err)
	}
	var a mtdconnect.Application
	var uj, sj []byte
	err := s.pool.QueryRow(ctx, `SELECT environment, client_id, redirect_uris, secrets, updated_at, updated_by
		FROM applications WHERE environment = $1`, environment).
		Scan(&a.Environment, &a.ClientID, &uj, &sj, &a.UpdatedAt, &a.UpdatedBy)
	if err != nil {
		return nil, wrap("application", err)
	}
	a.UpdatedAt = a.UpdatedAt.UTC()
	if err := json.Unmarshal(uj, &a.RedirectURIs); err != nil {
		return nil, fmt.Errorf("postgres: application: %w", err)
	}
	var stored []storedSecret
	if err := json.Unmarshal(sj, &stored); err != nil {
		return nil, fmt.Errorf("postgres: application: %w", err)
	}
	for _, sec := range stored {
		sec.AddedAt = sec.AddedAt.UTC()
		a.Secrets = append(a.Secrets, mtdconnect.ClientSecret(sec))
	}
	return &a, nil
}

// Confirm records c unless a confirmation of its name exists, and returns
// the one stored.
func (s *Store) Confirm(ctx context.Context, c *mtdconnect.Confirmation) (*mtdconnect.Confirmation, error) {
	if err := mtdconnect.CheckKey(c.Name); err != nil {
		return nil, fmt.Errorf("postgres: confirm: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO confirmations (name, user_id, at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO NOTHING`, c.Name, c.UserID, ts(c.At)); err != nil {
		return nil, wrap("confirm", err)
	}
	return s.Confirmation(ctx, c.Name)
}

// Confirmation returns the confirmation called name.
func (s *Store) Confirmation(ctx context.Context, name string) (*mtdconnect.Confirmation, error) {
	if err := mtdconnect.CheckKey(name); err != nil {
		return nil, fmt.Errorf("postgres: confirmation: %w", err)
	}
	var c mtdconnect.Confirmation
	err := s.pool.QueryRow(ctx, `SELECT name, user_id, at FROM confirmations WHERE name = $1`, name).
		Scan(&c.Name, &c.UserID, &c.At)
	if err != nil {
		return nil, wrap("confirmation", err)
	}
	c.At = c.At.UTC()
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
