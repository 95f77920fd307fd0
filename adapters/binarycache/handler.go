package binarycache

import (
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
)

var (
	// narinfoRe matches "/<nixbase32 hash part>.narinfo".
	narinfoRe = regexp.MustCompile(`^/[0-9a-df-np-sv-z]{32}\.narinfo$`)
	// narFileRe matches "/nar/<nixbase32 hash>.nar[.<compression>]".
	narFileRe = regexp.MustCompile(`^/nar/[0-9a-df-np-sv-z]{52}\.nar(\.(zst|xz|bz2|br|lz4|lzip|gz))?$`)
	// realisationRe matches "/realisations/sha256:<hex>!<output>.doi",
	// the realisation of one output of a content-addressed derivation.
	provenanceRe  = regexp.MustCompile(`^/[0-9a-df-np-sv-z]{32}\.provenance\.json$`)
	realisationRe = regexp.MustCompile(`^/realisations/sha256:[0-9a-f]{64}![A-Za-z0-9+._?=-]+\.doi$`)
)

// Handler serves a binary cache directory read-only over HTTP: GET and
// HEAD of /nix-cache-info, /<hash>.narinfo, /nar/<file> and
// /realisations/<id>.doi. Paths are relative to where it is mounted, so
// mount it with http.StripPrefix. Anything else is 404 (405 for other
// methods on a cache file); a narinfo or realisation the cache lacks is
// a text/plain 404 "does not exist", as Hydra answers it.
type Handler struct {
	dir string
	log *slog.Logger
}

// NewHandler returns a Handler serving the cache directory dir. A nil
// logger means slog.Default.
func NewHandler(dir string, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.Default()
	}
	return &Handler{dir: dir, log: log}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, contentType, ok := cacheFile(r.URL.Path)
	if !ok || strings.Contains(r.URL.RawPath, "%") {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	f, err := os.OpenInRoot(h.dir, name)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			h.log.Error("binary cache: open", "file", name, "err", err)
		}
		missing(w, r)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		missing(w, r)
		return
	}
	w.Header().Set("Content-Type", contentType)
	http.ServeContent(w, r, "", st.ModTime(), f)
}

// missing answers a cache file that is not there.
func missing(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusNotFound)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte("does not exist\n"))
	}
}

// cacheFile maps a request path to a file name inside the cache directory
// and its content type.
func cacheFile(p string) (name, contentType string, ok bool) {
	switch {
	case p == "/nix-cache-info":
		return "nix-cache-info", "text/x-nix-cache-info", true
	case narinfoRe.MatchString(p):
		return p[1:], "text/x-nix-narinfo", true
	case narFileRe.MatchString(p):
		return p[1:], "application/x-nix-nar", true
	case provenanceRe.MatchString(p):
		return p[1:], "application/json", true
	case realisationRe.MatchString(p):
		return p[1:], "text/plain; charset=utf-8", true
	default:
		return "", "", false
	}
}
