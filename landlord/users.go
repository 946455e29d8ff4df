package landlord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mtdconnect/mtdconnect"
)

// The platform's landlords: created and updated by the platform's own ref,
// named in the API by their handle (the ref, or "id:N" for the built-in
// pages' landlords), deleted with their records kept for a while.

// ErrAdministrator means an administrator was asked to be deleted through
// the API: administrators are managed on the command line.
var ErrAdministrator = errors.New("landlord: administrators cannot be deleted through the API")

// DeletedError means the landlord was deleted: nothing can be done for
// them any more, but their receipts and audit are kept until KeptUntil.
type DeletedError struct {
	Handle    string // "id:N": the ref went with the landlord
	DeletedAt time.Time
	KeptUntil time.Time
}

func (e *DeletedError) Error() string {
	return "landlord: " + e.Handle + " was deleted"
}

// FieldError is one refused field of a landlord's details: the field's
// JSON name, HMRC's code for it where HMRC has one, and a sentence.
type FieldError struct {
	Field   string // email, display_name, nino, vrn
	Code    string
	Message string
}

// InvalidUserError lists the refused fields; nothing was changed.
type InvalidUserError struct{ Fields []FieldError }

func (e *InvalidUserError) Error() string {
	names := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		names[i] = f.Field
	}
	return "landlord: invalid " + strings.Join(names, ", ")
}

// UserChanges are the details of a landlord to set. A nil field is left
// as it is; a pointer to "" clears it.
type UserChanges struct {
	Email       *string
	DisplayName *string
	NINO        *string
	VRN         *string
}

// maxDisplayName bounds a display name, in characters.
const maxDisplayName = 200

// apply validates ch and writes it into u; it changes nothing in u if any
// field is refused.
func (ch UserChanges) apply(u *mtdconnect.User) error {
	next := *u
	var errs []FieldError
	if ch.Email != nil {
		e := strings.TrimSpace(*ch.Email)
		switch {
		case u.Ref == "" && e != u.Email:
			errs = append(errs, FieldError{Field: "email", Code: "EMAIL_NOT_CHANGEABLE",
				Message: "This landlord signs in to mtdconnect's own pages with their email; it cannot be changed through the API."})
		case e != "" && !validEmail(e):
			errs = append(errs, FieldError{Field: "email", Code: "FORMAT_EMAIL",
				Message: "The email must be an address like name@example.com, at most 254 characters."})
		default:
			next.Email = e
		}
	}
	if ch.DisplayName != nil {
		n := strings.TrimSpace(*ch.DisplayName)
		if utf8.RuneCountInString(n) > maxDisplayName || !printable(n) {
			errs = append(errs, FieldError{Field: "display_name", Code: "FORMAT_DISPLAY_NAME",
				Message: "The display name must be at most " + strconv.Itoa(maxDisplayName) + " printable characters."})
		}
		next.DisplayName = n
	}
	if ch.NINO != nil {
		next.NINO = ""
		if *ch.NINO != "" {
			n, err := mtdconnect.ParseNINO(*ch.NINO)
			var ne *mtdconnect.NINOError
			if errors.As(err, &ne) {
				errs = append(errs, FieldError{Field: "nino", Code: "FORMAT_NINO", Message: "The National Insurance number " + ne.Problem + "."})
			}
			next.NINO = n
		}
	}
	if ch.VRN != nil {
		next.VRN = ""
		if *ch.VRN != "" {
			v, err := mtdconnect.ParseVRN(*ch.VRN)
			var ve *mtdconnect.VRNError
			if errors.As(err, &ve) {
				errs = append(errs, FieldError{Field: "vrn", Code: "VRN_INVALID", Message: "The VAT registration number " + ve.Problem + "."})
			}
			next.VRN = v
		}
	}
	if len(errs) > 0 {
		return &InvalidUserError{Fields: errs}
	}
	*u = next
	return nil
}

func validEmail(e string) bool {
	local, domain, ok := strings.Cut(e, "@")
	return ok && local != "" && domain != "" && !strings.Contains(domain, "@") && len(e) <= 254 &&
		!strings.ContainsFunc(e, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) })
}

func printable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) })
}

// UserByHandle finds the landlord the API names by handle: a platform's
// ref, or "id:" and mtdconnect's numeric ID. It returns deleted landlords
// too (User.Deleted): the actions refuse them, their receipts stay
// readable. A malformed handle is a *mtdconnect.RefError; none matching is
// ErrUnknownUser.
func (s *Service) UserByHandle(ctx context.Context, handle string) (*mtdconnect.User, error) {
	var (
		u   *mtdconnect.User
		err error
	)
	if rest, ok := strings.CutPrefix(handle, mtdconnect.IDHandlePrefix); ok {
		id, perr := strconv.ParseInt(rest, 10, 64)
		if perr != nil || id <= 0 || strconv.FormatInt(id, 10) != rest {
			return nil, &mtdconnect.RefError{Problem: `in the "id:" form must be "id:" and a positive number`}
		}
		u, err = s.store.UserByID(ctx, id)
	} else {
		if _, err := mtdconnect.ParseRef(handle); err != nil {
			return nil, err
		}
		u, err = s.store.UserByRef(ctx, handle)
	}
	if errors.Is(err, mtdconnect.ErrNotFound) {
		return nil, ErrUnknownUser
	}
	if err != nil {
		return nil, fmt.Errorf("landlord: find user: %w", err)
	}
	return u, nil
}

// User returns the landlord userID: ErrUnknownUser, or a *DeletedError if
// they were deleted.
func (s *Service) User(ctx context.Context, userID int64) (*mtdconnect.User, error) {
	return s.user(ctx, userID)
}

// PutUser creates the landlord the platform names ref, or updates their
// details: 201-or-200 is created. Calling it again with the same changes
// changes nothing. A landlord made here has no password and never signs in
// to the pages.
func (s *Service) PutUser(ctx context.Context, by Actor, ref string, ch UserChanges) (u *mtdconnect.User, created bool, err error) {
	if _, err := mtdconnect.ParseRef(ref); err != nil {
		return nil, false, err
	}
	// Check the changes once up front, so a refused field is refused the
	// same way whether the landlord exists or not.
	if err := ch.apply(&mtdconnect.User{Ref: ref}); err != nil {
		return nil, false, err
	}
	// Two PUTs of a new ref at once: one creates, the other finds it taken
	// (ErrConflict) and updates on the next turn. A landlord deleted in
	// between (ErrNotFound on update) is created anew.
	for range 3 {
		u, err = s.store.UserByRef(ctx, ref)
		switch {
		case errors.Is(err, mtdconnect.ErrNotFound):
			u = &mtdconnect.User{Ref: ref}
			if err := ch.apply(u); err != nil {
				return nil, false, err
			}
			err = s.store.CreateUser(ctx, u)
			if errors.Is(err, mtdconnect.ErrConflict) {
				continue
			}
			if err != nil {
				return nil, false, fmt.Errorf("landlord: create user: %w", err)
			}
			s.record(ctx, by, "landlord created", u.ID, "")
			return u, true, nil
		case err != nil:
			return nil, false, fmt.Errorf("landlord: find user: %w", err)
		}
		before := *u
		if err := ch.apply(u); err != nil {
			return nil, false, err
		}
		if sameDetails(&before, u) {
			return u, false, nil
		}
		err = s.store.UpdateUser(ctx, u)
		if errors.Is(err, mtdconnect.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, false, fmt.Errorf("landlord: update user: %w", err)
		}
		s.record(ctx, by, "landlord updated", u.ID, "")
		return u, false, nil
	}
	return nil, false, fmt.Errorf("landlord: put user: %w", mtdconnect.ErrConflict)
}

func sameDetails(a, b *mtdconnect.User) bool {
	return a.Email == b.Email && a.DisplayName == b.DisplayName && a.NINO == b.NINO && a.VRN == b.VRN
}

// UpdateUser changes the details of an existing landlord.
func (s *Service) UpdateUser(ctx context.Context, by Actor, userID int64, ch UserChanges) (*mtdconnect.User, error) {
	u, err := s.user(ctx, userID)
	if err != nil {
		return nil, err
	}
	before := *u
	if err := ch.apply(u); err != nil {
		return nil, err
	}
	if sameDetails(&before, u) {
		return u, nil
	}
	if err := s.store.UpdateUser(ctx, u); errors.Is(err, mtdconnect.ErrNotFound) {
		return nil, ErrUnknownUser
	} else if err != nil {
		return nil, fmt.Errorf("landlord: update user: %w", err)
	}
	s.record(ctx, by, "landlord updated", u.ID, "")
	return u, nil
}

// DeleteUser deletes the landlord at once: their HMRC tokens (HMRC keeps
// the authority until the landlord removes it there: there is no
// revocation endpoint), sessions, pending authorisations, connect
// sessions, UK property business ID and kept obligations. Their receipts and audit are kept until
// mtdconnect.RetainUntil(now), readable by the handle "id:N" the returned
// user has, then purged. The ref is free at once: a landlord created again
// with it is a new landlord, who sees nothing of this one.
func (s *Service) DeleteUser(ctx context.Context, by Actor, userID int64) (*mtdconnect.User, error) {
	u, err := s.user(ctx, userID)
	if err != nil {
		return nil, err
	}
	if u.Admin {
		return nil, ErrAdministrator
	}
	now := s.now()
	keep := mtdconnect.RetainUntil(now)
	// The deletion must not be half-done because the caller went away.
	ctx = context.WithoutCancel(ctx)
	// Each connection the deletion ends is reported as disconnected.
	var events []*mtdconnect.Event
	for _, p := range []mtdconnect.Purpose{mtdconnect.PurposeIncomeTax, mtdconnect.PurposeVAT} {
		if c, err := s.store.Connection(ctx, userID, p); err == nil {
			events = append(events, s.connectionEvents(withActor(ctx, by), c, nil)...)
		}
	}
	if err := s.store.DeleteUser(ctx, userID, now, keep, events...); errors.Is(err, mtdconnect.ErrNotFound) {
		return nil, ErrUnknownUser
	} else if err != nil {
		return nil, fmt.Errorf("landlord: delete user: %w", err)
	}
	e := &mtdconnect.AuditEvent{UserID: userID, Kind: mtdconnect.AuditUserDeleted, At: now,
		Detail: "landlord deleted by " + by.String() + "; records kept until " + keep.Format(time.DateOnly)}
	if err := s.store.AppendAudit(ctx, e); err != nil {
		s.log.Error("audit", "user_id", userID, "kind", e.Kind, "err", err)
	}
	s.record(ctx, by, "landlord deleted", userID, "", slog.Time("records_kept_until", keep))
	return s.store.UserByID(ctx, userID)
}

// PurgeInterval is how often RunPurge purges: the retention is counted in
// years, a day late costs nothing.
const PurgeInterval = 24 * time.Hour

// RunPurge purges at once, then every PurgeInterval, until ctx ends. A
// failed purge is logged and tried again at the next turn (the rows wait).
func (s *Service) RunPurge(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if _, err := s.PurgeDeleted(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("purge of deleted landlords", "err", err)
		}
		t.Reset(PurgeInterval)
	}
}

// PurgeDeleted removes the deleted landlords whose records' retention has
// ended, with their receipts and audit (RunPurge runs it daily).
func (s *Service) PurgeDeleted(ctx context.Context) (int, error) {
	n, err := s.store.PurgeDeletedUsers(ctx, s.now())
	if err != nil {
		return 0, fmt.Errorf("landlord: purge deleted landlords: %w", err)
	}
	if n > 0 {
		s.log.Info("deleted landlords' records purged", "count", n)
	}
	return n, nil
}
