package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"github.com/servalhq/serval/server/store"
)

// runStats implements `serval stats`: per-language counts of the events
// clients reported.
func runStats(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlagSet("serval stats", stderr)
	dataDir := dataDirFlag(fs, getenv)
	database := databaseFlag(fs, getenv)
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	// Reading statistics must not make a data directory where there was none.
	if *database == "" {
		if _, err := os.Stat(filepath.Join(*dataDir, store.FileName)); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("no serval database in %s: pass --data-dir where `serval serve` keeps its data (or --database)", *dataDir)
		}
	}
	st, err := openStore(ctx, *database, *dataDir, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	stats, err := st.Stats(ctx)
	if err != nil {
		return err
	}
	if len(stats) == 0 {
		fmt.Fprintln(stdout, "no events yet (clients report shown/accepted completions to /v1/events)")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "LANGUAGE\tSHOWN\tACCEPTED\tDISMISSED\tACCEPTANCE\t")
	var total store.LanguageStats
	for _, l := range stats {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.1f%%\t\n", printable(l.Language), l.Shown, l.Accepted, l.Dismissed, 100*l.AcceptanceRate())
		total.Shown += l.Shown
		total.Accepted += l.Accepted
		total.Dismissed += l.Dismissed
	}
	fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.1f%%\t\n", "all", total.Shown, total.Accepted, total.Dismissed, 100*total.AcceptanceRate())
	return tw.Flush()
}

// printable returns s as it may be written to a terminal: a language name
// comes from clients, and control characters in it (escape sequences that
// recolour, retitle or clear the terminal, tabs that break the table)
// are shown escaped, as Go would quote them, instead of being obeyed.
func printable(s string) string {
	if utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) < 0 {
		return s
	}
	q := strconv.QuoteToASCII(s)
	return q[1 : len(q)-1]
}
