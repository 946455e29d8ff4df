package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
)

// appFlags are the flags of the app commands. They are the command's own
// (--client-id included): the stored application is never taken from
// MTDCONNECT_CLIENT_ID or MTDCONNECT_ENV by accident.
type appFlags struct {
	env          string
	clientID     string
	secretArg    string // refused
	secretFile   string
	secretStdin  bool
	redirectURIs []string
	last4, id    string
}

func runApp(ctx context.Context, cfg *Config, sub string, f appFlags, p *proc) error {
	stdin, stdout, stderr, getenv := p.stdin, p.stdout, p.stderr, p.getenv
	clientID := f.clientID
	if f.secretArg != "" {
		return errors.New("a client secret on the command line is visible to other users of the machine: use --client-secret-file FILE or --client-secret-stdin")
	}
	if sub != "show" && f.env == "" {
		return errors.New("--env sandbox|production is required")
	}
	if sub == "set" && clientID == "" {
		return errors.New("--client-id is required: the client ID HMRC's Developer Hub shows for the application")
	}
	if sub == "remove-secret" && (f.last4 == "") == (f.id == "") {
		return errors.New("say which secret to remove: --last4 XXXX or --id ID (see mtdconnect app show)")
	}
	secret, err := f.readSecret(sub, stdin)
	if err != nil {
		return err
	}
	a, err := openStore(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	apps := hmrc.NewApplications(a.store, a.sealer, nil)
	switch sub {
	case "set":
		return a.appSet(ctx, apps, f, clientID, secret, getenv, stdout, stderr)
	case "rotate-secret":
		app, err := apps.AddSecret(ctx, f.env, secret, 0)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Added the client secret …%s to the %s application; it is used from now on (running services take it within a minute).\n", app.Secrets[0].Last4, f.env)
		if len(app.Secrets) > 1 {
			fmt.Fprintf(stdout, "The older secrets stay, so nothing is interrupted. Once HMRC accepts the new one, delete the old one at HMRC's Developer Hub and here:\n  mtdconnect app remove-secret --env %s --last4 %s\n", f.env, app.Secrets[1].Last4)
		}
		return a.printApps(ctx, apps, f.env, getenv, stdout)
	case "remove-secret":
		ref := f.last4 + f.id
		if _, err := apps.RemoveSecret(ctx, f.env, ref, 0); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Removed the client secret %s from the %s application.\n", ref, f.env)
		return a.printApps(ctx, apps, f.env, getenv, stdout)
	case "confirm":
		c, err := apps.Confirm(ctx, f.env, 0)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "This service may call HMRC's external web services in %s: allowed by %s on %s.\n", f.env, a.who(ctx, c.UserID), formatTime(c.At))
		return nil
	}
	return a.printApps(ctx, apps, f.env, getenv, stdout)
}

// readSecret reads the client secret from the file or standard input the
// flags name; "" when neither is given.
func (f appFlags) readSecret(sub string, stdin io.Reader) (string, error) {
	var b []byte
	var err error
	switch {
	case f.secretFile != "" && f.secretStdin:
		return "", errors.New("give the client secret once: --client-secret-file or --client-secret-stdin, not both")
	case f.secretFile != "":
		if b, err = os.ReadFile(f.secretFile); err != nil {
			return "", fmt.Errorf("client secret file: %w", err)
		}
	case f.secretStdin:
		if b, err = io.ReadAll(io.LimitReader(stdin, 4096)); err != nil {
			return "", fmt.Errorf("read the client secret from standard input: %w", err)
		}
	case sub == "rotate-secret":
		return "", errors.New("give the new client secret with --client-secret-file FILE or --client-secret-stdin")
	}
	s := strings.TrimSpace(string(b))
	if (f.secretFile != "" || f.secretStdin) && s == "" {
		return "", errors.New("the client secret given is empty")
	}
	return s, nil
}

func (a *app) appSet(ctx context.Context, apps *hmrc.Applications, f appFlags, clientID, secret string, getenv getenvFunc, stdout, stderr io.Writer) error {
	old, err := apps.Get(ctx, f.env)
	if err != nil && !errors.Is(err, hmrc.ErrNoApplication) {
		return err
	}
	// No --redirect-uri (nil) keeps the stored ones.
	app, err := apps.Set(ctx, f.env, clientID, secret, f.redirectURIs, 0)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Stored the %s application %s.", f.env, app.ClientID)
	if secret != "" {
		fmt.Fprintf(stdout, " Its client secret …%s is sealed and will not be shown again.", app.Secrets[0].Last4)
	}
	fmt.Fprintln(stdout)
	if old != nil && old.ClientID != app.ClientID {
		fmt.Fprintf(stderr, "WARNING: the client ID changed from %s. Landlords connected through the previous application will need to connect again.\n", old.ClientID)
	}
	if _, err := apps.Confirmation(ctx, f.env); errors.Is(err, mtdconnect.ErrNotFound) {
		fmt.Fprintf(stdout, "Before landlords can connect, an administrator must allow this service to call HMRC's external web services:\n  mtdconnect app confirm --env %s   (or Admin → HMRC application)\n", f.env)
	} else if err != nil {
		return err
	}
	return a.printApps(ctx, apps, f.env, getenv, stdout)
}

// printApps shows the stored application of env, or of both environments
// when env is empty. Secrets show only their last 4 characters.
func (a *app) printApps(ctx context.Context, apps *hmrc.Applications, env string, getenv getenvFunc, w io.Writer) error {
	envs := []string{hmrc.EnvSandbox, hmrc.EnvProduction}
	if env != "" {
		envs = []string{env}
	}
	for i, e := range envs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		app, err := apps.Get(ctx, e)
		if errors.Is(err, hmrc.ErrNoApplication) {
			fmt.Fprintf(w, "%s: no application stored (mtdconnect app set --env %s --client-id ID --client-secret-file FILE)\n", e, e)
		} else if err != nil {
			return err
		} else {
			fmt.Fprintf(w, "%s application\n", e)
			fmt.Fprintf(w, "  client ID:      %s\n", app.ClientID)
			fmt.Fprintf(w, "  redirect URIs:  %s\n", cmp.Or(strings.Join(app.RedirectURIs, ", "), "none recorded"))
			for j, s := range app.Secrets {
				label := "client secrets:"
				if j > 0 {
					label = ""
				}
				use := ""
				if j == 0 {
					use = "  (in use)"
				}
				fmt.Fprintf(w, "  %-15s …%s  added %s  id %s%s\n", label, s.Last4, formatTime(s.AddedAt), s.ID, use)
			}
			fmt.Fprintf(w, "  updated:        %s by %s\n", formatTime(app.UpdatedAt), a.who(ctx, app.UpdatedBy))
		}
		c, err := apps.Confirmation(ctx, e)
		switch {
		case errors.Is(err, mtdconnect.ErrNotFound):
			fmt.Fprintf(w, "  HMRC's external web services: not yet allowed (mtdconnect app confirm --env %s)\n", e)
		case err != nil:
			return err
		default:
			fmt.Fprintf(w, "  HMRC's external web services: allowed by %s on %s\n", a.who(ctx, c.UserID), formatTime(c.At))
		}
		if e == getenv("MTDCONNECT_HMRC") && getenv("MTDCONNECT_CLIENT_ID") != "" {
			fmt.Fprintf(w, "  note: MTDCONNECT_CLIENT_ID is set here and overrides the stored application\n")
		}
	}
	return nil
}

// who names the administrator of a change: their email, or the command
// line (user 0).
func (a *app) who(ctx context.Context, userID int64) string {
	if userID == 0 {
		return "the command line"
	}
	u, err := a.store.UserByID(ctx, userID)
	if err != nil {
		return fmt.Sprintf("user %d", userID)
	}
	return u.Email
}
