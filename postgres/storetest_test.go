package postgres_test

import (
	"testing"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/storetest"
)

// TestStore runs the conformance suite, each case on a fresh schema.
func TestStore(t *testing.T) {
	baseDSN(t)
	storetest.Run(t, func(t *testing.T) mtdconnect.Store {
		return mustOpen(t, freshSchema(t))
	})
}

// TestStoreShared runs the cross-instance cases: two Stores, each with its
// own pool, on one fresh schema.
func TestStoreShared(t *testing.T) {
	baseDSN(t)
	storetest.RunShared(t, func(t *testing.T) (a, b mtdconnect.Store) {
		dsn := freshSchema(t)
		return mustOpen(t, dsn), mustOpen(t, dsn)
	})
}
