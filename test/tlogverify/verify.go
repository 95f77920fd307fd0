// Package tlogverify is an outside auditor's check of a buildledger
// transparency log: it uses only the standard library and
// golang.org/x/mod/sumdb/{note,tlog}, and no buildledger code, to show
// that standard tools suffice (docs/auditing.md). Tests run it against a
// live server.
package tlogverify

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Log is a log at a base URL (…/tlog) whose checkpoints vkey signs.
type Log struct {
	Base string
	VKey string
	ctx  context.Context
}

// New returns the log at base.
func New(ctx context.Context, base, vkey string) *Log { return &Log{Base: base, VKey: vkey, ctx: ctx} }

func (l *Log) get(path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(l.ctx, http.MethodGet, l.Base+"/"+path, nil)
	if err != nil {
		return nil, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", path, res.Status)
	}
	return b, nil
}

// Checkpoint fetches the checkpoint and verifies it with the key: a C2SP
// tlog-checkpoint is the origin (the key's name), the size and the
// base64 root.
func (l *Log) Checkpoint() (tlog.Tree, error) {
	b, err := l.get("checkpoint")
	if err != nil {
		return tlog.Tree{}, err
	}
	v, err := note.NewVerifier(l.VKey)
	if err != nil {
		return tlog.Tree{}, err
	}
	n, err := note.Open(b, note.VerifierList(v))
	if err != nil {
		return tlog.Tree{}, err
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[0] != v.Name() {
		return tlog.Tree{}, fmt.Errorf("checkpoint of another origin: %q", n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		return tlog.Tree{}, err
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return tlog.Tree{}, fmt.Errorf("bad root %q", lines[2])
	}
	t := tlog.Tree{N: size}
	copy(t.Hash[:], root)
	return t, nil
}

// EventHash fetches the event at position (1 is the first) and returns
// its recorded hash.
func (l *Log) EventHash(position int64) ([]byte, error) {
	b, err := l.get("event/" + strconv.FormatInt(position, 10))
	if err != nil {
		return nil, err
	}
	var ev struct {
		Hash string `json:"hash"`
	}
	if err := json.Unmarshal(b, &ev); err != nil {
		return nil, err
	}
	return hex.DecodeString(ev.Hash)
}

// ProveInclusion proves that eventHash is leaf index of tree, from tiles
// checked against the tree's root.
func (l *Log) ProveInclusion(tree tlog.Tree, index int64, eventHash []byte) error {
	hr := tlog.TileHashReader(tree, tiles{l})
	p, err := tlog.ProveRecord(tree.N, index, hr)
	if err != nil {
		return err
	}
	return tlog.CheckRecord(p, tree.N, tree.Hash, index, tlog.RecordHash(eventHash))
}

// tiles reads C2SP tlog-tiles (tile/<L>/<N>, height 8): x/mod's tile
// paths with the height left out.
type tiles struct{ l *Log }

func (tiles) Height() int { return 8 }

func (t tiles) ReadTiles(ts []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(ts))
	for i, tile := range ts {
		b, err := t.l.get("tile/" + strings.TrimPrefix(tile.Path(), "tile/8/"))
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func (tiles) SaveTiles([]tlog.Tile, [][]byte) {}
