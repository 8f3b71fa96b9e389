package llama

import (
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/hybridgroup/yzma/pkg/loader"
)

// ErrLibraryMismatch is wrapped by Open's error when the libraries in the
// library directory are of another llama.cpp release or for another platform.
var ErrLibraryMismatch = errors.New("llama.cpp libraries do not match this serval")

// libNames are the libraries yzma loads, by short name (loader.GetLibraryFilename
// turns them into libllama.so, llama.dll or libllama.dylib).
var libNames = []string{"llama", "ggml", "ggml-base"}

// buildMetadata is node-llama-cpp's _nlcBuildMetadata.json, shipped beside
// the libraries of every @node-llama-cpp package.
type buildMetadata struct {
	BuildOptions struct {
		Platform string `json:"platform"` // linux, win, mac
		Arch     string `json:"arch"`     // x64, arm64
		GPU      any    `json:"gpu"`      // false, or cuda, vulkan, metal
		LlamaCpp struct {
			Release string `json:"release"`
		} `json:"llamaCpp"`
	} `json:"buildOptions"`
}

// checkLibraries makes sure dir holds llama.cpp libraries that this process
// can load, before the loader sees them: dlopen of a library for another
// architecture fails obscurely, and one of another release resolves symbols
// whose signatures changed and crashes later. device only shapes the hints.
func checkLibraries(dir, device string) error {
	return CheckLibrariesFor(dir, device, runtime.GOOS, runtime.GOARCH)
}

// CheckLibrariesFor is checkLibraries for a serval built for goos/goarch (for
// checking the archives made for other platforms).
func CheckLibrariesFor(dir, device, goos, goarch string) error {
	where := goos + "/" + goarch
	for _, name := range libNames {
		file := libraryFile(dir, name, goos)
		if _, err := os.Stat(file); err != nil {
			return fmt.Errorf("%w: no %s in %s for this serval (%s): %s", ErrLibrariesMissing, filepath.Base(file), dir, where, installHint(goos, goarch, device))
		}
	}
	if raw, err := os.ReadFile(filepath.Join(dir, "_nlcBuildMetadata.json")); err == nil {
		var meta buildMetadata
		if err := json.Unmarshal(raw, &meta); err != nil {
			return fmt.Errorf("%w: %s/_nlcBuildMetadata.json is not valid JSON (%v): reinstall the libraries: %s", ErrLibraryMismatch, dir, err, installHint(goos, goarch, device))
		}
		b := meta.BuildOptions
		if got := npmPlatform(nodeToGo(b.Platform), nodeToGo(b.Arch)); b.Platform != "" && got != npmPlatform(goos, goarch) {
			return fmt.Errorf("%w: the libraries in %s are built for %s/%s, this serval is %s: %s", ErrLibraryMismatch, dir, b.Platform, b.Arch, where, installHint(goos, goarch, device))
		}
		if r := b.LlamaCpp.Release; r != "" && !meta.accepted() {
			return fmt.Errorf("%w: the libraries in %s are llama.cpp %s; this serval needs %s: %s", ErrLibraryMismatch, dir, r, acceptedReleases(goos, goarch), installHint(goos, goarch, device))
		}
	}
	for _, name := range libNames {
		file := libraryFile(dir, name, goos)
		got, err := BinaryPlatform(file, goarch)
		if err != nil {
			return fmt.Errorf("%w: %s is not a shared library serval can load on %s (%v): %s", ErrLibraryMismatch, file, where, err, installHint(goos, goarch, device))
		}
		if got != where {
			return fmt.Errorf("%w: %s is built for %s, this serval is %s: %s", ErrLibraryMismatch, file, got, where, installHint(goos, goarch, device))
		}
	}
	return nil
}

// accepted says whether serval may load the libraries the metadata describes:
// those of the release yzma binds, or those of the very package (platform and
// GPU) serval ships with an older release whose C API was compared (packages).
func (m buildMetadata) accepted() bool {
	b := m.BuildOptions
	if b.LlamaCpp.Release == Release {
		return true
	}
	plat := npmPlatform(nodeToGo(b.Platform), nodeToGo(b.Arch))
	if gpu, ok := b.GPU.(string); ok && gpu != "" {
		plat += "-" + gpu
	}
	shipped, ok := packages[plat]
	return ok && shipped.published() && shipped.Release == b.LlamaCpp.Release
}

// acceptedReleases names the releases serval loads on goos/goarch.
func acceptedReleases(goos, goarch string) string {
	out := []string{Release}
	for plat, b := range packages {
		if strings.HasPrefix(plat, npmPlatform(goos, goarch)) && b.published() && !slices.Contains(out, b.Release) {
			out = append(out, b.Release+" (@node-llama-cpp/"+plat+"@"+b.NPMVersion+")")
		}
	}
	return strings.Join(out, " or ")
}

// libraryFile is the path yzma's loader opens for name on goos.
func libraryFile(dir, name, goos string) string {
	if goos == runtime.GOOS {
		return loader.GetLibraryFilename(dir, name)
	}
	switch goos { // the same rule as the loader's, for checking other platforms' archives
	case "windows":
		return filepath.Join(dir, name+".dll")
	case "darwin":
		return filepath.Join(dir, "lib"+name+".dylib")
	default:
		return filepath.Join(dir, "lib"+name+".so")
	}
}

// nodeToGo maps Node's platform and arch names to Go's.
func nodeToGo(s string) string {
	switch s {
	case "win32", "win":
		return "windows"
	case "mac":
		return "darwin"
	case "x64":
		return "amd64"
	}
	return s
}

// BinaryPlatform reads the header of an executable or shared library and
// returns the GOOS/GOARCH it is built for (for a universal Mach-O, goarch
// when it holds that architecture).
func BinaryPlatform(file, goarch string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if e, err := elf.NewFile(f); err == nil {
		switch e.Machine {
		case elf.EM_X86_64:
			return "linux/amd64", nil
		case elf.EM_AARCH64:
			return "linux/arm64", nil
		}
		return "linux/" + e.Machine.String(), nil
	}
	if p, err := pe.NewFile(f); err == nil {
		switch p.Machine {
		case pe.IMAGE_FILE_MACHINE_AMD64:
			return "windows/amd64", nil
		case pe.IMAGE_FILE_MACHINE_ARM64:
			return "windows/arm64", nil
		}
		return fmt.Sprintf("windows/machine-%#x", p.Machine), nil
	}
	if m, err := macho.NewFile(f); err == nil {
		return "darwin/" + machoArch(m.Cpu), nil
	}
	if fat, err := macho.NewFatFile(f); err == nil {
		// A universal library serves every architecture it holds.
		for _, a := range fat.Arches {
			if machoArch(a.Cpu) == goarch {
				return "darwin/" + goarch, nil
			}
		}
		return "darwin/" + machoArch(fat.Arches[0].Cpu), nil
	}
	return "", errors.New("neither ELF, PE nor Mach-O")
}

func machoArch(c macho.Cpu) string {
	switch c {
	case macho.CpuAmd64:
		return "amd64"
	case macho.CpuArm64:
		return "arm64"
	}
	return c.String()
}

func fileExists(file string) bool {
	_, err := os.Stat(file)
	return err == nil
}
