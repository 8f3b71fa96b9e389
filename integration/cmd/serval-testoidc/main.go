// Command serval-testoidc serves the test OpenID provider of
// integration/testsupport/oidctest on a free loopback port, for the browser
// end-to-end test (integration/web/sso.mjs), which starts and stops it:
//
//	serval-testoidc -accounts FILE
//
// FILE is a JSON array of oidctest.Account (login, password, subject, email,
// name, verified, groups): who may sign in at the provider's login form. It
// prints "issuer: URL" once it listens and serves until stdin closes or it
// is signalled. Besides the provider, POST /test/tamper changes the ID tokens
// issued from then on, the ways a relying party must refuse:
//
//	{"claims": {"aud": "another-client"}}   claims set in every ID token
//	{"replay_nonce": true}                  the nonce of the previous ID token
//	{"groups_at_userinfo": true}            no groups claim in ID tokens, only at userinfo
//	{}                                      honest tokens again
//
// and POST /test/accounts (a JSON array like FILE) adds accounts or changes
// them (by login): a group change at the provider.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/servalhq/serval/integration/testsupport/oidctest"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "serval-testoidc:", err)
		os.Exit(1)
	}
}

// tamper is the body of POST /test/tamper.
type tamper struct {
	Claims      map[string]any `json:"claims"`
	ReplayNonce bool           `json:"replay_nonce"`
	// GroupsAtUserinfo leaves groups out of ID tokens (the userinfo endpoint has them).
	GroupsAtUserinfo bool `json:"groups_at_userinfo"`
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serval-testoidc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	accountsFile := fs.String("accounts", "", "JSON array of the accounts that may sign in (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *accountsFile == "" || fs.NArg() != 0 {
		return errors.New("usage: serval-testoidc -accounts FILE")
	}
	raw, err := os.ReadFile(*accountsFile)
	if err != nil {
		return err
	}
	var accounts []oidctest.Account
	if err := json.Unmarshal(raw, &accounts); err != nil {
		return fmt.Errorf("%s: %w", *accountsFile, err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	p, err := oidctest.New("http://" + ln.Addr().String())
	if err != nil {
		return err
	}
	for _, a := range accounts {
		p.AddAccount(a)
	}
	mux := http.NewServeMux()
	mux.Handle("/", p)
	mux.HandleFunc("POST /test/tamper", func(w http.ResponseWriter, r *http.Request) {
		var t tamper
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&t); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		p.SetGroupsAtUserinfoOnly(t.GroupsAtUserinfo)
		if len(t.Claims) == 0 && !t.ReplayNonce {
			p.SetTamper(nil)
			return
		}
		p.SetTamper(func(claims map[string]any) {
			for k, v := range t.Claims {
				claims[k] = v
			}
			if t.ReplayNonce {
				claims["nonce"] = p.LastNonce()
			}
		})
	})
	mux.HandleFunc("POST /test/accounts", func(w http.ResponseWriter, r *http.Request) {
		var changed []oidctest.Account
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&changed); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, a := range changed {
			p.AddAccount(a)
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	fmt.Fprintln(stdout, "issuer:", p.Issuer())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stdinClosed := make(chan struct{})
	go func() { io.Copy(io.Discard, stdin); close(stdinClosed) }()
	select {
	case <-ctx.Done():
	case <-stdinClosed:
	case err := <-serveErr:
		return err
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}
