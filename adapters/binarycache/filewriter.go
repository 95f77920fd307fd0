package binarycache

import (
	"bytes"
	"context"
	"crypto/sha256"
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

	"github.com/klauspost/compress/zstd"
	"github.com/nix-community/go-nix/pkg/narinfo"
	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/nix-community/go-nix/pkg/nixbase32"
	"github.com/nix-community/go-nix/pkg/nixhash"
	"github.com/ulikunitz/xz"

	"buildledger/adapters/zstdpool"
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
	dir      string
	opts     FileWriterOptions
	log      *slog.Logger
	encoders *zstdpool.Pool
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
	return &FileWriter{dir: abs, opts: opts, log: log, encoders: zstdpool.New()}, nil
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
	ni, prov, err := parseNarInfo(f)
	if err != nil {
		return Uploaded{}, false, fmt.Errorf("parse narinfo of %s: %w", storePath, err)
	}
	if ni.StorePath != storePath || ni.NarHash == nil || ni.URL == "" {
		return Uploaded{}, false, fmt.Errorf("narinfo of %s: inconsistent (StorePath %q, URL %q)", storePath, ni.StorePath, ni.URL)
	}
	if strings.Contains(ni.URL, "..") {
		return Uploaded{}, false, fmt.Errorf("narinfo of %s: unsafe URL %q", storePath, ni.URL)
	}
	if _, err := os.Stat(filepath.Join(w.dir, filepath.FromSlash(ni.URL))); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Uploaded{}, false, nil
		}
		return Uploaded{}, false, fmt.Errorf("stat nar of %s: %w", storePath, err)
	}
	u = w.uploadedFromNarInfo(ni)
	u.Provenance = prov
	return u, true, nil
}

func (w *FileWriter) uploadedFromNarInfo(ni *narinfo.NarInfo) Uploaded {
	u := Uploaded{
		StorePath:   ni.StorePath,
		NarHash:     ni.NarHash.Format(nixhash.NixBase32, true),
		NarSize:     int64(ni.NarSize),
		URL:         ni.URL,
		Compression: ni.Compression,
		FileSize:    int64(ni.FileSize),
		CacheURL:    w.URL(),
	}
	if ni.FileHash != nil {
		u.FileHash = ni.FileHash.Format(nixhash.NixBase32, true)
	}
	for _, r := range ni.References {
		u.References = append(u.References, path.Join("/nix/store", r))
	}
	if ni.Deriver != "" {
		u.Deriver = path.Join("/nix/store", ni.Deriver)
	}
	for _, s := range ni.Signatures {
		u.Signatures = append(u.Signatures, s.String())
	}
	return u
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
	if err := w.ensureCacheInfo(); err != nil {
		return Uploaded{}, err
	}
	stored, err := w.writeNar(ctx, nar)
	if err != nil {
		return Uploaded{}, fmt.Errorf("put %s: %w", info.StorePath, err)
	}
	if info.NarHash != "" {
		want, err := normalizeNarHash(info.NarHash)
		if err != nil {
			return Uploaded{}, fmt.Errorf("put %s: %w", info.StorePath, err)
		}
		if want != stored.NarHash {
			return Uploaded{}, fmt.Errorf("put %s: nar hash mismatch: expected %s, got %s", info.StorePath, want, stored.NarHash)
		}
	}
	if info.NarSize != 0 && info.NarSize != stored.NarSize {
		return Uploaded{}, fmt.Errorf("put %s: nar size mismatch: expected %d, got %d", info.StorePath, info.NarSize, stored.NarSize)
	}
	u := stored
	u.StorePath = info.StorePath
	u.References = sortedUnique(info.References)
	u.Deriver = info.Deriver
	u.CacheURL = w.URL()
	signed := PathInfo{StorePath: u.StorePath, References: u.References, NarHash: u.NarHash, NarSize: u.NarSize}
	for _, sk := range w.opts.SecretKeys {
		sig, err := Sign(sk, signed)
		if err != nil {
			return Uploaded{}, fmt.Errorf("put %s: %w", info.StorePath, err)
		}
		u.Signatures = append(u.Signatures, sig)
	}
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
	head := make([]byte, len(narMagic))
	if _, err := io.ReadFull(nar, head); err != nil {
		return Uploaded{}, fmt.Errorf("read nar header: %w", err)
	}
	if !bytes.Equal(head, narMagic) {
		return Uploaded{}, errors.New("input is not a NAR (bad magic)")
	}
	tmp, err := os.CreateTemp(filepath.Join(w.dir, "nar"), ".tmp-*.nar")
	if err != nil {
		return Uploaded{}, fmt.Errorf("create temp nar: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	defer tmp.Close()

	fileHash := sha256.New()
	fileSize := &countWriter{}
	comp, err := w.compressor(io.MultiWriter(tmp, fileHash, fileSize))
	if err != nil {
		return Uploaded{}, err
	}
	narHash := sha256.New()
	narSize := &countWriter{}
	src := ctxReader{ctx: ctx, r: io.MultiReader(bytes.NewReader(head), nar)}
	buf := make([]byte, 256<<10)
	if _, err := io.CopyBuffer(io.MultiWriter(comp, narHash, narSize), src, buf); err != nil {
		comp.Close()
		return Uploaded{}, fmt.Errorf("write nar: %w", err)
	}
	if err := comp.Close(); err != nil {
		return Uploaded{}, fmt.Errorf("finish %s compression: %w", w.opts.Compression, err)
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
	fh := nixbase32.EncodeToString(fileHash.Sum(nil))
	rel := "nar/" + fh + w.opts.Compression.extension()
	if err := os.Rename(tmp.Name(), filepath.Join(w.dir, filepath.FromSlash(rel))); err != nil {
		return Uploaded{}, fmt.Errorf("install nar: %w", err)
	}
	return Uploaded{
		NarHash:     "sha256:" + nixbase32.EncodeToString(narHash.Sum(nil)),
		NarSize:     narSize.n,
		URL:         rel,
		Compression: string(w.opts.Compression),
		FileHash:    "sha256:" + fh,
		FileSize:    fileSize.n,
	}, nil
}

// compressor returns a WriteCloser compressing into out with the cache's
// compression; Close flushes it without closing out.
func (w *FileWriter) compressor(out io.Writer) (io.WriteCloser, error) {
	switch w.opts.Compression {
	case CompressionZstd:
		enc, err := w.encoders.Get(out)
		if err != nil {
			return nil, err
		}
		return &pooledEncoder{enc: enc, pool: w.encoders}, nil
	case CompressionXz:
		enc, err := xz.NewWriter(out)
		if err != nil {
			return nil, fmt.Errorf("xz writer: %w", err)
		}
		return enc, nil
	default:
		return nopWriteCloser{out}, nil
	}
}

// pooledEncoder goes back to its pool when its stream is closed.
type pooledEncoder struct {
	enc  *zstd.Encoder
	pool *zstdpool.Pool
}

func (p *pooledEncoder) Write(b []byte) (int, error) { return p.enc.Write(b) }

func (p *pooledEncoder) Close() error {
	if err := p.enc.Close(); err != nil {
		return err
	}
	p.pool.Put(p.enc)
	return nil
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

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
