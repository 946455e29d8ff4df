// Command mtdconnect connects UK landlords to HMRC's Making Tax Digital.
// With no arguments it serves the web pages and the JSON API on an
// embedded SQLite database with the built-in HMRC simulator.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/postgres"
	"github.com/mtdconnect/mtdconnect/seal"
	"github.com/mtdconnect/mtdconnect/sqlite"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/tink-crypto/tink-go/v2/keyset"
)

const usage = `mtdconnect connects UK landlords to HMRC Making Tax Digital.

Usage:
  mtdconnect [serve]                      run the service (default)
  mtdconnect simulator                    run the HMRC simulator on its own (fault flags: see --help)
  mtdconnect loadtest [--scenario S] [--database-url URL]
                                          the reliability suite with real processes (docs/RELIABILITY.md)
  mtdconnect users add --email E [--password P] [--admin] [--totp] [--nino N] [--vrn V]
  mtdconnect users set --email E [--nino N] [--vrn V]
                                          set a landlord's National Insurance number or VAT registration number
  mtdconnect users totp --email E [--remove]
                                          add (printing its key once) or remove a user's authenticator app
  mtdconnect apikey create --name N       print a new API key for the platform (shown once)
  mtdconnect connect --user E --manual    connect by pasting HMRC's code (desktop-style flow)
  mtdconnect status --user E [--json]     show a landlord's connection
  mtdconnect refresh --user E             refresh the access token now
  mtdconnect test --user E [--purpose vat]
                                          check the connection: HMRC lists the landlord's businesses
                                          (Income Tax, needs the NINO) or open VAT returns (needs the VRN)
  mtdconnect disconnect --user E          delete the landlord's tokens
  mtdconnect keyset rotate                add a new primary key to the keyset
  mtdconnect sandbox create-user [--services mtd-income-tax,mtd-vat] [--json]
                                          create a test user at HMRC's sandbox (or the simulator)
  mtdconnect app set --env sandbox|production --client-id ID --client-secret-file FILE [--redirect-uri URI]...
                                          store the HMRC application (the secret sealed, never shown again)
  mtdconnect app show [--env E]           show the stored applications: client ID, secrets' last 4 characters
  mtdconnect app rotate-secret --env E --client-secret-file FILE
                                          add a new client secret as the one in use; the older ones stay
  mtdconnect app remove-secret --env E --last4 XXXX|--id ID
  mtdconnect app confirm --env E          allow the service to call HMRC's external web services

Every command takes the configuration flags (see mtdconnect serve -h), each
with an MTDCONNECT_* environment fallback.
`

func main() {
	ctx, hurry := notifyStop()
	err := runMain(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr, hurry)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mtdconnect:", err)
		os.Exit(1)
	}
}

// notifyStop returns a context that ends on the first SIGINT or SIGTERM,
// and a channel closed on the second: serve then stops waiting for its
// drain. A third signal ends the process at once, as if none were caught.
func notifyStop() (context.Context, <-chan struct{}) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	hurry := make(chan struct{})
	go func() {
		<-sigs
		cancel()
		<-sigs
		close(hurry)
		signal.Reset(os.Interrupt, syscall.SIGTERM)
	}()
	return ctx, hurry
}

// run is main with its dependencies passed in, so tests drive it whole.
func run(ctx context.Context, args []string, getenv getenvFunc, stdin io.Reader, stdout, stderr io.Writer) error {
	return runMain(ctx, args, getenv, stdin, stdout, stderr, nil)
}

func runMain(ctx context.Context, args []string, getenv getenvFunc, stdin io.Reader, stdout, stderr io.Writer, hurry <-chan struct{}) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	// Two-word commands.
	if (cmd == "users" || cmd == "apikey" || cmd == "keyset" || cmd == "app" || cmd == "sandbox") && len(args) > 0 {
		cmd, args = cmd+" "+args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return runServe(ctx, args, getenv, stdout, stderr, hurry)
	case "simulator":
		return runSimulator(ctx, args, getenv, stdout, stderr)
	case "loadtest":
		return runLoadtest(ctx, args, getenv, stdout, stderr)
	case "users add":
		return runUsersAdd(ctx, args, getenv, stdin, stdout, stderr)
	case "users set":
		return runUsersSet(ctx, args, getenv, stdout, stderr)
	case "users totp":
		return runUsersTOTP(ctx, args, getenv, stdout, stderr)
	case "apikey create":
		return runAPIKeyCreate(ctx, args, getenv, stdout, stderr)
	case "connect":
		return runConnect(ctx, args, getenv, stdin, stdout, stderr)
	case "status", "refresh", "test", "disconnect":
		return runUserCommand(ctx, cmd, args, getenv, stdout, stderr)
	case "sandbox create-user":
		return runSandboxCreateUser(ctx, args, getenv, stdout, stderr)
	case "keyset rotate":
		return runKeysetRotate(args, getenv, stdout, stderr)
	case "app set", "app show", "app rotate-secret", "app remove-secret", "app confirm":
		return runApp(ctx, strings.TrimPrefix(cmd, "app "), args, getenv, stdin, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "version":
		fmt.Fprintln(stdout, "mtdconnect", mtdconnect.Version)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

// app is what every command opens: the configuration, the store, the
// sealer and the HMRC client.
type app struct {
	cfg    Config
	log    *slog.Logger
	store  mtdconnect.Store
	sealer *seal.Sealer
	hmrc   *hmrc.Client // nil when opened by openStore
	// keysetCreated is set when a local keyset was generated just now.
	keysetCreated bool
	// metrics is the registry of the process's Prometheus metrics;
	// serve exposes it on MTDCONNECT_METRICS_ADDR.
	metrics *prometheus.Registry
}

// newFlagSet returns a flag set with the shared configuration bound.
func newFlagSet(name string, cfg *Config, getenv getenvFunc, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("mtdconnect "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.bind(fs, getenv)
	return fs
}

// openApp opens the store and the sealer, decides which HMRC application
// to call as (resolveCredentials) and builds the HMRC client.
func openApp(ctx context.Context, cfg Config, fs *flag.FlagSet, stderr io.Writer) (*app, error) {
	a, err := openStore(ctx, cfg, fs, stderr)
	if err != nil {
		return nil, err
	}
	creds, err := a.cfg.resolveCredentials(ctx, hmrc.NewApplications(a.store, a.sealer, nil), a.log)
	if err != nil {
		a.store.Close()
		return nil, err
	}
	deviceID, err := a.cfg.resolveDeviceID()
	if err != nil {
		a.store.Close()
		return nil, err
	}
	a.metrics = prometheus.NewRegistry()
	a.hmrc, err = hmrc.New(hmrc.Config{
		ClientID: creds.clientID, ClientSecret: creds.secret, CredentialsFromStore: creds.fromStore,
		AuthorizeURL: a.cfg.AuthorizeURL, TokenURL: a.cfg.TokenURL, APIURL: a.cfg.APIURL,
		RedirectURL: a.cfg.RedirectURL(), Environment: a.cfg.HMRC,
		Store: a.store, Sealer: a.sealer, Logger: a.log,
		Rate: a.cfg.Rate, RefreshMargin: a.cfg.RefreshMargin, Registerer: a.metrics,
		// Fraud prevention data of calls no landlord started (BatchOrigin).
		DeviceID: deviceID, DeviceManufacturer: a.cfg.DeviceManufacturer, DeviceModel: a.cfg.DeviceModel,
		Vendor: hmrc.Vendor{LicenseIDs: a.cfg.LicenceIDs, PublicIP: a.cfg.VendorPublicIP},
	})
	if err != nil {
		a.store.Close()
		return nil, err
	}
	return a, nil
}

// openStore opens what every command needs but the HMRC client: the
// configuration, the store and the sealer. The app commands use it alone,
// since they must work before any HMRC application is stored.
func openStore(ctx context.Context, cfg Config, fs *flag.FlagSet, stderr io.Writer) (*app, error) {
	if err := cfg.resolve(fs); err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, log: newLogger(cfg.LogFormat, stderr)}
	var err error
	if strings.HasPrefix(cfg.DatabaseURL, "postgres://") || strings.HasPrefix(cfg.DatabaseURL, "postgresql://") {
		a.store, err = postgres.Open(ctx, cfg.DatabaseURL)
	} else {
		if err := os.MkdirAll(filepath.Dir(cfg.DatabaseURL), 0o700); err != nil {
			return nil, err
		}
		a.store, err = sqlite.Open(ctx, cfg.DatabaseURL)
	}
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	kh, created, err := loadKeyset(cfg)
	if err != nil {
		a.store.Close()
		return nil, err
	}
	a.keysetCreated = created
	if created {
		a.log.Warn("generated a new encryption keyset for local use; keep it safe and out of the repository, and use a managed keyset in production", "file", cfg.KeysetFile)
	}
	if a.sealer, err = seal.New(kh); err != nil {
		a.store.Close()
		return nil, err
	}
	return a, nil
}

func (a *app) Close() error { return a.store.Close() }

// loadKeyset loads the keyset, generating one only at the default local
// path: a configured file that is missing is an error, never replaced.
func loadKeyset(cfg Config) (kh *keyset.Handle, created bool, err error) {
	if cfg.keysetExplicit {
		kh, err = seal.LoadKeysetFile(cfg.KeysetFile)
		return kh, false, err
	}
	return seal.LoadOrCreateKeysetFile(cfg.KeysetFile)
}

func newLogger(format string, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// userByEmail finds the landlord a command acts on.
func (a *app) userByEmail(ctx context.Context, email string) (*mtdconnect.User, error) {
	if email == "" {
		return nil, errors.New("--user EMAIL is required")
	}
	u, err := a.store.UserByEmail(ctx, strings.ToLower(strings.TrimSpace(email)))
	if errors.Is(err, mtdconnect.ErrNotFound) {
		return nil, fmt.Errorf("no user with email %s (add one with: mtdconnect users add --email %s)", email, email)
	}
	return u, err
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format("2 January 2006 15:04 MST")
}
