package hmrcsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// /admin/* drives the simulator from tests and demos: fault knobs, counters
// and the clock. It is unauthenticated because the simulator is local-only.

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
	*f = out
	return nil
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
