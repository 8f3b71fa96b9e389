package httpapi

import (
	"net/http"
	"time"

	"github.com/servalhq/serval/server/api"
	"github.com/servalhq/serval/server/auth"
	"github.com/servalhq/serval/server/store"
)

// handleHealth serves GET|POST /v1/health with every field Tabby's agents read.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	info := s.svc.Engine().Info()
	h := s.health
	h.Model = info.Model
	h.Device = info.Device
	if len(info.CUDADevices) > 0 {
		h.CUDADevices = info.CUDADevices
	}
	h.Models = &api.HealthModels{Completion: info.Model}
	h.Slots = &api.SlotState{Total: info.Slots, Busy: info.Busy, Queued: info.Queued, MaxQueue: info.MaxQueue}
	for _, u := range info.Upstreams {
		h.Upstreams = append(h.Upstreams, api.UpstreamState{Name: u.Name, URL: u.URL, Role: "completion", Healthy: u.Healthy, InFlight: u.InFlight, LastError: u.LastError})
	}
	if s.chat != nil {
		chat := s.chat.Info()
		h.ChatModel, h.ChatDevice, h.Models.Chat = chat.Model, chat.Device, chat.Model
		if s.chat != s.svc.Engine() {
			for _, u := range chat.Upstreams {
				h.Upstreams = append(h.Upstreams, api.UpstreamState{Name: u.Name, URL: u.URL, Role: "chat", Healthy: u.Healthy, InFlight: u.InFlight, LastError: u.LastError})
			}
		}
	}
	writeJSON(w, http.StatusOK, h)
}

// handleEvents serves POST /v1/events: view/select/dismiss reports, stored
// with the token's name and the completion's language.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	var ev api.LogEventRequest
	if err := decodeJSON(w, r, &ev); err != nil {
		s.fail(w, r, err)
		return
	}
	// tabby-agent signals a line-wise accept in the query.
	if kind := r.URL.Query().Get("select_kind"); kind != "" {
		ev.SelectKind = kind
	}
	switch ev.Type {
	case api.EventView, api.EventSelect, api.EventDismiss:
	default:
		writeError(w, http.StatusBadRequest, "type: must be view, select or dismiss, got "+quote(ev.Type))
		return
	}
	if err := checkEvent(&ev); err != nil {
		s.fail(w, r, err)
		return
	}
	lang := ev.Language
	if lang == "" {
		lang = s.svc.Language(ev.CompletionID)
	}
	tokenName := auth.TokenName(r.Context())
	if tokenName == "" {
		tokenName = "anonymous"
	}
	var elapsed *time.Duration
	if ev.Elapsed != nil {
		d := time.Duration(*ev.Elapsed) * time.Millisecond
		elapsed = &d
	}
	var latency *time.Duration
	if d := s.svc.Latency(ev.CompletionID); d > 0 && ev.Type == api.EventView {
		latency = &d
	}
	err := s.store.AddEvent(r.Context(), store.Event{
		TokenName:    tokenName,
		Type:         ev.Type,
		CompletionID: ev.CompletionID,
		ChoiceIndex:  ev.ChoiceIndex,
		ViewID:       ev.ViewID,
		Elapsed:      elapsed,
		SelectKind:   ev.SelectKind,
		Language:     lang,
		Latency:      latency,
	})
	if err != nil && r.Context().Err() == nil {
		s.events.dropped(w, err)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.events.stored()
	w.WriteHeader(http.StatusOK)
}

// handleServerSetting serves GET /v1beta/server_setting. Serval collects no
// telemetry and tells Tabby's agents not to send theirs to its vendor.
func (s *Server) handleServerSetting(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, api.ServerSetting{DisableClientSideTelemetry: true})
}

func quote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return "\"" + s + "\""
}
