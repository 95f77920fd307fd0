package serve

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/nix-community/go-nix/pkg/nixbase32"
)

// NARSource writes the NAR serialisation of a store path to w. The method
// Store.DumpPath of package adapters/nix/drv has this signature.
type NARSource func(ctx context.Context, w io.Writer, path string) error

// ExportFunc receives one path of an export: its store path, its info (Path,
// Deriver, References, NarSize and NarHash are set) and its NAR, which is
// readable until ExportFunc returns.
type ExportFunc func(path string, info PathInfo, nar io.Reader) error

// ExportWriter writes the `nix-store --export` stream format, which
// `nix-store --import` reads: per path `1`, the NAR, the export magic, the
// path, its references, its deriver and `0` (no signature); then a final `0`.
type ExportWriter struct {
	w      io.Writer
	closed bool
}

// NewExportWriter returns an ExportWriter writing to w.
func NewExportWriter(w io.Writer) *ExportWriter { return &ExportWriter{w: w} }

// Add writes one path. Paths must be added after the paths they reference.
// The NAR is checked for well-formedness while it is copied.
func (e *ExportWriter) Add(info PathInfo, nar io.Reader) error {
	return e.add(info, func(w io.Writer) error {
		_, err := copyNAR(w, nar)
		return err
	})
}

func (e *ExportWriter) add(info PathInfo, writeNAR func(io.Writer) error) error {
	if e.closed {
		return errors.New("export writer closed")
	}
	if err := writeInt(e.w, 1); err != nil {
		return fmt.Errorf("export %s: %w", info.Path, err)
	}
	if err := writeNAR(e.w); err != nil {
		return fmt.Errorf("export %s: %w", info.Path, err)
	}
	if err := writeExportTrailer(e.w, info); err != nil {
		return fmt.Errorf("export %s: %w", info.Path, err)
	}
	return nil
}

func writeExportTrailer(w io.Writer, info PathInfo) error {
	if err := writeInt(w, exportMagic); err != nil {
		return err
	}
	if err := writeString(w, info.Path); err != nil {
		return err
	}
	refs := append([]string(nil), info.References...)
	sort.Strings(refs)
	if err := writeStrings(w, refs); err != nil {
		return err
	}
	if err := writeString(w, info.Deriver); err != nil {
		return err
	}
	return writeInt(w, 0)
}

// Close ends the stream. It does not close the underlying writer.
func (e *ExportWriter) Close() error {
	if e.closed {
		return nil
	}
	e.closed = true
	if err := writeInt(e.w, 0); err != nil {
		return fmt.Errorf("end export: %w", err)
	}
	return nil
}

// readExportEntry reads one entry of an export stream. It returns more=false
// at the stream's final 0. The NAR is copied to nar.
func readExportEntry(r io.Reader, nar io.Writer) (info PathInfo, more bool, err error) {
	n, err := readInt(r)
	if err != nil {
		return info, false, fmt.Errorf("export entry marker: %w", err)
	}
	switch n {
	case 0:
		return info, false, nil
	case 1:
	default:
		return info, false, fmt.Errorf("export entry marker %d, want 0 or 1", n)
	}
	size, err := copyNAR(nar, r)
	if err != nil {
		return info, false, err
	}
	info.NarSize = uint64(size)
	magic, err := readInt(r)
	if err != nil {
		return info, false, fmt.Errorf("export magic: %w", err)
	}
	if magic != exportMagic {
		return info, false, fmt.Errorf("export magic %#x, want %#x", magic, exportMagic)
	}
	if info.Path, err = readString(r, maxPathLen); err != nil {
		return info, false, fmt.Errorf("export path: %w", err)
	}
	if info.References, err = readStrings(r, maxPathLen); err != nil {
		return info, false, fmt.Errorf("references of %s: %w", info.Path, err)
	}
	if info.Deriver, err = readString(r, maxPathLen); err != nil {
		return info, false, fmt.Errorf("deriver of %s: %w", info.Path, err)
	}
	hasSig, err := readInt(r)
	if err != nil {
		return info, false, fmt.Errorf("signature flag of %s: %w", info.Path, err)
	}
	switch hasSig {
	case 0:
	case 1: // legacy signature, ignored as Nix does
		if _, err := readString(r, maxMessageLen); err != nil {
			return info, false, fmt.Errorf("legacy signature of %s: %w", info.Path, err)
		}
	default:
		return info, false, fmt.Errorf("signature flag %d of %s, want 0 or 1", hasSig, info.Path)
	}
	return info, true, nil
}

// ImportPaths copies paths to the server (cmdImportPaths), reading each NAR
// from src. infos need Path, References and Deriver; they are sent in
// dependency order, and every reference must be in infos or already valid on
// the server.
func (c *Client) ImportPaths(ctx context.Context, infos []PathInfo, src NARSource) error {
	ordered, err := sortByReferences(infos)
	if err != nil {
		return fmt.Errorf("import paths: %w", err)
	}
	return c.call(ctx, "import paths", func() error {
		if err := writeInt(c.w, cmdImportPaths); err != nil {
			return err
		}
		ew := NewExportWriter(c.w)
		for _, info := range ordered {
			err := ew.add(info, func(w io.Writer) error { return src(ctx, w, info.Path) })
			if err != nil {
				return err
			}
		}
		if err := ew.Close(); err != nil {
			return err
		}
		return c.readImportAck()
	})
}

// ImportStream copies a `nix-store --export` stream (such as Store.Export of
// adapters/nix/drv writes) to the server, checking its framing on the way.
func (c *Client) ImportStream(ctx context.Context, r io.Reader) error {
	return c.call(ctx, "import stream", func() error {
		if err := writeInt(c.w, cmdImportPaths); err != nil {
			return err
		}
		tee := io.TeeReader(r, c.w)
		for {
			_, more, err := readExportEntry(tee, io.Discard)
			if err != nil {
				return fmt.Errorf("export stream: %w", err)
			}
			if !more {
				break
			}
		}
		return c.readImportAck()
	})
}

func (c *Client) readImportAck() error {
	if err := c.w.Flush(); err != nil {
		return err
	}
	ack, err := readInt(c.r)
	if err != nil {
		return fmt.Errorf("import result: %w", err)
	}
	if ack != 1 {
		return fmt.Errorf("import result %d, want 1", ack)
	}
	return nil
}

// ExportPaths asks the server for paths (cmdExportPaths) and calls fn for
// each received path, dependencies first. Each NAR is spooled to a temporary
// file in SpoolDir first, because the export format sends a path's metadata
// after its NAR; NarSize and NarHash are computed from the received bytes.
// An error from fn stops no transfer: the rest of the stream is still read
// (and passed to fn) so the session stays usable, and the first error from
// fn is returned.
func (c *Client) ExportPaths(ctx context.Context, paths []string, fn ExportFunc) error {
	var fnErr error
	err := c.call(ctx, "export paths", func() error {
		if err := writeInt(c.w, cmdExportPaths); err != nil {
			return err
		}
		if err := writeInt(c.w, 0); err != nil { // obsolete "sign" flag
			return err
		}
		if err := writeStrings(c.w, paths); err != nil {
			return err
		}
		if err := c.w.Flush(); err != nil {
			return err
		}
		for {
			more, err := c.exportOne(fn, &fnErr)
			if err != nil {
				return err
			}
			if !more {
				return nil
			}
		}
	})
	if err != nil {
		return err
	}
	return fnErr
}

func (c *Client) exportOne(fn ExportFunc, fnErr *error) (bool, error) {
	f, err := c.spoolFile()
	if err != nil {
		return false, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	h := sha256.New()
	info, more, err := readExportEntry(c.r, io.MultiWriter(f, h))
	if err != nil || !more {
		return false, err
	}
	info.NarHash = "sha256:" + nixbase32.EncodeToString(h.Sum(nil))
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return false, fmt.Errorf("rewind spooled NAR: %w", err)
	}
	if *fnErr == nil {
		if err := fn(info.Path, info, io.LimitReader(f, int64(info.NarSize))); err != nil {
			*fnErr = fmt.Errorf("export paths: %s: %w", info.Path, err)
		}
	}
	return true, nil
}

// DumpStorePath writes the NAR of a path on the server to w
// (cmdDumpStorePath). The NAR is streamed, not spooled.
func (c *Client) DumpStorePath(ctx context.Context, path string, w io.Writer) error {
	return c.call(ctx, "dump "+path, func() error {
		if err := writeInt(c.w, cmdDumpStorePath); err != nil {
			return err
		}
		if err := writeString(c.w, path); err != nil {
			return err
		}
		if err := c.w.Flush(); err != nil {
			return err
		}
		_, err := copyNAR(w, c.r)
		return err
	})
}

// sortByReferences orders infos so that each comes after the infos it
// references (references outside infos are ignored). Ties keep path order.
func sortByReferences(infos []PathInfo) ([]PathInfo, error) {
	byPath := make(map[string]int, len(infos))
	for i, info := range infos {
		if _, dup := byPath[info.Path]; dup {
			return nil, fmt.Errorf("path %s given twice", info.Path)
		}
		byPath[info.Path] = i
	}
	idx := make([]int, len(infos))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return infos[idx[a]].Path < infos[idx[b]].Path })
	const (
		unseen = iota
		visiting
		done
	)
	state := make([]int, len(infos))
	out := make([]PathInfo, 0, len(infos))
	var visit func(i int) error
	visit = func(i int) error {
		switch state[i] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("reference cycle through %s", infos[i].Path)
		}
		state[i] = visiting
		refs := append([]string(nil), infos[i].References...)
		sort.Strings(refs)
		for _, r := range refs {
			if j, ok := byPath[r]; ok && j != i {
				if err := visit(j); err != nil {
					return err
				}
			}
		}
		state[i] = done
		out = append(out, infos[i])
		return nil
	}
	for _, i := range idx {
		if err := visit(i); err != nil {
			return nil, err
		}
	}
	return out, nil
}
