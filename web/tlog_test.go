package web_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"buildledger/adapters/postgres/pgtest"
	"buildledger/adapters/translog"
	"buildledger/events"
	"buildledger/test/tlogverify"
	"buildledger/web"
)

// tlogEnv is a live server with the transparency log mounted, its log
// key and a witness's key.
type tlogEnv struct {
	*env
	tree    *translog.Tree
	publish func() []byte
	vkey    string
	witness ed25519.PrivateKey
	base    string
}

const tlogOrigin = "ledger.test/log"

func newTlogEnv(t *testing.T) *tlogEnv {
	_, logKey, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	_, witnessKey, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	signer, err := translog.NewSigner(tlogOrigin, logKey)
	require.NoError(t, err)
	vkey, err := translog.VerifierKey(tlogOrigin, logKey.Public().(ed25519.PublicKey))
	require.NoError(t, err)
	wv, err := translog.NewCosignatureVerifier(translog.CosignatureVerifierKey("witness.test", witnessKey.Public().(ed25519.PublicKey)))
	require.NoError(t, err)
	srv := &translog.Server{VKey: vkey, Witnesses: []*translog.CosignatureVerifier{wv}}
	e := newEnv(t, envOpts{live: true, cfg: func(c *web.Config) { c.TransparencyLog = srv }})
	srv.Tree, srv.Store = translog.NewTree(e.pool), e.store
	te := &tlogEnv{env: e, tree: srv.Tree, vkey: vkey, witness: witnessKey, base: e.srv.URL + "/tlog"}
	te.publish = func() []byte {
		b, err := srv.Tree.Publish(context.Background(), signer)
		require.NoError(t, err)
		return b
	}
	// More than a tile of events, so that proofs use level-1 tiles.
	for i := range 300 {
		te.bump(i%7, i)
	}
	return te
}

// bump appends a registered event (a priority bump of a build no one
// queued, which the projections apply as a no-op) to the stream of build
// tlogBuild+n.
func (e *tlogEnv) bump(n, priority int) {
	e.appendEvents(fmt.Sprintf("build-%d", tlogBuild+n), &events.BuildBumped{BuildID: int64(tlogBuild + n), GlobalPriority: priority})
}

// tlogBuild is the first build id whose stream the tests append to.
const tlogBuild = 9000

// TestTransparencyLogOutsideVerifier proves inclusion of random events
// with the outside verifier (x/mod's tlog and note only, over HTTP), and
// that altered hashes and positions do not prove.
func TestTransparencyLogOutsideVerifier(t *testing.T) {
	e := newTlogEnv(t)
	e.publish()
	v := tlogverify.New(context.Background(), e.base, e.vkey)
	tree, err := v.Checkpoint()
	require.NoError(t, err)
	require.GreaterOrEqual(t, tree.N, int64(300))

	for range 20 {
		pos := 1 + rand.Int64N(tree.N)
		h, err := v.EventHash(pos)
		require.NoError(t, err)
		require.NoError(t, v.ProveInclusion(tree, pos-1, h), "event at %d", pos)

		altered := append([]byte(nil), h...)
		altered[rand.IntN(len(altered))] ^= 1
		require.Error(t, v.ProveInclusion(tree, pos-1, altered), "an altered hash")
		other := (pos % tree.N) // another leaf's index
		require.Error(t, v.ProveInclusion(tree, other, h), "the hash at another position")
	}

	t.Run("a checkpoint signed by another key does not open", func(t *testing.T) {
		_, other, _ := ed25519.GenerateKey(nil)
		vk, err := translog.VerifierKey(tlogOrigin, other.Public().(ed25519.PublicKey))
		require.NoError(t, err)
		_, err = tlogverify.New(context.Background(), e.base, vk).Checkpoint()
		require.Error(t, err)
	})
	t.Run("entry bundles hold the events' raw hashes", func(t *testing.T) {
		res := e.anon().do(http.MethodGet, "/tlog/tile/entries/000", nil)
		require.Equal(t, http.StatusOK, res.code)
		require.Len(t, res.body, 256*34)
		h, err := v.EventHash(3)
		require.NoError(t, err)
		require.Equal(t, []byte{0, 32}, []byte(res.body[2*34:2*34+2]))
		require.Equal(t, h, []byte(res.body[2*34+2:3*34]))
	})
	t.Run("bad paths and refs", func(t *testing.T) {
		for path, code := range map[string]int{
			"/tlog/tile/0/999":             http.StatusNotFound,
			"/tlog/tile/8/0/000":           http.StatusNotFound,
			"/tlog/tile/data/000":          http.StatusNotFound,
			"/tlog/tile/entries/001.p/300": http.StatusNotFound,
			// 8 times the level is negative as an int64: a shift by it panics.
			"/tlog/tile/1729382256910270464/000":                        http.StatusNotFound,
			"/tlog/tile/9/000":                                          http.StatusNotFound,
			"/tlog/tile/entries/x999/x999/x999/x999/x999/x999/x999/000": http.StatusNotFound,
			"/tlog/event/0":                                             http.StatusUnprocessableEntity,
			"/tlog/event/nope":                                          http.StatusUnprocessableEntity,
			"/tlog/event/99999":                                         http.StatusNotFound,
			"/tlog/event/" + events.NewID(time.Now()):                   http.StatusNotFound,
		} {
			require.Equal(t, code, e.anon().do(http.MethodGet, path, nil).code, path)
		}
	})
}

// TestTransparencyLogForkRefused: a witness cosigns, the log is rewritten
// (one event changed, its stream re-sealed, the tree recomputed), and
// the witness then refuses to cosign, as consistency proofs fail.
func TestTransparencyLogForkRefused(t *testing.T) {
	ctx := context.Background()
	e := newTlogEnv(t)
	e.publish()
	logV, err := note.NewVerifier(e.vkey)
	require.NoError(t, err)
	client := translog.NewClient(e.base, logV, nil)
	w := &translog.Witness{Log: client, Cosigner: translog.NewCosigner("witness.test", e.witness), State: t.TempDir()}
	first, err := w.Cosign(ctx)
	require.NoError(t, err)
	served, err := e.tree.Checkpoint(ctx)
	require.NoError(t, err)
	require.Contains(t, string(served), "— witness.test ", "the log serves the cosignature with its checkpoint")

	t.Run("a cosignature of an unknown witness is refused", func(t *testing.T) {
		_, stranger, _ := ed25519.GenerateKey(nil)
		text, _, _ := strings.Cut(string(served), "\n\n")
		body := text + "\n\n" + translog.NewCosigner("witness.test", stranger).Cosign(text+"\n", time.Now())
		require.Equal(t, http.StatusUnprocessableEntity, e.anon().do(http.MethodPost, "/tlog/cosignature", body).code)
	})

	// The log grows: consistent, cosigned again.
	e.bump(1, -1)
	e.publish()
	grown, err := w.Cosign(ctx)
	require.NoError(t, err)
	require.NoError(t, client.ProveConsistency(ctx, first, grown))

	// Rewrite an early event and re-seal its stream so the chain holds.
	recs, err := e.store.ReadStream(ctx, fmt.Sprintf("build-%d", tlogBuild+3), 0, 0)
	require.NoError(t, err)
	prev := ""
	for i, r := range recs {
		if i == 1 {
			r.Data = json.RawMessage(`{"buildId":9003,"globalPriority":1000}`)
		}
		md := events.Seal(events.Event{ID: r.ID, Type: r.Type, Version: r.Version, Data: r.Data, Metadata: r.Metadata}, r.Stream, r.Revision, prev)
		prev = md.Hash
		raw, err := json.Marshal(md)
		require.NoError(t, err)
		pgtest.Rewrite(t, e.pool, `update ledger.events set data = $2::json, metadata = $3::json where position = $1`, int64(r.Position.Commit), string(r.Data), string(raw))
	}
	// The operator recomputes the tree and publishes a new checkpoint.
	pgtest.Rewrite(t, e.pool, `truncate commandstate.tlog_hashes`)
	pgtest.Rewrite(t, e.pool, `update commandstate.tlog_tree set size = 0, checkpoint = null`)
	e.publish()
	_, forked, err := func() ([]byte, translog.Checkpoint, error) {
		raw, _, cp, err := client.Checkpoint(ctx)
		return raw, cp, err
	}()
	require.NoError(t, err)
	require.Equal(t, grown.Tree.N, forked.Tree.N)

	err = client.ProveConsistency(ctx, first, forked)
	require.ErrorIs(t, err, translog.ErrFork)
	_, err = w.Cosign(ctx)
	require.ErrorIs(t, err, translog.ErrFork)
	require.ErrorContains(t, err, "refusing to cosign")
	served, err = e.tree.Checkpoint(ctx)
	require.NoError(t, err)
	require.NotContains(t, string(served), "— witness.test ", "the forked checkpoint has no cosignature")
}
