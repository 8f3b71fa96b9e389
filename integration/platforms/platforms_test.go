// Package platforms_test checks the release archives `make dist` builds for
// other platforms, and runs what this Linux x64 machine can run of them:
// linux-arm64 under qemu-user-static (the agent over stdio, and a server
// completion on the generated model), windows-amd64 under wine (the agent
// over stdio, and serval.exe's startup message without llama.cpp DLLs).
// darwin binaries are only inspected (darwin_test.go: Mach-O CPU, libraries,
// minimum macOS, code signature, bound symbols; darwin_llama_test.go: the
// llama.cpp libraries against what yzma looks up), never run;
// darwin_cache_test.go checks the content-keyed cache of the darwin agents.
//
// The tests need $SERVAL_DIST_DIR (make test-platforms sets it after
// building the archives); without it they skip with one line.
package platforms_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.lsp.dev/protocol"

	"github.com/servalhq/serval/integration/testsupport/ggufgen"
	"github.com/servalhq/serval/integration/testsupport/lspclient"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
	"github.com/servalhq/serval/lsp"
	"github.com/servalhq/serval/server/engine/llama"
)

// distDir returns the folder holding the archives, or skips.
func distDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SERVAL_DIST_DIR")
	if dir == "" {
		t.Skip("SERVAL_DIST_DIR is not set: `make test-platforms` builds the archives and runs these tests")
	}
	return dir
}

// unpacked extracts the archive for platform once per test process and
// returns its top folder.
func unpacked(t *testing.T, platform string) string {
	t.Helper()
	dist := distDir(t)
	matches, _ := filepath.Glob(filepath.Join(dist, "serval-*-"+platform+".*"))
	var archive string
	for _, m := range matches {
		if strings.HasSuffix(m, ".tar.gz") || strings.HasSuffix(m, ".zip") {
			archive = m
		}
	}
	if archive == "" {
		t.Fatalf("no archive for %s in %s (make dist)", platform, dist)
	}
	out := filepath.Join(t.TempDir(), platform)
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	var cmd *exec.Cmd
	if strings.HasSuffix(archive, ".zip") {
		cmd = exec.Command("unzip", "-q", archive, "-d", out)
	} else {
		cmd = exec.Command("tar", "-C", out, "-xzf", archive)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("unpack %s: %v\n%s", archive, err, b)
	}
	top, _ := filepath.Glob(filepath.Join(out, "serval-*-"+platform))
	if len(top) != 1 {
		t.Fatalf("%s: want one top folder serval-VERSION-%s, got %v", archive, platform, top)
	}
	return top[0]
}

// checkSums verifies every line of dir/SHA256SUMS and that it lists every file.
func checkSums(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	listed := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q", sc.Text())
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(b)
		if hex.EncodeToString(h[:]) != sum {
			t.Errorf("%s: checksum mismatch", name)
		}
		listed[name] = true
	}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && d.Name() != "SHA256SUMS" {
			rel, _ := filepath.Rel(dir, p)
			if !listed[rel] {
				t.Errorf("%s is not in SHA256SUMS", rel)
			}
		}
		return nil
	})
}

func exe(platform, name string) string {
	if strings.HasPrefix(platform, "windows-") {
		return name + ".exe"
	}
	return name
}

func readme(t *testing.T, dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "README.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestArchives checks each platform's archive: binaries built for that
// platform, libraries of exactly the bound llama.cpp release for it (or none
// where node-llama-cpp publishes none, said in the README), notices, sums.
func TestArchives(t *testing.T) {
	for _, tc := range []struct {
		platform string
		devices  []string // lib/<device> folders
	}{
		{"linux-amd64", []string{"cpu", "vulkan"}},
		{"linux-arm64", []string{"cpu"}},
		{"windows-amd64", nil},
		{"darwin-arm64", []string{"cpu", "metal"}}, // cpu: a link to metal (darwin_llama_test.go)
		{"darwin-amd64", []string{"cpu"}},
	} {
		t.Run(tc.platform, func(t *testing.T) {
			dir := unpacked(t, tc.platform)
			goos, goarch, _ := strings.Cut(tc.platform, "-")
			want := goos + "/" + goarch
			for _, bin := range []string{"serval", "serval-agent"} {
				p := filepath.Join(dir, exe(tc.platform, bin))
				got, err := llama.BinaryPlatform(p, goarch)
				if err != nil || got != want {
					t.Errorf("%s: built for %s (%v), want %s", bin, got, err, want)
				}
			}
			libs, _ := filepath.Glob(filepath.Join(dir, "lib", "*"))
			if len(libs) != len(tc.devices) {
				t.Errorf("lib folders %v, want %v", libs, tc.devices)
			}
			for _, dev := range tc.devices {
				if err := llama.CheckLibrariesFor(filepath.Join(dir, "lib", dev), dev, goos, goarch); err != nil {
					t.Errorf("lib/%s: %v", dev, err)
				}
			}
			if len(tc.devices) == 0 && !strings.Contains(readme(t, dir), "No llama.cpp libraries") {
				t.Errorf("README does not say there are no libraries:\n%s", readme(t, dir))
			}
			if fi, err := os.Stat(filepath.Join(dir, "THIRD_PARTY_NOTICES.txt")); err != nil || fi.Size() < 10000 {
				t.Errorf("THIRD_PARTY_NOTICES.txt: %v", err)
			}
			checkSums(t, dir)
		})
	}
}

// emulator returns the command prefix that runs platform's binaries here, or skips.
func emulator(t *testing.T, platform string) []string {
	t.Helper()
	distDir(t)
	switch platform {
	case "linux-arm64":
		q, err := exec.LookPath("qemu-aarch64-static")
		if err != nil {
			t.Skip("qemu-aarch64-static is not installed (apt-get install qemu-user-static)")
		}
		// serval loads libffi.so.8 at start; Debian's arm64 cross packages lack it
		// (mk/dist.sh arm64-runtime fetches it).
		libs := filepath.Join(cacheDir(), "arm64-libs")
		if _, err := os.Stat(filepath.Join(libs, "libffi.so.8")); err != nil {
			t.Skip("no arm64 libffi.so.8 in " + libs + " (make test-platforms fetches it: mk/dist.sh arm64-runtime)")
		}
		return []string{q, "-L", "/usr/aarch64-linux-gnu", "-E", "LD_LIBRARY_PATH=" + libs}
	case "windows-amd64":
		w, err := exec.LookPath("wine")
		if err != nil {
			t.Skip("wine is not installed (apt-get install wine)")
		}
		startWineserver(t)
		return []string{w}
	}
	t.Fatalf("no emulator for %s", platform)
	return nil
}

// startWineserver runs the wine server for the test's prefix, and Wine's
// background services (services.exe, winedevice.exe), until the test ends.
// Started by the program under test instead, they would inherit its
// stdout/stderr pipes and hold them open after it exits, so waiting for it
// would never end.
func startWineserver(t *testing.T) {
	t.Helper()
	env := append(os.Environ(), emulatorEnv()...)
	ws := exec.Command("wineserver", "--foreground", "--persistent")
	ws.Env = env
	if err := ws.Start(); err != nil {
		t.Fatalf("wineserver: %v", err)
	}
	t.Cleanup(func() {
		kill := exec.Command("wineserver", "--kill")
		kill.Env = env
		kill.Run()
		ws.Process.Kill()
		ws.Wait()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	boot := exec.CommandContext(ctx, "wine", "cmd", "/c", "exit") // stdio: /dev/null
	boot.Env = env
	if err := boot.Run(); err != nil {
		t.Fatalf("wine cmd /c exit: %v", err)
	}
}

// cacheDir is make's SERVAL_CACHE: ${XDG_CACHE_HOME:-$HOME/.cache}/serval.
func cacheDir() string {
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "serval")
}

// emulatorEnv keeps wine quiet and its prefix (slow to create) cached.
func emulatorEnv() []string {
	return []string{
		"WINEPREFIX=" + filepath.Join(cacheDir(), "wine-prefix"),
		"WINEDEBUG=-all", "WINEDLLOVERRIDES=mscoree,mshtml=", "DISPLAY=",
	}
}

// TestAgentEmulated runs each foreign agent over stdio through its emulator
// against the real (native) serval: initialize, a document, ghost text.
func TestAgentEmulated(t *testing.T) {
	for _, platform := range []string{"linux-arm64", "windows-amd64"} {
		t.Run(platform, func(t *testing.T) {
			wrap := emulator(t, platform)
			agent := filepath.Join(unpacked(t, platform), exe(platform, "serval-agent"))
			srv := servaltest.Start(t, servaltest.Options{Args: []string{"--max-tokens", "16"}})
			home := t.TempDir()
			env := append([]string{"HOME=" + home, "PATH=" + os.Getenv("PATH"),
				"SERVAL_ENDPOINT=" + srv.URL, "SERVAL_TOKEN=" + srv.Token}, emulatorEnv()...)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			c, err := lspclient.Start(ctx, wrap[0], lspclient.Options{Args: append(wrap[1:], agent, "--stdio"), Env: env})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer scancel()
				if platform == "windows-amd64" {
					// On Windows, closing stdin waits for the read in progress: the
					// agent must end on exit while the editor keeps its stdin open.
					if err := c.Call(sctx, "shutdown", nil, nil); err != nil {
						t.Errorf("shutdown: %v", err)
					}
					c.Notify(sctx, "exit", nil)
					select {
					case <-c.Done(): // its stdout closed: the process ended
					case <-sctx.Done():
						t.Error("under Wine the agent did not end on exit while its stdin stayed open")
					}
					c.Close()
				} else if err := c.Shutdown(sctx); err != nil {
					t.Errorf("shutdown: %v", err)
				}
				if t.Failed() {
					t.Logf("agent stderr:\n%s", c.Stderr())
				}
			}()
			var res lsp.InitializeResult
			// Wine's first start in a fresh prefix takes a while: the bound is generous.
			if err := c.Call(ctx, "initialize", map[string]any{
				"processId":    nil,
				"capabilities": map[string]any{"textDocument": map[string]any{"inlineCompletion": map[string]any{}}},
			}, &res); err != nil {
				t.Fatal(err)
			}
			if res.Capabilities.InlineCompletionProvider == nil {
				t.Fatalf("no inline completion capability: %+v", res.Capabilities)
			}
			c.Notify(ctx, "initialized", map[string]any{})
			uri := "file:///work/main.py"
			if platform == "windows-amd64" {
				uri = "file:///C:/work/main.py"
			}
			c.Notify(ctx, "textDocument/didOpen", map[string]any{"textDocument": map[string]any{
				"uri": uri, "languageId": "python", "version": 1, "text": "def total(items):\n    "}})
			// Random model weights: some positions' text is filtered away; try a few.
			var got string
			for attempt := 0; attempt < 6 && got == ""; attempt++ {
				var list lsp.InlineCompletionList
				if err := c.Call(ctx, lsp.MethodInlineCompletion, map[string]any{
					"textDocument": map[string]any{"uri": uri}, "position": protocol.Position{Line: 1, Character: 4},
					"context": map[string]any{"triggerKind": 1}}, &list); err != nil {
					t.Fatal(err)
				}
				if len(list.Items) > 0 {
					got = list.Items[0].InsertText
				}
			}
			if got == "" {
				t.Fatal("no ghost text from the real server through the emulated agent")
			}
			t.Logf("%s agent under %s: %q", platform, filepath.Base(wrap[0]), got)
		})
	}
}

// complete sends one raw completion to /openai/v1/completions.
func complete(t *testing.T, url, token string) (text string, tokens int) {
	t.Helper()
	body := `{"prompt":"def fibonacci(n):\n    ","max_tokens":8,"temperature":0}`
	req, _ := http.NewRequest("POST", url+"/openai/v1/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("completion: %s: %s", resp.Status, raw)
	}
	var out struct {
		Choices []struct{ Text string } `json:"choices"`
		Usage   struct {
			CompletionTokens int `json:"completion_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || len(out.Choices) != 1 {
		t.Fatalf("completion answer %s: %v", raw, err)
	}
	return out.Choices[0].Text, out.Usage.CompletionTokens
}

// TestServerEmulatedArm64 serves the generated model with the linux-arm64
// serval and the arm64 llama.cpp libraries from its archive, under qemu.
func TestServerEmulatedArm64(t *testing.T) {
	wrap := emulator(t, "linux-arm64")
	dir := unpacked(t, "linux-arm64")
	srv := servaltest.Start(t, servaltest.Options{
		Binary: filepath.Join(dir, "serval"), Wrapper: wrap,
		Args:         []string{"--lib-dir", filepath.Join(dir, "lib", "cpu"), "--ctx-size", "256"},
		StartTimeout: 4 * time.Minute,
	})
	text, n := complete(t, srv.URL, srv.Token)
	if n == 0 {
		t.Fatalf("no tokens generated under qemu (text %q)\n%s", text, srv.Logs())
	}
	t.Logf("linux-arm64 serval under qemu: %d tokens %q", n, text)
}

// runFails runs a foreign serval that must refuse to start and returns its output.
func runFails(t *testing.T, wrap []string, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, wrap[0], append(append(wrap[1:], bin), args...)...)
	cmd.Env = append(os.Environ(), emulatorEnv()...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err == nil {
		t.Fatalf("%s %q started", bin, args)
	}
	if strings.Contains(out.String(), "SIGSEGV") || strings.Contains(out.String(), "goroutine ") {
		t.Errorf("%s crashed instead of refusing:\n%s", bin, out.String())
	}
	return out.String()
}

// TestForeignLibrariesRefused: libraries for another platform beside a
// serval, and no libraries at all on Windows, give messages naming the
// platform and what to install; the loader never sees them.
func TestForeignLibrariesRefused(t *testing.T) {
	model := servaltest.TestModel(t, ggufgen.Options{})
	t.Run("linux-arm64 serval with x64 libraries", func(t *testing.T) {
		wrap := emulator(t, "linux-arm64")
		x64 := filepath.Join(unpacked(t, "linux-amd64"), "lib", "cpu")
		out := runFails(t, wrap, filepath.Join(unpacked(t, "linux-arm64"), "serval"),
			"serve", "--model", model, "--port", "0", "--data-dir", t.TempDir(), "--lib-dir", x64)
		for _, want := range []string{"built for linux/x64, this serval is linux/arm64", "@node-llama-cpp/linux-arm64@3.22.1"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("windows serval without DLLs", func(t *testing.T) {
		wrap := emulator(t, "windows-amd64")
		dir := unpacked(t, "windows-amd64")
		out := runFails(t, wrap, filepath.Join(dir, "serval.exe"),
			"serve", "--model", model, "--port", "0", "--data-dir", t.TempDir())
		for _, want := range []string{"no llama.dll", "windows/amd64", "@node-llama-cpp/win-x64@3.22.1", "--model ollama:"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})
}

// TestVSCodePackages checks the VS Code packages: each target's holds that
// target's agent only and names the target in its manifest; the universal one
// holds every agent built here.
func TestVSCodePackages(t *testing.T) {
	dist := distDir(t)
	// agentsIn lists a package's agents (platform/serval-agent[.exe]), each of
	// which must be the very file make dist built for that platform.
	agentsIn := func(t *testing.T, vsix string) (agents []string, manifest string) {
		t.Helper()
		z, err := zip.OpenReader(vsix)
		if err != nil {
			t.Fatal(err)
		}
		defer z.Close()
		for _, f := range z.File {
			if rest, ok := strings.CutPrefix(f.Name, "extension/bin/"); ok {
				agents = append(agents, rest)
				r, err := f.Open()
				if err != nil {
					t.Fatal(err)
				}
				packed := sha256.New()
				_, err = io.Copy(packed, r)
				r.Close()
				if err != nil {
					t.Fatal(err)
				}
				built, err := os.ReadFile(filepath.Join(dist, "build", filepath.FromSlash(rest)))
				if err != nil {
					t.Fatalf("%s: %v", rest, err)
				}
				if want := sha256.Sum256(built); !bytes.Equal(packed.Sum(nil), want[:]) {
					t.Errorf("%s in %s is not the agent make dist built for %s", rest, filepath.Base(vsix), path.Dir(rest))
				}
			}
			if f.Name == "extension.vsixmanifest" {
				r, err := f.Open()
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(r)
				r.Close()
				manifest = string(b)
			}
		}
		return agents, manifest
	}
	built := map[string]string{ // VS Code target -> the agent it must hold
		"linux-x64":    "linux-amd64/serval-agent",
		"linux-arm64":  "linux-arm64/serval-agent",
		"win32-x64":    "windows-amd64/serval-agent.exe",
		"darwin-arm64": "darwin-arm64/serval-agent",
		"darwin-x64":   "darwin-amd64/serval-agent",
	}
	for target, agent := range built {
		t.Run(target, func(t *testing.T) {
			matches, _ := filepath.Glob(filepath.Join(dist, "serval-*-"+target+".vsix"))
			if len(matches) != 1 {
				t.Fatalf("want one %s package in %s, got %v", target, dist, matches)
			}
			agents, manifest := agentsIn(t, matches[0])
			if len(agents) != 1 || agents[0] != agent {
				t.Errorf("agents %v, want [%s]", agents, agent)
			}
			if !strings.Contains(manifest, `TargetPlatform="`+target+`"`) {
				t.Errorf("manifest does not name target %s:\n%s", target, manifest)
			}
		})
	}
	t.Run("universal", func(t *testing.T) {
		matches, _ := filepath.Glob(filepath.Join(dist, "serval-*-universal.vsix"))
		if len(matches) != 1 {
			t.Fatalf("want one universal package in %s, got %v", dist, matches)
		}
		agents, manifest := agentsIn(t, matches[0])
		if strings.Contains(manifest, "TargetPlatform") {
			t.Errorf("the universal package names a target:\n%s", manifest)
		}
		want := slices.Sorted(maps.Values(built))
		if slices.Sort(agents); !slices.Equal(agents, want) {
			t.Errorf("agents %v, want the %d built here: %v", agents, len(built), want)
		}
	})
}

// TestWindowsServerFrontsRemote runs serval.exe under wine in front of a
// native serval over the OpenAI-compatible API (no in-process engine on
// Windows at llama.cpp v0.5.0) and gets a completion through it.
func TestWindowsServerFrontsRemote(t *testing.T) {
	wrap := emulator(t, "windows-amd64")
	dir := unpacked(t, "windows-amd64")
	upstream := servaltest.Start(t, servaltest.Options{Args: []string{"--no-auth"}})
	resp, err := http.Get(upstream.URL + "/openai/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	var models struct {
		Data []struct{ ID string } `json:"data"`
	}
	err = json.NewDecoder(resp.Body).Decode(&models)
	resp.Body.Close()
	if err != nil || len(models.Data) != 1 {
		t.Fatalf("upstream's models: %+v, %v", models, err)
	}
	front := servaltest.Start(t, servaltest.Options{
		Binary: filepath.Join(dir, "serval.exe"), Wrapper: wrap,
		Model:        "openai:" + upstream.URL + "/openai/v1#" + models.Data[0].ID,
		Env:          emulatorEnv(),
		StartTimeout: 4 * time.Minute,
	})
	text, n := complete(t, front.URL, front.Token)
	if n == 0 {
		t.Fatalf("no tokens through serval.exe (text %q)\n%s", text, front.Logs())
	}
	t.Logf("windows-amd64 serval under wine, in front of a native serval: %d tokens %q", n, text)
}
