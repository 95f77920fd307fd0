package binarycache

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/nix-community/go-nix/pkg/nixhash"
	"github.com/nix-community/go-nix/pkg/storepath"

	"buildledger/events"
)

// PathInfo describes a store path to upload.
type PathInfo struct {
	// StorePath is the full store path, e.g. /nix/store/<hash>-name.
	StorePath string
	// References are the full store paths StorePath refers to (may include
	// StorePath itself).
	References []string
	// Deriver is the full path of the .drv that produced StorePath, or "".
	Deriver string
	// NarHash is the known hash of the NAR ("sha256:<nixbase32>", base16 or
	// SRI form), or "" if unknown. When set, Put fails if the streamed NAR
	// does not match.
	NarHash string
	// NarSize is the known NAR size in bytes, or 0 if unknown.
	NarSize int64
}

// Uploaded is what a destination holds for a store path after Put: every
// field an events.OutputUploaded needs.
type Uploaded struct {
	// StorePath is the full store path.
	StorePath string
	// NarHash is "sha256:<nixbase32>" of the uncompressed NAR.
	NarHash string
	// NarSize is the uncompressed NAR size in bytes.
	NarSize int64
	// URL is the NAR file location relative to the cache root
	// (e.g. nar/<filehash>.nar.zst); empty for stores without files.
	URL string
	// Compression is the NAR file compression (zstd, xz, none).
	Compression string
	// FileHash is "sha256:<nixbase32>" of the NAR file as stored.
	FileHash string
	// FileSize is the size of the NAR file as stored.
	FileSize int64
	// References are the full store paths, sorted.
	References []string
	// Deriver is the full deriver path, or "".
	Deriver string
	// Signatures are the narinfo signatures ("name:base64").
	Signatures []string
	// Provenance is the file of the path's signed provenance relative to
	// the cache root, or "" (the narinfo's Provenance field).
	Provenance string
	// CacheURL identifies the destination (e.g. file:///var/cache/nix).
	CacheURL string
}

// OutputUploaded returns the ledger event recording this upload.
// Signature holds the signatures separated by spaces.
func (u Uploaded) OutputUploaded(drvPath string, buildID int64, outputName string) events.OutputUploaded {
	return events.OutputUploaded{
		DrvPath:    drvPath,
		BuildID:    buildID,
		OutputName: outputName,
		Path:       u.StorePath,
		NarHash:    u.NarHash,
		NarSize:    u.NarSize,
		FileHash:   u.FileHash,
		FileSize:   u.FileSize,
		References: slices.Clone(u.References),
		CacheURL:   u.CacheURL,
		Key:        u.URL,
		Signature:  strings.Join(u.Signatures, " "),
	}
}

// hashPart returns the 32-character hash part of a full store path after
// validating it.
func hashPart(storePath string) (string, error) {
	sp, err := storepath.FromAbsolutePath(storePath)
	if err != nil {
		return "", fmt.Errorf("invalid store path %q: %w", storePath, err)
	}
	return sp.String()[:32], nil
}

// validatePathInfo checks the store paths of info.
func validatePathInfo(info PathInfo) error {
	if _, err := hashPart(info.StorePath); err != nil {
		return err
	}
	for _, r := range info.References {
		if _, err := hashPart(r); err != nil {
			return fmt.Errorf("reference of %s: %w", info.StorePath, err)
		}
	}
	if info.Deriver != "" {
		if _, err := hashPart(info.Deriver); err != nil {
			return fmt.Errorf("deriver of %s: %w", info.StorePath, err)
		}
	}
	return nil
}

// normalizeNarHash turns a sha256 hash in any Nix encoding into
// "sha256:<nixbase32>".
func normalizeNarHash(h string) (string, error) {
	parsed, err := nixhash.ParseAny(h, nil)
	if err != nil {
		return "", fmt.Errorf("parse nar hash %q: %w", h, err)
	}
	if parsed.Algo() != nixhash.SHA256 {
		return "", fmt.Errorf("nar hash %q: want sha256, got %s", h, parsed.Algo())
	}
	return parsed.Format(nixhash.NixBase32, true), nil
}

// sortedUnique returns a sorted copy of paths without duplicates, nil when
// paths is empty.
func sortedUnique(paths []string) []string {
	if len(paths) == 0 {
		return nil
	}
	out := slices.Clone(paths)
	slices.Sort(out)
	return slices.Compact(out)
}

// baseNames maps full store paths to their base names.
func baseNames(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = path.Base(p)
	}
	return out
}
