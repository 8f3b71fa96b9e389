package machocheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sampleTBD has the shapes of Zig's libSystem.N.tbd: a library re-exporting
// another's document, lists spanning lines, quoted names, per-target lists.
const sampleTBD = `--- !tapi-tbd
tbd-version:     4
targets:         [ x86_64-macos, arm64-macos,
                   arm64e-macos ]
install-name:    '/usr/lib/libSystem.B.dylib'
current-version: 1311.100.3
reexported-libraries:
  - targets:         [ x86_64-macos, arm64-macos ]
    libraries:       [ '/usr/lib/system/libsystem_c.dylib' ]
exports:
  - targets:         [ x86_64-macos, arm64-macos ]
    symbols:         [ 'R8289209$_close', _mach_init_routine,
                       __libSystem_initializer ]
  - targets:         [ x86_64-macos ]
    symbols:         [ _only_on_intel ]
...
--- !tapi-tbd
tbd-version:     4
targets:         [ x86_64-macos, arm64-macos ]
install-name:    '/usr/lib/system/libsystem_c.dylib'
exports:
  - targets:         [ arm64-macos, x86_64-macos ]
    symbols:         [ _malloc, _free ]
    weak-symbols:    [ _weak_one ]
    objc-classes:    [ NSThing ]
undefineds:
  - targets:         [ arm64-macos ]
    symbols:         [ _not_exported ]
...
`

func TestParseTBD(t *testing.T) {
	stub, err := ParseTBD(sampleTBD, "arm64-macos")
	if err != nil {
		t.Fatal(err)
	}
	if stub.InstallName != "/usr/lib/libSystem.B.dylib" {
		t.Errorf("install name %q", stub.InstallName)
	}
	for _, s := range []string{"R8289209$_close", "_mach_init_routine", "__libSystem_initializer", "_malloc", "_free", "_weak_one", "_OBJC_CLASS_$_NSThing", "_OBJC_METACLASS_$_NSThing"} {
		if !stub.Symbols[s] {
			t.Errorf("%s not exported", s)
		}
	}
	for _, s := range []string{"_only_on_intel", "_not_exported", "x86_64-macos"} {
		if stub.Symbols[s] {
			t.Errorf("%s exported for arm64", s)
		}
	}
	intel, err := ParseTBD(sampleTBD, "x86_64-macos")
	if err != nil || !intel.Symbols["_only_on_intel"] {
		t.Errorf("x86_64: %v, %v", intel, err)
	}
	if _, err := ParseTBD(sampleTBD, "arm64-ios"); err == nil || !strings.Contains(err.Error(), "not built for arm64-ios") {
		t.Errorf("another target: %v", err)
	}
}

func TestParseTBDRejects(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"", "no document"},
		{"install-name: x\n", "outside a document"},
		{"--- !tapi-tbd\ntargets: [ arm64-macos ]\nexports:\n  - targets: [ arm64-macos ]\n    symbols: [ _a,\n", "not closed"},
		{"--- !tapi-tbd\ntargets: [ arm64-macos ]\n...\n", "no install-name"},
		{"--- !tapi-tbd\njust words\n", "not key: value"},
	} {
		if _, err := ParseTBD(tc.text, "arm64-macos"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.text, err, tc.want)
		}
	}
}

// TestProjectStubs: the framework stubs mk/dist.sh links the darwin agents
// against parse for both targets and export what Go's crypto/x509 calls.
func TestProjectStubs(t *testing.T) {
	for fw, some := range map[string]string{"CoreFoundation": "_CFRelease", "Security": "_SecTrustEvaluateWithError"} {
		text, err := os.ReadFile(filepath.Join("..", "..", "..", "mk", "darwin", "frameworks", fw+".framework", fw+".tbd"))
		if err != nil {
			t.Fatal(err)
		}
		for _, target := range []string{"arm64-macos", "x86_64-macos"} {
			stub, err := ParseTBD(string(text), target)
			if err != nil {
				t.Fatalf("%s: %v", fw, err)
			}
			if want := "/System/Library/Frameworks/" + fw + ".framework/Versions/A/" + fw; stub.InstallName != want || !stub.Symbols[some] {
				t.Errorf("%s for %s: %s, %d symbols, want %s exporting %s", fw, target, stub.InstallName, len(stub.Symbols), want, some)
			}
		}
	}
}

func FuzzParseTBD(f *testing.F) {
	f.Add(sampleTBD)
	f.Add("--- !tapi-tbd\ntargets: [ arm64-macos ]\ninstall-name: 'x'\nexports:\n  - targets: [ arm64-macos ]\n    symbols: [ _a ]\n...\n")
	f.Fuzz(func(t *testing.T, text string) {
		stub, err := ParseTBD(text, "arm64-macos")
		if err == nil && stub.InstallName == "" {
			t.Fatal("parsed without an install name")
		}
	})
}
