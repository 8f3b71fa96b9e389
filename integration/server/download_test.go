package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/ggufgen"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
)

// TestRegistryModelIsDownloaded runs the real download path of `serval serve`:
// a registry entry (from --registry) points at a loopback server serving the
// generated model; the first start downloads and verifies it (the first
// transfer is cut in the middle, so the download must resume), a second start
// uses the file with no request at all.
func TestRegistryModelIsDownloaded(t *testing.T) {
	model, err := os.ReadFile(servaltest.TestModel(t, ggufgen.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(model)
	var requests, ranged atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := requests.Add(1)
		if r.Header.Get("Range") != "" {
			ranged.Add(1)
			http.ServeContent(w, r, "model.gguf", time.Time{}, strings.NewReader(string(model)))
			return
		}
		if n == 1 {
			// Promise the whole file, send half, and hang up.
			w.Header().Set("Content-Length", strconv.Itoa(len(model)))
			w.Write(model[:len(model)/2])
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
				}
			}
			return
		}
		http.ServeContent(w, r, "model.gguf", time.Time{}, strings.NewReader(string(model)))
	}))
	defer srv.Close()

	reg := filepath.Join(t.TempDir(), "registry.toml")
	if err := os.WriteFile(reg, []byte(`[models."Download-Test"]
kind = "completion"
url = "`+srv.URL+`/model.gguf"
sha256 = "`+hex.EncodeToString(sum[:])+`"
template = "qwen"
`), 0o644); err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	s := servaltest.Start(t, servaltest.Options{Model: "Download-Test", DataDir: dataDir, Args: []string{"--registry", reg}})
	got, err := os.ReadFile(filepath.Join(dataDir, "models", "Download-Test", "model.gguf"))
	if err != nil || string(got) != string(model) {
		t.Fatalf("downloaded model: %d bytes, err %v; want the %d served bytes", len(got), err, len(model))
	}
	if ranged.Load() == 0 {
		t.Errorf("the interrupted download was not resumed with a Range request (%d requests)", requests.Load())
	}
	if _, err := s.Client.Complete(context.Background(), completionRequest("def f():\n    ")); err != nil {
		t.Fatalf("completion on the downloaded model: %v", err)
	}
	s.Stop()

	before := requests.Load()
	s2 := servaltest.Start(t, servaltest.Options{Model: "Download-Test", DataDir: dataDir, Args: []string{"--registry", reg}})
	defer s2.Stop()
	if n := requests.Load(); n != before {
		t.Errorf("a second start with the file present made %d requests", n-before)
	}
}
