package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/webhook"
)

// WebhooksConfig sizes the webhooks scenario: events written to the
// outbox while the instances deliver them to a receiver that fails a share
// of requests, and instances are killed (SIGKILL) mid-delivery.
type WebhooksConfig struct {
	Events    int     // default 10,000
	Landlords int     // the events' landlords; default 100
	FailRate  float64 // share of requests the receiver answers 503; default 0.3
	// Kills is how many SIGKILLs hit an instance while it delivers
	// (each restarted in place); default 3.
	Kills int
	// Writers write the events at once; default 8.
	Writers int
	// Schedule is the retry delays the instances use
	// (MTDCONNECT_WEBHOOKS_RETRY_SCHEDULE); default 1s, 2s, 4s, then 5s:
	// the production schedule's first retry is 5 s and later ones hours
	// apart, which would make a run last days.
	Schedule []time.Duration
	// Lease is MTDCONNECT_WEBHOOKS_LEASE; default 5s.
	Lease time.Duration
	// Latency is the receiver's time to answer; default 20ms.
	Latency time.Duration
	// Settle bounds the wait for every event to arrive; default 3 min.
	Settle time.Duration
}

func (c *WebhooksConfig) setDefaults() {
	setInt(&c.Events, 10_000)
	setInt(&c.Landlords, 100)
	setFloat(&c.FailRate, 0.3)
	setInt(&c.Kills, 3)
	setInt(&c.Writers, 8)
	if len(c.Schedule) == 0 {
		c.Schedule = []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}
		for range 12 {
			c.Schedule = append(c.Schedule, 5*time.Second)
		}
	}
	setDuration(&c.Lease, 5*time.Second)
	setDuration(&c.Settle, 3*time.Minute)
	setDuration(&c.Latency, 20*time.Millisecond)
}

// WebhooksReport is what the webhooks scenario measured.
type WebhooksReport struct {
	Config    WebhooksConfig `json:"config"`
	Instances int            `json:"instances"`
	Events    int            `json:"events"`
	// WriteSeconds is how long writing the events took.
	WriteSeconds float64 `json:"write_seconds"`
	// Received counts the distinct messages the receiver accepted;
	// Lost those never accepted; Invented those it accepted that no event
	// was written for (both must be 0).
	Received int `json:"received"`
	Lost     int `json:"lost"`
	Invented int `json:"invented"`
	// Duplicates counts messages accepted again (at least once: an answer
	// lost with a killed instance, a lease ended).
	Duplicates int64 `json:"duplicates"`
	Requests   int64 `json:"requests"`
	Refused    int64 `json:"refused_503"`
	BadSigs    int64 `json:"bad_signatures"`
	// OutOfOrder counts a landlord's messages first accepted after a later
	// one of theirs (retries reorder; the sequence number lets the
	// receiver sort).
	OutOfOrder int `json:"out_of_order"`
	Kills      int `json:"kills"`
	// Orphaned counts the deliveries the killed instances held, claimed
	// and not recorded: each must arrive after its lease.
	Orphaned int `json:"orphaned"`
	// Delay is from the event's write to the receiver's first acceptance.
	Delay         Latency  `json:"delay"`
	Seconds       float64  `json:"seconds"`
	DeliveredPerS float64  `json:"delivered_per_second"`
	StillPending  int      `json:"still_pending"`
	Children      []string `json:"children,omitempty"`
}

// Violations lists the bounds that did not hold.
func (r *WebhooksReport) Violations() []string {
	var v []string
	if r.Lost > 0 {
		v = append(v, fmt.Sprintf("%d events never arrived", r.Lost))
	}
	if r.Invented > 0 {
		v = append(v, fmt.Sprintf("%d messages arrived that no event was written for", r.Invented))
	}
	if r.Kills > 0 && r.Orphaned == 0 {
		v = append(v, "no kill left a delivery claimed: the kills proved nothing")
	}
	if r.BadSigs > 0 {
		v = append(v, fmt.Sprintf("%d messages failed the Standard Webhooks check", r.BadSigs))
	}
	return append(v, r.Children...)
}

// receiver is the platform's endpoint: it checks every signature and
// refuses a share of requests at random.
type receiver struct {
	secret   string
	failRate float64
	latency  time.Duration

	requests, refused, badSigs, duplicates atomic.Int64

	mu    sync.Mutex
	first map[string]time.Time // webhook-id → first acceptance
	lag   []time.Duration
	order map[string]int64 // landlord → highest sequence accepted
	ooo   int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.requests.Add(1)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	time.Sleep(rc.latency)
	now := time.Now()
	if err := webhook.Verify(rc.secret, r.Header, body, now); err != nil {
		rc.badSigs.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if rand.Float64() < rc.failRate {
		rc.refused.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var msg struct {
		Timestamp time.Time `json:"timestamp"`
		Data      struct {
			Sequence int64  `json:"sequence"`
			Landlord string `json:"landlord"`
		} `json:"data"`
	}
	_ = json.Unmarshal(body, &msg)
	id := r.Header.Get(webhook.HeaderID)
	rc.mu.Lock()
	if _, seen := rc.first[id]; seen {
		rc.duplicates.Add(1)
	} else {
		rc.first[id] = now
		rc.lag = append(rc.lag, now.Sub(msg.Timestamp))
		if msg.Data.Sequence < rc.order[msg.Data.Landlord] {
			rc.ooo++
		} else {
			rc.order[msg.Data.Landlord] = msg.Data.Sequence
		}
	}
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.first)
}

func scheduleEnv(ds []time.Duration) string {
	var s []string
	for _, d := range ds {
		s = append(s, d.String())
	}
	return strings.Join(s, ",")
}

func runWebhooks(ctx context.Context, opts *Options) (*WebhooksReport, error) {
	cfg := opts.Webhooks
	c, err := newCluster(ctx, opts, clusterSpec{
		scenario: ScenarioWebhooks, rate: 100,
		instanceEnv: []string{
			"MTDCONNECT_WEBHOOKS_ALLOW_LOOPBACK=true",
			"MTDCONNECT_WEBHOOKS_RETRY_SCHEDULE=" + scheduleEnv(cfg.Schedule),
			"MTDCONNECT_WEBHOOKS_LEASE=" + cfg.Lease.String(),
		},
	})
	if err != nil {
		return nil, err
	}
	rep := &WebhooksReport{Config: cfg, Instances: opts.Instances}
	defer func() { rep.Children = c.close() }()

	rc := &receiver{failRate: cfg.FailRate, latency: cfg.Latency, first: map[string]time.Time{}, order: map[string]int64{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: rc, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	m := &webhook.Manager{Store: c.store, Sealer: c.sealer, Policy: webhook.Policy{AllowLoopback: true}}
	ep, secret, err := m.Create(ctx, "http://"+ln.Addr().String()+"/hooks", nil)
	if err != nil {
		return nil, err
	}
	rc.secret = secret

	var users []*mtdconnect.User
	for i := range cfg.Landlords {
		u := &mtdconnect.User{Ref: fmt.Sprintf("landlord-%d", i), Email: fmt.Sprintf("l%d@loadtest.example", i)}
		if err := c.store.CreateUser(ctx, u); err != nil {
			return nil, err
		}
		users = append(users, u)
	}

	opts.progress("  %d events by %d writers to the outbox; the receiver refuses %.0f%%; %d SIGKILLs while delivering",
		cfg.Events, cfg.Writers, cfg.FailRate*100, cfg.Kills)
	start := time.Now()
	var next atomic.Int64
	var written sync.WaitGroup
	errs := make(chan error, cfg.Writers)
	for range cfg.Writers {
		written.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(cfg.Events) || ctx.Err() != nil {
					return
				}
				u := users[int(i)%len(users)]
				data, _ := json.Marshal(map[string]any{"landlord": u.Handle(), "purpose": "itsa", "n": i})
				e := &mtdconnect.Event{UserID: u.ID, Type: mtdconnect.EventTypes[int(i)%len(mtdconnect.EventTypes)], Data: data}
				if _, err := c.store.AppendEvents(ctx, e); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	// The kills: each of an instance holding claimed deliveries (found in
	// the store by the process ID in the lease's owner), while it sends.
	killsDone := make(chan struct{})
	go func() {
		defer close(killsDone)
		for k := 0; k < cfg.Kills && ctx.Err() == nil; k++ {
			for rc.count() < (k+1)*cfg.Events/(cfg.Kills+2) && ctx.Err() == nil {
				sleepCtx(ctx, 20*time.Millisecond)
			}
			slot, held := -1, 0
			for try := 0; slot < 0 && try < 500 && ctx.Err() == nil; try++ {
				slot, held = c.holdingDeliveries(ctx, ep.ID)
				if slot < 0 {
					sleepCtx(ctx, 10*time.Millisecond)
				}
			}
			if slot < 0 {
				slot = rand.IntN(c.instanceCount())
			}
			c.instance(slot).kill()
			rep.Kills++
			rep.Orphaned += held
			if _, err := c.startInstance(ctx, slot); err != nil {
				opts.progress("  restart after kill %d: %v", k+1, err)
				return
			}
		}
	}()
	written.Wait()
	rep.WriteSeconds = roundSeconds(time.Since(start))
	select {
	case err := <-errs:
		return nil, fmt.Errorf("write events: %w", err)
	default:
	}
	rep.Events = cfg.Events
	<-killsDone
	opts.progress("  %d events written in %.1fs; waiting for every one to arrive", cfg.Events, rep.WriteSeconds)
	deadline := time.Now().Add(cfg.Settle)
	for rc.count() < cfg.Events && time.Now().Before(deadline) && ctx.Err() == nil {
		sleepCtx(ctx, 100*time.Millisecond)
	}
	rep.Seconds = roundSeconds(time.Since(start))
	// Duplicates of the last moments arrive with the answers in flight.
	sleepCtx(ctx, 500*time.Millisecond)

	rc.mu.Lock()
	rep.Received = len(rc.first)
	rep.Delay = summarise(rc.lag)
	rep.OutOfOrder = rc.ooo
	ids := make(map[string]bool, len(rc.first))
	for id := range rc.first {
		ids[id] = true
	}
	rc.mu.Unlock()
	rep.Requests, rep.Refused, rep.BadSigs, rep.Duplicates = rc.requests.Load(), rc.refused.Load(), rc.badSigs.Load(), rc.duplicates.Load()
	if rep.Seconds > 0 {
		rep.DeliveredPerS = float64(int(float64(rep.Received)/rep.Seconds*10)) / 10
	}
	ds, err := c.store.WebhookDeliveries(ctx, ep.ID, 0)
	if err != nil {
		return nil, err
	}
	expected := map[string]bool{}
	for _, d := range ds {
		expected[webhook.MessageID(&d.Event)] = true
		if d.State() != "delivered" {
			rep.StillPending++
		}
	}
	for id := range expected {
		if !ids[id] {
			rep.Lost++
		}
	}
	rep.Lost += cfg.Events - len(expected) // events with no delivery queued
	for id := range ids {
		if !expected[id] {
			rep.Invented++
		}
	}
	opts.progress("  %d of %d arrived (%d lost, %d duplicates, %d requests, %d refused), delay %s",
		rep.Received, rep.Events, rep.Lost, rep.Duplicates, rep.Requests, rep.Refused, rep.Delay)
	return rep, nil
}

// holdingDeliveries finds an instance holding claimed deliveries of the
// endpoint now, and how many: -1 if none does.
func (c *cluster) holdingDeliveries(ctx context.Context, endpointID int64) (slot, held int) {
	ds, err := c.store.WebhookDeliveries(ctx, endpointID, 500)
	if err != nil {
		return -1, 0
	}
	now := time.Now()
	byPID := map[int]int{}
	for _, d := range ds {
		if d.State() != "pending" || !d.NextTryAt.After(now) || d.LeaseOwner == "" {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(d.LeaseOwner, "webhook-%d-", &pid); err == nil {
			byPID[pid]++
		}
	}
	for i := range c.instanceCount() {
		if p := c.instance(i); p != nil && byPID[p.cmd.Process.Pid] > 0 {
			return i, byPID[p.cmd.Process.Pid]
		}
	}
	return -1, 0
}
