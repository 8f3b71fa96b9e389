package llama

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	yz "github.com/hybridgroup/yzma/pkg/llama"
)

// ErrLibrariesMissing is wrapped by Open's error when the llama.cpp shared
// libraries are not in the library directory.
var ErrLibrariesMissing = errors.New("llama.cpp libraries not found")

// DefaultLibDir returns where the llama.cpp libraries for device are looked
// for when neither --lib-dir nor $SERVAL_LIB_DIR is set: bin/lib/<device>
// beside the running executable (make build puts them there).
func DefaultLibDir(device string) string {
	if device == "" || device == "auto" {
		device = "cpu"
	}
	exe, err := os.Executable()
	if err != nil {
		return filepath.Join("lib", device)
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	return filepath.Join(filepath.Dir(exe), "lib", device)
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

// loadLibraries loads llama.cpp from dir (once per process) and its backends;
// device only shapes the hint of a missing-library error.
func loadLibraries(dir, device string) error {
	lib.mu.Lock()
	defer lib.mu.Unlock()
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	for _, name := range []string{"libllama.so", "libggml.so", "libggml-base.so"} {
		if _, err := os.Stat(filepath.Join(abs, name)); err != nil {
			return fmt.Errorf("%w: no %s in %s: run `%s` or pass --lib-dir (or set $SERVAL_LIB_DIR) to the directory holding libllama.so", ErrLibrariesMissing, name, abs, buildCommand(device))
		}
	}
	if lib.loaded {
		// A process loads llama.cpp once; later engines share the first
		// directory's libraries (the same files, when built by make).
		return nil
	}
	if err := yz.Load(abs); err != nil {
		return fmt.Errorf("loading llama.cpp from %s (run `%s` or set --lib-dir): %w", abs, buildCommand(device), err)
	}
	if os.Getenv("SERVAL_LLAMA_LOG") == "1" {
		yz.LogSet(yz.LogNormal)
	} else {
		yz.LogSet(yz.LogSilent())
	}
	yz.Init()
	lib.dir, lib.loaded = abs, true
	return nil
}

// gpuDevices returns the descriptions of the GPUs llama.cpp's loaded backends see.
func gpuDevices() []string {
	var names []string
	for i := range yz.GGMLBackendDeviceCount() {
		dev := yz.GGMLBackendDeviceGet(i)
		if dev == 0 {
			continue
		}
		if t := yz.GGMLBackendDevType(dev); t == yz.GGMLBackendDeviceTypeGPU || t == yz.GGMLBackendDeviceTypeIGPU {
			name := yz.GGMLBackendDeviceDescription(dev)
			if name == "" {
				name = yz.GGMLBackendDeviceName(dev)
			}
			names = append(names, name)
		}
	}
	return names
}

// buildCommand is the make command that fetches the libraries for device
// and puts them where DefaultLibDir looks.
func buildCommand(device string) string {
	if device == "" || device == "cpu" || device == "auto" {
		return "make deps build"
	}
	return "make deps build DEVICE=" + device
}
