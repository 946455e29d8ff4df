package landlord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
)

// Reminders: events that report no change of their own but a date coming
// (connection.authority_expiring, obligation.due_soon). Each is written
// once, whichever instance sees it first (the event's key), and only the
// nearest threshold passed is sent: a landlord connected 17 months and 25
// days ago hears "7 days left", not also "30".

// RemindInterval is how often RunReminders looks.
const RemindInterval = time.Hour

// AuthorityReminderDays and DueReminderDays are the thresholds, in days
// before the date, nearest first.
var (
	AuthorityReminderDays = []int{1, 7, 30}
	DueReminderDays       = []int{3, 14}
)

// ObligationsCheckEvery is how often a connected landlord's obligations are
// read for reminders at most: HMRC's rate budget is the deployment's.
const ObligationsCheckEvery = 24 * time.Hour

// RunReminders writes the reminders every RemindInterval until ctx ends.
func (s *Service) RunReminders(ctx context.Context) error {
	t := time.NewTimer(time.Minute) // after the start's own work
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := s.Remind(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("webhook reminders", "err", err)
		}
		t.Reset(RemindInterval)
	}
}

// Remind writes the reminders due now for every connected landlord.
func (s *Service) Remind(ctx context.Context) error {
	now := s.now()
	epoch := time.Unix(0, 0)
	conns, err := s.store.DueConnections(ctx, mtdconnect.DueQuery{ExpiresFrom: epoch,
		ExpiresBefore: now.AddDate(100, 0, 0), UsedSince: epoch})
	if err != nil {
		return fmt.Errorf("landlord: reminders: %w", err)
	}
	for _, c := range conns {
		if ctx.Err() != nil {
			return nil
		}
		u, err := s.store.UserByID(ctx, c.UserID)
		if err != nil || u.Deleted() {
			continue
		}
		var events []*mtdconnect.Event
		if e := s.authorityReminder(u, c, now); e != nil {
			events = append(events, e)
		}
		if c.Purpose == mtdconnect.PurposeIncomeTax && u.NINO != "" {
			events = append(events, s.dueReminders(ctx, u, now)...)
		}
		if len(events) > 0 {
			if _, err := s.store.AppendEvents(ctx, events...); err != nil {
				return fmt.Errorf("landlord: reminders: %w", err)
			}
		}
	}
	return nil
}

// nearest returns the smallest threshold (days) left is within, 0 if none.
func nearest(thresholds []int, left time.Duration) int {
	for _, d := range thresholds {
		if left <= time.Duration(d)*24*time.Hour {
			return d
		}
	}
	return 0
}

func (s *Service) authorityReminder(u *mtdconnect.User, c *mtdconnect.Connection, now time.Time) *mtdconnect.Event {
	end := c.GrantEndsAt()
	left := end.Sub(now)
	d := nearest(AuthorityReminderDays, left)
	if left <= 0 || d == 0 {
		return nil
	}
	// The grant's start in the key: a new grant reminds again.
	key := "authority_expiring:" + string(c.Purpose) + ":" + strconv.FormatInt(c.GrantedAt.Unix(), 10) + ":" + strconv.Itoa(d)
	return s.newEvent(u, mtdconnect.EventAuthorityExpiring, key, eventData{Purpose: c.Purpose, Status: c.Status,
		AuthorityEndsAt: timePtr(end), ReminderDays: d, DaysLeft: intPtr(int(left / (24 * time.Hour)))})
}

// due is one deadline of the landlord: a quarterly update or a final
// declaration, open.
type due struct {
	Kind       string `json:"kind"` // quarterly-update or final-declaration
	Start, End string
	Due        string
}

// dueReminders reads the landlord's open Income Tax obligations (kept
// ones, or HMRC's at background priority at most once a day) and returns
// the reminders of those due within DueReminderDays.
func (s *Service) dueReminders(ctx context.Context, u *mtdconnect.User, now time.Time) []*mtdconnect.Event {
	list, err := s.deadlines(ctx, u, now)
	if err != nil {
		var busy *hmrc.BusyError
		if !errors.As(err, &busy) {
			s.log.Warn("webhook reminders: read obligations", "user_id", u.ID, "err", err)
		}
		return nil
	}
	today := s.today()
	var events []*mtdconnect.Event
	for _, ob := range list {
		dueDay, err := time.Parse(time.DateOnly, ob.Due)
		if err != nil || dueDay.Before(today) {
			continue
		}
		d := nearest(DueReminderDays, dueDay.Sub(today))
		if d == 0 {
			continue
		}
		key := "due_soon:" + ob.Kind + ":" + ob.Start + ":" + ob.End + ":" + strconv.Itoa(d)
		events = append(events, s.newEvent(u, mtdconnect.EventObligationDueSoon, key, eventData{
			Purpose: mtdconnect.PurposeIncomeTax, Kind: ob.Kind, PeriodStart: ob.Start, PeriodEnd: ob.End, Due: ob.Due, ReminderDays: d, DaysLeft: intPtr(int(dueDay.Sub(today) / (24 * time.Hour)))}))
	}
	return events
}

// deadlines are the landlord's open quarterly updates of this tax year (and
// of the last one, in its first two months, when its last quarter is due)
// and the last tax year's final declaration.
func (s *Service) deadlines(ctx context.Context, u *mtdconnect.User, now time.Time) ([]due, error) {
	key := "reminders:" + itsa.CurrentTaxYear(now).String()
	if c, err := s.store.CachedObligations(ctx, u.ID, key); err == nil && now.Sub(c.FetchedAt) < ObligationsCheckEvery && now.Sub(c.FetchedAt) >= 0 {
		var list []due
		if json.Unmarshal(c.Body, &list) == nil {
			return list, nil
		}
	}
	origin, err := s.hmrc.BatchOrigin(map[string]string{"mtdconnect": strconv.FormatInt(u.ID, 10)})
	if err != nil {
		return nil, err
	}
	bg := itsa.WithPriority(hmrc.Background)
	bid, err := s.itsa.UKPropertyBusinessID(ctx, u.ID, u.NINO, origin, bg)
	if err != nil {
		return nil, err
	}
	current := itsa.CurrentTaxYear(now)
	years := []itsa.TaxYear{current}
	if now.Before(time.Date(int(current), time.June, 6, 0, 0, 0, 0, time.UTC)) {
		years = append(years, current-1)
	}
	list := []due{}
	for _, y := range years {
		obs, kept := s.keptObligations(ctx, u.ID, obligationsKey(bid, y), nil, now)
		if obs == nil || now.Sub(kept) >= ObligationsCheckEvery {
			if obs, err = s.itsa.Obligations(ctx, u.ID, u.NINO, y, origin, bg); err != nil {
				return nil, err
			}
			s.keepObligations(ctx, u.ID, obligationsKey(bid, y), obs, now)
		}
		for _, ob := range obs {
			if !ob.Fulfilled() {
				list = append(list, due{Kind: "quarterly-update", Start: ob.Start, End: ob.End, Due: ob.Due})
			}
		}
	}
	if last := current - 1; last >= itsa.DeclarationObligationFirstTaxYear {
		fd, err := s.itsa.FinalDeclarationObligation(ctx, u.ID, u.NINO, last, origin, bg)
		if err != nil {
			return nil, err
		}
		if fd != nil && !fd.Fulfilled() {
			list = append(list, due{Kind: "final-declaration", Start: fd.Start, End: fd.End, Due: fd.Due})
		}
	}
	if body, err := json.Marshal(list); err == nil {
		_ = s.store.SaveObligations(ctx, &mtdconnect.CachedObligations{UserID: u.ID, Key: key, Body: body, FetchedAt: now})
	}
	return list, nil
}

func intPtr(n int) *int { return &n }
