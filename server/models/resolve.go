package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DownloadOptions tunes how Resolve downloads a model.
type DownloadOptions struct {
	// Client makes the requests (nil: a client with the timeouts below).
	Client *http.Client
	// ConnectTimeout bounds connecting to the host (0: 5 s), so that an
	// offline machine fails within seconds.
	ConnectTimeout time.Duration
	// StallTimeout aborts a transfer that receives nothing for this long
	// (0: 60 s); the partial file is kept for the next attempt.
	StallTimeout time.Duration
	// Attempts is how many times an interrupted transfer is resumed within
	// one Resolve (0: 3); an attempt that fails before receiving any byte ends them.
	Attempts int
	// RetryDelay is the pause before resuming (0: 1 s).
	RetryDelay time.Duration
}

func (o DownloadOptions) withDefaults() DownloadOptions {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 5 * time.Second
	}
	if o.StallTimeout <= 0 {
		o.StallTimeout = 60 * time.Second
	}
	if o.Attempts <= 0 {
		o.Attempts = 3
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = time.Second
	}
	if o.Client == nil {
		dialer := &net.Dialer{Timeout: o.ConnectTimeout}
		o.Client = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   o.ConnectTimeout,
			ResponseHeaderTimeout: 30 * time.Second,
			ForceAttemptHTTP2:     true,
		}}
	}
	return o
}

// ModelFile is the path a registry model is stored at.
func ModelFile(dataDir, name string) string {
	return filepath.Join(dataDir, "models", name, "model.gguf")
}

// Resolve turns a --model value into a local GGUF file:
//
//   - a path to an existing file is used as it is (the entry is the registry
//     entry with the same download file name, or one guessed from the name);
//   - a registry name resolves to <dataDir>/models/<name>/model.gguf; when that
//     file exists nothing touches the network;
//   - otherwise the file is downloaded with a progress bar written to
//     progress (nil: none), into model.gguf.partial, resuming an earlier
//     partial download with an HTTP Range request, and renamed to model.gguf
//     only once its sha256 matches the registry's.
//
// An unknown name is an error (wrapping ErrUnknownModel) listing the known
// names; a failed download says which file to place where and the URL.
func (r *Registry) Resolve(ctx context.Context, nameOrPath, dataDir string, progress io.Writer) (string, Entry, error) {
	if strings.TrimSpace(nameOrPath) == "" {
		return "", Entry{}, errors.New("no model given: pass --model with a registry name or a GGUF file path")
	}
	file := expandHome(nameOrPath)
	looksLikePath := strings.ContainsAny(nameOrPath, `/\`) || strings.HasSuffix(strings.ToLower(nameOrPath), ".gguf")
	entry, inRegistry := r.Lookup(nameOrPath)
	if looksLikePath || !inRegistry {
		if _, err := statRegular(file); err == nil {
			abs, err := filepath.Abs(file)
			if err != nil {
				return "", Entry{}, fmt.Errorf("model file %s: %w", file, err)
			}
			return abs, r.guessEntry(abs), nil
		} else if looksLikePath {
			return "", Entry{}, fmt.Errorf("model file %s: %w", nameOrPath, err)
		}
		return "", Entry{}, fmt.Errorf("%w %q: not a file and not in the registry (known models: %s)",
			ErrUnknownModel, nameOrPath, strings.Join(r.Names(), ", "))
	}

	if dataDir == "" {
		return "", Entry{}, errors.New("no data directory to keep models in (--data-dir)")
	}
	dest := ModelFile(expandHome(dataDir), entry.Name)
	if b, ok := bundled[strings.ToLower(entry.Name)]; ok {
		if err := installBundled(b, dest); err != nil {
			return "", Entry{}, fmt.Errorf("model %s: installing the copy built into serval: %w", entry.Name, err)
		}
		return dest, entry, nil
	}
	if fi, err := statRegular(dest); err == nil && fi.Size() > 0 {
		return dest, entry, nil
	}
	if entry.URL == "" {
		return "", Entry{}, fmt.Errorf("model %s is not at %s and its registry entry has no url: place the GGUF file there", entry.Name, dest)
	}
	if err := r.download(ctx, entry, dest, progress); err != nil {
		return "", Entry{}, fmt.Errorf("model %s is not at %s and downloading it failed: %w\n"+
			"To run without network, fetch %s elsewhere, check that its sha256 is %s, and place it at %s (or pass --model /path/to/model.gguf).\n%s",
			entry.Name, dest, err, entry.URL, entry.SHA256, dest, OfflineHint)
	}
	return dest, entry, nil
}

func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[1:])
		}
	}
	return p
}

// errNoProgress marks an attempt that failed before receiving any byte:
// retrying it at once would fail the same way.
var errNoProgress = errors.New("no data received")

// download fetches e.URL to dest through dest+".partial", resuming, and
// renames it into place once the sha256 matches.
func (r *Registry) download(ctx context.Context, e Entry, dest string, progress io.Writer) error {
	opts := r.Download.withDefaults()
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	partial := dest + ".partial"
	f, err := os.OpenFile(partial, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	unlock, err := lockFile(f)
	if err != nil {
		return fmt.Errorf("%s: another process is downloading this model (%w)", partial, err)
	}
	defer unlock()

	bar := newProgressBar(progress, e.Name)
	var lastErr error
	for attempt := 1; attempt <= opts.Attempts; attempt++ {
		if attempt > 1 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(opts.RetryDelay):
			}
		}
		var done bool
		done, lastErr = r.fetch(ctx, opts, e, f, bar)
		if done {
			break
		}
		if errors.Is(lastErr, errNoProgress) || ctx.Err() != nil {
			break
		}
	}
	bar.finish()
	if lastErr != nil {
		return lastErr
	}
	sum, size, err := hashFile(f)
	if err != nil {
		return err
	}
	if sum != e.SHA256 {
		f.Close()
		os.Remove(partial)
		return fmt.Errorf("sha256 of the %d bytes from %s is %s, expected %s; the download was deleted", size, e.URL, sum, e.SHA256)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return os.Rename(partial, dest)
}

// fetch makes one request, continuing f from its current size. It returns
// done when the server has sent the whole file.
func (r *Registry) fetch(ctx context.Context, opts DownloadOptions, e Entry, f *os.File, bar *progressBar) (done bool, err error) {
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.URL, nil)
	if err != nil {
		return false, err
	}
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	resp, err := opts.Client.Do(req)
	if err != nil {
		return false, fmt.Errorf("%w: %w", errNoProgress, err)
	}
	defer resp.Body.Close()

	total := int64(-1)
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		start, size, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != have {
			// Not the range asked for: start over.
			return false, restart(f, fmt.Errorf("server answered Range bytes=%d- with Content-Range %q", have, resp.Header.Get("Content-Range")))
		}
		total = size
	case resp.StatusCode == http.StatusOK:
		if have > 0 {
			// The server ignores Range: start over.
			if err := f.Truncate(0); err != nil {
				return false, err
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return false, err
			}
			have = 0
		}
		total = resp.ContentLength
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && have > 0:
		// The partial file is as long as the remote one (or longer): let the
		// hash decide.
		return true, nil
	default:
		return false, fmt.Errorf("%w: GET %s: %s", errNoProgress, e.URL, resp.Status)
	}

	bar.start(have, total)
	stall := time.AfterFunc(opts.StallTimeout, func() {
		cancel(fmt.Errorf("no data for %s", opts.StallTimeout))
	})
	defer stall.Stop()
	buf := make([]byte, 256<<10)
	got := int64(0)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			stall.Reset(opts.StallTimeout)
			if _, err := f.Write(buf[:n]); err != nil {
				return false, err
			}
			got += int64(n)
			bar.add(int64(n))
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
				rerr = cause
			}
			err := fmt.Errorf("download interrupted after %d bytes: %w", have+got, rerr)
			if got == 0 {
				err = fmt.Errorf("%w: %w", errNoProgress, err)
			}
			return false, err
		}
	}
	if total >= 0 && have+got != total {
		return false, fmt.Errorf("download ended after %d of %d bytes", have+got, total)
	}
	return true, nil
}

// restart empties the partial file after an unusable answer, so that the
// next attempt starts from scratch.
func restart(f *os.File, cause error) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	return cause
}

// parseContentRange parses "bytes START-END/SIZE" (SIZE may be "*": -1).
func parseContentRange(v string) (start, size int64, ok bool) {
	rest, found := strings.CutPrefix(v, "bytes ")
	if !found {
		return 0, 0, false
	}
	span, sizeText, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	startText, _, found := strings.Cut(span, "-")
	if !found {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(startText, 10, 64)
	if err != nil || start < 0 {
		return 0, 0, false
	}
	if sizeText == "*" {
		return start, -1, true
	}
	size, err = strconv.ParseInt(sizeText, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return start, size, true
}

// hashFile returns the hex sha256 and size of f's contents.
func hashFile(f *os.File) (string, int64, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", 0, err
	}
	var h hash.Hash = sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
