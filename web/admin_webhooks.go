package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/webhook"
)

// The admin page of the webhook endpoints: the API's webhook calls for an
// administrator, on the same functions.

const adminWebhooksPath = "/admin/webhooks"

type webhookRow struct {
	ID                 int64
	URL, Events, State string
}

type deliveryRow struct {
	ID                                 int64
	MessageID, Type, State, LastStatus string
	Attempts                           int
	NextTry                            string
}

type adminWebhooksPage struct {
	Flash      *flash
	Endpoints  []webhookRow
	Shown      int64 // the endpoint whose deliveries are listed
	Deliveries []deliveryRow
	Types      []scopeChoice
	URL, Error string
	// NewSecret is a secret made by this request, shown this once.
	NewSecret   string
	NewSecretID int64
	Overlap     string
}

func (s *Server) adminWebhooksPage(ctx context.Context, shown int64) (adminWebhooksPage, error) {
	page := adminWebhooksPage{Overlap: humanDuration(webhook.RotationOverlap)}
	for _, t := range mtdconnect.EventTypes {
		page.Types = append(page.Types, scopeChoice{Value: mtdconnect.Scope(t)})
	}
	list, err := s.store.WebhookEndpoints(ctx)
	if err != nil {
		return page, err
	}
	for _, e := range list {
		row := webhookRow{ID: e.ID, URL: e.URL, Events: "every type", State: "Enabled"}
		if len(e.EventTypes) > 0 {
			row.Events = mtdconnect.JoinEventTypes(e.EventTypes)
		}
		if !e.DisabledAt.IsZero() {
			row.State = "Disabled " + s.formatTime(e.DisabledAt) + ": " + e.DisabledReason
		}
		page.Endpoints = append(page.Endpoints, row)
		if e.ID == shown {
			page.Shown = shown
		}
	}
	if page.Shown > 0 {
		ds, err := s.store.WebhookDeliveries(ctx, page.Shown, 100)
		if err != nil {
			return page, err
		}
		for _, d := range ds {
			row := deliveryRow{ID: d.ID, MessageID: webhook.MessageID(&d.Event), Type: d.Event.Type, State: d.State(),
				Attempts: d.Attempts, LastStatus: "–", NextTry: "–"}
			switch {
			case d.LastStatus != 0:
				row.LastStatus = strconv.Itoa(d.LastStatus)
			case d.LastError != "":
				row.LastStatus = d.LastError
			}
			if d.State() == "pending" {
				row.NextTry = s.formatTime(d.NextTryAt)
			}
			page.Deliveries = append(page.Deliveries, row)
		}
	}
	return page, nil
}

func (s *Server) handleAdminWebhooks(w http.ResponseWriter, r *http.Request) {
	shown, _ := strconv.ParseInt(r.URL.Query().Get("endpoint"), 10, 64)
	page, err := s.adminWebhooksPage(r.Context(), shown)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	page.Flash = s.takeFlash(w, r)
	s.render(w, r, http.StatusOK, "admin_webhooks", "Webhooks", page)
}

// handleAdminWebhookCreate adds an endpoint and shows its secret on the
// answer itself, never in a cookie.
func (s *Server) handleAdminWebhookCreate(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	m, err := s.webhookManager()
	if err == nil {
		err = r.ParseForm()
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	types := r.PostForm["event"]
	e, secret, err := m.Create(r.Context(), r.PostFormValue("url"), types)
	var bad *webhook.InputError
	if errors.As(err, &bad) {
		page, perr := s.adminWebhooksPage(r.Context(), 0)
		if perr != nil {
			s.serverError(w, r, perr)
			return
		}
		page.URL, page.Error = r.PostFormValue("url"), sentence(bad.Message)
		for i := range page.Types {
			for _, t := range types {
				page.Types[i].Checked = page.Types[i].Checked || t == string(page.Types[i].Value)
			}
		}
		s.render(w, r, http.StatusBadRequest, "admin_webhooks", "Error: Webhooks", page)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.log.Info("webhook endpoint created", "user_id", u.ID, "endpoint_id", e.ID)
	s.showNewSecret(w, r, e.ID, secret)
}

func (s *Server) showNewSecret(w http.ResponseWriter, r *http.Request, id int64, secret string) {
	page, err := s.adminWebhooksPage(r.Context(), 0)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	page.NewSecret, page.NewSecretID = secret, id
	s.render(w, r, http.StatusOK, "admin_webhooks", "Webhooks", page)
}

func (s *Server) adminWebhookDone(w http.ResponseWriter, r *http.Request, err error, text string, shown int64) {
	switch {
	case errors.Is(err, mtdconnect.ErrNotFound):
		s.setFlash(w, flash{Kind: "error", Text: "There is no such webhook endpoint or delivery."})
	case err != nil:
		s.serverError(w, r, err)
		return
	default:
		s.setFlash(w, flash{Kind: "success", Text: text})
	}
	to := adminWebhooksPath
	if shown > 0 && err == nil {
		to += "?endpoint=" + strconv.FormatInt(shown, 10) + "#deliveries"
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (s *Server) handleAdminWebhookRotate(w http.ResponseWriter, r *http.Request) {
	m, err := s.webhookManager()
	id, ok := s.adminKeyID(r)
	if err != nil || !ok {
		s.serverError(w, r, errors.Join(err, errBadRequest))
		return
	}
	_, secret, err := m.Rotate(r.Context(), id)
	if err != nil {
		s.adminWebhookDone(w, r, err, "", 0)
		return
	}
	s.log.Info("webhook secret rotated", "user_id", currentUser(r.Context()).ID, "endpoint_id", id)
	s.showNewSecret(w, r, id, secret)
}

func (s *Server) handleAdminWebhookDelete(w http.ResponseWriter, r *http.Request) {
	id, ok := s.adminKeyID(r)
	if !ok {
		s.serverError(w, r, errBadRequest)
		return
	}
	err := s.store.DeleteWebhookEndpoint(r.Context(), id)
	if err == nil {
		s.log.Info("webhook endpoint deleted", "user_id", currentUser(r.Context()).ID, "endpoint_id", id)
	}
	s.adminWebhookDone(w, r, err, fmt.Sprintf("Webhook endpoint %d and its deliveries are deleted.", id), 0)
}

func (s *Server) handleAdminWebhookRedeliver(w http.ResponseWriter, r *http.Request) {
	m, err := s.webhookManager()
	id, ok := s.adminKeyID(r)
	delivery, derr := strconv.ParseInt(r.PostFormValue("delivery"), 10, 64)
	if err != nil || !ok || derr != nil {
		s.serverError(w, r, errors.Join(err, errBadRequest))
		return
	}
	err = m.Redeliver(r.Context(), id, delivery)
	s.adminWebhookDone(w, r, err, fmt.Sprintf("Delivery %d is due again now.", delivery), id)
}
