package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The platform hears of its landlords' connections from mtdconnect's
// webhooks (docs/API.md, "Webhooks") instead of polling: at start it
// registers /webhooks/mtdconnect (replacing one it registered before),
// checks every message with the Standard Webhooks algorithm, drops repeats
// by webhook-id, orders each landlord's events by data.sequence, and keeps
// the latest state of each landlord's connection to show.

const webhookPath = "/webhooks/mtdconnect"

// heard is what the platform last heard of a landlord's Income Tax
// connection.
type heard struct {
	Type   string // the event type
	State  string // Connected, Not connected, Needs reconnect…
	Detail string // the reason, or who disconnected
	At     time.Time
	seq    int64
}

// webhooks is the receiving side.
type webhooks struct {
	secret string // whsec_…, in memory only

	mu     sync.Mutex
	seen   map[string]bool   // webhook-ids handled
	latest map[string]*heard // landlord ref → last connection event
}

type webhookAnswer struct {
	ID     int64  `json:"id"`
	URL    string `json:"url"`
	Secret string `json:"secret"`
}

// registerWebhook makes the platform's endpoint, deleting any it made
// before (a restart), and returns the receiver with its secret.
func (c *mtdconnectClient) registerWebhook(ctx context.Context, url string) (*webhooks, error) {
	var list struct {
		Webhooks []webhookAnswer `json:"webhooks"`
	}
	if err := c.call(ctx, http.MethodGet, "/api/v1/webhooks", nil, &list); err != nil {
		return nil, err
	}
	for _, w := range list.Webhooks {
		if w.URL == url {
			if err := c.call(ctx, http.MethodDelete, "/api/v1/webhooks/"+strconv.FormatInt(w.ID, 10), nil, nil); err != nil {
				return nil, err
			}
		}
	}
	var made webhookAnswer
	err := c.call(ctx, http.MethodPost, "/api/v1/webhooks", map[string]any{"url": url, "events": []string{
		"connection.connected", "connection.needs_reconnect", "connection.recovered", "connection.disconnected",
	}}, &made)
	if err != nil {
		return nil, err
	}
	return &webhooks{secret: made.Secret, seen: map[string]bool{}, latest: map[string]*heard{}}, nil
}

// verify is the Standard Webhooks check: the signature of
// "id.timestamp.body", HMAC-SHA256 keyed with the secret's base64-decoded
// key, among the space-separated ones sent; the timestamp within 5 minutes.
func (h *webhooks) verify(r *http.Request, body []byte) (string, error) {
	id, ts, sigs := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if id == "" || err != nil || sigs == "" {
		return "", errors.New("missing webhook headers")
	}
	if d := time.Since(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return "", errors.New("timestamp too far from now")
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(h.secret, "whsec_"))
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.", id, ts)
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, s := range strings.Fields(sigs) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return id, nil
		}
	}
	return "", errors.New("no signature matches")
}

// ServeHTTP receives one message: 204 once handled (or seen before), 401
// if it does not verify (mtdconnect retries; a forger gets nothing).
func (h *webhooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	id, err := h.verify(r, body)
	if err != nil {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var msg struct {
		Type      string    `json:"type"`
		Timestamp time.Time `json:"timestamp"`
		Data      struct {
			Sequence int64  `json:"sequence"`
			Landlord string `json:"landlord"`
			Purpose  string `json:"purpose"`
			Reason   string `json:"reason"`
			By       string `json:"by"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen[id] || msg.Data.Purpose != "itsa" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	h.seen[id] = true
	if last := h.latest[msg.Data.Landlord]; last != nil && last.seq > msg.Data.Sequence {
		w.WriteHeader(http.StatusNoContent) // older than what we know
		return
	}
	hd := &heard{Type: msg.Type, At: msg.Timestamp, seq: msg.Data.Sequence}
	switch msg.Type {
	case "connection.connected", "connection.recovered":
		hd.State = "Connected"
	case "connection.needs_reconnect":
		hd.State, hd.Detail = "Needs reconnect", msg.Data.Reason
	case "connection.disconnected":
		hd.State, hd.Detail = "Not connected", "disconnected by the "+msg.Data.By
	default:
		w.WriteHeader(http.StatusNoContent)
		return
	}
	h.latest[msg.Data.Landlord] = hd
	w.WriteHeader(http.StatusNoContent)
}

// last is what was last heard of the landlord ref; nil if nothing.
func (h *webhooks) last(ref string) *heard {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if hd := h.latest[ref]; hd != nil {
		c := *hd
		return &c
	}
	return nil
}
