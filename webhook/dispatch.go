package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/seal"
)

// MessageID is the webhook-id of an event: the same on every attempt and
// for every endpoint, so a receiver can drop what it has seen.
func MessageID(e *mtdconnect.Event) string { return "msg_" + strconv.FormatInt(e.ID, 10) }

// Body is the message of an event, the same on every attempt:
// {"type", "timestamp", "data"}, data holding the landlord's sequence
// number first.
func Body(e *mtdconnect.Event) []byte {
	var b bytes.Buffer
	b.WriteString(`{"type":`)
	b.WriteString(strconv.Quote(e.Type)) // event types are ASCII
	b.WriteString(`,"timestamp":"`)
	b.WriteString(e.CreatedAt.UTC().Format("2006-01-02T15:04:05.000Z"))
	b.WriteString(`","data":{"sequence":`)
	b.WriteString(strconv.FormatInt(e.Seq, 10))
	data := bytes.TrimSpace(e.Data)
	if rest := bytes.TrimSpace(bytes.TrimPrefix(data, []byte("{"))); len(rest) > 0 && rest[0] != '}' {
		b.WriteByte(',')
		b.Write(rest)
	} else {
		b.WriteByte('}')
	}
	b.WriteByte('}')
	return b.Bytes()
}

// Schedule is the delay before each retry of a delivery: the first
// attempt is at once, then after these delays (each lengthened by up to a
// quarter at random, so receivers coming back are not hit all at once).
// With the last, 87 h 47 min without the jitter, retrying covers more than
// 3 days; after it the delivery is marked failed (redeliver sends it
// again).
var Schedule = []time.Duration{
	5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour,
	12 * time.Hour, 12 * time.Hour, 12 * time.Hour, 12 * time.Hour, 12 * time.Hour, 12 * time.Hour,
}

// secretAD binds an endpoint's secrets to it.
func secretAD(uid string) []byte { return seal.AD("webhook_endpoint", uid, "secret") }

// DispatcherConfig configures a Dispatcher.
type DispatcherConfig struct {
	Store  mtdconnect.Store
	Sealer *seal.Sealer
	Policy Policy
	Logger *slog.Logger     // nil: slog.Default()
	Now    func() time.Time // nil: time.Now
	// Workers is how many deliveries go at once; 0: 16.
	Workers int
	// Poll is how often the outbox is looked at when idle; 0: 500 ms.
	Poll time.Duration
	// Lease is how long a claimed delivery is this instance's; a holder
	// that dies is replaced after it. 0: 1 minute (well over Timeout).
	Lease time.Duration
	// Schedule overrides the retry delays (tests); nil: Schedule.
	Schedule []time.Duration
	// HTTPClient overrides Policy.HTTPClient() (tests).
	HTTPClient *http.Client
}

// Dispatcher delivers the outbox. Any number run at once, one per
// instance: each claims due deliveries under a lease, so each delivery is
// attempted by one at a time, and at least once.
type Dispatcher struct {
	cfg   DispatcherConfig
	owner string
	http  *http.Client
}

// NewDispatcher returns a Dispatcher; Run starts it.
func NewDispatcher(cfg DispatcherConfig) (*Dispatcher, error) {
	if cfg.Store == nil || cfg.Sealer == nil {
		return nil, errors.New("webhook: the dispatcher needs a store and a sealer")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 16
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 500 * time.Millisecond
	}
	if cfg.Lease <= 0 {
		cfg.Lease = time.Minute
	}
	if cfg.Schedule == nil {
		cfg.Schedule = Schedule
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = cfg.Policy.HTTPClient()
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	// The process ID in the owner lets a drill tell which deliveries a
	// killed process held.
	owner := fmt.Sprintf("webhook-%d-%s", os.Getpid(), hex.EncodeToString(b))
	return &Dispatcher{cfg: cfg, owner: owner, http: cfg.HTTPClient}, nil
}

// Run delivers until ctx is cancelled, then finishes the attempts it has
// started (each bounded by Timeout) and returns: what it claimed and did
// not attempt is claimed again by any instance when its lease ends.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.cfg.Logger.Info("webhook dispatcher started", "owner", d.owner)
	for {
		n, err := d.round(ctx)
		if err != nil && ctx.Err() == nil {
			d.cfg.Logger.Error("webhook dispatcher: claim", "err", err)
		}
		if ctx.Err() != nil {
			d.cfg.Logger.Info("webhook dispatcher stopped", "owner", d.owner)
			return nil
		}
		if n > 0 && err == nil {
			continue // more may be due
		}
		t := time.NewTimer(d.cfg.Poll)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// round claims one batch and delivers it; it returns when every attempt
// of it is recorded.
func (d *Dispatcher) round(ctx context.Context) (int, error) {
	claimed, err := d.cfg.Store.ClaimDeliveries(ctx, d.owner, d.cfg.Now(), d.cfg.Lease, d.cfg.Workers*4)
	if err != nil {
		return 0, err
	}
	endpoints := map[int64]*mtdconnect.WebhookEndpoint{}
	// Attempts already started finish even when ctx ends: their outcome
	// must be recorded, or the receiver sees them again.
	actx := context.WithoutCancel(ctx)
	jobs := make(chan *mtdconnect.WebhookDelivery)
	var wg sync.WaitGroup
	for range min(d.cfg.Workers, len(claimed)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for dl := range jobs {
				d.deliver(actx, endpoints[dl.EndpointID], dl)
			}
		}()
	}
	for _, dl := range claimed {
		if _, ok := endpoints[dl.EndpointID]; !ok {
			e, err := d.cfg.Store.WebhookEndpoint(actx, dl.EndpointID)
			if err != nil {
				e = nil // deleted since: its deliveries went with it
			}
			endpoints[dl.EndpointID] = e
		}
	}
	for _, dl := range claimed {
		if ctx.Err() != nil {
			break // stopping: the rest is claimed again after the lease
		}
		if endpoints[dl.EndpointID] == nil {
			continue
		}
		jobs <- dl
	}
	close(jobs)
	wg.Wait()
	return len(claimed), nil
}

// deliver makes one attempt and records it.
func (d *Dispatcher) deliver(ctx context.Context, ep *mtdconnect.WebhookEndpoint, dl *mtdconnect.WebhookDelivery) {
	at := d.cfg.Now()
	status, attemptErr := d.send(ctx, ep, dl, at)
	a := mtdconnect.DeliveryAttempt{At: d.cfg.Now(), Status: status}
	switch {
	case attemptErr == nil && status >= 200 && status < 300:
		a.Delivered = true
	case status == http.StatusGone:
		// The receiver says the endpoint is gone for good.
		a.Disable = true
		a.Error = "410 Gone: the endpoint is disabled"
	default:
		if attemptErr != nil {
			// Without the URL: a platform may put a token in its query.
			var ue *url.Error
			if errors.As(attemptErr, &ue) {
				attemptErr = ue.Err
			}
			a.Error = truncate(strings.ToValidUTF8(attemptErr.Error(), "?"), 300)
		} else {
			a.Error = strconv.Itoa(status) + " " + http.StatusText(status)
		}
		if n := dl.Attempts; n < len(d.cfg.Schedule) {
			delay := d.cfg.Schedule[n]
			delay += time.Duration(mrand.Int64N(int64(delay)/4 + 1))
			a.NextTryAt = a.At.Add(delay)
		}
	}
	err := d.cfg.Store.FinishDelivery(ctx, dl.ID, d.owner, a)
	log := d.cfg.Logger.With("delivery_id", dl.ID, "endpoint_id", dl.EndpointID, "event_id", dl.Event.ID,
		"type", dl.Event.Type, "status", status, "attempt", dl.Attempts+1)
	switch {
	case errors.Is(err, mtdconnect.ErrConflict), errors.Is(err, mtdconnect.ErrNotFound):
		// Our lease ended and another instance took it, or the endpoint
		// was deleted: theirs is the record.
		log.Warn("webhook delivery recorded elsewhere", "err", err)
	case err != nil:
		log.Error("webhook delivery not recorded; it will be sent again after its lease", "err", err)
	case a.Delivered:
		log.Debug("webhook delivered")
	case a.Disable:
		log.Warn("webhook endpoint disabled: the receiver answered 410 Gone")
	case a.NextTryAt.IsZero():
		log.Warn("webhook delivery failed; retries exhausted", "err", a.Error)
	default:
		log.Info("webhook delivery failed; will retry", "err", a.Error, "next_try_at", a.NextTryAt)
	}
}

// send posts the message once and returns the receiver's status.
func (d *Dispatcher) send(ctx context.Context, ep *mtdconnect.WebhookEndpoint, dl *mtdconnect.WebhookDelivery, at time.Time) (int, error) {
	body := Body(&dl.Event)
	id := MessageID(&dl.Event)
	sigs, err := d.signatures(ep, id, at, body)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "mtdconnect-webhooks/"+mtdconnect.Version)
	req.Header.Set(HeaderID, id)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
	req.Header.Set(HeaderSignature, sigs)
	resp, err := d.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}

// signatures signs with the current secret and, during a rotation's
// overlap, the previous one too (space-separated, as Standard Webhooks
// allows), so a receiver holding either verifies.
func (d *Dispatcher) signatures(ep *mtdconnect.WebhookEndpoint, id string, at time.Time, body []byte) (string, error) {
	secrets := [][]byte{ep.Secret}
	if len(ep.PreviousSecret) > 0 && d.cfg.Now().Before(ep.PreviousSecretUntil) {
		secrets = append(secrets, ep.PreviousSecret)
	}
	var sigs []string
	for _, sealed := range secrets {
		secret, err := d.cfg.Sealer.Open(sealed, secretAD(ep.UID))
		if err != nil {
			return "", fmt.Errorf("webhook: open the secret of endpoint %d: %w", ep.ID, err)
		}
		sig, err := Sign(string(secret), id, at, body)
		if err != nil {
			return "", err
		}
		sigs = append(sigs, sig)
	}
	return strings.Join(sigs, " "), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
