package binarycache

import (
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
