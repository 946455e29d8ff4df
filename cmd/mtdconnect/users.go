package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/web"
)

// usersFlags are the flags of the users commands.
type usersFlags struct {
	email, password, nino, vrn string
	admin, totp, remove        bool
}

func runUsersAdd(ctx context.Context, cfg *Config, f usersFlags, p *proc) error {
	stdout, stderr := p.stdout, p.stderr
	e := strings.ToLower(strings.TrimSpace(f.email))
	if !strings.Contains(e, "@") {
		return errors.New("--email must be an email address")
	}
	ids, err := parseIdentifiers(f.nino, f.vrn)
	if err != nil {
		return err
	}
	if f.password, err = readPassword(f.password, p); err != nil {
		return err
	}
	// The store alone: the first administrator is added before any HMRC
	// application is stored.
	a, err := openStore(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	hash, err := web.HashPassword(f.password)
	if err != nil {
		return err
	}
	u := &mtdconnect.User{Email: e, PasswordHash: hash, Admin: f.admin, NINO: ids.NINO, VRN: ids.VRN}
	if err := a.store.CreateUser(ctx, u); errors.Is(err, mtdconnect.ErrConflict) {
		return fmt.Errorf("a user with email %s already exists", e)
	} else if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "added user %d: %s\n", u.ID, u.Email)
	if f.totp {
		// The secret is sealed to the user's row, so the user must exist
		// first.
		if err := a.enrolTOTP(ctx, u, stdout, stderr); err != nil {
			return fmt.Errorf("user %s was added, but without an authenticator app: %w (add one with: mtdconnect users totp --email %s)", e, err, e)
		}
	}
	return nil
}

// parseIdentifiers checks a NINO and a VRN given on the command line; an
// empty one stays empty.
func parseIdentifiers(nino, vrn string) (mtdconnect.User, error) {
	var u mtdconnect.User
	var err error
	if nino != "" {
		if u.NINO, err = mtdconnect.ParseNINO(nino); err != nil {
			return u, fmt.Errorf("--nino: %w", err)
		}
	}
	if vrn != "" {
		if u.VRN, err = mtdconnect.ParseVRN(vrn); err != nil {
			return u, fmt.Errorf("--vrn: %w", err)
		}
	}
	return u, nil
}

// runUsersSet sets a landlord's NINO and/or VRN; "" is not a value here,
// so a flag left out keeps what is stored.
func runUsersSet(ctx context.Context, cfg *Config, f usersFlags, p *proc) error {
	stdout, stderr := p.stdout, p.stderr
	if f.nino == "" && f.vrn == "" {
		return errors.New("give --nino, --vrn or both")
	}
	ids, err := parseIdentifiers(f.nino, f.vrn)
	if err != nil {
		return err
	}
	a, err := openStore(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	u, err := a.userByEmail(ctx, f.email)
	if err != nil {
		return err
	}
	if ids.NINO != "" {
		u.NINO = ids.NINO
	}
	if ids.VRN != "" {
		u.VRN = ids.VRN
	}
	if err := a.store.UpdateUser(ctx, u); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "user %s: NINO %s, VRN %s\n", u.Email, cmp.Or(u.NINO, "none"), cmp.Or(u.VRN, "none"))
	return nil
}

// runUsersTOTP adds a landlord's authenticator app for an administrator
// setting the account up, or removes it (a lost phone): the command line
// is trusted, so no code is asked for.
func runUsersTOTP(ctx context.Context, cfg *Config, f usersFlags, p *proc) error {
	stdout, stderr := p.stdout, p.stderr
	e := strings.ToLower(strings.TrimSpace(f.email))
	if e == "" {
		return errors.New("--email is required")
	}
	a, err := openStore(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	u, err := a.store.UserByEmail(ctx, e)
	if errors.Is(err, mtdconnect.ErrNotFound) {
		return fmt.Errorf("no user with email %s", e)
	} else if err != nil {
		return err
	}
	if !f.remove {
		if len(u.TOTPSecret) > 0 {
			return fmt.Errorf("%s already has an authenticator app; nothing was changed (to replace it, first run: mtdconnect users totp --email %s --remove)", e, e)
		}
		return a.enrolTOTP(ctx, u, stdout, stderr)
	}
	if len(u.TOTPSecret) == 0 {
		return fmt.Errorf("%s has no authenticator app; nothing was changed", e)
	}
	if err := a.store.SetTOTP(ctx, u.ID, nil, 0); err != nil {
		return fmt.Errorf("remove the authenticator app of %s: %w", e, err)
	}
	a.log.Info("authenticator app removed from the command line", "user_id", u.ID)
	fmt.Fprintf(stdout, "removed the authenticator app of %s: signing in now takes the password only\n", e)
	return nil
}

// enrolTOTP gives u a new authenticator app and prints its key and
// otpauth:// URI, once: only the sealed secret is stored.
func (a *app) enrolTOTP(ctx context.Context, u *mtdconnect.User, stdout, stderr io.Writer) error {
	secret := web.NewTOTPSecret()
	sealed, err := web.SealTOTPSecret(a.sealer, u.ID, secret)
	if err != nil {
		return err
	}
	u.TOTPSecret, u.TOTPLastStep = sealed, 0
	if err := a.store.SetTOTP(ctx, u.ID, sealed, 0); err != nil {
		return fmt.Errorf("save the authenticator app of %s: %w", u.Email, err)
	}
	a.log.Info("authenticator app added from the command line", "user_id", u.ID)
	fmt.Fprintf(stderr, "Authenticator app added for %s. Its key is shown once: give it to the user over a safe channel; "+
		"from now on signing in takes a code from the app after the password.\n", u.Email)
	fmt.Fprintf(stdout, "key: %s\n", web.TOTPKey(secret))
	fmt.Fprintf(stdout, "uri: %s\n", web.TOTPURI(u.Email, secret))
	return nil
}

// readPassword checks a new password, read from standard input when the
// flag gave none. The demo's published passwords are refused: a sandbox or
// production start refuses to run while an account has one.
func readPassword(password string, p *proc) (string, error) {
	if password == "" {
		fmt.Fprint(p.stderr, "Password: ")
		line, _ := bufio.NewReader(p.stdin).ReadString('\n')
		password = strings.TrimSpace(line)
	}
	if len(password) < 8 {
		return "", errors.New("the password must be at least 8 characters")
	}
	for _, d := range demoAccounts {
		if password == d.password {
			return "", errors.New("that is the demo's published password: choose another")
		}
	}
	return password, nil
}

// runUsersPasswd sets a user's password, e.g. the demo's accounts' before
// a start against HMRC. Their sessions stay: the command line is trusted,
// and a session is bound to the browser, not to the password.
func runUsersPasswd(ctx context.Context, cfg *Config, f usersFlags, p *proc) error {
	e := strings.ToLower(strings.TrimSpace(f.email))
	if e == "" {
		return errors.New("--email is required")
	}
	password, err := readPassword(f.password, p)
	if err != nil {
		return err
	}
	a, err := openStore(ctx, cfg, p.stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	u, err := a.store.UserByEmail(ctx, e)
	if errors.Is(err, mtdconnect.ErrNotFound) {
		return fmt.Errorf("no user with email %s", e)
	} else if err != nil {
		return err
	}
	if u.PasswordHash, err = web.HashPassword(password); err != nil {
		return err
	}
	if err := a.store.UpdateUser(ctx, u); err != nil {
		return fmt.Errorf("set the password of %s: %w", e, err)
	}
	a.log.Info("password set from the command line", "user_id", u.ID)
	fmt.Fprintf(p.stdout, "set the password of %s\n", e)
	return nil
}

// runUsersDelete deletes a user who signs in, administrators included (the
// command line is trusted; the pages and the API delete landlords only):
// their sessions, connections and second factor go at once, their receipts
// and audit are kept until mtdconnect.RetainUntil.
func runUsersDelete(ctx context.Context, cfg *Config, f usersFlags, p *proc) error {
	e := strings.ToLower(strings.TrimSpace(f.email))
	if e == "" {
		return errors.New("--email is required")
	}
	a, err := openStore(ctx, cfg, p.stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	u, err := a.store.UserByEmail(ctx, e)
	if errors.Is(err, mtdconnect.ErrNotFound) {
		return fmt.Errorf("no user with email %s", e)
	} else if err != nil {
		return err
	}
	now := time.Now()
	keep := mtdconnect.RetainUntil(now)
	if err := a.store.DeleteUser(ctx, u.ID, now, keep); err != nil {
		return fmt.Errorf("delete %s: %w", e, err)
	}
	ev := &mtdconnect.AuditEvent{UserID: u.ID, Kind: mtdconnect.AuditUserDeleted, At: now,
		Detail: "deleted from the command line; records kept until " + keep.Format(time.DateOnly)}
	if err := a.store.AppendAudit(ctx, ev); err != nil {
		a.log.Error("audit", "user_id", u.ID, "kind", ev.Kind, "err", err)
	}
	a.log.Info("user deleted from the command line", "user_id", u.ID)
	fmt.Fprintf(p.stdout, "deleted %s (user %d); their receipts and audit are kept until %s\n", e, u.ID, keep.Format(time.DateOnly))
	return nil
}
