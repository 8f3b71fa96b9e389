package httpapi

import (
	"fmt"

	"time"

	"github.com/servalhq/serval/server/api"
	"github.com/servalhq/serval/server/internal/httpx"
)

// Bounds of the /v1/events fields: every one is stored and later printed
// by `serval stats`, so none may be large or carry control characters.
const (
	maxEventIDBytes       = 128 // completion_id, view_id (Tabby's are ~40)
	maxEventLanguageBytes = 64
	maxEventKindBytes     = 32 // select_kind ("line")
	maxEventChoiceIndex   = 1024
	maxEventElapsed       = 24 * time.Hour
)

// checkEvent rejects an event with a field out of bounds, naming the field.
func checkEvent(ev *api.LogEventRequest) error {
	for _, f := range []struct {
		name, value string
		max         int
	}{
		{"completion_id", ev.CompletionID, maxEventIDBytes},
		{"view_id", ev.ViewID, maxEventIDBytes},
		{"language", ev.Language, maxEventLanguageBytes},
		{"select_kind", ev.SelectKind, maxEventKindBytes},
	} {
		if len(f.value) > f.max {
			return httpx.BadRequest("", fmt.Sprintf("%s: %d bytes, over the %d-byte limit", f.name, len(f.value), f.max))
		}
		for _, c := range []byte(f.value) {
			if c < 0x21 || c > 0x7e {
				return httpx.BadRequest("", fmt.Sprintf("%s: only printable ASCII without spaces is accepted", f.name))
			}
		}
	}
	if ev.ChoiceIndex < 0 || ev.ChoiceIndex >= maxEventChoiceIndex {
		return httpx.BadRequest("", fmt.Sprintf("choice_index: %d is outside 0..%d", ev.ChoiceIndex, maxEventChoiceIndex-1))
	}
	if ev.Elapsed != nil && (*ev.Elapsed < 0 || *ev.Elapsed > maxEventElapsed.Milliseconds()) {
		return httpx.BadRequest("", fmt.Sprintf("elapsed: %d ms is outside 0..%d", *ev.Elapsed, maxEventElapsed.Milliseconds()))
	}
	return nil
}
