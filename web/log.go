package web

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// requestInfo is what the request log learns while the request is served.
// Handlers fill it in through info(ctx); the log line is written once, at
// the end.
type requestInfo struct {
	pattern  string
	userID   int64
	apiKeyID int64  // the API key the request was made with
	handle   string // the API's name of the landlord the request is for (never logged: it may be personal)
}

type requestInfoKey struct{}

// info returns the request's log record (a throwaway one outside logRequests).
func info(ctx context.Context) *requestInfo {
	if ri, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		return ri
	}
	return new(requestInfo)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// logRequests logs one line per request: method, route pattern, status,
// duration and user. It never logs the URL's query (the callback's carries
// an authorisation code), headers or cookies.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &requestInfo{}
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, ri)))
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		route := ri.pattern
		if route == "" {
			route = "unmatched"
		}
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("route", route),
			slog.Int("status", rec.status),
			slog.Duration("duration", time.Since(start)),
		}
		if ri.userID != 0 {
			attrs = append(attrs, slog.Int64("user_id", ri.userID))
		}
		if ri.apiKeyID != 0 {
			attrs = append(attrs, slog.Int64("api_key_id", ri.apiKeyID))
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "http request", attrs...)
	})
}

// requestAttrs are the attributes an error log line carries.
func requestAttrs(r *http.Request) slog.Attr {
	ri := info(r.Context())
	return slog.Group("request",
		slog.String("method", r.Method),
		slog.String("route", ri.pattern),
		slog.Int64("user_id", ri.userID),
	)
}
