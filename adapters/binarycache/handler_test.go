package binarycache

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// newCacheServer uploads the fixture closure to a fresh cache and serves it
// under /cache on an httptest server.
func newCacheServer(t *testing.T) (*httptest.Server, *FileWriter, Uploaded, string) {
	t.Helper()
	fx := buildFixture(t)
	w, pk := newTestWriter(t, CompressionZstd)
	ups, err := LocalStore{}.UploadClosure(context.Background(), w, fx.top)
	require.NoError(t, err)
	srv := httptest.NewServer(http.StripPrefix("/cache", NewHandler(w.Dir(), nil)))
	t.Cleanup(srv.Close)
	return srv, w, ups[0], pk.String()
}

func TestHandlerNixCopy(t *testing.T) {
	fx := buildFixture(t)
	srv, _, _, pk := newCacheServer(t)
	store, out, err := nixCopy(t, srv.URL+"/cache", fx.top, pk)
	require.NoError(t, err, out)
	requireCopied(t, store, fx)
}

// TestEmptyCacheIsASubstituter: a cache nothing was uploaded to yet (a
// new server, or builds whose outputs were already valid) answers
// nix-cache-info, so Nix takes it as a substituter, as Hydra's from its
// start, instead of refusing it as "not a binary cache".
func TestEmptyCacheIsASubstituter(t *testing.T) {
	w, _ := newTestWriter(t, CompressionZstd)
	srv := httptest.NewServer(NewHandler(w.Dir(), nil))
	t.Cleanup(srv.Close)
	out, err := exec.Command("nix", "--extra-experimental-features", "nix-command", "store", "ping",
		"--store", srv.URL).CombinedOutput()
	require.NoError(t, err, "%s", out)
}

func TestHandlerRoutes(t *testing.T) {
	srv, w, u, _ := newCacheServer(t)
	hp := filepath.Base(u.StorePath)[:32]
	narinfo, err := os.ReadFile(filepath.Join(w.Dir(), hp+".narinfo"))
	require.NoError(t, err)

	// Files that exist but must never be served.
	require.NoError(t, os.WriteFile(filepath.Join(w.Dir(), "secret"), []byte("secret"), 0o600))
	require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(w.Dir(), "nar", strings.Repeat("0", 52)+".nar")))
	require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(w.Dir(), strings.Repeat("1", 32)+".narinfo")))
	require.NoError(t, os.Mkdir(filepath.Join(w.Dir(), strings.Repeat("2", 32)+".narinfo"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(w.Dir(), "realisations"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(w.Dir(), "realisations", "sha256:"+strings.Repeat("a", 64)+"!out.doi"), []byte(`{"id":"x"}`), 0o644))

	tests := []struct {
		method, path string
		want         int
		body         string
		contentType  string
	}{
		{"GET", "/cache/nix-cache-info", 200, cacheInfo, "text/x-nix-cache-info"},
		{"HEAD", "/cache/nix-cache-info", 200, "", "text/x-nix-cache-info"},
		{"GET", "/cache/" + hp + ".narinfo", 200, string(narinfo), "text/x-nix-narinfo"},
		{"HEAD", "/cache/" + hp + ".narinfo", 200, "", "text/x-nix-narinfo"},
		{"GET", "/cache/" + u.URL, 200, "", "application/x-nix-nar"},
		{"HEAD", "/cache/" + u.URL, 200, "", "application/x-nix-nar"},
		{"POST", "/cache/nix-cache-info", 405, "", ""},
		{"PUT", "/cache/" + hp + ".narinfo", 405, "", ""},
		{"GET", "/cache/" + strings.Repeat("3", 32) + ".narinfo", 404, "", ""},
		{"GET", "/cache/", 404, "", ""},
		{"GET", "/cache/nar/", 404, "", ""},
		{"GET", "/cache/secret", 404, "", ""},
		{"GET", "/cache/../secret", 404, "", ""},
		{"GET", "/cache/nar/../secret", 404, "", ""},
		{"GET", "/cache/nar/..%2Fsecret", 404, "", ""},
		{"GET", "/cache/nar%2F..%2Fsecret", 404, "", ""},
		{"GET", "/cache/%2e%2e/secret", 404, "", ""},
		{"GET", "/cache/nar/%2e%2e%2f%2e%2e%2fetc%2fpasswd", 404, "", ""},
		{"GET", "/cache/" + hp + "%2Enarinfo", 404, "", ""},
		{"GET", "/cache/nar/" + strings.Repeat("0", 52) + ".nar", 404, "", ""},
		{"GET", "/cache/" + strings.Repeat("1", 32) + ".narinfo", 404, "", ""},
		{"GET", "/cache/" + strings.Repeat("2", 32) + ".narinfo", 404, "", ""},
		{"GET", "/cache/" + strings.ToUpper(hp) + ".narinfo", 404, "", ""},
		{"GET", "/nix-cache-info", 404, "", ""},
		{"GET", "/cache/realisations/sha256:" + strings.Repeat("a", 64) + "!out.doi", 200, `{"id":"x"}`, "text/plain; charset=utf-8"},
		{"GET", "/cache/realisations/sha256:" + strings.Repeat("b", 64) + "!out.doi", 404, "does not exist\n", ""},
		{"GET", "/cache/realisations/sha256:" + strings.Repeat("a", 64) + "!out.doi%2F..", 404, "", ""},
		{"GET", "/cache/realisations/../secret", 404, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			require.NoError(t, err)
			resp, err := srv.Client().Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.Equal(t, tt.want, resp.StatusCode, string(body))
			if tt.want != 200 {
				if tt.body != "" {
					require.Equal(t, tt.body, string(body))
				}
				require.NotContains(t, string(body), "root:")
				require.NotContains(t, string(body), "secret")
				return
			}
			require.Equal(t, tt.contentType, resp.Header.Get("Content-Type"))
			if tt.method == "HEAD" {
				require.Empty(t, body)
				require.NotEmpty(t, resp.Header.Get("Content-Length"))
				return
			}
			if tt.body != "" {
				require.Equal(t, tt.body, string(body))
			}
			if strings.HasPrefix(tt.path, "/cache/nar/") {
				require.Equal(t, u.FileSize, int64(len(body)))
			}
		})
	}
}
