package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/web"
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
	demoEmail       = "landlord@example.com"
	demoPassword    = "landlord-demo"
)

// Config is every setting, from flags with MTDCONNECT_* environment
// fallbacks. Every command reads the same configuration, so the CLI and the
// server share one database.
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
	Rate          float64
	RefreshMargin time.Duration
	LogFormat     string

	// Fraud prevention data (HMRC's Gov-* headers).
	TrustedProxies []netip.Prefix    // proxies whose X-Forwarded-For / Forwarded is believed
	VendorPublicIP string            // the public IP clients connect to; empty: each request's local address
	LicenceIDs     map[string]string // software name → licence, sent hashed
	DeviceID       string            // this server's UUID as a batch device; default: DATA_DIR/device-id
	// The server's maker and model for batch calls, where the host has no
	// DMI data to read them from (many VMs).
	DeviceManufacturer, DeviceModel string

	trustedProxies string // as given, parsed by resolve
	licenceIDs     string

	clientSecretFile string
	keysetExplicit   bool
}

type getenvFunc func(string) string

// bind registers the configuration flags on fs, defaulting from getenv.
func (c *Config) bind(fs *flag.FlagSet, getenv getenvFunc) {
	env := func(name, def string) string {
		if v := getenv("MTDCONNECT_" + name); v != "" {
			return v
		}
		return def
	}
	fs.StringVar(&c.Addr, "addr", env("ADDR", "127.0.0.1:8080"), "listen address (MTDCONNECT_ADDR)")
	fs.StringVar(&c.PublicURL, "public-url", env("PUBLIC_URL", ""), "public URL of the service; the HMRC redirect URI is this + /oauth/hmrc/callback (MTDCONNECT_PUBLIC_URL; default http://ADDR)")
	fs.StringVar(&c.DataDir, "data-dir", env("DATA_DIR", "mtdconnect-data"), "directory for the default SQLite database and keyset (MTDCONNECT_DATA_DIR)")
	fs.StringVar(&c.DatabaseURL, "database-url", env("DATABASE_URL", ""), "SQLite file path or postgres:// URL (MTDCONNECT_DATABASE_URL; default DATA_DIR/mtdconnect.db)")
	fs.StringVar(&c.KeysetFile, "keyset-file", env("KEYSET_FILE", ""), "Tink keyset sealing tokens at rest (MTDCONNECT_KEYSET_FILE; default DATA_DIR/keyset.json, generated for local use)")
	fs.StringVar(&c.HMRC, "hmrc", env("HMRC", "simulator"), "HMRC environment: simulator, sandbox or production (MTDCONNECT_HMRC)")
	fs.StringVar(&c.AuthorizeURL, "hmrc-authorize-url", env("HMRC_AUTHORIZE_URL", ""), "override HMRC's authorize endpoint (MTDCONNECT_HMRC_AUTHORIZE_URL)")
	fs.StringVar(&c.TokenURL, "hmrc-token-url", env("HMRC_TOKEN_URL", ""), "override HMRC's token endpoint (MTDCONNECT_HMRC_TOKEN_URL)")
	fs.StringVar(&c.APIURL, "hmrc-api-url", env("HMRC_API_URL", ""), "override HMRC's API base URL (MTDCONNECT_HMRC_API_URL)")
	fs.StringVar(&c.ClientID, "client-id", env("CLIENT_ID", ""), "HMRC application client ID; with the secret, overrides the application stored with mtdconnect app set (MTDCONNECT_CLIENT_ID)")
	fs.StringVar(&c.ClientSecret, "client-secret", "", "HMRC application client secret (prefer MTDCONNECT_CLIENT_SECRET or MTDCONNECT_CLIENT_SECRET_FILE)")
	fs.StringVar(&c.SimulatorAddr, "simulator-addr", env("SIMULATOR_ADDR", "127.0.0.1:9090"), "listen address of the built-in HMRC simulator (MTDCONNECT_SIMULATOR_ADDR)")
	rate, _ := strconv.ParseFloat(env("HMRC_RATE", "3"), 64)
	fs.Float64Var(&c.Rate, "hmrc-rate", rate, "HMRC requests per second for the whole deployment (MTDCONNECT_HMRC_RATE)")
	margin, _ := time.ParseDuration(env("REFRESH_MARGIN", "5m"))
	fs.DurationVar(&c.RefreshMargin, "refresh-margin", margin, "refresh access tokens this long before they expire (MTDCONNECT_REFRESH_MARGIN)")
	fs.StringVar(&c.LogFormat, "log-format", env("LOG_FORMAT", "text"), "text or json (MTDCONNECT_LOG_FORMAT)")
	fs.StringVar(&c.trustedProxies, "trusted-proxies", env("TRUSTED_PROXIES", ""), "comma-separated CIDRs or addresses of the load balancers whose X-Forwarded-For / Forwarded headers give the client's IP, e.g. 10.0.0.0/8 (MTDCONNECT_TRUSTED_PROXIES)")
	fs.StringVar(&c.VendorPublicIP, "vendor-public-ip", env("VENDOR_PUBLIC_IP", ""), "the public IP landlords' browsers connect to (the load balancer's), for HMRC's Gov-Vendor-Public-IP (MTDCONNECT_VENDOR_PUBLIC_IP; default: the address each request arrived on)")
	fs.StringVar(&c.licenceIDs, "licence-ids", env("LICENCE_IDS", ""), "comma-separated name=licence pairs, sent hashed in HMRC's Gov-Vendor-License-IDs (MTDCONNECT_LICENCE_IDS)")
	fs.StringVar(&c.DeviceManufacturer, "device-manufacturer", env("DEVICE_MANUFACTURER", ""), "this server's manufacturer for HMRC's Gov-Client-User-Agent, where the host does not report one (MTDCONNECT_DEVICE_MANUFACTURER)")
	fs.StringVar(&c.DeviceModel, "device-model", env("DEVICE_MODEL", ""), "this server's model for HMRC's Gov-Client-User-Agent, where the host does not report one (MTDCONNECT_DEVICE_MODEL)")
	fs.StringVar(&c.DeviceID, "device-id", env("DEVICE_ID", ""), "this server's UUID in HMRC's Gov-Client-Device-ID for calls no landlord started (MTDCONNECT_DEVICE_ID; default: generated once into DATA_DIR/device-id)")
	c.ClientSecret = getenv("MTDCONNECT_CLIENT_SECRET")
	c.keysetExplicit = getenv("MTDCONNECT_KEYSET_FILE") != ""
	// Read in resolve, so a bad path is reported as a configuration error.
	c.clientSecretFile = getenv("MTDCONNECT_CLIENT_SECRET_FILE")
}

// resolve fills derived defaults and checks combinations.
func (c *Config) resolve(fs *flag.FlagSet) error {
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "keyset-file" {
			c.keysetExplicit = true
		}
	})
	if c.ClientSecret == "" && c.clientSecretFile != "" {
		b, err := os.ReadFile(c.clientSecretFile)
		if err != nil {
			return fmt.Errorf("client secret file: %w", err)
		}
		c.ClientSecret = strings.TrimSpace(string(b))
	}
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
	if c.Rate <= 0 {
		return errors.New("MTDCONNECT_HMRC_RATE must be positive")
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
