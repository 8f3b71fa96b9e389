package lsp

import (
	"encoding/json"

	"go.lsp.dev/protocol"
)

// This file declares the protocol shapes go.lsp.dev/protocol v0.12 lacks:
// LSP 3.17 position encodings, LSP 3.18 inline completion, the Copilot-style
// notifications editors already send, and Serval's own status notification.

// Methods Serval handles beyond go.lsp.dev/protocol's list.
const (
	MethodInlineCompletion             = "textDocument/inlineCompletion"
	MethodDidShowCompletion            = "textDocument/didShowCompletion"
	MethodDidPartiallyAcceptCompletion = "textDocument/didPartiallyAcceptCompletion"
	MethodDidChangeStatus              = "didChangeStatus" // Copilot's status notification
	MethodServalStatus                 = "serval/status"
	// MethodServalDidFocus is the editor's notification that the user
	// focused a document or moved the cursor to a new place and stopped
	// there (FocusParams): the agent warms the server's prompt cache for it.
	MethodServalDidFocus = "serval/didFocus"
	MethodCancelRequest  = "$/cancelRequest"

	// CommandAccept is the command every item carries; the editor runs it
	// when the user accepts the item.
	CommandAccept = "serval.acceptCompletion"
	// CommandSignIn signs the editor in to the server (RFC 8628 device
	// authorization): optional argument SignInArgs; the answer is an
	// agent.SignInResult with the token; meanwhile MethodServalSignIn
	// carries the code to show.
	CommandSignIn = "serval.signIn"
	// CommandSignOut revokes the agent's token on the server (the token
	// revokes itself, RFC 7009) before the editor forgets it; the answer
	// is SignOutResult. Not "serval.signOut": editors name their own
	// command so (VS Code's would clash with the one the client registers).
	CommandSignOut = "serval.revokeToken"
	// MethodServalSignIn is the notification with the code the user
	// approves in the browser (agent.SignInPrompt).
	MethodServalSignIn = "serval/signIn"
)

// SignInArgs is CommandSignIn's optional argument.
type SignInArgs struct {
	// DeviceName names the token the server makes; default "HOST (EDITOR)".
	DeviceName string `json:"deviceName,omitempty"`
}

// SignOutResult is CommandSignOut's answer.
type SignOutResult struct {
	// Revoked: the server revoked the token; false when the agent had none.
	Revoked bool `json:"revoked"`
}

// InitializeParams is the part of initialize's params the agent reads.
type InitializeParams struct {
	ProcessID             int32                      `json:"processId,omitempty"`
	ClientInfo            *protocol.ClientInfo       `json:"clientInfo,omitempty"`
	RootURI               string                     `json:"rootUri,omitempty"`
	RootPath              string                     `json:"rootPath,omitempty"`
	WorkspaceFolders      []protocol.WorkspaceFolder `json:"workspaceFolders,omitempty"`
	InitializationOptions json.RawMessage            `json:"initializationOptions,omitempty"`
	Capabilities          ClientCapabilities         `json:"capabilities"`
}

// ClientCapabilities is the part of the client's capabilities the agent reads.
type ClientCapabilities struct {
	General *struct {
		PositionEncodings []string `json:"positionEncodings,omitempty"`
	} `json:"general,omitempty"`
	TextDocument *struct {
		InlineCompletion *struct {
			DynamicRegistration bool `json:"dynamicRegistration,omitempty"`
		} `json:"inlineCompletion,omitempty"`
	} `json:"textDocument,omitempty"`
}

// InitializeResult is initialize's answer.
type InitializeResult struct {
	Capabilities ServerCapabilities `json:"capabilities"`
	ServerInfo   *ServerInfo        `json:"serverInfo,omitempty"`
}

// ServerInfo names the server.
type ServerInfo struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
}

// ServerCapabilities lists what serval-agent offers.
type ServerCapabilities struct {
	PositionEncoding         PositionEncoding                      `json:"positionEncoding,omitempty"`
	TextDocumentSync         TextDocumentSyncOptions               `json:"textDocumentSync"`
	InlineCompletionProvider *InlineCompletionOptions              `json:"inlineCompletionProvider,omitempty"`
	CompletionProvider       *protocol.CompletionOptions           `json:"completionProvider,omitempty"`
	ExecuteCommandProvider   *protocol.ExecuteCommandOptions       `json:"executeCommandProvider,omitempty"`
	Workspace                *protocol.ServerCapabilitiesWorkspace `json:"workspace,omitempty"`
}

// TextDocumentSyncOptions asks for open/close and incremental changes.
type TextDocumentSyncOptions struct {
	OpenClose bool                          `json:"openClose"`
	Change    protocol.TextDocumentSyncKind `json:"change"`
}

// InlineCompletionOptions is LSP 3.18's inlineCompletionProvider.
type InlineCompletionOptions struct {
	WorkDoneProgress bool `json:"workDoneProgress,omitempty"`
}

// InlineCompletionTriggerKind says why inline completion was requested.
type InlineCompletionTriggerKind int

// The trigger kinds.
const (
	InlineTriggerInvoked   InlineCompletionTriggerKind = 1
	InlineTriggerAutomatic InlineCompletionTriggerKind = 2
)

// SelectedCompletionInfo is the item selected in the completion popup.
type SelectedCompletionInfo struct {
	Range protocol.Range `json:"range"`
	Text  string         `json:"text"`
}

// InlineCompletionContext is the context of an inline completion request.
type InlineCompletionContext struct {
	TriggerKind            InlineCompletionTriggerKind `json:"triggerKind"`
	SelectedCompletionInfo *SelectedCompletionInfo     `json:"selectedCompletionInfo,omitempty"`
}

// InlineCompletionParams are textDocument/inlineCompletion's params.
type InlineCompletionParams struct {
	TextDocument protocol.TextDocumentIdentifier `json:"textDocument"`
	Position     protocol.Position               `json:"position"`
	Context      InlineCompletionContext         `json:"context"`
}

// InlineCompletionItem is one inline suggestion.
type InlineCompletionItem struct {
	InsertText string            `json:"insertText"`
	FilterText string            `json:"filterText,omitempty"`
	Range      *protocol.Range   `json:"range,omitempty"`
	Command    *protocol.Command `json:"command,omitempty"`
}

// InlineCompletionList is textDocument/inlineCompletion's answer.
type InlineCompletionList struct {
	Items []InlineCompletionItem `json:"items"`
}

// AcceptArgs is the argument of CommandAccept, carried by every item.
type AcceptArgs struct {
	URI          string `json:"uri"`
	CompletionID string `json:"completionId"`
	ChoiceIndex  int    `json:"choiceIndex"`
}

// DidShowCompletionParams is Copilot's textDocument/didShowCompletion.
type DidShowCompletionParams struct {
	Item InlineCompletionItem `json:"item"`
}

// DidPartiallyAcceptCompletionParams is Copilot's
// textDocument/didPartiallyAcceptCompletion; AcceptedLength counts UTF-16
// units from the start of the item's insertText.
type DidPartiallyAcceptCompletionParams struct {
	Item           InlineCompletionItem `json:"item"`
	AcceptedLength int                  `json:"acceptedLength"`
}

// DidChangeTextDocumentParams is didChange's params with changes that
// distinguish a full replacement (no range) from an edit at 0:0.
type DidChangeTextDocumentParams struct {
	TextDocument   protocol.VersionedTextDocumentIdentifier `json:"textDocument"`
	ContentChanges []TextChange                             `json:"contentChanges"`
}

// StatusParams is Serval's serval/status notification.
type StatusParams struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

// DidChangeStatusParams is Copilot's didChangeStatus notification; Kind is
// Normal, Error, Warning or Inactive.
type DidChangeStatusParams struct {
	Kind    string `json:"kind"`
	Message string `json:"message,omitempty"`
	Busy    bool   `json:"busy"`
}

// CompletionItemLabelDetails is LSP 3.17's labelDetails.
type CompletionItemLabelDetails struct {
	Detail      string `json:"detail,omitempty"`
	Description string `json:"description,omitempty"`
}

// CompletionItem is the fallback completion item (protocol v0.12 lacks labelDetails).
type CompletionItem struct {
	Label            string                      `json:"label"`
	LabelDetails     *CompletionItemLabelDetails `json:"labelDetails,omitempty"`
	Kind             protocol.CompletionItemKind `json:"kind,omitempty"`
	Detail           string                      `json:"detail,omitempty"`
	SortText         string                      `json:"sortText,omitempty"`
	FilterText       string                      `json:"filterText,omitempty"`
	InsertTextFormat protocol.InsertTextFormat   `json:"insertTextFormat,omitempty"`
	TextEdit         *protocol.TextEdit          `json:"textEdit,omitempty"`
	Command          *protocol.Command           `json:"command,omitempty"`
	Preselect        bool                        `json:"preselect,omitempty"`
}

// CompletionList is the fallback completion answer.
type CompletionList struct {
	IsIncomplete bool             `json:"isIncomplete"`
	Items        []CompletionItem `json:"items"`
}

// completionTriggerInvoked is LSP's CompletionTriggerKind.Invoked: the user
// asked for completions (the other kinds are typing).
const completionTriggerInvoked = 1

// CompletionParams is textDocument/completion's params.
type CompletionParams struct {
	TextDocument protocol.TextDocumentIdentifier `json:"textDocument"`
	Position     protocol.Position               `json:"position"`
	Context      *struct {
		TriggerKind int `json:"triggerKind"`
	} `json:"context,omitempty"`
}
