package platforms_test

import (
	"debug/macho"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/servalhq/serval/integration/testsupport/machocheck"
)

// macLibrariesMinOS is the oldest macOS node-llama-cpp 3.21.1's libraries
// declare (LC_BUILD_VERSION); docs/platforms.md states it.
const macLibrariesMinOS = "14.0"

// macSystemLibraries are the libraries and frameworks outside the archive the
// llama.cpp libraries may load: every one ships with macOS 14. A new one is
// named by the test, so it is looked at before it ships.
var macSystemLibraries = []string{
	"/usr/lib/libSystem.B.dylib",
	"/usr/lib/libc++.1.dylib",
	"/usr/lib/libobjc.A.dylib",
	"/System/Library/Frameworks/Accelerate.framework/Versions/A/Accelerate",
	"/System/Library/Frameworks/CoreFoundation.framework/Versions/A/CoreFoundation",
	"/System/Library/Frameworks/Foundation.framework/Versions/C/Foundation",
	"/System/Library/Frameworks/Metal.framework/Versions/A/Metal",
	"/System/Library/Frameworks/MetalKit.framework/Versions/A/MetalKit",
}

// yzmaLookups returns, per library yzma's llama.Load opens ("ggml",
// "ggml-base", "llama"), the functions it looks up there by name (dlsym),
// read from yzma's own source: Load opens each library with
// loader.LoadLibrary(path, "<name>") and hands it to loadX(lib) functions
// whose lib.Prep("<function>", ...) calls do the lookups.
func yzmaLookups(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/hybridgroup/yzma").Output()
	if err != nil {
		t.Fatalf("go list -m github.com/hybridgroup/yzma: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "pkg", "llama")
	fset := token.NewFileSet()
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	funcs := map[string]*ast.FuncDecl{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil {
				funcs[fn.Name.Name] = fn
			}
		}
	}
	load := funcs["Load"]
	if load == nil {
		t.Fatalf("no func Load in %s", dir)
	}
	// In Load's order: which library each loadX(lib) call is given.
	loaderOf := map[string]string{}
	current := ""
	ast.Inspect(load.Body, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		switch fun := call.Fun.(type) {
		case *ast.SelectorExpr:
			if fun.Sel.Name == "LoadLibrary" && len(call.Args) == 2 {
				if lit, ok := call.Args[1].(*ast.BasicLit); ok {
					current, _ = strconv.Unquote(lit.Value)
				}
			}
		case *ast.Ident:
			if strings.HasPrefix(fun.Name, "load") && current != "" {
				loaderOf[fun.Name] = current
			}
		}
		return true
	})
	lookups := map[string][]string{}
	for name, lib := range loaderOf {
		fn := funcs[name]
		if fn == nil {
			t.Fatalf("yzma's Load calls %s, which is not in %s", name, dir)
		}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Prep" {
				if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					sym, _ := strconv.Unquote(lit.Value)
					lookups[lib] = append(lookups[lib], sym)
				}
			}
			return true
		})
	}
	return lookups
}

// macImage is one Mach-O file of a library folder.
type macImage struct {
	file string
	bin  *machocheck.Binary
}

// readMacLibraries reads every .dylib and .so in dir (links resolved).
func readMacLibraries(t *testing.T, dir string) map[string]macImage {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]macImage{}
	for _, e := range entries {
		if ext := filepath.Ext(e.Name()); ext != ".dylib" && ext != ".so" {
			continue
		}
		b, err := machocheck.Read(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = macImage{e.Name(), b}
	}
	return out
}

// TestDarwinLlamaLibraries checks, as far as Linux can, that the llama.cpp
// libraries in the darwin archives would load on a Mac and serve yzma:
// Mach-O for the archive's CPU; every library they load is either in the
// folder (by @rpath, through their @loader_path) or one macOS ships; every
// symbol they bind from one another, or from libSystem, is exported by it
// (libSystem: by Zig's stub of macOS 13's, the newest Zig 0.11 has); every
// function yzma looks up by name is exported by the library yzma opens for
// it (dlsym on a dlopen handle would also search what that loads: not
// needed, so not allowed); the arm64
// ones carry ad-hoc signatures whose page hashes match. Nothing here ran on
// a Mac.
func TestDarwinLlamaLibraries(t *testing.T) {
	lookups := yzmaLookups(t)
	total := 0
	for lib, syms := range lookups {
		total += len(syms)
		if len(syms) < 5 {
			t.Errorf("yzma looks up %d functions in %s: the source reading went wrong", len(syms), lib)
		}
	}
	if len(lookups) != 3 || total < 200 {
		t.Fatalf("read %d libraries, %d lookups from yzma's source; want ggml, ggml-base and llama, and the 220 or so functions of its pkg/llama", len(lookups), total)
	}
	for _, tc := range []struct {
		platform, dir string
		cpu           macho.Cpu
		signed        bool
	}{
		{"darwin-arm64", "metal", macho.CpuArm64, true},
		{"darwin-amd64", "cpu", macho.CpuAmd64, false},
	} {
		t.Run(tc.platform, func(t *testing.T) {
			dir := filepath.Join(unpacked(t, tc.platform), "lib", tc.dir)
			checkMacLibraries(t, t.Errorf, dir, tc.cpu, tc.signed, lookups)
		})
	}
	t.Run("darwin-arm64/cpu", func(t *testing.T) {
		// Apple silicon has one build: --device cpu (the default) uses it too.
		target, err := os.Readlink(filepath.Join(unpacked(t, "darwin-arm64"), "lib", "cpu"))
		if err != nil || target != "metal" {
			t.Errorf("lib/cpu: %q %v, want a link to metal", target, err)
		}
	})
}

// checkMacLibraries checks one folder of macOS llama.cpp libraries for cpu,
// reporting each problem through errorf (TestDarwinLlamaLibraries's checks).
func checkMacLibraries(t *testing.T, errorf func(string, ...any), dir string, cpu macho.Cpu, signed bool, lookups map[string][]string) {
	t.Helper()
	images := readMacLibraries(t, dir)
	libSystem := stubs(t, map[macho.Cpu]string{macho.CpuArm64: "arm64-macos", macho.CpuAmd64: "x86_64-macos"}[cpu], "13")["/usr/lib/libSystem.B.dylib"]
	byInstallName := map[string]macImage{}
	for _, img := range images {
		b := img.bin
		want := macho.TypeDylib
		if strings.HasSuffix(img.file, ".so") {
			want = macho.TypeBundle // ggml's backends, dlopened by ggml_backend_load_all_from_path
		}
		if b.File.Type != want || b.File.Cpu != cpu {
			errorf("%s: a %v for %v, want a %v for %v", img.file, b.File.Type, b.File.Cpu, want, cpu)
		}
		if b.Platform != 1 || b.MinOS != macLibrariesMinOS {
			errorf("%s: platform %d, macOS %s and later; want macOS (1) %s", img.file, b.Platform, b.MinOS, macLibrariesMinOS)
		}
		if signed {
			checkSignature(t, b, true)
		}
		if want == macho.TypeDylib {
			byInstallName[b.InstallName] = img
		}
	}
	for _, img := range images {
		b := img.bin
		if !slices.Equal(b.Rpaths, []string{"@loader_path"}) {
			errorf("%s: rpaths %v, want [@loader_path] (the folder it is in)", img.file, b.Rpaths)
		}
		for _, lib := range b.Dylibs {
			if rel, ok := strings.CutPrefix(lib, "@rpath/"); ok {
				dep, found := images[rel]
				if !found || dep.bin.InstallName != lib {
					errorf("%s loads %s: no such library in %s", img.file, lib, dir)
				}
				continue
			}
			if !slices.Contains(macSystemLibraries, lib) {
				errorf("%s loads %s: neither in the archive nor one of the system libraries %v", img.file, lib, macSystemLibraries)
			}
		}
		var unresolved []string
		for _, imp := range b.Imports {
			if dep, ok := byInstallName[imp.Library]; ok && !dep.bin.Exports[imp.Name] && imp.Library != b.InstallName {
				unresolved = append(unresolved, imp.Name+" from "+imp.Library)
			}
			if imp.Library == "/usr/lib/libSystem.B.dylib" && !libSystem[imp.Name] {
				unresolved = append(unresolved, imp.Name+" from libSystem")
			}
		}
		if len(unresolved) > 0 {
			errorf("%s binds symbols its libraries in the archive do not export: %v", img.file, unresolved)
		}
	}
	// yzma opens lib<name>.dylib and looks its functions up there.
	for lib, syms := range lookups {
		img, ok := images["lib"+lib+".dylib"]
		if !ok {
			errorf("no lib%s.dylib in %s", lib, dir)
			continue
		}
		// The file must be the library its install name names (itself or by a
		// link): a copy under another name would be a second image to dyld,
		// beside the one the other libraries load by install name.
		if resolved, err := filepath.EvalSymlinks(filepath.Join(dir, img.file)); err != nil || "@rpath/"+filepath.Base(resolved) != img.bin.InstallName {
			errorf("%s is %s (%v), whose install name is %s: dyld would load that library twice", img.file, resolved, err, img.bin.InstallName)
		}
		var missing []string
		for _, sym := range syms {
			if !img.bin.Exports["_"+sym] {
				missing = append(missing, sym)
			}
		}
		if len(missing) > 0 {
			errorf("lib%s.dylib does not export %d of the %d functions yzma looks up there: %v", lib, len(missing), len(syms), missing)
			continue
		}
		t.Logf("lib%s.dylib (%s): exports all %d functions yzma looks up there", lib, img.bin.InstallName, len(syms))
	}
	t.Logf("%d libraries, all for %v, macOS %s+, loading only each other and %d system libraries", len(images), cpu, macLibrariesMinOS, len(macSystemLibraries))
}

// TestDarwinLlamaLibraryChecksCatch: the checks above name a library folder
// that would not load on a Mac or would not serve yzma: libllama.dylib linked
// to another library (node-llama-cpp's libllama-common), libggml.dylib a copy
// instead of a link, and libggml-base missing, which the others load through
// @rpath.
func TestDarwinLlamaLibraryChecksCatch(t *testing.T) {
	lookups := yzmaLookups(t)
	src := filepath.Join(unpacked(t, "darwin-amd64"), "lib", "cpu")
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-a", src+"/.", dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	if err := os.Remove(filepath.Join(dir, "libllama.dylib")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("libllama-common.dylib", filepath.Join(dir, "libllama.dylib")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "libggml-base.dylib")); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "--remove-destination", filepath.Join(dir, "libggml.v0.4.0.dylib"), filepath.Join(dir, "libggml.dylib")).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	var problems []string
	checkMacLibraries(t, func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }, dir, macho.CpuAmd64, false, lookups)
	all := strings.Join(problems, "\n")
	for _, want := range []string{
		"libggml.dylib is " + dir + "/libggml.dylib (<nil>), whose install name is @rpath/libggml.v0.4.0.dylib: dyld would load that library twice",
		"libllama.dylib does not export",
		"_llama_model_load_from_file",
		"loads @rpath/libggml-base.dylib: no such library",
		"no libggml-base.dylib in",
	} {
		if !strings.Contains(all, strings.TrimPrefix(want, "_")) {
			t.Errorf("the checks did not say %q; they said:\n%s", want, all)
		}
	}
}

// TestDarwinEmbeddedLibffi: serval loads libffi before anything else
// (github.com/jupiterrider/ffi's init, under yzma, panics without it). On
// macOS that package embeds its own libffi.8.dylib and writes it to the
// user's cache folder at start, so it is in every darwin serval. It must be a
// dylib for the CPU, signed on arm64, loading only libSystem, exporting every
// function the package's init looks up, and binding only libSystem symbols a
// Mac at serval's minimum (macOS 12) has: it declares a newer macOS than
// serval (15.0 on arm64, 14.0 on x86_64), which dyld does not enforce, so
// the symbols are what decides whether it loads there.
func TestDarwinEmbeddedLibffi(t *testing.T) {
	distDir(t)
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/jupiterrider/ffi").Output()
	if err != nil {
		t.Fatalf("go list -m github.com/jupiterrider/ffi: %v", err)
	}
	dir := strings.TrimSpace(string(out))
	initSrc, err := os.ReadFile(filepath.Join(dir, "init.go"))
	if err != nil {
		t.Fatal(err)
	}
	var wanted []string
	for _, m := range regexp.MustCompile(`\.Get\("([a-z_0-9]+)"\)`).FindAllStringSubmatch(string(initSrc), -1) {
		wanted = append(wanted, m[1])
	}
	if len(wanted) < 5 {
		t.Fatalf("read %d lookups from %s/init.go: %v", len(wanted), dir, wanted)
	}
	for _, tc := range []struct {
		arch, target string
		cpu          macho.Cpu
	}{
		{"darwin_arm64", "arm64-macos", macho.CpuArm64},
		{"darwin_amd64", "x86_64-macos", macho.CpuAmd64},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			b, err := machocheck.Read(filepath.Join(dir, "assets", "libffi", tc.arch, "libffi.8.dylib"))
			if err != nil {
				t.Fatal(err)
			}
			if b.File.Type != macho.TypeDylib || b.File.Cpu != tc.cpu {
				t.Errorf("a %v for %v, want a dylib for %v", b.File.Type, b.File.Cpu, tc.cpu)
			}
			if !slices.Equal(b.Dylibs, []string{"/usr/lib/libSystem.B.dylib"}) {
				t.Errorf("loads %v, want libSystem only", b.Dylibs)
			}
			checkSignature(t, b, tc.cpu == macho.CpuArm64)
			for _, fn := range wanted {
				if !b.Exports["_"+fn] {
					t.Errorf("does not export %s, which ffi's init looks up", fn)
				}
			}
			libSystem := stubs(t, tc.target, strings.Split(minMacOS, ".")[0])["/usr/lib/libSystem.B.dylib"]
			var missing []string
			for _, imp := range b.Imports {
				if imp.Library == "/usr/lib/libSystem.B.dylib" && !libSystem[imp.Name] {
					missing = append(missing, imp.Name)
				}
			}
			if len(missing) > 0 {
				t.Errorf("binds %v, which macOS %s's libSystem (Zig's stub) lacks", missing, minMacOS)
			}
			t.Logf("libffi.8.dylib: declares macOS %s; exports the %d functions ffi looks up; its %d libSystem binds are all in macOS %s's", b.MinOS, len(wanted), len(b.Imports), minMacOS)
		})
	}
}
