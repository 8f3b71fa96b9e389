package llama

import (
	"fmt"
	"strings"
)

// Release is the llama.cpp release yzma v1.28.0 binds; NPMVersion is the
// node-llama-cpp version whose per-platform packages carry it. A library of
// any other release beside serval is refused (see checkLibraries): the C API
// changes between releases and a mismatch crashes inside llama.cpp.
const (
	Release    = "v0.5.0"
	NPMVersion = "3.22.1"
)

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

// published records which @node-llama-cpp packages exist at NPMVersion
// (checked with `npm view @node-llama-cpp/<name>@3.22.1 version`): node-llama-cpp
// 3.22.1 lists all of them as optional dependencies, but the Windows and macOS
// packages stop at 3.21.1, which carries another llama.cpp release.
var published = map[string]bool{
	"linux-x64":        true,
	"linux-x64-cuda":   true,
	"linux-x64-vulkan": true,
	"linux-arm64":      true,
	"win-x64":          false,
	"mac-arm64-metal":  false,
	"mac-x64":          false,
}

// npmPackage returns the node-llama-cpp package holding the libraries for
// device on goos/goarch ("" when there is none) and whether it is published
// at NPMVersion.
func npmPackage(goos, goarch, device string) (name string, ok bool) {
	plat := npmPlatform(goos, goarch)
	switch {
	case plat == "":
		return "", false
	case plat == "mac-arm64":
		// Apple silicon has one build, with Metal.
		if device == "cpu" || device == "metal" {
			plat = "mac-arm64-metal"
		} else {
			return "", false
		}
	case device == "metal":
		return "", false
	case device == "cuda" || device == "vulkan":
		plat += "-" + device
	}
	if _, known := published[plat]; !known {
		return "", false
	}
	return "@node-llama-cpp/" + plat, published[plat]
}

// installHint says how to get the libraries for device on goos/goarch, or why
// this release cannot have them there.
func installHint(goos, goarch, device string) string {
	where := goos + "/" + goarch
	pkg, ok := npmPackage(goos, goarch, device)
	switch {
	case pkg == "":
		return fmt.Sprintf("llama.cpp has no %s build for %s; use --device %s", device, where, strings.Join(supportedDevices(goos, goarch), ", --device "))
	case !ok:
		return fmt.Sprintf("node-llama-cpp publishes no %s@%s for %s (the package stops at an older llama.cpp release than %s, which this serval binds), so in-process models cannot run here: serve them with Ollama or an OpenAI-compatible server and start serval with --model ollama:<name> or --model openai:<url>#<model>", pkg, NPMVersion, where, Release)
	default:
		return fmt.Sprintf("install %s@%s: from source `%s` (into bin/lib/%s), or use the lib/%s folder of the serval release archive for %s; or point --lib-dir (or $SERVAL_LIB_DIR) at them", pkg, NPMVersion, buildCommand(device), device, device, where)
	}
}

// supportedDevices lists the devices with published libraries on goos/goarch.
func supportedDevices(goos, goarch string) []string {
	var out []string
	for _, d := range Devices {
		if d == "auto" {
			continue
		}
		if _, ok := npmPackage(goos, goarch, d); ok {
			out = append(out, d)
		}
	}
	return out
}

// gpuKind maps a ggml device name ("CUDA0", "Vulkan0", "Metal") to a --device value.
func gpuKind(devName string) string {
	n := strings.ToLower(devName)
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
