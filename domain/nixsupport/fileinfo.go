package nixsupport

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// fsPath turns an absolute path into a path of an fs.FS rooted at "/".
func fsPath(p string) string {
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return "."
	}
	return p
}

// FillFileInfo checks every product against fsys, an fs.FS rooted at "/"
// (os.DirFS("/") in production), and sets FileSize and SHA256 of those that
// are regular files. Directories and symbolic links are kept without them.
//
// Like Hydra, which only accepts paths found in the output's NAR, a product
// is dropped and reported in skipped when its path does not exist or
// reaches it through a symbolic link below its output. Any other error
// (reading a file, or ctx ending) stops the work and is returned with the
// products checked so far.
func FillFileInfo(ctx context.Context, fsys fs.FS, products []Product) (kept []Product, skipped []Skipped, err error) {
	for _, p := range products {
		if err := ctx.Err(); err != nil {
			return kept, skipped, fmt.Errorf("fill file info: %w", err)
		}
		info, reason, err := lstatInside(fsys, p.Output, p.Path)
		if err != nil {
			return kept, skipped, err
		}
		if reason != "" {
			s := newSkipped(p.Line, p.Path, reason)
			s.File = ProductsFile
			skipped = append(skipped, s)
			continue
		}
		if info.Mode().IsRegular() {
			size, sum, err := hashFile(fsys, p.Path)
			if err != nil {
				return kept, skipped, err
			}
			p.FileSize, p.SHA256 = size, sum
		}
		kept = append(kept, p)
	}
	return kept, skipped, nil
}

// reasonMissing is lstatInside's reason for a path that does not exist.
const reasonMissing = "path does not exist"

// lstatInside stats p without following symbolic links and checks that no
// directory between root and p is a symbolic link. A non-empty reason says
// why p is unusable; err is an unexpected error.
func lstatInside(fsys fs.FS, root, p string) (info fs.FileInfo, reason string, err error) {
	if root == "" || (p != root && !strings.HasPrefix(p, root+"/") && root != "/") {
		return nil, fmt.Sprintf("path is outside output %q", root), nil
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(p, root), "/")
	cur := root
	parts := []string{}
	if rel != "" {
		parts = strings.Split(rel, "/")
	}
	for i := -1; i < len(parts); i++ {
		if i >= 0 {
			cur = strings.TrimSuffix(cur, "/") + "/" + parts[i]
		}
		info, err = fs.Lstat(fsys, fsPath(cur))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, reasonMissing, nil
		}
		if err != nil {
			return nil, "", fmt.Errorf("stat %s: %w", cur, err)
		}
		last := i == len(parts)-1
		if !last && info.Mode()&fs.ModeSymlink != 0 {
			return nil, fmt.Sprintf("path goes through symbolic link %s", cur), nil
		}
		if !last && !info.IsDir() {
			return nil, fmt.Sprintf("%s is not a directory", cur), nil
		}
	}
	return info, "", nil
}

func hashFile(fsys fs.FS, p string) (size int64, sum string, err error) {
	f, err := fsys.Open(fsPath(p))
	if err != nil {
		return 0, "", fmt.Errorf("open %s: %w", p, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", fmt.Errorf("hash %s: %w", p, err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}
