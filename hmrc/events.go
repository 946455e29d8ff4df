package hmrc

import (
	"context"

	"github.com/mtdconnect/mtdconnect"
)

// ConnectionEvents says which events report a change of a connection:
// before is nil for a new grant, after nil for a deletion. The rule lives
// with the actions (package landlord); this package writes what it returns
// in the same transaction as the change, so a platform hears of every
// change the refresher makes too, and of none that was not made.
type ConnectionEvents func(ctx context.Context, before, after *mtdconnect.Connection) []*mtdconnect.Event

// OnConnectionChange sets the rule the client asks for the events of each
// connection write. It may be set while the client is in use.
func (c *Client) OnConnectionChange(f ConnectionEvents) { c.events.Store(&f) }

// eventsOf returns the events of a connection change, none without a rule.
func (c *Client) eventsOf(ctx context.Context, before, after *mtdconnect.Connection) []*mtdconnect.Event {
	f := c.events.Load()
	if f == nil || *f == nil {
		return nil
	}
	return (*f)(ctx, before, after)
}
