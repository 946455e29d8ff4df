package loadtest

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// tally records the outcome of API calls.
type tally struct {
	mu        sync.Mutex
	calls     int64
	failed    int64
	latencies []time.Duration
	failures  map[string]int64 // describe() → count
	okAt      []time.Time      // completion of each success, when kept
	keepTimes bool
	// Landlords' calls refused at once because HMRC's budget was booked
	// too far ahead (503 hmrc_busy): counted apart from failures.
	refused   int64
	refusedIn []time.Duration
	served    []time.Duration // latencies of successes
}

func newTally(keepTimes bool) *tally {
	return &tally{failures: map[string]int64{}, keepTimes: keepTimes}
}

func (t *tally) add(r apiResult) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.calls++
	t.latencies = append(t.latencies, r.latency)
	if r.busy() {
		t.refused++
		t.refusedIn = append(t.refusedIn, r.latency)
		return
	}
	if !r.ok() {
		t.failed++
		t.failures[r.describe()]++
		return
	}
	t.served = append(t.served, r.latency)
	if t.keepTimes {
		t.okAt = append(t.okAt, time.Now())
	}
}

// failureList is the failures, most frequent first.
func (t *tally) failureList() []Count {
	t.mu.Lock()
	defer t.mu.Unlock()
	return counts(t.failures)
}

// Count is how many times something happened.
type Count struct {
	What  string `json:"what"`
	Count int64  `json:"count"`
}

func counts(m map[string]int64) []Count {
	var out []Count
	for k, v := range m {
		out = append(out, Count{k, v})
	}
	slices.SortFunc(out, func(a, b Count) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.What, b.What))
	})
	return out
}

// Latency summarises durations in milliseconds.
type Latency struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

func summarise(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	// Nearest rank: the smallest value at or above the fraction q.
	rank := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(s)))) - 1
		return ms(s[max(i, 0)])
	}
	return Latency{Count: len(s), P50: rank(0.50), P99: rank(0.99), Max: ms(s[len(s)-1])}
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Microsecond)) / 1000 }

func (l Latency) String() string {
	return fmt.Sprintf("p50 %s, p99 %s, max %s (%d calls)", fmtMs(l.P50), fmtMs(l.P99), fmtMs(l.Max), l.Count)
}

func fmtMs(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.2f s", v/1000)
	case v >= 10:
		return fmt.Sprintf("%.0f ms", v)
	case v >= 1:
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.2f ms", v)
}

// hammer runs perInstance callers against each instance slot, each calling
// action on a random connection in a loop, until ctx ends. A call cut short
// by the end of ctx is not counted: the load stopping is no failure.
func (c *cluster) hammer(ctx context.Context, perInstance int, action string, t *tally) {
	var wg sync.WaitGroup
	n := c.instanceCount()
	for i := range n * perInstance {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
			for ctx.Err() == nil {
				id := c.users[rng.IntN(len(c.users))]
				r := c.call(ctx, i%n, id, action)
				if ctx.Err() != nil && r.err != nil {
					return // cut short by the end of the load
				}
				t.add(r)
				if r.err != nil {
					// The instance is down (being restarted): don't spin.
					sleepCtx(ctx, 50*time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return math.Round(float64(n)/d.Seconds()*100) / 100
}
