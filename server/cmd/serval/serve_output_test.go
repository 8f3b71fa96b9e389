package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/servalhq/serval/server/store"
)

func TestStartupWordsAndNextStep(t *testing.T) {
	if got := plural(1, "slot"); got != "1 slot" {
		t.Errorf("plural(1) = %q", got)
	}
	if got := plural(4, "slot"); got != "4 slots" {
		t.Errorf("plural(4) = %q", got)
	}
	if !isDemoModel("serval-tiny (bundled, 12 MB)") || isDemoModel("qwen2.5-coder-1.5b-q8_0.gguf") {
		t.Error("isDemoModel")
	}

	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := ensureInitialToken(ctx, st, dir, new(strings.Builder)); err != nil {
		t.Fatal(err)
	}
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 18500}
	file := filepath.Join(dir, initialTokenFile)

	// The initial token works: the curl example uses it, and the web app's URL is said.
	var out strings.Builder
	printNextStep(&out, addr, false, usableInitialToken(ctx, st, dir))
	for _, want := range []string{"serval: web app: http://127.0.0.1:18500/", "$(cat " + file + ")"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("next step lacks %q:\n%s", want, out.String())
		}
	}
	// Revoked (say, from the web app): the example no longer points at it.
	secret, _ := os.ReadFile(file)
	if err := st.RevokeToken(ctx, "initial"); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	printNextStep(&out, addr, false, usableInitialToken(ctx, st, dir))
	if strings.Contains(out.String(), file) || !strings.Contains(out.String(), "Tokens page") {
		t.Errorf("with %s revoked (%d bytes), the next step says:\n%s", file, len(secret), out.String())
	}
}
