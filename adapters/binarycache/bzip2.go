package binarycache

import (
	"fmt"
	"io"

	"github.com/dsnet/compress/bzip2"
)

// NewBzip2Writer compresses to w with bzip2, the compression of a Nix
// channel's nixexprs.tar.bz2 (the standard library only reads bzip2).
func NewBzip2Writer(w io.Writer) (io.WriteCloser, error) {
	zw, err := bzip2.NewWriter(w, &bzip2.WriterConfig{Level: bzip2.DefaultCompression})
	if err != nil {
		return nil, fmt.Errorf("bzip2: %w", err)
	}
	return zw, nil
}
