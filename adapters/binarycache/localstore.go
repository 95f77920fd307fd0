package binarycache

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/nix-community/go-nix/pkg/nar"
)

// LocalStore reads store paths and their metadata from a Nix store on this
// machine, using the nix command-line tools for metadata.
type LocalStore struct {
	// Store is passed to nix as --store when non-empty: a chroot store
	// directory such as /tmp/store, or any store URI.
	Store string
	// NixDump makes DumpNAR run `nix-store --dump` instead of serialising
	// the file system natively.
	NixDump bool
}

// storeArgs returns the --store flag when a store is configured.
func (s LocalStore) storeArgs() []string {
	if s.Store == "" {
		return nil
	}
	return []string{"--store", s.Store}
}

// realPath returns where the files of storePath live on this machine.
func (s LocalStore) realPath(storePath string) (string, bool) {
	switch {
	case s.Store == "":
		return storePath, true
	case filepath.IsAbs(s.Store):
		return filepath.Join(s.Store, storePath), true
	default:
		return "", false
	}
}

// DumpNAR writes the NAR serialisation of storePath to w.
func (s LocalStore) DumpNAR(ctx context.Context, w io.Writer, storePath string) error {
	if _, err := hashPart(storePath); err != nil {
		return fmt.Errorf("dump nar: %w", err)
	}
	if real, ok := s.realPath(storePath); ok && !s.NixDump {
		if err := nar.DumpPath(w, real); err != nil {
			return fmt.Errorf("dump nar of %s: %w", storePath, err)
		}
		return nil
	}
	args := append(s.storeArgs(), "--dump", storePath)
	cmd := exec.CommandContext(ctx, "nix-store", args...)
	cmd.Stdout = w
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("nix-store --dump %s: %w: %s", storePath, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// pathInfoJSON is one element of `nix path-info --json` (Nix 2.8).
type pathInfoJSON struct {
	Path       string   `json:"path"`
	NarHash    string   `json:"narHash"`
	NarSize    int64    `json:"narSize"`
	References []string `json:"references"`
	Deriver    string   `json:"deriver"`
	Valid      *bool    `json:"valid"`
}

// PathInfo returns the metadata of storePath from the store, including
// its NarHash and NarSize.
func (s LocalStore) PathInfo(ctx context.Context, storePath string) (PathInfo, error) {
	infos, err := s.PathInfos(ctx, storePath)
	if err != nil {
		return PathInfo{}, err
	}
	return infos[0], nil
}

// PathInfos returns the metadata of several store paths in one nix call,
// in the order given.
func (s LocalStore) PathInfos(ctx context.Context, storePaths ...string) ([]PathInfo, error) {
	if len(storePaths) == 0 {
		return nil, nil
	}
	for _, p := range storePaths {
		if _, err := hashPart(p); err != nil {
			return nil, fmt.Errorf("path info: %w", err)
		}
	}
	// nix path-info reads a derivation's path as its outputs unless told
	// --derivation, which would read any other path as its deriver: the
	// two kinds are asked for apart.
	var plain, drvs []string
	for _, p := range storePaths {
		if strings.HasSuffix(p, ".drv") {
			drvs = append(drvs, p)
		} else {
			plain = append(plain, p)
		}
	}
	byPath := make(map[string]pathInfoJSON, len(storePaths))
	for _, q := range []struct {
		flags []string
		paths []string
	}{{nil, plain}, {[]string{"--derivation"}, drvs}} {
		if len(q.paths) == 0 {
			continue
		}
		// No substituters: a metadata query must never reach the network.
		args := append([]string{"--extra-experimental-features", "nix-command", "--option", "substituters", ""}, s.storeArgs()...)
		args = append(append(append(args, "path-info", "--json"), q.flags...), q.paths...)
		out, err := s.run(ctx, "nix", args...)
		if err != nil {
			return nil, err
		}
		var raw []pathInfoJSON
		if err := json.Unmarshal(out, &raw); err != nil {
			return nil, fmt.Errorf("decode nix path-info output: %w", err)
		}
		for _, r := range raw {
			byPath[r.Path] = r
		}
	}
	infos := make([]PathInfo, 0, len(storePaths))
	for _, p := range storePaths {
		r, ok := byPath[p]
		if !ok || (r.Valid != nil && !*r.Valid) {
			return nil, fmt.Errorf("path info: %s is not valid in the store", p)
		}
		narHash, err := normalizeNarHash(r.NarHash)
		if err != nil {
			return nil, fmt.Errorf("path info of %s: %w", p, err)
		}
		infos = append(infos, PathInfo{
			StorePath:  p,
			References: sortedUnique(r.References),
			Deriver:    r.Deriver,
			NarHash:    narHash,
			NarSize:    r.NarSize,
		})
	}
	return infos, nil
}

// Closure returns storePaths and everything they refer to, directly or
// not, ordered so that every path comes after its references.
func (s LocalStore) Closure(ctx context.Context, storePaths ...string) ([]string, error) {
	if len(storePaths) == 0 {
		return nil, nil
	}
	args := append(s.storeArgs(), "--query", "--requisites")
	args = append(args, storePaths...)
	out, err := s.run(ctx, "nix-store", args...)
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(out)), nil
}

// Upload puts storePath into dest, streaming its NAR from the store.
func (s LocalStore) Upload(ctx context.Context, dest Destination, storePath string) (Uploaded, error) {
	info, err := s.PathInfo(ctx, storePath)
	if err != nil {
		return Uploaded{}, err
	}
	return s.upload(ctx, dest, info)
}

// UploadClosure puts the closure of storePaths into dest, references first,
// so the destination never holds a path whose references are missing.
// Paths dest already has are skipped. It returns the results for
// storePaths themselves, in order.
func (s LocalStore) UploadClosure(ctx context.Context, dest Destination, storePaths ...string) ([]Uploaded, error) {
	closure, err := s.Closure(ctx, storePaths...)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, p := range closure {
		has, err := dest.Has(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("upload closure: %w", err)
		}
		if !has {
			missing = append(missing, p)
		}
	}
	infos, err := s.PathInfos(ctx, missing...)
	if err != nil {
		return nil, err
	}
	done := make(map[string]Uploaded, len(storePaths))
	for _, info := range referencesFirst(infos) {
		u, err := s.upload(ctx, dest, info)
		if err != nil {
			return nil, err
		}
		done[info.StorePath] = u
	}
	out := make([]Uploaded, 0, len(storePaths))
	for _, p := range storePaths {
		u, ok := done[p]
		if !ok {
			// Already in dest: Put returns the stored entry without
			// reading the NAR.
			info, err := s.PathInfo(ctx, p)
			if err != nil {
				return nil, err
			}
			if u, err = dest.Put(ctx, info, strings.NewReader("")); err != nil {
				return nil, fmt.Errorf("upload closure: look up %s: %w", p, err)
			}
		}
		out = append(out, u)
	}
	return out, nil
}

// referencesFirst orders infos so that each path comes after those of its
// references that are among infos. Self-references are ignored.
func referencesFirst(infos []PathInfo) []PathInfo {
	byPath := make(map[string]PathInfo, len(infos))
	for _, i := range infos {
		byPath[i.StorePath] = i
	}
	visited := make(map[string]bool, len(infos))
	out := make([]PathInfo, 0, len(infos))
	var visit func(p string)
	visit = func(p string) {
		info, ok := byPath[p]
		if !ok || visited[p] {
			return
		}
		visited[p] = true
		for _, r := range info.References {
			visit(r)
		}
		out = append(out, info)
	}
	for _, i := range infos {
		visit(i.StorePath)
	}
	return out
}

// upload streams the NAR of info.StorePath into dest.Put through a pipe.
func (s LocalStore) upload(ctx context.Context, dest Destination, info PathInfo) (Uploaded, error) {
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(s.DumpNAR(ctx, pw, info.StorePath))
	}()
	u, err := dest.Put(ctx, info, pr)
	pr.CloseWithError(io.ErrClosedPipe) // unblocks the dumper if Put stopped early
	if err != nil {
		return Uploaded{}, fmt.Errorf("upload %s to %s: %w", info.StorePath, dest.URL(), err)
	}
	return u, nil
}

// run executes a nix tool and returns its standard output.
func (s LocalStore) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}
