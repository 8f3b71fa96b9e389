// Command serval-testmodel writes Serval's tiny generated GGUF test model
// (see integration/testsupport/ggufgen) to a file, or a model with the exact
// architecture of a real one and random weights:
//
//	serval-testmodel -o model.gguf [-seed N] [-name NAME] [-raw-bytes] [-layers N -embd N -heads N]
//	serval-testmodel -o model.gguf -shape qwen2.5-coder-0.5b|qwen2.5-coder-1.5b -type q8_0|f16|f32 [-seed N] [-layers N]
//	serval-testmodel -cache -shape 0.5b|1.5b -type q8_0|f16   writes the shaped model into the benchmarks' cache
//	                                                          (${XDG_CACHE_HOME:-~/.cache}/serval/models) unless there, prints its path
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/servalhq/serval/integration/testsupport/ggufgen"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "serval-testmodel:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serval-testmodel", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "output GGUF path (required)")
	seed := fs.Uint64("seed", 0, "random seed for the weights")
	name := fs.String("name", "", "general.name (default serval-test-tiny)")
	rawBytes := fs.Bool("raw-bytes", false, "let generation emit any byte, including invalid UTF-8")
	ctxLen := fs.Int("ctx", 0, "llama.context_length (default 8192)")
	layers := fs.Int("layers", 0, "transformer blocks (default 2)")
	embd := fs.Int("embd", 0, "embedding width, a multiple of -heads (default 64); 1024 with 8 layers makes a 320 MB model for device speed checks")
	heads := fs.Int("heads", 0, "attention heads (default 4)")
	shape := fs.String("shape", "", "write a model of this real architecture with random weights: "+strings.Join(ggufgen.ShapeNames(), ", "))
	typ := fs.String("type", "q8_0", "with -shape: the weight matrices' type, q8_0, f16 or f32")
	cache := fs.Bool("cache", false, "with -shape and no -o: use the benchmarks' cache and print the model's path")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if (*out == "") == (!*cache || *shape == "") || fs.NArg() != 0 {
		fs.Usage()
		return fmt.Errorf("usage: serval-testmodel -o FILE [-seed N] [-shape NAME -type TYPE]")
	}
	if *shape != "" {
		if *name != "" || *rawBytes || *ctxLen != 0 || *embd != 0 || *heads != 0 {
			return fmt.Errorf("-shape fixes the architecture: -name, -raw-bytes, -ctx, -embd and -heads do not apply")
		}
		t, err := ggufgen.ParseType(*typ)
		if err != nil {
			return err
		}
		opts := ggufgen.ShapeOptions{Shape: *shape, Type: t, Seed: *seed, Layers: *layers}
		if *cache {
			path, err := ggufgen.CachedShape(opts)
			if err == nil {
				fmt.Fprintln(stdout, path)
			}
			return err
		}
		return ggufgen.WriteShape(*out, opts)
	}
	return ggufgen.WriteTestModel(*out, ggufgen.Options{Seed: *seed, Name: *name, RawBytes: *rawBytes, ContextLength: *ctxLen,
		Layers: *layers, Embd: *embd, Heads: *heads})
}
