package web

import (
	"net/http"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
)

// download serves a file of a build product in a CSP sandbox. The file is
// opened inside the product's own output (/nix/store/<hash>-<name>) as an
// os.Root: symbolic links resolve only within that output, so a product
// that is, or passes through, a link to elsewhere in the store or on the
// host is refused rather than read.
func (s *server) download(w http.ResponseWriter, r *http.Request) error {
	b, err := s.loadBuild(r)
	if err != nil {
		return err
	}
	key := chi.URLParam(r, "nr")
	var prod *BuildProduct
	if p, ok := b.Products[key]; ok {
		prod = &p
	} else {
		for _, p := range sortedProducts(b.Products) {
			if p.Name == key {
				prod = &p
				break
			}
		}
	}
	if prod == nil || prod.Path == "" {
		return errNotFound("product " + strconv.Quote(key))
	}
	rest := chi.URLParam(r, "*")
	if slices.Contains(strings.Split(rest, "/"), "..") {
		return errForbidden("path outside the product")
	}
	output, name, ok := splitStorePath(s.cfg.StoreDir, prod.Path)
	if !ok {
		return errForbidden("product path outside the store")
	}
	root, err := os.OpenRoot(output)
	if err != nil {
		return errNotFound("product output")
	}
	defer root.Close()
	st, err := root.Stat(name)
	if err != nil {
		return errNotFound("product file")
	}
	if st.IsDir() {
		if rest == "" {
			rest = prod.DefaultPath
		}
		name = path.Join(name, rest)
		if st, err := root.Stat(name); err == nil && st.IsDir() {
			name = path.Join(name, "index.html")
		}
	} else if rest != "" && rest != path.Base(prod.Path) {
		return errNotFound("file " + strconv.Quote(rest))
	}
	f, err := root.Open(name)
	if err != nil {
		return errNotFound("product file")
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return errNotFound("product file")
	}
	w.Header().Set("Content-Security-Policy", "sandbox")
	http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
	return nil
}

// splitStorePath splits a path inside the store into its store path (the
// output, /nix/store/<hash>-<name>) and the rest ("." for the output
// itself). ok is false for a path that is not inside the store.
func splitStorePath(storeDir, p string) (output, rest string, ok bool) {
	// Clean leaves no ".." inside a path that still starts with the store.
	rel, ok := strings.CutPrefix(path.Clean(p), path.Clean(storeDir)+"/")
	if !ok || rel == "" {
		return "", "", false
	}
	first, rest, _ := strings.Cut(rel, "/")
	if rest == "" {
		rest = "."
	}
	return path.Join(storeDir, first), rest, true
}
