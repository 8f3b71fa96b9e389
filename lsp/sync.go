package lsp

import (
	"context"

	"go.lsp.dev/jsonrpc2"
	"go.lsp.dev/protocol"

	"github.com/servalhq/serval/agent"
)

func agentDoc(d *Document) agent.Document {
	return agent.Document{URI: d.URI, LanguageID: d.LanguageID, Version: d.Version, Text: d.Text}
}

func (s *Server) didOpen(ctx context.Context, reply jsonrpc2.Replier, req jsonrpc2.Request) error {
	var p protocol.DidOpenTextDocumentParams
	if ok, err := s.decode(ctx, reply, req, &p); !ok {
		return err
	}
	if prev := s.store.Get(string(p.TextDocument.URI)); prev != nil && prev.Completable() {
		s.agent.DidClose(prev.URI)
	}
	d := s.store.Open(string(p.TextDocument.URI), string(p.TextDocument.LanguageID), p.TextDocument.Version, p.TextDocument.Text)
	if d.Completable() {
		s.agent.DidOpen(agentDoc(d))
	}
	return nil
}

func (s *Server) didChange(ctx context.Context, reply jsonrpc2.Replier, req jsonrpc2.Request) error {
	var p DidChangeTextDocumentParams
	if ok, err := s.decode(ctx, reply, req, &p); !ok {
		return err
	}
	uri := string(p.TextDocument.URI)
	before := s.store.Get(uri)
	d, edits, err := s.store.Change(uri, p.TextDocument.Version, p.ContentChanges, s.enc)
	if err != nil {
		s.log.Debug("didChange ignored", "err", err)
		return nil
	}
	switch {
	case d.Completable():
		if !before.Completable() {
			s.agent.DidOpen(agentDoc(d)) // a full replacement made it usable again
		} else {
			s.agent.DidChange(agentDoc(d), edits)
		}
	case before.Completable():
		s.agent.DidClose(uri) // it just became binary or too large
	}
	return nil
}

func (s *Server) didClose(ctx context.Context, reply jsonrpc2.Replier, req jsonrpc2.Request) error {
	var p protocol.DidCloseTextDocumentParams
	if ok, err := s.decode(ctx, reply, req, &p); !ok {
		return err
	}
	uri := string(p.TextDocument.URI)
	if d := s.store.Get(uri); d != nil {
		if d.Completable() {
			s.agent.DidClose(uri)
		}
		s.store.Close(uri)
	}
	return nil
}
