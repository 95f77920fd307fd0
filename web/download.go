package web

import (
	"errors"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strconv"

	"github.com/go-chi/chi/v5"
)

// Outputs reads build outputs from the Nix store
// (binarycache.StoreFiles); the web opens no files itself. A path that
// leaves the store, or a product's own output, is refused with
// fs.ErrPermission; a missing one is fs.ErrNotExist.
type Outputs interface {
	// NAR returns the NAR serialisation of the output at storePath, a
	// path directly inside the store.
	NAR(storePath string) (io.WriterTo, error)
	// Product opens a regular file of the build product at productPath:
	// the file itself, or for a directory rest inside it (defaultPath
	// when rest is empty, and a directory's index.html). Symbolic links
	// resolve only within the product's own output.
	Product(productPath, rest, defaultPath string) (io.ReadSeekCloser, fs.FileInfo, error)
}

// errNoOutputs answers the output routes of a server without Outputs.
var errNoOutputs = &httpError{Status: http.StatusNotImplemented, Msg: "build outputs are not available"}

// download serves a file of a build product in a CSP sandbox, as
// Outputs.Product finds it.
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
	if s.cfg.Outputs == nil {
		return errNoOutputs
	}
	f, fi, err := s.cfg.Outputs.Product(prod.Path, chi.URLParam(r, "*"), prod.DefaultPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errNotFound("product file")
	case errors.Is(err, fs.ErrPermission):
		return errForbidden("path outside the product")
	case err != nil:
		return err
	}
	defer f.Close()
	w.Header().Set("Content-Security-Policy", "sandbox")
	http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
	return nil
}

// outputNAR sends an output of a build as a NAR archive.
func (s *server) outputNAR(w http.ResponseWriter, r *http.Request) error {
	b, err := s.loadBuild(r)
	if err != nil {
		return err
	}
	name := chi.URLParam(r, "name")
	o, ok := b.Outputs[name]
	if !ok || o.Path == "" {
		return errNotFound("output " + strconv.Quote(name))
	}
	if s.cfg.Outputs == nil {
		return errNoOutputs
	}
	nar, err := s.cfg.Outputs.NAR(o.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &httpError{Status: http.StatusGone, Msg: "output " + name + " of build " +
			strconv.FormatInt(b.ID, 10) + " is no longer available"}
	case errors.Is(err, fs.ErrPermission):
		return errForbidden("output path outside the store")
	case err != nil:
		return err
	}
	w.Header().Set("Content-Type", "application/x-nix-archive")
	w.Header().Set("Content-Disposition", `attachment; filename="`+path.Base(o.Path)+`.nar"`)
	if _, err := nar.WriteTo(w); err != nil {
		// Headers are gone: the client sees a truncated archive.
		s.log.Warn("dump output", "build", b.ID, "path", o.Path, "err", err)
	}
	return nil
}
