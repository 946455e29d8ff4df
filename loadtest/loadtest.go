// Package loadtest is mtdconnect's reliability suite. It proves the claims of
// a deployment of several instances with real processes: it starts the HMRC
// simulator (`mtdconnect simulator`) and several `mtdconnect serve` instances
// on one PostgreSQL database (or one SQLite file), seeds landlords whose
// connections are real grants obtained from the simulator, drives load
// through the service's JSON API, kills instances, injects HMRC faults, and
// reads the simulator's counters (/admin/stats) to report what happened:
// refreshes, refresh-token reuses, "already in progress" answers, failed
// calls, connections lost, what a rolling restart (SIGTERM) costs, calls per second at HMRC, the wait of each
// priority, and how the refresher's due query scales.
//
// Each scenario runs on a database (or file) of its own, created for it and
// dropped after it. `mtdconnect loadtest` runs the full-length scenarios;
// the tests of cmd/mtdconnect run shortened ones on every CI run.
package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Scenario names, in the order "all" runs them.
const (
	ScenarioRaces   = "races"
	ScenarioRolling = "rolling"
	ScenarioCrashes = "crashes"
	ScenarioFaults  = "faults"
	ScenarioRate    = "rate"
	ScenarioScale   = "scale"
	// ScenarioQuarterly measures what a landlord's quarterly journey costs
	// at HMRC across the instances.
	ScenarioQuarterly = "quarterly"
	// ScenarioWebhooks delivers the outbox to a failing receiver while
	// instances are killed.
	ScenarioWebhooks = "webhooks"
)

// Scenarios are every scenario, in the order "all" runs them.
var Scenarios = []string{ScenarioRaces, ScenarioRolling, ScenarioCrashes, ScenarioFaults, ScenarioRate, ScenarioQuarterly, ScenarioWebhooks, ScenarioScale}

// Options are what every scenario shares.
type Options struct {
	// Command starts mtdconnect: Command[0] is the executable and the rest
	// are arguments placed before the subcommand. The real binary needs
	// nothing more; a test binary that re-executes itself as mtdconnect
	// sets Env too.
	Command []string
	// Env is added to every child process's environment. MTDCONNECT_*
	// variables of this process are not passed on: each child gets exactly
	// the configuration its scenario sets.
	Env []string
	// DatabaseURL is a postgres:// URL of a server on which the run may
	// create and drop databases; each scenario gets a fresh one. Empty runs
	// the instances on one SQLite file instead (scale needs PostgreSQL).
	DatabaseURL string
	// Instances is how many `mtdconnect serve` processes share the
	// database. Default 3.
	Instances int
	// WorkDir holds each scenario's keyset, data directories and process
	// logs. Empty: a temporary directory, removed afterwards unless Keep.
	WorkDir string
	// Keep keeps the work directory and the scenario databases.
	Keep bool
	// TestUserID and TestUserPassword are a Government Gateway test user
	// the simulator knows; seeding signs in as it to grant each connection.
	// TestUserNINO is its National Insurance number, given to every
	// landlord: the API's connection test reads the landlord's Income Tax
	// business details from HMRC.
	TestUserID, TestUserPassword, TestUserNINO string
	// Progress receives a line per step; nil discards.
	Progress io.Writer

	Races   RacesConfig
	Rolling RollingConfig
	Crashes CrashesConfig
	Faults  FaultsConfig
	Rate    RateConfig
	Scale   ScaleConfig

	Quarterly QuarterlyConfig
	Webhooks  WebhooksConfig
}

func (o *Options) setDefaults() {
	if o.Instances <= 0 {
		o.Instances = 3
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	o.Races.setDefaults()
	o.Rolling.setDefaults()
	o.Crashes.setDefaults()
	o.Faults.setDefaults()
	o.Rate.setDefaults()
	o.Scale.setDefaults()
	o.Quarterly.setDefaults()
	o.Webhooks.setDefaults()
}

// Backend names the store the instances share.
func (o *Options) Backend() string {
	if o.DatabaseURL == "" {
		return "sqlite"
	}
	return "postgres"
}

func (o *Options) progress(format string, args ...any) {
	fmt.Fprintf(o.Progress, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// Report is the outcome of a run: one section per scenario run.
type Report struct {
	Started   time.Time        `json:"started"`
	Finished  time.Time        `json:"finished"`
	Machine   Machine          `json:"machine"`
	Backend   string           `json:"backend"`
	Instances int              `json:"instances"`
	Races     *RacesReport     `json:"races,omitempty"`
	Rolling   *RollingReport   `json:"rolling,omitempty"`
	Crashes   *CrashesReport   `json:"crashes,omitempty"`
	Faults    *FaultsReport    `json:"faults,omitempty"`
	Rate      *RateReport      `json:"rate,omitempty"`
	Scale     *ScaleReport     `json:"scale,omitempty"`
	Quarterly *QuarterlyReport `json:"quarterly,omitempty"`
	Webhooks  *WebhooksReport  `json:"webhooks,omitempty"`
	// Stopped says why the run ended before its last scenario.
	Stopped string `json:"stopped,omitempty"`
}

// Machine describes where the figures were measured.
type Machine struct {
	CPUs      int    `json:"cpus"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	GoVersion string `json:"go_version"`
	CPUModel  string `json:"cpu_model,omitempty"`
	Postgres  string `json:"postgres,omitempty"`
}

// Violations lists every correctness bound ("must be 0", "at most the
// limit", "all healthy within") that did not hold, in words.
func (r *Report) Violations() []string {
	var v []string
	add := func(name string, vs []string) {
		for _, s := range vs {
			v = append(v, name+": "+s)
		}
	}
	if r.Races != nil {
		add(ScenarioRaces, r.Races.Violations())
	}
	if r.Rolling != nil {
		add(ScenarioRolling, r.Rolling.Violations())
	}
	if r.Crashes != nil {
		add(ScenarioCrashes, r.Crashes.Violations())
	}
	if r.Faults != nil {
		add(ScenarioFaults, r.Faults.Violations())
	}
	if r.Rate != nil {
		add(ScenarioRate, r.Rate.Violations())
	}
	if r.Scale != nil {
		add(ScenarioScale, r.Scale.Violations())
	}
	if r.Quarterly != nil {
		add(ScenarioQuarterly, r.Quarterly.Violations())
	}
	if r.Webhooks != nil {
		add(ScenarioWebhooks, r.Webhooks.Violations())
	}
	return v
}

// ParseScenarios turns a comma-separated list ("races,faults" or "all")
// into scenario names, in the order they run.
func ParseScenarios(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" || s == "all" {
		return slices.Clone(Scenarios), nil
	}
	want := map[string]bool{}
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(Scenarios, name) {
			return nil, fmt.Errorf("unknown scenario %q (want %s or all)", name, strings.Join(Scenarios, ", "))
		}
		want[name] = true
	}
	var out []string
	for _, name := range Scenarios {
		if want[name] {
			out = append(out, name)
		}
	}
	return out, nil
}

// Run runs the scenarios named (see ParseScenarios) one after the other
// and reports on each. An error means a scenario could not be run at all;
// a bound that did not hold is in Report.Violations.
func Run(ctx context.Context, opts Options, scenarios []string) (*Report, error) {
	opts.setDefaults()
	if len(opts.Command) == 0 {
		return nil, errors.New("loadtest: the mtdconnect command to start is required")
	}
	if opts.TestUserID == "" || opts.TestUserPassword == "" || opts.TestUserNINO == "" {
		return nil, errors.New("loadtest: a simulator test user is required")
	}
	if opts.DatabaseURL != "" && !isPostgresURL(opts.DatabaseURL) {
		return nil, fmt.Errorf("loadtest: the database URL must be a postgres:// URL, not %q", redactURL(opts.DatabaseURL))
	}
	if slices.Contains(scenarios, ScenarioScale) && opts.DatabaseURL == "" {
		return nil, errors.New("loadtest: the scale scenario needs PostgreSQL (--database-url postgres://…)")
	}
	for _, s := range scenarios {
		if !slices.Contains(Scenarios, s) {
			return nil, fmt.Errorf("loadtest: unknown scenario %q", s)
		}
	}
	if opts.WorkDir == "" {
		dir, err := os.MkdirTemp("", "mtdconnect-loadtest-")
		if err != nil {
			return nil, err
		}
		opts.WorkDir = dir
		if !opts.Keep {
			defer os.RemoveAll(dir)
		}
	} else if err := os.MkdirAll(opts.WorkDir, 0o700); err != nil {
		return nil, err
	}
	rep := &Report{
		Started:   time.Now().UTC(),
		Machine:   machine(ctx, opts.DatabaseURL),
		Backend:   opts.Backend(),
		Instances: opts.Instances,
	}
	for _, s := range scenarios {
		var err error
		opts.progress("scenario %s on %s, %d instances", s, opts.Backend(), opts.Instances)
		switch s {
		case ScenarioRaces:
			rep.Races, err = runRaces(ctx, &opts)
		case ScenarioRolling:
			rep.Rolling, err = runRolling(ctx, &opts)
		case ScenarioCrashes:
			rep.Crashes, err = runCrashes(ctx, &opts)
		case ScenarioFaults:
			rep.Faults, err = runFaults(ctx, &opts)
		case ScenarioRate:
			rep.Rate, err = runRate(ctx, &opts)
		case ScenarioScale:
			rep.Scale, err = runScale(ctx, &opts)
		case ScenarioQuarterly:
			rep.Quarterly, err = runQuarterly(ctx, &opts)
		case ScenarioWebhooks:
			rep.Webhooks, err = runWebhooks(ctx, &opts)
		}
		if err != nil {
			err = fmt.Errorf("loadtest: %s: %w", s, err)
			rep.Stopped, rep.Finished = err.Error(), time.Now().UTC()
			return rep, err
		}
	}
	rep.Finished = time.Now().UTC()
	return rep, nil
}

func machine(ctx context.Context, dsn string) Machine {
	m := Machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH, GoVersion: runtime.Version(), CPUModel: cpuModel()}
	if dsn != "" {
		m.Postgres = postgresVersion(ctx, dsn)
	}
	return m
}

// cpuModel reads the CPU's name from /proc/cpuinfo where there is one.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
