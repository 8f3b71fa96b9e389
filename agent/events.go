package agent

import (
	"context"
	"time"

	"github.com/servalhq/serval/server/api"
)

// Shown records that the editor shows a suggestion (a "view" event).
func (a *Agent) Shown(uri, id string, choice int) {
	if id == "" {
		return
	}
	a.mu.Lock()
	st := a.docs[uri]
	var lang string
	if st != nil {
		if st.shown != nil && st.shown.id == id && st.shown.choice == choice {
			a.mu.Unlock()
			return // shown again while typing along it
		}
		a.dismissLocked(st)
		st.shown = &shown{id: id, choice: choice, at: time.Now()}
		lang = st.language
	}
	a.mu.Unlock()
	a.logEvent(&api.LogEventRequest{Type: api.EventView, CompletionID: id, ChoiceIndex: choice, Language: lang})
}

// Accepted records that the user accepted a suggestion: all of it, or with
// partial set a part of it (a line or a word; select_kind "line"). What was
// accepted was on screen: unless it is the one last reported shown (an editor
// that cannot tell which candidate it shows, as VS Code when the user cycles
// with the toolbar's arrows), its view is recorded first.
func (a *Agent) Accepted(uri, id string, choice int, partial bool) {
	if id == "" {
		return
	}
	a.Shown(uri, id, choice)
	ev := &api.LogEventRequest{Type: api.EventSelect, CompletionID: id, ChoiceIndex: choice}
	if partial {
		ev.SelectKind = "line"
	}
	a.mu.Lock()
	if st := a.docs[uri]; st != nil {
		ev.Language = st.language
		if st.shown != nil && st.shown.id == id {
			st.shown.accepted = true
			ms := time.Since(st.shown.at).Milliseconds()
			ev.Elapsed = &ms
		}
		if !partial {
			st.last = nil
		}
	}
	a.mu.Unlock()
	a.logEvent(ev)
}

// dismissLocked reports the shown suggestion as dismissed unless it was accepted.
func (a *Agent) dismissLocked(st *docState) {
	if st.shown == nil {
		return
	}
	if !st.shown.accepted {
		ms := time.Since(st.shown.at).Milliseconds()
		a.logEvent(&api.LogEventRequest{Type: api.EventDismiss, CompletionID: st.shown.id, ChoiceIndex: st.shown.choice, Elapsed: &ms, Language: st.language})
	}
	st.shown = nil
}

// logEvent queues an event; a full queue drops it (events never slow typing).
func (a *Agent) logEvent(ev *api.LogEventRequest) {
	select {
	case a.events <- ev:
	default:
		a.log.Debug("event dropped: queue full", "type", ev.Type)
	}
}

// sendEvents posts queued events until the agent stops.
func (a *Agent) sendEvents() {
	for {
		select {
		case <-a.life.Done():
			return
		case ev := <-a.events:
			ctx, cancel := context.WithTimeout(a.life, 5*time.Second)
			if err := a.client.Load().LogEvent(ctx, ev); err != nil {
				a.log.Debug("event not delivered", "type", ev.Type, "err", err)
			}
			cancel()
		}
	}
}
