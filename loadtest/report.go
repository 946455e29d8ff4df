package loadtest

import (
	"fmt"
	"io"
	"strings"
)

// WriteText writes the report for a reader: each scenario's figures, each
// bound with whether it held.
func (r *Report) WriteText(w io.Writer) error {
	p := &printer{w: w}
	p.line("mtdconnect reliability suite, %s to %s (UTC)", r.Started.Format("2006-01-02 15:04:05"), r.Finished.Format("15:04:05"))
	p.line("machine: %d CPUs (%s), %s/%s, %s", r.Machine.CPUs, orUnknown(r.Machine.CPUModel), r.Machine.OS, r.Machine.Arch, r.Machine.GoVersion)
	store := r.Backend
	if r.Machine.Postgres != "" {
		store += " " + r.Machine.Postgres
	}
	p.line("store: %s, %d instances", store, r.Instances)
	if s := r.Races; s != nil {
		c := s.Config
		p.section("Races: %d callers × %d instances on %d connections, access tokens of %v refreshed %v before expiry, for %v",
			c.CallersPerInstance, s.Instances, c.Connections, c.AccessTokenLifetime, c.RefreshMargin, c.Duration)
		p.kv("calls", "%d (%.1f/s), latency %s", s.Calls, s.CallsPerSecond, s.Latency)
		p.kv("refreshes at HMRC", "%d (%.1f/s)", s.Refreshes, s.RefreshesPerSecond)
		p.kv("requests at HMRC", "at most %d in any 1-s window (service budget %s/s, no limit at the simulator)", s.MaxPerSecond, formatFloat(c.Rate))
		p.kv("HMRC clients' store calls per HMRC request", "%s", s.StoreCalls)
		if s.DBXactPerCall > 0 {
			p.kv("database transactions per call", "%.2f (all of PostgreSQL's, per API call; goal ≤ 2) %s", s.DBXactPerCall, goal(s.DBXactPerCall <= 2))
		}
		p.kv("instances' memory (RSS) under load", "%s", mibList(s.InstanceRSS))
		p.bound("refresh-token reuses", s.RefreshReuses, 0)
		p.bound("\"already in progress\" answers", s.InProgressRejections, 0)
		p.bound("failed calls", s.FailedCalls, 0)
		p.failures(s.Failures)
		p.bound("refreshes found interrupted", int64(s.Interrupted), 0)
		p.check(s.Check, true)
		p.children(s.Children)
	}
	if s := r.Rolling; s != nil {
		c := s.Config
		p.section("Rolling: %d SIGTERM restarts, one instance after the other, while %d callers × %d instances use %d connections with access tokens of %v (HMRC answers in %v)",
			s.Restarts, c.CallersPerInstance, s.Instances, c.Connections, c.AccessTokenLifetime, c.Latency)
		p.kv("SIGTERMs with a refresh in flight", "%d of %d", s.RestartsMidRefresh, s.Restarts)
		p.kv("SIGTERM to exit (the drain)", "%s", s.Drain)
		p.kv("replacement's start to /readyz", "%s", s.Ready)
		p.kv("calls", "%d (%.1f/s), latency %s", s.Calls, s.CallsPerSecond, s.Latency)
		p.kv("refused by a stopping instance", "%d, each retried at once on another instance: %d succeeded", s.Refused, s.RetriedOK)
		p.failures(s.RefusedHow)
		p.bound("refused calls that failed again elsewhere", s.RetryFailures, 0)
		p.failures(s.RetryFailList)
		if s.Busy > 0 {
			p.kv("answered HMRC busy (503, nothing sent)", "%d, each retried after 1 s: %d succeeded", s.Busy, s.BusyRetriedOK)
		}
		p.bound("other failed calls", s.FailedCalls, 0)
		p.failures(s.Failures)
		p.kv("refreshes at HMRC", "%d", s.Refreshes)
		p.bound("refresh-token reuses", s.RefreshReuses, 0)
		p.bound("\"already in progress\" answers", s.InProgressRejections, 0)
		p.bound("refreshes found interrupted", int64(s.Interrupted), 0)
		p.bound("leases held by a stopped instance", int64(s.LeasesLeft), 0)
		p.bound("exits other than 0", int64(s.NonZeroExits), 0)
		p.bound("drains cut short", int64(s.DrainsCut), 0)
		p.check(s.Check, true)
		p.children(s.Children)
	}
	if s := r.Crashes; s != nil {
		c := s.Config
		p.section("Crashes: %d SIGKILLs at random moments (pauses up to %v) while %d callers × %d instances use %d connections with access tokens of %v",
			s.Kills, c.MaxInterval, c.CallersPerInstance, s.Instances, c.Connections, c.AccessTokenLifetime)
		p.kv("kills with a refresh in flight", "%d of %d (%d refresh leases left by dead processes)", s.KillsDuringRefresh, s.Kills, s.LeasesOrphaned)
		p.kv("restart to /healthz", "%s", s.Restart)
		p.kv("calls during the kills", "%d, of which %d failed (calls to an instance being killed fail)", s.Calls, s.FailedCalls)
		p.failures(s.Failures)
		p.kv("refreshes at HMRC", "%d; refresh-token reuses %d (each an interrupted refresh retried once, as designed)", s.Refreshes, s.RefreshReuses)
		p.kv("interrupted refreshes recovered", "%d \"refresh interrupted\" audit events; all resolved %.1fs after the last kill", s.Recoveries, s.SettleSeconds)
		p.check(s.Check, false)
		if l := s.LostResponses; l != nil {
			p.line("")
			p.line("  Then HMRC lost the answer to %.0f%% of the requests it applied, for %.0fs, on the %d connections still connected:", l.Rate*100, l.Seconds, l.Check.Connections)
			p.kv("calls", "%d, of which %d failed", l.Calls, l.FailedCalls)
			p.failures(l.Failures)
			p.kv("refreshes at HMRC", "%d; refresh-token reuses %d", l.Refreshes, l.RefreshReuses)
			p.check(l.Check, false)
		}
		p.children(s.Children)
	}
	if s := r.Faults; s != nil {
		c := s.Config
		p.section("Faults: %.0f%% of HMRC's token and API answers fail (%.0f%% 500, %.0f%% hang %v then drop, %.0f%% reset) for %v, then none; %s calls/s over %d instances on %d connections, access tokens of %v",
			(c.ErrorRate+c.TimeoutRate+c.ResetRate)*100, c.ErrorRate*100, c.TimeoutRate*100, c.Timeout, c.ResetRate*100,
			c.Duration, formatFloat(c.Demand), s.Instances, c.Connections, c.AccessTokenLifetime)
		p.kv("calls started while faults ran", "%d; HMRC admitted %d requests, %d refreshes succeeded", s.Calls, s.HMRCRequests, s.Refreshes)
		p.kv("failed for good (reported)", "%d (%.2f%%)", s.FailedForGood, pct(s.FailedForGood, s.Calls))
		p.failures(s.Failures)
		mark := ok(s.Unhealthy == 0 && s.HealthySeconds <= c.Recovery.Seconds())
		p.kv("all connections healthy", "%.1fs after the faults stopped (bound %v) %s", s.HealthySeconds, c.Recovery, mark)
		p.bound("refresh-token reuses", s.RefreshReuses, 0)
		p.kv("\"already in progress\" answers", "%d", s.InProgress)
		p.bound("refreshes found interrupted", int64(s.Interrupted), 0)
		p.check(s.Check, true)
		p.children(s.Children)
	}
	if s := r.Rate; s != nil {
		c := s.Config
		p.section("Rate: HMRC allows %s requests/s; demand of %s calls/s over %d instances for %v",
			formatFloat(c.Limit), formatFloat(c.Demand), s.Instances, c.Duration)
		if c.BusyCPUs > 0 {
			p.line("  (%d other processes spin on the CPU throughout, as a heavy neighbour would)", c.BusyCPUs)
		}
		p.kv("most requests in any 1-s window at HMRC", "%d (limit %s) %s", s.MaxPerSecond, formatFloat(c.Limit), ok(float64(s.MaxPerSecond) <= c.Limit))
		p.bound("429 answers", s.Throttled, 0)
		p.kv("useful calls/s", "%.2f = %.1f%% of the limit (goal ≥ 95%%) %s", s.UsefulPerSec, s.UsefulShare*100, goal(s.UsefulShare >= 0.95))
		p.kv("requests/s HMRC admitted", "%.2f", s.HMRCPerSec)
		p.kv("calls", "%d demanded, %d served, %d refused at once (\"HMRC is busy\"), %d failed; the last ended %.1fs after the demand stopped",
			s.Demanded, s.Succeeded, s.Refused, s.Failed, s.DrainSeconds)
		p.failures(s.Failures)
		p.kv("served calls' latency", "%s; goal p99 ≤ 5 s %s", s.Served, goal(s.Served.Count > 0 && s.Served.P99 <= 5000))
		p.kv("refusals' latency", "%s", s.RefusedIn)
		p.kv("HMRC clients' store calls per HMRC request", "%s; goal ≤ 3 per HMRC request %s", s.DemandStoreCalls, goal(s.DemandStoreCalls != nil && s.DemandStoreCalls.PerHMRCRequest <= 3))
		if s.DemandDBXactPerReq > 0 {
			p.kv("database transactions per HMRC request", "%.2f; %.2f per API call (all of PostgreSQL's: API keys, landlords, refused calls included)", s.DemandDBXactPerReq, s.DemandDBXactPerCall)
		}
		p.line("")
		p.line("  Priorities, %v: %d background callers take every free slot; landlords call at %s/s through the API, scheduled work at %s/s",
			c.PriorityDuration, c.BackgroundWorkers, formatFloat(c.InteractiveRate), formatFloat(c.ScheduledRate))
		p.kv("HMRC requests/s", "%.2f (background %.2f calls/s)", s.PriorityHMRCPerSec, s.BackgroundPerSec)
		p.kv("interactive (landlord) wait", "%s; %d refused, %d failed; goal p99 ≤ 1 s %s", s.Interactive, s.InteractiveRefused, s.InteractiveFailed, goal(s.Interactive.P99 <= 1000))
		if w := s.InteractiveLimiter; w != nil {
			p.kv("interactive waits for the budget", "%.0f (instances' /metrics): %.0f%% within 0.5 s, %.0f%% within 1 s", w.Waits, w.WithinHalf*100, w.WithinSecond*100)
		}
		p.kv("scheduled wait", "%s; %d failed", s.Scheduled, s.ScheduledFailed)
		p.line("")
		p.line("  Background refreshes, %v: %d connections whose access tokens last %v, refreshed %v before expiry (%.1f refreshes/s wanted); landlords call at %s/s on them",
			c.RefreshDuration, c.RefreshConnections, c.RefreshLifetime, c.RefreshMargin,
			float64(c.RefreshConnections)/(c.RefreshLifetime-c.RefreshMargin).Seconds(), formatFloat(c.InteractiveRate))
		p.kv("HMRC requests/s", "%.2f (%.2f refreshes/s); at most %d in any 1-s window; %d answered 429", s.RefreshHMRCPerSec, s.RefreshesPerSec, s.RefreshMaxPerSecond, s.RefreshThrottled)
		p.kv("interactive (landlord) wait", "%s; %d refused, %d failed; goal p99 ≤ 1 s %s", s.RefreshInteractive, s.RefreshInteractiveRefused, s.RefreshInteractiveFailed, goal(s.RefreshInteractive.P99 <= 1000))
		p.failures(s.RefreshFailures)
		p.kv("waits for another instance's refresh", "%.0f", s.RefreshLeaseWaits)
		p.children(s.Children)
	}
	if s := r.Webhooks; s != nil {
		c := s.Config
		p.section("Webhooks: %d events of %d landlords delivered by %d instances to a receiver refusing %.0f%% of requests (503), with %d SIGKILLs while delivering; retries after %v…, leases of %v",
			s.Events, c.Landlords, s.Instances, c.FailRate*100, s.Kills, c.Schedule[0], c.Lease)
		p.kv("events written", "%d in %.1fs", s.Events, s.WriteSeconds)
		p.kv("received (distinct webhook-id)", "%d in %.1fs (%.1f/s)", s.Received, s.Seconds, s.DeliveredPerS)
		p.kv("requests", "%d, of which %d refused by the receiver", s.Requests, s.Refused)
		p.kv("deliveries held by killed instances", "%d (sent again after the lease)", s.Orphaned)
		p.kv("duplicates (at least once)", "%d", s.Duplicates)
		p.kv("delay, event written to first acceptance", "%s", s.Delay)
		p.kv("out of order (per landlord; data.sequence orders them)", "%d", s.OutOfOrder)
		p.bound("lost", int64(s.Lost), 0)
		p.bound("invented", int64(s.Invented), 0)
		p.bound("bad signatures", s.BadSigs, 0)
		p.children(s.Children)
	}
	if s := r.Quarterly; s != nil {
		c := s.Config
		p.section("Quarterly: %d landlords read their obligations and send their update through the API, read and update on two of %d instances, for %v",
			c.Landlords, s.Instances, c.Duration)
		p.kv("first journeys", "%d, %d HMRC requests (%.2f each: the business ID found once and stored, the obligations read and kept)",
			s.FirstJourneys, s.FirstCalls, s.FirstCallsPerJourney)
		p.kv("journeys in steady state", "%d, %d failed", s.Journeys, s.Failed)
		p.failures(s.Failures)
		p.kv("HMRC requests per journey", "%.3f (%d requests; bound %s) %s", s.CallsPerJourney, s.Calls, formatFloat(c.MaxCallsPerJourney),
			ok(s.CallsPerJourney <= c.MaxCallsPerJourney))
		p.kv("obligations read", "%s", s.ReadLatency)
		p.kv("update sent", "%s", s.UpdateLatency)
		p.children(s.Children)
	}
	if s := r.Scale; s != nil {
		p.section("Scale: connections in PostgreSQL, %d due; each query timed %d times", s.Config.Due, s.Config.Repeat)
		for _, pt := range []ScalePoint{s.Small, s.Large} {
			p.line("  %d connections (%d not due), inserted in %.1fs:", pt.Connections, pt.NotDue, pt.InsertSecs)
			p.kv("  due query", "%s; found %d", pt.DueQuery, pt.Returned)
			p.kv("  interrupted-refresh query", "%s", pt.Interrupted)
			p.kv("  a refresher pass (nothing due)", "%s", pt.Pass)
			p.kv("  start-up to /healthz", "%.2fs", pt.StartupSeconds)
			p.kv("  RSS at rest", "%.1f MiB", mib(pt.RSSBytes))
		}
		p.kv("due query, large / small", "×%.2f", s.Growth)
		for _, t := range s.Stats {
			p.kv("size of "+t.Name, "%.1f MiB", mib(t.Bytes))
		}
		p.line("  plan of the due query at %d connections:", s.Large.Connections)
		for _, l := range strings.Split(s.Plan, "\n") {
			p.line("    %s", l)
		}
		p.children(s.Children)
	}
	v := r.Violations()
	p.line("")
	if r.Stopped != "" {
		p.line("The run STOPPED early: %s", r.Stopped)
	}
	switch {
	case len(v) == 0 && r.Stopped == "":
		p.line("Every bound held.")
	case len(v) > 0:
		p.line("%d bound(s) did NOT hold:", len(v))
		for _, s := range v {
			p.line("  - %s", s)
		}
	}
	return p.err
}

type printer struct {
	w   io.Writer
	err error
}

func (p *printer) line(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format+"\n", args...)
	}
}

func (p *printer) section(format string, args ...any) {
	p.line("")
	p.line(format, args...)
}

func (p *printer) kv(key, format string, args ...any) {
	p.line("  %-42s %s", key+":", fmt.Sprintf(format, args...))
}

func (p *printer) bound(key string, got, want int64) {
	p.kv(key, "%d (must be %d) %s", got, want, ok(got == want))
}

func (p *printer) failures(f []Count) {
	for i, c := range f {
		if i == 5 {
			p.line("      … and %d more kinds", len(f)-5)
			break
		}
		p.line("      %6d × %s", c.Count, c.What)
	}
}

// check prints a ConnectionCheck; strict means no connection may need
// reconnecting at all.
func (p *printer) check(c *ConnectionCheck, strict bool) {
	if c == nil {
		return
	}
	p.kv("connections afterwards", "%d of %d connected (each proven by a forced refresh)", c.Connected, c.Connections)
	if strict {
		p.bound("connections lost", c.NeedsReconnectTotal(), 0)
	} else {
		if len(c.NeedsReconnect) == 0 {
			p.kv("needs reconnect", "none")
		}
		for _, r := range c.NeedsReconnect {
			p.kv("needs reconnect", "%d × %q (in the audit)", r.Count, r.What)
		}
		p.bound("lost silently", int64(c.LostSilently), 0)
	}
	if c.Unresolved > 0 {
		p.bound("unresolved", int64(c.Unresolved), 0)
	}
	for _, s := range c.Problems {
		p.line("      %s", s)
	}
}

func (p *printer) children(c []string) {
	for _, s := range c {
		p.line("  ✗ %s", s)
	}
}

func ok(b bool) string {
	if b {
		return "✓"
	}
	return "✗"
}

func goal(b bool) string {
	if b {
		return "(met)"
	}
	return "(not met)"
}

func pct(n, of int64) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of) * 100
}

func orUnknown(s string) string {
	if s == "" {
		return "model unknown"
	}
	return s
}

func mibList(bs []int64) string {
	var parts []string
	for _, b := range bs {
		parts = append(parts, fmt.Sprintf("%.0f MiB", mib(b)))
	}
	return strings.Join(parts, ", ")
}
