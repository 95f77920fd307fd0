package web

import (
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

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
	// NARXZ is NAR compressed with xz, as Hydra sends an output.
	NARXZ(storePath string) (io.WriterTo, error)
	// Contents lists the files of a product (a directory or an archive),
	// one a line; a kind it cannot list is errors.ErrUnsupported.
	Contents(productPath string) (string, error)
}

// errNoOutputs answers the output routes of a server without Outputs.
var errNoOutputs = &httpError{Status: http.StatusNotImplemented, Msg: "build outputs are not available"}

// download serves a file of a build product in a CSP sandbox, as
// Outputs.Product finds it, on Hydra's URLs: /download is product 1;
// /download/NR with a product that has a name or a default path
// redirects to /download/NR/NAME/DEFAULTPATH; the NAME segment after NR
// only informs and is dropped; a product may be named instead of
// numbered (/download/NAME/...).
func (s *server) download(w http.ResponseWriter, r *http.Request) error {
	b, err := s.loadBuild(r)
	if err != nil {
		return err
	}
	key := chi.URLParam(r, "nr")
	if key == "" {
		key = "1"
	}
	rest := strings.Trim(chi.URLParam(r, "*"), "/")
	var parts []string
	if rest != "" {
		parts = strings.Split(rest, "/")
	}
	var prod *BuildProduct
	if p, ok := b.Products[key]; ok {
		prod = &p
	} else {
		for _, p := range sortedProducts(b.Products) {
			if p.Name == key {
				prod = &p
				parts = append([]string{key}, parts...)
				break
			}
		}
	}
	if prod == nil || prod.Path == "" {
		return errNotFound("product " + strconv.Quote(key) + " of build " + strconv.FormatInt(b.ID, 10))
	}
	if len(parts) == 0 && (prod.Name != "" || prod.DefaultPath != "") {
		http.Redirect(w, r, productURL(b.ID, *prod, nil), http.StatusFound)
		return nil
	}
	if prod.Name != "" && len(parts) > 0 {
		parts = parts[1:]
	}
	if s.cfg.Outputs == nil {
		return errNoOutputs
	}
	f, fi, err := s.cfg.Outputs.Product(prod.Path, strings.Join(parts, "/"), prod.DefaultPath)
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

// productURL is a product's download URL as Hydra makes it:
// /build/ID/download/NR[/NAME][/DEFAULTPATH][/REST...].
func productURL(id int64, p BuildProduct, rest []string) string {
	u := "/build/" + strconv.FormatInt(id, 10) + "/download/" + strconv.Itoa(p.Nr)
	if p.Name != "" {
		u += "/" + url.PathEscape(p.Name)
	}
	if p.DefaultPath != "" {
		u += "/" + strings.Trim(p.DefaultPath, "/")
	}
	for _, part := range rest {
		u += "/" + url.PathEscape(part)
	}
	return u
}

// downloadByType redirects to the first product (by number) of a type
// and subtype, and on to the rest of the URL.
func (s *server) downloadByType(w http.ResponseWriter, r *http.Request) error {
	b, err := s.loadBuild(r)
	if err != nil {
		return err
	}
	typ, sub := chi.URLParam(r, "type"), chi.URLParam(r, "subtype")
	rest := strings.Trim(chi.URLParam(r, "*"), "/")
	var parts []string
	if rest != "" {
		parts = strings.Split(rest, "/")
	}
	if slices.Contains(parts, "..") {
		return errBadRequest("bad path %q", rest)
	}
	for _, p := range sortedProducts(b.Products) {
		if p.Type == typ && p.Subtype == sub {
			http.Redirect(w, r, productURL(b.ID, p, parts), http.StatusFound)
			return nil
		}
	}
	return errNotFound("product of type " + typ + "/" + sub + " of build " + strconv.FormatInt(b.ID, 10))
}

// contentsPage lists the files of a product (contents.html).
type contentsPage struct {
	page
	Title, Contents string
}

// productContents lists what a product holds: the files of a directory,
// the members of an archive (text/plain for non-browsers).
func (s *server) productContents(w http.ResponseWriter, r *http.Request) error {
	b, err := s.loadBuild(r)
	if err != nil {
		return err
	}
	nr := chi.URLParam(r, "nr")
	p, ok := b.Products[nr]
	if !ok || p.Path == "" {
		return errNotFound("product " + strconv.Quote(nr) + " of build " + strconv.FormatInt(b.ID, 10))
	}
	if s.cfg.Outputs == nil {
		return errNoOutputs
	}
	text, err := s.cfg.Outputs.Contents(p.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errNotFound("product " + p.Path)
	case errors.Is(err, fs.ErrPermission):
		return errForbidden("product outside the store")
	case errors.Is(err, errors.ErrUnsupported):
		return errBadRequest("cannot list the contents of this product: %v", err)
	case err != nil:
		return err
	}
	if wantsJSON(r) || !acceptsHTML(r) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, text)
		return nil
	}
	s.render(w, r, http.StatusOK, "contents", &contentsPage{Title: "Contents of " + p.Path, Contents: text})
	return nil
}

// outputNAR sends an output of a finished build as an xz-compressed NAR
// archive, named as Hydra names it.
func (s *server) outputNAR(w http.ResponseWriter, r *http.Request) error {
	b, err := s.loadBuild(r)
	if err != nil {
		return err
	}
	name := chi.URLParam(r, "name")
	if !b.Finished {
		return errBadRequest("build %d is not finished yet", b.ID)
	}
	o, ok := b.Outputs[name]
	if !ok || o.Path == "" {
		return errNotFound("output " + strconv.Quote(name))
	}
	if s.cfg.Outputs == nil {
		return errNoOutputs
	}
	nar, err := s.cfg.Outputs.NARXZ(o.Path)
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
	// Hydra's name: it says .bz2, and the body is xz (pixz) all the same.
	w.Header().Set("Content-Disposition", `attachment; filename="build-`+strconv.FormatInt(b.ID, 10)+"-"+name+`.nar.bz2"`)
	if _, err := nar.WriteTo(w); err != nil {
		// Headers are gone: the client sees a truncated archive.
		s.log.Warn("dump output", "build", b.ID, "path", o.Path, "err", err)
	}
	return nil
}
