package lsp

import (
	"context"

	"go.lsp.dev/jsonrpc2"
	"go.lsp.dev/protocol"
)

// FocusParams are serval/didFocus's: the document and the cursor's position.
type FocusParams struct {
	TextDocument protocol.TextDocumentIdentifier `json:"textDocument"`
	Position     protocol.Position               `json:"position"`
}

// didFocus hands the place the user went to to the agent, which warms the
// server's prompt cache for it (agent.Warm). Positions outside the
// document, and documents the agent does not complete, are ignored.
func (s *Server) didFocus(ctx context.Context, reply jsonrpc2.Replier, req jsonrpc2.Request) error {
	var p FocusParams
	if ok, err := s.decode(ctx, reply, req, &p); !ok {
		return err
	}
	if d, off, ok := s.position(string(p.TextDocument.URI), p.Position); ok {
		s.agent.Warm(agentDoc(d), off)
	}
	if _, isCall := req.(*jsonrpc2.Call); isCall {
		return reply(ctx, nil, nil)
	}
	return nil
}
