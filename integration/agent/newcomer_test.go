package agent_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/lspclient"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
)

// startAgentAt spawns serval-agent with HOME=home and the default config path
// (~/.config/serval/agent.toml), as an editor on a fresh account does.
func startAgentAt(t *testing.T, home string, env ...string) *agentSession {
	t.Helper()
	full := append([]string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}, env...)
	c, err := lspclient.Start(context.Background(), servaltest.AgentBinary(t), lspclient.Options{
		Args: []string{"--stdio", "--log-level", "debug"}, Env: full})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.Shutdown(ctx)
		if t.Failed() {
			t.Logf("agent stderr:\n%s", c.Stderr())
		}
	})
	return &agentSession{t: t, c: c, config: filepath.Join(home, ".config", "serval", "agent.toml")}
}

// A first start with no ~/.config/serval at all: "disconnected" says the
// endpoint is the default and where to set it; writing the config file then
// (directories included) connects without restarting the editor.
func TestConfigFileAppearingConnects(t *testing.T) {
	srv := servaltest.Start(t, servaltest.Options{})
	home := t.TempDir()
	dead := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return "http://" + ln.Addr().String()
	}()
	// (The default endpoint, 127.0.0.1:8080, may be served on a shared
	// machine, so the status before the file appears is not checked here.)
	a := startAgentAt(t, home, "SERVAL_ENDPOINT=", "SERVAL_TOKEN=")
	a.initialize(nil)
	cfg := a.config
	if _, err := os.Stat(filepath.Dir(cfg)); err == nil {
		t.Fatalf("%s exists before the test made it", filepath.Dir(cfg))
	}
	time.Sleep(200 * time.Millisecond) // the watcher is set up before initialize returns; make the point
	if err := os.MkdirAll(filepath.Dir(cfg), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("[server]\nendpoint = %q\ntoken = %q\n", srv.URL, srv.Token)), 0o600); err != nil {
		t.Fatal(err)
	}
	a.waitStatus("ready", 30*time.Second)
	logged := regexp.MustCompile(`msg="server endpoint" endpoint=` + regexp.QuoteMeta(srv.URL) + ` from="the config file"`)
	waitLog(t, a, logged)

	// A dead endpoint from the environment: the message names its source.
	b := startAgentAt(t, t.TempDir(), "SERVAL_ENDPOINT="+dead, "SERVAL_TOKEN=x")
	b.initialize(nil)
	st := b.waitStatus("disconnected", 30*time.Second)
	if !strings.Contains(st.Message, dead) || !strings.Contains(st.Message, "endpoint from SERVAL_ENDPOINT") || !strings.Contains(st.Message, "agent.toml") {
		t.Errorf("disconnected message %q: want the URL, its source (SERVAL_ENDPOINT) and where to change it", st.Message)
	}
}

// The editor's endpoint outranks SERVAL_ENDPOINT: the log names the one in
// use and its source, and again when the editor changes it; the default's
// message says it is the default.
func TestLoggedEndpointIsTheOneInUse(t *testing.T) {
	srv := servaltest.Start(t, servaltest.Options{})
	dead := "http://127.0.0.1:1"
	a := startAgentAt(t, t.TempDir(), "SERVAL_ENDPOINT="+dead, "SERVAL_TOKEN="+srv.Token)
	a.initialize(map[string]any{"server": map[string]any{"endpoint": srv.URL}})
	a.waitStatus("ready", 30*time.Second)
	waitLog(t, a, regexp.MustCompile(`msg="server endpoint" endpoint=`+regexp.QuoteMeta(srv.URL)+` from="the editor's settings \(initializationOptions\)"`))

	// The editor switches to a dead endpoint and back to nothing: the default.
	a.c.Notify(bounded(t, 5*time.Second), "workspace/didChangeConfiguration",
		map[string]any{"settings": map[string]any{"serval": map[string]any{"server": map[string]any{"endpoint": "http://127.0.0.1:2"}}}})
	st := a.waitStatus("disconnected", 30*time.Second)
	waitLog(t, a, regexp.MustCompile(`msg="server endpoint" endpoint=http://127.0.0.1:2 from="the editor's settings \(workspace/didChangeConfiguration\)"`))
	if !strings.Contains(st.Message, "endpoint from the editor's settings (workspace/didChangeConfiguration)") {
		t.Errorf("disconnected message %q does not name the editor's settings", st.Message)
	}

	b := startAgentAt(t, t.TempDir(), "SERVAL_ENDPOINT=", "SERVAL_TOKEN=")
	b.initialize(map[string]any{"server": map[string]any{}})
	waitLog(t, b, regexp.MustCompile(`msg="server endpoint" endpoint=http://127.0.0.1:8080 from="the default"`))
}

// waitLog waits (bounded) for the agent's stderr to match re.
func waitLog(t *testing.T, a *agentSession, re *regexp.Regexp) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if re.MatchString(a.c.Stderr()) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent log lacks %s:\n%s", re, a.c.Stderr())
		}
	}
}
