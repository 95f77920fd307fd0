// Package zstdpool reuses zstd encoders. Creating one costs milliseconds
// and megabytes of buffers, more than compressing a build log or a small
// NAR, which a builder does for every step.
package zstdpool

import (
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Pool hands out encoders made with the same options. It is safe for
// concurrent use.
type Pool struct {
	opts []zstd.EOption
	p    sync.Pool
}

// New returns a pool of encoders made with opts.
func New(opts ...zstd.EOption) *Pool {
	return &Pool{opts: opts}
}

// Get returns an encoder that starts a new stream into w.
func (p *Pool) Get(w io.Writer) (*zstd.Encoder, error) {
	if enc, ok := p.p.Get().(*zstd.Encoder); ok {
		enc.Reset(w)
		return enc, nil
	}
	enc, err := zstd.NewWriter(w, p.opts...)
	if err != nil {
		return nil, fmt.Errorf("zstd encoder: %w", err)
	}
	return enc, nil
}

// Put takes back an encoder from Get once its stream is closed; it no
// longer refers to the stream's writer.
func (p *Pool) Put(enc *zstd.Encoder) {
	enc.Reset(nil)
	p.p.Put(enc)
}
