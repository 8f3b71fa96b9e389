package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/servalhq/serval/server/httpapi"
)

// runHealthcheck implements `serval healthcheck`: the container image's
// HEALTHCHECK, which has no curl. It asks the unauthenticated liveness route
// and exits 0 on 200, 1 otherwise.
func runHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serval healthcheck", stderr)
	url := fs.String("url", "http://127.0.0.1:8080"+httpapi.LivenessPath, "liveness URL to probe")
	timeout := fs.Duration("timeout", 4*time.Second, "how long to wait for the answer")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return fmt.Errorf("%w: --url: %v", errUsage, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", *url, resp.Status)
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}
