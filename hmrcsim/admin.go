package hmrcsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// /admin/* drives the simulator from tests and demos: fault knobs, counters
// and the clock. It has no authentication, so it is served only when
// Options.Controls asks for it, and only to same-origin callers: a page on
// another site must not be able to move the demo's clock or inject faults
// with a cross-origin "simple" request (a form POST needs no CORS preflight).

// faultsJSON is Faults on the wire, with durations as Go duration strings
// ("250ms", "30s") so they can be typed by hand.
type faultsJSON struct {
	Latency          string  `json:"latency,omitempty"`
	LatencyRate      float64 `json:"latencyRate"`
	ErrorRate        float64 `json:"errorRate"`
	TimeoutRate      float64 `json:"timeoutRate"`
	ResetRate        float64 `json:"resetRate"`
	LostResponseRate float64 `json:"lostResponseRate"`
	Timeout          string  `json:"timeout,omitempty"`
	Seed             int64   `json:"seed"`
	// Deprecated: e.g. [{"api":"obligations-mtd","on":"2026-06-01T23:59:59Z"}].
	Deprecated []deprecationJSON `json:"deprecated,omitempty"`
}

type deprecationJSON struct {
	API    string    `json:"api"`
	On     time.Time `json:"on"`
	Sunset time.Time `json:"sunset,omitzero"`
}

// MarshalJSON writes durations as strings.
func (f Faults) MarshalJSON() ([]byte, error) {
	j := faultsJSON{
		LatencyRate: f.LatencyRate, ErrorRate: f.ErrorRate, TimeoutRate: f.TimeoutRate,
		ResetRate: f.ResetRate, LostResponseRate: f.LostResponseRate, Seed: f.Seed,
	}
	if f.Latency != 0 {
		j.Latency = f.Latency.String()
	}
	if f.Timeout != 0 {
		j.Timeout = f.Timeout.String()
	}
	for _, d := range f.Deprecated {
		j.Deprecated = append(j.Deprecated, deprecationJSON(d))
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads durations as strings and checks every rate is in [0,1].
func (f *Faults) UnmarshalJSON(b []byte) error {
	var j faultsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	out := Faults{
		LatencyRate: j.LatencyRate, ErrorRate: j.ErrorRate, TimeoutRate: j.TimeoutRate,
		ResetRate: j.ResetRate, LostResponseRate: j.LostResponseRate, Seed: j.Seed,
	}
	var err error
	if j.Latency != "" {
		if out.Latency, err = time.ParseDuration(j.Latency); err != nil {
			return fmt.Errorf("latency: %w", err)
		}
	}
	if j.Timeout != "" {
		if out.Timeout, err = time.ParseDuration(j.Timeout); err != nil {
			return fmt.Errorf("timeout: %w", err)
		}
	}
	for _, r := range []float64{out.LatencyRate, out.ErrorRate, out.TimeoutRate, out.ResetRate, out.LostResponseRate} {
		if r < 0 || r > 1 {
			return fmt.Errorf("rates must be between 0 and 1")
		}
	}
	for _, d := range j.Deprecated {
		if _, ok := deprecationDocs[d.API]; !ok || d.On.IsZero() {
			return fmt.Errorf("deprecated: api must be one of the simulator's APIs (e.g. %q) and on a date-time", fraudAPIObligations)
		}
		if !d.Sunset.IsZero() && !d.Sunset.After(d.On) {
			return fmt.Errorf("deprecated: sunset must be later than on")
		}
		out.Deprecated = append(out.Deprecated, Deprecation(d))
	}
	*f = out
	return nil
}

// controls guards every /admin/* route: 404 unless Options.Controls serves
// them (as any unknown resource), 403 for a cross-origin request.
func (s *Server) controls(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.controlsServed() {
			writeAPIError(w, http.StatusNotFound, "MATCHING_RESOURCE_NOT_FOUND", "A resource with the name in the request can not be found in the API")
			return
		}
		if crossOrigin(r) {
			s.log.Warn("hmrcsim: cross-origin request to a control endpoint refused", "path", r.URL.Path)
			writeAPIError(w, http.StatusForbidden, "CROSS_ORIGIN_REQUEST", "The simulator's controls accept same-origin requests only")
			return
		}
		h(w, r)
	}
}

func (s *Server) controlsServed() bool { return s.opts.Controls == ControlsOn }

// crossOrigin reports a request that a browser sent on behalf of another
// site: Sec-Fetch-Site says so (every current browser sends it), or the
// Origin header names another host than the one asked. Tools (curl, Go's
// client, loadtest) send neither and pass.
func crossOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	u, err := url.Parse(origin)
	return err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host)
}

func (s *Server) adminGetFaults(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.currentFaults())
}

// adminPutFaults replaces all the knobs (PUT semantics): send {} to clear.
func (s *Server) adminPutFaults(w http.ResponseWriter, r *http.Request) {
	var f Faults
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&f); err != nil {
		writeAPIError(w, http.StatusBadRequest, "INVALID_REQUEST", err.Error())
		return
	}
	s.SetFaults(f)
	s.log.Info("hmrcsim: faults set", "faults", f)
	writeJSON(w, http.StatusOK, f)
}

func (s *Server) adminStats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}

func (s *Server) adminGetClock(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.clockJSON())
}

// adminAdvanceClock moves the simulator clock forward, e.g. {"advance":"4h"}
// to expire access tokens in a demo. The clock never moves back.
func (s *Server) adminAdvanceClock(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Advance string `json:"advance"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<12)).Decode(&body); err != nil {
		writeAPIError(w, http.StatusBadRequest, "INVALID_REQUEST", err.Error())
		return
	}
	d, err := time.ParseDuration(body.Advance)
	if err != nil || d < 0 {
		writeAPIError(w, http.StatusBadRequest, "INVALID_REQUEST", `advance must be a non-negative duration such as "4h"`)
		return
	}
	s.offset.Add(int64(d))
	s.log.Info("hmrcsim: clock advanced", "by", d)
	writeJSON(w, http.StatusOK, s.clockJSON())
}

func (s *Server) clockJSON() map[string]string {
	return map[string]string{
		"now":    s.now().UTC().Format(time.RFC3339),
		"offset": time.Duration(s.offset.Load()).String(),
	}
}
