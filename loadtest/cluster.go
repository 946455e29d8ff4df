package loadtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/fraud"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
	"github.com/mtdconnect/mtdconnect/seal"
)

// The application registered at the simulator for a run. The simulator is
// local-only and started for the run; these are not secrets.
const (
	clientID     = "mtdconnect-loadtest"
	clientSecret = "loadtest-simulator-secret"
)

// The maker and model of the machine the run is on, for the batch calls'
// Gov-Client-User-Agent where the host has no DMI data to say (a VM).
const (
	loadtestManufacturer = "mtdconnect loadtest"
	loadtestModel        = "local machine"
)

// clusterSpec is what a scenario asks of its deployment.
type clusterSpec struct {
	scenario    string
	connections int
	// rate is the service's HMRC budget (MTDCONNECT_HMRC_RATE) and, unless
	// simRate is set, the simulator's limit too.
	rate    float64
	simRate float64
	// accessLifetime is the simulator's access-token lifetime (0: HMRC's
	// 4 hours); refreshMargin the service's (0: its default, 5 minutes).
	accessLifetime time.Duration
	refreshMargin  time.Duration
	// simFlags are extra flags of `mtdconnect simulator` (faults, latency).
	simFlags []string
	// noInstances: the scenario starts them itself.
	noInstances bool
	// instanceEnv is added to every instance's environment.
	instanceEnv []string
}

// cluster is one scenario's deployment: the simulator, the instances, the
// database they share, and this process as one more participant that
// seeds, checks and (in the rate scenario) spends budget as a batch job.
type cluster struct {
	opts    *Options
	spec    clusterSpec
	dir     string
	db      *database
	store   mtdconnect.Store
	sealer  *seal.Sealer
	client  *hmrc.Client
	itsa    *itsa.Client // over client; keeps the business IDs
	sim     *process
	simURL  string
	baseEnv []string
	apiKey  string
	users   []int64
	http    *http.Client

	mu        sync.Mutex
	instances []*process // by slot; a killed slot is restarted in place
	all       []*process // every process started, for the final scan
}

// newCluster creates the database, starts the simulator, seeds the
// landlords and their connections, and starts the instances.
func newCluster(ctx context.Context, opts *Options, spec clusterSpec) (c *cluster, err error) {
	dir := filepath.Join(opts.WorkDir, fmt.Sprintf("%s-%s-%s", spec.scenario, opts.Backend(), time.Now().Format("150405.000")))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	c = &cluster{
		opts: opts, spec: spec, dir: dir,
		// Calls wait for the rate budget and for HMRC's retries; the
		// generous timeout is a backstop, not a measurement.
		http: &http.Client{Timeout: 3 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 256}},
	}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	keysetFile := filepath.Join(dir, "keyset.json")
	kh, _, err := seal.LoadOrCreateKeysetFile(keysetFile)
	if err != nil {
		return c, err
	}
	if c.sealer, err = seal.New(kh); err != nil {
		return c, err
	}
	if c.db, err = newDatabase(ctx, opts, spec.scenario, dir); err != nil {
		return c, err
	}
	if c.store, err = c.db.open(ctx); err != nil {
		return c, fmt.Errorf("open the scenario's database: %w", err)
	}
	c.baseEnv = childEnv(opts.Env,
		"MTDCONNECT_DATABASE_URL="+c.db.url,
		"MTDCONNECT_KEYSET_FILE="+keysetFile,
		"MTDCONNECT_HMRC=simulator",
		"MTDCONNECT_CLIENT_ID="+clientID,
		"MTDCONNECT_CLIENT_SECRET="+clientSecret,
		"MTDCONNECT_HMRC_RATE="+formatFloat(spec.rate),
		// HMRC's fraud-prevention headers need the software's licences,
		// and this machine's maker and model where it cannot tell them.
		"MTDCONNECT_LICENCE_IDS=mtdconnect-loadtest=local",
		"MTDCONNECT_DEVICE_MANUFACTURER="+loadtestManufacturer,
		"MTDCONNECT_DEVICE_MODEL="+loadtestModel,
	)
	if spec.refreshMargin > 0 {
		c.baseEnv = append(c.baseEnv, "MTDCONNECT_REFRESH_MARGIN="+spec.refreshMargin.String())
	}
	if err := c.startSimulator(ctx); err != nil {
		return c, err
	}
	c.client, err = hmrc.New(hmrc.Config{
		ClientID: clientID, ClientSecret: clientSecret,
		AuthorizeURL: c.simURL + "/oauth/authorize", TokenURL: c.simURL + "/oauth/token", APIURL: c.simURL,
		RedirectURL: "http://127.0.0.1/oauth/hmrc/callback", Environment: "simulator",
		Store: c.store, Sealer: c.sealer, Rate: spec.rate, RefreshMargin: spec.refreshMargin,
		Logger: slog.New(slog.DiscardHandler), DeviceID: newUUID(),
		DeviceManufacturer: loadtestManufacturer, DeviceModel: loadtestModel,
		// This process is a batch job of the deployment (rate scenario).
		Vendor: fraud.Vendor{LicenseIDs: map[string]string{"mtdconnect-loadtest": "local"}},
	})
	if err != nil {
		return c, err
	}
	c.itsa = itsa.New(c.client, c.store)
	if c.apiKey, err = c.createAPIKey(ctx); err != nil {
		return c, err
	}
	if err := c.seed(ctx, spec.connections); err != nil {
		return c, err
	}
	if !spec.noInstances {
		if err := c.startInstances(ctx, opts.Instances); err != nil {
			return c, err
		}
	}
	return c, nil
}

// childEnv is this process's environment without any MTDCONNECT_*
// variable, plus extra and set.
func childEnv(extra []string, set ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MTDCONNECT_") {
			env = append(env, kv)
		}
	}
	env = append(env, extra...)
	return append(env, set...)
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func (c *cluster) startSimulator(ctx context.Context) error {
	simRate := c.spec.simRate
	if simRate == 0 {
		simRate = c.spec.rate
	}
	// --controls: the run reads the counters (/admin/stats) and sets faults.
	args := []string{"simulator", "--simulator-addr", "127.0.0.1:0", "--rate-limit", formatFloat(simRate), "--controls"}
	if c.spec.accessLifetime > 0 {
		args = append(args, "--access-token-lifetime", c.spec.accessLifetime.String())
	}
	args = append(args, c.spec.simFlags...)
	p, err := startProcess(c.opts, "simulator", args, c.baseEnv, filepath.Join(c.dir, "simulator.log"))
	if err != nil {
		return err
	}
	c.all = append(c.all, p)
	c.sim = p
	if err := p.waitReady(ctx, "/admin/stats", 30*time.Second); err != nil {
		return err
	}
	c.simURL = p.URL()
	return nil
}

// instanceEnv is the environment of instance slot i.
func (c *cluster) instanceEnv(i int) []string {
	env := append(slices.Clone(c.baseEnv), c.spec.instanceEnv...)
	return append(env,
		"MTDCONNECT_ADDR=127.0.0.1:0",
		"MTDCONNECT_METRICS_ADDR=127.0.0.1:0",
		"MTDCONNECT_DATA_DIR="+filepath.Join(c.dir, fmt.Sprintf("instance-%d", i)),
		"MTDCONNECT_HMRC_AUTHORIZE_URL="+c.simURL+"/oauth/authorize",
		"MTDCONNECT_HMRC_TOKEN_URL="+c.simURL+"/oauth/token",
		"MTDCONNECT_HMRC_API_URL="+c.simURL,
	)
}

// startInstance starts `mtdconnect serve` in slot i (replacing a dead one)
// and waits for /healthz; it returns how long that took.
func (c *cluster) startInstance(ctx context.Context, i int) (time.Duration, error) {
	p, err := startProcess(c.opts, fmt.Sprintf("instance-%d", i), []string{"serve"}, c.instanceEnv(i),
		filepath.Join(c.dir, fmt.Sprintf("instance-%d.log", i)))
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	c.all = append(c.all, p)
	for len(c.instances) <= i {
		c.instances = append(c.instances, nil)
	}
	c.instances[i] = p
	c.mu.Unlock()
	if err := p.waitReady(ctx, "/healthz", 2*time.Minute); err != nil {
		return 0, err
	}
	return time.Since(p.started), nil
}

func (c *cluster) startInstances(ctx context.Context, n int) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = c.startInstance(ctx, i) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// instance returns slot i's process.
func (c *cluster) instance(i int) *process {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.instances[i]
}

func (c *cluster) instanceCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.instances)
}

// createAPIKey runs `mtdconnect apikey create`, the way an operator does,
// with the scopes the scenarios use: the connection's, and submissions for
// the quarterly journey.
func (c *cluster) createAPIKey(ctx context.Context) (string, error) {
	argv := append(slices.Clone(c.opts.Command[1:]), "apikey", "create", "--name", "loadtest", "--scopes", "connections:read,connections:write,submissions")
	cmd := exec.CommandContext(ctx, c.opts.Command[0], argv...)
	cmd.Env = append(slices.Clone(c.baseEnv), "MTDCONNECT_DATA_DIR="+filepath.Join(c.dir, "cli"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("mtdconnect apikey create: %w: %s", err, stderr.String())
	}
	key := strings.TrimSpace(string(out))
	if !strings.HasPrefix(key, "mtdc_") {
		return "", errors.New("mtdconnect apikey create printed no key")
	}
	return key, nil
}

// codeRe finds the code the simulator shows for the out-of-band redirect.
var codeRe = regexp.MustCompile(`<title>[^<]*code=([^<\s]+)`)

// seed creates n landlords and connects each through a real grant at the
// simulator: the manual (out-of-band) flow of `mtdconnect connect`, with
// hmrcsim.Consent playing the landlord on HMRC's pages.
func (c *cluster) seed(ctx context.Context, n int) error {
	if n == 0 {
		return nil
	}
	start := time.Now()
	c.users = make([]int64, n)
	for i := range n {
		u := &mtdconnect.User{Email: fmt.Sprintf("landlord-%d@loadtest.invalid", i+1), NINO: c.opts.TestUserNINO}
		if err := c.store.CreateUser(ctx, u); err != nil {
			return fmt.Errorf("create landlord: %w", err)
		}
		c.users[i] = u.ID
	}
	work := make(chan int64)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range min(8, n) {
		wg.Go(func() {
			for id := range work {
				errs <- c.grant(ctx, id)
			}
		})
	}
	for _, id := range c.users {
		work <- id
	}
	close(work)
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		if err != nil {
			all = append(all, err)
		}
	}
	if len(all) > 0 {
		return fmt.Errorf("seed %d connections: %d failed: %w", n, len(all), all[0])
	}
	c.opts.progress("  seeded %d landlords with real grants in %v", n, time.Since(start).Round(time.Millisecond))
	return nil
}

func (c *cluster) grant(ctx context.Context, userID int64) error {
	for attempt := 1; ; attempt++ {
		err := c.grantOnce(ctx, userID)
		var busy *hmrc.BusyError
		switch {
		case errors.As(err, &busy):
			// Seeding many at once fills the budget: wait as told.
			if attempt == 20 {
				return err
			}
			sleepCtx(ctx, busy.RetryAfter)
		case err == nil || attempt == 5 || !errors.Is(err, hmrc.ErrUnavailable):
			return err
		}
	}
}

func (c *cluster) grantOnce(ctx context.Context, userID int64) error {
	authURL, state, err := c.client.StartAuthorization(ctx, userID, mtdconnect.PurposeIncomeTax, hmrc.OOBRedirectURI)
	if err != nil {
		return err
	}
	jar, _ := cookiejar.New(nil)
	_, page, err := hmrcsim.Consent(&http.Client{Jar: jar, Timeout: time.Minute}, authURL, c.opts.TestUserID, c.opts.TestUserPassword, true)
	if err != nil {
		return fmt.Errorf("consent at the simulator: %w", err)
	}
	m := codeRe.FindStringSubmatch(page)
	if m == nil {
		return errors.New("the simulator showed no authorisation code")
	}
	_, err = c.client.CompleteAuthorization(ctx, userID, state, m[1])
	return err
}

// apiResult is one call of the service's JSON API.
type apiResult struct {
	status  int
	code    string // the error code of a failed call
	reason  string // why a connection needs reconnecting
	message string
	err     error // transport error
	latency time.Duration
	body    []byte
}

func (r apiResult) ok() bool { return r.err == nil && r.status/100 == 2 }

// busy reports the answer "HMRC is busy, try again in N seconds": the
// service refused the call at once, sending nothing (503 hmrc_busy).
func (r apiResult) busy() bool {
	return r.err == nil && r.status == http.StatusServiceUnavailable && r.code == "hmrc_busy"
}

// describe is the result in a few words, for failure tallies.
func (r apiResult) describe() string {
	switch {
	case r.err != nil:
		s := r.err.Error()
		if i := strings.LastIndex(s, ": "); i >= 0 {
			s = s[i+2:] // "connection refused", not the URL
		}
		return "transport: " + s
	case r.ok():
		return "ok"
	case r.reason != "":
		return fmt.Sprintf("%d %s (%s)", r.status, r.code, r.reason)
	}
	return fmt.Sprintf("%d %s", r.status, r.code)
}

// call makes one API request to instance slot inst about userID: action
// "" reads the status, "test" calls HMRC's Hello World user endpoint,
// "refresh" refreshes the access token now.
func (c *cluster) call(ctx context.Context, inst int, userID int64, action string) apiResult {
	p := c.instance(inst)
	if p.URL() == "" {
		return apiResult{err: errors.New("instance restarting")}
	}
	method, path := http.MethodPost, fmt.Sprintf("/api/v1/users/id:%d/hmrc/%s", userID, action)
	if action == "" {
		method, path = http.MethodGet, fmt.Sprintf("/api/v1/users/id:%d/hmrc", userID)
	}
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, method, p.URL()+path, nil)
	if err != nil {
		return apiResult{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+c.apiKey)
	resp, err := c.http.Do(req)
	if err != nil {
		return apiResult{err: err, latency: time.Since(start)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	r := apiResult{status: resp.StatusCode, err: err, latency: time.Since(start), body: body}
	if !r.ok() {
		var e struct{ Error, Message, Reason string }
		_ = json.Unmarshal(body, &e)
		r.code, r.message, r.reason = e.Error, e.Message, e.Reason
	}
	return r
}

// simStats reads the simulator's counters.
func (c *cluster) simStats(ctx context.Context) (hmrcsim.Stats, error) {
	var s hmrcsim.Stats
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.simURL+"/admin/stats", nil)
	resp, err := c.http.Do(req)
	if err != nil {
		return s, fmt.Errorf("simulator stats: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("simulator stats: %s", resp.Status)
	}
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

// setFaults replaces the simulator's fault knobs at run time.
func (c *cluster) setFaults(ctx context.Context, f hmrcsim.Faults) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, c.simURL+"/admin/faults", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("set simulator faults: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("set simulator faults: %s: %s", resp.Status, msg)
	}
	return nil
}

// close stops every process, closes the store and drops the database. It
// returns what the children's logs say must never happen (data races,
// panics).
func (c *cluster) close() []string {
	// Every process ever started, not only the slots' current ones, so
	// none can outlive the run; stopping one already gone costs nothing.
	c.mu.Lock()
	all := slices.Clone(c.all)
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range all {
		if p != c.sim {
			wg.Go(func() { p.stop(15 * time.Second) })
		}
	}
	wg.Wait()
	if c.sim != nil {
		c.sim.stop(10 * time.Second)
	}
	if c.store != nil {
		c.store.Close()
	}
	if c.db != nil {
		c.db.close()
	}
	var problems []string
	for _, p := range all {
		problems = append(problems, p.problems()...)
	}
	return problems
}
