package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/mtdconnect/mtdconnect"
)

// withReadyz adds GET /readyz in front of the service's handler, for load
// balancers: 200 "ok" when this instance should get traffic, 503 with the
// reason when it should not (draining, or the store does not answer).
// /healthz (web) says only that the process serves: a load balancer that
// restarted instances on a database outage would make it worse.
func withReadyz(h http.Handler, s *stopper, store mtdconnect.Store, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if s.draining.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("draining"))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := store.Ping(ctx); err != nil {
			log.Warn("readiness: the store does not answer", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("store unreachable"))
			return
		}
		w.Write([]byte("ok"))
	})
	mux.Handle("/", h)
	return mux
}
