package binarycache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
)

// cacheInfo is the nix-cache-info a FileWriter creates.
const cacheInfo = "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n"

// FileWriterOptions configures a FileWriter.
type FileWriterOptions struct {
	// Compression of NAR files; zstd when empty.
	Compression Compression
	// SecretKeys sign every narinfo written; none means unsigned.
	SecretKeys []signature.SecretKey
	// Logger receives one debug line per upload; slog.Default when nil.
	Logger *slog.Logger
}

// FileWriter writes a file:// binary cache directory natively.
// It is safe for concurrent use.
type FileWriter struct {
	dir     string
	opts    FileWriterOptions
	log     *slog.Logger
	encoder narEncoder
}

// NewFileWriter returns a FileWriter for the cache directory dir, creating
// dir and dir/nar if needed.
func NewFileWriter(dir string, opts FileWriterOptions) (*FileWriter, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("binary cache dir %s: %w", dir, err)
	}
	switch opts.Compression {
	case "":
		opts.Compression = CompressionZstd
	case CompressionZstd, CompressionXz, CompressionNone:
	default:
		return nil, fmt.Errorf("binary cache %s: unsupported compression %q", dir, opts.Compression)
	}
	if err := os.MkdirAll(filepath.Join(abs, "nar"), 0o755); err != nil {
		return nil, fmt.Errorf("create binary cache %s: %w", abs, err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	w := &FileWriter{dir: abs, opts: opts, log: log, encoder: newNAREncoder(opts.Compression)}
	// Nix refuses a substituter without nix-cache-info, and Hydra
	// serves one from its start: write it before the first upload.
	if err := w.ensureCacheInfo(); err != nil {
		return nil, err
	}
	return w, nil
}

// OpenFileURL returns a FileWriter for a "file:///path" URL.
func OpenFileURL(rawURL string, opts FileWriterOptions) (*FileWriter, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("parse binary cache url %q: %w", rawURL, err)
	}
	if u.Scheme != "file" || (u.Host != "" && u.Host != "localhost") || u.Path == "" {
		return nil, fmt.Errorf("binary cache url %q: want file:///absolute/path", rawURL)
	}
	return NewFileWriter(u.Path, opts)
}

// Dir returns the absolute cache directory.
func (w *FileWriter) Dir() string { return w.dir }

// URL returns the cache as a file:// URL.
func (w *FileWriter) URL() string { return "file://" + w.dir }

// Has reports whether the cache holds a narinfo for storePath.
func (w *FileWriter) Has(ctx context.Context, storePath string) (bool, error) {
	hp, err := hashPart(storePath)
	if err != nil {
		return false, err
	}
	_, err = os.Stat(filepath.Join(w.dir, hp+".narinfo"))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("stat narinfo of %s: %w", storePath, err)
	}
}

// Lookup returns what the cache holds for storePath; ok is false when the
// narinfo or its NAR file is missing.
func (w *FileWriter) Lookup(ctx context.Context, storePath string) (u Uploaded, ok bool, err error) {
	hp, err := hashPart(storePath)
	if err != nil {
		return Uploaded{}, false, err
	}
	f, err := os.Open(filepath.Join(w.dir, hp+".narinfo"))
	if errors.Is(err, fs.ErrNotExist) {
		return Uploaded{}, false, nil
	}
	if err != nil {
		return Uploaded{}, false, fmt.Errorf("open narinfo of %s: %w", storePath, err)
	}
	defer f.Close()
	ni, prov, err := readNarInfo(storePath, f)
	if err != nil {
		return Uploaded{}, false, err
	}
	if _, err := os.Stat(filepath.Join(w.dir, filepath.FromSlash(ni.URL))); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Uploaded{}, false, nil
		}
		return Uploaded{}, false, fmt.Errorf("stat nar of %s: %w", storePath, err)
	}
	u = uploadedFromNarInfo(ni, w.URL())
	u.Provenance = prov
	return u, true, nil
}

// Put streams nar into nar/<filehash><ext>, then writes the signed narinfo
// atomically. If the cache already holds info.StorePath, Put returns the
// existing entry without reading nar.
func (w *FileWriter) Put(ctx context.Context, info PathInfo, nar io.Reader) (Uploaded, error) {
	if err := validatePathInfo(info); err != nil {
		return Uploaded{}, fmt.Errorf("put: %w", err)
	}
	if existing, ok, err := w.Lookup(ctx, info.StorePath); err != nil {
		w.log.Warn("binary cache: rewriting unreadable entry", "path", info.StorePath, "err", err)
	} else if ok {
		return existing, nil
	}
	stored, err := w.writeNar(ctx, nar)
	if err != nil {
		return Uploaded{}, fmt.Errorf("put %s: %w", info.StorePath, err)
	}
	u, err := completeUpload(info, stored, w.opts.SecretKeys)
	if err != nil {
		return Uploaded{}, fmt.Errorf("put %s: %w", info.StorePath, err)
	}
	u.CacheURL = w.URL()
	hp, _ := hashPart(info.StorePath)
	if err := writeFileAtomic(filepath.Join(w.dir, hp+".narinfo"), []byte(FormatNarInfo(u)), 0o644); err != nil {
		return Uploaded{}, fmt.Errorf("put %s: %w", info.StorePath, err)
	}
	w.log.Debug("binary cache: uploaded", "path", u.StorePath, "narSize", u.NarSize, "fileSize", u.FileSize, "cache", u.CacheURL)
	return u, nil
}

// ensureCacheInfo writes nix-cache-info unless it exists.
func (w *FileWriter) ensureCacheInfo() error {
	p := filepath.Join(w.dir, "nix-cache-info")
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	if err := writeFileAtomic(p, []byte(cacheInfo), 0o644); err != nil {
		return fmt.Errorf("write nix-cache-info: %w", err)
	}
	return nil
}

// writeNar compresses nar into a temporary file, hashing both sides, and
// renames it to its content-addressed name. The result has the NAR and file
// fields set.
func (w *FileWriter) writeNar(ctx context.Context, nar io.Reader) (Uploaded, error) {
	tmp, err := os.CreateTemp(filepath.Join(w.dir, "nar"), ".tmp-*.nar")
	if err != nil {
		return Uploaded{}, fmt.Errorf("create temp nar: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	defer tmp.Close()

	stored, err := w.encoder.encode(ctx, nar, tmp, nil)
	if err != nil {
		return Uploaded{}, err
	}
	if err := tmp.Sync(); err != nil {
		return Uploaded{}, fmt.Errorf("sync nar: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return Uploaded{}, fmt.Errorf("chmod nar: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return Uploaded{}, fmt.Errorf("close nar: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(w.dir, filepath.FromSlash(stored.URL))); err != nil {
		return Uploaded{}, fmt.Errorf("install nar: %w", err)
	}
	return stored, nil
}

// FormatNarInfo renders u as a .narinfo file. References and Deriver are
// written as base names, as Nix expects.
func FormatNarInfo(u Uploaded) string {
	var b strings.Builder
	fmt.Fprintf(&b, "StorePath: %s\n", u.StorePath)
	fmt.Fprintf(&b, "URL: %s\n", u.URL)
	fmt.Fprintf(&b, "Compression: %s\n", u.Compression)
	if u.FileHash != "" {
		fmt.Fprintf(&b, "FileHash: %s\n", u.FileHash)
		fmt.Fprintf(&b, "FileSize: %d\n", u.FileSize)
	}
	fmt.Fprintf(&b, "NarHash: %s\n", u.NarHash)
	fmt.Fprintf(&b, "NarSize: %d\n", u.NarSize)
	fmt.Fprintf(&b, "References: %s\n", strings.Join(baseNames(u.References), " "))
	if u.Deriver != "" {
		fmt.Fprintf(&b, "Deriver: %s\n", path.Base(u.Deriver))
	}
	for _, s := range u.Signatures {
		fmt.Fprintf(&b, "Sig: %s\n", s)
	}
	if u.Provenance != "" {
		fmt.Fprintf(&b, "%s: %s\n", provenanceField, u.Provenance)
	}
	return b.String()
}
