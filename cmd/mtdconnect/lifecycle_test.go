package main

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	oklog "github.com/oklog/run"
)

// The parts of serve stop one after the other in the order they were
// added, each once the one before has finished: what the drain's order
// (web, background work, HMRC's refreshes, the simulator, the store) rests on.
func TestActorsStopInOrder(t *testing.T) {
	stop := &stopper{log: slog.New(slog.DiscardHandler), timeout: time.Minute}
	var mu sync.Mutex
	var stopped []string
	record := func(name string) {
		mu.Lock()
		defer mu.Unlock()
		stopped = append(stopped, name)
	}
	part := func(name string) func(context.Context) error {
		return func(ctx context.Context) error {
			<-ctx.Done()
			time.Sleep(20 * time.Millisecond) // finishing the item it had taken
			record(name)
			return nil
		}
	}
	ctx, signal := context.WithCancel(t.Context())
	var g oklog.Group
	g.Add(stop.onSignal(ctx))
	g.Add(stop.background("first", part("first")))
	g.Add(stop.waitFor("second", func(context.Context) error { record("second"); return nil }))
	g.Add(stop.background("third", part("third")))
	done := make(chan error, 1)
	go func() { done <- g.Run() }()
	time.Sleep(10 * time.Millisecond)
	if stop.draining.Load() {
		t.Fatal("draining before any signal")
	}
	signal()
	if err := <-done; !errors.Is(err, errStopSignal) {
		t.Fatalf("Run = %v, want the stop signal", err)
	}
	stop.end()
	if want := []string{"first", "second", "third"}; !slices.Equal(stopped, want) {
		t.Fatalf("stopped in order %v, want %v", stopped, want)
	}
	if !stop.draining.Load() {
		t.Error("not marked draining")
	}
}

// A part that fails stops the others, and serve returns its error.
func TestFailingActorStopsTheGroup(t *testing.T) {
	stop := &stopper{log: slog.New(slog.DiscardHandler), timeout: time.Minute, delay: time.Hour}
	boom := errors.New("boom")
	var g oklog.Group
	g.Add(stop.onSignal(t.Context())) // the delay is for signals only: not waited here
	g.Add(stop.background("fails", func(context.Context) error { return boom }))
	other := make(chan struct{})
	g.Add(stop.background("other", func(ctx context.Context) error { <-ctx.Done(); close(other); return nil }))
	if err := g.Run(); !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want boom", err)
	}
	<-other
	stop.end()
}
