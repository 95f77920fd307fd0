package translog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"buildledger/domain/redact"
)

// maxResponse bounds what the client reads of one response: a full tile
// is 8 KiB, an entry bundle 8.5 KiB, an event a few KiB.
const maxResponse = 4 << 20

// Client reads a transparency log over HTTP (the /tlog routes, or a
// static mirror of them) and proves inclusion and consistency from its
// tiles alone. Every tile it uses is checked against a signed checkpoint,
// so the server need not be trusted.
type Client struct {
	base string
	log  note.Verifier
	http *http.Client
}

// NewClient returns a client of the log at base (…/tlog) whose
// checkpoints log signs.
func NewClient(base string, log note.Verifier, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimSuffix(base, "/"), log: log, http: hc}
}

func (c *Client) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/"+path, nil)
	if err != nil {
		return nil, err
	}
	// Errors then come as JSON, short enough to show, not as a page.
	req.Header.Set("Accept", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %.200s", path, res.Status, b)
	}
	return b, nil
}

// Checkpoint fetches the log's checkpoint and verifies its signature. It
// returns the note as served, the note and the checkpoint.
func (c *Client) Checkpoint(ctx context.Context) ([]byte, *note.Note, Checkpoint, error) {
	b, err := c.get(ctx, "checkpoint")
	if err != nil {
		return nil, nil, Checkpoint{}, err
	}
	n, cp, err := OpenCheckpoint(b, c.log)
	return b, n, cp, err
}

// Event fetches an event by position or id, as events export writes it.
func (c *Client) Event(ctx context.Context, ref string) (redact.ExportRow, error) {
	if _, _, err := ParseEventRef(ref); err != nil {
		return redact.ExportRow{}, err
	}
	b, err := c.get(ctx, "event/"+ref)
	if err != nil {
		return redact.ExportRow{}, err
	}
	var r redact.ExportRow
	if err := json.Unmarshal(b, &r); err != nil {
		return redact.ExportRow{}, fmt.Errorf("event %s: %w", ref, err)
	}
	return r, nil
}

// hashReader reads the tree cp's hashes from the log's tiles, each tile
// checked against cp's root.
func (c *Client) hashReader(ctx context.Context, cp Checkpoint) tlog.HashReader {
	return tlog.TileHashReader(cp.Tree, &tileReader{ctx: ctx, c: c})
}

// ProveInclusion proves that the leaf hash leaf is at index of cp's tree.
func (c *Client) ProveInclusion(ctx context.Context, cp Checkpoint, index int64, leaf tlog.Hash) error {
	if index < 0 || index >= cp.Tree.N {
		return fmt.Errorf("leaf %d is not in a tree of %d", index, cp.Tree.N)
	}
	p, err := tlog.ProveRecord(cp.Tree.N, index, c.hashReader(ctx, cp))
	if err != nil {
		return fmt.Errorf("inclusion of leaf %d in %d: %w", index, cp.Tree.N, err)
	}
	if err := tlog.CheckRecord(p, cp.Tree.N, cp.Tree.Hash, index, leaf); err != nil {
		return fmt.Errorf("inclusion of leaf %d in %d: %w", index, cp.Tree.N, err)
	}
	return nil
}

// ErrFork means two checkpoints of a log are not consistent: the log was
// rewritten between them.
var ErrFork = errors.New("the log forked: the newer checkpoint does not extend the older")

// ProveConsistency proves that the tree of newer extends the tree of
// older, from the tiles of newer's tree.
func (c *Client) ProveConsistency(ctx context.Context, older, newer Checkpoint) error {
	switch {
	case older.Origin != newer.Origin:
		return fmt.Errorf("checkpoints of two logs: %q and %q", older.Origin, newer.Origin)
	case older.Tree.N > newer.Tree.N:
		return fmt.Errorf("%w: it shrank from %d to %d leaves", ErrFork, older.Tree.N, newer.Tree.N)
	case older.Tree.N == newer.Tree.N && older.Tree.Hash != newer.Tree.Hash:
		return fmt.Errorf("%w: two roots for %d leaves", ErrFork, older.Tree.N)
	case older.Tree.N == newer.Tree.N, older.Tree.N == 0:
		return nil
	}
	p, err := tlog.ProveTree(newer.Tree.N, older.Tree.N, c.hashReader(ctx, newer))
	if err != nil {
		return fmt.Errorf("consistency of %d with %d: %w", older.Tree.N, newer.Tree.N, err)
	}
	if err := tlog.CheckTree(p, newer.Tree.N, newer.Tree.Hash, older.Tree.N, older.Tree.Hash); err != nil {
		return fmt.Errorf("%w: %d leaves to %d: %v", ErrFork, older.Tree.N, newer.Tree.N, err)
	}
	return nil
}

// PostCosignature sends a witness's cosigned checkpoint note back to the
// log.
func (c *Client) PostCosignature(ctx context.Context, cosigned []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/cosignature", bytes.NewReader(cosigned))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	res, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("POST cosignature: %w", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("POST cosignature: %s: %.200s", res.Status, b)
	}
	return nil
}

// tileReader reads hash tiles over HTTP for tlog.TileHashReader, which
// checks them.
type tileReader struct {
	ctx context.Context
	c   *Client
}

func (r *tileReader) Height() int { return TileHeight }

func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := r.c.get(r.ctx, TilePath(t))
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

// SaveTiles is a no-op: the client keeps nothing.
func (r *tileReader) SaveTiles([]tlog.Tile, [][]byte) {}
