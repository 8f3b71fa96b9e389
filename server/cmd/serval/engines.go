package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/servalhq/serval/server/backend"
	"github.com/servalhq/serval/server/engine/llama"
	"github.com/servalhq/serval/server/models"
)

// defaultModel is served when neither --model nor --config names one.
const defaultModel = "Qwen2.5-Coder-0.5B"

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, " ") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// servedEngines are the opened completion and (optional) chat models.
type servedEngines struct {
	completion *backend.Model
	chat       *backend.Model // nil: chat answers 501
	// promptTemplate is --prompt-template, else the config file's.
	promptTemplate string
	closers        []*backend.Model
}

func (s *servedEngines) close() {
	for _, m := range s.closers {
		m.Close()
	}
}

// openEngines turns --model, --chat-model and --config into engines. Flags
// given on the command line win over the config file's lists.
func openEngines(ctx context.Context, cfg *serveConfig, fs *flag.FlagSet, reg *models.Registry, getenv env, log io.Writer) (*servedEngines, error) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	completionSpecs, err := backend.ParseSpecs("--model", cfg.models)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	chatSpecs, err := backend.ParseSpecs("--chat-model", cfg.chatModels)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	out := &servedEngines{promptTemplate: cfg.promptTemplate}
	var poolCfg backend.PoolSettings
	if cfg.configFile != "" {
		file, err := backend.LoadFile(cfg.configFile)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		poolCfg = file.Pool
		if len(completionSpecs) == 0 {
			completionSpecs, _ = file.Model.Completion.Specs("--config model.completion.upstream")
		}
		if len(chatSpecs) == 0 {
			chatSpecs, _ = file.Model.Chat.Specs("--config model.chat.upstream")
		}
		if out.promptTemplate == "" {
			out.promptTemplate = file.Model.Completion.PromptTemplate
		}
	}
	if len(completionSpecs) == 0 {
		completionSpecs = []backend.Spec{{Kind: backend.Local, Model: defaultModel}}
	}

	opts := backend.Options{
		OllamaPull:    cfg.ollamaPull,
		OllamaCPUOnly: set["device"] && cfg.device == "cpu",
		Getenv:        getenv,
		Log:           log,
		Registry:      reg,
		DataDir:       cfg.dataDir,
		Pool:          poolCfg.PoolConfig(),
		Llama: llama.Config{
			LibDir:   cfg.resolvedLibDir(getenv),
			Device:   cfg.device,
			Parallel: cfg.parallel,
			MaxQueue: cfg.maxQueue,
			MaxWait:  cfg.maxQueueWait,
			CtxSize:  cfg.ctxSize,
			Threads:  cfg.threads,
		},
	}
	if usesOllama(completionSpecs) || usesOllama(chatSpecs) {
		if opts.OllamaURL, err = backend.ResolveOllamaURL(cfg.ollamaURL, getenv); err != nil {
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
	}

	out.completion, err = backend.Open(ctx, "--model", completionSpecs, opts)
	if err != nil {
		return nil, err
	}
	out.closers = append(out.closers, out.completion)
	switch {
	case len(chatSpecs) > 0 && sameLocal(chatSpecs, out.completion):
		out.chat = out.completion // one in-process model serves both
	case len(chatSpecs) > 0:
		out.chat, err = backend.Open(ctx, "--chat-model", chatSpecs, opts)
		if err != nil {
			out.close()
			return nil, err
		}
		out.closers = append(out.closers, out.chat)
	case out.completion.Entry.Kind == models.KindChat:
		out.chat = out.completion // an instruct model given as --model chats too
	}
	return out, nil
}

func usesOllama(specs []backend.Spec) bool {
	for _, s := range specs {
		if s.Kind == backend.Ollama {
			return true
		}
	}
	return false
}

// sameLocal reports whether chat names the in-process model m already loaded.
func sameLocal(chat []backend.Spec, m *backend.Model) bool {
	return len(chat) == 1 && chat[0].Kind == backend.Local && !m.Remote &&
		(chat[0].Model == m.Specs[0].Model)
}
