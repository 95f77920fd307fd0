package binarycache_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/binarycache"
)

// storeFixture is a store directory holding a product output with the
// links a build may ship (to the whole store, where another output holds
// a file, and to the host), that other output, and an output to dump.
type storeFixture struct {
	dir, prod, tool string
}

func newStoreFixture(t *testing.T) storeFixture {
	dir := t.TempDir()
	fx := storeFixture{dir: dir, prod: filepath.Join(dir, strings.Repeat("c", 32)+"-hello-doc"),
		tool: filepath.Join(dir, strings.Repeat("d", 32)+"-tool")}
	other := filepath.Join(dir, strings.Repeat("d", 32)+"-other")
	for _, d := range []string{filepath.Join(fx.prod, "share"), other, filepath.Join(fx.tool, "bin")} {
		require.NoError(t, os.MkdirAll(d, 0o755))
	}
	for name, text := range map[string]string{
		filepath.Join(fx.prod, "share", "index.html"): "<h1>manual</h1>",
		filepath.Join(fx.prod, "hello.tar.gz"):        "tarball",
		filepath.Join(other, "secret.txt"):            "other project's file",
		filepath.Join(fx.tool, "bin", "tool"):         "#!/bin/sh\necho hi\n",
	} {
		require.NoError(t, os.WriteFile(name, []byte(text), 0o644))
	}
	require.NoError(t, os.Symlink(dir, filepath.Join(fx.prod, "store")))
	require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(fx.prod, "share", "passwd")))
	require.NoError(t, os.Symlink("bin/tool", filepath.Join(fx.tool, "link")))
	return fx
}

// TestProduct serves product files and refuses paths that climb out of
// a product and links that lead out of its output: to the host, or into
// the store at large, where any other output is.
func TestProduct(t *testing.T) {
	fx := newStoreFixture(t)
	s := binarycache.StoreFiles{Dir: fx.dir}
	tests := []struct {
		name               string
		product, rest, def string
		want               string
		err                error
	}{
		{"a file product", filepath.Join(fx.prod, "hello.tar.gz"), "", "", "tarball", nil},
		{"a file product by its name", filepath.Join(fx.prod, "hello.tar.gz"), "hello.tar.gz", "", "tarball", nil},
		{"a file product by another name", filepath.Join(fx.prod, "hello.tar.gz"), "x", "", "", fs.ErrNotExist},
		{"a directory: default path, then index.html", fx.prod, "", "share", "<h1>manual</h1>", nil},
		{"a file in a directory", fx.prod, "share/index.html", "", "<h1>manual</h1>", nil},
		{"climbing out of the product", fx.prod, "../../../../etc/passwd", "", "", fs.ErrPermission},
		{"climbing out through a subdirectory", fx.prod, "share/../../secret", "", "", fs.ErrPermission},
		{"a product outside the store", "/etc/passwd", "", "", "", fs.ErrPermission},
		{"the store itself", fx.dir, "", "", "", fs.ErrPermission},
		{"a link to the host", fx.prod, "share/passwd", "", "", fs.ErrNotExist},
		{"a product that is a link to the store", filepath.Join(fx.prod, "store"), strings.Repeat("d", 32) + "-other/secret.txt", "", "", fs.ErrNotExist},
		{"through a link to the store", fx.prod, "store/" + strings.Repeat("d", 32) + "-other/secret.txt", "", "", fs.ErrNotExist},
		{"a missing file", fx.prod, "share/nope", "", "", fs.ErrNotExist},
		{"a missing output", filepath.Join(fx.dir, strings.Repeat("e", 32)+"-gone"), "", "", "", fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, fi, err := s.Product(tt.product, tt.rest, tt.def)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			defer f.Close()
			require.True(t, fi.Mode().IsRegular())
			got, err := io.ReadAll(f)
			require.NoError(t, err)
			require.Equal(t, tt.want, string(got))
		})
	}
}

// TestNAR dumps an output, and refuses paths that are not directly in
// the store.
func TestNAR(t *testing.T) {
	fx := newStoreFixture(t)
	s := binarycache.StoreFiles{Dir: fx.dir}
	nar, err := s.NAR(fx.tool)
	require.NoError(t, err)
	var buf bytes.Buffer
	n, err := nar.WriteTo(&buf)
	require.NoError(t, err)
	require.Equal(t, int64(buf.Len()), n)
	require.True(t, strings.HasPrefix(buf.String()[8:], "nix-archive-1"), "NAR magic")

	tests := []struct {
		name string
		path string
		err  error
	}{
		{"an output gone from the store", filepath.Join(fx.dir, strings.Repeat("e", 32)+"-tool-doc"), fs.ErrNotExist},
		{"a host directory", "/etc", fs.ErrPermission},
		{"another store", "/nix/store/" + strings.Repeat("b", 32) + "-hello", fs.ErrPermission},
		{"a file inside an output", filepath.Join(fx.tool, "bin"), fs.ErrPermission},
		{"climbing out of the store", filepath.Join(fx.dir, "..", "x"), fs.ErrPermission},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.NAR(tt.path)
			require.ErrorIs(t, err, tt.err)
		})
	}
}

// TestStoreFilesContents lists directories and archives inside the
// product's own output, and refuses what it cannot list or reach.
func TestStoreFilesContents(t *testing.T) {
	fx := newStoreFixture(t)
	var tb bytes.Buffer
	gz := gzip.NewWriter(&tb)
	tw := tar.NewWriter(gz)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "src/main.c", Mode: 0o644, Size: 2, Typeflag: tar.TypeReg}))
	_, _ = tw.Write([]byte("x\n"))
	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())
	require.NoError(t, os.WriteFile(filepath.Join(fx.prod, "src.tar.gz"), tb.Bytes(), 0o644))
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	f, err := zw.Create("lib/a.class")
	require.NoError(t, err)
	_, _ = f.Write([]byte("cafe"))
	require.NoError(t, zw.Close())
	require.NoError(t, os.WriteFile(filepath.Join(fx.prod, "app.jar"), zb.Bytes(), 0o644))

	sf := binarycache.StoreFiles{Dir: fx.dir}
	tests := []struct {
		path     string
		contains []string
		err      error
	}{
		{fx.prod, []string{"./share/index.html", "./src.tar.gz"}, nil},
		{filepath.Join(fx.prod, "share"), []string{"./index.html"}, nil},
		{filepath.Join(fx.prod, "src.tar.gz"), []string{"src/main.c"}, nil},
		{filepath.Join(fx.prod, "app.jar"), []string{"lib/a.class"}, nil},
		{filepath.Join(fx.prod, "hello.tar.gz"), nil, errors.ErrUnsupported}, // not gzip
		{filepath.Join(fx.prod, "share", "index.html"), nil, errors.ErrUnsupported},
		{filepath.Join(fx.prod, "store"), nil, errors.ErrUnsupported}, // a link, not followed
		{filepath.Join(fx.prod, "nope"), nil, fs.ErrNotExist},
		{"/etc", nil, fs.ErrPermission},
		{fx.dir + "/../x", nil, fs.ErrPermission},
	}
	for _, tt := range tests {
		got, err := sf.Contents(tt.path)
		if tt.err != nil {
			require.ErrorIs(t, err, tt.err, tt.path)
			continue
		}
		require.NoError(t, err, tt.path)
		for _, c := range tt.contains {
			require.Contains(t, got, c, tt.path)
		}
		require.NotContains(t, got, "other project", tt.path)
	}
}

func TestReadSpecOutput(t *testing.T) {
	store := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(store, "aaa-spec.json"), []byte(`{"a":{}}`), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(store, "bbb-dir"), 0o755))
	require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(store, "ccc-link")))
	s := binarycache.StoreFiles{Dir: store}
	ctx := context.Background()
	data, err := s.ReadSpecOutput(ctx, filepath.Join(store, "aaa-spec.json"), 100)
	require.NoError(t, err)
	require.Equal(t, `{"a":{}}`, string(data))
	data, err = s.ReadSpecOutput(ctx, filepath.Join(store, "aaa-spec.json"), 3)
	require.NoError(t, err)
	require.Len(t, data, 4, "max+1 bytes, for the caller to refuse")
	for _, p := range []string{"bbb-dir", "ccc-link", "missing"} {
		_, err := s.ReadSpecOutput(ctx, filepath.Join(store, p), 100)
		require.Error(t, err, p)
	}
	_, err = s.ReadSpecOutput(ctx, "/etc/passwd", 100)
	require.ErrorIs(t, err, fs.ErrPermission)
	_, err = s.ReadSpecOutput(ctx, filepath.Join(store, "aaa-spec.json", ".."), 100)
	require.Error(t, err)
}
