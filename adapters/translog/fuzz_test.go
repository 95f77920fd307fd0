package translog

import (
	"crypto/ed25519"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The seeds of these targets are in testdata/fuzz.

// FuzzParseCheckpoint: a checkpoint text that parses begins with its
// checkpoint's canonical text, which parses back to the same checkpoint,
// so a signed text names exactly one tree.
func FuzzParseCheckpoint(f *testing.F) {
	f.Fuzz(func(t *testing.T, text string) {
		c, err := ParseCheckpoint(text)
		if err != nil {
			return
		}
		require.True(t, strings.HasPrefix(text, c.String()), "%q is not the start of %q", c.String(), text)
		again, err := ParseCheckpoint(c.String())
		require.NoError(t, err)
		require.Equal(t, c, again)
	})
}

// FuzzParseTilePath: a tile path that parses is its tile's only path, and
// covers, which decides whether the tree serves a tile, agrees with exact
// arithmetic for every tile and tree size and never panics.
func FuzzParseTilePath(f *testing.F) {
	f.Fuzz(func(t *testing.T, path string, n int64) {
		tile, err := ParseTilePath(path)
		if err != nil {
			return
		}
		require.Equal(t, path, TilePath(tile))
		if n < 0 {
			n = -(n + 1)
		}
		if tile.L == -1 {
			tile.L = 0
		}
		// The tile's last leaf is (N*256+W) * 256^L; it is in a tree of n
		// leaves when that is at most n.
		last := new(big.Int).Mul(big.NewInt(tile.N), big.NewInt(1<<TileHeight))
		last.Add(last, big.NewInt(int64(tile.W)))
		last.Lsh(last, uint(TileHeight)*uint(min(tile.L, 16)))
		require.Equal(t, last.Cmp(big.NewInt(n)) <= 0, covers(n, tile), "tile %+v in %d leaves", tile, n)
	})
}

// FuzzCosignatureLine: the only line a witness's verifier accepts for a
// text is the witness's own cosignature of it (Ed25519 signatures are
// deterministic), and a witness key that parses prints back the same.
func FuzzCosignatureLine(f *testing.F) {
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	c := NewCosigner("witness.test", key)
	v, err := NewCosignatureVerifier(CosignatureVerifierKey("witness.test", key.Public().(ed25519.PublicKey)))
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, text, line, vkey string) {
		if ts, err := v.Verify(text, line); err == nil {
			require.Equal(t, c.Cosign(text, ts), strings.TrimSuffix(line, "\n")+"\n")
		}
		if w, err := NewCosignatureVerifier(vkey); err == nil {
			require.True(t, ValidName(w.Name))
			require.Equal(t, strings.TrimSpace(vkey), CosignatureVerifierKey(w.Name, w.pub))
		}
		// A fresh cosignature of any text verifies, at its time.
		ts := time.Unix(int64(len(text))*1e6, 0)
		got, err := v.Verify(text, c.Cosign(text, ts))
		require.NoError(t, err)
		require.True(t, ts.Equal(got))
	})
}

// FuzzParseEventRef: an event reference (the argument of audit prove
// --inclusion and the last segment of /tlog/event/) is a position of 1 or
// more written as itself, or a canonical event id; nothing else, so it
// cannot reach another route.
func FuzzParseEventRef(f *testing.F) {
	f.Fuzz(func(t *testing.T, ref string) {
		pos, id, err := ParseEventRef(ref)
		if err != nil {
			require.Zero(t, pos)
			require.Empty(t, id)
			return
		}
		require.NotContains(t, ref, "/")
		if id != "" {
			require.Equal(t, ref, id)
			require.Zero(t, pos)
			return
		}
		require.Positive(t, pos)
		require.Equal(t, ref, big.NewInt(pos).String())
	})
}
