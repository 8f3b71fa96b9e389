package lsp

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/segmentio/encoding/json"
	"go.lsp.dev/jsonrpc2"
	"go.lsp.dev/protocol"

	"github.com/servalhq/serval/agent"
)

// position resolves a request position to a live, completable document and
// a byte offset; ok is false for unknown documents, inert ones, and
// positions past the end.
func (s *Server) position(uri string, pos protocol.Position) (*Document, int, bool) {
	d := s.store.Get(uri)
	if d == nil || !d.Completable() {
		return nil, 0, false
	}
	off, exact := d.Offset(pos, s.enc)
	if !exact {
		return nil, 0, false
	}
	return d, off, true
}

func (s *Server) inlineCompletion(ctx context.Context, req jsonrpc2.Request) (any, error) {
	var p InlineCompletionParams
	if err := json.Unmarshal(req.Params(), &p); err != nil {
		return nil, jsonrpc2.Errorf(jsonrpc2.InvalidParams, "%s: %v", req.Method(), err)
	}
	empty := InlineCompletionList{Items: []InlineCompletionItem{}}
	uri := string(p.TextDocument.URI)
	d, off, ok := s.position(uri, p.Position)
	if !ok {
		return empty, nil
	}
	// An explicit request (the user invoked it, or cycles through the
	// suggestions in VS Code) gets several candidates.
	areq := agent.Request{Document: agentDoc(d), Offset: off, Trigger: agent.Automatic}
	if p.Context.TriggerKind == InlineTriggerInvoked {
		areq.Trigger, areq.Candidates = agent.Invoked, agent.InvokedCandidates
	}
	res, err := s.agent.Suggest(ctx, areq)
	if err != nil {
		return nil, err
	}
	list := InlineCompletionList{Items: make([]InlineCompletionItem, 0, len(res.Items))}
	for _, it := range res.Items {
		text := it.Text
		start, end := it.Start, it.End
		if sel := p.Context.SelectedCompletionInfo; sel != nil {
			// The item must extend the popup's selection over its range.
			ss, _ := d.Offset(sel.Range.Start, s.enc)
			se, _ := d.Offset(sel.Range.End, s.enc)
			if ss > off || se < off {
				continue
			}
			typed := string(d.Text[ss:off])
			full := typed + text
			if !strings.HasPrefix(full, sel.Text) {
				continue
			}
			text, start, end = full, ss, max(end, se)
		}
		rng := protocol.Range{Start: d.Position(start, s.enc), End: d.Position(end, s.enc)}
		list.Items = append(list.Items, InlineCompletionItem{
			InsertText: text,
			Range:      &rng,
			Command:    acceptCommand(uri, res.ID, it.Choice),
		})
	}
	return list, nil
}

func acceptCommand(uri, id string, choice int) *protocol.Command {
	return &protocol.Command{
		Title:     "Accept completion",
		Command:   CommandAccept,
		Arguments: []any{AcceptArgs{URI: uri, CompletionID: id, ChoiceIndex: choice}},
	}
}

// completion is the fallback for editors without inline completion: the
// suggestion as a popup item whose edit replaces the word before the cursor
// with the word plus the completion (so the editor's filtering keeps it).
func (s *Server) completion(ctx context.Context, req jsonrpc2.Request) (any, error) {
	var p CompletionParams
	if err := json.Unmarshal(req.Params(), &p); err != nil {
		return nil, jsonrpc2.Errorf(jsonrpc2.InvalidParams, "%s: %v", req.Method(), err)
	}
	empty := CompletionList{IsIncomplete: true, Items: []CompletionItem{}}
	uri := string(p.TextDocument.URI)
	d, off, ok := s.position(uri, p.Position)
	if !ok {
		return empty, nil
	}
	trigger := agent.Automatic
	if p.Context != nil && p.Context.TriggerKind == completionTriggerInvoked {
		trigger = agent.Invoked
	}
	res, err := s.agent.Suggest(ctx, agent.Request{Document: agentDoc(d), Offset: off, Trigger: trigger})
	if err != nil {
		return nil, err
	}
	wordStart := off
	for wordStart > 0 {
		r, size := utf8.DecodeLastRune(d.Text[:wordStart])
		if !(r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r > 0x7f && r != utf8.RuneError) {
			break
		}
		wordStart -= size
	}
	word := string(d.Text[wordStart:off])
	list := CompletionList{IsIncomplete: true, Items: make([]CompletionItem, 0, len(res.Items))}
	for _, it := range res.Items {
		newText := word + it.Text
		label := strings.TrimSpace(newText)
		if i := strings.IndexAny(label, "\r\n"); i >= 0 {
			label = strings.TrimSpace(label[:i]) + " …"
		}
		list.Items = append(list.Items, CompletionItem{
			Label:            label,
			LabelDetails:     &CompletionItemLabelDetails{Description: "serval"},
			Kind:             protocol.CompletionItemKindText,
			Detail:           it.Text,
			FilterText:       newText,
			SortText:         "0",
			Preselect:        true,
			InsertTextFormat: protocol.InsertTextFormatPlainText,
			TextEdit: &protocol.TextEdit{
				Range:   protocol.Range{Start: d.Position(wordStart, s.enc), End: d.Position(it.End, s.enc)},
				NewText: newText,
			},
			Command: acceptCommand(uri, res.ID, it.Choice),
		})
	}
	return list, nil
}
