package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/servalhq/serval/server/store"
)

// SetupURLFile is written (mode 0600) into the data directory while no
// account exists, and removed once the first one is made.
const SetupURLFile = "setup-url"

// Start prepares the first run: while no account exists it makes a setup
// code, writes its link to <data-dir>/setup-url (0600) and prints it to out as
// one line "setup: <baseURL>/setup?code=CODE". Once accounts exist it removes
// a leftover setup-url file and prints nothing. The code is stored (hashed)
// as a LinkSetup link: replicas on one database each print one, and any of
// them accepts any of them, until the first account is made.
func (s *Server) Start(ctx context.Context, baseURL string, out io.Writer) error {
	n, err := s.store.CountUsers(ctx)
	if err != nil {
		return err
	}
	path := filepath.Join(s.cfg.DataDir, SetupURLFile)
	if n > 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", path, err)
		}
		return nil
	}
	code, err := s.store.CreateLink(ctx, store.LinkSetup, 0, "", 0, store.SetupLinkTTL)
	if err != nil {
		return fmt.Errorf("setup code: %w", err)
	}
	link := baseURL + "/setup?code=" + code
	if s.cfg.DataDir != "" {
		if err := store.WritePrivateFile(path, link+"\n"); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	fmt.Fprintf(out, "setup: %s\n", link)
	return nil
}

// finishSetup removes the link file (CreateFirstAdmin used up the codes).
func (s *Server) finishSetup() {
	if s.cfg.DataDir != "" {
		os.Remove(filepath.Join(s.cfg.DataDir, SetupURLFile))
	}
}
