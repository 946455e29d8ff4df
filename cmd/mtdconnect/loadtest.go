package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/mtdconnect/mtdconnect/loadtest"
)

const loadtestUsage = `mtdconnect loadtest runs the reliability suite with real processes: the
HMRC simulator (mtdconnect simulator) and several mtdconnect serve instances
on one database, seeded with real grants, driven through the JSON API.
It prints what it measured, and exits 1 if a correctness bound did not hold.

Scenarios: races, rolling, crashes, faults, rate, quarterly, webhooks, scale
(PostgreSQL only), or all. Without --database-url the instances share one SQLite file.`

// loadtestFlags are the command's flags; run turns them into
// loadtest.Options.
type loadtestFlags struct {
	scenario, databaseURL, workDir string
	jsonFile                       string
	duration                       time.Duration
	instances, kills, scaleConns   int
	restarts                       int
	asJSON, keep, quiet            bool
}

func (f *loadtestFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&f.scenario, "scenario", "all", "races, rolling, crashes, faults, rate, quarterly, webhooks, scale or all; several separated by commas")
	fs.DurationVar(&f.duration, "duration", 0, "length of the races, faults and rate phases (default 60s each) and of the quarterly steady state (default 30s)")
	fs.IntVar(&f.instances, "instances", 3, "mtdconnect serve instances sharing the database")
	fs.StringVar(&f.databaseURL, "database-url", "",
		"postgres:// URL of a server where each scenario creates (and drops) a database of its own; empty: one SQLite file (MTDCONNECT_LOADTEST_DATABASE_URL)")
	fs.IntVar(&f.kills, "kills", 50, "SIGKILLs in the crashes scenario")
	fs.IntVar(&f.restarts, "restarts", 20, "SIGTERM restarts in the rolling scenario")
	fs.IntVar(&f.scaleConns, "scale-connections", 1_000_000, "connections inserted by the scale scenario")
	fs.StringVar(&f.workDir, "work-dir", "", "directory for keysets and process logs (default: a temporary one, removed afterwards)")
	fs.BoolVar(&f.keep, "keep", false, "keep the work directory and the scenario databases")
	fs.BoolVar(&f.asJSON, "json", false, "print the report as JSON")
	fs.StringVar(&f.jsonFile, "json-file", "", "also write the report as JSON to this file")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress lines on standard error")
}

// options checks the flags and builds the options and the scenario list.
func (f *loadtestFlags) options(command []string, progress io.Writer) (loadtest.Options, []string, error) {
	scenarios, err := loadtest.ParseScenarios(f.scenario)
	if err != nil {
		return loadtest.Options{}, nil, err
	}
	switch {
	case f.duration < 0:
		return loadtest.Options{}, nil, errors.New("--duration must not be negative")
	case f.instances < 1 || f.instances > 20:
		return loadtest.Options{}, nil, fmt.Errorf("--instances must be between 1 and 20, not %d", f.instances)
	case f.kills < 1:
		return loadtest.Options{}, nil, errors.New("--kills must be at least 1")
	case f.restarts < 1:
		return loadtest.Options{}, nil, errors.New("--restarts must be at least 1")
	case f.scaleConns < 10_000:
		return loadtest.Options{}, nil, errors.New("--scale-connections must be at least 10000")
	}
	if f.jsonFile != "" {
		// Found out now, not after the run.
		if st, err := os.Stat(filepath.Dir(f.jsonFile)); err != nil || !st.IsDir() {
			return loadtest.Options{}, nil, fmt.Errorf("--json-file: no directory %s", filepath.Dir(f.jsonFile))
		}
	}
	if f.quiet {
		progress = nil
	}
	opts := loadtest.Options{
		Command: command, DatabaseURL: f.databaseURL, Instances: f.instances,
		WorkDir: f.workDir, Keep: f.keep, Progress: progress,
		TestUserID: simUserID, TestUserPassword: simUserPassword, TestUserNINO: simUserNINO,
	}
	opts.Races.Duration, opts.Faults.Duration = f.duration, f.duration
	opts.Rate.Duration, opts.Rate.PriorityDuration, opts.Rate.RefreshDuration = f.duration, f.duration, f.duration
	opts.Crashes.Kills = f.kills
	opts.Rolling.Restarts = f.restarts
	opts.Scale.Connections = f.scaleConns
	opts.Quarterly.Duration = f.duration
	return opts, scenarios, nil
}

func runLoadtest(ctx context.Context, f *loadtestFlags, p *proc) error {
	stdout, stderr := p.stdout, p.stderr
	if f.databaseURL == "" {
		f.databaseURL = p.getenv("MTDCONNECT_LOADTEST_DATABASE_URL")
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this program to start its instances: %w", err)
	}
	opts, scenarios, err := f.options([]string{exe}, stderr)
	if err != nil {
		return err
	}
	return writeLoadtest(ctx, opts, scenarios, f.asJSON, f.jsonFile, stdout)
}

// writeLoadtest runs the scenarios and prints the report; an error if a
// bound did not hold.
func writeLoadtest(ctx context.Context, opts loadtest.Options, scenarios []string, asJSON bool, jsonFile string, stdout io.Writer) error {
	rep, runErr := loadtest.Run(ctx, opts, scenarios)
	if rep != nil {
		b, err := json.MarshalIndent(rep, "", "  ")
		switch {
		case err != nil:
		case asJSON:
			_, err = stdout.Write(append(b, '\n'))
		default:
			err = rep.WriteText(stdout)
		}
		if err == nil && jsonFile != "" {
			err = os.WriteFile(jsonFile, append(b, '\n'), 0o644)
		}
		if err != nil && runErr == nil {
			runErr = err
		}
	}
	if runErr != nil {
		return runErr
	}
	if v := rep.Violations(); len(v) > 0 {
		return fmt.Errorf("%d correctness bound(s) did not hold", len(v))
	}
	return nil
}
