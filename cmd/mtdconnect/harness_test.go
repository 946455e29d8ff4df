package main

// What the tests of the command share: the environments commands run in (a
// data directory, an HMRC simulator, MTDCONNECT_* variables), running one
// command in process, starting `serve` or `simulator` in process or as a
// real process, and log buffers.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/hmrctest"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

const (
	testEmail    = "jo@example.com"
	testPassword = "correct-horse"
)

// childEnv makes this test binary act as mtdconnect (see TestMain): tests
// that need real processes (signals, several instances) start it, so the
// children run the code under test, built once, with -race when the tests
// are.
const childEnv = "MTDCONNECT_TEST_RUN_AS_MTDCONNECT"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testLog writes each line it is given to the test's log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// freeAddr returns a loopback address with a port that was free a
// moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// cliEnv is the MTDCONNECT_* variables commands run with: a data directory
// and, for most tests, a simulator the CLI is pointed at.
type cliEnv struct {
	sim  *hmrcsim.Server // nil when the commands use serve's built-in one
	vars map[string]string
}

// newSimCLIEnv is a fresh data directory and a simulator holding app (for
// the out-of-band redirect), which the CLI reaches through the URL
// overrides as HMRC environment hmrcEnv.
func newSimCLIEnv(t *testing.T, hmrcEnv string, app hmrcsim.Application) *cliEnv {
	t.Helper()
	return newSimCLIEnvWith(t, hmrcEnv, app, hmrcsim.Options{})
}

// newSimCLIEnvWith is newSimCLIEnv with the simulator's options (its
// mode); the rate limit is lifted.
func newSimCLIEnvWith(t *testing.T, hmrcEnv string, app hmrcsim.Application, opts hmrcsim.Options) *cliEnv {
	t.Helper()
	opts.RateLimit = 1000
	sim := hmrcsim.New(opts)
	app.RedirectURIs = []string{hmrc.OOBRedirectURI}
	sim.AddApplication(app)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	return &cliEnv{sim: sim, vars: map[string]string{
		"MTDCONNECT_DATA_DIR":           t.TempDir(),
		"MTDCONNECT_HMRC":               hmrcEnv,
		"MTDCONNECT_HMRC_AUTHORIZE_URL": srv.URL + "/oauth/authorize",
		"MTDCONNECT_HMRC_TOKEN_URL":     srv.URL + "/oauth/token",
		"MTDCONNECT_HMRC_API_URL":       srv.URL,
		// The maker and model of this server, for the batch calls'
		// Gov-Client-User-Agent where the host has no DMI data to say.
		"MTDCONNECT_DEVICE_MANUFACTURER": "Test Cloud",
		"MTDCONNECT_DEVICE_MODEL":        "Test VM",
	}}
}

// newCLIEnv is newSimCLIEnv for the simulator environment with a
// landlord (testEmail, with the test user's NINO) added.
func newCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	return newCLIEnvOn(t, "")
}

// newCLIEnvOn is newCLIEnv on the database databaseURL ("": SQLite in the
// data directory).
func newCLIEnvOn(t *testing.T, databaseURL string) *cliEnv {
	t.Helper()
	e := newSimCLIEnv(t, "simulator", hmrcsim.Application{ClientID: "cli-client", ClientSecret: "cli-secret", Name: "cli test"})
	if databaseURL != "" {
		e.vars["MTDCONNECT_DATABASE_URL"] = databaseURL
	}
	e.sim.AddTestUser(hmrcsim.TestUser{UserID: simUserID, Password: simUserPassword, NINO: simUserNINO})
	e.vars["MTDCONNECT_CLIENT_ID"] = "cli-client"
	e.vars["MTDCONNECT_CLIENT_SECRET"] = "cli-secret"
	// A licence for Gov-Vendor-License-IDs: the commands' calls are batch
	// ones, and BatchOrigin declares nothing missing.
	e.vars["MTDCONNECT_LICENCE_IDS"] = "mtdconnect=cli-test-licence"
	e.run(t, nil, "users", "add", "--email", testEmail, "--password", testPassword, "--nino", simUserNINO)
	return e
}

// newServeEnv is the environment of `serve` with its built-in simulator:
// free loopback addresses for both and a fresh data directory, kept across
// restarts, plus the variables of extra.
func newServeEnv(t *testing.T, extra map[string]string) *cliEnv {
	t.Helper()
	vars := map[string]string{
		"MTDCONNECT_ADDR":                freeAddr(t),
		"MTDCONNECT_SIMULATOR_ADDR":      freeAddr(t),
		"MTDCONNECT_DATA_DIR":            t.TempDir(),
		"MTDCONNECT_HMRC":                "simulator",
		"MTDCONNECT_DEVICE_MANUFACTURER": "Test Cloud",
		"MTDCONNECT_DEVICE_MODEL":        "Test VM",
	}
	for k, v := range extra {
		vars[k] = v
	}
	return &cliEnv{vars: vars}
}

func (e *cliEnv) getenv(k string) string { return e.vars[k] }

// exec runs one command in process and returns what it printed.
func (e *cliEnv) exec(t *testing.T, stdin io.Reader, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var out, errOut bytes.Buffer
	err = run(t.Context(), args, e.getenv, stdin, &out, &errOut)
	return out.String(), errOut.String(), err
}

// run runs a command that must succeed and returns its standard output.
func (e *cliEnv) run(t *testing.T, stdin io.Reader, args ...string) string {
	t.Helper()
	out, errOut, err := e.exec(t, stdin, args...)
	if err != nil {
		t.Fatalf("mtdconnect %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// fail runs a command that must fail and returns its error text.
func (e *cliEnv) fail(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, _, err := e.exec(t, strings.NewReader(stdin), args...)
	if err == nil {
		t.Fatalf("mtdconnect %s succeeded:\n%s", strings.Join(args, " "), out)
	}
	return err.Error()
}

// bannerRe finds the address serve and simulator announce once listening.
var bannerRe = regexp.MustCompile(`running: (http://\S+)`)

// bannerWatch receives a command's standard output and says, once, the URL
// of its "… running: URL" line.
type bannerWatch struct {
	mu   sync.Mutex
	line []byte
	url  chan string
}

func newBannerWatch() *bannerWatch { return &bannerWatch{url: make(chan string, 1)} }

func (w *bannerWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.url == nil {
		return len(p), nil
	}
	w.line = append(w.line, p...)
	if m := bannerRe.FindSubmatch(w.line); m != nil {
		w.url <- string(m[1])
		w.url, w.line = nil, nil
	}
	return len(p), nil
}

// inProcess is a long-running command (serve, simulator) started by
// startInProcess.
type inProcess struct {
	url  string              // the address its banner announced
	logs *hmrctest.LogBuffer // its standard output and error
	done chan error
	stop func() // ends it as a signal would and waits for run to return
}

// startInProcess runs a long-running command in process until the test
// ends or stop is called, and returns once it announced its address.
func (e *cliEnv) startInProcess(t *testing.T, args ...string) *inProcess {
	t.Helper()
	p := &inProcess{logs: new(hmrctest.LogBuffer), done: make(chan error, 1)}
	banner := newBannerWatch()
	urls := banner.url
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		p.done <- run(ctx, args, e.getenv, strings.NewReader(""), io.MultiWriter(p.logs, banner), p.logs)
	}()
	var once sync.Once
	p.stop = func() {
		t.Helper()
		once.Do(func() {
			cancel()
			select {
			case err := <-p.done:
				if err != nil && !errors.Is(err, context.Canceled) {
					t.Errorf("mtdconnect %s returned %v\n%s", strings.Join(args, " "), err, p.logs)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("mtdconnect %s did not stop within 30s\n%s", strings.Join(args, " "), p.logs)
			}
		})
	}
	t.Cleanup(p.stop)
	select {
	case p.url = <-urls:
	case err := <-p.done:
		p.done <- err // for stop
		t.Fatalf("mtdconnect %s returned before it was running: %v\n%s", strings.Join(args, " "), err, p.logs)
	case <-time.After(30 * time.Second):
		t.Fatalf("mtdconnect %s announced no address within 30s\n%s", strings.Join(args, " "), p.logs)
	}
	return p
}

// command prepares this test binary to run as mtdconnect with args, in a
// process of its own with exactly the environment's MTDCONNECT_* variables.
func (e *cliEnv) command(ctx context.Context, args ...string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MTDCONNECT_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, childEnv+"=1")
	for k, v := range e.vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

// child is a long-running command in a process of its own, for what only a
// real process shows: signals, exit statuses, several instances.
type child struct {
	t      *testing.T
	cmd    *exec.Cmd
	url    string
	logs   *hmrctest.LogBuffer
	exited chan struct{}
	err    error // from Wait, once exited is closed
}

// startChild starts the command as a real process and returns once it
// announced its address. The test's end kills it if it is still running.
func (e *cliEnv) startChild(t *testing.T, args ...string) *child {
	t.Helper()
	c := &child{t: t, cmd: e.command(context.Background(), args...), logs: new(hmrctest.LogBuffer), exited: make(chan struct{})}
	banner := newBannerWatch()
	urls := banner.url
	c.cmd.Stdout, c.cmd.Stderr = io.MultiWriter(c.logs, banner), c.logs
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-c.exited:
		default:
			_ = c.cmd.Process.Kill()
			<-c.exited
		}
		if t.Failed() || testing.Verbose() {
			t.Logf("mtdconnect %s output:\n%s", strings.Join(args, " "), c.logs)
		}
	})
	select {
	case c.url = <-urls:
	case <-c.exited:
		t.Fatalf("mtdconnect %s exited before it was running: %v", strings.Join(args, " "), c.err)
	case <-time.After(60 * time.Second):
		t.Fatalf("mtdconnect %s announced no address within 60s", strings.Join(args, " "))
	}
	return c
}

func (c *child) signal(sig syscall.Signal) {
	c.t.Helper()
	if err := c.cmd.Process.Signal(sig); err != nil {
		c.t.Fatalf("signal %v: %v", sig, err)
	}
}

// wait waits for the process to exit and returns how it exited (nil: 0).
func (c *child) wait(timeout time.Duration) error {
	c.t.Helper()
	select {
	case <-c.exited:
		return c.err
	case <-time.After(timeout):
		c.t.Fatalf("the process did not exit within %v", timeout)
		return nil
	}
}

// get requests path from the process and returns the status and body;
// status 0 when nothing answered.
func (c *child) get(path string) (int, string) {
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(c.url + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// testPostgresURL is the URL of a fresh schema of the test database,
// dropped when the test ends; the test is skipped without one.
func testPostgresURL(t *testing.T) string {
	t.Helper()
	base := os.Getenv("MTDCONNECT_TEST_POSTGRES_DSN")
	if base == "" {
		t.Skip("MTDCONNECT_TEST_POSTGRES_DSN is not set: the PostgreSQL variant is skipped")
	}
	schema := "t_" + strings.ReplaceAll(newDeviceID(), "-", "")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
