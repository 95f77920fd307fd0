package web_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/binarycache"
	"buildledger/web"
)

// TestHydraRootRoutes checks the site-wide routes of Hydra's Root
// controller: robots.txt, the ListBuilds routes over everything, and the
// binary cache at the root as well as under /nix-cache/.
func TestHydraRootRoutes(t *testing.T) {
	cache := t.TempDir()
	hp := strings.Repeat("a", 32)
	realisation := "sha256:" + strings.Repeat("0", 64) + "!out"
	require.NoError(t, os.MkdirAll(filepath.Join(cache, "nar"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(cache, "realisations"), 0o755))
	for name, body := range map[string]string{
		"nix-cache-info": "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n",
		hp + ".narinfo":  "StorePath: /nix/store/" + hp + "-x\nURL: nar/x.nar.zst\n",
		"nar/" + strings.Repeat("1", 52) + ".nar.zst": "NAR",
		"realisations/" + realisation + ".doi":        `{"id":"` + realisation + `"}`,
	} {
		require.NoError(t, os.WriteFile(filepath.Join(cache, name), []byte(body), 0o644))
	}
	e := newEnv(t, envOpts{cfg: func(c *web.Config) { c.BinaryCache = binarycache.NewHandler(cache, nil) }})
	c := e.anon()
	tests := []struct {
		path        string
		code        int
		contentType string
		// body is the whole body, or with a leading "~" a part of it.
		body string
		loc  string
	}{
		{"/robots.txt", 200, "text/plain; charset=utf-8", "User-agent: *\nDisallow: /*\n", ""},
		{"/nix-cache-info", 200, "text/x-nix-cache-info", "~StoreDir: /nix/store", ""},
		{"/nix-cache/nix-cache-info", 200, "text/x-nix-cache-info", "~StoreDir: /nix/store", ""},
		{"/" + hp + ".narinfo", 200, "text/x-nix-narinfo", "~StorePath: /nix/store/" + hp, ""},
		{"/nix-cache/" + hp + ".narinfo", 200, "text/x-nix-narinfo", "~StorePath: /nix/store/" + hp, ""},
		{"/" + strings.Repeat("b", 32) + ".narinfo", 404, "text/plain; charset=utf-8", "does not exist\n", ""},
		{"/nar/" + strings.Repeat("1", 52) + ".nar.zst", 200, "application/x-nix-nar", "NAR", ""},
		{"/nar/..%2Fnix-cache-info", 404, "", "", ""},
		{"/realisations/" + realisation + ".doi", 200, "text/plain; charset=utf-8", "~" + realisation, ""},
		{"/realisations/sha256:" + strings.Repeat("9", 64) + "!out.doi", 404, "text/plain; charset=utf-8", "does not exist\n", ""},
		{"/all", 200, "application/json", `~"total":4`, ""},
		{"/latest", 302, "", "", "/build/4"},
		{"/latest/log/raw", 302, "", "", "/build/4/log/raw"},
		{"/latest-for/x86_64-linux", 302, "", "", "/build/4"},
		{"/latest-for/aarch64-linux", 404, "application/json", `~"error"`, ""},
		{"/latest-finished", 404, "application/json", `~"error"`, ""},
		{"/channel/latest", 200, "application/json", `~"job":"gone"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res := c.do("GET", tt.path, nil)
			require.Equal(t, tt.code, res.code, res.body)
			if tt.contentType != "" {
				require.Equal(t, tt.contentType, res.header.Get("Content-Type"))
			}
			if part, ok := strings.CutPrefix(tt.body, "~"); ok {
				require.Contains(t, res.body, part)
			} else if tt.body != "" {
				require.Equal(t, tt.body, res.body)
			}
			if tt.loc != "" {
				require.Equal(t, tt.loc, res.header.Get("Location"))
			}
		})
	}
}
