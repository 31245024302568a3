package omnitest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// AdminPrefix is where AdminHandler serves, outside any SCIM path.
const AdminPrefix = "/_standin/"

// FaultsJSON is Faults as the admin endpoint reads it, with the latency as a
// Go duration string ("250ms").
type FaultsJSON struct {
	Seed          int64    `json:"seed"`
	Methods       []string `json:"methods,omitempty"`
	ErrorRate     float64  `json:"errorRate"`
	RateLimitRate float64  `json:"rateLimitRate"`
	DropRate      float64  `json:"dropRate"`
	LostReplyRate float64  `json:"lostReplyRate"`
	HangRate      float64  `json:"hangRate"`
	HangApplied   bool     `json:"hangApplied"`
	Latency       string   `json:"latency,omitempty"`
}

// AdminHandler serves unauthenticated endpoints for demos and benchmarks; they
// neither count in Stats nor spend the rate budget:
//
//	GET  /_standin/users        every user, creation order (JSON array of User)
//	POST /_standin/users        seed one user (a User; as AddUser), 201 with it
//	GET  /_standin/groups       every group, creation order (JSON array of Group)
//	GET  /_standin/stats        Stats
//	POST /_standin/reset-stats  zero the Stats, 204
//	POST /_standin/faults       replace the faults (FaultsJSON), 204
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+AdminPrefix+"users", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Users())
	})
	mux.HandleFunc("POST "+AdminPrefix+"users", func(w http.ResponseWriter, r *http.Request) {
		var u User
		if err := decodeAdmin(w, r, &u); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for k, v := range u.Attributes {
			nv, err := attrValue(v)
			if err != nil || nv == nil {
				http.Error(w, fmt.Sprintf("seed user: attribute %s: value must be a string, an integer or a list of those", k), http.StatusBadRequest)
				return
			}
			u.Attributes[k] = nv
		}
		added, err := s.addUser(u)
		if err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		writeJSON(w, http.StatusCreated, added)
	})
	mux.HandleFunc("GET "+AdminPrefix+"groups", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Groups())
	})
	mux.HandleFunc("GET "+AdminPrefix+"stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Stats())
	})
	mux.HandleFunc("POST "+AdminPrefix+"reset-stats", func(w http.ResponseWriter, r *http.Request) {
		s.ResetStats()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST "+AdminPrefix+"faults", func(w http.ResponseWriter, r *http.Request) {
		var fj FaultsJSON
		if err := decodeAdmin(w, r, &fj); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f, err := fj.Faults()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.SetFaults(f)
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

// Faults converts the JSON form.
func (fj FaultsJSON) Faults() (Faults, error) {
	f := Faults{
		Seed:          fj.Seed,
		Methods:       fj.Methods,
		ErrorRate:     fj.ErrorRate,
		RateLimitRate: fj.RateLimitRate,
		DropRate:      fj.DropRate,
		LostReplyRate: fj.LostReplyRate,
		HangRate:      fj.HangRate,
		HangApplied:   fj.HangApplied,
	}
	if fj.Latency != "" {
		d, err := time.ParseDuration(fj.Latency)
		if err != nil {
			return Faults{}, fmt.Errorf("parse latency: %w", err)
		}
		f.Latency = d
	}
	return f, nil
}

func decodeAdmin(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode request body: %w", err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
