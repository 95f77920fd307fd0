package binarycache

import (
	"archive/tar"
	"archive/zip"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nix-community/go-nix/pkg/nar"
	"github.com/ulikunitz/xz"
)

// StoreFiles reads build outputs from a Nix store directory on this
// machine for the web (web.Outputs): whole outputs as NARs, and the files
// of build products. A path that leaves the store, or a product's own
// output, is refused with fs.ErrPermission; a missing one is
// fs.ErrNotExist.
type StoreFiles struct {
	// Dir is the store directory, /nix/store.
	Dir string
}

// NAR returns the NAR serialisation of the output at storePath, which
// must name a path directly inside the store (an output, not a file
// within one).
func (s StoreFiles) NAR(storePath string) (io.WriterTo, error) {
	p := filepath.Clean(storePath)
	if filepath.Dir(p) != filepath.Clean(s.Dir) {
		return nil, &fs.PathError{Op: "nar", Path: storePath, Err: fs.ErrPermission}
	}
	if _, err := os.Lstat(p); err != nil {
		return nil, fmt.Errorf("nar: %w", err)
	}
	return narOf(p), nil
}

// narOf writes the NAR of a path.
type narOf string

// WriteTo implements io.WriterTo.
func (p narOf) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	if err := nar.DumpPath(cw, string(p)); err != nil {
		return cw.n, fmt.Errorf("dump nar of %s: %w", string(p), err)
	}
	return cw.n, nil
}

// countingWriter counts what it passes on.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// Product opens a file of the build product at productPath: the file
// itself, which rest may name again by its base name, or, for a
// directory, rest inside it (defaultPath when rest is empty, and a
// directory's index.html). The file is opened inside the product's own
// output (/nix/store/<hash>-<name>) as an os.Root: symbolic links resolve
// only within that output, so a product that is, or passes through, a
// link to elsewhere in the store or on the host is not found rather than
// read. Only regular files are opened.
func (s StoreFiles) Product(productPath, rest, defaultPath string) (io.ReadSeekCloser, fs.FileInfo, error) {
	if slices.Contains(strings.Split(rest, "/"), "..") {
		return nil, nil, &fs.PathError{Op: "open", Path: rest, Err: fs.ErrPermission}
	}
	output, name, ok := splitStorePath(s.Dir, productPath)
	if !ok {
		return nil, nil, &fs.PathError{Op: "open", Path: productPath, Err: fs.ErrPermission}
	}
	root, err := os.OpenRoot(output)
	if err != nil {
		return nil, nil, notFound(err)
	}
	defer root.Close()
	st, err := root.Stat(name)
	if err != nil {
		return nil, nil, notFound(err)
	}
	if st.IsDir() {
		if rest == "" {
			rest = defaultPath
		}
		name = path.Join(name, rest)
		if st, err := root.Stat(name); err == nil && st.IsDir() {
			name = path.Join(name, "index.html")
		}
	} else if rest != "" && rest != path.Base(productPath) {
		return nil, nil, &fs.PathError{Op: "open", Path: rest, Err: fs.ErrNotExist}
	}
	f, err := root.Open(name)
	if err != nil {
		return nil, nil, notFound(err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = &fs.PathError{Op: "open", Path: name, Err: errors.New("not a regular file")}
	}
	if err != nil {
		f.Close()
		return nil, nil, notFound(err)
	}
	return f, fi, nil
}

// notFound makes any failure to reach a product file, a link refused by
// the root included, read as fs.ErrNotExist and nothing else: the cause
// stays in the message only.
func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return fmt.Errorf("%w: %v", fs.ErrNotExist, err)
}

// splitStorePath splits a path inside the store into its store path (the
// output, /nix/store/<hash>-<name>) and the rest ("." for the output
// itself). ok is false for a path that is not inside the store.
func splitStorePath(storeDir, p string) (output, rest string, ok bool) {
	// Clean leaves no ".." inside a path that still starts with the store.
	rel, ok := strings.CutPrefix(path.Clean(p), path.Clean(storeDir)+"/")
	if !ok || rel == "" {
		return "", "", false
	}
	first, rest, _ := strings.Cut(rel, "/")
	if rest == "" {
		rest = "."
	}
	return path.Join(storeDir, first), rest, true
}

// NARXZ returns the output at storePath as an xz-compressed NAR, as
// Hydra sends /build/N/output/NAME; the same checks as NAR apply.
func (s StoreFiles) NARXZ(storePath string) (io.WriterTo, error) {
	n, err := s.NAR(storePath)
	if err != nil {
		return nil, err
	}
	return xzOf{n}, nil
}

// xzOf compresses a NAR with xz as it is written.
type xzOf struct{ nar io.WriterTo }

// WriteTo implements io.WriterTo.
func (x xzOf) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	zw, err := xz.NewWriter(cw)
	if err != nil {
		return 0, fmt.Errorf("xz: %w", err)
	}
	if _, err := x.nar.WriteTo(zw); err != nil {
		return cw.n, err
	}
	if err := zw.Close(); err != nil {
		return cw.n, fmt.Errorf("xz: %w", err)
	}
	return cw.n, nil
}

// maxContents bounds a listing of a product's contents: a product with
// millions of files must not make the server build a huge page.
const maxContents = 1 << 20

// errUnsupportedContents is Contents' answer for a file it cannot list
// (errors.ErrUnsupported, which the web can test for).
var errUnsupportedContents = fmt.Errorf("listing the contents of this file type: %w", errors.ErrUnsupported)

// Contents lists what the product at productPath holds, one entry a
// line: for a directory every file under it ("./rel/path", with its mode
// and size), for a tar archive (.tar, .tar.gz, .tgz, .tar.bz2, .tar.xz)
// or a zip file its members. An archive it cannot read is
// errors.ErrUnsupported too. It reads inside the product's own output as
// Product does, and stops after maxContents bytes of listing. Other
// files are errUnsupportedContents.
func (s StoreFiles) Contents(productPath string) (string, error) {
	output, name, ok := splitStorePath(s.Dir, productPath)
	if !ok {
		return "", &fs.PathError{Op: "contents", Path: productPath, Err: fs.ErrPermission}
	}
	root, err := os.OpenRoot(output)
	if err != nil {
		return "", notFound(err)
	}
	defer root.Close()
	st, err := root.Lstat(name)
	if err != nil {
		return "", notFound(err)
	}
	var b strings.Builder
	line := func(mode fs.FileMode, size int64, p string) bool {
		fmt.Fprintf(&b, "%s %12d %s\n", mode, size, p)
		return b.Len() < maxContents
	}
	if st.IsDir() {
		err := fs.WalkDir(root.FS(), name, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			rel := "."
			if p != name {
				rel = "./" + strings.TrimPrefix(p, name+"/")
				if name == "." {
					rel = "./" + p
				}
			}
			if !line(fi.Mode(), fi.Size(), rel) {
				return fs.SkipAll
			}
			return nil
		})
		return b.String(), err
	}
	if !st.Mode().IsRegular() {
		return "", errUnsupportedContents
	}
	f, err := root.Open(name)
	if err != nil {
		return "", notFound(err)
	}
	defer f.Close()
	lower := strings.ToLower(name)
	switch {
	case strings.HasSuffix(lower, ".zip") || strings.HasSuffix(lower, ".jar"):
		zr, err := zip.NewReader(f, st.Size())
		if err != nil {
			return "", fmt.Errorf("zip %s: %w: %v", name, errors.ErrUnsupported, err)
		}
		for _, zf := range zr.File {
			if !line(zf.Mode(), int64(zf.UncompressedSize64), zf.Name) {
				break
			}
		}
		return b.String(), nil
	case strings.HasSuffix(lower, ".tar"), strings.HasSuffix(lower, ".tar.gz"), strings.HasSuffix(lower, ".tgz"),
		strings.HasSuffix(lower, ".tar.bz2"), strings.HasSuffix(lower, ".tar.xz"):
		var r io.Reader = f
		switch {
		case strings.HasSuffix(lower, "gz"):
			zr, err := gzip.NewReader(f)
			if err != nil {
				return "", fmt.Errorf("gzip %s: %w: %v", name, errors.ErrUnsupported, err)
			}
			r = zr
		case strings.HasSuffix(lower, ".bz2"):
			r = bzip2.NewReader(f)
		case strings.HasSuffix(lower, ".xz"):
			zr, err := xz.NewReader(f)
			if err != nil {
				return "", fmt.Errorf("xz %s: %w: %v", name, errors.ErrUnsupported, err)
			}
			r = zr
		}
		tr := tar.NewReader(r)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return "", fmt.Errorf("tar %s: %w: %v", name, errors.ErrUnsupported, err)
			}
			if !line(h.FileInfo().Mode(), h.Size, h.Name) {
				break
			}
		}
		return b.String(), nil
	}
	return "", errUnsupportedContents
}

// ReadSpecOutput returns the content of the build output at storePath,
// which must lie directly in the store and be a regular file (not a link
// to one elsewhere): the spec a declarative project's `jobsets` job
// writes. At most max+1 bytes are read, so that the caller can refuse a
// bigger one.
func (s StoreFiles) ReadSpecOutput(ctx context.Context, storePath string, max int64) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := filepath.Clean(storePath)
	if filepath.Dir(p) != filepath.Clean(s.Dir) {
		return nil, &fs.PathError{Op: "read", Path: storePath, Err: fs.ErrPermission}
	}
	root, err := os.OpenRoot(s.Dir)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer root.Close()
	fi, err := root.Lstat(filepath.Base(p))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", storePath, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("read %s: not a regular file", storePath)
	}
	fh, err := root.Open(filepath.Base(p))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", storePath, err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", storePath, err)
	}
	return data, nil
}
