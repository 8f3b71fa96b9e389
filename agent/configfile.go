package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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
// replacing the file are seen too; a directory that does not exist yet is
// not watched (the error says so).
func WatchConfigFile(ctx context.Context, path string, onChange func(Config, error)) error {
	if path == "" {
		return errors.New("no config file path")
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch config: %w", err)
	}
	dir := filepath.Dir(path)
	if err := w.Add(dir); err != nil {
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
				if filepath.Clean(ev.Name) == filepath.Clean(path) {
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
