package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/servalhq/serval/server/store"
	"github.com/servalhq/serval/server/web"
)

// runAudit implements `serval audit [--since AGE] [--json]`: the audit
// log, oldest first; with --json one object per line for log collectors.
func runAudit(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlagSet("serval audit", stderr)
	dataDir := dataDirFlag(fs, getenv)
	database := databaseFlag(fs, getenv)
	since := fs.String("since", "", "only events of the last `AGE` (\"30d\", \"12h\", \"90m\"); default: all that the retention kept")
	asJSON := fs.Bool("json", false, "one JSON object per line: time, actor, action, target, address, outcome, detail")
	actor := fs.String("actor", "", "only events of this actor")
	action := fs.String("action", "", "only this action, or a prefix ending in '.' (\"user.\")")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	f := store.AuditFilter{Actor: *actor, Action: *action, All: true}
	if *since != "" {
		d, err := web.ParseAge(*since)
		if err != nil {
			return fmt.Errorf("%w: --since: %v", errUsage, err)
		}
		f.Since = time.Now().Add(-d)
	}
	st, err := openStore(ctx, *database, *dataDir, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	events, err := st.AuditEvents(ctx, f)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for i := len(events) - 1; i >= 0; i-- {
			if err := enc.Encode(events[i]); err != nil {
				return err
			}
		}
		return nil
	}
	if len(events) == 0 {
		fmt.Fprintln(stdout, "no audit events")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tACTOR\tACTION\tTARGET\tOUTCOME\tADDRESS\tDETAIL")
	for i := len(events) - 1; i >= 0; i-- {
		e := events[i]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.UTC().Format("2006-01-02 15:04:05Z"), printable(e.Actor), e.Action,
			printable(e.Target), e.Outcome, printable(e.Address), printable(e.Detail))
	}
	return tw.Flush()
}

// cliActor names who ran a command that changed accounts or tokens: the
// command line and the operating-system user.
func cliActor(getenv env) string {
	if u := getenv("USER"); u != "" {
		return "cli:" + u
	}
	return "cli:uid " + strconv.Itoa(os.Getuid())
}

// auditCLI records a command's change in the audit log; the change is made,
// so a failure to record it is reported, not returned.
func auditCLI(ctx context.Context, st *store.Store, getenv env, stderr io.Writer, action, target, detail string) {
	if err := st.Audit(ctx, store.AuditEvent{Actor: cliActor(getenv), Action: action, Target: target, Address: "local", Detail: detail}); err != nil {
		fmt.Fprintf(stderr, "serval: the audit log was not written: %v\n", err)
	}
}

// defaultAuditRetention keeps a little over a year: long enough for a
// yearly access review.
const defaultAuditRetention = "400d"

// retention reads --audit-retention; 0 means forever.
func (c *serveConfig) retention() (time.Duration, error) {
	if c.auditRetention == "forever" {
		return 0, nil
	}
	d, err := web.ParseAge(c.auditRetention)
	if err != nil {
		return 0, fmt.Errorf("%w: --audit-retention: %v, or \"forever\"", errUsage, err)
	}
	return d, nil
}

// auditPruneEvery is how often events past the retention are deleted.
const auditPruneEvery = time.Hour

// keepAuditRetention deletes audit events older than retention now and
// (before it returns) and every hour until ctx ends; stop waits for it. retention 0 keeps all.
func keepAuditRetention(ctx context.Context, st *store.Store, retention time.Duration, log *slog.Logger) (stop func()) {
	if retention <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	prune := func() {
		n, err := st.PruneAudit(ctx, time.Now().Add(-retention))
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("audit log retention", "err", err)
		case n > 0:
			log.Info("audit log retention: deleted old events", "events", n, "retention", retention)
		}
	}
	prune() // at start, before the first request
	go func() {
		defer close(done)
		t := time.NewTicker(auditPruneEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				prune()
			}
		}
	}()
	return func() { cancel(); <-done }
}

// auditServerStart records the start and its auth settings (never a secret).
func auditServerStart(ctx context.Context, st *store.Store, cfg *serveConfig, signin *signIn, log *slog.Logger) {
	detail := fmt.Sprintf("version %s; api tokens %s; web sign-in: %s; audit retention %s", buildVersion().GitDescribe, onOff(!cfg.noAuth), signin.describe(), cfg.auditRetention)
	if err := st.Audit(ctx, store.AuditEvent{Actor: "serval", Action: store.AuditServerStart, Address: "local", Detail: detail}); err != nil {
		log.Error("audit log write failed", "action", store.AuditServerStart, "err", err)
	}
}

func onOff(on bool) string {
	if on {
		return "required"
	}
	return "off (--no-auth)"
}
