package web_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRenameJobsetThroughPUT: a PUT with another name renames the jobset,
// as Hydra's does, and its old name answers reads of the jobset and of
// its jobs with a 301 to the new one. Whoever may change the jobset (the
// project's owner and members, admins) may rename it; others may not.
func TestRenameJobsetThroughPUT(t *testing.T) {
	e := newEnv(t, envOpts{})
	body := map[string]any{"name": "k", "enabled": 1, "visible": true, "nixexprinput": "src", "nixexprpath": "release.nix",
		"checkinterval": 0, "schedulingshares": 1, "keepnr": 3,
		"inputs": map[string]any{"src": map[string]any{"type": "path", "value": "/tmp/src"}}}

	for _, who := range []string{"", "nobody", "creator"} {
		res := e.as(who).do("PUT", "/jobset/p/j", body)
		require.Equal(t, http.StatusForbidden, res.code, "%q: %s", who, res.body)
	}
	require.Equal(t, http.StatusOK, e.anon().do("GET", "/jobset/p/j", nil).code, "nothing renamed yet")
	bad := map[string]any{"name": "k", "nixexprinput": "src", "nixexprpath": "../etc"}
	require.Equal(t, http.StatusUnprocessableEntity, e.as("owner").do("PUT", "/jobset/p/j", bad).code)
	require.Equal(t, http.StatusOK, e.anon().do("GET", "/jobset/p/j", nil).code, "a refused body renames nothing")

	res := e.as("owner").do("PUT", "/jobset/p/j", body)
	require.Equal(t, http.StatusOK, res.code, res.body)
	require.Contains(t, res.body, "/jobset/p/k")

	for _, tt := range []struct{ from, to string }{
		{"/jobset/p/j", "/jobset/p/k"},
		{"/jobset/p/j/evals?page=2", "/jobset/p/k/evals?page=2"},
		{"/job/p/j/hello/latest", "/job/p/k/hello/latest"},
	} {
		res := e.anon().do("GET", tt.from, nil)
		require.Equal(t, http.StatusMovedPermanently, res.code, "%s: %s", tt.from, res.body)
		require.Equal(t, tt.to, res.header.Get("Location"), tt.from)
	}
	require.Equal(t, http.StatusOK, e.anon().do("GET", "/jobset/p/k", nil).code)
	require.Equal(t, http.StatusNotFound, e.anon().do("GET", "/jobset/p/never", nil).code, "a name it never had is still 404")
	require.NotEqual(t, http.StatusMovedPermanently, e.as("admin").do("DELETE", "/jobset/p/j", nil).code, "writes are not redirected")
}
