package binarycache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/nix-community/go-nix/pkg/narinfo"
	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/nix-community/go-nix/pkg/nixbase32"
	"github.com/nix-community/go-nix/pkg/nixhash"
	"github.com/ulikunitz/xz"

	"buildledger/adapters/zstdpool"
)

// narEncoder compresses NAR files with one compression; the file://
// and s3:// destinations share it.
type narEncoder struct {
	compression Compression
	zstd        *zstdpool.Pool
}

// newNAREncoder returns an encoder for c; opts tune its zstd encoders.
func newNAREncoder(c Compression, opts ...zstd.EOption) narEncoder {
	return narEncoder{compression: c, zstd: zstdpool.New(opts...)}
}

// encode copies the NAR read from nar, compressed, into out, hashing both
// sides; plain, when not nil, receives the uncompressed NAR as well. The
// result has the NAR and file fields set, and URL the content-addressed
// name nar/<filehash><ext>.
func (e narEncoder) encode(ctx context.Context, nar io.Reader, out io.Writer, plain io.Writer) (Uploaded, error) {
	head := make([]byte, len(narMagic))
	if _, err := io.ReadFull(nar, head); err != nil {
		return Uploaded{}, fmt.Errorf("read nar header: %w", err)
	}
	if !bytes.Equal(head, narMagic) {
		return Uploaded{}, errors.New("input is not a NAR (bad magic)")
	}
	fileHash := sha256.New()
	fileSize := &countWriter{}
	comp, err := e.compressor(io.MultiWriter(out, fileHash, fileSize))
	if err != nil {
		return Uploaded{}, err
	}
	narHash := sha256.New()
	narSize := &countWriter{}
	sinks := []io.Writer{comp, narHash, narSize}
	if plain != nil {
		sinks = append(sinks, plain)
	}
	src := ctxReader{ctx: ctx, r: io.MultiReader(bytes.NewReader(head), nar)}
	// A pipe's size: a larger buffer, made for every NAR, was a tenth
	// of what `up` allocated while building many small outputs.
	buf := make([]byte, 64<<10)
	if _, err := io.CopyBuffer(io.MultiWriter(sinks...), src, buf); err != nil {
		comp.Close()
		return Uploaded{}, fmt.Errorf("write nar: %w", err)
	}
	if err := comp.Close(); err != nil {
		return Uploaded{}, fmt.Errorf("finish %s compression: %w", e.compression, err)
	}
	fh := nixbase32.EncodeToString(fileHash.Sum(nil))
	return Uploaded{
		NarHash:     "sha256:" + nixbase32.EncodeToString(narHash.Sum(nil)),
		NarSize:     narSize.n,
		URL:         "nar/" + fh + e.compression.extension(),
		Compression: string(e.compression),
		FileHash:    "sha256:" + fh,
		FileSize:    fileSize.n,
	}, nil
}

// compressor returns a WriteCloser compressing into out; Close flushes
// it without closing out.
func (e narEncoder) compressor(out io.Writer) (io.WriteCloser, error) {
	switch e.compression {
	case CompressionZstd:
		enc, err := e.zstd.Get(out)
		if err != nil {
			return nil, err
		}
		return &pooledEncoder{enc: enc, pool: e.zstd}, nil
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

// completeUpload checks the NAR a destination stored against what info
// expects and returns the entry of its narinfo, signed with keys.
func completeUpload(info PathInfo, stored Uploaded, keys []signature.SecretKey) (Uploaded, error) {
	if info.NarHash != "" {
		want, err := normalizeNarHash(info.NarHash)
		if err != nil {
			return Uploaded{}, err
		}
		if want != stored.NarHash {
			return Uploaded{}, fmt.Errorf("nar hash mismatch: expected %s, got %s", want, stored.NarHash)
		}
	}
	if info.NarSize != 0 && info.NarSize != stored.NarSize {
		return Uploaded{}, fmt.Errorf("nar size mismatch: expected %d, got %d", info.NarSize, stored.NarSize)
	}
	u := stored
	u.StorePath = info.StorePath
	u.References = sortedUnique(info.References)
	u.Deriver = info.Deriver
	signed := PathInfo{StorePath: u.StorePath, References: u.References, NarHash: u.NarHash, NarSize: u.NarSize}
	for _, sk := range keys {
		sig, err := Sign(sk, signed)
		if err != nil {
			return Uploaded{}, err
		}
		u.Signatures = append(u.Signatures, sig)
	}
	return u, nil
}

// readNarInfo parses the narinfo of storePath and checks that it names
// that path and a NAR file inside the cache.
func readNarInfo(storePath string, r io.Reader) (ni *narinfo.NarInfo, provenance string, err error) {
	ni, provenance, err = parseNarInfo(r)
	if err != nil {
		return nil, "", fmt.Errorf("parse narinfo of %s: %w", storePath, err)
	}
	if ni.StorePath != storePath || ni.NarHash == nil || ni.URL == "" {
		return nil, "", fmt.Errorf("narinfo of %s: inconsistent (StorePath %q, URL %q)", storePath, ni.StorePath, ni.URL)
	}
	if strings.Contains(ni.URL, "..") || strings.HasPrefix(ni.URL, "/") {
		return nil, "", fmt.Errorf("narinfo of %s: unsafe URL %q", storePath, ni.URL)
	}
	return ni, provenance, nil
}

// uploadedFromNarInfo is the entry ni describes in the cache cacheURL.
func uploadedFromNarInfo(ni *narinfo.NarInfo, cacheURL string) Uploaded {
	u := Uploaded{
		StorePath:   ni.StorePath,
		NarHash:     ni.NarHash.Format(nixhash.NixBase32, true),
		NarSize:     int64(ni.NarSize),
		URL:         ni.URL,
		Compression: ni.Compression,
		FileSize:    int64(ni.FileSize),
		CacheURL:    cacheURL,
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
