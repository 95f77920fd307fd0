package nixsupport_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/nix/nixtest"
	"buildledger/domain/nixsupport"
)

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// rel turns an absolute path into a MapFS key.
func rel(p string) string { return strings.TrimPrefix(p, "/") }

func TestFillFileInfo(t *testing.T) {
	fsys := fstest.MapFS{
		rel(out + "/bin/hello"):        {Data: []byte("#!/bin/sh\n")},
		rel(out + "/empty"):            {Data: nil},
		rel(out + "/share/doc/a.html"): {Data: []byte("<html>")},
		rel(out + "/link"):             {Data: []byte("/etc"), Mode: fs.ModeSymlink},
		rel(out + "/tolink"):           {Data: []byte("bin/hello"), Mode: fs.ModeSymlink},
		rel("etc/passwd"):              {Data: []byte("root:x:0:0")},
	}
	products := []nixsupport.Product{
		{Path: out + "/bin/hello", Output: out, Line: 1},
		{Path: out + "/share/doc", Output: out, Line: 2},
		{Path: out + "/missing", Output: out, Line: 3},
		{Path: out + "/link/passwd", Output: out, Line: 4},
		{Path: out + "/tolink", Output: out, Line: 5},
		{Path: out + "/empty", Output: out, Line: 6},
		{Path: out + "/bin/hello/x", Output: out, Line: 7},
		{Path: out, Output: out, Line: 8},
		{Path: "/etc/passwd", Output: out, Line: 9},
	}
	kept, skipped, err := nixsupport.FillFileInfo(context.Background(), fsys, products)
	require.NoError(t, err)
	require.Equal(t, []nixsupport.Product{
		{Path: out + "/bin/hello", Output: out, Line: 1, FileSize: 10, SHA256: sum("#!/bin/sh\n")},
		{Path: out + "/share/doc", Output: out, Line: 2},
		{Path: out + "/tolink", Output: out, Line: 5},
		{Path: out + "/empty", Output: out, Line: 6, FileSize: 0, SHA256: sum("")},
		{Path: out, Output: out, Line: 8},
	}, kept)
	lines := []int{}
	for _, s := range skipped {
		lines = append(lines, s.Line)
	}
	require.Equal(t, []int{3, 4, 7, 9}, lines)
	require.Contains(t, skipped[0].Reason, "does not exist")
	require.Contains(t, skipped[1].Reason, "symbolic link")
	require.Contains(t, skipped[2].Reason, "not a directory")
	require.Contains(t, skipped[3].Reason, "outside")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err = nixsupport.FillFileInfo(ctx, fsys, products)
	require.ErrorIs(t, err, context.Canceled)
}

func TestScan(t *testing.T) {
	fsys := fstest.MapFS{
		rel(out + "/bin/hello"): {Data: []byte("hello")},
		rel(out + "/" + nixsupport.ProductsFile): {Data: []byte(
			"file binary " + out + "/bin/hello\n" +
				"file pdf " + doc + "/manual.pdf\n" + // in the other output: allowed, as Hydra
				"file evil /nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-other/f\n" + // not an output of the build
				"nonsense\n")},
		rel(out + "/" + nixsupport.MetricsFile):     {Data: []byte("a 1\nb 2 s\n")},
		rel(out + "/" + nixsupport.ReleaseNameFile): {Data: []byte("hello-1.0\n")},
		rel(doc + "/manual.pdf"):                    {Data: []byte("%PDF")},
		rel(doc + "/" + nixsupport.ProductsFile):    {Data: []byte("doc manual " + doc + "/manual.pdf\n")},
		rel(doc + "/" + nixsupport.MetricsFile):     {Data: []byte("a 5\n")},
		rel(doc + "/" + nixsupport.ReleaseNameFile): {Data: []byte("not valid!\n")},
		rel(doc + "/" + nixsupport.FailedFile):      {Data: nil},
	}
	res, err := nixsupport.Scan(context.Background(), fsys, []nixsupport.Output{{"out", out}, {"doc", doc}}, nixsupport.Limits{})
	require.NoError(t, err)
	require.Equal(t, []nixsupport.Product{
		{Type: "file", Subtype: "binary", Path: out + "/bin/hello", Name: "hello", Output: out, Line: 1, FileSize: 5, SHA256: sum("hello")},
		{Type: "file", Subtype: "pdf", Path: doc + "/manual.pdf", Name: "manual.pdf", Output: doc, Line: 2, FileSize: 4, SHA256: sum("%PDF")},
		{Type: "doc", Subtype: "manual", Path: doc + "/manual.pdf", Name: "manual.pdf", Output: doc, Line: 1, FileSize: 4, SHA256: sum("%PDF")},
	}, res.Products)
	require.Equal(t, []nixsupport.Metric{{Name: "a", Value: 5, Line: 1}, {Name: "b", Value: 2, Unit: "s", Line: 2}}, res.Metrics)
	require.Equal(t, "hello-1.0", res.ReleaseName)
	require.True(t, res.Failed)
	require.Len(t, res.Skipped, 3)
	require.Equal(t, out+"/"+nixsupport.ProductsFile, res.Skipped[0].File)
	require.Equal(t, 3, res.Skipped[0].Line)
	require.Contains(t, res.Skipped[0].Reason, "outside")
	require.Equal(t, 4, res.Skipped[1].Line)
	require.Equal(t, doc+"/"+nixsupport.ReleaseNameFile, res.Skipped[2].File)
}

// TestScanImplicitProducts: as Hydra's queue runner, every directory
// output without a products file of its own gets a nix-build product,
// whether or not its sibling outputs have products.
func TestScanImplicitProducts(t *testing.T) {
	const (
		dev  = "/nix/store/dddddddddddddddddddddddddddddddd-hello-1.0-dev"
		gone = "/nix/store/gggggggggggggggggggggggggggggggg-gone"
	)
	hello := fstest.MapFile{Data: []byte("hello")}
	listed := fstest.MapFile{Data: []byte("file binary " + out + "/bin/hello\n")}
	tests := []struct {
		name    string
		files   fstest.MapFS
		outputs []nixsupport.Output
		want    []nixsupport.Product
	}{
		{"no output has products: each directory output", fstest.MapFS{
			rel(out + "/bin/hello"):   &hello,
			rel(dev + "/include/h.h"): &hello,
			rel(doc):                  {Data: []byte("a single file output")},
		}, []nixsupport.Output{{"dev", dev}, {"doc", doc}, {"gone", gone}, {"out", out}},
			[]nixsupport.Product{nixsupport.ImplicitProduct("dev", dev), nixsupport.ImplicitProduct("out", out)}},
		{"one output lists products: the others still get theirs", fstest.MapFS{
			rel(out + "/bin/hello"):                  &hello,
			rel(out + "/" + nixsupport.ProductsFile): &listed,
			rel(dev + "/include/h.h"):                &hello,
			rel(doc + "/share/doc/index.html"):       &hello,
		}, []nixsupport.Output{{"dev", dev}, {"doc", doc}, {"out", out}},
			[]nixsupport.Product{
				nixsupport.ImplicitProduct("dev", dev),
				nixsupport.ImplicitProduct("doc", doc),
				{Type: "file", Subtype: "binary", Path: out + "/bin/hello", Name: "hello", Output: out, Line: 1, FileSize: 5, SHA256: sum("hello")},
			}},
		{"an empty products file still counts as the output's own", fstest.MapFS{
			rel(out + "/" + nixsupport.ProductsFile): {Data: nil},
			rel(doc + "/share/doc/index.html"):       &hello,
		}, []nixsupport.Output{{"doc", doc}, {"out", out}},
			[]nixsupport.Product{nixsupport.ImplicitProduct("doc", doc)}},
		{"a products file of garbage too", fstest.MapFS{
			rel(out + "/" + nixsupport.ProductsFile): {Data: []byte("garbage\n")},
		}, []nixsupport.Output{{"out", out}}, nil},
		{"every output lists products: no implicit ones", fstest.MapFS{
			rel(out + "/bin/hello"):                  &hello,
			rel(out + "/" + nixsupport.ProductsFile): &listed,
			rel(doc + "/" + nixsupport.ProductsFile): {Data: nil},
		}, []nixsupport.Output{{"doc", doc}, {"out", out}},
			[]nixsupport.Product{{Type: "file", Subtype: "binary", Path: out + "/bin/hello", Name: "hello", Output: out, Line: 1, FileSize: 5, SHA256: sum("hello")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := nixsupport.Scan(context.Background(), tt.files, tt.outputs, nixsupport.Limits{})
			require.NoError(t, err)
			require.Equal(t, tt.want, res.Products)
			require.False(t, res.Failed)
			require.Empty(t, res.ReleaseName)
			require.Empty(t, res.Metrics)
		})
	}
}

// TestScanSiblingOutputKeepsChecks: a product may lie in another output of
// the build, but the checks of its own output apply there too: no link on
// the way, and nothing outside the build's outputs.
func TestScanSiblingOutputKeepsChecks(t *testing.T) {
	fsys := fstest.MapFS{
		rel(doc + "/link"): {Data: []byte("/etc"), Mode: fs.ModeSymlink},
		rel(doc + "/ok"):   {Data: []byte("ok")},
		"etc/passwd":       {Data: []byte("root:x:0:0")},
		rel(out + "/" + nixsupport.ProductsFile): {Data: []byte(
			"file a " + doc + "/link/passwd\n" +
				"file b " + doc + "/../etc/passwd\n" +
				"file c " + doc + "/ok index.html extra fields\n")},
	}
	res, err := nixsupport.Scan(context.Background(), fsys, []nixsupport.Output{{"doc", doc}, {"out", out}}, nixsupport.Limits{})
	require.NoError(t, err)
	require.Equal(t, []nixsupport.Product{
		nixsupport.ImplicitProduct("doc", doc),
		{Type: "file", Subtype: "c", Path: doc + "/ok", DefaultPath: "index.html", Name: "ok", Output: doc, Line: 3, FileSize: 2, SHA256: sum("ok")},
	}, res.Products)
	require.Len(t, res.Skipped, 2)
	require.Contains(t, res.Skipped[0].Reason+res.Skipped[1].Reason, "symbolic link")
	require.Contains(t, res.Skipped[0].Reason+res.Skipped[1].Reason, "outside")
}

func TestScanTooLarge(t *testing.T) {
	fsys := fstest.MapFS{
		rel(out + "/" + nixsupport.ProductsFile): {Data: []byte("file a " + out + "\n" + strings.Repeat("x", 1000))},
	}
	res, err := nixsupport.Scan(context.Background(), fsys, []nixsupport.Output{{"out", out}}, nixsupport.Limits{MaxBytes: 100})
	require.ErrorIs(t, err, nixsupport.ErrTooLarge)
	require.Contains(t, err.Error(), out)
	require.Len(t, res.Products, 1)
}

// TestScanRealDirectory runs Scan over real files with os.DirFS, including
// a symbolic link that points out of the output.
func TestScanRealDirectory(t *testing.T) {
	dir := t.TempDir()
	o := filepath.Join(dir, "0123456789abcdfghijklmnpqrsvwxyz-real-1")
	require.NoError(t, os.MkdirAll(filepath.Join(o, "nix-support"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(o, "data.txt"), []byte("data"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "secret"), []byte("secret"), 0o644))
	require.NoError(t, os.Symlink(dir, filepath.Join(o, "up")))
	require.NoError(t, os.WriteFile(filepath.Join(o, nixsupport.ProductsFile), []byte(
		"file data "+o+"/data.txt\nfile secret "+o+"/up/secret\n"), 0o644))

	res, err := nixsupport.Scan(context.Background(), os.DirFS("/"), []nixsupport.Output{{"out", o}}, nixsupport.Limits{})
	require.NoError(t, err)
	require.Len(t, res.Products, 1)
	require.Equal(t, sum("data"), res.Products[0].SHA256)
	require.Len(t, res.Skipped, 1)
	require.Contains(t, res.Skipped[0].Reason, "symbolic link")
}

// TestScanNixBuild builds a real three-output derivation with nix-build
// and scans what its builder wrote to nix-support; the output without a
// products file gets its nix-build product.
func TestScanNixBuild(t *testing.T) {
	if _, err := exec.LookPath("nix-build"); err != nil {
		t.Skip("nix-build not installed")
	}
	expr := `let d = builtins.derivation {
  name = "nixsupport-scan-test";
  system = builtins.currentSystem;
  outputs = [ "out" "doc" "dev" ];
  builder = "` + nixtest.Sh + `";
  args = [ "sh" "-c" ''
    set -e
    mkdir -p $out/nix-support $doc/nix-support "$doc/my docs" $dev/include
    echo '#define X' > $dev/include/x.h
    echo hello > $out/hello.txt
    echo '<h1>' > "$doc/my docs/index.html"
    echo "file text $out/hello.txt" > $out/nix-support/hydra-build-products
    echo "doc manual \"$doc/my docs\" index.html" > $doc/nix-support/hydra-build-products
    echo "file stolen /etc/passwd" >> $doc/nix-support/hydra-build-products
    printf 'lineCoverage 18 %%\ntests 42\n' > $out/nix-support/hydra-metrics
    echo scan-test-2.1 > $out/nix-support/hydra-release-name
    touch $doc/nix-support/failed
  '' ];
}; in [ d.out d.doc d.dev ]`
	cmd := exec.Command("nix-build", "--no-out-link", "--option", "substituters", "", "-E", expr)
	cmd.Stderr = os.Stderr
	outBytes, err := cmd.Output()
	require.NoError(t, err)
	paths := strings.Fields(string(outBytes))
	require.Len(t, paths, 3)
	require.True(t, strings.HasSuffix(paths[1], "-doc"), paths[1])
	require.True(t, strings.HasSuffix(paths[2], "-dev"), paths[2])
	outputs := []nixsupport.Output{{"out", paths[0]}, {"doc", paths[1]}, {"dev", paths[2]}}

	res, err := nixsupport.Scan(context.Background(), os.DirFS("/"), outputs, nixsupport.Limits{})
	require.NoError(t, err)
	require.Len(t, res.Products, 3)
	require.Equal(t, "hello.txt", res.Products[0].Name)
	require.Equal(t, int64(6), res.Products[0].FileSize)
	require.Equal(t, sum("hello\n"), res.Products[0].SHA256)
	require.Equal(t, "my docs", res.Products[1].Name)
	require.Equal(t, "index.html", res.Products[1].DefaultPath)
	require.Empty(t, res.Products[1].SHA256)
	require.Equal(t, nixsupport.Product{Type: "nix-build", Subtype: "dev", Path: paths[2], Name: "nixsupport-scan-test-dev", Output: paths[2]}, res.Products[2])
	require.Equal(t, []nixsupport.Metric{{Name: "lineCoverage", Value: 18, Unit: "%", Line: 1}, {Name: "tests", Value: 42, Line: 2}}, res.Metrics)
	require.Equal(t, "scan-test-2.1", res.ReleaseName)
	require.True(t, res.Failed)
	require.Len(t, res.Skipped, 1)
	require.Contains(t, res.Skipped[0].Reason, "outside")
}

func TestScanRegularFileOutput(t *testing.T) {
	fsys := fstest.MapFS{
		"nix/store/aaa-file": {Data: []byte("just a file")},
		"nix/store/bbb-dir/nix-support/hydra-release-name":   {Data: []byte("dir-1.0\n")},
		"nix/store/bbb-dir/nix-support/hydra-build-products": {Data: []byte("file doc /nix/store/bbb-dir/x\n")},
		"nix/store/bbb-dir/x":                                {Data: []byte("x")},
	}
	res, err := nixsupport.Scan(context.Background(), fsys, []nixsupport.Output{{Name: "out", Path: "/nix/store/aaa-file"}, {Name: "doc", Path: "/nix/store/bbb-dir"}}, nixsupport.Limits{})
	require.NoError(t, err, "a regular-file output has no nix-support and is no error")
	require.Equal(t, "dir-1.0", res.ReleaseName)
	require.Len(t, res.Products, 1)
}

// TestScanRefusesLinkedSupportFiles: a build's nix-support files, or the
// directory, that are symbolic links (to a server file the build wants
// published: its first line would become the permanent release name) or
// not regular files (a FIFO would hang the scan) are skipped, not read.
func TestScanRefusesLinkedSupportFiles(t *testing.T) {
	secret := fstest.MapFile{Data: []byte("s3cr3t-token\nlineCoverage 99 %\nfile doc /etc/secret\n")}
	link := func(target string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink}
	}
	tests := []struct {
		name  string
		files map[string]*fstest.MapFile
		file  string
	}{
		{"release name links to a server file", map[string]*fstest.MapFile{
			nixsupport.ReleaseNameFile: link("/etc/secret")}, nixsupport.ReleaseNameFile},
		{"release name links inside the output", map[string]*fstest.MapFile{
			nixsupport.ReleaseNameFile: link("../x"), "x": {Data: []byte("x-1.0\n")}}, nixsupport.ReleaseNameFile},
		{"metrics link to a server file", map[string]*fstest.MapFile{
			nixsupport.MetricsFile: link("/etc/secret")}, nixsupport.MetricsFile},
		{"products link to a server file", map[string]*fstest.MapFile{
			nixsupport.ProductsFile: link("/etc/secret")}, nixsupport.ProductsFile},
		{"nix-support links to a server directory", map[string]*fstest.MapFile{
			"nix-support": link("/etc/evil")}, nixsupport.ProductsFile},
		{"release name is a FIFO", map[string]*fstest.MapFile{
			nixsupport.ReleaseNameFile: {Mode: fs.ModeNamedPipe}}, nixsupport.ReleaseNameFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{
				"etc/secret":                  &secret,
				"etc/evil/hydra-release-name": &secret,
				"etc/evil/hydra-metrics":      &secret,
				rel(out + "/bin/hello"):       {Data: []byte("hello")},
			}
			for name, f := range tt.files {
				fsys[rel(out+"/"+name)] = f
			}
			res, err := nixsupport.Scan(context.Background(), fsys, []nixsupport.Output{{"out", out}}, nixsupport.Limits{})
			require.NoError(t, err)
			require.Empty(t, res.ReleaseName)
			require.Empty(t, res.Metrics)
			require.Equal(t, []nixsupport.Product{nixsupport.ImplicitProduct("out", out)}, res.Products)
			require.NotEmpty(t, res.Skipped)
			require.Equal(t, out+"/"+tt.file, res.Skipped[0].File)
		})
	}
}

// TestScanNixBuildLinkedReleaseName builds a real derivation whose
// hydra-release-name links to a file of the host and scans it as the
// builder does: the file's first line is not published.
func TestScanNixBuildLinkedReleaseName(t *testing.T) {
	if _, err := exec.LookPath("nix-build"); err != nil {
		t.Skip("nix-build not installed")
	}
	secret := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(secret, []byte("s3cr3t-1.0\n"), 0o600))
	expr := `builtins.derivation {
  name = "nixsupport-linked-release-name";
  system = builtins.currentSystem;
  builder = "` + nixtest.Sh + `";
  args = [ "sh" "-c" "mkdir -p $out/nix-support; ln -s ` + secret + ` $out/nix-support/hydra-release-name" ];
}`
	cmd := exec.Command("nix-build", "--no-out-link", "--option", "substituters", "", "-E", expr)
	cmd.Stderr = os.Stderr
	outBytes, err := cmd.Output()
	require.NoError(t, err)
	o := strings.TrimSpace(string(outBytes))
	res, err := nixsupport.Scan(context.Background(), os.DirFS("/"), []nixsupport.Output{{"out", o}}, nixsupport.Limits{})
	require.NoError(t, err)
	require.Empty(t, res.ReleaseName, "the linked file's line is not the release name")
	require.Len(t, res.Skipped, 1)
	require.Contains(t, res.Skipped[0].Reason, "symbolic link")
}
