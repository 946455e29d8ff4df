package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
	"github.com/mtdconnect/mtdconnect/landlord"
	"github.com/mtdconnect/mtdconnect/web"
	"github.com/mtdconnect/mtdconnect/webhook"
)

// The HMRC simulator's demo application and test user. The simulator is
// local-only; these are not secrets.
const (
	simClientID     = "mtdconnect-local"
	simClientSecret = "local-simulator-secret"
	simUserID       = "563870382415"
	simUserPassword = "bT7qZ2wp9kLs"
	simUserNINO     = "TC663795B"
	simUserVRN      = "666724939"
	// The demo's accounts, made only by a start with the built-in
	// simulator (demo.go): a landlord, and an administrator for the admin
	// pages. A sandbox or production start refuses to run while an account
	// still has one of their passwords.
	demoEmail         = "landlord@example.com"
	demoPassword      = "landlord-demo"
	demoAdminEmail    = "admin@example.com"
	demoAdminPassword = "admin-demo"
)

// Config is every setting, from flags with MTDCONNECT_* environment
// fallbacks. Every command reads the same configuration, so the CLI and the
// server share one database; each binds only the settings it uses.
type Config struct {
	Addr          string
	PublicURL     string
	DataDir       string
	DatabaseURL   string
	KeysetFile    string
	HMRC          string // simulator, sandbox, production
	AuthorizeURL  string
	TokenURL      string
	APIURL        string
	ClientID      string
	ClientSecret  string
	SimulatorAddr string
	// SimulatorMode is the built-in simulator's mode: demo or sandbox
	// (hmrcsim.ModeDemo, hmrcsim.ModeSandbox).
	SimulatorMode string
	Rate          float64
	RefreshMargin time.Duration
	// InteractiveWait is the longest a landlord's call queues for the rate
	// budget before it is refused at once (hmrc.Config.InteractiveWait).
	InteractiveWait time.Duration
	// MaxPasswordChecks bounds the sign-ins' password checks running at
	// once (web.Config.MaxPasswordChecks); 0: the number of CPUs, at
	// least 2.
	MaxPasswordChecks int
	LogFormat         string
	// Verbose logs at info level; a one-shot command logs warnings only.
	Verbose bool

	// Fraud prevention data (HMRC's Gov-* headers).
	TrustedProxies []netip.Prefix    // proxies whose X-Forwarded-For / Forwarded is believed
	VendorPublicIP string            // the public IP clients connect to; empty: each request's local address
	LicenceIDs     map[string]string // software name → licence, sent hashed
	DeviceID       string            // this server's UUID as a batch device; default: DATA_DIR/device-id
	// The server's maker and model for batch calls, where the host has no
	// DMI data to read them from (many VMs).
	DeviceManufacturer, DeviceModel string

	// Connect sessions (the platform's links for its landlords).
	ConnectReturnURLs      []string      // allowed return URLs, besides those stored on the admin page
	ConnectSessionLifetime time.Duration // how long a link works
	PlatformName           string        // the platform's name on the hosted connect page

	// Webhooks: which receivers an administrator allows besides public
	// https ones (development, private networks).
	WebhookPolicy webhook.Policy
	// WebhookSchedule is the delays between a delivery's attempts
	// (webhook.Schedule unless set, for tests and drills) and
	// WebhookLease how long an instance holds a claimed delivery.
	WebhookSchedule []time.Duration
	WebhookLease    time.Duration
	webhookSchedule string

	trustedProxies    string // as given, parsed by resolve
	licenceIDs        string
	connectReturnURLs string

	keysetExplicit bool

	fs     *flag.FlagSet
	getenv getenvFunc
	env    []string // the flags with an MTDCONNECT_* fallback
}

type getenvFunc func(string) string

// The settings, by what uses them; a command binds the groups it needs.
var (
	// storeSettings: every command that opens the database.
	storeSettings = []string{"data-dir", "database-url", "keyset-file"}
	// hmrcSettings: commands that call HMRC.
	hmrcSettings = []string{"hmrc", "hmrc-authorize-url", "hmrc-token-url", "hmrc-api-url", "client-id", "client-secret",
		"simulator-addr", "hmrc-rate", "refresh-margin", "hmrc-interactive-wait"}
	// fraudSettings: commands whose HMRC calls carry fraud prevention
	// headers (serve's pages and API, the CLI's connection test).
	fraudSettings = []string{"licence-ids", "vendor-public-ip", "device-id", "device-manufacturer", "device-model"}
	// webSettings: serve's listener and sign-in.
	webSettings = []string{"addr", "public-url", "trusted-proxies", "max-password-checks"}
	// connectSettings: serve's connect sessions.
	connectSettings = []string{"connect-return-urls", "connect-session-lifetime", "platform-name"}
	// webhookSettings: the receivers webhooks may be sent to.
	webhookSettings = []string{"webhooks-allow-loopback", "webhooks-allow-private", "webhooks-retry-schedule", "webhooks-lease"}
	// logSettings: the log of a long-running command.
	logSettings = []string{"log-format"}
	// cliLogSettings: a one-shot command logs warnings only, unless -v.
	cliLogSettings = []string{"log-format", "v"}
)

// secretSettings may also be read from a file named by MTDCONNECT_*_FILE,
// and their values are never quoted in errors.
var secretSettings = map[string]bool{"client-secret": true}

// newConfig returns the configuration with its defaults and binds the
// settings of groups to fs. load then reads the environment.
func newConfig(fs *flag.FlagSet, getenv getenvFunc, groups ...[]string) *Config {
	c := &Config{
		Addr: "127.0.0.1:8080", DataDir: "mtdconnect-data", HMRC: hmrc.EnvSimulator, SimulatorAddr: "127.0.0.1:9090", SimulatorMode: "demo",
		Rate: 3, RefreshMargin: 5 * time.Minute, InteractiveWait: hmrc.DefaultInteractiveWait, LogFormat: "text", ConnectSessionLifetime: landlord.DefaultConnectSessionLifetime,
		fs: fs, getenv: getenv,
	}
	for _, g := range groups {
		for _, name := range g {
			if fs.Lookup(name) == nil {
				c.bind(name)
			}
		}
	}
	return c
}

// envName is the environment variable of a flag: MTDCONNECT_ and the name
// in capitals, dashes as underscores.
func envName(flagName string) string {
	return "MTDCONNECT_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// bind registers one setting's flag.
func (c *Config) bind(name string) {
	fs := c.fs
	usage := map[string]string{
		"addr":                     "listen address",
		"public-url":               "public URL of the service; the HMRC redirect URI is this + /oauth/hmrc/callback (default http://ADDR)",
		"data-dir":                 "directory for the default SQLite database and keyset",
		"database-url":             "SQLite file path or postgres:// URL (default DATA_DIR/mtdconnect.db)",
		"keyset-file":              "Tink keyset sealing tokens at rest (default DATA_DIR/keyset.json, generated for local use)",
		"hmrc":                     "HMRC environment: simulator, sandbox or production",
		"hmrc-authorize-url":       "override HMRC's authorize endpoint",
		"hmrc-token-url":           "override HMRC's token endpoint",
		"hmrc-api-url":             "override HMRC's API base URL",
		"client-id":                "HMRC application client ID; with the secret, overrides the application stored with mtdconnect app set",
		"client-secret":            "HMRC application client secret; prefer the environment, which other users of the machine cannot read",
		"simulator-addr":           "listen address of the built-in HMRC simulator",
		"simulator-mode":           "how the HMRC simulator answers: demo (kind and stateful, for a first look) or sandbox (as HMRC's sandbox does: canned answers, Gov-Test-Scenario, STATEFUL test businesses)",
		"hmrc-rate":                "HMRC requests per second for the whole deployment",
		"refresh-margin":           "refresh access tokens this long before they expire",
		"hmrc-interactive-wait":    "the longest a landlord's request queues for the HMRC rate budget; when it is booked further ahead, the request is refused at once (503 hmrc_busy, Retry-After) and nothing is sent",
		"max-password-checks":      "sign-in password checks (argon2id, 19 MiB each) running at once; a sign-in waiting over 2s for a turn is answered 503 with Retry-After (0: the number of CPUs, at least 2)",
		"log-format":               "text or json",
		"trusted-proxies":          "comma-separated CIDRs or addresses of the load balancers whose X-Forwarded-For / Forwarded headers give the client's IP, e.g. 10.0.0.0/8",
		"vendor-public-ip":         "the public IP landlords' browsers connect to (the load balancer's), for HMRC's Gov-Vendor-Public-IP (default: the address each request arrived on)",
		"licence-ids":              "comma-separated name=licence pairs, sent hashed in HMRC's Gov-Vendor-License-IDs",
		"device-manufacturer":      "this server's manufacturer for HMRC's Gov-Client-User-Agent, where the host does not report one",
		"device-model":             "this server's model for HMRC's Gov-Client-User-Agent, where the host does not report one",
		"device-id":                "this server's UUID in HMRC's Gov-Client-Device-ID for calls no landlord started (default: generated once into DATA_DIR/device-id)",
		"connect-return-urls":      "comma-separated origins or URL prefixes connect sessions may return landlords to, e.g. https://platform.example/settings (more can be allowed on the admin page)",
		"connect-session-lifetime": "how long a connect link works before the landlord presses Continue to HMRC",
		"platform-name":            "the landlord platform's name on the hosted connect page",
		"webhooks-allow-loopback":  "let webhook endpoints be on a loopback address, http:// too (development only)",
		"webhooks-allow-private":   "let webhook endpoints reach private address ranges (10/8, 192.168/16, fd00::/8…), refused otherwise against server-side request forgery",
		"webhooks-retry-schedule":  "comma-separated delays between a webhook delivery's attempts, for tests and drills (default: 5s, 30s, 2m, 10m, 30m, 1h, 2h, 4h, 8h, then 12h six times: over 3 days)",
		"webhooks-lease":           "how long an instance holds a webhook delivery it claimed; one it dies holding is sent by another after this (default 1m)",
	}[name]
	if name == "v" {
		fs.BoolVar(&c.Verbose, "v", false, "log what the command does (info level); without it, warnings and errors only")
		return
	}
	if secretSettings[name] {
		usage += " (" + envName(name) + ", or a file named by " + envName(name) + "_FILE)"
	} else {
		usage += " (" + envName(name) + ")"
	}
	switch name {
	case "addr":
		fs.StringVar(&c.Addr, name, c.Addr, usage)
	case "public-url":
		fs.StringVar(&c.PublicURL, name, c.PublicURL, usage)
	case "data-dir":
		fs.StringVar(&c.DataDir, name, c.DataDir, usage)
	case "database-url":
		fs.StringVar(&c.DatabaseURL, name, c.DatabaseURL, usage)
	case "keyset-file":
		fs.StringVar(&c.KeysetFile, name, c.KeysetFile, usage)
	case "hmrc":
		fs.StringVar(&c.HMRC, name, c.HMRC, usage)
	case "hmrc-authorize-url":
		fs.StringVar(&c.AuthorizeURL, name, c.AuthorizeURL, usage)
	case "hmrc-token-url":
		fs.StringVar(&c.TokenURL, name, c.TokenURL, usage)
	case "hmrc-api-url":
		fs.StringVar(&c.APIURL, name, c.APIURL, usage)
	case "client-id":
		fs.StringVar(&c.ClientID, name, c.ClientID, usage)
	case "client-secret":
		fs.StringVar(&c.ClientSecret, name, c.ClientSecret, usage)
	case "simulator-addr":
		fs.StringVar(&c.SimulatorAddr, name, c.SimulatorAddr, usage)
	case "simulator-mode":
		fs.StringVar(&c.SimulatorMode, name, c.SimulatorMode, usage)
	case "hmrc-rate":
		fs.Float64Var(&c.Rate, name, c.Rate, usage)
	case "refresh-margin":
		fs.DurationVar(&c.RefreshMargin, name, c.RefreshMargin, usage)
	case "hmrc-interactive-wait":
		fs.DurationVar(&c.InteractiveWait, name, c.InteractiveWait, usage)
	case "max-password-checks":
		fs.IntVar(&c.MaxPasswordChecks, name, c.MaxPasswordChecks, usage)
	case "log-format":
		fs.StringVar(&c.LogFormat, name, c.LogFormat, usage)
	case "trusted-proxies":
		fs.StringVar(&c.trustedProxies, name, c.trustedProxies, usage)
	case "vendor-public-ip":
		fs.StringVar(&c.VendorPublicIP, name, c.VendorPublicIP, usage)
	case "licence-ids":
		fs.StringVar(&c.licenceIDs, name, c.licenceIDs, usage)
	case "device-manufacturer":
		fs.StringVar(&c.DeviceManufacturer, name, c.DeviceManufacturer, usage)
	case "device-model":
		fs.StringVar(&c.DeviceModel, name, c.DeviceModel, usage)
	case "device-id":
		fs.StringVar(&c.DeviceID, name, c.DeviceID, usage)
	case "connect-return-urls":
		fs.StringVar(&c.connectReturnURLs, name, c.connectReturnURLs, usage)
	case "connect-session-lifetime":
		fs.DurationVar(&c.ConnectSessionLifetime, name, c.ConnectSessionLifetime, usage)
	case "platform-name":
		fs.StringVar(&c.PlatformName, name, c.PlatformName, usage)
	case "webhooks-allow-loopback":
		fs.BoolVar(&c.WebhookPolicy.AllowLoopback, name, false, usage)
	case "webhooks-allow-private":
		fs.BoolVar(&c.WebhookPolicy.AllowPrivate, name, false, usage)
	case "webhooks-retry-schedule":
		fs.StringVar(&c.webhookSchedule, name, c.webhookSchedule, usage)
	case "webhooks-lease":
		fs.DurationVar(&c.WebhookLease, name, c.WebhookLease, usage)
	default:
		panic("config: no setting " + name)
	}
	c.env = append(c.env, name)
}

// withEnv gives a command's own flags (already on fs) an MTDCONNECT_*
// fallback too.
func (c *Config) withEnv(names ...string) { c.env = append(c.env, names...) }

// load reads the MTDCONNECT_* variable of every bound setting not given on
// the command line. A value that does not parse stops the command with an
// error naming the variable, never a silent default.
func (c *Config) load() error {
	given := map[string]bool{}
	c.fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, name := range c.env {
		if given[name] {
			continue
		}
		key := envName(name)
		v := c.getenv(key)
		if v == "" && secretSettings[name] {
			if file := c.getenv(key + "_FILE"); file != "" {
				b, err := os.ReadFile(file)
				if err != nil {
					return fmt.Errorf("%s_FILE: %w", key, err)
				}
				if v = strings.TrimSpace(string(b)); v == "" {
					return fmt.Errorf("%s_FILE: %s is empty", key, file)
				}
			}
		}
		if v == "" {
			continue
		}
		if err := c.fs.Set(name, v); err != nil {
			kind, _ := flag.UnquoteUsage(c.fs.Lookup(name))
			kind = cmp.Or(map[string]string{"float": "number", "int": "whole number"}[kind], kind)
			if secretSettings[name] {
				return fmt.Errorf("%s is not a valid %s", key, kind)
			}
			hint := ""
			if kind == "duration" {
				hint = " (a number with a unit, e.g. 90s or 5m)"
			}
			return fmt.Errorf("%s=%q is not a valid %s%s", key, v, kind, hint)
		}
		given[name] = true
	}
	c.keysetExplicit = given["keyset-file"]
	return nil
}

// resolve fills derived defaults and checks combinations.
func (c *Config) resolve() error {
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.Addr
	}
	c.PublicURL = strings.TrimSuffix(c.PublicURL, "/")
	if c.DatabaseURL == "" {
		c.DatabaseURL = filepath.Join(c.DataDir, "mtdconnect.db")
	}
	if c.KeysetFile == "" {
		c.KeysetFile = filepath.Join(c.DataDir, "keyset.json")
	}
	var authz, token, api string
	switch c.HMRC {
	case "simulator":
		base := "http://" + c.SimulatorAddr
		authz, token, api = base+"/oauth/authorize", base+"/oauth/token", base
		if c.ClientID == "" {
			c.ClientID, c.ClientSecret = simClientID, simClientSecret
		}
	case "sandbox":
		authz, token, api = hmrc.SandboxAuthorizeURL, hmrc.SandboxTokenURL, hmrc.SandboxAPIURL
	case "production":
		authz, token, api = hmrc.ProductionAuthorizeURL, hmrc.ProductionTokenURL, hmrc.ProductionAPIURL
	default:
		return fmt.Errorf("MTDCONNECT_HMRC must be simulator, sandbox or production, not %q", c.HMRC)
	}
	c.AuthorizeURL = cmp.Or(c.AuthorizeURL, authz)
	c.TokenURL = cmp.Or(c.TokenURL, token)
	c.APIURL = cmp.Or(c.APIURL, api)
	if c.Rate <= 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) {
		return errors.New("MTDCONNECT_HMRC_RATE must be a positive number")
	}
	if c.RefreshMargin <= 0 {
		return errors.New("MTDCONNECT_REFRESH_MARGIN must be positive")
	}
	if c.InteractiveWait <= 0 {
		return errors.New("MTDCONNECT_HMRC_INTERACTIVE_WAIT must be positive")
	}
	if c.MaxPasswordChecks < 0 {
		return errors.New("MTDCONNECT_MAX_PASSWORD_CHECKS must be 0 (the number of CPUs) or more")
	}
	if _, ok := hmrcsim.ParseMode(c.SimulatorMode); !ok {
		return fmt.Errorf("MTDCONNECT_SIMULATOR_MODE must be demo or sandbox, not %q", c.SimulatorMode)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("MTDCONNECT_LOG_FORMAT must be text or json, not %q", c.LogFormat)
	}
	var err error
	if c.TrustedProxies, err = web.ParseTrustedProxies(c.trustedProxies); err != nil {
		return fmt.Errorf("MTDCONNECT_TRUSTED_PROXIES: %w", err)
	}
	if c.VendorPublicIP != "" {
		if a, err := netip.ParseAddr(c.VendorPublicIP); err != nil || a.Zone() != "" {
			return fmt.Errorf("MTDCONNECT_VENDOR_PUBLIC_IP %q is not an IP address", c.VendorPublicIP)
		}
	}
	if c.LicenceIDs, err = parseLicenceIDs(c.licenceIDs); err != nil {
		return fmt.Errorf("MTDCONNECT_LICENCE_IDS: %w", err)
	}
	c.WebhookSchedule = nil
	for _, d := range strings.Split(c.webhookSchedule, ",") {
		if d = strings.TrimSpace(d); d == "" {
			continue
		}
		v, err := time.ParseDuration(d)
		if err != nil || v <= 0 {
			return fmt.Errorf("MTDCONNECT_WEBHOOKS_RETRY_SCHEDULE: %q is not a positive duration", d)
		}
		c.WebhookSchedule = append(c.WebhookSchedule, v)
	}
	if c.WebhookLease < 0 || c.WebhookLease > 0 && c.WebhookLease < time.Second {
		return errors.New("MTDCONNECT_WEBHOOKS_LEASE must be at least 1s")
	}
	c.ConnectReturnURLs = nil
	for _, u := range strings.Split(c.connectReturnURLs, ",") {
		if u = strings.TrimSpace(u); u == "" {
			continue
		}
		p, err := landlord.ParseReturnURLPrefix(u)
		if err != nil {
			return fmt.Errorf("MTDCONNECT_CONNECT_RETURN_URLS: %w", err)
		}
		c.ConnectReturnURLs = append(c.ConnectReturnURLs, p)
	}
	if c.ConnectSessionLifetime < time.Minute || c.ConnectSessionLifetime > 7*24*time.Hour {
		return fmt.Errorf("MTDCONNECT_CONNECT_SESSION_LIFETIME must be between 1m and 168h, not %v", c.ConnectSessionLifetime)
	}
	return nil
}

// parseLicenceIDs reads "name=licence,name2=licence2".
func parseLicenceIDs(s string) (map[string]string, error) {
	out := map[string]string{}
	for item := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		name, lic, ok := strings.Cut(item, "=")
		name, lic = strings.TrimSpace(name), strings.TrimSpace(lic)
		if !ok || name == "" || lic == "" {
			return nil, fmt.Errorf("%q must be software-name=licence", item)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%q is given twice", name)
		}
		out[name] = lic
	}
	return out, nil
}

// deviceIDFile keeps this server's Gov-Client-Device-ID between runs.
const deviceIDFile = "device-id"

// resolveDeviceID returns the configured device ID, or the one kept in
// DATA_DIR/device-id, generating it there on first use: HMRC wants the
// same ID for as long as the device (this server) exists.
func (c *Config) resolveDeviceID() (string, error) {
	if c.DeviceID != "" {
		if !uuidPattern.MatchString(c.DeviceID) {
			return "", fmt.Errorf("MTDCONNECT_DEVICE_ID %q is not a UUID", c.DeviceID)
		}
		return strings.ToLower(c.DeviceID), nil
	}
	path := filepath.Join(c.DataDir, deviceIDFile)
	b, err := os.ReadFile(path)
	if err == nil {
		id := strings.TrimSpace(string(b))
		if !uuidPattern.MatchString(id) {
			return "", fmt.Errorf("%s does not hold a UUID; delete it to generate a new device ID", path)
		}
		return id, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read device ID: %w", err)
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return "", err
	}
	id := newDeviceID()
	// O_EXCL: if another process created it meanwhile, use theirs.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return c.resolveDeviceID()
	}
	if err != nil {
		return "", fmt.Errorf("create device ID: %w", err)
	}
	if _, err := fmt.Fprintln(f, id); err != nil {
		f.Close()
		return "", fmt.Errorf("write device ID: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write device ID: %w", err)
	}
	return id, nil
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// newDeviceID returns a random (version 4) UUID.
func newDeviceID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// hmrcCredentials are the HMRC application the service calls as.
type hmrcCredentials struct {
	clientID, secret string
	fromStore        bool // the stored application, followed while running
}

// resolveCredentials decides which HMRC application the service calls as:
// MTDCONNECT_CLIENT_ID and MTDCONNECT_CLIENT_SECRET (or _FILE), where set,
// override the stored application, for deployments that keep secrets
// elsewhere; otherwise the application stored for the environment (mtdconnect
// app set, or Admin → HMRC application). The simulator has its built-in
// demo application (filled in by resolve).
func (c *Config) resolveCredentials(ctx context.Context, apps *hmrc.Applications, log *slog.Logger) (hmrcCredentials, error) {
	switch {
	case c.ClientID != "" && c.ClientSecret != "":
		if c.HMRC != hmrc.EnvSimulator {
			if stored, err := apps.Get(ctx, c.HMRC); err == nil && stored.ClientID != c.ClientID {
				log.Warn("MTDCONNECT_CLIENT_ID overrides the stored HMRC application", "environment", c.HMRC,
					"client_id", c.ClientID, "stored_client_id", stored.ClientID)
			}
		}
		return hmrcCredentials{clientID: c.ClientID, secret: c.ClientSecret}, nil
	case c.ClientID != "":
		return hmrcCredentials{}, errors.New("MTDCONNECT_CLIENT_ID is set without MTDCONNECT_CLIENT_SECRET (or MTDCONNECT_CLIENT_SECRET_FILE): set both to override the stored HMRC application, or neither to use it")
	case c.ClientSecret != "":
		return hmrcCredentials{}, errors.New("MTDCONNECT_CLIENT_SECRET is set without MTDCONNECT_CLIENT_ID: set both to override the stored HMRC application, or neither to use it")
	}
	id, secret, err := apps.Credentials(ctx, c.HMRC)
	if errors.Is(err, hmrc.ErrNoApplication) {
		return hmrcCredentials{}, fmt.Errorf("HMRC %s has no application credentials. Either store them (sealed) in the service:\n"+
			"  mtdconnect app set --env %s --client-id ID --client-secret-file FILE\n"+
			"or set MTDCONNECT_CLIENT_ID and MTDCONNECT_CLIENT_SECRET (or MTDCONNECT_CLIENT_SECRET_FILE)", c.HMRC, c.HMRC)
	}
	if err != nil {
		return hmrcCredentials{}, fmt.Errorf("read the stored HMRC %s application: %w", c.HMRC, err)
	}
	return hmrcCredentials{clientID: id, secret: secret, fromStore: true}, nil
}

// RedirectURL is the web callback registered with HMRC.
func (c *Config) RedirectURL() string { return c.PublicURL + "/oauth/hmrc/callback" }

// ManageAuthorityURL is where a landlord removes the authority at HMRC.
func (c *Config) ManageAuthorityURL() string {
	switch c.HMRC {
	case "simulator":
		return "http://" + c.SimulatorAddr + "/applications-manage-authority"
	case "sandbox":
		return "https://test-www.tax.service.gov.uk/applications-manage-authority"
	}
	return hmrc.ProductionManageAuthorityURL
}
