package inputs

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/nix/daemon/daemontest"
	"buildledger/events"
)

// urlServer serves body at /ok/src.nix, a redirect at /ok/moved, 2 KiB at
// /ok/big, and counts the requests.
func urlServer(t *testing.T, body *atomic.Value) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/ok/src.nix", func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte(body.Load().(string)))
	})
	mux.HandleFunc("/ok/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/secret/x", http.StatusFound)
	})
	mux.HandleFunc("/ok/big", func(w http.ResponseWriter, _ *http.Request) {
		w.(http.Flusher).Flush() // chunked: no Content-Length to refuse up front
		_, _ = w.Write([]byte(strings.Repeat("x", 2048)))
	})
	mux.HandleFunc("/secret/x", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("secret")) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &hits
}

// TestFetchPathURL: a path input that is a URL under an allowed prefix is
// downloaded into the store and reused within its validity; the revision
// follows the content, and content seen before gets its revision back.
func TestFetchPathURL(t *testing.T) {
	requireTools(t)
	var body atomic.Value
	body.Store("{ }: { }\n")
	srv, hits := urlServer(t, &body)
	f := &Fetcher{CacheDir: t.TempDir(), AllowedURIs: []string{srv.URL + "/ok/"}, PathValidity: 24 * 3600e9}
	ctx := context.Background()
	uri := srv.URL + "/ok/src.nix"

	got, err := f.Fetch(ctx, events.JobsetInput{Name: "p", Type: "path", Value: uri})
	require.NoError(t, err)
	require.Equal(t, uri, got.URI)
	require.True(t, strings.HasSuffix(got.StorePath, "-src.nix"), got.StorePath)
	b, err := os.ReadFile(got.StorePath)
	require.NoError(t, err)
	require.Equal(t, "{ }: { }\n", string(b))
	require.Equal(t, narHash(t, got.StorePath), got.SHA256)
	require.Regexp(t, `^[0-9]{14}:[0-9a-z]+$`, got.Revision)
	require.Equal(t, int32(1), hits.Load())

	// Within the validity: not fetched again.
	again, err := f.Fetch(ctx, events.JobsetInput{Name: "p", Type: "path", Value: uri})
	require.NoError(t, err)
	require.Equal(t, got, again)
	require.Equal(t, int32(1), hits.Load())

	// A validity of 0 in the value fetches again: new content, new revision.
	body.Store("{ }: { x = 1; }\n")
	changed, err := f.Fetch(ctx, events.JobsetInput{Name: "p", Type: "path", Value: uri + " 0"})
	require.NoError(t, err)
	require.Equal(t, int32(2), hits.Load())
	require.NotEqual(t, got.StorePath, changed.StorePath)
	require.NotEqual(t, got.Revision, changed.Revision)
	body.Store("{ }: { }\n")
	back, err := f.Fetch(ctx, events.JobsetInput{Name: "p", Type: "path", Value: uri + " 0"})
	require.NoError(t, err)
	require.Equal(t, got.Revision, back.Revision, "content seen before keeps its revision")
}

// TestFetchPathURLRefused: a URL under no allowed prefix, a redirect out
// of it, a download over the size limit and other schemes are refused.
func TestFetchPathURLRefused(t *testing.T) {
	requireTools(t)
	var body atomic.Value
	body.Store("x")
	srv, _ := urlServer(t, &body)
	f := &Fetcher{CacheDir: t.TempDir(), AllowedURIs: []string{srv.URL + "/ok/"}, MaxURLSize: 1024}
	for value, want := range map[string]string{
		srv.URL + "/secret/x":           "not under a URL prefix the operator allows",
		srv.URL + "/ok/../secret/x":     "a URL with . or .. segments",
		srv.URL + "/ok/%2e%2e/secret/x": "a URL with . or .. segments",
		srv.URL + "/ok/moved":           "redirect",
		srv.URL + "/ok/big":             "larger than 1024 bytes",
		"ftp://example.org/ok/x":        "want an absolute path or an http(s) URL",
		"file:///etc/passwd":            "want an absolute path or an http(s) URL",
		srv.URL + "/ok/src.nix x":       "not a number of seconds",
	} {
		_, err := f.Fetch(context.Background(), events.JobsetInput{Name: "p", Type: "path", Value: value})
		require.ErrorContains(t, err, want, value)
	}
	_, err := (&Fetcher{CacheDir: t.TempDir()}).Fetch(context.Background(), events.JobsetInput{Name: "p", Type: "path", Value: srv.URL + "/ok/src.nix"})
	require.ErrorIs(t, err, ErrURLNotAllowed, "no --allowed-uri: no URL")
}

// TestFetchPathURLAsEvaluationUser: the download runs as the evaluation
// user; what the server remembers of it stays in a directory of the
// server's.
func TestFetchPathURLAsEvaluationUser(t *testing.T) {
	requireTools(t)
	id := daemontest.Identity(t)
	var body atomic.Value
	body.Store("{ }\n")
	srv, _ := urlServer(t, &body)
	cache := t.TempDir()
	f := &Fetcher{CacheDir: cache, Identity: id, AllowedURIs: []string{srv.URL + "/ok/"}}
	got, err := f.Fetch(context.Background(), events.JobsetInput{Name: "p", Type: "path", Value: srv.URL + "/ok/src.nix"})
	require.NoError(t, err)
	require.FileExists(t, got.StorePath)
	dir, err := id.Dir(cache)
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	st, err := os.Stat(filepath.Join(cache, "path-urls"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), st.Mode().Perm())
}

// TestForgetCachesBefore: after a clearing, a URL fetched before it is
// downloaded again within its validity, and the entries remembered before
// it are removed; entries written after it, and an earlier clearing told
// again, are left alone.
func TestForgetCachesBefore(t *testing.T) {
	requireTools(t)
	var body atomic.Value
	body.Store("{ }: { }\n")
	srv, hits := urlServer(t, &body)
	f := &Fetcher{CacheDir: t.TempDir(), AllowedURIs: []string{srv.URL + "/ok/"}, PathValidity: 24 * 3600e9}
	ctx := context.Background()
	in := events.JobsetInput{Name: "p", Type: "path", Value: srv.URL + "/ok/src.nix"}
	_, err := f.Fetch(ctx, in)
	require.NoError(t, err)
	entries, err := filepath.Glob(filepath.Join(f.CacheDir, "path-urls", "*"))
	require.NoError(t, err)
	require.Len(t, entries, 1)
	hourAgo := time.Now().Add(-time.Hour)
	require.NoError(t, os.Chtimes(entries[0], hourAgo, hourAgo))
	// A deep clone remembered before, and one after, the clearing.
	old, recent := filepath.Join(f.CacheDir, "deep-clones", "old"), filepath.Join(f.CacheDir, "deep-clones", "recent")
	require.NoError(t, os.MkdirAll(filepath.Dir(old), 0o700))
	require.NoError(t, os.WriteFile(old, []byte("/nix/store/x sha256:y\n"), 0o600))
	require.NoError(t, os.Chtimes(old, hourAgo, hourAgo))
	require.NoError(t, os.WriteFile(recent, []byte("/nix/store/x sha256:y\n"), 0o600))

	clearing := time.Now().Add(-time.Minute)
	require.NoError(t, f.ForgetCachesBefore(clearing))
	require.NoFileExists(t, old)
	require.NoFileExists(t, entries[0])
	require.FileExists(t, recent)
	_, err = f.Fetch(ctx, in)
	require.NoError(t, err)
	require.Equal(t, int32(2), hits.Load(), "downloaded again")
	_, err = f.Fetch(ctx, in)
	require.NoError(t, err)
	require.Equal(t, int32(2), hits.Load(), "and remembered again")

	// The same clearing, or an older one, removes nothing more.
	require.NoError(t, os.Chtimes(recent, hourAgo, hourAgo))
	require.NoError(t, f.ForgetCachesBefore(clearing))
	require.NoError(t, f.ForgetCachesBefore(hourAgo))
	require.FileExists(t, recent)
}
