package hmrc

import (
	"context"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

// countedStore is the client's store, counting each call the client makes
// (each is one database transaction in both stores), so the database load
// of an HMRC call can be watched (mtdconnect_hmrc_store_calls_total) and
// measured (loadtest). It counts the methods this package calls; any other
// passes through uncounted.
type countedStore struct {
	mtdconnect.Store
	m *metrics
}

func (s countedStore) AppendAudit(ctx context.Context, e *mtdconnect.AuditEvent) error {
	s.m.storeCall("AppendAudit")
	return s.Store.AppendAudit(ctx, e)
}

func (s countedStore) Application(ctx context.Context, environment string) (*mtdconnect.Application, error) {
	s.m.storeCall("Application")
	return s.Store.Application(ctx, environment)
}

func (s countedStore) Confirm(ctx context.Context, c *mtdconnect.Confirmation) (*mtdconnect.Confirmation, error) {
	s.m.storeCall("Confirm")
	return s.Store.Confirm(ctx, c)
}

func (s countedStore) Confirmation(ctx context.Context, name string) (*mtdconnect.Confirmation, error) {
	s.m.storeCall("Confirmation")
	return s.Store.Confirmation(ctx, name)
}

func (s countedStore) Connection(ctx context.Context, userID int64, purpose mtdconnect.Purpose) (*mtdconnect.Connection, error) {
	s.m.storeCall("Connection")
	return s.Store.Connection(ctx, userID, purpose)
}

func (s countedStore) CreatePendingAuthorization(ctx context.Context, p *mtdconnect.PendingAuthorization) error {
	s.m.storeCall("CreatePendingAuthorization")
	return s.Store.CreatePendingAuthorization(ctx, p)
}

func (s countedStore) DelaySlots(ctx context.Context, name string, until time.Time) error {
	s.m.storeCall("DelaySlots")
	return s.Store.DelaySlots(ctx, name, until)
}

func (s countedStore) DeleteConnection(ctx context.Context, userID int64, purpose mtdconnect.Purpose, events ...*mtdconnect.Event) error {
	s.m.storeCall("DeleteConnection")
	return s.Store.DeleteConnection(ctx, userID, purpose, events...)
}

func (s countedStore) DeletePendingAuthorization(ctx context.Context, state string) error {
	s.m.storeCall("DeletePendingAuthorization")
	return s.Store.DeletePendingAuthorization(ctx, state)
}

func (s countedStore) DueConnections(ctx context.Context, q mtdconnect.DueQuery) ([]*mtdconnect.Connection, error) {
	s.m.storeCall("DueConnections")
	return s.Store.DueConnections(ctx, q)
}

func (s countedStore) InterruptedRefreshes(ctx context.Context, before time.Time, limit int) ([]*mtdconnect.Connection, error) {
	s.m.storeCall("InterruptedRefreshes")
	return s.Store.InterruptedRefreshes(ctx, before, limit)
}

func (s countedStore) PendingAuthorization(ctx context.Context, state string) (*mtdconnect.PendingAuthorization, error) {
	s.m.storeCall("PendingAuthorization")
	return s.Store.PendingAuthorization(ctx, state)
}

func (s countedStore) ReserveSlot(ctx context.Context, name string, interval, maxWait time.Duration, now time.Time) (time.Time, bool, error) {
	s.m.storeCall("ReserveSlot")
	return s.Store.ReserveSlot(ctx, name, interval, maxWait, now)
}

func (s countedStore) SaveApplication(ctx context.Context, a *mtdconnect.Application) error {
	s.m.storeCall("SaveApplication")
	return s.Store.SaveApplication(ctx, a)
}

func (s countedStore) SaveConnection(ctx context.Context, c *mtdconnect.Connection, events ...*mtdconnect.Event) error {
	s.m.storeCall("SaveConnection")
	return s.Store.SaveConnection(ctx, c, events...)
}

func (s countedStore) TouchConnection(ctx context.Context, userID int64, purpose mtdconnect.Purpose, at time.Time) error {
	s.m.storeCall("TouchConnection")
	return s.Store.TouchConnection(ctx, userID, purpose, at)
}

func (s countedStore) UpdateConnection(ctx context.Context, c *mtdconnect.Connection, events ...*mtdconnect.Event) error {
	s.m.storeCall("UpdateConnection")
	return s.Store.UpdateConnection(ctx, c, events...)
}

func (s countedStore) UserByID(ctx context.Context, id int64) (*mtdconnect.User, error) {
	s.m.storeCall("UserByID")
	return s.Store.UserByID(ctx, id)
}
