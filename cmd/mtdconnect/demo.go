package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/web"
)

// demoAccounts are the accounts a start with the built-in simulator makes,
// whose passwords the README and the banner publish.
var demoAccounts = []struct {
	email, password string
	admin           bool
}{
	{demoEmail, demoPassword, false},
	{demoAdminEmail, demoAdminPassword, true},
}

// seedDemo makes the demo's accounts on a start with the built-in
// simulator: the demo landlord, who is not an administrator, and the demo
// administrator for the admin pages. A demo landlord made an administrator
// by an earlier version loses that while it keeps the demo password.
func seedDemo(ctx context.Context, a *app) error {
	for _, d := range demoAccounts {
		u, err := a.store.UserByEmail(ctx, d.email)
		if err == nil {
			if u.Admin && !d.admin && web.CheckPassword(u.PasswordHash, d.password) {
				u.Admin = false
				if err := a.store.UpdateUser(ctx, u); err != nil {
					return fmt.Errorf("demo landlord: no longer an administrator: %w", err)
				}
				a.log.Info("the demo landlord is no longer an administrator; the demo administrator is a separate account", "email", d.email, "admin", demoAdminEmail)
			}
			continue
		}
		if !errors.Is(err, mtdconnect.ErrNotFound) {
			return err
		}
		hash, err := web.HashPassword(d.password)
		if err != nil {
			return err
		}
		u = &mtdconnect.User{Email: d.email, PasswordHash: hash, Admin: d.admin}
		if err := a.store.CreateUser(ctx, u); err != nil && !errors.Is(err, mtdconnect.ErrConflict) {
			return fmt.Errorf("create the demo account %s: %w", d.email, err)
		}
	}
	return nil
}

// demoCheckOldest is how many of the oldest accounts refuseDemoPasswords
// checks besides the demo's own emails: a demo account renamed on its
// settings page keeps its ID, and the demo's accounts are made by a
// database's first start. Each check is an argon2id hash (about 20 ms and
// 19 MiB), so the start checks a bounded few, not every account.
const demoCheckOldest = 4

// refuseDemoPasswords stops a sandbox or production start while an account
// still has a demo password: anyone who read the README could sign in as
// it, and as the demo administrator change the HMRC application. It checks
// the demo's emails and the oldest accounts, against every demo password.
func refuseDemoPasswords(ctx context.Context, store mtdconnect.Store) error {
	var users []*mtdconnect.User
	seen := map[int64]bool{}
	add := func(u *mtdconnect.User, err error) error {
		switch {
		case errors.Is(err, mtdconnect.ErrNotFound):
			return nil
		case err != nil:
			return fmt.Errorf("check for the demo's passwords: %w", err)
		case seen[u.ID] || u.Deleted() || u.PasswordHash == "":
			return nil
		}
		seen[u.ID] = true
		users = append(users, u)
		return nil
	}
	for _, d := range demoAccounts {
		if err := add(store.UserByEmail(ctx, d.email)); err != nil {
			return err
		}
	}
	for id := int64(1); id <= demoCheckOldest; id++ {
		if err := add(store.UserByID(ctx, id)); err != nil {
			return err
		}
	}
	var found []string
	for _, u := range users {
		for _, d := range demoAccounts {
			if web.CheckPassword(u.PasswordHash, d.password) {
				found = append(found, u.Email)
				break
			}
		}
	}
	if len(found) == 0 {
		return nil
	}
	var fix strings.Builder
	for _, e := range found {
		fmt.Fprintf(&fix, "\n  mtdconnect users passwd --email %s   (a new password)\n  mtdconnect users delete --email %s   (or delete it)", e, e)
	}
	return fmt.Errorf("refusing to start against HMRC: %s still %s the demo's published password (set by a start with the simulator), "+
		"so anyone who read the README could sign in. Change the password or delete the account, with the same "+
		"MTDCONNECT_DATA_DIR / MTDCONNECT_DATABASE_URL:%s\nAn administrator for the admin pages is added with: mtdconnect users add --email E --admin",
		strings.Join(found, " and "), map[bool]string{true: "has", false: "have"}[len(found) == 1], fix.String())
}
