package inputs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"buildledger/commands/evaluation"
)

// DefaultPathValidity is how long a path input fetched from a URL is
// reused before it is fetched again, as Hydra's PathInput does (its
// path_input_cache_validity_seconds).
const DefaultPathValidity = 30 * time.Second

// DefaultMaxURLSize bounds the download of a path input from a URL.
const DefaultMaxURLSize = 512 << 20

// ErrURLNotAllowed is wrapped by the error for a path input URL that no
// prefix of Fetcher.AllowedURIs allows.
var ErrURLNotAllowed = errors.New("not under a URL prefix the operator allows")

// storeNameRE is what a store path name may hold.
var storeNameRE = regexp.MustCompile(`[^A-Za-z0-9+._?=-]`)

// urlEntry is what the server remembers of a URL's download.
type urlEntry struct {
	StorePath string `json:"storePath"`
	SHA256    string `json:"sha256"`
	// LastSeen is when the URL was last fetched (Unix seconds);
	// FirstSeen when each content (by hash) was first fetched, which
	// makes the revision: the same content keeps its revision, new
	// content gets a new one.
	LastSeen  int64            `json:"lastSeen"`
	FirstSeen map[string]int64 `json:"firstSeen"`
}

// fetchPathURL fetches a path input that is a URL (value "URL
// [seconds]"), as Hydra's PathInput does: the download is reused for the
// given seconds (default Fetcher.PathValidity), and the revision is the
// time its content was first seen and its hash. Only a URL under one of
// Fetcher.AllowedURIs is fetched, as the evaluation user, with curl
// (https or http, refusing redirects, without netrc or configuration),
// and no more than Fetcher.MaxURLSize bytes.
func (f *Fetcher) fetchPathURL(ctx context.Context, uri string, validity time.Duration, out *evaluation.Input) error {
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("path %q: want an absolute path or an http(s) URL", uri)
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." {
			// A prefix check means nothing if "/ok/../secret" is read as
			// "/secret" (curl and servers resolve dot segments).
			return fmt.Errorf("path %q: a URL with . or .. segments", uri)
		}
	}
	if !f.urlAllowed(uri) {
		return fmt.Errorf("%s: %w (the evaluator's --allowed-uri)", uri, ErrURLNotAllowed)
	}
	sum := sha256.Sum256([]byte(uri))
	file := filepath.Join(f.CacheDir, "path-urls", hex.EncodeToString(sum[:]))
	unlock := f.lock(file)
	defer unlock()
	entry := f.readURLEntry(file)
	now := time.Now()
	if entry.StorePath != "" && now.Sub(time.Unix(entry.LastSeen, 0)) < validity {
		if _, err := os.Lstat(entry.StorePath); err == nil {
			setURLInput(out, uri, entry)
			return nil
		}
	}

	w, err := f.as(false)
	if err != nil {
		return err
	}
	dst, done, err := w.exportDir(urlStoreName(u))
	if err != nil {
		return err
	}
	defer done()
	if err := w.download(ctx, uri, dst, f.maxURLSize()); err != nil {
		return err
	}
	sp, sha, err := w.addToStore(ctx, dst)
	if err != nil {
		return err
	}
	if entry.FirstSeen == nil {
		entry.FirstSeen = map[string]int64{}
	}
	if _, ok := entry.FirstSeen[sha]; !ok {
		entry.FirstSeen[sha] = now.Unix()
	}
	entry.StorePath, entry.SHA256, entry.LastSeen = sp, sha, now.Unix()
	if err := writeURLEntry(file, entry); err != nil {
		return err
	}
	setURLInput(out, uri, entry)
	return nil
}

func setURLInput(out *evaluation.Input, uri string, e urlEntry) {
	out.URI, out.StorePath, out.SHA256 = uri, e.StorePath, "sha256:"+e.SHA256
	out.Revision = time.Unix(e.FirstSeen[e.SHA256], 0).UTC().Format("20060102150405") + ":" + e.SHA256
}

// urlAllowed reports whether uri starts with one of the operator's
// prefixes.
func (f *Fetcher) urlAllowed(uri string) bool {
	for _, p := range f.AllowedURIs {
		if p != "" && strings.HasPrefix(uri, p) {
			return true
		}
	}
	return false
}

func (f *Fetcher) maxURLSize() int64 {
	if f.MaxURLSize > 0 {
		return f.MaxURLSize
	}
	return DefaultMaxURLSize
}

// urlStoreName names the download after the URL's last path segment, as
// nix-prefetch-url does, with what a store name may not hold replaced.
func urlStoreName(u *url.URL) string {
	name := storeNameRE.ReplaceAllString(filepath.Base(u.Path), "_")
	if name == "" || name == "." || name == "_" || strings.HasPrefix(name, ".") {
		return "download"
	}
	return name
}

// download writes uri to dst with curl run as the fetcher's identity,
// reading at most max bytes of it.
func (w *fetcher) download(ctx context.Context, uri, dst string, max int64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := w.command(ctx, nil, "curl", "--disable", "--path-as-is", "--silent", "--show-error", "--fail", "--proto", "=https,http",
		"--location", "--max-redirs", "0", "--max-filesize", strconv.FormatInt(max, 10), "--", uri)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	body, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("curl: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("curl: %w", err)
	}
	file, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		cancel()
		_ = cmd.Wait()
		return fmt.Errorf("download %s: %w", uri, err)
	}
	n, copyErr := io.Copy(file, io.LimitReader(body, max+1))
	if n > max {
		cancel()
	}
	closeErr := file.Close()
	waitErr := cmd.Wait()
	switch {
	case n > max:
		return fmt.Errorf("download %s: larger than %d bytes", uri, max)
	case waitErr != nil:
		return fmt.Errorf("download %s: %w: %s", uri, waitErr, strings.TrimSpace(stderr.String()))
	case copyErr != nil:
		return fmt.Errorf("download %s: %w", uri, copyErr)
	case closeErr != nil:
		return fmt.Errorf("download %s: %w", uri, closeErr)
	}
	return w.id.Chown(dst)
}

// readURLEntry reads what is remembered of a URL; nothing if unreadable.
func (f *Fetcher) readURLEntry(file string) urlEntry {
	var e urlEntry
	if !f.fresh(file) {
		return e
	}
	b, err := os.ReadFile(file)
	if err != nil || json.Unmarshal(b, &e) != nil || !filepath.IsAbs(e.StorePath) {
		return urlEntry{}
	}
	return e
}

// writeURLEntry remembers a URL's download. The directory is the
// server's, apart from the evaluation user's, so that no fetch can plant
// an entry.
func writeURLEntry(file string, e urlEntry) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return fmt.Errorf("path URL cache: %w", err)
	}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("path URL cache: %w", err)
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("path URL cache: %w", err)
	}
	if err := os.Rename(tmp, file); err != nil {
		return fmt.Errorf("path URL cache: %w", err)
	}
	return nil
}
