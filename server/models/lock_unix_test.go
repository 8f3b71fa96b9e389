//go:build unix

package models

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolveRefusesConcurrentDownload(t *testing.T) {
	srv := newModelServer(t, 4096)
	r := registryFor(t, srv.URL+"/tiny.gguf", srv.sha())
	dataDir := t.TempDir()
	partial := ModelFile(dataDir, "Tiny") + ".partial"
	os.MkdirAll(filepath.Dir(partial), 0o755)
	f, err := os.OpenFile(partial, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	unlock, err := lockFile(f) // another server is downloading
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = r.Resolve(context.Background(), "Tiny", dataDir, nil)
	if err == nil || !strings.Contains(err.Error(), "another process is downloading") {
		t.Fatalf("error = %v", err)
	}
	if len(srv.requests()) != 0 {
		t.Error("the second download reached the network")
	}
	unlock()
	if _, _, err := r.Resolve(context.Background(), "Tiny", dataDir, nil); err != nil {
		t.Fatalf("after the lock is released: %v", err)
	}
}
