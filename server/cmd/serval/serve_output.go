package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/servalhq/serval/server/engine"
	"github.com/servalhq/serval/server/store"
)

// What `serval serve` tells the person who started it: the log, the settings
// once the server is up, the next step, and hints on the common failures.

// newServeLogger makes the request and error log: text (the default) or JSON
// lines, at --log-level.
func newServeLogger(c *serveConfig, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, fmt.Errorf("%w: --log-level %q: want debug, info, warn or error", errUsage, c.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("%w: --log-format %q: want text or json", errUsage, c.logFormat)
}

// listenError explains the commonest bind failures.
func listenError(host string, port int, err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("listen on %s:%d: %w (another serval running? use --port N, or --port 0 for any free port)", host, port, err)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("listen on %s:%d: %w (ports below 1024 need privileges; use --port 8080)", host, port, err)
	}
	return fmt.Errorf("listen on %s:%d: %w", host, port, err)
}

// printSettings writes the settings the server runs with, once it is up:
// every flag at --log-level debug, else one line of those that differ from
// their defaults. URL passwords never appear.
func printSettings(w io.Writer, fs *flag.FlagSet, debug bool) {
	if debug {
		fmt.Fprintln(w, "serval: settings:")
		fs.VisitAll(func(f *flag.Flag) {
			fmt.Fprintf(w, "  --%-16s %s\n", f.Name, engine.RedactURLs(f.Value.String()))
		})
		return
	}
	var set []string
	fs.VisitAll(func(f *flag.Flag) {
		if v := f.Value.String(); v != f.DefValue {
			set = append(set, "--"+f.Name+" "+engine.RedactURLs(v))
		}
	})
	if len(set) > 0 {
		fmt.Fprintf(w, "serval: settings: %s (all of them: --log-level debug)\n", strings.Join(set, " "))
	}
}

// templateNote says why a FIM template was chosen when it was a guess.
func templateNote(override, registryName, detectedName string, local bool) string {
	if override != "" || registryName != "" || detectedName != "" {
		return ""
	}
	if local {
		return " (fallback: the model has no FIM tokens; --prompt-template sets another)"
	}
	return " (fallback: the engine does not say its FIM format; --prompt-template sets another)"
}

// printNextStep tells a newcomer where the web app is, how to check the
// server and how to connect an editor. tokenFile is the initial-token file
// when the token in it still works ("" when it was revoked or never made).
func printNextStep(w io.Writer, addr net.Addr, noAuth bool, tokenFile string) {
	url := "http://" + addr.String()
	if tcp, ok := addr.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		url = fmt.Sprintf("http://127.0.0.1:%d", tcp.Port)
	}
	if !noAuth {
		fmt.Fprintf(w, "serval: web app: %s/ (accounts, tokens, usage, playground)\n", url)
	}
	auth := ""
	if !noAuth {
		token := "<token from the web app's Tokens page>"
		if tokenFile != "" {
			token = "$(cat " + tokenFile + ")"
		}
		auth = ` -H "Authorization: Bearer ` + token + `"`
	}
	fmt.Fprintf(w, "serval: next: check it with  curl -s%s %s/v1/health\n", auth, url)
	fmt.Fprintf(w, "serval: then connect an editor: endpoint %s, and sign in from the editor or use a token (README.md, \"Connect an editor\")\n", url)
}

// usableInitialToken is the initial-token file of dataDir when the token in
// it still works, so the printed curl example does; "" otherwise.
func usableInitialToken(ctx context.Context, st *store.Store, dataDir string) string {
	path := filepath.Join(dataDir, initialTokenFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if _, err := st.LookupToken(ctx, strings.TrimSpace(string(b))); err != nil {
		return ""
	}
	return path
}

// plural is "1 slot", "2 slots".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// demoModelNote is said at start-up (and in the playground) when the model
// is the small one Serval ships to try the path end to end.
const demoModelNote = "serval-tiny is a small demonstration model: it shows the whole path works, not what a code model writes; for real completions use --model with a code model (docs/models.md)"

// isDemoModel reports whether the described model is serval-tiny.
func isDemoModel(described string) bool {
	return strings.Contains(described, "serval-tiny")
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
