// Command mtdconnect connects UK landlords to HMRC's Making Tax Digital.
// With no arguments it serves the web pages and the JSON API on an
// embedded SQLite database with the built-in HMRC simulator.
//
// The commands are a tree of ffcli commands (cli.go), each with a flag set
// of its own holding the settings it uses (config.go), each setting with an
// MTDCONNECT_* fallback. serve runs its parts as one group that starts and
// stops together (lifecycle.go).
package main

import (
	"bytes"
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

	"github.com/peterbourgon/ff/v3/ffcli"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/fraud"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
	"github.com/mtdconnect/mtdconnect/hmrc/proxy"
	"github.com/mtdconnect/mtdconnect/hmrc/vat"
	"github.com/mtdconnect/mtdconnect/landlord"
	"github.com/mtdconnect/mtdconnect/postgres"
	"github.com/mtdconnect/mtdconnect/seal"
	"github.com/mtdconnect/mtdconnect/sqlite"
)

func main() {
	ctx, hurry := notifyStop()
	err := runMain(ctx, os.Args[1:], &proc{getenv: os.Getenv, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, hurry: hurry})
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

// proc is what a command gets from the process running it.
type proc struct {
	getenv         getenvFunc
	stdin          io.Reader
	stdout, stderr io.Writer
	// hurry is closed on a second SIGINT or SIGTERM: serve stops waiting
	// for its drain. nil (never) in tests.
	hurry <-chan struct{}
}

// run is main with its dependencies passed in, so tests drive it whole.
func run(ctx context.Context, args []string, getenv getenvFunc, stdin io.Reader, stdout, stderr io.Writer) error {
	return runMain(ctx, args, &proc{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr})
}

// runMain parses the command line and runs the command it names. Help asked
// for (-h, help) goes to standard output; after a usage error, the error
// says where the command's help is.
func runMain(ctx context.Context, args []string, p *proc) error {
	// With no command, or only flags, mtdconnect serves.
	if len(args) == 0 || strings.HasPrefix(args[0], "-") && !isHelpFlag(args[0]) {
		args = append([]string{"serve"}, args...)
	}
	root := newRoot(p)
	var usage bytes.Buffer
	setOutput(root, &usage)
	err := root.Parse(args)
	if err == nil {
		err = root.Run(ctx)
	}
	var noExec ffcli.NoExecError
	switch {
	case errors.Is(err, flag.ErrHelp):
		_, werr := p.stdout.Write(usage.Bytes())
		return werr
	case errors.As(err, &noExec):
		// A group (users, app…) named without its subcommand.
		fmt.Fprint(p.stderr, noExec.Command.UsageFunc(noExec.Command))
		return fmt.Errorf("mtdconnect %s needs a subcommand", noExec.Command.Name)
	case err != nil && usage.Len() > 0:
		// The flag package printed the usage after a bad flag: point to
		// it rather than print it with the error.
		return fmt.Errorf("%w (mtdconnect %s -h lists the flags)", err, commandPath(root, args))
	}
	return err
}

func isHelpFlag(s string) bool {
	return s == "-h" || s == "-help" || s == "--help" || s == "--h"
}

// setOutput sends every command's usage to w.
func setOutput(c *ffcli.Command, w io.Writer) {
	if c.FlagSet == nil {
		c.FlagSet = flag.NewFlagSet(c.Name, flag.ContinueOnError)
	}
	c.FlagSet.SetOutput(w)
	for _, sub := range c.Subcommands {
		setOutput(sub, w)
	}
}

// commandPath is the command that args name, for messages.
func commandPath(root *ffcli.Command, args []string) string {
	var names []string
	c := root
	for _, a := range args {
		var next *ffcli.Command
		for _, sub := range c.Subcommands {
			if sub.Name == a {
				next = sub
			}
		}
		if next == nil {
			break
		}
		names, c = append(names, a), next
	}
	return strings.Join(names, " ")
}

// app is what every command opens: the configuration, the store, the
// sealer and the HMRC client.
type app struct {
	cfg    *Config
	log    *slog.Logger
	store  mtdconnect.Store
	sealer *seal.Sealer
	hmrc   *hmrc.Client // nil when opened by openStore
	// landlord runs the actions on landlords' connections and filings;
	// nil when opened by openStore.
	landlord *landlord.Service
	// keysetCreated is set when a local keyset was generated just now.
	keysetCreated bool
	// metrics is the registry of the process's Prometheus metrics;
	// serve exposes it on MTDCONNECT_METRICS_ADDR.
	metrics *prometheus.Registry
}

// openApp opens the store and the sealer, decides which HMRC application
// to call as (resolveCredentials) and builds the HMRC client.
func openApp(ctx context.Context, cfg *Config, stderr io.Writer) (*app, error) {
	a, err := openStore(ctx, cfg, stderr)
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
		Rate: a.cfg.Rate, RefreshMargin: a.cfg.RefreshMargin, InteractiveWait: a.cfg.InteractiveWait, Registerer: a.metrics,
		// Fraud prevention data of calls no landlord started (BatchOrigin).
		DeviceID: deviceID, DeviceManufacturer: a.cfg.DeviceManufacturer, DeviceModel: a.cfg.DeviceModel,
		Vendor: fraud.Vendor{LicenseIDs: a.cfg.LicenceIDs, PublicIP: a.cfg.VendorPublicIP},
	})
	if err != nil {
		a.store.Close()
		return nil, err
	}
	px, err := proxy.New(a.hmrc, a.metrics)
	if err != nil {
		a.store.Close()
		return nil, err
	}
	a.landlord, err = landlord.New(landlord.Config{
		Store: a.store, HMRC: a.hmrc, ITSA: itsa.New(a.hmrc, a.store), VAT: vat.New(a.hmrc), Proxy: px, Logger: a.log,
		ConnectSessionLifetime: cfg.ConnectSessionLifetime, ReturnURLs: cfg.ConnectReturnURLs,
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
func openStore(ctx context.Context, cfg *Config, stderr io.Writer) (*app, error) {
	if err := cfg.resolve(); err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, log: cfg.logger(stderr)}
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
	if err := a.openSealer(ctx); err != nil {
		a.store.Close()
		return nil, err
	}
	return a, nil
}

func (a *app) Close() error { return a.store.Close() }

// openSealer loads the keyset and checks, on a few sealed values of each
// kind the database holds (Store.SealedSamples), that it holds the keys
// that sealed them. A keyset is generated only at the default local path
// and only for a database that holds nothing sealed: a keyset that went
// missing is never silently replaced, since everything sealed before
// (connections, authenticator apps, client secrets) would fail to open, and
// what was sealed under a stand-in would be lost when the real one came back.
func (a *app) openSealer(ctx context.Context) error {
	cfg := a.cfg
	samples, err := a.store.SealedSamples(ctx)
	if err != nil {
		return fmt.Errorf("check the database's sealed data against the keyset: %w", err)
	}
	kh, err := seal.LoadKeysetFile(cfg.KeysetFile)
	switch {
	case err == nil:
	case !errors.Is(err, os.ErrNotExist):
		return err
	case cfg.keysetExplicit:
		return fmt.Errorf("the keyset file %s (MTDCONNECT_KEYSET_FILE) does not exist: restore it, or set MTDCONNECT_KEYSET_FILE to where it is", cfg.KeysetFile)
	case len(samples) > 0:
		return fmt.Errorf("the keyset file %s is missing, but the database %s holds data sealed with a keyset (HMRC connections, "+
			"authenticator apps or client secrets). No new keyset was generated, since it could not open them. Restore %s "+
			"from your backup (or set MTDCONNECT_KEYSET_FILE to where it is), or start with a new database (another "+
			"MTDCONNECT_DATA_DIR or MTDCONNECT_DATABASE_URL)",
			cfg.KeysetFile, redactedDatabaseURL(cfg.DatabaseURL), cfg.KeysetFile)
	default:
		if kh, err = seal.NewKeyset(); err != nil {
			return err
		}
		if err := seal.WriteKeysetFile(cfg.KeysetFile, kh); err != nil {
			return err
		}
		a.keysetCreated = true
		a.log.Warn("generated a new encryption keyset for local use; keep it safe and out of the repository, and use a managed keyset in production", "file", cfg.KeysetFile)
	}
	if a.sealer, err = seal.New(kh); err != nil {
		return err
	}
	for _, ct := range samples {
		if !a.sealer.HasKeyFor(ct) {
			return fmt.Errorf("the keyset %s cannot open the data sealed in the database %s (HMRC connections, "+
				"authenticator apps or client secrets were sealed with another keyset). Restore the keyset this database "+
				"was used with (or set MTDCONNECT_KEYSET_FILE to it), or start with a new database (another "+
				"MTDCONNECT_DATA_DIR or MTDCONNECT_DATABASE_URL)",
				cfg.KeysetFile, redactedDatabaseURL(cfg.DatabaseURL))
		}
	}
	return nil
}

// logger writes the command's log to w (standard error): at info level for
// serve and simulator, and for a one-shot command only with -v, which
// otherwise logs warnings and errors only, so that its log stays out of
// what it prints for a person.
func (c *Config) logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if c.fs != nil && c.fs.Lookup("v") != nil && !c.Verbose {
		opts.Level = slog.LevelWarn
	}
	if c.LogFormat == "json" {
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
