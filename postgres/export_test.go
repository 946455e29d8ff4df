package postgres

import "github.com/jackc/pgx/v5/pgxpool"

// Test hooks: the SQL DueConnections runs, and the pool to seed data with.
var DueQuery = dueQuery

func PoolOf(s *Store) *pgxpool.Pool { return s.pool }
