package llama

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckMemoryFor(t *testing.T) {
	dir := t.TempDir()
	meminfo := filepath.Join(dir, "meminfo")
	old := meminfoPath
	meminfoPath = meminfo
	t.Cleanup(func() { meminfoPath = old })
	model := filepath.Join(dir, "m.gguf")
	if err := os.WriteFile(model, make([]byte, 3<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	write := func(s string) {
		if err := os.WriteFile(meminfo, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	write("MemTotal:       8 kB\nMemAvailable:       2 kB\nSwapFree:  0 kB\n")
	err := checkMemoryFor(model, "cpu")
	if err == nil || !strings.Contains(err.Error(), "more than the") {
		t.Fatalf("a 3 KiB model with 2 KiB available: %v", err)
	}
	if err := checkMemoryFor(model, "cuda"); err != nil {
		t.Errorf("cuda: %v", err)
	}
	write("MemAvailable:       2 kB\nSwapFree:  2 kB\n") // swap counts
	if err := checkMemoryFor(model, "cpu"); err != nil {
		t.Errorf("with swap: %v", err)
	}
	write("garbage\nMemAvailable: lots\n") // unreadable: no verdict
	if err := checkMemoryFor(model, "cpu"); err != nil {
		t.Errorf("unparsable meminfo: %v", err)
	}
	os.Remove(meminfo)
	if err := checkMemoryFor(model, "cpu"); err != nil {
		t.Errorf("no meminfo: %v", err)
	}
}
