package binarycache

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/nix-community/go-nix/pkg/nar"
	"github.com/nix-community/go-nix/pkg/narinfo/signature"
)

// benchNAR returns a NAR of one regular file of size bytes, half random and
// half repetitive, so compression has real work to do.
func benchNAR(b *testing.B, size int) []byte {
	b.Helper()
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < size; i += 4096 {
		end := min(i+4096, size)
		if (i/4096)%2 == 0 {
			for j := i; j < end; j++ {
				data[j] = byte(rng.Uint32())
			}
		} else {
			copy(data[i:end], bytes.Repeat([]byte("buildledger "), 4096/12+1))
		}
	}
	var buf bytes.Buffer
	nw, err := nar.NewWriter(&buf)
	if err != nil {
		b.Fatal(err)
	}
	if err := nw.WriteHeader(&nar.Header{Path: "/", Type: nar.TypeRegular, Size: int64(size)}); err != nil {
		b.Fatal(err)
	}
	if _, err := nw.Write(data); err != nil {
		b.Fatal(err)
	}
	if err := nw.Close(); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkPut measures Put throughput on a ~50 MB NAR. xz is left out:
// the pure-Go encoder manages well under 1 MB/s on this input.
func BenchmarkPut(b *testing.B) {
	narBytes := benchNAR(b, 50<<20)
	info := PathInfo{StorePath: "/nix/store/00000000000000000000000000000000-bench"}
	for _, c := range []Compression{CompressionZstd, CompressionNone} {
		b.Run(string(c), func(b *testing.B) {
			sk, _, err := GenerateKey("bench-1")
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(narBytes)))
			for b.Loop() {
				b.StopTimer()
				dir, err := os.MkdirTemp(b.TempDir(), "cache")
				if err != nil {
					b.Fatal(err)
				}
				w, err := NewFileWriter(dir, FileWriterOptions{Compression: c, SecretKeys: []signature.SecretKey{sk}})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := w.Put(context.Background(), info, bytes.NewReader(narBytes)); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				os.RemoveAll(dir)
				b.StartTimer()
			}
		})
	}
}
