package zstdpool_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/zstdpool"
)

// TestReuse compresses several streams through one pooled encoder and
// checks each decodes to its own input alone.
func TestReuse(t *testing.T) {
	pool := zstdpool.New(zstd.WithEncoderConcurrency(1))
	dec, err := zstd.NewReader(nil)
	require.NoError(t, err)
	defer dec.Close()
	for i, in := range []string{"first stream", strings.Repeat("second ", 10_000), ""} {
		var out bytes.Buffer
		enc, err := pool.Get(&out)
		require.NoError(t, err)
		_, err = enc.Write([]byte(in))
		require.NoError(t, err)
		require.NoError(t, enc.Close())
		pool.Put(enc)
		got, err := dec.DecodeAll(out.Bytes(), nil)
		require.NoError(t, err, "stream %d", i)
		require.Equal(t, in, string(got), "stream %d", i)
	}
}

// BenchmarkSmallStream is what a builder pays per small log or NAR: a
// fresh encoder, or one from the pool.
func BenchmarkSmallStream(b *testing.B) {
	in := []byte("a small build log line\n")
	b.Run("new", func(b *testing.B) {
		for range b.N {
			var out bytes.Buffer
			enc, err := zstd.NewWriter(&out)
			require.NoError(b, err)
			_, _ = enc.Write(in)
			require.NoError(b, enc.Close())
		}
	})
	b.Run("pooled", func(b *testing.B) {
		pool := zstdpool.New()
		for range b.N {
			var out bytes.Buffer
			enc, err := pool.Get(&out)
			require.NoError(b, err)
			_, _ = enc.Write(in)
			require.NoError(b, enc.Close())
			pool.Put(enc)
		}
	})
}
