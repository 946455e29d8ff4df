package loadtest

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// scrape reads the instances' /metrics (Prometheus's text format) and sums
// each series over them, keyed by the series as written, e.g.
// `mtdconnect_hmrc_limiter_wait_seconds_bucket{priority="interactive",le="1"}`.
// Instances started without a metrics address are skipped.
func (c *cluster) scrape(ctx context.Context) (map[string]float64, error) {
	sums := map[string]float64{}
	for i := range c.instanceCount() {
		u := c.instance(i).MetricsURL()
		if u == "" {
			continue
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u+"/metrics", nil)
		if err != nil {
			return nil, err
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "#") {
				continue
			}
			i := strings.LastIndexByte(line, ' ')
			if i < 0 {
				continue
			}
			if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
				sums[line[:i]] += v
			}
		}
		resp.Body.Close()
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	return sums, nil
}

// WaitShare is how many rate-limiter waits of a priority the instances
// counted, and the share of them within half a second and within one.
type WaitShare struct {
	Waits        float64 `json:"waits"`
	WithinHalf   float64 `json:"within_500ms"`
	WithinSecond float64 `json:"within_1s"`
}

// waitShare is the limiter-wait histogram of priority between two scrapes.
func waitShare(before, after map[string]float64, priority string) (WaitShare, bool) {
	key := func(suffix, le string) string {
		if le == "" {
			return `mtdconnect_hmrc_limiter_wait_seconds_` + suffix + `{priority="` + priority + `"}`
		}
		return `mtdconnect_hmrc_limiter_wait_seconds_` + suffix + `{priority="` + priority + `",le="` + le + `"}`
	}
	count, ok := after[key("count", "")]
	if !ok {
		return WaitShare{}, false
	}
	w := WaitShare{Waits: count - before[key("count", "")]}
	if w.Waits > 0 {
		w.WithinHalf = (after[key("bucket", "0.5")] - before[key("bucket", "0.5")]) / w.Waits
		w.WithinSecond = (after[key("bucket", "1")] - before[key("bucket", "1")]) / w.Waits
	}
	return w, true
}

// storeCallsPrefix starts the series of the HMRC client's store calls
// (one database transaction each), one per Store method.
const storeCallsPrefix = `mtdconnect_hmrc_store_calls_total{method="`

// StoreCalls is what the instances' HMRC clients asked of the store over a
// stretch of the run, per HMRC request (token or API) the simulator saw,
// in total and by Store method, most first; and per API call the load made
// (served or refused).
type StoreCalls struct {
	PerHMRCRequest float64       `json:"per_hmrc_request"`
	PerAPICall     float64       `json:"per_api_call"`
	ByMethod       []MethodShare `json:"by_method,omitempty"`
}

// MethodShare is one Store method's calls per HMRC request.
type MethodShare struct {
	Method         string  `json:"method"`
	PerHMRCRequest float64 `json:"per_hmrc_request"`
}

// storeCalls is the store calls between two scrapes per HMRC request and
// per API call.
func storeCalls(before, after map[string]float64, hmrcRequests, apiCalls int64) *StoreCalls {
	if hmrcRequests <= 0 {
		return nil
	}
	sc := &StoreCalls{}
	var total float64
	for k, v := range after {
		method, ok := strings.CutPrefix(k, storeCallsPrefix)
		if !ok {
			continue
		}
		d := v - before[k]
		if d <= 0 {
			continue
		}
		total += d
		sc.ByMethod = append(sc.ByMethod, MethodShare{Method: strings.TrimSuffix(method, `"}`), PerHMRCRequest: round2(d / float64(hmrcRequests))})
	}
	slices.SortFunc(sc.ByMethod, func(a, b MethodShare) int {
		return cmp.Or(cmp.Compare(b.PerHMRCRequest, a.PerHMRCRequest), strings.Compare(a.Method, b.Method))
	})
	sc.PerHMRCRequest = round2(total / float64(hmrcRequests))
	if apiCalls > 0 {
		sc.PerAPICall = round2(total / float64(apiCalls))
	}
	return sc
}

func (s *StoreCalls) String() string {
	if s == nil {
		return "n/a"
	}
	var parts []string
	for _, m := range s.ByMethod {
		parts = append(parts, fmt.Sprintf("%s %.2f", m.Method, m.PerHMRCRequest))
	}
	return fmt.Sprintf("%.2f (%s); %.2f per API call", s.PerHMRCRequest, strings.Join(parts, ", "), s.PerAPICall)
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }
