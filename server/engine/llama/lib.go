package llama

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	yz "github.com/hybridgroup/yzma/pkg/llama"
	"github.com/hybridgroup/yzma/pkg/loader"
)

// ErrLibrariesMissing is wrapped by Open's error when the llama.cpp shared
// libraries are not in the library directory.
var ErrLibrariesMissing = errors.New("llama.cpp libraries not found")

// DefaultLibDir returns where the llama.cpp libraries for device are looked
// for when neither --lib-dir nor $SERVAL_LIB_DIR is set: bin/lib/<device>
// beside the running executable (make build puts them there). For auto it is
// the first of lib/cuda, lib/vulkan, lib/metal that holds libraries, else lib/cpu:
// each GPU build also carries the CPU backends, so auto still runs where the
// GPU's driver is missing.
func DefaultLibDir(device string) string {
	base := "lib"
	if exe, err := os.Executable(); err == nil {
		if resolved, err := filepath.EvalSymlinks(exe); err == nil {
			exe = resolved
		}
		base = filepath.Join(filepath.Dir(exe), "lib")
	}
	if device == "" {
		device = "cpu"
	}
	if device == "auto" {
		for _, gpu := range []string{"cuda", "vulkan", "metal"} {
			dir := filepath.Join(base, gpu)
			if _, err := os.Stat(loader.GetLibraryFilename(dir, "llama")); err == nil {
				return dir
			}
		}
		device = "cpu"
	}
	return filepath.Join(base, device)
}

// ResolveLibDir picks the library directory: flag, else $SERVAL_LIB_DIR (read
// through getenv; this is the one place it is read), else
// DefaultLibDir(device).
func ResolveLibDir(flag, device string, getenv func(string) string) string {
	if flag != "" {
		return flag
	}
	if env := getenv("SERVAL_LIB_DIR"); env != "" {
		return env
	}
	return DefaultLibDir(device)
}

// The llama.cpp libraries are loaded once per process; later engines reuse
// them, whatever directory they name.
var lib struct {
	mu     sync.Mutex
	dir    string // where they were loaded from; "" until loaded
	loaded bool
}

// loadLibraries checks and loads llama.cpp from dir (once per process) and its
// backends; device only shapes the error messages. It returns the directory
// the process's libraries came from.
func loadLibraries(dir, device string) (loadedFrom string, err error) {
	lib.mu.Lock()
	defer lib.mu.Unlock()
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	if err := checkLibraries(abs, device); err != nil {
		return "", err
	}
	if lib.loaded {
		// A process loads llama.cpp once; later engines share the first
		// directory's libraries (the same files, when built by make).
		return lib.dir, nil
	}
	if err := yz.Load(abs); err != nil {
		return "", fmt.Errorf("loading llama.cpp from %s failed (%w): %s", abs, err, installHint(runtime.GOOS, runtime.GOARCH, device))
	}
	if os.Getenv("SERVAL_LLAMA_LOG") == "1" {
		yz.LogSet(yz.LogNormal)
	} else {
		yz.LogSet(yz.LogSilent())
	}
	yz.Init()
	lib.dir, lib.loaded = abs, true
	return abs, nil
}
