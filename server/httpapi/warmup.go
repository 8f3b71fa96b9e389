package httpapi

import (
	"net/http"

	"github.com/servalhq/serval/server/api"
	"github.com/servalhq/serval/server/completion"
	"github.com/servalhq/serval/server/prompt"
)

// warm serves a completion request with "warmup": true: the prompt is
// evaluated into the engine's cache at the lowest priority and nothing is
// generated (completion.Service.Warm). The answer has no choices; with
// debug_options it carries the usage (how much of the prompt was
// evaluated). A warm-up is not a completion: it is left out of the
// completion metrics and events.
func (s *Server) warm(w http.ResponseWriter, r *http.Request, req *api.CompletionRequest, creq *completion.Request) {
	if req.Stream {
		s.fail(w, r, &prompt.FieldError{Field: "stream", Reason: "a warm-up generates nothing to stream"})
		return
	}
	markWarmup(r)
	u, warmed, err := s.svc.Warm(r.Context(), creq)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	resp := api.CompletionResponse{Choices: []api.Choice{}}
	if req.DebugOptions != nil && warmed {
		resp.DebugData = &api.DebugData{Usage: usage(u)}
	}
	writeJSON(w, http.StatusOK, resp)
}
