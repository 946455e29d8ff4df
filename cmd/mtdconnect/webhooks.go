package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/webhook"
	"github.com/peterbourgon/ff/v3/ffcli"
)

// The webhooks commands: the API's webhook calls for an operator, on the
// same functions (webhook.Manager, the store).

func webhooksCommands(p *proc) *ffcli.Command {
	return group("webhooks", "the platform's webhook endpoints and their deliveries",
		webhooksAddCommand(p), webhooksListCommand(p), webhooksIDCommand(p, "rotate-secret"), webhooksIDCommand(p, "delete"),
		webhooksIDCommand(p, "deliveries"), webhooksRedeliverCommand(p))
}

func webhooksAddCommand(p *proc) *ffcli.Command {
	fs := newFlagSet("webhooks add")
	cfg := newConfig(fs, p.getenv, storeSettings, webhookSettings, cliLogSettings)
	url := fs.String("url", "", "the receiver's https URL")
	events := fs.String("events", "", "comma-separated event types to send (default: every type): "+strings.Join(mtdconnect.EventTypes, ", "))
	return command("add", "mtdconnect webhooks add --url U [--events T,T…]",
		"add a webhook endpoint and print its signing secret (shown once)", fs, cfg,
		func(ctx context.Context) error { return runWebhooksAdd(ctx, cfg, *url, *events, p) })
}

func webhooksListCommand(p *proc) *ffcli.Command {
	fs := newFlagSet("webhooks list")
	cfg := newConfig(fs, p.getenv, storeSettings, cliLogSettings)
	return command("list", "mtdconnect webhooks list",
		"list the webhook endpoints: ID, URL, event types, state (never the secret)", fs, cfg,
		func(ctx context.Context) error { return runWebhooksList(ctx, cfg, p) })
}

func webhooksIDCommand(p *proc, sub string) *ffcli.Command {
	fs := newFlagSet("webhooks " + sub)
	cfg := newConfig(fs, p.getenv, storeSettings, webhookSettings, cliLogSettings)
	id := fs.Int64("id", 0, "the endpoint's ID (mtdconnect webhooks list)")
	help := map[string]string{
		"rotate-secret": "print a new signing secret; the old one signs too for " + webhook.RotationOverlap.String(),
		"delete":        "delete an endpoint and its deliveries",
		"deliveries":    "the endpoint's delivery log, newest first: attempts, last status, next try",
	}[sub]
	return command(sub, "mtdconnect webhooks "+sub+" --id N", help, fs, cfg,
		func(ctx context.Context) error { return runWebhooksByID(ctx, cfg, sub, *id, p) })
}

func webhooksRedeliverCommand(p *proc) *ffcli.Command {
	fs := newFlagSet("webhooks redeliver")
	cfg := newConfig(fs, p.getenv, storeSettings, webhookSettings, cliLogSettings)
	id := fs.Int64("id", 0, "the endpoint's ID")
	delivery := fs.Int64("delivery", 0, "the delivery's ID (mtdconnect webhooks deliveries)")
	return command("redeliver", "mtdconnect webhooks redeliver --id N --delivery D",
		"send a delivery again, now, with the same webhook-id", fs, cfg,
		func(ctx context.Context) error { return runWebhooksRedeliver(ctx, cfg, *id, *delivery, p) })
}

func webhookManager(a *app) *webhook.Manager {
	return &webhook.Manager{Store: a.store, Sealer: a.sealer, Policy: a.cfg.WebhookPolicy}
}

func runWebhooksAdd(ctx context.Context, cfg *Config, url, events string, p *proc) error {
	var types []string
	for _, t := range strings.Split(events, ",") {
		if t = strings.TrimSpace(t); t != "" {
			types = append(types, t)
		}
	}
	a, err := openStore(ctx, cfg, p.stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	e, secret, err := webhookManager(a).Create(ctx, url, types)
	if err != nil {
		return err
	}
	fmt.Fprintf(p.stderr, "Webhook endpoint %d added for %s (%s). Its signing secret is shown once; it is stored sealed.\n",
		e.ID, e.URL, eventTypesText(e.EventTypes))
	fmt.Fprintln(p.stdout, secret)
	return nil
}

func eventTypesText(types []string) string {
	if len(types) == 0 {
		return "every event type"
	}
	return strings.Join(types, ", ")
}

func runWebhooksList(ctx context.Context, cfg *Config, p *proc) error {
	a, err := openStore(ctx, cfg, p.stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	list, err := a.store.WebhookEndpoints(ctx)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		fmt.Fprintln(p.stdout, "No webhook endpoints. Add one with: mtdconnect webhooks add --url U")
		return nil
	}
	tw := tabwriter.NewWriter(p.stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tURL\tEVENTS\tCREATED\tSTATE")
	for _, e := range list {
		state := "enabled"
		if !e.DisabledAt.IsZero() {
			state = "disabled: " + e.DisabledReason
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", e.ID, e.URL, eventTypesText(e.EventTypes), e.CreatedAt.UTC().Format(time.RFC3339), state)
	}
	return tw.Flush()
}

func runWebhooksByID(ctx context.Context, cfg *Config, sub string, id int64, p *proc) error {
	if id <= 0 {
		return errors.New("--id is required: the endpoint's ID, from mtdconnect webhooks list")
	}
	a, err := openStore(ctx, cfg, p.stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	notFound := func(err error) error {
		if errors.Is(err, mtdconnect.ErrNotFound) {
			return fmt.Errorf("no webhook endpoint %d (mtdconnect webhooks list)", id)
		}
		return err
	}
	switch sub {
	case "rotate-secret":
		_, secret, err := webhookManager(a).Rotate(ctx, id)
		if err != nil {
			return notFound(err)
		}
		fmt.Fprintf(p.stderr, "Endpoint %d has a new signing secret, shown once. The old one signs too until %s.\n",
			id, time.Now().Add(webhook.RotationOverlap).UTC().Format(time.RFC3339))
		fmt.Fprintln(p.stdout, secret)
	case "delete":
		if err := a.store.DeleteWebhookEndpoint(ctx, id); err != nil {
			return notFound(err)
		}
		fmt.Fprintf(p.stdout, "Webhook endpoint %d and its deliveries are deleted.\n", id)
	case "deliveries":
		if _, err := a.store.WebhookEndpoint(ctx, id); err != nil {
			return notFound(err)
		}
		list, err := a.store.WebhookDeliveries(ctx, id, 100)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(p.stdout, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tWEBHOOK-ID\tTYPE\tSTATE\tATTEMPTS\tLAST STATUS\tNEXT TRY")
		for _, d := range list {
			status, next := "-", "-"
			if d.LastStatus != 0 {
				status = fmt.Sprint(d.LastStatus)
			} else if d.LastError != "" {
				status = d.LastError
			}
			if d.State() == "pending" {
				next = d.NextTryAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, webhook.MessageID(&d.Event), d.Event.Type, d.State(), d.Attempts, status, next)
		}
		return tw.Flush()
	}
	return nil
}

func runWebhooksRedeliver(ctx context.Context, cfg *Config, id, delivery int64, p *proc) error {
	if id <= 0 || delivery <= 0 {
		return errors.New("--id and --delivery are required (mtdconnect webhooks list, mtdconnect webhooks deliveries --id N)")
	}
	a, err := openStore(ctx, cfg, p.stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := webhookManager(a).Redeliver(ctx, id, delivery); errors.Is(err, mtdconnect.ErrNotFound) {
		return fmt.Errorf("endpoint %d has no delivery %d", id, delivery)
	} else if err != nil {
		return err
	}
	fmt.Fprintf(p.stdout, "Delivery %d is due again now.\n", delivery)
	return nil
}
