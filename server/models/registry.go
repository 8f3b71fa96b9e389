// Package models owns Serval's model registry: the built-in list of known
// GGUF models (download URL, sha256, FIM template, license), its extension
// or override by a TOML file, and Resolve, which turns a --model value into
// a local file, downloading registry models into the data directory with a
// resumable, hash-checked transfer. It does not read GGUF files; the engine
// validates them.
package models

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/servalhq/serval/server/prompt"
)

// Kind is what a model is for.
type Kind string

const (
	KindCompletion Kind = "completion" // fill-in-the-middle code completion
	KindChat       Kind = "chat"       // chat, with the chat template in its GGUF
)

// Entry describes one model of the registry.
type Entry struct {
	// Name is the registry name used with --model; it is also the directory
	// name under <data-dir>/models.
	Name     string `toml:"-"`
	Kind     Kind   `toml:"kind"`
	URL      string `toml:"url"`
	SHA256   string `toml:"sha256"`
	Template string `toml:"template"` // FIM template name or literal; "" for chat models
	License  string `toml:"license"`
}

// builtin is the registry that ships with Serval (shared/reference/models.md,
// after Tabby's registry-tabby models.json).
var builtin = []Entry{
	{"Qwen2.5-Coder-0.5B", KindCompletion, "https://huggingface.co/ikw/Qwen2.5-Coder-0.5B-GGUF/resolve/main/qwen2.5-coder-0.5b-q8_0.gguf", "a563b0822d92aa051118fe9e2a1bea30802ead74e464980cbeac058041daed6a", "qwen", "Apache 2.0"},
	{"Qwen2.5-Coder-1.5B", KindCompletion, "https://huggingface.co/ikw/Qwen2.5-Coder-1.5B-GGUF/resolve/main/qwen2.5-coder-1.5b-q8_0.gguf", "116f205cba3d96dfd6b6c1e37bef6149a6722c62687621200be218314eb2851b", "qwen", "Apache 2.0"},
	{"Qwen2.5-Coder-3B", KindCompletion, "https://huggingface.co/ikw/Qwen2.5-Coder-3B-GGUF/resolve/main/qwen2.5-coder-3b-q8_0.gguf", "db1141ead601b85a0a7acd00d318d83712201db89dc552f9b79952bf6cc89ab8", "qwen", "Apache 2.0"},
	{"Qwen2.5-Coder-7B", KindCompletion, "https://huggingface.co/ikw/Qwen2.5-Coder-7B-GGUF/resolve/main/qwen2.5-coder-7b-q8_0.gguf", "c80bf23d37f5e17f182c67302fdc4b141502ec50e10cf8464f22e522db3bd288", "qwen", "Apache 2.0"},
	{"StarCoder-1B", KindCompletion, "https://huggingface.co/TabbyML/models/resolve/main/starcoderbase-1B.Q8_0.gguf", "1bb6441486d102db03dac30c82d6b1029ee4f9f5d73f27444fa58cbfcd7cfa0f", "starcoder", "BigCode-OpenRAIL-M"},
	{"StarCoder-3B", KindCompletion, "https://huggingface.co/TabbyML/models/resolve/main/starcoderbase-3B.Q8_0.gguf", "9798b7cba84ade7c69ff9f033d60c954e16b18f4d01829993b5fe7e33a49ba81", "starcoder", "BigCode-OpenRAIL-M"},
	{"StarCoder2-3B", KindCompletion, "https://huggingface.co/nold/starcoder2-3b-GGUF/resolve/main/starcoder2-3b_Q8_0.gguf", "0499b8d046c56934c9741fd00c6206a5f7ca0eb42b59304ab7f4a20cd2f28ebf", "starcoder", "BigCode-OpenRAIL-M"},
	{"CodeLlama-7B", KindCompletion, "https://huggingface.co/TheBloke/CodeLlama-7B-GGUF/resolve/main/codellama-7b.Q8_0.gguf", "a4eaffa534306e0fc6be5a14cb7db02010546e21fefc32794f000c9b26822db3", "codellama", "Llama 2"},
	{"CodeGemma-2B", KindCompletion, "https://huggingface.co/TabbyML/models/resolve/main/codegemma-2b.Q8_0.gguf", "a5dc633538a2e152d8e9f69766135b4bffcc5611d6dd84200e280419f7dc1eba", "qwen", "Gemma"},
	{"Qwen2.5-Coder-0.5B-Instruct", KindChat, "https://huggingface.co/Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF/resolve/main/qwen2.5-coder-0.5b-instruct-q8_0.gguf", "e1a77721fa97d412f121878223eec81fb4ae6f271e18f922d746711f67b344d1", "", "Apache 2.0"},
	{"Qwen2.5-Coder-1.5B-Instruct", KindChat, "https://huggingface.co/Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF/resolve/main/qwen2.5-coder-1.5b-instruct-q8_0.gguf", "507de59046601282ba768a9789900e6ccf60ed93ddf346730b7c68eb0715bc47", "", "Apache 2.0"},
	{"Qwen2-1.5B-Instruct", KindChat, "https://huggingface.co/Qwen/Qwen2-1.5B-Instruct-GGUF/resolve/main/qwen2-1_5b-instruct-q8_0.gguf", "1fabf28bda17e96824bacc29e43b09ec4ba8a82d190f700cbdd1286586a05311", "", "Apache 2.0"},
}

// Registry is a set of model entries keyed by name (names match
// case-insensitively). The zero Registry is empty; use Builtin or
// LoadRegistry. A Registry is not modified after loading and is safe for
// concurrent use.
type Registry struct {
	entries map[string]Entry // keyed by strings.ToLower(Name)

	// Download tunes the network side of Resolve; zero fields get defaults.
	Download DownloadOptions
}

// Builtin returns the registry that ships with Serval.
func Builtin() *Registry {
	r := &Registry{entries: make(map[string]Entry, len(builtin))}
	for _, e := range append(builtin, servalTinyEntry) {
		r.entries[strings.ToLower(e.Name)] = e
	}
	return r
}

// registryFile is the TOML layout of a --registry file:
//
//	[models."My-Model"]
//	kind = "completion"
//	url = "https://example.com/my-model.gguf"
//	sha256 = "…64 hex digits…"
//	template = "qwen"
//	license = "MIT"
type registryFile struct {
	Models map[string]Entry `toml:"models"`
}

// LoadRegistry returns the built-in registry merged with the TOML file
// ("" means the built-in registry alone). A table whose name matches a
// built-in entry overrides only the fields it sets (for example just the
// url of a mirror); a new name adds an entry, which needs kind "completion"
// or "chat" (default "completion") and, when it has a url, a sha256.
func LoadRegistry(file string) (*Registry, error) {
	r := Builtin()
	if file == "" {
		return r, nil
	}
	var contents registryFile
	meta, err := toml.DecodeFile(file, &contents)
	if err != nil {
		return nil, fmt.Errorf("model registry %s: %w", file, err)
	}
	if undecoded := meta.Undecoded(); len(undecoded) > 0 {
		keys := make([]string, len(undecoded))
		for i, k := range undecoded {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("model registry %s: unknown keys %s (known: models.<name>.kind, url, sha256, template, license)", file, strings.Join(keys, ", "))
	}
	names := make([]string, 0, len(contents.Models))
	for name := range contents.Models {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		e := contents.Models[name]
		if base, ok := r.entries[strings.ToLower(name)]; ok {
			e = merge(base, e)
		} else {
			e.Name = name
		}
		if e.Kind == "" {
			e.Kind = KindCompletion
		}
		e.SHA256 = strings.ToLower(e.SHA256)
		if err := e.validate(); err != nil {
			return nil, fmt.Errorf("model registry %s: %w", file, err)
		}
		r.entries[strings.ToLower(e.Name)] = e
	}
	return r, nil
}

// merge overrides the fields of base that o sets.
func merge(base, o Entry) Entry {
	for _, f := range []struct {
		dst *string
		src string
	}{
		{(*string)(&base.Kind), string(o.Kind)}, {&base.URL, o.URL}, {&base.SHA256, o.SHA256},
		{&base.Template, o.Template}, {&base.License, o.License},
	} {
		if f.src != "" {
			*f.dst = f.src
		}
	}
	return base
}

func (e Entry) validate() error {
	if e.Name == "" || e.Name == "." || e.Name == ".." || strings.HasPrefix(e.Name, ".") ||
		strings.ContainsAny(e.Name, `/\:`) || !fs.ValidPath(e.Name) {
		return fmt.Errorf("model %q: the name must be usable as a directory name (no slashes, no leading dot)", e.Name)
	}
	if e.Kind != KindCompletion && e.Kind != KindChat {
		return fmt.Errorf("model %q: kind %q must be %q or %q", e.Name, e.Kind, KindCompletion, KindChat)
	}
	if e.URL != "" {
		u, err := url.Parse(e.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("model %q: url %q must be an http or https URL", e.Name, e.URL)
		}
		if !isSHA256(e.SHA256) {
			return fmt.Errorf("model %q: sha256 %q must be 64 hex digits (a download is only kept when its hash matches)", e.Name, e.SHA256)
		}
	} else if e.SHA256 != "" && !isSHA256(e.SHA256) {
		return fmt.Errorf("model %q: sha256 %q must be 64 hex digits", e.Name, e.SHA256)
	}
	if e.Template != "" {
		if _, err := prompt.ParseTemplate(e.Template); err != nil {
			return fmt.Errorf("model %q: %w", e.Name, err)
		}
	}
	return nil
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// Lookup returns the entry called name (case-insensitive).
func (r *Registry) Lookup(name string) (Entry, bool) {
	e, ok := r.entries[strings.ToLower(name)]
	return e, ok
}

// Names lists the registry's model names, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.entries))
	for _, e := range r.entries {
		names = append(names, e.Name)
	}
	sort.Strings(names)
	return names
}

// Entries lists the registry's entries, sorted by name.
func (r *Registry) Entries() []Entry {
	out := make([]Entry, 0, len(r.entries))
	for _, name := range r.Names() {
		out = append(out, r.entries[strings.ToLower(name)])
	}
	return out
}

// guessEntry describes a model file given by path: the registry entry whose
// download has the same file name, else an entry named after the file with
// the template guessed from the name.
func (r *Registry) guessEntry(file string) Entry {
	base := path.Base(strings.ReplaceAll(file, `\`, "/"))
	for _, e := range r.entries {
		if e.URL != "" && strings.EqualFold(path.Base(e.URL), base) {
			return e
		}
	}
	name := strings.TrimSuffix(base, path.Ext(base))
	e := Entry{Name: name, Kind: KindCompletion, Template: prompt.GuessTemplateName(base)}
	if strings.Contains(strings.ToLower(base), "instruct") {
		e.Kind = KindChat
	}
	return e
}

// ErrUnknownModel is wrapped by Resolve's error for a name that is neither a
// file nor a registry entry.
var ErrUnknownModel = errors.New("unknown model")

func statRegular(p string) (os.FileInfo, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", p)
	}
	return fi, nil
}
