package lsp

import (
	"context"

	"github.com/segmentio/encoding/json"
	"go.lsp.dev/jsonrpc2"
	"go.lsp.dev/protocol"

	"github.com/servalhq/serval/agent"
)

func (s *Server) initialize(ctx context.Context, reply jsonrpc2.Replier, req jsonrpc2.Request) error {
	var p InitializeParams
	if ok, err := s.decode(ctx, reply, req, &p); !ok {
		return err
	}
	if s.state.Load() != stateUninitialized {
		return reply(ctx, nil, jsonrpc2.Errorf(jsonrpc2.InvalidRequest, "initialize sent twice"))
	}
	var offered []string
	if p.Capabilities.General != nil {
		offered = p.Capabilities.General.PositionEncodings
	}
	s.enc = NegotiateEncoding(offered)
	if p.ClientInfo != nil {
		name := p.ClientInfo.Name
		s.clientName.Store(&name)
	}

	if len(p.InitializationOptions) > 0 {
		c, err := agent.ParseConfigJSON(p.InitializationOptions)
		if err == nil {
			err = s.agent.SetConfigLayer(agent.LayerInitOptions, c)
		}
		if err != nil {
			s.log.Warn("initializationOptions ignored", "err", err)
		}
	}
	folders := make([]string, 0, len(p.WorkspaceFolders)+1)
	for _, f := range p.WorkspaceFolders {
		folders = append(folders, f.URI)
	}
	if len(folders) == 0 && p.RootURI != "" {
		folders = append(folders, p.RootURI)
	}
	for _, f := range folders {
		s.addFolder(f)
	}

	inline := p.Capabilities.TextDocument != nil && p.Capabilities.TextDocument.InlineCompletion != nil
	caps := ServerCapabilities{
		PositionEncoding:         s.enc,
		TextDocumentSync:         TextDocumentSyncOptions{OpenClose: true, Change: protocol.TextDocumentSyncKindIncremental},
		InlineCompletionProvider: &InlineCompletionOptions{},
		ExecuteCommandProvider:   &protocol.ExecuteCommandOptions{Commands: []string{CommandAccept, CommandSignIn, CommandSignOut}},
		Workspace: &protocol.ServerCapabilitiesWorkspace{
			WorkspaceFolders: &protocol.ServerCapabilitiesWorkspaceFolders{Supported: true, ChangeNotifications: true},
		},
	}
	if !inline {
		// Editors without inline completion get the suggestion in the completion popup.
		caps.CompletionProvider = &protocol.CompletionOptions{}
	}
	s.state.Store(stateRunning)
	err := reply(ctx, InitializeResult{Capabilities: caps, ServerInfo: &ServerInfo{Name: s.opts.Name, Version: s.opts.Version}}, nil)
	// Health checks and status notifications start after the answer: LSP
	// allows no notifications before it.
	s.agent.Start()
	return err
}

// addFolder tells the agent about a workspace folder, off the reader.
func (s *Server) addFolder(uri string) {
	path := agent.FilePath(uri)
	if path == "" {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.agent.AddWorkspaceFolder(s.lifeCtx, path); err != nil {
			s.log.Warn("workspace folder", "path", path, "err", err)
		}
	}()
}

func (s *Server) didChangeWorkspaceFolders(ctx context.Context, reply jsonrpc2.Replier, req jsonrpc2.Request) error {
	var p protocol.DidChangeWorkspaceFoldersParams
	if ok, err := s.decode(ctx, reply, req, &p); !ok {
		return err
	}
	for _, f := range p.Event.Removed {
		if path := agent.FilePath(f.URI); path != "" {
			s.agent.RemoveWorkspaceFolder(path)
		}
	}
	for _, f := range p.Event.Added {
		s.addFolder(f.URI)
	}
	return nil
}

func (s *Server) didChangeConfiguration(ctx context.Context, reply jsonrpc2.Replier, req jsonrpc2.Request) error {
	var p struct {
		Settings struct {
			Serval json.RawMessage `json:"serval"`
		} `json:"settings"`
	}
	if ok, err := s.decode(ctx, reply, req, &p); !ok {
		return err
	}
	c, err := agent.ParseConfigJSON(p.Settings.Serval)
	if err == nil {
		err = s.agent.SetConfigLayer(agent.LayerClient, c)
	}
	if err != nil {
		s.log.Warn("settings ignored", "err", err)
	}
	return nil
}
