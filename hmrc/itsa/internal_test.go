package itsa

import (
	"testing"
	"time"
)

// The business ID cache forgets what is stale when it grows, so it holds
// about a day's landlords however long the process runs.
func TestBusinessCachePrunes(t *testing.T) {
	b := &businessCache{m: map[businessKey]*businessEntry{}}
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	fresh, old, failed := businessKey{1, "AA123456A"}, businessKey{2, "AA123456B"}, businessKey{3, "AA123456C"}
	b.store(old, "XPIS00000000002", t0)
	b.store(fresh, "XPIS00000000001", t0.Add(2*time.Hour))
	b.entry(failed, t0.Add(2*time.Hour)) // looked up, never filled
	if _, id := b.entry(old, t0.Add(23*time.Hour)); id != "XPIS00000000002" {
		t.Fatalf("a 23-hour-old ID was not served: %q", id)
	}
	if _, id := b.entry(old, t0.Add(24*time.Hour)); id != "" {
		t.Fatalf("a day-old ID was served: %q", id)
	}
	b.entry(businessKey{4, "AA123456D"}, t0.Add(25*time.Hour))
	if _, ok := b.m[old]; ok {
		t.Error("the expired entry was kept")
	}
	if _, ok := b.m[failed]; ok {
		t.Error("the never-filled entry was kept")
	}
	if _, id := b.entry(fresh, t0.Add(25*time.Hour)); id != "XPIS00000000001" {
		t.Errorf("the fresh entry was dropped: %q", id)
	}
}
