package models

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	shipped "github.com/servalhq/serval/models"
)

// bundledModel is a model whose file is embedded in the binary: Resolve
// installs it into the data directory instead of downloading it.
type bundledModel struct {
	data   func() []byte
	sha256 string
}

var bundled = map[string]bundledModel{
	"serval-tiny": {data: shipped.ServalTiny, sha256: shipped.ServalTinySHA256},
}

// servalTinyEntry is the registry entry of the model Serval ships.
var servalTinyEntry = Entry{
	Name: shipped.ServalTinyName, Kind: KindCompletion, SHA256: shipped.ServalTinySHA256, Template: "qwen",
	License: "Serval's own (trained on BSD-3-Clause, PSF-2.0 and Apache-2.0 sources; models/serval-tiny/README.md)",
}

// OfflineHint is appended to errors of models that could not be fetched: it
// tells how to start with the model that needs no network.
const OfflineHint = "To start without network, use the small model Serval ships: --model serval-tiny (make run MODEL=serval-tiny)"

// installBundled writes a bundled model to dest unless dest already holds
// exactly it (a model file replaced by a newer Serval is rewritten), through
// a temporary file renamed into place.
func installBundled(b bundledModel, dest string) error {
	if f, err := os.Open(dest); err == nil {
		h := sha256.New()
		_, err := io.Copy(h, f)
		f.Close()
		if err == nil && hex.EncodeToString(h.Sum(nil)) == b.sha256 {
			return nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dest), ".bundled-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := io.Copy(tmp, bytes.NewReader(b.data())); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", dest, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", dest, err)
	}
	return os.Rename(tmp.Name(), dest)
}
