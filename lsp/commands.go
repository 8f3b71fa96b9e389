package lsp

import (
	"context"
	"os"
	"strings"

	"github.com/segmentio/encoding/json"
	"go.lsp.dev/jsonrpc2"

	"github.com/servalhq/serval/agent"
)

func (s *Server) executeCommand(ctx context.Context, reply jsonrpc2.Replier, req jsonrpc2.Request) error {
	var p struct {
		Command   string            `json:"command"`
		Arguments []json.RawMessage `json:"arguments"`
	}
	if ok, err := s.decode(ctx, reply, req, &p); !ok {
		return err
	}
	if p.Command == CommandSignIn {
		return s.async(ctx, reply, req, func(ctx context.Context, _ jsonrpc2.Request) (any, error) {
			return s.signIn(ctx, p.Arguments)
		})
	}
	if p.Command == CommandSignOut {
		return s.async(ctx, reply, req, func(ctx context.Context, _ jsonrpc2.Request) (any, error) {
			revoked, err := s.agent.SignOut(ctx)
			if err != nil {
				return nil, jsonrpc2.Errorf(jsonrpc2.InternalError, "%v", err)
			}
			return SignOutResult{Revoked: revoked}, nil
		})
	}
	if p.Command != CommandAccept {
		return reply(ctx, nil, jsonrpc2.Errorf(jsonrpc2.InvalidParams, "unknown command %q", p.Command))
	}
	var args AcceptArgs
	if len(p.Arguments) == 0 || json.Unmarshal(p.Arguments[0], &args) != nil {
		return reply(ctx, nil, jsonrpc2.Errorf(jsonrpc2.InvalidParams, "%s wants one argument {uri, completionId, choiceIndex}", CommandAccept))
	}
	s.agent.Accepted(args.URI, args.CompletionID, args.ChoiceIndex, false)
	return reply(ctx, nil, nil)
}

// itemArgs recovers the accept arguments an item carries.
func itemArgs(item InlineCompletionItem) (AcceptArgs, bool) {
	if item.Command == nil || len(item.Command.Arguments) == 0 {
		return AcceptArgs{}, false
	}
	raw, err := json.Marshal(item.Command.Arguments[0])
	if err != nil {
		return AcceptArgs{}, false
	}
	var a AcceptArgs
	if json.Unmarshal(raw, &a) != nil || a.CompletionID == "" {
		return AcceptArgs{}, false
	}
	return a, true
}

func (s *Server) didShowCompletion(ctx context.Context, reply jsonrpc2.Replier, req jsonrpc2.Request) error {
	var p DidShowCompletionParams
	if ok, err := s.decode(ctx, reply, req, &p); !ok {
		return err
	}
	if a, ok := itemArgs(p.Item); ok {
		s.agent.Shown(a.URI, a.CompletionID, a.ChoiceIndex)
	}
	if _, isCall := req.(*jsonrpc2.Call); isCall {
		return reply(ctx, nil, nil)
	}
	return nil
}

func (s *Server) didPartiallyAccept(ctx context.Context, reply jsonrpc2.Replier, req jsonrpc2.Request) error {
	var p DidPartiallyAcceptCompletionParams
	if ok, err := s.decode(ctx, reply, req, &p); !ok {
		return err
	}
	if a, ok := itemArgs(p.Item); ok {
		full := p.AcceptedLength >= UnitsInString(p.Item.InsertText, UTF16)
		s.agent.Accepted(a.URI, a.CompletionID, a.ChoiceIndex, !full)
	}
	if _, isCall := req.(*jsonrpc2.Call); isCall {
		return reply(ctx, nil, nil)
	}
	return nil
}

// signIn runs CommandSignIn: the agent's device sign-in, reporting the
// code to show as a serval/signIn notification; the answer carries the
// token for the editor to keep and pass back as server.token.
func (s *Server) signIn(ctx context.Context, rawArgs []json.RawMessage) (any, error) {
	var args SignInArgs
	if len(rawArgs) > 0 && string(rawArgs[0]) != "null" {
		if err := json.Unmarshal(rawArgs[0], &args); err != nil {
			return nil, jsonrpc2.Errorf(jsonrpc2.InvalidParams, "%s wants no argument or {deviceName}: %v", CommandSignIn, err)
		}
	}
	device := strings.TrimSpace(args.DeviceName)
	if device == "" {
		device = s.deviceName()
	}
	res, err := s.agent.SignIn(ctx, device, func(p agent.SignInPrompt) {
		s.Notify(MethodServalSignIn, p)
	})
	if err != nil {
		return nil, jsonrpc2.Errorf(jsonrpc2.InternalError, "%v", err)
	}
	return res, nil
}

// deviceName names this machine and editor for the token the server makes:
// "HOST (EDITOR)".
func (s *Server) deviceName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "editor"
	}
	if c := s.clientName.Load(); c != nil && *c != "" {
		return host + " (" + *c + ")"
	}
	return host
}
