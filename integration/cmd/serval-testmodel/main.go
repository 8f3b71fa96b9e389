// Command serval-testmodel writes Serval's tiny generated GGUF test model
// (see integration/testsupport/ggufgen) to a file.
//
//	serval-testmodel -o model.gguf [-seed N] [-name NAME] [-raw-bytes] [-layers N -embd N -heads N]
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

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
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() != 0 {
		fs.Usage()
		return fmt.Errorf("usage: serval-testmodel -o FILE [-seed N]")
	}
	return ggufgen.WriteTestModel(*out, ggufgen.Options{Seed: *seed, Name: *name, RawBytes: *rawBytes, ContextLength: *ctxLen,
		Layers: *layers, Embd: *embd, Heads: *heads})
}
