package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/mtdconnect/mtdconnect"
)

// sealedKinds are the queries of Store.SealedSamples, one per kind of
// sealed data: each selects one sealed column (or, with secretsJSON, the
// applications' JSON array of sealed secrets). A new kind of sealed data
// is one more line here and in postgres.
var sealedKinds = []struct {
	query       string
	secretsJSON bool
}{
	{query: `SELECT tokens FROM connections WHERE length(tokens) > 0`},
	{query: `SELECT totp_secret FROM users WHERE length(totp_secret) > 0`},
	{query: `SELECT verifier FROM pending_authorizations WHERE length(verifier) > 0`},
	{query: `SELECT secrets FROM applications WHERE secrets <> '[]'`, secretsJSON: true},
	{query: `SELECT secret FROM webhook_endpoints WHERE length(secret) > 0`},
	{query: `SELECT previous_secret FROM webhook_endpoints WHERE length(previous_secret) > 0`},
}

// SealedSamples implements mtdconnect.Store.
func (s *Store) SealedSamples(ctx context.Context) ([][]byte, error) {
	var out [][]byte
	limit := " LIMIT " + strconv.Itoa(mtdconnect.SealedSampleLimit)
	for _, k := range sealedKinds {
		rows, err := s.db.QueryContext(ctx, k.query+limit)
		if err != nil {
			return nil, fmt.Errorf("sqlite: sealed samples: %w", err)
		}
		for rows.Next() {
			var b []byte
			if err := rows.Scan(&b); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sqlite: sealed samples: %w", err)
			}
			if !k.secretsJSON {
				out = append(out, b)
				continue
			}
			var secrets []storedSecret
			if err := json.Unmarshal(b, &secrets); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sqlite: sealed samples: application secrets: %w", err)
			}
			for _, sec := range secrets {
				out = append(out, sec.Sealed)
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("sqlite: sealed samples: %w", err)
		}
	}
	return out, nil
}
