package llama

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/servalhq/serval/integration/testsupport/ggufgen"
	"github.com/servalhq/serval/integration/testsupport/llamalib"
)

// fakeELF writes the smallest ELF64 header debug/elf accepts, for machine.
func fakeELF(t *testing.T, file string, machine uint16) {
	t.Helper()
	h := make([]byte, 64)
	copy(h, "\x7fELF")
	h[4], h[5], h[6] = 2, 1, 1                     // 64-bit, little-endian, version 1
	binary.LittleEndian.PutUint16(h[16:], 3)       // ET_DYN
	binary.LittleEndian.PutUint16(h[18:], machine) // e_machine
	binary.LittleEndian.PutUint32(h[20:], 1)       // e_version
	binary.LittleEndian.PutUint16(h[52:], 64)      // e_ehsize
	if err := os.WriteFile(file, h, 0o644); err != nil {
		t.Fatal(err)
	}
}

// libDirWith makes a library directory for linux with the three libraries as
// fake ELF files for machine, and the given _nlcBuildMetadata.json ("" for none).
func libDirWith(t *testing.T, machine uint16, metadata string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range libNames {
		fakeELF(t, filepath.Join(dir, "lib"+name+".so"), machine)
	}
	if metadata != "" {
		if err := os.WriteFile(filepath.Join(dir, "_nlcBuildMetadata.json"), []byte(metadata), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const (
	emX86_64  = 62
	emAArch64 = 183
)

func metadata(platform, arch, release string) string {
	return metadataGPU(platform, arch, "false", release)
}

// metadataGPU is node-llama-cpp's metadata with gpu as JSON (false or "metal").
func metadataGPU(platform, arch, gpu, release string) string {
	return `{"buildOptions":{"platform":"` + platform + `","arch":"` + arch + `","gpu":` + gpu + `,"llamaCpp":{"repo":"ggml-org/llama.cpp","release":"` + release + `"}}}`
}

// macDirWith makes a library directory for darwin: the three libraries as
// Mach-O dylib headers for cpu (debug/macho's CpuArm64, CpuAmd64) and metadata.
func macDirWith(t *testing.T, cpu uint32, metadata string) string {
	t.Helper()
	dir := t.TempDir()
	h := make([]byte, 32)
	binary.LittleEndian.PutUint32(h[0:], 0xfeedfacf) // MH_MAGIC_64
	binary.LittleEndian.PutUint32(h[4:], cpu)
	binary.LittleEndian.PutUint32(h[12:], 6) // MH_DYLIB
	for _, name := range libNames {
		if err := os.WriteFile(filepath.Join(dir, "lib"+name+".dylib"), h, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "_nlcBuildMetadata.json"), []byte(metadata), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

const (
	cpuArm64 = 0x0100000c
	cpuAmd64 = 0x01000007
)

func TestCheckLibrariesAccepts(t *testing.T) {
	if err := CheckLibrariesFor(libDirWith(t, emAArch64, metadata("linux", "arm64", Release)), "cpu", "linux", "arm64"); err != nil {
		t.Errorf("linux-arm64 libraries on linux/arm64: %v", err)
	}
	if err := CheckLibrariesFor(libDirWith(t, emX86_64, ""), "cpu", "linux", "amd64"); err != nil {
		t.Errorf("linux-x64 libraries without metadata on linux/amd64: %v", err)
	}
	// The macOS packages stop at 3.21.1 (release v0.4.0, whose C API matches
	// v0.5.0's for what yzma binds): accepted for exactly those packages.
	metal := macDirWith(t, cpuArm64, metadataGPU("mac", "arm64", `"metal"`, "v0.4.0"))
	for _, device := range []string{"metal", "cpu", "auto"} {
		if err := CheckLibrariesFor(metal, device, "darwin", "arm64"); err != nil {
			t.Errorf("mac-arm64-metal@3.21.1 on darwin/arm64, --device %s: %v", device, err)
		}
	}
	if err := CheckLibrariesFor(macDirWith(t, cpuAmd64, metadata("mac", "x64", "v0.4.0")), "cpu", "darwin", "amd64"); err != nil {
		t.Errorf("mac-x64@3.21.1 on darwin/amd64: %v", err)
	}
	if err := CheckLibrariesFor(macDirWith(t, cpuArm64, metadataGPU("mac", "arm64", `"metal"`, Release)), "metal", "darwin", "arm64"); err != nil {
		t.Errorf("a v0.5.0 Metal build on darwin/arm64: %v", err)
	}
}

// TestOlderReleaseOnlyWhereShipped: release v0.4.0 is taken only from the
// packages serval ships with it, never on Linux or Windows, nor from a
// macOS build of another kind.
func TestOlderReleaseOnlyWhereShipped(t *testing.T) {
	for _, tc := range []struct {
		name         string
		dir          string
		goos, goarch string
		want         []string
	}{
		{"v0.4.0 on linux", libDirWith(t, emX86_64, metadata("linux", "x64", "v0.4.0")), "linux", "amd64",
			[]string{"are llama.cpp v0.4.0; this serval needs v0.5.0:", "@node-llama-cpp/linux-x64@3.22.1"}},
		{"v0.4.0 on windows", libDirWith(t, emX86_64, metadata("win", "x64", "v0.4.0")), "windows", "amd64",
			[]string{"no llama.dll"}},
		{"an older mac release", macDirWith(t, cpuArm64, metadataGPU("mac", "arm64", `"metal"`, "v0.3.0")), "darwin", "arm64",
			[]string{"are llama.cpp v0.3.0; this serval needs v0.5.0 or v0.4.0 (@node-llama-cpp/mac-arm64-metal@3.21.1)", "install @node-llama-cpp/mac-arm64-metal@3.21.1 (llama.cpp v0.4.0)"}},
		{"a mac-arm64 build without metal", macDirWith(t, cpuArm64, metadata("mac", "arm64", "v0.4.0")), "darwin", "arm64",
			[]string{"are llama.cpp v0.4.0"}},
		{"the Intel libraries on Apple silicon", macDirWith(t, cpuAmd64, metadata("mac", "x64", "v0.4.0")), "darwin", "arm64",
			[]string{"built for mac/x64, this serval is darwin/arm64", "@node-llama-cpp/mac-arm64-metal@3.21.1"}},
		{"the Metal libraries on an Intel Mac", macDirWith(t, cpuArm64, metadataGPU("mac", "arm64", `"metal"`, "v0.4.0")), "darwin", "amd64",
			[]string{"built for mac/arm64, this serval is darwin/amd64", "@node-llama-cpp/mac-x64@3.21.1"}},
		{"an arm64 header under x64 metadata", macDirWith(t, cpuArm64, metadata("mac", "x64", "v0.4.0")), "darwin", "amd64",
			[]string{"built for darwin/arm64, this serval is darwin/amd64"}},
	} {
		err := CheckLibrariesFor(tc.dir, "cpu", tc.goos, tc.goarch)
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", tc.name, err, w)
			}
		}
	}
}

func TestCheckLibrariesRefuses(t *testing.T) {
	garbage := libDirWith(t, emX86_64, "")
	if err := os.WriteFile(filepath.Join(garbage, "libggml.so"), []byte("<html>404</html>"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name         string
		dir          string
		goos, goarch string
		device       string
		sentinel     error
		want         []string
	}{
		{"missing", t.TempDir(), "linux", "arm64", "cpu", ErrLibrariesMissing,
			[]string{"no libllama.so", "linux/arm64", "@node-llama-cpp/linux-arm64@3.22.1", "--lib-dir"}},
		{"another release", libDirWith(t, emX86_64, metadata("linux", "x64", "b6000")), "linux", "amd64", "cpu", ErrLibraryMismatch,
			[]string{"llama.cpp b6000", "needs v0.5.0", "@node-llama-cpp/linux-x64@3.22.1"}},
		{"another platform by metadata", libDirWith(t, emX86_64, metadata("linux", "x64", Release)), "linux", "arm64", "cpu", ErrLibraryMismatch,
			[]string{"built for linux/x64", "this serval is linux/arm64", "@node-llama-cpp/linux-arm64@3.22.1"}},
		{"another architecture by header", libDirWith(t, emAArch64, ""), "linux", "amd64", "vulkan", ErrLibraryMismatch,
			[]string{"built for linux/arm64", "this serval is linux/amd64", "@node-llama-cpp/linux-x64-vulkan@3.22.1", "make deps build DEVICE=vulkan"}},
		{"not a library", garbage, "linux", "amd64", "cpu", ErrLibraryMismatch,
			[]string{"libggml.so is not a shared library", "neither ELF"}},
		{"bad metadata", libDirWith(t, emX86_64, "{"), "linux", "amd64", "cpu", ErrLibraryMismatch,
			[]string{"_nlcBuildMetadata.json is not valid JSON"}},
		{"linux libraries for windows", libDirWith(t, emX86_64, ""), "windows", "amd64", "cpu", ErrLibrariesMissing,
			[]string{"no llama.dll", "windows/amd64", "publishes no @node-llama-cpp/win-x64@3.22.1", "--model ollama:"}},
	} {
		err := CheckLibrariesFor(tc.dir, tc.device, tc.goos, tc.goarch)
		if !errors.Is(err, tc.sentinel) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.sentinel)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", tc.name, err, w)
			}
		}
	}
}

func TestCheckLibrariesOnOtherPlatformsNamesThem(t *testing.T) {
	// Linux x64 libraries next to a darwin or windows serval: the header says whose they are.
	dir := t.TempDir()
	for _, name := range libNames {
		fakeELF(t, filepath.Join(dir, "lib"+name+".dylib"), emX86_64)
	}
	err := CheckLibrariesFor(dir, "cpu", "darwin", "arm64")
	if !errors.Is(err, ErrLibraryMismatch) || !strings.Contains(err.Error(), "built for linux/amd64, this serval is darwin/arm64") ||
		!strings.Contains(err.Error(), "mac-arm64-metal@3.21.1") {
		t.Errorf("error %v", err)
	}
}

func TestCheckDevice(t *testing.T) {
	if err := checkDevice("tpu"); err == nil || !strings.Contains(err.Error(), `"tpu"`) || !strings.Contains(err.Error(), "vulkan") {
		t.Errorf("unknown device: %v", err)
	}
	for _, d := range []string{"cpu", "auto"} {
		if err := checkDevice(d); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}
	err := checkDevice("metal")
	if runtime.GOOS == "darwin" && runtime.GOARCH == "arm64" {
		if err != nil {
			t.Errorf("metal on Apple silicon: %v", err)
		}
	} else if err == nil || !strings.Contains(err.Error(), "no metal build for "+runtime.GOOS+"/"+runtime.GOARCH) {
		t.Errorf("metal on %s/%s: %v", runtime.GOOS, runtime.GOARCH, err)
	}
}

func TestSupportedDevices(t *testing.T) {
	for plat, want := range map[string]string{
		"linux/amd64":   "cpu cuda vulkan",
		"linux/arm64":   "cpu",
		"windows/amd64": "",
		"darwin/arm64":  "cpu metal",
		"darwin/amd64":  "cpu",
	} {
		goos, goarch, _ := strings.Cut(plat, "/")
		if got := strings.Join(supportedDevices(goos, goarch), " "); got != want {
			t.Errorf("%s: %q, want %q", plat, got, want)
		}
	}
	if pkg, b := npmPackage("darwin", "arm64", "metal"); pkg != "@node-llama-cpp/mac-arm64-metal" || b != (build{"3.21.1", "v0.4.0"}) {
		t.Errorf("mac-arm64 metal: %s %v", pkg, b)
	}
	if pkg, b := npmPackage("windows", "amd64", "cpu"); pkg != "@node-llama-cpp/win-x64" || b.published() {
		t.Errorf("win-x64: %s %v, want not published", pkg, b)
	}
}

func TestGPUKind(t *testing.T) {
	for name, want := range map[string]string{"CUDA0": "cuda", "Vulkan1": "vulkan", "MTL0": "metal", "Metal": "metal", "BLAS": "gpu"} {
		if got := gpuKind(name); got != want {
			t.Errorf("gpuKind(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestPickDevice(t *testing.T) {
	cuda := gpu{Kind: "cuda", Name: "NVIDIA H200"}
	vulkan := gpu{Kind: "vulkan", Name: "AMD Radeon RX 7900 XTX (RADV NAVI31)"}
	for _, tc := range []struct {
		requested string
		gpus      []gpu
		device    string
		names     string
		log       string // a substring of what is logged, "" for nothing
		err       string // a substring of the error, "" for none
	}{
		{"cpu", []gpu{cuda}, "cpu", "", "", ""},
		{"auto", nil, "cpu", "", "--device auto: no GPU usable through the llama.cpp libraries in /libs (they have no GPU backend); running on the CPU", ""},
		{"auto", []gpu{vulkan, cuda}, "cuda", "NVIDIA H200", "", ""},
		{"auto", []gpu{vulkan}, "vulkan", "AMD Radeon RX 7900 XTX (RADV NAVI31)", "", ""},
		{"cuda", []gpu{cuda, cuda}, "cuda", "NVIDIA H200,NVIDIA H200", "", ""},
		{"vulkan", []gpu{vulkan}, "vulkan", "AMD Radeon RX 7900 XTX (RADV NAVI31)", "", ""},
		{"cuda", nil, "", "", "", "--device cuda: llama.cpp found no usable cuda GPU (it sees no GPU at all) with the libraries in /libs: it needs libggml-cuda.so there"},
		{"cuda", []gpu{vulkan}, "", "", "", "(it sees only vulkan)"},
		{"vulkan", nil, "", "", "", "vulkaninfo --summary"},
	} {
		var log bytes.Buffer
		device, names, err := pickDevice(tc.requested, tc.gpus, "/libs", &log)
		name := tc.requested
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", name, err, tc.err)
			}
			continue
		}
		if err != nil || device != tc.device || strings.Join(names, ",") != tc.names {
			t.Errorf("%s with %v: %s %v %v, want %s %s", name, tc.gpus, device, names, err, tc.device, tc.names)
		}
		if (tc.log == "") != (log.Len() == 0) || !strings.Contains(log.String(), tc.log) {
			t.Errorf("%s with %v logged %q, want %q", name, tc.gpus, log.String(), tc.log)
		}
	}
}

func TestNoGPUReasonNamesTheBackendPresent(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(backendFile(dir, "ggml-cuda", runtime.GOOS), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := noGPUReason(dir); !strings.Contains(got, "ggml-cuda found no device: is the GPU driver installed?") {
		t.Errorf("noGPUReason = %q", got)
	}
}

// TestAutoFallsBackToCPU opens the real engine with --device auto on the CPU
// libraries (no GPU backend): it runs on the CPU and says so in the log.
func TestAutoFallsBackToCPU(t *testing.T) {
	dir := llamalib.Dir(t)
	var log bytes.Buffer
	e, err := Open(context.Background(), Config{ModelPath: testModel(t, ggufgen.Options{}), LibDir: dir, Device: "auto", Log: &log, Threads: 1, CtxSize: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if info := e.Info(); info.Device != "cpu" || len(info.CUDADevices) != 0 {
		t.Errorf("auto without a GPU backend: device %q, CUDA devices %v", info.Device, info.CUDADevices)
	}
	if !strings.Contains(log.String(), "--device auto: no GPU usable") || !strings.Contains(log.String(), "running on the CPU") {
		t.Errorf("log %q lacks the fallback line", log.String())
	}
	// --device cuda on the same libraries: a clear error, no fallback.
	_, err = Open(context.Background(), Config{ModelPath: testModel(t, ggufgen.Options{}), LibDir: dir, Device: "cuda", Threads: 1, CtxSize: 256})
	if err == nil || !strings.Contains(err.Error(), "--device cuda: llama.cpp found no usable cuda GPU") || !strings.Contains(err.Error(), "nvidia-smi") {
		t.Errorf("--device cuda without a CUDA backend: %v", err)
	}
}
