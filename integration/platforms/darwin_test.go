package platforms_test

import (
	"debug/macho"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/servalhq/serval/integration/testsupport/machocheck"
)

// minMacOS is the oldest macOS the darwin binaries declare (LC_BUILD_VERSION):
// Go's own minimum, which mk/dist.sh gives Zig; docs/platforms.md states it.
const minMacOS = "12.0"

var frameworkStubs = map[string]string{
	"/System/Library/Frameworks/CoreFoundation.framework/Versions/A/CoreFoundation": "CoreFoundation.framework/CoreFoundation.tbd",
	"/System/Library/Frameworks/Security.framework/Versions/A/Security":             "Security.framework/Security.tbd",
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// libSystemTBD is Zig's stub of libSystem for macOS major version, in the
// toolchain make darwin-toolchain caches.
func libSystemTBD(t *testing.T, major string) string {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(cacheDir(), "zig-*", "lib", "libc", "darwin", "libSystem."+major+".tbd"))
	if len(matches) == 0 {
		t.Fatalf("no Zig toolchain with libSystem.%s.tbd in %s (make darwin-toolchain)", major, cacheDir())
	}
	return matches[len(matches)-1]
}

// stubs returns each library's exported symbols for target ("arm64-macos"):
// libSystem from Zig's stub for the minimum macOS, the frameworks from the
// project's stubs that linked the agent, libresolv from the project's list.
// major is the macOS whose libSystem stub is used.
func stubs(t *testing.T, target, major string) map[string]map[string]bool {
	t.Helper()
	out := map[string]map[string]bool{}
	files := []string{libSystemTBD(t, major)}
	for _, rel := range frameworkStubs {
		files = append(files, filepath.Join(repoRoot(t), "mk", "darwin", "frameworks", rel))
	}
	// Go's net (internal/syscall/unix) binds libresolv's DNS calls in serval.
	files = append(files, filepath.Join(repoRoot(t), "mk", "darwin", "libresolv.9.tbd"))
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		stub, err := machocheck.ParseTBD(string(text), target)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[stub.InstallName] = stub.Symbols
	}
	return out
}

// TestDarwinBinaries checks what a Mac would check at launch, as far as a
// Linux machine can: a Mach-O executable for the platform's CPU, loading only
// system libraries, declaring the minimum macOS, signed on arm64 with page
// hashes matching the file (the kernel kills a process whose page does not
// match its hash), and binding only symbols the libraries export.
func TestDarwinBinaries(t *testing.T) {
	for _, tc := range []struct {
		platform, target string
		cpu              macho.Cpu
	}{
		{"darwin-arm64", "arm64-macos", macho.CpuArm64},
		{"darwin-amd64", "x86_64-macos", macho.CpuAmd64},
	} {
		dir := unpacked(t, tc.platform)
		exports := stubs(t, tc.target, strings.Split(minMacOS, ".")[0])
		for _, bin := range []string{"serval-agent", "serval"} {
			t.Run(tc.platform+"/"+bin, func(t *testing.T) {
				b, err := machocheck.Read(filepath.Join(dir, bin))
				if err != nil {
					t.Fatal(err)
				}
				if b.File.Type != macho.TypeExec || b.File.Cpu != tc.cpu {
					t.Errorf("a %v for %v, want an executable for %v", b.File.Type, b.File.Cpu, tc.cpu)
				}
				if b.Dylinker != "/usr/lib/dyld" || len(b.Rpaths) != 0 {
					t.Errorf("dylinker %q, rpaths %v: want /usr/lib/dyld and none", b.Dylinker, b.Rpaths)
				}
				for _, lib := range b.Dylibs {
					if _, framework := frameworkStubs[lib]; !framework && lib != "/usr/lib/libSystem.B.dylib" && lib != "/usr/lib/libresolv.9.dylib" {
						t.Errorf("loads %s, not a library every Mac has", lib)
					}
				}
				if bin == "serval-agent" && !slices.Equal(b.Dylibs, []string{"/usr/lib/libSystem.B.dylib",
					"/System/Library/Frameworks/CoreFoundation.framework/Versions/A/CoreFoundation",
					"/System/Library/Frameworks/Security.framework/Versions/A/Security"}) {
					t.Errorf("the agent loads %v, want libSystem, CoreFoundation and Security", b.Dylibs)
				}
				if b.Platform != 1 || b.MinOS != minMacOS {
					t.Errorf("built for platform %d, macOS %q and later; want macOS (1) %s", b.Platform, b.MinOS, minMacOS)
				}
				checkSignature(t, b, tc.cpu == macho.CpuArm64)
				var unresolved []string
				for _, imp := range b.Imports {
					if !exports[imp.Library][imp.Name] {
						unresolved = append(unresolved, imp.Name+" from "+imp.Library)
					}
				}
				if len(b.Imports) < 50 || len(unresolved) > 0 {
					t.Errorf("%d bound symbols; not exported by the libraries' stubs: %v", len(b.Imports), unresolved)
				}
				t.Logf("%s: %d bytes, macOS %s+, libraries %v, %d bound symbols all exported", bin, len(b.Data), b.MinOS, b.Dylibs, len(b.Imports))
			})
		}
	}
}

// checkSignature verifies an embedded signature; required says whether the
// binary must carry one (Apple silicon runs no unsigned code).
func checkSignature(t *testing.T, b *machocheck.Binary, required bool) {
	t.Helper()
	if b.SigSize == 0 {
		if required {
			t.Error("no LC_CODE_SIGNATURE: Apple silicon kills unsigned executables")
		}
		return
	}
	sig, err := b.Signature()
	if err != nil {
		t.Fatal(err)
	}
	cd := sig.Directory
	if cd.Flags&machocheck.FlagAdhoc == 0 || cd.PageSize != 4096 || cd.HashSize != 32 {
		t.Errorf("code directory: flags %#x, pages of %d, hashes of %d bytes; want ad hoc, 4096, SHA-256", cd.Flags, cd.PageSize, cd.HashSize)
	}
	if err := sig.Verify(b.Data, b.SigOffset); err != nil {
		t.Error(err)
	}
	if b.SigOffset+b.SigSize > uint64(len(b.Data)) || uint64(len(b.Data))-(b.SigOffset+b.SigSize) > 16*1024 {
		t.Errorf("the signature (%d bytes at %d) is not at the end of the %d-byte file", b.SigSize, b.SigOffset, len(b.Data))
	}
}

// TestDarwinSignatureCorruptionCaught: the checks above would notice an
// agent changed after signing (one byte of its code) or a signature whose
// page hash is wrong, as the kernel would.
func TestDarwinSignatureCorruptionCaught(t *testing.T) {
	path := filepath.Join(unpacked(t, "darwin-arm64"), "serval-agent")
	b, err := machocheck.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	text := b.File.Section("__text")
	if text == nil {
		t.Fatal("no __text section")
	}
	at := uint64(text.Offset) + text.Size/2
	changed := slices.Clone(b.Data)
	changed[at] ^= 0xff
	sig, err := machocheck.ParseSignature(changed[b.SigOffset : b.SigOffset+b.SigSize])
	if err != nil {
		t.Fatal(err)
	}
	var pe *machocheck.PageError
	if err := sig.Verify(changed, b.SigOffset); !errors.As(err, &pe) || pe.Page != int(at/4096) {
		t.Errorf("a changed code byte at %d: %v, want page %d reported", at, err, at/4096)
	}
	changed = slices.Clone(b.Data)
	sig, err = machocheck.ParseSignature(changed[b.SigOffset : b.SigOffset+b.SigSize])
	if err != nil {
		t.Fatal(err)
	}
	victim := len(sig.Directory.CodeHashes) / 3
	sig.Directory.CodeHashes[victim][0] ^= 1 // a view into changed
	err = sig.Verify(changed, b.SigOffset)
	if !errors.As(err, &pe) || pe.Page != victim {
		t.Errorf("a corrupted hash of page %d: %v, want that page reported", victim, err)
	}
	t.Logf("caught: %v", err)
}

// TestFrameworkStubCheck: mk/dist.sh refuses to link the darwin agents when
// the framework stubs lack a symbol the Go packages import, and names it.
func TestFrameworkStubCheck(t *testing.T) {
	root := repoRoot(t)
	run := func(frameworks string) (string, error) {
		cmd := exec.Command(filepath.Join(root, "mk", "dist.sh"), "darwin-check")
		cmd.Env = append(os.Environ(), "DARWIN_FRAMEWORKS="+frameworks)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(filepath.Join(root, "mk", "darwin", "frameworks")); err != nil {
		t.Fatalf("the project's stubs: %v\n%s", err, out)
	}
	stubs := t.TempDir()
	if out, err := exec.Command("cp", "-r", filepath.Join(root, "mk", "darwin", "frameworks")+"/.", stubs).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	cf := filepath.Join(stubs, "CoreFoundation.framework", "CoreFoundation.tbd")
	text, err := os.ReadFile(cf)
	if err != nil {
		t.Fatal(err)
	}
	without := regexp.MustCompile(`\b_CFRelease,\s*`).ReplaceAllString(string(text), "")
	if without == string(text) {
		t.Fatal("the CoreFoundation stub does not list _CFRelease")
	}
	if err := os.WriteFile(cf, []byte(without), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(stubs, "Security.framework")); err != nil {
		t.Fatal(err)
	}
	out, err := run(stubs)
	if err == nil {
		t.Fatalf("darwin-check passed without _CFRelease and Security:\n%s", out)
	}
	for _, want := range []string{"_CFRelease in " + cf + " (", "crypto/x509/internal/macos/corefoundation.go)", "Security.framework (no stub", "add each to its stub's symbols"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
