package binarycache

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/nix-community/go-nix/pkg/wire"
)

// Valid returns those of storePaths that are valid in the store, in the
// order given.
func (s LocalStore) Valid(ctx context.Context, storePaths ...string) ([]string, error) {
	if len(storePaths) == 0 {
		return nil, nil
	}
	for _, p := range storePaths {
		if _, err := hashPart(p); err != nil {
			return nil, fmt.Errorf("check validity: %w", err)
		}
	}
	args := append(s.storeArgs(), "--check-validity", "--print-invalid")
	out, err := s.run(ctx, "nix-store", append(args, storePaths...)...)
	if err != nil {
		return nil, err
	}
	invalid := strings.Fields(string(out))
	valid := make([]string, 0, len(storePaths))
	for _, p := range storePaths {
		if !slices.Contains(invalid, p) {
			valid = append(valid, p)
		}
	}
	return valid, nil
}

// exportMagic marks the metadata trailer of each path in the
// `nix-store --export` format ("NIXE").
const exportMagic = 0x4558494e

// ExportClosure writes the closure of storePaths to w in the format of
// `nix-store --export`, which `nix-store --import` reads: references
// before the paths that refer to them, each path as its NAR followed by
// its name, references and deriver. Paths are serialised natively (as
// DumpNAR does), so no argument list grows with the closure.
func (s LocalStore) ExportClosure(ctx context.Context, w io.Writer, storePaths ...string) error {
	closure, err := s.Closure(ctx, storePaths...)
	if err != nil {
		return err
	}
	infos, err := s.PathInfos(ctx, closure...)
	if err != nil {
		return err
	}
	for _, info := range referencesFirst(infos) {
		if err := wire.WriteUint64(w, 1); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		if err := s.DumpNAR(ctx, w, info.StorePath); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		if err := writeExportTrailer(w, info); err != nil {
			return fmt.Errorf("export %s: %w", info.StorePath, err)
		}
	}
	if err := wire.WriteUint64(w, 0); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

// writeExportTrailer writes what follows a path's NAR in an export: the
// magic, the path, its references (sorted), its deriver and no legacy
// signature.
func writeExportTrailer(w io.Writer, info PathInfo) error {
	refs := sortedUnique(info.References)
	if err := wire.WriteUint64(w, exportMagic); err != nil {
		return err
	}
	if err := wire.WriteString(w, info.StorePath); err != nil {
		return err
	}
	if err := wire.WriteUint64(w, uint64(len(refs))); err != nil {
		return err
	}
	for _, r := range refs {
		if err := wire.WriteString(w, r); err != nil {
			return err
		}
	}
	if err := wire.WriteString(w, info.Deriver); err != nil {
		return err
	}
	return wire.WriteUint64(w, 0)
}
