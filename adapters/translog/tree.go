package translog

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/tlog"

	"buildledger/adapters/postgres"
	"buildledger/domain/domainerr"
)

// Tree is the event log's Merkle tree, kept in Postgres next to the log
// (schema/commandstate/0004_tlog.sql).
type Tree struct {
	pool *pgxpool.Pool
	// batch is how many events one Sync transaction adds.
	batch int
}

// NewTree returns the tree kept in pool's database.
func NewTree(pool *pgxpool.Pool) *Tree { return &Tree{pool: pool, batch: 10_000} }

const (
	hashesTable = postgres.CommandStateSchema + ".tlog_hashes"
	treeTable   = postgres.CommandStateSchema + ".tlog_tree"
	cosigTable  = postgres.CommandStateSchema + ".tlog_cosignatures"
)

// Size returns the tree the stored hashes cover.
func (t *Tree) Size(ctx context.Context) (tlog.Tree, error) {
	var (
		tr   tlog.Tree
		root []byte
	)
	if err := t.pool.QueryRow(ctx, `select size, root from `+treeTable).Scan(&tr.N, &root); err != nil {
		return tlog.Tree{}, fmt.Errorf("tlog: read the tree: %w", err)
	}
	copy(tr.Hash[:], root)
	return tr, nil
}

// Sync adds the events appended since the last Sync to the tree, in
// transactions of up to batch events, and returns the tree. Concurrent
// Syncs take turns. It stops at the head of the log as it found it, so a
// follower that calls it again whenever the log grew never lags by more
// than the events of one interval.
func (t *Tree) Sync(ctx context.Context) (tlog.Tree, error) {
	for {
		tr, added, err := t.syncBatch(ctx)
		if err != nil || added < t.batch {
			return tr, err
		}
	}
}

// syncBatch adds up to t.batch events in one transaction.
func (t *Tree) syncBatch(ctx context.Context) (tlog.Tree, int, error) {
	var (
		tr    tlog.Tree
		added int
	)
	err := postgres.Transact(ctx, t.pool, func(tx pgx.Tx) error {
		added = 0
		if err := tx.QueryRow(ctx, `select size from `+treeTable+` for update`).Scan(&tr.N); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `select position, metadata->>'hash' from ledger.events where position > $1 order by position limit $2`, tr.N, t.batch)
		if err != nil {
			return err
		}
		var leaves []tlog.Hash
		for rows.Next() {
			var (
				pos int64
				h   *string
			)
			if err := rows.Scan(&pos, &h); err != nil {
				return err
			}
			if want := tr.N + int64(len(leaves)) + 1; pos != want {
				rows.Close()
				return fmt.Errorf("the log has position %d where %d should be", pos, want)
			}
			leaf, err := leafHash(pos, h)
			if err != nil {
				rows.Close()
				return err
			}
			leaves = append(leaves, leaf)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		r := &pendingReader{ctx: ctx, q: tx, hashes: map[int64]tlog.Hash{}}
		var idx []int64
		var hs [][]byte
		for i, leaf := range leaves {
			n := tr.N + int64(i)
			stored, err := tlog.StoredHashesForRecordHash(n, leaf, r)
			if err != nil {
				return fmt.Errorf("hash leaf %d: %w", n, err)
			}
			first := tlog.StoredHashCount(n)
			for j, h := range stored {
				r.hashes[first+int64(j)] = h
				idx = append(idx, first+int64(j))
				hs = append(hs, h[:])
			}
		}
		if len(leaves) == 0 {
			return tx.QueryRow(ctx, `select root from `+treeTable).Scan((*hashBytes)(&tr.Hash))
		}
		tr.N += int64(len(leaves))
		root, err := tlog.TreeHash(tr.N, r)
		if err != nil {
			return fmt.Errorf("root of %d: %w", tr.N, err)
		}
		tr.Hash = root
		if _, err := tx.Exec(ctx, `insert into `+hashesTable+` (index, hash) select * from unnest($1::bigint[], $2::bytea[])`, idx, hs); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `update `+treeTable+` set size = $1, root = $2`, tr.N, root[:]); err != nil {
			return err
		}
		added = len(leaves)
		return nil
	})
	if err != nil {
		return tlog.Tree{}, 0, fmt.Errorf("tlog: sync the tree: %w", err)
	}
	return tr, added, nil
}

// leafHash is the RFC 6962 leaf hash of the event at pos with the hex
// hash h.
func leafHash(pos int64, h *string) (tlog.Hash, error) {
	if h == nil {
		return tlog.Hash{}, fmt.Errorf("the event at position %d has no hash", pos)
	}
	b, err := hex.DecodeString(*h)
	if err != nil || len(b) != tlog.HashSize {
		return tlog.Hash{}, fmt.Errorf("the event at position %d has a malformed hash %q", pos, *h)
	}
	return tlog.RecordHash(b), nil
}

// hashBytes scans a bytea into a hash.
type hashBytes tlog.Hash

// Scan implements sql.Scanner.
func (h *hashBytes) Scan(src any) error {
	b, ok := src.([]byte)
	if !ok || len(b) != tlog.HashSize {
		return fmt.Errorf("stored hash: %T of the wrong size", src)
	}
	copy(h[:], b)
	return nil
}

// querier is what reading stored hashes takes: the pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// pendingReader reads stored hashes from hashes, then from the table.
type pendingReader struct {
	ctx    context.Context
	q      querier
	hashes map[int64]tlog.Hash
}

// ReadHashes implements tlog.HashReader.
func (r *pendingReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	var missing []int64
	for i, x := range indexes {
		h, ok := r.hashes[x]
		if !ok {
			missing = append(missing, x)
		}
		out[i] = h
	}
	if len(missing) == 0 {
		return out, nil
	}
	rows, err := r.q.Query(r.ctx, `select index, hash from `+hashesTable+` where index = any($1)`, missing)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			x int64
			h hashBytes
		)
		if err := rows.Scan(&x, &h); err != nil {
			return nil, err
		}
		r.hashes[x] = tlog.Hash(h)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i, x := range indexes {
		h, ok := r.hashes[x]
		if !ok {
			return nil, fmt.Errorf("stored hash %d: %w", x, domainerr.ErrNotFound)
		}
		out[i] = h
	}
	return out, nil
}

// Tile returns a hash tile or an entry bundle by its C2SP path
// (tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>]). A tile the tree
// does not cover yet is domainerr.ErrNotFound.
func (t *Tree) Tile(ctx context.Context, path string) ([]byte, error) {
	tile, err := ParseTilePath(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", domainerr.ErrNotFound, err)
	}
	if tile.L == -1 {
		return t.entries(ctx, tile)
	}
	tr, err := t.Size(ctx)
	if err != nil {
		return nil, err
	}
	if !covers(tr.N, tile) {
		return nil, fmt.Errorf("tile %s: %w", path, domainerr.ErrNotFound)
	}
	data, err := tlog.ReadTileData(tile, &pendingReader{ctx: ctx, q: t.pool, hashes: map[int64]tlog.Hash{}})
	if err != nil {
		return nil, fmt.Errorf("tile %s: %w", path, err)
	}
	return data, nil
}

// covers reports whether a tree of n leaves holds every leaf below tile
// t (of level 0 or above). It works in units of t's level so that no
// tile a client can name overflows it.
func covers(n int64, t tlog.Tile) bool {
	// A level of 8 or more would be a tree of 2^64 leaves.
	if t.L < 0 || t.L >= 64/TileHeight || t.N < 0 || t.W < 1 || t.W > 1<<TileHeight {
		return false
	}
	// m is how many level-L hashes the tree has.
	m := n >> (TileHeight * t.L)
	return t.N <= m>>TileHeight && int64(t.W) <= m-t.N<<TileHeight
}

// entries returns an entry bundle: the raw hashes of its events, each
// after its length as a big-endian uint16.
func (t *Tree) entries(ctx context.Context, tile tlog.Tile) ([]byte, error) {
	first := tile.N << TileHeight
	tr, err := t.Size(ctx)
	if err != nil {
		return nil, err
	}
	if !covers(tr.N, tlog.Tile{H: TileHeight, L: 0, N: tile.N, W: tile.W}) {
		return nil, fmt.Errorf("entries %d.p/%d: %w", tile.N, tile.W, domainerr.ErrNotFound)
	}
	rows, err := t.pool.Query(ctx, `select position, metadata->>'hash' from ledger.events where position > $1 and position <= $2 order by position`, first, first+int64(tile.W))
	if err != nil {
		return nil, fmt.Errorf("entries: %w", err)
	}
	var (
		out []byte
		n   int
	)
	for rows.Next() {
		var (
			pos int64
			h   *string
		)
		if err := rows.Scan(&pos, &h); err != nil {
			return nil, fmt.Errorf("entries: %w", err)
		}
		if h == nil {
			return nil, fmt.Errorf("entries: the event at position %d has no hash", pos)
		}
		b, err := hex.DecodeString(*h)
		if err != nil {
			return nil, fmt.Errorf("entries: the event at position %d has a malformed hash", pos)
		}
		out = binary.BigEndian.AppendUint16(out, uint16(len(b)))
		out = append(out, b...)
		n++
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("entries: %w", err)
	}
	if n != tile.W {
		return nil, fmt.Errorf("entries: %d events where %d should be", n, tile.W)
	}
	return out, nil
}
