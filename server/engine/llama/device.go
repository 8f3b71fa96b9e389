package llama

import (
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	yz "github.com/hybridgroup/yzma/pkg/llama"
)

// gpu is one GPU a loaded ggml backend offers.
type gpu struct {
	Kind string // cuda, vulkan, metal (gpuKind of the ggml device name)
	Name string // the driver's description, e.g. "NVIDIA H100 80GB HBM3"
}

// checkDevice refuses devices this platform has no llama.cpp build for
// before anything is loaded.
func checkDevice(device string) error {
	if !slices.Contains(Devices, device) {
		return fmt.Errorf("llama: unknown device %q (want %s)", device, strings.Join(Devices, ", "))
	}
	if device == "cpu" || device == "auto" {
		return nil
	}
	if pkg, _ := npmPackage(runtime.GOOS, runtime.GOARCH, device); pkg == "" {
		return fmt.Errorf("llama: --device %s: %s", device, installHint(runtime.GOOS, runtime.GOARCH, device))
	}
	return nil
}

// pickDevice decides where the layers run, given the requested device and the
// GPUs the loaded backends see; it returns the device and the names of the
// GPUs used. An explicit GPU device without such a GPU is an error (no silent
// CPU fallback); auto takes the first GPU's kind, else the CPU, and says why
// on log.
func pickDevice(requested string, gpus []gpu, libDir string, log io.Writer) (string, []string, error) {
	if log == nil {
		log = io.Discard
	}
	kinds := map[string][]string{}
	var order []string
	for _, g := range gpus {
		if _, seen := kinds[g.Kind]; !seen {
			order = append(order, g.Kind)
		}
		kinds[g.Kind] = append(kinds[g.Kind], g.Name)
	}
	switch requested {
	case "cpu":
		return "cpu", nil, nil
	case "auto":
		// Prefer the dedicated backends over whatever else came along.
		for _, k := range []string{"cuda", "metal", "vulkan"} {
			if names := kinds[k]; len(names) > 0 {
				return k, names, nil
			}
		}
		fmt.Fprintf(log, "serval: --device auto: no GPU usable through the llama.cpp libraries in %s (%s); running on the CPU\n", libDir, noGPUReason(libDir))
		return "cpu", nil, nil
	}
	if names := kinds[requested]; len(names) > 0 {
		return requested, names, nil
	}
	seen := "no GPU at all"
	if len(order) > 0 {
		seen = "only " + strings.Join(order, ", ")
	}
	return "", nil, fmt.Errorf("llama: --device %s: llama.cpp found no usable %s GPU (it sees %s) with the libraries in %s: %s", requested, requested, seen, libDir, deviceNeeds(requested))
}

// deviceNeeds says what a GPU device needs besides the GPU itself.
func deviceNeeds(device string) string {
	backend := filepath.Base(backendFile("", "ggml-"+device, runtime.GOOS))
	switch device {
	case "cuda":
		return fmt.Sprintf("it needs %s there (from `make build DEVICE=cuda`, @node-llama-cpp/linux-x64-cuda@%s) and an NVIDIA GPU with a driver for CUDA 13 (nvidia-smi must list it)", backend, NPMVersion)
	case "vulkan":
		return fmt.Sprintf("it needs %s there (from `make build DEVICE=vulkan`, @node-llama-cpp/linux-x64-vulkan@%s) and a Vulkan driver for the GPU (Debian: mesa-vulkan-drivers for AMD/Intel, or the NVIDIA driver; `vulkaninfo --summary` must list it)", backend, NPMVersion)
	case "metal":
		pkg, b := npmPackage("darwin", "arm64", "metal")
		return fmt.Sprintf("it needs %s there (%s@%s, in the darwin-arm64 archive's lib/metal), a Mac with Apple silicon and macOS 14 or later", backend, pkg, b.NPMVersion)
	}
	return installHint(runtime.GOOS, runtime.GOARCH, device)
}

// noGPUReason names the GPU backends present in libDir.
func noGPUReason(libDir string) string {
	var present []string
	for _, k := range []string{"cuda", "vulkan", "metal"} {
		if fileExists(backendFile(libDir, "ggml-"+k, runtime.GOOS)) {
			present = append(present, "ggml-"+k)
		}
	}
	if len(present) == 0 {
		return "they have no GPU backend"
	}
	return strings.Join(present, ", ") + " found no device: is the GPU driver installed?"
}

// backendFile is the file of a ggml backend that ggml_backend_load_all_from_path
// loads: name.dll on Windows, libname.so elsewhere, macOS included (ggml's
// own rule, unlike the libraries yzma opens: libllama.dylib).
func backendFile(dir, name, goos string) string {
	if goos == "windows" {
		return filepath.Join(dir, name+".dll")
	}
	return filepath.Join(dir, "lib"+name+".so")
}

// gpuDevices returns the GPUs llama.cpp's loaded backends see.
func gpuDevices() []gpu {
	var out []gpu
	for i := range yz.GGMLBackendDeviceCount() {
		dev := yz.GGMLBackendDeviceGet(i)
		if dev == 0 {
			continue
		}
		if t := yz.GGMLBackendDevType(dev); t == yz.GGMLBackendDeviceTypeGPU || t == yz.GGMLBackendDeviceTypeIGPU {
			name := yz.GGMLBackendDeviceName(dev)
			desc := yz.GGMLBackendDeviceDescription(dev)
			if desc == "" {
				desc = name
			}
			out = append(out, gpu{Kind: gpuKind(name), Name: desc})
		}
	}
	return out
}

// cudaOnly keeps the GPU names for Info.CUDADevices when the device is CUDA.
func cudaOnly(device string, names []string) []string {
	if device != "cuda" {
		return nil
	}
	return names
}
