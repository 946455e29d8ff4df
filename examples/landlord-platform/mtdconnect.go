package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// mtdconnectClient is the platform's side of mtdconnect's public JSON API
// (docs/API.md): only the calls this platform makes, with its own key.
type mtdconnectClient struct {
	baseURL string // e.g. http://127.0.0.1:8080
	apiKey  string // mtdc_…, never logged
	http    *http.Client
}

// apiError is an error answer of the API: its stable code and its message,
// which may be shown to the landlord.
type apiError struct {
	Status  int
	Code    string `json:"error"`
	Message string `json:"message"`
}

func (e *apiError) Error() string {
	return fmt.Sprintf("mtdconnect: %d %s: %s", e.Status, e.Code, e.Message)
}

// call sends one request and decodes the answer into out (nil: none).
func (c *mtdconnectClient) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.baseURL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.apiKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("mtdconnect: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("mtdconnect: %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		e := &apiError{Status: resp.StatusCode}
		if json.Unmarshal(raw, e) != nil || e.Code == "" {
			e.Code, e.Message = "unexpected", string(raw)
		}
		return e
	}
	if out == nil || len(raw) == 0 {
		return nil
	}
	return json.Unmarshal(raw, out)
}

// userPath is the API path of the landlord with the platform's own ID ref.
func userPath(ref string) string { return "/api/v1/users/" + url.PathEscape(ref) }

// landlordDetails is what the platform tells mtdconnect about a landlord.
type landlordDetails struct {
	Email       string `json:"email"`
	DisplayName string `json:"display_name"`
	NINO        string `json:"nino,omitempty"`
}

// putLandlord creates or updates the landlord (idempotent).
func (c *mtdconnectClient) putLandlord(ctx context.Context, ref string, d landlordDetails) error {
	return c.call(ctx, http.MethodPut, userPath(ref), d, nil)
}

// connectionStatus is a landlord's HMRC connection as mtdconnect reports it.
type connectionStatus struct {
	Status          string     `json:"status"` // not_connected, connected, needs_reconnect
	ReasonCode      string     `json:"reason_code"`
	Reason          string     `json:"reason"`
	ConnectedSince  *time.Time `json:"connected_since"`
	AuthorityEndsAt *time.Time `json:"authority_ends_at"`
}

func (c *mtdconnectClient) status(ctx context.Context, ref, purpose string) (*connectionStatus, error) {
	var st connectionStatus
	err := c.call(ctx, http.MethodGet, userPath(ref)+"/hmrc?purpose="+url.QueryEscape(purpose), nil, &st)
	return &st, err
}

func (c *mtdconnectClient) disconnect(ctx context.Context, ref, purpose string) error {
	return c.call(ctx, http.MethodDelete, userPath(ref)+"/hmrc?purpose="+url.QueryEscape(purpose), nil, nil)
}

// connectSession is a connect link and, later, its outcome.
type connectSession struct {
	ID      string `json:"id"`
	URL     string `json:"url"` // only when it is made
	User    string `json:"user"`
	Purpose string `json:"purpose"`
	Status  string `json:"status"` // pending, connected, denied, failed, expired
	Error   string `json:"error"`
}

func (c *mtdconnectClient) newConnectSession(ctx context.Context, ref, purpose, returnURL string) (*connectSession, error) {
	var cs connectSession
	err := c.call(ctx, http.MethodPost, "/api/v1/connect-sessions",
		map[string]string{"user": ref, "purpose": purpose, "return_url": returnURL}, &cs)
	return &cs, err
}

func (c *mtdconnectClient) connectSession(ctx context.Context, id string) (*connectSession, error) {
	var cs connectSession
	err := c.call(ctx, http.MethodGet, "/api/v1/connect-sessions/"+url.PathEscape(id), nil, &cs)
	return &cs, err
}
