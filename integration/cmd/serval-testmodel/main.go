// Command serval-testmodel writes Serval's tiny generated GGUF test model
// (see integration/testsupport/ggufgen) to a file, or a model with the exact
// architecture of a real one and random weights:
//
//	serval-testmodel -o model.gguf [-seed N] [-name NAME] [-raw-bytes] [-layers N -embd N -heads N]
//	serval-testmodel -o model.gguf -shape qwen2.5-coder-0.5b|qwen2.5-coder-1.5b -type q8_0|f16|f32 [-seed N] [-layers N]
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
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "serval-testmodel:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
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
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() != 0 {
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
		return ggufgen.WriteShape(*out, ggufgen.ShapeOptions{Shape: *shape, Type: t, Seed: *seed, Layers: *layers})
	}
	return ggufgen.WriteTestModel(*out, ggufgen.Options{Seed: *seed, Name: *name, RawBytes: *rawBytes, ContextLength: *ctxLen,
		Layers: *layers, Embd: *embd, Heads: *heads})
}
