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

// TestRenameProjectThroughPUT: a PUT with another name renames the
// project, as Hydra's does: whoever may edit it (owner, members, admins)
// may; a taken or invalid name, or a refused body, renames nothing. Its
// jobsets, evaluations and builds follow, and its old name answers reads
// of the project, its jobsets and jobs with a 301 (Hydra: 404).
func TestRenameProjectThroughPUT(t *testing.T) {
	e := newEnv(t, envOpts{})
	body := func(name string) map[string]any {
		return map[string]any{"name": name, "displayname": "Project Q", "enabled": 1, "visible": true}
	}
	for _, who := range []string{"", "nobody", "creator"} {
		res := e.as(who).do("PUT", "/project/p", body("q"))
		require.Equal(t, http.StatusForbidden, res.code, "%q: %s", who, res.body)
	}
	require.Equal(t, http.StatusCreated, e.as("admin").do("PUT", "/project/taken", body("taken")).code)
	for _, tt := range []struct {
		name string
		body map[string]any
		code int
	}{
		{"taken", body("taken"), http.StatusConflict},
		{"invalid", body("1q"), http.StatusUnprocessableEntity},
		{"dotted", body("q.r"), http.StatusUnprocessableEntity},
		{"bad body", map[string]any{"name": "q", "displayname": "Q", "declarative": map[string]any{"file": "x.json", "type": "tarball", "value": "v"}},
			http.StatusUnprocessableEntity},
	} {
		res := e.as("owner").do("PUT", "/project/p", tt.body)
		require.Equal(t, tt.code, res.code, "%s: %s", tt.name, res.body)
	}
	require.Equal(t, http.StatusOK, e.anon().do("GET", "/project/p", nil).code, "nothing renamed yet")
	require.Equal(t, http.StatusOK, e.anon().do("GET", "/project/taken", nil).code)

	// A jobset renamed before its project: its old name follows too.
	jobset := map[string]any{"name": "k", "enabled": 1, "visible": true, "nixexprinput": "src", "nixexprpath": "release.nix",
		"checkinterval": 300, "schedulingshares": 100, "keepnr": 3,
		"inputs": map[string]any{"src": map[string]any{"type": "git", "value": "https://github.com/acme/widget.git"}}}
	require.Equal(t, http.StatusOK, e.as("owner").do("PUT", "/jobset/p/j", jobset).code)

	res := e.as("member").do("PUT", "/project/p", body("q"))
	require.Equal(t, http.StatusOK, res.code, res.body)
	require.Contains(t, res.body, "/project/q")

	var p struct {
		Name        string   `json:"name"`
		DisplayName string   `json:"displayname"`
		Jobsets     []string `json:"jobsets"`
		Owner       string   `json:"owner"`
	}
	e.anon().do("GET", "/project/q", nil).json(t, &p)
	require.Equal(t, "q", p.Name)
	require.Equal(t, "Project Q", p.DisplayName)
	require.Equal(t, []string{"k"}, p.Jobsets)
	require.Equal(t, "owner", p.Owner)
	var b struct {
		Project string `json:"project"`
		Jobset  string `json:"jobset"`
	}
	e.anon().do("GET", "/build/3", nil).json(t, &b)
	require.Equal(t, "q", b.Project, "builds follow")
	require.Equal(t, "k", b.Jobset)
	evals := e.anon().do("GET", "/jobset/q/k/evals", nil)
	require.Equal(t, http.StatusOK, evals.code)
	require.Contains(t, evals.body, `"id":2`, "evaluations follow")

	for _, tt := range []struct{ from, to string }{
		{"/project/p", "/project/q"},
		{"/project/p/edit", "/project/q/edit"},
		{"/jobset/p/k?x=1", "/jobset/q/k?x=1"},
		{"/jobset/p/j", "/jobset/q/j"},
		{"/jobset/q/j", "/jobset/q/k"},
		{"/job/p/k/hello/latest", "/job/q/k/hello/latest"},
	} {
		res := e.anon().do("GET", tt.from, nil)
		require.Equal(t, http.StatusMovedPermanently, res.code, "%s: %s", tt.from, res.body)
		require.Equal(t, tt.to, res.header.Get("Location"), tt.from)
	}
	require.Equal(t, http.StatusNotFound, e.as("admin").do("DELETE", "/project/p", nil).code, "writes are not redirected")

	// The old name is free: a new project takes it, and it stops
	// redirecting.
	require.Equal(t, http.StatusCreated, e.as("admin").do("PUT", "/project/p", body("p")).code)
	require.Equal(t, http.StatusOK, e.anon().do("GET", "/project/p", nil).code)
	require.Equal(t, http.StatusOK, e.anon().do("GET", "/jobset/q/k", nil).code)
}
