package web

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"buildledger/domain/names"
)

// Store reads the Nix store on this machine (binarycache.StoreInfo): which
// paths are valid, their metadata and closures, and exports of them. The
// web runs no program and opens no file itself. Handlers pass it only the
// outputs of builds the ledger records, so that no one can have it read
// an arbitrary path of the store (a secret someone put there).
type Store interface {
	// Valid returns those of storePaths that are valid, in order.
	Valid(ctx context.Context, storePaths ...string) ([]string, error)
	// Closure returns storePaths and every path they refer to, directly
	// or not, references first.
	Closure(ctx context.Context, storePaths ...string) ([]string, error)
	// Infos returns the metadata of valid paths, in order.
	Infos(ctx context.Context, storePaths ...string) ([]StorePathInfo, error)
	// ExportClosure writes the closure of storePaths in the format of
	// nix-store --export.
	ExportClosure(ctx context.Context, w io.Writer, storePaths ...string) error
}

// StorePathInfo is the metadata of a valid store path.
type StorePathInfo struct {
	Path string
	// References are full store paths, sorted; a path that refers to
	// itself lists itself.
	References []string
	// Deriver is the derivation that built the path, or "".
	Deriver string
	// NarHash is "sha256:<nixbase32>".
	NarHash string
	NarSize int64
}

// StepRef names a build step.
type StepRef struct {
	Build  int64 `json:"build"`
	StepNr int   `json:"stepnr"`
}

// errNoStore answers the routes that read the local store on a server
// without one.
var errNoStore = &httpError{Status: http.StatusNotImplemented, Msg: "the local Nix store is not available"}

// narExpiry is how long a client may keep a NAR, as Hydra's: a store
// path never changes.
const narExpiry = 365 * 24 * time.Hour

// channel finds the builds of a channel and its name for a request.
type channel func(s *server, r *http.Request) (name string, bs []Build, err error)

// scopeChannel is the channel of a scope's latest successful builds.
func scopeChannel(s *server, r *http.Request) (string, []Build, error) {
	sc, err := s.scopeOf(r)
	if err != nil {
		return "", nil, err
	}
	bs, err := s.cfg.Queries.LatestSucceeded(r.Context(), sc.filter())
	if err != nil {
		return "", nil, err
	}
	name := "everything"
	switch {
	case sc.Job != "":
		name = sc.Project + "-" + sc.Jobset + "-" + sc.Job
	case sc.Jobset != "":
		name = sc.Project + "-" + sc.Jobset
	case sc.Project != "":
		name = sc.Project
	}
	return name + "-latest", bs, nil
}

// evalChannel is the channel of an evaluation's builds.
func evalChannel(s *server, r *http.Request) (string, []Build, error) {
	e, bs, err := s.evalChannelBuilds(r)
	return e.Project + "-" + e.Jobset + "-latest", bs, err
}

// buildChannel is a build's own channel (/build/N/nix/…): only a build
// with a nix-build product has one, and only while its outputs are
// valid, as in Hydra. Hydra names it no further.
func buildChannel(s *server, r *http.Request) (string, []Build, error) {
	b, err := s.loadBuild(r)
	if err != nil {
		return "", nil, err
	}
	if len(channelBuilds([]Build{b})) == 0 {
		return "", nil, errNotFound("channel of build " + strconv.FormatInt(b.ID, 10) + " (it has no nix-build product)")
	}
	if s.cfg.Store == nil {
		return "unnamed-channel", []Build{b}, nil
	}
	paths := outputPaths([]Build{b})
	valid, err := s.cfg.Store.Valid(r.Context(), paths...)
	if err != nil {
		return "", nil, err
	}
	for _, p := range paths {
		if !slices.Contains(valid, p) {
			return "", nil, &httpError{Status: http.StatusNotFound, Msg: "path " + p + " is no longer available"}
		}
	}
	return "unnamed-channel", []Build{b}, nil
}

// outputPaths lists the output paths of bs, sorted.
func outputPaths(bs []Build) []string {
	var paths []string
	for _, b := range bs {
		for _, o := range b.Outputs {
			if o.Path != "" {
				paths = append(paths, o.Path)
			}
		}
	}
	slices.Sort(paths)
	return slices.Compact(paths)
}

// validChannel keeps the builds of a channel with the outputs that are
// still valid in the store, as Hydra checks them for every file of a
// channel; a build left without one is dropped. Without a Store every
// output is kept.
func (s *server) validChannel(ctx context.Context, bs []Build) ([]Build, error) {
	bs = channelBuilds(bs)
	if s.cfg.Store == nil {
		return bs, nil
	}
	valid, err := s.cfg.Store.Valid(ctx, outputPaths(bs)...)
	if err != nil {
		return nil, err
	}
	var out []Build
	for _, b := range bs {
		outs := map[string]BuildOutput{}
		for name, o := range b.Outputs {
			if slices.Contains(valid, o.Path) {
				outs[name] = o
			}
		}
		if len(outs) > 0 {
			b.Outputs = outs
			out = append(out, b)
		}
	}
	return out, nil
}

// channelNixExprs answers a channel's nixexprs.tar.bz2.
func (s *server) channelNixExprs(of channel) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		name, bs, err := of(s, r)
		if err != nil {
			return err
		}
		return s.sendChannel(w, r, name, bs)
	}
}

// storeChannel returns the builds of the channel of r with outputs still
// valid, for the files read from the local store (MANIFEST, closure),
// which need a Store.
func (s *server) storeChannel(of channel, r *http.Request) ([]Build, error) {
	_, bs, err := of(s, r)
	if err != nil {
		return nil, err
	}
	if s.cfg.Store == nil {
		return nil, errNoStore
	}
	return s.validChannel(r.Context(), bs)
}

// channelManifest answers a channel's MANIFEST: Nix's old manifest
// (version 4) of the closure of the channel's valid outputs, sorted by
// path, each with its NAR at /nar/NAME and its build's system for the
// outputs themselves.
func (s *server) channelManifest(of channel) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		bs, err := s.storeChannel(of, r)
		if err != nil {
			return err
		}
		system := map[string]string{}
		for _, b := range bs {
			for _, o := range b.Outputs {
				system[o.Path] = b.System
			}
		}
		closure, err := s.cfg.Store.Closure(r.Context(), outputPaths(bs)...)
		if err != nil {
			return err
		}
		slices.Sort(closure)
		infos, err := s.cfg.Store.Infos(r.Context(), closure...)
		if err != nil {
			return err
		}
		// Characters a store path name may hold that mean something in
		// a URL.
		escape := strings.NewReplacer("+", "%2b", "=", "%3d", "?", "%3f")
		narBase := s.cacheURL(r) + "nar/"
		var m strings.Builder
		m.WriteString("version {\n  ManifestVersion: 4\n}\n")
		for _, i := range infos {
			fmt.Fprintf(&m, "{\n  StorePath: %s\n", i.Path)
			if len(i.References) > 0 {
				fmt.Fprintf(&m, "  References: %s\n", strings.Join(i.References, " "))
			}
			if i.Deriver != "" {
				fmt.Fprintf(&m, "  Deriver: %s\n", i.Deriver)
			}
			fmt.Fprintf(&m, "  NarURL: %s%s\n  NarHash: %s\n", narBase, escape.Replace(path.Base(i.Path)), i.NarHash)
			if i.NarSize != 0 {
				fmt.Fprintf(&m, "  NarSize: %d\n", i.NarSize)
			}
			if sys, ok := system[i.Path]; ok {
				fmt.Fprintf(&m, "  System: %s\n", sys)
			}
			m.WriteString("}\n")
		}
		w.Header().Set("Content-Type", "text/x-nix-manifest")
		_, _ = io.WriteString(w, m.String())
		return nil
	}
}

// channelClosure answers a channel's closure: the nix-store --export of
// the closure of its valid outputs, gzipped, as nix-store --import reads
// it after gunzip.
func (s *server) channelClosure(of channel) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		bs, err := s.storeChannel(of, r)
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/x-nix-export")
		ww := &wroteWriter{w: w}
		zw := gzip.NewWriter(ww)
		if err := s.cfg.Store.ExportClosure(r.Context(), zw, outputPaths(bs)...); err != nil {
			if !ww.wrote {
				return err
			}
			// Headers are gone: the client sees a truncated archive.
			s.log.Warn("export channel closure", "err", err)
			return nil
		}
		if err := zw.Close(); err != nil {
			s.log.Warn("export channel closure", "err", err)
		}
		return nil
	}
}

// wroteWriter records whether anything was written, so that an error
// before the first byte can still be answered as one.
type wroteWriter struct {
	w     io.Writer
	wrote bool
}

func (w *wroteWriter) Write(p []byte) (int, error) {
	w.wrote = true
	return w.w.Write(p)
}

// buildChannelList answers /build/N/nix: the build as its channel lists
// it.
func (s *server) buildChannelList(w http.ResponseWriter, r *http.Request) error {
	_, bs, err := buildChannel(s, r)
	if err != nil {
		return err
	}
	s.respond(w, r, bs, "builds", &buildsPage{Title: "Channel of build " + strconv.FormatInt(bs[0].ID, 10), Builds: bs,
		Note: "Binary cache: " + s.cacheURL(r)})
	return nil
}

// buildChannelCacheURL answers /build/N/nix/binary-cache-url.
func (s *server) buildChannelCacheURL(w http.ResponseWriter, r *http.Request) error {
	if _, _, err := buildChannel(s, r); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(s.cacheURL(r)))
	return nil
}

// storeNAR answers /nar/NAME as Hydra does: the xz-compressed NAR of a
// valid store path, which a channel's MANIFEST points to. Only the
// outputs of builds and steps the ledger records are served (404 for any
// other path, valid or not); one no longer valid is 410. A name that is
// no store path's (nar/FILEHASH.nar.zst, as the binary cache's narinfo
// files point to) goes to the binary cache.
func (s *server) storeNAR(w http.ResponseWriter, r *http.Request) error {
	name, err := url.PathUnescape(chi.URLParam(r, "name"))
	if err != nil || !names.StoreBase(name) {
		if s.cfg.BinaryCache != nil {
			s.cfg.BinaryCache.ServeHTTP(w, r)
			return nil
		}
		return errNotFound("NAR " + strconv.Quote(chi.URLParam(r, "name")))
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return &httpError{Status: http.StatusMethodNotAllowed, Msg: "method not allowed"}
	}
	if s.cfg.Store == nil || s.cfg.Outputs == nil {
		return errNotFound("binary cache of the local store")
	}
	storePath := path.Join(s.cfg.StoreDir, name)
	known, err := s.cfg.Queries.IsOutput(r.Context(), storePath)
	if err != nil {
		return err
	}
	if !known {
		return errNotFound("build output " + storePath)
	}
	valid, err := s.cfg.Store.Valid(r.Context(), storePath)
	if err != nil {
		return err
	}
	if len(valid) == 0 {
		return &httpError{Status: http.StatusGone, Msg: "path " + storePath + " is no longer available"}
	}
	nar, err := s.cfg.Outputs.NARXZ(storePath)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-nix-archive")
	w.Header().Set("Expires", s.now().Add(narExpiry).UTC().Format(http.TimeFormat))
	if _, err := nar.WriteTo(w); err != nil {
		s.log.Warn("dump nar", "path", storePath, "err", err)
	}
	return nil
}

// depNode is a path of a dependency tree: the step that built it if the
// ledger knows one, and its references, each expanded once; a path met
// again is a leaf marked Repeated that points to its first place (ID).
type depNode struct {
	Path     string     `json:"path"`
	Name     string     `json:"name"`
	ID       int        `json:"id"`
	Repeated bool       `json:"repeated,omitempty"`
	Step     *StepRef   `json:"step,omitempty"`
	Refs     []*depNode `json:"refs,omitempty"`
}

// depTreePage is the runtime-deps page.
type depTreePage struct {
	page
	Build Build
	Roots []*depNode
}

// runtimeDeps answers /build/N/runtime-deps: the tree of the outputs'
// references in the store, as Hydra's page shows it, with the step that
// built each path. Outputs no longer valid are 410.
func (s *server) runtimeDeps(w http.ResponseWriter, r *http.Request) error {
	b, err := s.loadBuild(r)
	if err != nil {
		return err
	}
	if s.cfg.Store == nil {
		return errNoStore
	}
	outs := outputPaths([]Build{b})
	valid, err := s.cfg.Store.Valid(r.Context(), outs...)
	if err != nil {
		return err
	}
	if len(valid) != len(outs) {
		return &httpError{Status: http.StatusGone, Msg: "the outputs of build " + strconv.FormatInt(b.ID, 10) + " are no longer available"}
	}
	closure, err := s.cfg.Store.Closure(r.Context(), outs...)
	if err != nil {
		return err
	}
	infos, err := s.cfg.Store.Infos(r.Context(), closure...)
	if err != nil {
		return err
	}
	steps, err := s.cfg.Queries.StepsByOutput(r.Context(), closure)
	if err != nil {
		return err
	}
	// The closure comes references first: a path's references keep
	// that order, as Hydra lists them.
	order := make(map[string]int, len(closure))
	for i, p := range closure {
		order[p] = i
	}
	refs := make(map[string][]string, len(infos))
	for _, i := range infos {
		rs := slices.DeleteFunc(slices.Clone(i.References), func(p string) bool { return p == i.Path })
		slices.SortFunc(rs, func(a, b string) int { return order[a] - order[b] })
		refs[i.Path] = rs
	}
	seen := map[string]int{}
	var visit func(p string) *depNode
	visit = func(p string) *depNode {
		n := &depNode{Path: p, Name: strings.TrimSuffix(storeName(p), ".drv")}
		if id, ok := seen[p]; ok {
			n.ID, n.Repeated = id, true
			return n
		}
		n.ID = len(seen) + 1
		seen[p] = n.ID
		if st, ok := steps[p]; ok {
			n.Step = &st
		}
		for _, ref := range refs[p] {
			n.Refs = append(n.Refs, visit(ref))
		}
		return n
	}
	roots := []*depNode{}
	for _, p := range outs {
		roots = append(roots, visit(p))
	}
	s.respond(w, r, roots, "deps", &depTreePage{Build: b, Roots: roots})
	return nil
}

// storeName is the name of a store path without its hash.
func storeName(p string) string {
	base := path.Base(p)
	if i := strings.IndexByte(base, '-'); i >= 0 {
		return base[i+1:]
	}
	return base
}
