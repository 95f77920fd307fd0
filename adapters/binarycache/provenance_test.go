package binarycache

import (
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/domain/provenance"
)

// statements is a fixed list of stored statements.
type statements []provenance.Record

func (s statements) StatementsSince(_ context.Context, after int64, limit int) ([]provenance.Record, error) {
	var out []provenance.Record
	for _, r := range s {
		if r.Position > after && len(out) < limit {
			out = append(out, r)
		}
	}
	return out, nil
}

// TestProvenanceInCache publishes a statement for the fixture's top path:
// the envelope lies next to the narinfo, the narinfo names it, the writer
// still reads its own narinfo, and Nix still copies from the cache, from
// the directory and over HTTP, checking the cache's signatures.
func TestProvenanceInCache(t *testing.T) {
	fx := buildFixture(t)
	ctx := context.Background()
	w, pk := newTestWriter(t, CompressionZstd)
	ups, err := LocalStore{}.UploadClosure(ctx, w, fx.top)
	require.NoError(t, err)
	_, key, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	payload := []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"` + fx.top + `","digest":{"sha256":"00"}}]}`)
	pub := &ProvenancePublisher{Statements: statements{{BuildID: 1, Position: 5, Payload: payload}}, Key: key, Cache: w,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	last, err := pub.Publish(ctx, 0)
	require.NoError(t, err)
	require.Equal(t, int64(5), last)

	hp := filepath.Base(fx.top)[:32]
	env, err := os.ReadFile(filepath.Join(w.Dir(), hp+".provenance.json"))
	require.NoError(t, err)
	got, err := provenance.Verify(key.Public().(ed25519.PublicKey), env)
	require.NoError(t, err)
	require.Equal(t, payload, got)
	ni, err := os.ReadFile(filepath.Join(w.Dir(), hp+".narinfo"))
	require.NoError(t, err)
	require.Contains(t, string(ni), "\nProvenance: "+hp+".provenance.json\n")

	// The writer reads the narinfo back: a Put of the path is a no-op
	// that keeps the field, and publishing again changes nothing.
	again, err := w.Put(ctx, PathInfo{StorePath: fx.top}, &failReader{})
	require.NoError(t, err)
	require.Equal(t, hp+".provenance.json", again.Provenance)
	require.Equal(t, ups[0].NarHash, again.NarHash)
	_, err = pub.Publish(ctx, 0)
	require.NoError(t, err)
	ni2, err := os.ReadFile(filepath.Join(w.Dir(), hp+".narinfo"))
	require.NoError(t, err)
	require.Equal(t, ni, ni2)

	store, out, err := nixCopy(t, w.URL(), fx.top, pk.String())
	require.NoError(t, err, out)
	requireCopied(t, store, fx)

	srv := httptest.NewServer(http.StripPrefix("/cache", NewHandler(w.Dir(), nil)))
	defer srv.Close()
	store, out, err = nixCopy(t, srv.URL+"/cache", fx.top, pk.String())
	require.NoError(t, err, out)
	requireCopied(t, store, fx)
	resp, err := http.Get(srv.URL + "/cache/" + hp + ".provenance.json")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	require.Equal(t, env, body)
}

// TestProvenanceRefusals: a statement naming a path the cache does not
// hold stores nothing (a statement cannot plant files), and a narinfo's
// Provenance field is only ever the writer's own file name.
func TestProvenanceRefusals(t *testing.T) {
	ctx := context.Background()
	w, _ := newTestWriter(t, CompressionZstd)
	_, key, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	for _, subject := range []string{"/nix/store/" + strings.Repeat("a", 32) + "-absent", "../../etc/passwd", "/nix/store/x"} {
		pub := &ProvenancePublisher{Statements: statements{{BuildID: 1, Position: 1,
			Payload: []byte(`{"subject":[{"name":"` + subject + `"}]}`)}}, Key: key, Cache: w,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		_, err := pub.Publish(ctx, 0)
		require.NoError(t, err, "a bad statement is logged and skipped")
		require.Error(t, pub.publish(ctx, pub.Statements.(statements)[0]))
	}
	written, err := filepath.Glob(filepath.Join(w.Dir(), "*"))
	require.NoError(t, err)
	require.Equal(t, []string{filepath.Join(w.Dir(), "nar"), filepath.Join(w.Dir(), "nix-cache-info")}, written,
		"nothing but what a new writer creates: its empty nar directory and nix-cache-info")
}
