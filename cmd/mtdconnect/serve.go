package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	oklog "github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/expiry"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/fraud"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
	"github.com/mtdconnect/mtdconnect/web"
	"github.com/mtdconnect/mtdconnect/webhook"
)

// serveFlags are serve's own flags.
type serveFlags struct {
	metricsAddr                 string
	drainTimeout, shutdownDelay time.Duration
	// simulatorControls serves the built-in simulator's control endpoints
	// (its clock, to try the year end; faults; stats): off unless asked,
	// since a browser can reach the simulator.
	simulatorControls bool
}

func runServe(ctx context.Context, cfg *Config, f serveFlags, p *proc) error {
	if f.drainTimeout <= 0 || f.shutdownDelay < 0 || f.shutdownDelay >= f.drainTimeout {
		return fmt.Errorf("the drain timeout (%v, MTDCONNECT_DRAIN_TIMEOUT) must be positive and longer than the shutdown delay (%v, MTDCONNECT_SHUTDOWN_DELAY)", f.drainTimeout, f.shutdownDelay)
	}
	stdout := p.stdout
	a, err := openApp(ctx, cfg, p.stderr)
	if err != nil {
		return err
	}
	// Closed last, after every actor has stopped.
	defer a.Close()
	deviceWarning, err := checkBatchDevice(a.cfg)
	if err != nil {
		return err
	}
	stop := &stopper{log: a.log, timeout: f.drainTimeout, delay: f.shutdownDelay, hurry: p.hurry}

	// Listeners are opened before anything runs, so that a port in use
	// fails the start.
	var simURL string
	var sim *hmrcsim.Server
	var simLn net.Listener
	if builtinSimulator(a.cfg) {
		if simLn, err = net.Listen("tcp", a.cfg.SimulatorAddr); err != nil {
			return fmt.Errorf("start the HMRC simulator: %w (set MTDCONNECT_SIMULATOR_ADDR to another address)", err)
		}
		defer simLn.Close()
		simURL = "http://" + simLn.Addr().String()
		mode, _ := hmrcsim.ParseMode(a.cfg.SimulatorMode)
		// The demo shows an update as received after demoFulfilmentDelay
		// rather than HMRC's hour: a newcomer sees both states in one
		// sitting. Its control endpoints stay off unless asked for: a
		// browser can reach it.
		opts := hmrcsim.Options{Mode: mode, FulfilmentDelay: demoFulfilmentDelay, Controls: hmrcsim.ControlsOff}
		if f.simulatorControls {
			opts.Controls = hmrcsim.ControlsOn
		}
		sim = newSimulator(a.cfg, a.log.With("component", "hmrcsim"), opts)
		if err := seedDemo(ctx, a); err != nil {
			return err
		}
	} else if a.cfg.HMRC != hmrc.EnvSimulator {
		// The demo's accounts, made by a start with the simulator, must not
		// reach HMRC's sandbox or production: their passwords are in the
		// README.
		if err := refuseDemoPasswords(ctx, a.store); err != nil {
			return err
		}
	}
	dispatcher, err := webhook.NewDispatcher(webhook.DispatcherConfig{Store: a.store, Sealer: a.sealer,
		Policy: a.cfg.WebhookPolicy, Logger: a.log.With("component", "webhooks"),
		Schedule: a.cfg.WebhookSchedule, Lease: a.cfg.WebhookLease})
	if err != nil {
		return err
	}
	srv, err := web.New(web.Config{
		Store: a.store, HMRC: a.hmrc, Landlord: a.landlord, Sealer: a.sealer, Logger: a.log, Now: time.Now,
		Webhooks:  &webhook.Manager{Store: a.store, Sealer: a.sealer, Policy: a.cfg.WebhookPolicy},
		PublicURL: a.cfg.PublicURL, ManageAuthorityURL: a.cfg.ManageAuthorityURL(),
		AuthorizeURL: a.cfg.AuthorizeURL, PlatformName: a.cfg.PlatformName,
		TrustedProxies: a.cfg.TrustedProxies, VendorPublicIP: a.cfg.VendorPublicIP, LicenceIDs: a.cfg.LicenceIDs,
		MaxPasswordChecks: a.cfg.MaxPasswordChecks,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	var mln net.Listener
	if f.metricsAddr != "" {
		if mln, err = net.Listen("tcp", f.metricsAddr); err != nil {
			return fmt.Errorf("listen for /metrics: %w", err)
		}
		defer mln.Close()
	}

	// The actors, in the order they stop (lifecycle.go).
	var g oklog.Group
	g.Add(stop.onSignal(ctx))
	g.Add(stop.httpServer("web", ln, withReadyz(srv.Handler(), stop, a.store, a.log)))
	g.Add(stop.background("refresher", (&hmrc.Refresher{Client: a.hmrc}).Run))
	// Takes nothing new once stopped, and records every attempt it started;
	// what it claimed and did not send is sent by any instance after the
	// lease (nothing lost).
	g.Add(stop.background("webhook dispatcher", dispatcher.Run))
	// Authority ending and deadlines coming, as events (each once).
	g.Add(stop.background("webhook reminders", a.landlord.RunReminders))
	g.Add(stop.background("purge of deleted landlords", a.landlord.RunPurge))
	// Expired sessions, pending authorisations and sign-in counts: gone
	// once they expire, whatever an attacker made the service write.
	g.Add(stop.background("expiry sweeper", (&expiry.Sweeper{Store: a.store, Logger: a.log}).Run))
	g.Add(stop.waitFor("hmrc refreshes", func(ctx context.Context) error {
		if n := a.hmrc.Refreshing(); n > 0 {
			a.log.Info("waiting for HMRC refreshes in flight", "count", n)
		}
		return a.hmrc.Drain(ctx)
	}))
	if sim != nil {
		// Its grants, tokens and submissions outlive a restart (simstate.go).
		simState := keepSimulatorState(context.WithoutCancel(ctx), sim, filepath.Join(a.cfg.DataDir, simulatorStateFile), a.log)
		g.Add(stop.httpServer("simulator", simLn, simState.handler(sim.Handler())))
		g.Add(simState.actor())
	}
	if mln != nil {
		g.Add(stop.httpServer("metrics", mln, metricsHandler(a.metrics)))
		// Before the banner's first line, which tells a watcher the
		// service is up.
		fmt.Fprintf(stdout, "  metrics: http://%s/metrics\n", mln.Addr())
	}
	printBanner(stdout, a, "http://"+ln.Addr().String(), simURL)
	if deviceWarning != "" {
		fmt.Fprintln(stdout, "\nWARNING: "+deviceWarning)
		a.log.Warn(deviceWarning)
	}
	err = g.Run()
	stop.end()
	if errors.Is(err, errStopSignal) {
		return nil
	}
	return err
}

// metricsHandler serves reg, with the Go runtime's and the process's own
// metrics (memory, CPU, file descriptors), on its own listener: the main
// one faces landlords' browsers, and operational figures are not theirs.
// Nothing in it is secret: hmrc's labels are fixed sets of words.
func metricsHandler(reg *prometheus.Registry) http.Handler {
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}

// checkBatchDevice says, at the start, what this host cannot tell of itself
// for HMRC's Gov-Client-User-Agent (its maker and model: a VM without DMI
// data) and the configuration does not fill in. HMRC's spec wants all four
// of its fields on every call no landlord starts, so against HMRC such a
// server does not start; with the simulator it starts with a warning, and
// those calls are refused until the settings are given.
func checkBatchDevice(cfg *Config) (warning string, err error) {
	var missing []string
	for _, what := range fraud.HostUnknowns() {
		switch {
		case what == "manufacturer" && cfg.DeviceManufacturer == "":
			missing = append(missing, "MTDCONNECT_DEVICE_MANUFACTURER")
		case what == "model" && cfg.DeviceModel == "":
			missing = append(missing, "MTDCONNECT_DEVICE_MODEL")
		}
	}
	if len(missing) == 0 {
		return "", nil
	}
	msg := "this host does not report its device manufacturer and model (no DMI data, as on many virtual machines), which HMRC's " +
		"Gov-Client-User-Agent needs on every call no landlord starts: set " + strings.Join(missing, " and ") +
		" (for example your cloud provider and instance type)"
	if cfg.HMRC != hmrc.EnvSimulator {
		return "", errors.New(msg)
	}
	return msg + "; until then such calls are refused", nil
}

// demoFulfilmentDelay is how long the built-in simulator takes to show a
// quarterly update's obligation as fulfilled. HMRC says "up to an hour"
// (the simulator's default); the demo takes 2 minutes, long enough that the
// page's "sent: HMRC may take up to an hour to show it as received" is
// seen, short enough that a newcomer sees "received" in the same sitting
// (within landlord.SentRecheck after it).
const demoFulfilmentDelay = 2 * time.Minute

// builtinSimulator says whether serve runs the HMRC simulator in-process:
// with MTDCONNECT_HMRC=simulator, unless the HMRC URLs were pointed
// elsewhere (MTDCONNECT_HMRC_API_URL…), which is how several instances
// share one `mtdconnect simulator` process.
func builtinSimulator(cfg *Config) bool {
	return cfg.HMRC == "simulator" && cfg.APIURL == "http://"+cfg.SimulatorAddr
}

// newSimulator builds the HMRC simulator with the demo application
// (redirect URIs: the web callback and the manual out-of-band one) and the
// demo Government Gateway test user. opts.RateLimit 0 takes the service's
// budget (MTDCONNECT_HMRC_RATE), so the demo is throttled as HMRC would.
func newSimulator(cfg *Config, log *slog.Logger, opts hmrcsim.Options) *hmrcsim.Server {
	opts.Logger = log
	if opts.RateLimit == 0 {
		opts.RateLimit = cfg.Rate
	}
	sim := hmrcsim.New(opts)
	sim.AddApplication(hmrcsim.Application{
		ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Name: "mtdconnect (local)",
		RedirectURIs: []string{cfg.RedirectURL(), hmrc.OOBRedirectURI},
	})
	sim.AddTestUser(hmrcsim.TestUser{
		UserID: simUserID, Password: simUserPassword, NINO: simUserNINO, VRN: simUserVRN,
		FullName: "Jo Landlord",
	})
	return sim
}

func printBanner(w io.Writer, a *app, url, simURL string) {
	fmt.Fprintf(w, "mtdconnect %s is running: %s\n", mtdconnect.Version, url)
	fmt.Fprintf(w, "  database: %s\n", redactedDatabaseURL(a.cfg.DatabaseURL))
	if a.keysetCreated {
		fmt.Fprintf(w, "  WARNING: generated a local encryption keyset at %s (for local use only)\n", a.cfg.KeysetFile)
	}
	if simURL == "" {
		fmt.Fprintf(w, "  HMRC: %s (%s)\n", a.cfg.HMRC, a.cfg.APIURL)
		return
	}
	fmt.Fprintf(w, "  HMRC: built-in simulator at %s, %s mode\n", simURL, a.cfg.SimulatorMode)
	if a.cfg.SimulatorMode == "sandbox" {
		fmt.Fprintf(w, "  It answers as HMRC's sandbox does (canned answers, Gov-Test-Scenario, STATEFUL test businesses): docs/SANDBOX.md\n")
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Sign in to mtdconnect as the demo landlord:\n  email:    %s\n  password: %s\n\n", demoEmail, demoPassword)
	fmt.Fprintf(w, "The admin pages (%s/admin/hmrc…) are for the demo administrator, a separate account:\n  email:    %s\n  password: %s\n\n", url, demoAdminEmail, demoAdminPassword)
	fmt.Fprintf(w, "At the simulated HMRC sign-in (Government Gateway), use the test user:\n  user ID:  %s\n  password: %s\n\n", simUserID, simUserPassword)
	fmt.Fprintf(w, "Its National Insurance number is %s and its VAT registration number %s.\n\n", simUserNINO, simUserVRN)
	fmt.Fprintf(w, "Then open %s/settings/hmrc, enter the National Insurance number and click Connect to HMRC.\n", url)
}

// simulatorFlags are the fault and limit knobs of `mtdconnect simulator`.
type simulatorFlags struct {
	latency                                time.Duration
	latencyRate, errorRate, timeoutRate    float64
	resetRate, lostResponseRate, rateLimit float64
	timeout, accessTokenLifetime           time.Duration
	seed                                   int64
	controls                               bool
	fulfilmentDelay                        time.Duration
}

func (f *simulatorFlags) bind(fs *flag.FlagSet) {
	fs.DurationVar(&f.latency, "latency", 0, "delay answers to token and API requests by this much (e.g. 200ms)")
	fs.Float64Var(&f.latencyRate, "latency-rate", 0, "share of requests delayed by --latency, 0 to 1 (0: all of them)")
	fs.Float64Var(&f.errorRate, "error-rate", 0, "share of token and API requests answered 500, not applied, 0 to 1")
	fs.Float64Var(&f.timeoutRate, "timeout-rate", 0, "share of requests that hang for --timeout, then drop the connection, not applied")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "how long a timing-out request hangs")
	fs.Float64Var(&f.resetRate, "reset-rate", 0, "share of requests whose connection is reset at once, not applied")
	fs.Float64Var(&f.lostResponseRate, "lost-response-rate", 0, "share of requests applied (a refresh rotates the tokens) whose answer is then lost")
	fs.Float64Var(&f.rateLimit, "rate-limit", 0, "requests/second per application before 429 MESSAGE_THROTTLED_OUT (default --hmrc-rate, MTDCONNECT_HMRC_RATE; negative: unlimited)")
	fs.DurationVar(&f.accessTokenLifetime, "access-token-lifetime", 4*time.Hour, "lifetime of access tokens (HMRC's is 4h; seconds make refreshes race in tests)")
	fs.Int64Var(&f.seed, "seed", 0, "seed of the fault draws, for reproducible runs")
	fs.BoolVar(&f.controls, "controls", false, "serve the control endpoints /admin/faults, /admin/stats and /admin/clock (same-origin requests only), for tests and mtdconnect loadtest; off by default, as they are unauthenticated")
	fs.DurationVar(&f.fulfilmentDelay, "fulfilment-delay", 0, "how long after an update the demo's obligation shows as fulfilled (default HMRC's \"up to an hour\"; negative: at once)")
}

// options checks the knobs and turns them into the simulator's options
// and faults.
func (f *simulatorFlags) options() (hmrcsim.Options, hmrcsim.Faults, error) {
	rates := []struct {
		name string
		v    float64
	}{
		{"--latency-rate", f.latencyRate}, {"--error-rate", f.errorRate}, {"--timeout-rate", f.timeoutRate},
		{"--reset-rate", f.resetRate}, {"--lost-response-rate", f.lostResponseRate},
	}
	for _, r := range rates {
		if math.IsNaN(r.v) || r.v < 0 || r.v > 1 {
			return hmrcsim.Options{}, hmrcsim.Faults{}, fmt.Errorf("%s must be between 0 and 1, not %v", r.name, r.v)
		}
	}
	// At most one of these happens to a request.
	if sum := f.errorRate + f.timeoutRate + f.resetRate + f.lostResponseRate; sum > 1 {
		return hmrcsim.Options{}, hmrcsim.Faults{}, fmt.Errorf("--error-rate, --timeout-rate, --reset-rate and --lost-response-rate add up to %v, more than 1", sum)
	}
	switch {
	case f.latency < 0:
		return hmrcsim.Options{}, hmrcsim.Faults{}, errors.New("--latency must not be negative")
	case f.timeout <= 0:
		return hmrcsim.Options{}, hmrcsim.Faults{}, errors.New("--timeout must be positive")
	case f.accessTokenLifetime < time.Second:
		// expires_in is in whole seconds, and 0 means "no expiry".
		return hmrcsim.Options{}, hmrcsim.Faults{}, errors.New("--access-token-lifetime must be at least 1s")
	case math.IsNaN(f.rateLimit):
		return hmrcsim.Options{}, hmrcsim.Faults{}, errors.New("--rate-limit must be a number")
	}
	opts := hmrcsim.Options{RateLimit: f.rateLimit, AccessTokenLifetime: f.accessTokenLifetime.Truncate(time.Second),
		FulfilmentDelay: f.fulfilmentDelay, Controls: hmrcsim.ControlsOff}
	if f.controls {
		opts.Controls = hmrcsim.ControlsOn
	}
	faults := hmrcsim.Faults{
		Latency: f.latency, LatencyRate: f.latencyRate, ErrorRate: f.errorRate, TimeoutRate: f.timeoutRate,
		ResetRate: f.resetRate, LostResponseRate: f.lostResponseRate, Timeout: f.timeout, Seed: f.seed,
	}
	return opts, faults, nil
}

func runSimulator(ctx context.Context, cfg *Config, sf *simulatorFlags, stateFile string, p *proc) error {
	if err := cfg.resolve(); err != nil {
		return err
	}
	stdout := p.stdout
	opts, faults, err := sf.options()
	if err != nil {
		return err
	}
	opts.Mode, _ = hmrcsim.ParseMode(cfg.SimulatorMode)
	log := cfg.logger(p.stderr)
	ln, err := net.Listen("tcp", cfg.SimulatorAddr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	sim := newSimulator(cfg, log, opts)
	sim.SetFaults(faults)
	limit := "unlimited"
	if opts.RateLimit > 0 {
		limit = strconv.FormatFloat(opts.RateLimit, 'f', -1, 64) + " requests/second per application"
	} else if opts.RateLimit == 0 {
		limit = strconv.FormatFloat(cfg.Rate, 'f', -1, 64) + " requests/second per application"
	}
	fmt.Fprintf(stdout, "HMRC simulator running: http://%s\n  mode: %s; rate limit: %s; access tokens last %s\n", ln.Addr(), opts.Mode, limit, opts.AccessTokenLifetime)
	if sf.controls {
		fmt.Fprintf(stdout, "  faults: %s (change them while it runs: PUT http://%s/admin/faults; counters: GET /admin/stats)\n", describeFaults(faults), ln.Addr())
	} else {
		fmt.Fprintf(stdout, "  faults: %s (control endpoints off; --controls serves /admin/faults and /admin/stats)\n", describeFaults(faults))
	}
	// Only the demo application's secret is printed: a configured one may
	// be a sandbox or production secret, which the simulator keeps only
	// as a hash.
	secret := cfg.ClientSecret
	if secret != simClientSecret {
		secret = "the configured one (MTDCONNECT_CLIENT_SECRET; not shown, and kept only as a hash)"
	}
	fmt.Fprintf(stdout, "  client ID: %s\n  client secret: %s\n  redirect URIs: %s, %s\n  test user: %s / %s (NINO %s, VRN %s)\n",
		cfg.ClientID, secret, cfg.RedirectURL(), hmrc.OOBRedirectURI, simUserID, simUserPassword, simUserNINO, simUserVRN)
	stop := &stopper{log: log, timeout: simulatorDrainTimeout + 5*time.Second}
	var g oklog.Group
	g.Add(stop.onSignal(ctx))
	if stateFile != "" {
		st := keepSimulatorState(context.WithoutCancel(ctx), sim, stateFile, log)
		g.Add(stop.httpServer("simulator", ln, st.handler(sim.Handler())))
		g.Add(st.actor())
	} else {
		g.Add(stop.httpServer("simulator", ln, sim.Handler()))
	}
	err = g.Run()
	stop.end()
	if errors.Is(err, errStopSignal) {
		return nil
	}
	return err
}

// describeFaults says in words what the fault knobs do.
func describeFaults(f hmrcsim.Faults) string {
	var parts []string
	if f.Latency > 0 {
		share := "all"
		if f.LatencyRate > 0 {
			share = fmt.Sprintf("%g%% of", f.LatencyRate*100)
		}
		parts = append(parts, fmt.Sprintf("%s requests delayed %v", share, f.Latency))
	}
	for _, k := range []struct {
		rate float64
		what string
	}{
		{f.ErrorRate, "answered 500"}, {f.TimeoutRate, "hang " + f.Timeout.String()},
		{f.ResetRate, "reset"}, {f.LostResponseRate, "applied, answer lost"},
	} {
		if k.rate > 0 {
			parts = append(parts, fmt.Sprintf("%g%% %s", k.rate*100, k.what))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// redactedDatabaseURL hides a PostgreSQL URL's password; a SQLite path is
// shown as is.
func redactedDatabaseURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	return s
}
