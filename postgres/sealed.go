package postgres

import (
	"context"
	"fmt"
	"strconv"

	"github.com/mtdconnect/mtdconnect"
)

// sealedKinds are the queries of Store.SealedSamples, one per kind of
// sealed data, each selecting one bytea column (the applications' client
// secrets are base64 in a JSON array, decoded here). A new kind of sealed
// data is one more line here and in sqlite.
var sealedKinds = []string{
	`SELECT tokens FROM connections WHERE length(tokens) > 0`,
	`SELECT totp_secret FROM users WHERE length(totp_secret) > 0`,
	`SELECT verifier FROM pending_authorizations WHERE length(verifier) > 0`,
	`SELECT decode(sec->>'sealed', 'base64') FROM applications, jsonb_array_elements(secrets) AS sec`,
	`SELECT secret FROM webhook_endpoints WHERE length(secret) > 0`,
	`SELECT previous_secret FROM webhook_endpoints WHERE length(previous_secret) > 0`,
}

// SealedSamples implements mtdconnect.Store.
func (s *Store) SealedSamples(ctx context.Context) ([][]byte, error) {
	var out [][]byte
	limit := " LIMIT " + strconv.Itoa(mtdconnect.SealedSampleLimit)
	for _, q := range sealedKinds {
		rows, err := s.pool.Query(ctx, q+limit)
		if err != nil {
			return nil, fmt.Errorf("postgres: sealed samples: %w", err)
		}
		for rows.Next() {
			var b []byte
			if err := rows.Scan(&b); err != nil {
				rows.Close()
				return nil, fmt.Errorf("postgres: sealed samples: %w", err)
			}
			out = append(out, b)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("postgres: sealed samples: %w", err)
		}
	}
	return out, nil
}
