package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mtdconnect/mtdconnect/hmrc"
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
	fs.StringVar(&c.ClientID, "client-id", env("CLIENT_ID", ""), "HMRC application client ID (MTDCONNECT_CLIENT_ID)")
	fs.StringVar(&c.ClientSecret, "client-secret", "", "HMRC application client secret (prefer MTDCONNECT_CLIENT_SECRET or MTDCONNECT_CLIENT_SECRET_FILE)")
	fs.StringVar(&c.SimulatorAddr, "simulator-addr", env("SIMULATOR_ADDR", "127.0.0.1:9090"), "listen address of the built-in HMRC simulator (MTDCONNECT_SIMULATOR_ADDR)")
	rate, _ := strconv.ParseFloat(env("HMRC_RATE", "3"), 64)
	fs.Float64Var(&c.Rate, "hmrc-rate", rate, "HMRC requests per second for the whole deployment (MTDCONNECT_HMRC_RATE)")
	margin, _ := time.ParseDuration(env("REFRESH_MARGIN", "5m"))
	fs.DurationVar(&c.RefreshMargin, "refresh-margin", margin, "refresh access tokens this long before they expire (MTDCONNECT_REFRESH_MARGIN)")
	fs.StringVar(&c.LogFormat, "log-format", env("LOG_FORMAT", "text"), "text or json (MTDCONNECT_LOG_FORMAT)")
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
	if c.ClientID == "" || c.ClientSecret == "" {
		return errors.New("HMRC " + c.HMRC + " needs MTDCONNECT_CLIENT_ID and MTDCONNECT_CLIENT_SECRET (or _FILE)")
	}
	if c.Rate <= 0 {
		return errors.New("MTDCONNECT_HMRC_RATE must be positive")
	}
	return nil
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
