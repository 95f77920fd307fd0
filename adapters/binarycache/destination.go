package binarycache

import (
	"context"
	"io"
)

// Destination is a store that build outputs are uploaded to.
// FileWriter (file://), SSHStore (ssh://) and S3Store (s3://) implement it.
type Destination interface {
	// Put stores the store path described by info, whose NAR serialisation
	// is read from nar. Putting a path the destination already holds is a
	// no-op that returns what is there and does not read nar.
	Put(ctx context.Context, info PathInfo, nar io.Reader) (Uploaded, error)
	// Has reports whether the destination holds storePath.
	Has(ctx context.Context, storePath string) (bool, error)
	// URL identifies the destination, e.g. file:///var/cache/nix.
	URL() string
}

// LogUploader is a Destination that also keeps build logs, as
// log/<drv name> in a binary cache (S3Store).
type LogUploader interface {
	// PutLog stores the build log of the derivation drvPath.
	PutLog(ctx context.Context, drvPath string, log io.Reader) error
}

// Compression names a NAR file compression.
type Compression string

// The supported compressions. zstd is the default and fast (~400 MB/s
// here); xz uses a pure-Go encoder that is very slow (<1 MB/s) and suits
// only small paths or caches that must serve very old Nix clients.
const (
	CompressionZstd Compression = "zstd"
	CompressionXz   Compression = "xz"
	CompressionNone Compression = "none"
)

// extension returns the NAR file name suffix for c.
func (c Compression) extension() string {
	switch c {
	case CompressionZstd:
		return ".nar.zst"
	case CompressionXz:
		return ".nar.xz"
	default:
		return ".nar"
	}
}

// narMagic is the start of every NAR: the length-prefixed, padded string
// "nix-archive-1".
var narMagic = []byte("\x0d\x00\x00\x00\x00\x00\x00\x00nix-archive-1\x00\x00\x00")

// ctxReader fails reads once its context is done, so long copies stop
// promptly on cancellation.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// countWriter counts the bytes written through it.
type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}
