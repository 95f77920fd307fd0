package binarycache

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzHandlerPath checks that whatever the request path, the handler only
// ever answers 200 with one of the cache's own files.
func FuzzHandlerPath(f *testing.F) {
	root := f.TempDir()
	dir := filepath.Join(root, "cache")
	narName := strings.Repeat("a", 52) + ".nar.zst"
	infoName := strings.Repeat("b", 32) + ".narinfo"
	files := map[string]string{
		"nix-cache-info": cacheInfo,
		infoName:         "StorePath: x\n",
		"nar/" + narName: "nar bytes",
		"secret":         "SECRET-IN-CACHE",
		"../outside":     "SECRET-OUTSIDE",
		"nar/.tmp-x.nar": "SECRET-TEMP",
		".tmp-x.narinfo": "SECRET-TEMP-INFO",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			f.Fatal(err)
		}
	}
	for _, seed := range []string{"/nix-cache-info", "/" + infoName, "/nar/" + narName, "/../outside", "/nar/../secret", "/secret", "//nix-cache-info", "/nar/.tmp-x.nar"} {
		f.Add(seed)
	}
	h := NewHandler(dir, nil)
	f.Fuzz(func(t *testing.T, p string) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL = &url.URL{Path: p}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		body := rec.Body.String()
		if strings.Contains(body, "SECRET") {
			t.Fatalf("path %q leaked %q", p, body)
		}
		if rec.Code == http.StatusOK {
			switch body {
			case cacheInfo, "StorePath: x\n", "nar bytes":
			default:
				t.Fatalf("path %q served unexpected %q", p, body)
			}
		}
	})
}
