package inputs

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// location is where a version-control input comes from.
type location struct {
	// local is set for a repository on the server, which must lie inside
	// Fetcher.Roots; path is then its resolved directory.
	local bool
	path  string
}

// locate checks a repository URI for a tool whose remote transports are
// schemes: a URI with one of them is remote, a file:// URI or absolute
// path is local and must lie inside the roots, anything else is refused.
// A host starting with '-' is refused too, as the tools would hand it to
// ssh as an option.
func (f *Fetcher) locate(uri string, schemes []string) (location, error) {
	if strings.HasPrefix(uri, "-") {
		return location{}, fmt.Errorf("repository %q: starts with '-'", uri)
	}
	scheme, rest, hasScheme := strings.Cut(uri, "://")
	switch {
	case hasScheme && scheme == "file":
		p, err := url.PathUnescape(rest)
		if err != nil {
			return location{}, fmt.Errorf("repository %q: %w", uri, err)
		}
		return f.localRepo(uri, p)
	case hasScheme:
		if !slices.Contains(schemes, scheme) {
			return location{}, fmt.Errorf("repository %q: scheme %s is not one of %s (or file:// inside an --input-root)", uri, scheme, strings.Join(schemes, ", "))
		}
		u, err := url.Parse(uri)
		if err != nil {
			return location{}, fmt.Errorf("repository %q: %w", uri, err)
		}
		if u.Hostname() == "" || strings.HasPrefix(u.Hostname(), "-") {
			return location{}, fmt.Errorf("repository %q: not a host name", uri)
		}
		return location{}, nil
	case filepath.IsAbs(uri):
		return f.localRepo(uri, uri)
	}
	return location{}, fmt.Errorf("repository %q: want a URL (%s) or an absolute path", uri, strings.Join(schemes, ", "))
}

func (f *Fetcher) localRepo(uri, p string) (location, error) {
	if !filepath.IsAbs(p) {
		return location{}, fmt.Errorf("local repository %q: not an absolute path", uri)
	}
	real, err := f.confine(p)
	if err != nil {
		return location{}, fmt.Errorf("local repository: %w", err)
	}
	return location{local: true, path: real}, nil
}

// cacheDir is the directory of uri's clone or working copy, under the
// fetching identity's own directory.
func (w *fetcher) cacheDir(tool, uri string) string {
	sum := sha256.Sum256([]byte(uri))
	return filepath.Join(w.dir, tool, hex.EncodeToString(sum[:16]))
}

// exportDir returns a fresh directory named name, which the fetching
// identity may write, to be added to the store; done removes it.
func (w *fetcher) exportDir(name string) (dst string, done func(), err error) {
	tmp, err := os.MkdirTemp(w.dir, "export-")
	if err != nil {
		return "", nil, fmt.Errorf("export dir: %w", err)
	}
	done = func() { _ = os.RemoveAll(tmp) }
	if err := w.id.Chown(tmp); err != nil {
		done()
		return "", nil, err
	}
	return filepath.Join(tmp, name), done, nil
}

// parentDir creates the directory that will hold dir, owned by the
// fetching identity, whose tools create dir itself.
func (w *fetcher) parentDir(dir string) error {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	return w.id.Chown(parent)
}
