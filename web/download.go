package web

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
)

// download serves a file of a build product, confined to the product's
// path inside the store, in a CSP sandbox.
func (s *server) download(w http.ResponseWriter, r *http.Request) {
	b, ok := s.loadBuild(w, r)
	if !ok {
		return
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
		s.fail(w, r, errNotFound("product "+strconv.Quote(key)))
		return
	}
	rest := chi.URLParam(r, "*")
	for _, part := range strings.Split(rest, "/") {
		if part == ".." {
			s.fail(w, r, errForbidden("path outside the product"))
			return
		}
	}
	storeReal, err := filepath.EvalSymlinks(s.cfg.StoreDir)
	if err != nil {
		s.fail(w, r, errNotFound("store"))
		return
	}
	if !within(filepath.Clean(s.cfg.StoreDir), filepath.Clean(prod.Path)) && !within(storeReal, filepath.Clean(prod.Path)) {
		s.fail(w, r, errForbidden("product path outside the store"))
		return
	}
	root, err := filepath.EvalSymlinks(prod.Path)
	if err != nil {
		s.fail(w, r, errNotFound("product file"))
		return
	}
	if !within(storeReal, root) {
		s.fail(w, r, errForbidden("product path outside the store"))
		return
	}
	target := root
	st, err := os.Stat(root)
	if err != nil {
		s.fail(w, r, errNotFound("product file"))
		return
	}
	if st.IsDir() {
		if rest == "" {
			rest = prod.DefaultPath
		}
		target, err = confine(root, filepath.FromSlash(rest))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if st2, err := os.Stat(target); err == nil && st2.IsDir() {
			if target, err = confine(root, filepath.Join(rest, "index.html")); err != nil {
				s.fail(w, r, err)
				return
			}
		}
	} else if rest != "" && rest != filepath.Base(root) {
		s.fail(w, r, errNotFound("file "+strconv.Quote(rest)))
		return
	}
	f, err := os.Open(target)
	if err != nil {
		s.fail(w, r, errNotFound("product file"))
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		s.fail(w, r, errNotFound("product file"))
		return
	}
	w.Header().Set("Content-Security-Policy", "sandbox")
	http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
}

// confine resolves name inside root and refuses anything that escapes it,
// symbolic links included.
func confine(root, name string) (string, error) {
	if root == "" {
		return "", errNotFound("log directory")
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", root, err)
	}
	var p string
	if filepath.IsAbs(name) {
		p = filepath.Clean(name)
	} else {
		p = filepath.Join(root, name)
	}
	if !within(root, p) {
		return "", errForbidden("path outside the allowed directory")
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", errNotFound("directory")
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", errNotFound("file")
	}
	if !within(realRoot, real) {
		return "", errForbidden("path outside the allowed directory")
	}
	return real, nil
}

func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}
