package binarycache

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/nix-community/go-nix/pkg/nar"
)

// listingNode is one entry of a NAR listing (<hashpart>.ls), in the JSON
// form Nix writes with write-nar-listing=1: regular files give their size
// and the offset of their contents in the NAR, so that a client can read
// one file with a ranged request.
type listingNode struct {
	Type       nar.NodeType            `json:"type"`
	Entries    map[string]*listingNode `json:"entries,omitempty"`
	Size       *int64                  `json:"size,omitempty"`
	Executable bool                    `json:"executable,omitempty"`
	NAROffset  *int64                  `json:"narOffset,omitempty"`
	Target     string                  `json:"target,omitempty"`
}

// narListing reads a NAR and returns its listing as JSON.
func narListing(r io.Reader) ([]byte, error) {
	cr := &countReader{r: r}
	nr, err := nar.NewReader(cr)
	if err != nil {
		return nil, fmt.Errorf("nar listing: %w", err)
	}
	defer nr.Close()
	var root *listingNode
	dirs := map[string]*listingNode{}
	for {
		h, err := nr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("nar listing: %w", err)
		}
		n := &listingNode{Type: h.Type}
		switch h.Type {
		case nar.TypeRegular:
			// The reader stops right after the size of the contents.
			size, offset := h.Size, cr.n
			n.Size, n.NAROffset, n.Executable = &size, &offset, h.Executable
		case nar.TypeSymlink:
			n.Target = h.LinkTarget
		case nar.TypeDirectory:
			n.Entries = map[string]*listingNode{}
			dirs[h.Path] = n
		}
		if h.Path == "/" {
			root = n
			continue
		}
		i := strings.LastIndex(h.Path, "/")
		parentPath, name := h.Path[:i], h.Path[i+1:]
		if parentPath == "" {
			parentPath = "/"
		}
		parent, ok := dirs[parentPath]
		if !ok {
			return nil, fmt.Errorf("nar listing: %s outside a directory", h.Path)
		}
		parent.Entries[name] = n
	}
	if root == nil {
		return nil, errors.New("nar listing: empty NAR")
	}
	// Drain what follows the last entry, so that a writer teeing into
	// this reader never blocks.
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return nil, fmt.Errorf("nar listing: %w", err)
	}
	return json.Marshal(struct {
		Version int          `json:"version"`
		Root    *listingNode `json:"root"`
	}{1, root})
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
