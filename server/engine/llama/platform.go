package llama

import (
	"fmt"
	"strings"
)

// Release is the llama.cpp release yzma v1.28.0 binds; NPMVersion is the
// node-llama-cpp version whose Linux packages carry it. A library of a release
// this serval was not checked against is refused (see checkLibraries): the C
// API changes between releases and a mismatch crashes inside llama.cpp.
const (
	Release    = "v0.5.0"
	NPMVersion = "3.22.1"
)

// A build is the node-llama-cpp version a platform's libraries come from and
// the llama.cpp release they carry.
type build struct {
	NPMVersion string
	Release    string
}

// packages records, per @node-llama-cpp package, the build serval ships and
// accepts ("" NPMVersion: none). The Linux packages are at NPMVersion. The
// macOS ones stop at 3.21.1, which carries release v0.4.0: its C API was
// compared with v0.5.0's for every function and struct yzma binds and is the
// same (llama_sampler_chain_n returns int there and int32_t in v0.5.0, one
// type on both macOS ABIs; docs/platforms.md), so those are shipped. win-x64
// also stops at 3.21.1; it is not shipped yet (its libraries were not checked).
var packages = map[string]build{
	"linux-x64":        {NPMVersion, Release},
	"linux-x64-cuda":   {NPMVersion, Release},
	"linux-x64-vulkan": {NPMVersion, Release},
	"linux-arm64":      {NPMVersion, Release},
	"win-x64":          {},
	"mac-arm64-metal":  {"3.21.1", "v0.4.0"},
	"mac-x64":          {"3.21.1", "v0.4.0"},
}

// Devices lists the --device values the in-process engine accepts.
var Devices = []string{"cpu", "cuda", "vulkan", "metal", "auto"}

// npmPlatform names GOOS/GOARCH the way node-llama-cpp's packages do.
func npmPlatform(goos, goarch string) string {
	os := map[string]string{"linux": "linux", "windows": "win", "darwin": "mac"}[goos]
	arch := map[string]string{"amd64": "x64", "arm64": "arm64"}[goarch]
	if os == "" || arch == "" {
		return ""
	}
	return os + "-" + arch
}

// npmPackage returns the node-llama-cpp package holding the libraries for
// device on goos/goarch ("" when there is none) and the build serval takes
// from it (a zero build when none is published that serval can use).
func npmPackage(goos, goarch, device string) (name string, b build) {
	plat := npmPlatform(goos, goarch)
	switch {
	case plat == "":
		return "", build{}
	case plat == "mac-arm64":
		// Apple silicon has one build, with Metal; the cpu device runs it
		// with no layers on the GPU.
		if device == "cpu" || device == "metal" {
			plat = "mac-arm64-metal"
		} else {
			return "", build{}
		}
	case device == "metal":
		return "", build{}
	case device == "cuda" || device == "vulkan":
		plat += "-" + device
	}
	b, known := packages[plat]
	if !known {
		return "", build{}
	}
	return "@node-llama-cpp/" + plat, b
}

// published says whether serval ships a build of pkg's libraries.
func (b build) published() bool { return b.NPMVersion != "" }

// acceptsRelease says whether libraries of llama.cpp release r may be loaded
// for device on goos/goarch: the release yzma binds, or the one the platform's
// shipped package carries (compared with it, see packages).
func acceptsRelease(r, goos, goarch, device string) bool {
	if r == Release {
		return true
	}
	_, b := npmPackage(goos, goarch, device)
	return b.published() && r == b.Release
}

// installHint says how to get the libraries for device on goos/goarch, or why
// this release cannot have them there.
func installHint(goos, goarch, device string) string {
	where := goos + "/" + goarch
	pkg, b := npmPackage(goos, goarch, device)
	switch {
	case pkg == "":
		return fmt.Sprintf("llama.cpp has no %s build for %s; use --device %s", device, where, strings.Join(supportedDevices(goos, goarch), ", --device "))
	case !b.published():
		return fmt.Sprintf("node-llama-cpp publishes no %s@%s for %s (the package stops at an older llama.cpp release than %s, which this serval binds), so in-process models cannot run here: serve them with Ollama or an OpenAI-compatible server and start serval with --model ollama:<name> or --model openai:<url>#<model>", pkg, NPMVersion, where, Release)
	case goos == "darwin":
		return fmt.Sprintf("install %s@%s (llama.cpp %s): use the lib/%s folder of the serval release archive for %s, or point --lib-dir (or $SERVAL_LIB_DIR) at them", pkg, b.NPMVersion, b.Release, device, where)
	default:
		return fmt.Sprintf("install %s@%s: from source `%s` (into bin/lib/%s), or use the lib/%s folder of the serval release archive for %s; or point --lib-dir (or $SERVAL_LIB_DIR) at them", pkg, b.NPMVersion, buildCommand(device), device, device, where)
	}
}

// supportedDevices lists the devices with published libraries on goos/goarch.
func supportedDevices(goos, goarch string) []string {
	var out []string
	for _, d := range Devices {
		if d == "auto" {
			continue
		}
		if _, b := npmPackage(goos, goarch, d); b.published() {
			out = append(out, d)
		}
	}
	return out
}

// gpuKind maps a ggml device name ("CUDA0", "Vulkan0", "MTL0") to a --device value.
func gpuKind(devName string) string {
	n := strings.ToLower(devName)
	if strings.HasPrefix(n, "mtl") { // ggml-metal names its devices MTL<n> (GGML_METAL_NAME)
		return "metal"
	}
	for _, kind := range []string{"cuda", "vulkan", "metal"} {
		if strings.HasPrefix(n, kind) {
			return kind
		}
	}
	return "gpu"
}

// buildCommand is the make command that fetches the libraries for device
// and puts them where DefaultLibDir looks.
func buildCommand(device string) string {
	if device == "" || device == "cpu" || device == "auto" {
		return "make deps build"
	}
	return "make deps build DEVICE=" + device
}
