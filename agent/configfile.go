package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// LoadConfigFile reads the TOML file at path; a missing file is an empty layer.
func LoadConfigFile(path string) (Config, error) {
	if path == "" {
		return Config{}, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Config{}, nil
	}
	if err != nil {
		return Config{}, fmt.Errorf("read %s: %w", path, err)
	}
	c, err := ParseConfigTOML(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// WatchConfigFile calls onChange with the file's new contents each time it is
// written, created, renamed into place or removed, until ctx is done. It
// watches the directory, not the file, so that editors that save by
// replacing the file are seen too. When the directory does not exist yet
// (no ~/.config/serval on a first start) it watches the nearest ancestor
// that does and follows the directories down as they are created, so a
// config file written later is still picked up without a restart.
func WatchConfigFile(ctx context.Context, path string, onChange func(Config, error)) error {
	if path == "" {
		return errors.New("no config file path")
	}
	path = filepath.Clean(path)
	dir := filepath.Dir(path)
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch config: %w", err)
	}
	watched, err := watchNearest(w, dir)
	if err != nil {
		w.Close()
		return fmt.Errorf("watch config directory %s: %w", dir, err)
	}
	go func() {
		defer w.Close()
		// Editors write files in several steps; reload once things settle.
		var settle <-chan time.Time
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				name := filepath.Clean(ev.Name)
				if watched != dir && isUnder(dir, name) {
					// A directory on the way to the file appeared: go down.
					if deeper, err := watchNearest(w, dir); err == nil && deeper != watched {
						w.Remove(watched)
						watched = deeper
					}
					if _, err := os.Stat(path); err == nil {
						settle = time.After(50 * time.Millisecond) // made before the watch was added
					}
				}
				if name == path {
					settle = time.After(50 * time.Millisecond)
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				onChange(Config{}, fmt.Errorf("watch config: %w", err))
			case <-settle:
				settle = nil
				c, err := LoadConfigFile(path)
				onChange(c, err)
			}
		}
	}()
	return nil
}

// watchNearest watches dir, or its nearest existing ancestor, and returns it.
func watchNearest(w *fsnotify.Watcher, dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if info, err := os.Stat(d); err == nil && info.IsDir() {
			return d, w.Add(d)
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no existing ancestor of %s", dir)
		}
	}
}

// isUnder reports whether p is dir or one of its ancestors' path towards it,
// that is, whether dir is p or lies below p.
func isUnder(dir, p string) bool {
	rel, err := filepath.Rel(p, dir)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
