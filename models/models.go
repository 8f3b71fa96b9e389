// Package models holds the model files Serval ships in its repository:
// serval-tiny, a small code-completion model the project trains itself
// (models/serval-tiny: its card, training scripts and GGUF file), embedded in
// the binaries so that `serval serve --model serval-tiny` works without
// network. The server's registry (server/models) installs it from here.
package models

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
)

// ServalTinyName is serval-tiny's registry name.
const ServalTinyName = "serval-tiny"

//go:embed serval-tiny/serval-tiny.gguf
var servalTiny []byte

// ServalTiny returns serval-tiny's GGUF file. The slice is shared: callers
// must not modify it.
func ServalTiny() []byte { return servalTiny }

// ServalTinySHA256 is the hex sha256 of ServalTiny.
var ServalTinySHA256 = func() string {
	sum := sha256.Sum256(servalTiny)
	return hex.EncodeToString(sum[:])
}()
