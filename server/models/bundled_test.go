package models

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	shipped "github.com/servalhq/serval/models"
)

// TestResolveBundledModelOffline: serval-tiny resolves to the copy built into
// the binary, installed into the data directory, without any request; a file
// there that is not exactly the bundled model (older, damaged) is replaced.
func TestResolveBundledModelOffline(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.Error(w, "no network", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	r := Builtin()
	r.Download.Client = srv.Client()
	dataDir := t.TempDir()

	path, e, err := r.Resolve(context.Background(), "serval-tiny", dataDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if path != ModelFile(dataDir, "serval-tiny") || e.Name != "serval-tiny" || e.Template != "qwen" || e.Kind != KindCompletion {
		t.Errorf("Resolve = %s, %+v", path, e)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, shipped.ServalTiny()) || len(got) < 1<<20 {
		t.Fatalf("installed %d bytes, want the %d bytes of the bundled model", len(got), len(shipped.ServalTiny()))
	}
	if e.SHA256 != shipped.ServalTinySHA256 {
		t.Errorf("entry sha256 %s, bundled %s", e.SHA256, shipped.ServalTinySHA256)
	}

	// A truncated copy (an interrupted install, an older model) is replaced.
	if err := os.WriteFile(path, got[:len(got)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Resolve(context.Background(), "Serval-Tiny", dataDir, nil); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(again, got) {
		t.Error("a damaged installed copy was not replaced")
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("%d network requests", n)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".bundled-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestResolveBundledModelUnwritableDataDir: a clear error when the data
// directory cannot take the model.
func TestResolveBundledModelUnwritableDataDir(t *testing.T) {
	dataDir := t.TempDir()
	// A file where the model directory should be.
	if err := os.MkdirAll(filepath.Join(dataDir, "models"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "models", "serval-tiny"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := Builtin().Resolve(context.Background(), "serval-tiny", dataDir, nil)
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("installing the copy built into serval")) {
		t.Fatalf("err = %v", err)
	}
}
