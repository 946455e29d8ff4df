package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/landlord"
	"github.com/mtdconnect/mtdconnect/seal"
	"github.com/mtdconnect/mtdconnect/web"
)

func runAPIKeyCreate(ctx context.Context, cfg *Config, name, scopeList string, p *proc) error {
	if strings.TrimSpace(name) == "" {
		return errors.New("--name is required: what the key is for")
	}
	scopes, err := mtdconnect.ParseScopes(scopeList)
	if err != nil {
		return fmt.Errorf("--scopes: %w", err)
	}
	if len(scopes) == 0 {
		return fmt.Errorf("--scopes is required: the scopes the key may use, comma-separated, from %s", strings.ReplaceAll(mtdconnect.JoinScopes(mtdconnect.AllScopes), " ", ", "))
	}
	a, err := openStore(ctx, cfg, p.stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	key, k, err := web.CreateAPIKey(ctx, a.store, name, scopes)
	if err != nil {
		return err
	}
	fmt.Fprintf(p.stderr, "API key %d %q created with the scopes %s. It is shown once; only its hash is stored.\n",
		k.ID, k.Name, mtdconnect.JoinScopes(k.Scopes))
	fmt.Fprintln(p.stdout, key)
	return nil
}

func runAPIKeyList(ctx context.Context, cfg *Config, p *proc) error {
	a, err := openStore(ctx, cfg, p.stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	keys, err := a.store.APIKeys(ctx)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		fmt.Fprintln(p.stdout, "No API keys. Create one with: mtdconnect apikey create --name N --scopes S,S…")
		return nil
	}
	tw := tabwriter.NewWriter(p.stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSCOPES\tCREATED\tLAST USED\tSTATE")
	now := time.Now()
	for _, k := range keys {
		used := "never"
		if !k.LastUsedAt.IsZero() {
			used = k.LastUsedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, strings.ReplaceAll(mtdconnect.JoinScopes(k.Scopes), " ", ","),
			k.CreatedAt.UTC().Format(time.RFC3339), used, web.APIKeyState(k, now))
	}
	return tw.Flush()
}

func runAPIKeyByID(ctx context.Context, cfg *Config, sub string, id int64, p *proc) error {
	if id <= 0 {
		return errors.New("--id is required: the key's ID, from mtdconnect apikey list")
	}
	a, err := openStore(ctx, cfg, p.stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	now := time.Now()
	switch sub {
	case "revoke":
		if err := web.RevokeAPIKey(ctx, a.store, id, now); err != nil {
			return err
		}
		fmt.Fprintf(p.stdout, "API key %d is revoked: every instance refuses it from its next request.\n", id)
	case "rotate":
		key, k, err := web.RotateAPIKey(ctx, a.store, id, now)
		if err != nil {
			return err
		}
		fmt.Fprintf(p.stderr, "API key %d %q replaces key %d, with the same scopes (%s). It is shown once.\n"+
			"Key %d keeps working until %s: deploy the new key before then.\n",
			k.ID, k.Name, id, mtdconnect.JoinScopes(k.Scopes), id, now.Add(mtdconnect.APIKeyRotationGrace).UTC().Format(time.RFC3339))
		fmt.Fprintln(p.stdout, key)
	}
	return nil
}

// userFlags are the flags of the commands that act on one landlord.
type userFlags struct {
	user    *string
	purpose *string
}

func bindUserFlags(fs *flag.FlagSet) userFlags {
	return userFlags{
		user:    fs.String("user", "", "the landlord's email"),
		purpose: fs.String("purpose", "itsa", "which connection: itsa (Income Tax) or vat"),
	}
}

func (f userFlags) parsePurpose() (mtdconnect.Purpose, error) {
	p := mtdconnect.Purpose(*f.purpose)
	if !p.Valid() {
		return "", fmt.Errorf("--purpose must be itsa or vat, not %q", *f.purpose)
	}
	return p, nil
}

// open opens the app and finds the landlord and purpose the flags name.
func (f userFlags) open(ctx context.Context, cfg *Config, stderr io.Writer) (*app, *mtdconnect.User, mtdconnect.Purpose, error) {
	purpose, err := f.parsePurpose()
	if err != nil {
		return nil, nil, "", err
	}
	a, err := openApp(ctx, cfg, stderr)
	if err != nil {
		return nil, nil, "", err
	}
	u, err := a.userByEmail(ctx, *f.user)
	if err != nil {
		a.Close()
		return nil, nil, "", err
	}
	return a, u, purpose, nil
}

func runConnect(ctx context.Context, cfg *Config, uf userFlags, manual bool, p *proc) error {
	if !manual {
		return errors.New("from the command line only the manual flow is available: add --manual (or use Settings → HMRC Connection in the web pages)")
	}
	stdout := p.stdout
	a, u, purpose, err := uf.open(ctx, cfg, p.stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	by := landlord.ByAdministrator("")
	authURL, state, err := a.landlord.StartConnect(ctx, by, u.ID, purpose, hmrc.OOBRedirectURI)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Open this address in a browser, sign in to HMRC and grant authority:\n\n  %s\n\n", authURL)
	fmt.Fprintln(stdout, "HMRC then shows an authorisation code. It is valid for 10 minutes.")
	fmt.Fprint(stdout, "Paste the code here and press Enter: ")
	line, err := bufio.NewReader(p.stdin).ReadString('\n')
	if err != nil && line == "" {
		return errors.New("no code was entered")
	}
	code := strings.TrimSpace(line)
	if _, err := a.landlord.CompleteConnect(ctx, by, u.ID, state, code); err != nil {
		var ee *hmrc.ExchangeError
		switch {
		case errors.As(err, &ee):
			return errors.New("HMRC did not accept the code: it may be mistyped, expired (10 minutes) or used already; run the command again")
		case errors.Is(err, hmrc.ErrStateExpired):
			return errors.New("more than 10 minutes passed; run the command again")
		}
		return err
	}
	fmt.Fprintln(stdout)
	return printStatus(ctx, a, u, purpose, false, stdout)
}

func runUserCommand(ctx context.Context, cfg *Config, cmd string, uf userFlags, asJSON bool, p *proc) error {
	stdout := p.stdout
	a, u, purpose, err := uf.open(ctx, cfg, p.stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	by := landlord.ByAdministrator("")
	switch cmd {
	case "refresh":
		if err := a.landlord.Refresh(ctx, by, u.ID, purpose); err != nil {
			return explain(err)
		}
		fmt.Fprintln(stdout, "Refreshed.")
	case "test":
		// No landlord's device is involved: this server is the device.
		origin, err := a.hmrc.BatchOrigin(map[string]string{"mtdconnect": strconv.FormatInt(u.ID, 10)})
		if err != nil {
			return fmt.Errorf("describe this server for HMRC's fraud prevention headers: %w", err)
		}
		msg, err := a.landlord.Test(ctx, by, u.ID, purpose, origin)
		if err != nil {
			return explain(err)
		}
		fmt.Fprintln(stdout, msg)
		return nil
	case "disconnect":
		if err := a.landlord.Disconnect(ctx, by, u.ID, purpose); err != nil {
			return explain(err)
		}
		fmt.Fprintf(stdout, "Disconnected: the tokens are deleted. To remove the authority at HMRC too, sign in at %s\n", a.cfg.ManageAuthorityURL())
		return nil
	}
	return printStatus(ctx, a, u, purpose, asJSON, stdout)
}

// explain turns an hmrc error into words for the command line.
func explain(err error) error {
	var re *hmrc.ReconnectError
	switch {
	case errors.Is(err, hmrc.ErrNotConnected):
		return errors.New("not connected to HMRC: connect first (mtdconnect connect --user EMAIL --manual, or the web page)")
	case errors.As(err, &re):
		return fmt.Errorf("HMRC no longer accepts this connection (%s): connect again", re.Reason)
	case errors.Is(err, hmrc.ErrUnavailable):
		return fmt.Errorf("HMRC could not be reached; try again in a few minutes (%v)", err)
	case errors.Is(err, landlord.ErrNoNINO):
		return errors.New("the landlord has no National Insurance number yet: set one with mtdconnect users set --email EMAIL --nino NINO")
	case errors.Is(err, landlord.ErrNoVRN):
		return errors.New("the landlord has no VAT registration number yet: set one with mtdconnect users set --email EMAIL --vrn VRN")
	case errors.Is(err, landlord.ErrUnknownUser):
		return errors.New("no such landlord")
	}
	return err
}

// StatusJSON is the connection status as the CLI and the API print it.
type StatusJSON struct {
	UserID               int64      `json:"user_id"`
	Purpose              string     `json:"purpose"`
	Status               string     `json:"status"`
	Reason               string     `json:"reason,omitempty"`
	Scopes               string     `json:"scopes,omitempty"`
	ConnectedSince       *time.Time `json:"connected_since,omitempty"`
	AccessTokenExpiresAt *time.Time `json:"access_token_expires_at,omitempty"`
	AuthorityEndsAt      *time.Time `json:"authority_ends_at,omitempty"`
	LastRefreshAt        *time.Time `json:"last_refresh_at,omitempty"`
}

func printStatus(ctx context.Context, a *app, u *mtdconnect.User, p mtdconnect.Purpose, asJSON bool, w io.Writer) error {
	st, err := a.landlord.Status(ctx, u.ID, p)
	if err != nil {
		return explain(err)
	}
	s := StatusJSON{UserID: u.ID, Purpose: string(p), Status: string(st.Status), Reason: st.Reason,
		Scopes:         strings.Join(st.Scopes, " "),
		ConnectedSince: timePtr(st.ConnectedSince), AuthorityEndsAt: timePtr(st.AuthorityEndsAt),
		LastRefreshAt: timePtr(st.LastRefreshAt)}
	if st.Connected() {
		s.AccessTokenExpiresAt = timePtr(st.AccessTokenExpiresAt)
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	status := st.Status.Label()
	if s.Reason != "" {
		status += " — " + s.Reason
	}
	fmt.Fprintf(w, "%s, HMRC connection (%s): %s\n", u.Email, p.Label(), status)
	if st.Status == mtdconnect.StatusNotConnected {
		return nil
	}
	fmt.Fprintf(w, "  connected since:      %s\n", formatTime(st.ConnectedSince))
	fmt.Fprintf(w, "  scopes:               %s\n", s.Scopes)
	if st.Connected() {
		fmt.Fprintf(w, "  access token expires: %s (in %s)\n", formatTime(st.AccessTokenExpiresAt), time.Until(st.AccessTokenExpiresAt).Round(time.Minute))
	}
	fmt.Fprintf(w, "  authority ends on:    %s\n", st.AuthorityEndsAt.Local().Format("2 January 2006"))
	fmt.Fprintf(w, "  last refresh:         %s\n", formatTime(st.LastRefreshAt))
	return nil
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func runKeysetRotate(cfg *Config, p *proc) error {
	stdout := p.stdout
	if err := cfg.resolve(); err != nil {
		return err
	}
	h, err := seal.LoadKeysetFile(cfg.KeysetFile)
	if err != nil {
		return err
	}
	rotated, err := seal.Rotate(h)
	if err != nil {
		return err
	}
	if err := seal.WriteKeysetFile(cfg.KeysetFile, rotated); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rotated %s: new tokens are sealed with a new key; older keys still open what they sealed\n", cfg.KeysetFile)
	return nil
}
