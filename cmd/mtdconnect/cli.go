package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/mtdconnect/mtdconnect"
)

// The command line is a tree of ffcli commands (peterbourgon/ff, as
// tailscale's CLI): each command owns a flag.FlagSet holding only the
// settings it uses, so its -h lists those, and Go's flag syntax (-flag or
// --flag, -flag=value) holds everywhere. The MTDCONNECT_* fallbacks are
// read by Config.load from the injected getenv, which is why ff's own
// environment parsing (os.Getenv, every flag of the set) is not used: a
// command's own flags (--email, --env, --password…) never come from the
// environment.

// newRoot is the whole command tree.
func newRoot(p *proc) *ffcli.Command {
	root := &ffcli.Command{
		Name:       "mtdconnect",
		ShortUsage: "mtdconnect [command] [flags]",
		LongHelp:   "mtdconnect connects UK landlords to HMRC Making Tax Digital. With no command it runs serve.",
		FlagSet:    flag.NewFlagSet("mtdconnect", flag.ContinueOnError),
		Subcommands: []*ffcli.Command{
			serveCommand(p),
			simulatorCommand(p),
			loadtestCommand(p),
			group("users", "manage the landlords and administrators who sign in",
				usersAddCommand(p), usersSetCommand(p), usersPasswdCommand(p), usersTOTPCommand(p), usersDeleteCommand(p)),
			group("apikey", "API keys of the platform's backend", apikeyCreateCommand(p), apikeyListCommand(p),
				apikeyIDCommand(p, "rotate"), apikeyIDCommand(p, "revoke")),
			webhooksCommands(p),
			group("app", "the HMRC application this service calls as (credentials, consent)",
				appCommand(p, "set"), appCommand(p, "show"), appCommand(p, "rotate-secret"),
				appCommand(p, "remove-secret"), appCommand(p, "confirm")),
			connectCommand(p),
			userCommand(p, "status"), userCommand(p, "refresh"), userCommand(p, "test"), userCommand(p, "disconnect"),
			group("keyset", "the keyset sealing tokens and secrets at rest", keysetRotateCommand(p)),
			group("sandbox", "HMRC's sandbox (or the simulator)", sandboxCreateUserCommand(p), sandboxCreateBusinessCommand(p), sandboxCheckCommand(p)),
			group("fraud-headers", "HMRC's fraud prevention headers", fraudHeadersCheckCommand(p)),
			{
				Name: "version", ShortUsage: "mtdconnect version", ShortHelp: "print the version",
				Exec: func(context.Context, []string) error {
					_, err := fmt.Fprintln(p.stdout, "mtdconnect", mtdconnect.Version)
					return err
				},
			},
		},
	}
	root.Subcommands = append(root.Subcommands, &ffcli.Command{
		Name: "help", ShortUsage: "mtdconnect help", ShortHelp: "list the commands",
		Exec: func(context.Context, []string) error {
			_, err := fmt.Fprint(p.stdout, rootUsage(root))
			return err
		},
	})
	root.UsageFunc = rootUsage
	root.Exec = func(_ context.Context, args []string) error {
		// Reached with an argument that names no command.
		return fmt.Errorf("unknown command %q (mtdconnect help lists them)", strings.Join(args, " "))
	}
	return root
}

// rootUsage lists every command, two-word ones (users add) by their full
// name.
func rootUsage(root *ffcli.Command) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\nUSAGE\n  %s\n\nCOMMANDS\n", root.LongHelp, root.ShortUsage)
	tw := tabwriter.NewWriter(&b, 0, 2, 2, ' ', 0)
	for _, c := range root.Subcommands {
		if len(c.Subcommands) == 0 {
			fmt.Fprintf(tw, "  %s\t%s\n", c.Name, c.ShortHelp)
			continue
		}
		for _, sub := range c.Subcommands {
			fmt.Fprintf(tw, "  %s %s\t%s\n", c.Name, sub.Name, sub.ShortHelp)
		}
	}
	tw.Flush()
	b.WriteString("\nmtdconnect COMMAND -h lists a command's flags. A configuration flag's help names its\n" +
		"MTDCONNECT_* environment variable, read when the flag is not given; a value that does not\n" +
		"parse stops the command.\n")
	return b.String()
}

// group is a command made only of subcommands (users, app…).
func group(name, help string, subs ...*ffcli.Command) *ffcli.Command {
	g := &ffcli.Command{
		Name: name, ShortUsage: "mtdconnect " + name + " <subcommand> [flags]", ShortHelp: help,
		FlagSet: flag.NewFlagSet("mtdconnect "+name, flag.ContinueOnError), Subcommands: subs,
	}
	var names []string
	for _, s := range subs {
		names = append(names, s.Name)
	}
	g.Exec = func(_ context.Context, args []string) error {
		if len(args) == 0 {
			return ffcli.NoExecError{Command: g}
		}
		return fmt.Errorf("unknown command %q (mtdconnect %s has %s)", name+" "+args[0], name, strings.Join(names, ", "))
	}
	return g
}

// command builds a leaf command. cfg (nil when the command has no
// configuration) reads its MTDCONNECT_* variables before exec runs, and a
// command takes no arguments besides its flags.
func command(name, usage, help string, fs *flag.FlagSet, cfg *Config, exec func(ctx context.Context) error) *ffcli.Command {
	return &ffcli.Command{
		Name: name, ShortUsage: usage, ShortHelp: help, FlagSet: fs,
		Exec: func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unexpected argument %q", args[0])
			}
			if cfg != nil {
				if err := cfg.load(); err != nil {
					return err
				}
			}
			return exec(ctx)
		},
	}
}

func newFlagSet(name string) *flag.FlagSet {
	return flag.NewFlagSet("mtdconnect "+name, flag.ContinueOnError)
}

func serveCommand(p *proc) *ffcli.Command {
	fs := newFlagSet("serve")
	cfg := newConfig(fs, p.getenv, webSettings, connectSettings, webhookSettings, storeSettings, hmrcSettings, []string{"simulator-mode"}, fraudSettings, logSettings)
	var f serveFlags
	fs.StringVar(&f.metricsAddr, "metrics-addr", "", "listen address of Prometheus's /metrics, e.g. 127.0.0.1:9100; empty: not served (MTDCONNECT_METRICS_ADDR)")
	fs.DurationVar(&f.drainTimeout, "drain-timeout", time.Minute,
		"on SIGTERM or SIGINT, how long to wait for requests and HMRC refreshes in flight before stopping anyway, the shutdown delay included (MTDCONNECT_DRAIN_TIMEOUT)")
	fs.DurationVar(&f.shutdownDelay, "shutdown-delay", 0,
		"on SIGTERM or SIGINT, how long /readyz answers 503 before the listener closes, for load balancers to notice (MTDCONNECT_SHUTDOWN_DELAY)")
	fs.BoolVar(&f.simulatorControls, "simulator-controls", false,
		"serve the built-in simulator's control endpoints (/admin/clock to move HMRC's clock, /admin/faults, /admin/stats; same-origin requests only): off by default, as they are unauthenticated (MTDCONNECT_SIMULATOR_CONTROLS)")
	cfg.withEnv("metrics-addr", "drain-timeout", "shutdown-delay", "simulator-controls")
	return command("serve", "mtdconnect [serve] [flags]", "run the service: pages, JSON API, refresher (the default)", fs, cfg,
		func(ctx context.Context) error { return runServe(ctx, cfg, f, p) })
}

func simulatorCommand(p *proc) *ffcli.Command {
	fs := newFlagSet("simulator")
	cfg := newConfig(fs, p.getenv, []string{"simulator-addr", "simulator-mode", "addr", "public-url", "client-id", "client-secret", "hmrc-rate"}, logSettings)
	var sf simulatorFlags
	sf.bind(fs)
	stateFile := fs.String("state-file", "", "keep the simulator's grants, tokens, test users and submissions in this file across restarts (default: in memory only)")
	return command("simulator", "mtdconnect simulator [flags]", "run the HMRC simulator on its own (fault flags: see -h)", fs, cfg,
		func(ctx context.Context) error { return runSimulator(ctx, cfg, &sf, *stateFile, p) })
}

func loadtestCommand(p *proc) *ffcli.Command {
	fs := newFlagSet("loadtest")
	var f loadtestFlags
	f.bind(fs)
	c := command("loadtest", "mtdconnect loadtest [flags]", "the reliability suite with real processes (docs/RELIABILITY.md)", fs, nil,
		func(ctx context.Context) error { return runLoadtest(ctx, &f, p) })
	c.LongHelp = loadtestUsage
	return c
}

func usersAddCommand(p *proc) *ffcli.Command {
	fs := newFlagSet("users add")
	cfg := newConfig(fs, p.getenv, storeSettings, cliLogSettings)
	var f usersFlags
	fs.StringVar(&f.email, "email", "", "the user's email (sign-in name)")
	fs.StringVar(&f.password, "password", "", "the password (read from standard input if empty)")
	fs.BoolVar(&f.admin, "admin", false, "make the user an administrator")
	fs.BoolVar(&f.totp, "totp", false, "also add an authenticator app (second factor at sign-in); prints its key once")
	fs.StringVar(&f.nino, "nino", "", "the landlord's National Insurance number (Income Tax calls need it)")
	fs.StringVar(&f.vrn, "vrn", "", "the VAT registration number (VAT calls need it)")
	return command("add", "mtdconnect users add --email E [--password P] [--admin] [--totp] [--nino N] [--vrn V]",
		"add a user (a landlord, or an administrator with --admin)", fs, cfg,
		func(ctx context.Context) error { return runUsersAdd(ctx, cfg, f, p) })
}

func usersSetCommand(p *proc) *ffcli.Command {
	fs := newFlagSet("users set")
	cfg := newConfig(fs, p.getenv, storeSettings, cliLogSettings)
	var f usersFlags
	fs.StringVar(&f.email, "email", "", "the user's email")
	fs.StringVar(&f.nino, "nino", "", "the landlord's National Insurance number")
	fs.StringVar(&f.vrn, "vrn", "", "the VAT registration number")
	return command("set", "mtdconnect users set --email E [--nino N] [--vrn V]",
		"set a landlord's National Insurance number or VAT registration number", fs, cfg,
		func(ctx context.Context) error { return runUsersSet(ctx, cfg, f, p) })
}

func usersPasswdCommand(p *proc) *ffcli.Command {
	fs := newFlagSet("users passwd")
	cfg := newConfig(fs, p.getenv, storeSettings, cliLogSettings)
	var f usersFlags
	fs.StringVar(&f.email, "email", "", "the user's email")
	fs.StringVar(&f.password, "password", "", "the new password (read from standard input if empty)")
	return command("passwd", "mtdconnect users passwd --email E [--password P]",
		"set a user's password", fs, cfg,
		func(ctx context.Context) error { return runUsersPasswd(ctx, cfg, f, p) })
}

func usersDeleteCommand(p *proc) *ffcli.Command {
	fs := newFlagSet("users delete")
	cfg := newConfig(fs, p.getenv, storeSettings, cliLogSettings)
	var f usersFlags
	fs.StringVar(&f.email, "email", "", "the user's email")
	return command("delete", "mtdconnect users delete --email E",
		"delete a user who signs in (a landlord or an administrator); their receipts and audit are kept for HMRC's period", fs, cfg,
		func(ctx context.Context) error { return runUsersDelete(ctx, cfg, f, p) })
}

func usersTOTPCommand(p *proc) *ffcli.Command {
	fs := newFlagSet("users totp")
	cfg := newConfig(fs, p.getenv, storeSettings, cliLogSettings)
	var f usersFlags
	fs.StringVar(&f.email, "email", "", "the user's email")
	fs.BoolVar(&f.remove, "remove", false, "remove the user's authenticator app instead of adding one")
	return command("totp", "mtdconnect users totp --email E [--remove]",
		"add (printing its key once) or remove a user's authenticator app", fs, cfg,
		func(ctx context.Context) error { return runUsersTOTP(ctx, cfg, f, p) })
}

func apikeyCreateCommand(p *proc) *ffcli.Command {
	fs := newFlagSet("apikey create")
	cfg := newConfig(fs, p.getenv, storeSettings, cliLogSettings)
	name := fs.String("name", "", "what the key is for, e.g. the platform's backend")
	scopes := fs.String("scopes", "", "comma-separated scopes the key holds: "+scopeList())
	return command("create", "mtdconnect apikey create --name N --scopes S,S…",
		"print a new API key for the platform's backend, holding the scopes given (shown once)", fs, cfg,
		func(ctx context.Context) error { return runAPIKeyCreate(ctx, cfg, *name, *scopes, p) })
}

func apikeyListCommand(p *proc) *ffcli.Command {
	fs := newFlagSet("apikey list")
	cfg := newConfig(fs, p.getenv, storeSettings, cliLogSettings)
	return command("list", "mtdconnect apikey list",
		"list the API keys: ID, name, scopes, created, last used, state (never the key)", fs, cfg,
		func(ctx context.Context) error { return runAPIKeyList(ctx, cfg, p) })
}

func apikeyIDCommand(p *proc, sub string) *ffcli.Command {
	fs := newFlagSet("apikey " + sub)
	cfg := newConfig(fs, p.getenv, storeSettings, cliLogSettings)
	id := fs.Int64("id", 0, "the key's ID (mtdconnect apikey list)")
	help := map[string]string{
		"revoke": "revoke a key: every instance refuses it from its next request",
		"rotate": "print a new key with the same name and scopes; the old one works for " + mtdconnect.APIKeyRotationGrace.String() + " more",
	}[sub]
	return command(sub, "mtdconnect apikey "+sub+" --id N", help, fs, cfg,
		func(ctx context.Context) error { return runAPIKeyByID(ctx, cfg, sub, *id, p) })
}

// scopeList names every scope, for help texts.
func scopeList() string {
	return strings.ReplaceAll(mtdconnect.JoinScopes(mtdconnect.AllScopes), " ", ", ")
}

func appCommand(p *proc, sub string) *ffcli.Command {
	fs := newFlagSet("app " + sub)
	cfg := newConfig(fs, p.getenv, storeSettings, cliLogSettings)
	var f appFlags
	help := map[string][2]string{
		"set":           {"mtdconnect app set --env sandbox|production --client-id ID --client-secret-file FILE [--redirect-uri URI]...", "store the HMRC application (the secret sealed, never shown again)"},
		"show":          {"mtdconnect app show [--env E]", "show the stored applications: client ID, secrets' last 4 characters"},
		"rotate-secret": {"mtdconnect app rotate-secret --env E --client-secret-file FILE", "add a new client secret as the one in use; the older ones stay"},
		"remove-secret": {"mtdconnect app remove-secret --env E --last4 XXXX|--id ID", "remove a client secret"},
		"confirm":       {"mtdconnect app confirm --env E", "allow the service to call HMRC's external web services"},
	}[sub]
	fs.StringVar(&f.env, "env", "", "the HMRC environment: sandbox or production")
	switch sub {
	case "set", "rotate-secret":
		fs.StringVar(&f.secretFile, "client-secret-file", "", "file holding the client secret (only the secret, as HMRC's Developer Hub showed it)")
		fs.BoolVar(&f.secretStdin, "client-secret-stdin", false, "read the client secret from standard input")
		// Refused with a reason rather than as an unknown flag.
		fs.StringVar(&f.secretArg, "client-secret", "", "not accepted: a secret on the command line is visible to other users of the machine")
	case "remove-secret":
		fs.StringVar(&f.last4, "last4", "", "the last 4 characters of the secret to remove")
		fs.StringVar(&f.id, "id", "", "the ID of the secret to remove (see app show)")
	}
	if sub == "set" {
		fs.StringVar(&f.clientID, "client-id", "", "the client ID HMRC's Developer Hub shows for the application")
		fs.Func("redirect-uri", "a redirect URI registered at HMRC (repeat for each; at most 5)", func(s string) error {
			f.redirectURIs = append(f.redirectURIs, s)
			return nil
		})
	}
	return command(sub, help[0], help[1], fs, cfg,
		func(ctx context.Context) error { return runApp(ctx, cfg, sub, f, p) })
}

func connectCommand(p *proc) *ffcli.Command {
	fs := newFlagSet("connect")
	cfg := newConfig(fs, p.getenv, storeSettings, hmrcSettings, cliLogSettings)
	uf := bindUserFlags(fs)
	manual := fs.Bool("manual", false, "print HMRC's authorise URL and read back the code HMRC shows")
	return command("connect", "mtdconnect connect --user E --manual [--purpose vat]",
		"connect a landlord by pasting HMRC's code (desktop-style flow)", fs, cfg,
		func(ctx context.Context) error { return runConnect(ctx, cfg, uf, *manual, p) })
}

func userCommand(p *proc, name string) *ffcli.Command {
	fs := newFlagSet(name)
	groups := [][]string{storeSettings, hmrcSettings, cliLogSettings}
	if name == "test" {
		// Its call carries the fraud prevention headers of a batch
		// process: this server is the device.
		groups = append(groups, fraudSettings)
	}
	cfg := newConfig(fs, p.getenv, groups...)
	uf := bindUserFlags(fs)
	var asJSON *bool
	help := map[string][2]string{
		"status":     {"mtdconnect status --user E [--purpose vat] [--json]", "show a landlord's connection"},
		"refresh":    {"mtdconnect refresh --user E [--purpose vat]", "refresh the access token now"},
		"test":       {"mtdconnect test --user E [--purpose vat]", "check the connection: HMRC lists the landlord's businesses (needs the NINO) or open VAT returns (needs the VRN)"},
		"disconnect": {"mtdconnect disconnect --user E [--purpose vat]", "delete the landlord's tokens"},
	}[name]
	if name == "status" {
		asJSON = fs.Bool("json", false, "print the status as JSON")
	}
	return command(name, help[0], help[1], fs, cfg,
		func(ctx context.Context) error {
			return runUserCommand(ctx, cfg, name, uf, asJSON != nil && *asJSON, p)
		})
}

func keysetRotateCommand(p *proc) *ffcli.Command {
	fs := newFlagSet("keyset rotate")
	cfg := newConfig(fs, p.getenv, []string{"data-dir", "keyset-file"})
	return command("rotate", "mtdconnect keyset rotate", "add a new primary key to the keyset", fs, cfg,
		func(context.Context) error { return runKeysetRotate(cfg, p) })
}

func sandboxCreateUserCommand(p *proc) *ffcli.Command {
	fs := newFlagSet("sandbox create-user")
	// fraudSettings: with --user, the test business is created with the
	// fraud prevention headers of a batch process.
	cfg := newConfig(fs, p.getenv, storeSettings, hmrcSettings, fraudSettings, cliLogSettings)
	services := fs.String("services", defaultSandboxServices,
		"comma-separated Create Test User services to enrol the test user for: "+strings.Join(sandboxServices, ", "))
	asJSON := fs.Bool("json", false, "print the test user as JSON")
	user := fs.String("user", "", "also give this landlord (an mtdconnect user's email) the test user's NINO and VRN, connect it for Income Tax as the test user, and create its UK property test business")
	return command("create-user", "mtdconnect sandbox create-user [--services mtd-income-tax,mtd-vat] [--user EMAIL] [--json]",
		"create a test user at HMRC's sandbox (or the simulator); with --user, its UK property test business too", fs, cfg,
		func(ctx context.Context) error { return runSandboxCreateUser(ctx, cfg, *services, *user, *asJSON, p) })
}

func sandboxCreateBusinessCommand(p *proc) *ffcli.Command {
	fs := newFlagSet("sandbox create-business")
	cfg := newConfig(fs, p.getenv, storeSettings, hmrcSettings, fraudSettings, cliLogSettings)
	uf := userFlags{user: fs.String("user", "", "the landlord, connected for Income Tax as a sandbox test user"), purpose: new(string)}
	*uf.purpose = string(mtdconnect.PurposeIncomeTax)
	return command("create-business", "mtdconnect sandbox create-business --user EMAIL",
		"create the landlord's UK property test business (Self Assessment Test Support API) and store its ID", fs, cfg,
		func(ctx context.Context) error { return runSandboxCreateBusiness(ctx, cfg, uf, p) })
}

func sandboxCheckCommand(p *proc) *ffcli.Command {
	fs := newFlagSet("sandbox check")
	cfg := newConfig(fs, p.getenv, storeSettings, hmrcSettings, fraudSettings, cliLogSettings)
	user := fs.String("user", "", "the landlord whose Income Tax and VAT connections (test users') the calls use")
	asJSON := fs.Bool("json", false, "print the calls as JSON")
	return command("check", "mtdconnect sandbox check --user EMAIL [--json]",
		"call every HMRC endpoint the product uses and print HMRC's answers, as HMRC asks before production", fs, cfg,
		func(ctx context.Context) error { return runSandboxCheck(ctx, cfg, *user, *asJSON, p) })
}

func fraudHeadersCheckCommand(p *proc) *ffcli.Command {
	fs := newFlagSet("fraud-headers check")
	cfg := newConfig(fs, p.getenv, storeSettings, hmrcSettings, fraudSettings, cliLogSettings)
	asJSON := fs.Bool("json", false, "print HMRC's answers as JSON")
	return command("check", "mtdconnect fraud-headers check [--json]",
		"send this deployment's fraud prevention headers to HMRC's Test Fraud Prevention Headers API and print its verdict and feedback", fs, cfg,
		func(ctx context.Context) error { return runFraudHeadersCheck(ctx, cfg, *asJSON, p) })
}
