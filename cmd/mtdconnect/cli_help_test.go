package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mtdconnect --help lists the commands; each command's -h lists only the
// flags it uses.
func TestHelp(t *testing.T) {
	e := &cliEnv{vars: map[string]string{"MTDCONNECT_DATA_DIR": t.TempDir()}}
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		out := e.run(t, nil, args...)
		mustContain(t, strings.Join(args, " "), out, "COMMANDS", "serve", "users add", "users passwd", "users delete", "app rotate-secret", "sandbox create-user", "loadtest")
		if strings.Contains(out, "-trusted-proxies") {
			t.Errorf("%v lists serve's flags:\n%s", args, out)
		}
	}
	for _, tc := range []struct {
		args         []string
		want, refuse []string
	}{
		{[]string{"serve", "-h"}, []string{"-addr", "-trusted-proxies", "-drain-timeout", "-shutdown-delay", "-metrics-addr", "MTDCONNECT_DRAIN_TIMEOUT",
			"-hmrc-interactive-wait", "MTDCONNECT_HMRC_INTERACTIVE_WAIT", "-max-password-checks", "MTDCONNECT_MAX_PASSWORD_CHECKS"}, []string{"-email", "-v="}},
		{[]string{"status", "-h"}, []string{"-user", "-purpose", "-json", "-hmrc-rate", "-hmrc-interactive-wait", "-v="}, []string{"-addr", "-trusted-proxies", "-licence-ids", "-metrics-addr", "-max-password-checks"}},
		{[]string{"test", "-h"}, []string{"-user", "-licence-ids", "-device-id"}, []string{"-addr", "-json", "-trusted-proxies"}},
		{[]string{"users", "add", "-h"}, []string{"-email", "-password", "-data-dir"}, []string{"-hmrc", "-client-id", "-addr"}},
		{[]string{"users", "passwd", "-h"}, []string{"-email", "-password", "-database-url"}, []string{"-hmrc", "-admin", "-addr"}},
		{[]string{"users", "delete", "-h"}, []string{"-email", "-database-url"}, []string{"-hmrc", "-password", "-addr"}},
		{[]string{"app", "set", "-h"}, []string{"-env", "-client-id", "-client-secret-file", "-redirect-uri"}, []string{"-hmrc-rate", "-hmrc "}},
		{[]string{"keyset", "rotate", "-h"}, []string{"-keyset-file"}, []string{"-database-url", "-hmrc"}},
		{[]string{"simulator", "-h"}, []string{"-error-rate", "-simulator-addr", "-state-file"}, []string{"-database-url", "-licence-ids"}},
		{[]string{"loadtest", "-h"}, []string{"-scenario", "-restarts", "rolling"}, []string{"-hmrc"}},
	} {
		out := e.run(t, nil, tc.args...)
		mustContain(t, strings.Join(tc.args, " "), out, tc.want...)
		for _, r := range tc.refuse {
			if strings.Contains(out, "  "+r) {
				t.Errorf("%v lists %s:\n%s", tc.args, r, out)
			}
		}
	}
}

// Usage errors are refused with a message that says what to do.
func TestUsageErrors(t *testing.T) {
	e := &cliEnv{vars: map[string]string{"MTDCONNECT_DATA_DIR": t.TempDir()}}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"app", "delete"}, `unknown command "app delete"`},
		{[]string{"users"}, "mtdconnect users needs a subcommand"},
		{[]string{"status", "--nope"}, "mtdconnect status -h lists the flags"},
		{[]string{"status", "--user", "x", "extra"}, `unexpected argument "extra"`},
	} {
		mustContain(t, strings.Join(tc.args, " "), e.fail(t, "", tc.args...), tc.want)
	}
}

// The MTDCONNECT_* fallbacks are parsed: a value that does not parse
// stops the command with an error naming the variable, before anything is
// created; a flag on the command line wins; a command's own flags never
// come from the environment.
func TestConfigFromEnvironment(t *testing.T) {
	for _, tc := range []struct {
		name string
		vars map[string]string
		args []string
		want string
	}{
		{"Duration", map[string]string{"MTDCONNECT_REFRESH_MARGIN": "5"}, []string{"status", "--user", testEmail}, `MTDCONNECT_REFRESH_MARGIN="5" is not a valid duration`},
		{"Number", map[string]string{"MTDCONNECT_HMRC_RATE": "lots"}, []string{"refresh", "--user", testEmail}, `MTDCONNECT_HMRC_RATE="lots" is not a valid number`},
		{"NotPositive", map[string]string{"MTDCONNECT_REFRESH_MARGIN": "-1m"}, []string{"status", "--user", testEmail}, "MTDCONNECT_REFRESH_MARGIN must be positive"},
		{"ServeOnly", map[string]string{"MTDCONNECT_DRAIN_TIMEOUT": "soon"}, []string{"serve"}, `MTDCONNECT_DRAIN_TIMEOUT="soon" is not a valid duration`},
		{"InteractiveWait", map[string]string{"MTDCONNECT_HMRC_INTERACTIVE_WAIT": "0s"}, []string{"status", "--user", testEmail}, "MTDCONNECT_HMRC_INTERACTIVE_WAIT must be positive"},
		{"PasswordChecks", map[string]string{"MTDCONNECT_MAX_PASSWORD_CHECKS": "many"}, []string{"serve"}, `MTDCONNECT_MAX_PASSWORD_CHECKS="many" is not a valid whole number`},
		{"PasswordChecksNegative", map[string]string{"MTDCONNECT_MAX_PASSWORD_CHECKS": "-1"}, []string{"serve"}, "MTDCONNECT_MAX_PASSWORD_CHECKS must be 0"},
		{"DelayPastTimeout", map[string]string{"MTDCONNECT_SHUTDOWN_DELAY": "2m"}, nil, "longer than the shutdown delay"},
		{"LogFormat", map[string]string{"MTDCONNECT_LOG_FORMAT": "xml"}, []string{"users", "add", "--email", testEmail, "--password", testPassword}, "MTDCONNECT_LOG_FORMAT must be text or json"},
		{"SecretFile", map[string]string{"MTDCONNECT_CLIENT_SECRET_FILE": "/nonexistent/secret"}, []string{"status", "--user", testEmail}, "MTDCONNECT_CLIENT_SECRET_FILE"},
		{"OwnFlagsNotFromEnv", map[string]string{"MTDCONNECT_EMAIL": testEmail, "MTDCONNECT_PASSWORD": testPassword}, []string{"users", "add"}, "--email must be an email address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			e := &cliEnv{vars: map[string]string{"MTDCONNECT_DATA_DIR": dir}}
			for k, v := range tc.vars {
				e.vars[k] = v
			}
			mustContain(t, "error", e.fail(t, "", tc.args...), tc.want)
			if _, err := os.Stat(dir); err == nil {
				t.Error("the data directory was created by a command that refused its configuration")
			}
		})
	}

	// A good value is used, and the command line wins over it.
	e := newCLIEnv(t)
	e.connectManually(t)
	e.vars["MTDCONNECT_REFRESH_MARGIN"] = "5h" // longer than the token's 4 hours: every use refreshes
	before := e.sim.Stats().Refreshes
	e.run(t, nil, "test", "--user", testEmail)
	if got := e.sim.Stats().Refreshes - before; got != 1 {
		t.Errorf("with MTDCONNECT_REFRESH_MARGIN=5h, a test made %d refreshes, want 1", got)
	}
	e.run(t, nil, "test", "--user", testEmail, "--refresh-margin", "1m")
	if got := e.sim.Stats().Refreshes - before; got != 1 {
		t.Errorf("with --refresh-margin 1m on the command line, a test refreshed (%d in all)", got)
	}
}

// A one-shot command's log stays out of what it prints for a person:
// warnings only on standard error, unless -v.
func TestCommandLogsOnlyWithV(t *testing.T) {
	e := newCLIEnv(t)
	e.connectManually(t)
	out, errOut, err := e.exec(t, nil, "refresh", "--user", testEmail)
	if err != nil || !strings.Contains(out, "Refreshed.") {
		t.Fatalf("refresh: %q %v", out, err)
	}
	if strings.Contains(out+errOut, "level=") {
		t.Errorf("refresh without -v logged:\nstdout: %s\nstderr: %s", out, errOut)
	}
	out, errOut, err = e.exec(t, nil, "refresh", "--user", testEmail, "-v")
	if err != nil || strings.Contains(out, "level=") || !strings.Contains(errOut, "hmrc token refreshed") {
		t.Errorf("refresh -v: stdout %q, stderr %q, %v; want the log on standard error only", out, errOut, err)
	}
}
