package serve

import (
	"context"
	"fmt"
	"io"
)

// PathInfo describes a valid store path.
type PathInfo struct {
	// Path is the store path.
	Path string
	// Deriver is the .drv that produced the path, or "".
	Deriver string
	// References are the store paths this path refers to.
	References []string
	// DownloadSize is what the server reports as download size (Nix sends
	// the NAR size); zero in export streams.
	DownloadSize uint64
	// NarSize is the size of the path's NAR serialisation.
	NarSize uint64
	// NarHash is "sha256:<nix base32>".
	NarHash string
	// CA is the content address, or "".
	CA string
	// Sigs are the path's signatures.
	Sigs []string
}

// QueryValidPaths returns which of paths are valid on the server. With lock,
// the server adds temporary GC roots for them for the session's lifetime;
// with substitute, it first tries to substitute missing paths.
func (c *Client) QueryValidPaths(ctx context.Context, paths []string, lock, substitute bool) ([]string, error) {
	var valid []string
	err := c.call(ctx, "query valid paths", func() error {
		if err := writeInt(c.w, cmdQueryValidPaths); err != nil {
			return err
		}
		if err := writeBool(c.w, lock); err != nil {
			return err
		}
		if err := writeBool(c.w, substitute); err != nil {
			return err
		}
		if err := writeStrings(c.w, paths); err != nil {
			return err
		}
		if err := c.w.Flush(); err != nil {
			return err
		}
		var err error
		valid, err = readStrings(c.r, maxPathLen)
		return err
	})
	return valid, err
}

// QueryPathInfos returns the infos of those paths that are valid on the
// server; invalid paths are left out.
func (c *Client) QueryPathInfos(ctx context.Context, paths []string) ([]PathInfo, error) {
	var infos []PathInfo
	err := c.call(ctx, "query path infos", func() error {
		if err := writeInt(c.w, cmdQueryPathInfos); err != nil {
			return err
		}
		if err := writeStrings(c.w, paths); err != nil {
			return err
		}
		if err := c.w.Flush(); err != nil {
			return err
		}
		var err error
		infos, err = readPathInfos(c.r, c.minor())
		return err
	})
	return infos, err
}

// readPathInfos reads the answer to cmdQueryPathInfos: infos until an empty
// path.
func readPathInfos(r io.Reader, minor uint64) ([]PathInfo, error) {
	var infos []PathInfo
	for {
		p, err := readString(r, maxPathLen)
		if err != nil {
			return nil, fmt.Errorf("path: %w", err)
		}
		if p == "" {
			return infos, nil
		}
		if len(infos) >= maxListLen {
			return nil, fmt.Errorf("more than %d path infos", maxListLen)
		}
		info := PathInfo{Path: p}
		if info.Deriver, err = readString(r, maxPathLen); err != nil {
			return nil, fmt.Errorf("deriver of %s: %w", p, err)
		}
		if info.References, err = readStrings(r, maxPathLen); err != nil {
			return nil, fmt.Errorf("references of %s: %w", p, err)
		}
		if info.DownloadSize, err = readInt(r); err != nil {
			return nil, fmt.Errorf("download size of %s: %w", p, err)
		}
		if info.NarSize, err = readInt(r); err != nil {
			return nil, fmt.Errorf("nar size of %s: %w", p, err)
		}
		if minor >= 4 {
			if info.NarHash, err = readString(r, maxNameLen); err != nil {
				return nil, fmt.Errorf("nar hash of %s: %w", p, err)
			}
			if info.CA, err = readString(r, maxPathLen); err != nil {
				return nil, fmt.Errorf("content address of %s: %w", p, err)
			}
			if info.Sigs, err = readStrings(r, maxPathLen); err != nil {
				return nil, fmt.Errorf("signatures of %s: %w", p, err)
			}
		}
		infos = append(infos, info)
	}
}

// QueryClosure returns the closure of paths on the server; with
// includeOutputs, the outputs of derivations in it are included too.
func (c *Client) QueryClosure(ctx context.Context, paths []string, includeOutputs bool) ([]string, error) {
	var closure []string
	err := c.call(ctx, "query closure", func() error {
		if err := writeInt(c.w, cmdQueryClosure); err != nil {
			return err
		}
		if err := writeBool(c.w, includeOutputs); err != nil {
			return err
		}
		if err := writeStrings(c.w, paths); err != nil {
			return err
		}
		if err := c.w.Flush(); err != nil {
			return err
		}
		var err error
		closure, err = readStrings(c.r, maxPathLen)
		return err
	})
	return closure, err
}
