package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/servalhq/serval/server/store"
)

// SetupURLFile is written (mode 0600) into the data directory while no
// account exists, and removed once the first one is made.
const SetupURLFile = "setup-url"

// setupCode is the one-time code that lets the first account be made. It
// lives only in memory (its link in SetupURLFile): a restart before setup
// makes a new one.
type setupCode struct {
	mu   sync.Mutex
	hash [32]byte
	set  bool
}

func (c *setupCode) matches(code string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	sum := sha256.Sum256([]byte(code))
	return c.set && subtle.ConstantTimeCompare(sum[:], c.hash[:]) == 1
}

func (c *setupCode) clear() {
	c.mu.Lock()
	c.set = false
	c.mu.Unlock()
}

// Start prepares the first run: while no account exists it makes a setup
// code, writes its link to <data-dir>/setup-url (0600) and prints it to out as
// one line "setup: <baseURL>/setup?code=CODE". Once accounts exist it removes
// a leftover setup-url file and prints nothing.
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
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("setup code: %w", err)
	}
	code := base64.RawURLEncoding.EncodeToString(b)
	link := baseURL + "/setup?code=" + code
	if s.cfg.DataDir != "" {
		if err := store.WritePrivateFile(path, link+"\n"); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	s.setup.mu.Lock()
	s.setup.hash, s.setup.set = sha256.Sum256([]byte(code)), true
	s.setup.mu.Unlock()
	fmt.Fprintf(out, "setup: %s\n", link)
	return nil
}

// finishSetup forgets the code and removes the link file.
func (s *Server) finishSetup() {
	s.setup.clear()
	if s.cfg.DataDir != "" {
		os.Remove(filepath.Join(s.cfg.DataDir, SetupURLFile))
	}
}
