package web_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/domain/streams"
	"buildledger/events"
)

// TestHydraBuildRoutes checks the routes of Hydra's Build and BuildStep
// controllers: status codes, content types, JSON keys and redirects.
func TestHydraBuildRoutes(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.anon()
	tests := []struct {
		path        string
		code        int
		contentType string
		keys        []string
		contains    []string
		loc         string
	}{
		{"/build/1/step/1", 200, "application/json", []string{"build", "stepnr", "drvpath", "machine", "system", "starttime", "resolveddrvpath"}, nil, ""},
		{"/build/1/step/9", 404, "application/json", []string{"error"}, nil, ""},
		{"/build/1/step/x", 404, "application/json", []string{"error"}, nil, ""},
		{"/build/1/api/get-info", 200, "application/json", []string{"buildId", "drvPath", "outPath"}, []string{`"buildId":1`, `-hello-1"`}, ""},
		{"/build/99/api/get-info", 404, "application/json", []string{"error"}, nil, ""},
		{"/build/2/evals", 200, "application/json", []string{"evals"}, []string{`"id":2`, `"id":1`}, ""},
		{"/build/1/eval", 404, "application/json", []string{"error"}, nil, ""}, // eval 1 still has build 3 queued
		{"/build/1/reproduce", 200, "text/x-shellscript", nil, []string{"#! /usr/bin/env bash", "git clone -- 'https://github.com/acme/widget.git'",
			"git fetch origin 'abc123'", `-A 'hello'`, `"$nixExprInputDir"/'release.nix'`}, ""},
		{"/build/1/download", 302, "", nil, nil, "/build/1/download/1/manual/share"},
		{"/build/1/download/1", 302, "", nil, nil, "/build/1/download/1/manual/share"},
		{"/build/1/download/2", 302, "", nil, nil, "/build/1/download/2/hello.tar.gz"},
		{"/build/1/download/2/hello.tar.gz", 200, "application/gzip", nil, []string{"tarball"}, ""},
		{"/build/1/download/1/manual/share/index.html", 200, "text/html; charset=utf-8", nil, []string{"<h1>manual</h1>"}, ""},
		{"/build/1/download/1/anything/share/index.html", 200, "", nil, []string{"<h1>manual</h1>"}, ""},
		{"/build/1/download-by-type/doc/manual", 302, "", nil, nil, "/build/1/download/1/manual/share"},
		{"/build/1/download-by-type/file/source-dist/x", 302, "", nil, nil, "/build/1/download/2/hello.tar.gz/x"},
		{"/build/1/download-by-type/doc/nope", 404, "application/json", []string{"error"}, nil, ""},
		{"/build/1/download-by-type/doc/manual/../../x", 400, "application/json", []string{"error"}, nil, ""},
		{"/build/1/contents/1", 200, "text/plain; charset=utf-8", nil, []string{"./share/index.html", "./hello.tar.gz"}, ""},
		{"/build/1/contents/2", 400, "application/json", []string{"error"}, nil, ""}, // not a real tarball
		{"/build/1/contents/3", 403, "application/json", []string{"error"}, nil, ""}, // /etc/passwd
		{"/build/1/contents/9", 404, "application/json", []string{"error"}, nil, ""},
		{"/build/5/build-deps", 200, "application/json", nil, []string{"lib-9"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res := c.do("GET", tt.path, nil)
			require.Equal(t, tt.code, res.code, res.body)
			if tt.contentType != "" {
				require.Equal(t, tt.contentType, res.header.Get("Content-Type"))
			}
			if len(tt.keys) > 0 {
				var obj map[string]any
				res.json(t, &obj)
				for _, k := range tt.keys {
					require.Contains(t, obj, k)
				}
			}
			for _, part := range tt.contains {
				require.Contains(t, res.body, part)
			}
			if tt.loc != "" {
				require.Equal(t, tt.loc, res.header.Get("Location"))
			}
		})
	}
	res := c.do("GET", "/build/1/reproduce", nil)
	require.Equal(t, `attachment; filename="reproduce-build-1.sh"`, res.header.Get("Content-Disposition"))
	res = c.do("GET", "/build/1/step/1", nil, "Accept", "text/html")
	require.Equal(t, 200, res.code)
	require.Contains(t, res.body, "Step 1 of build")

	// Once eval 1 has no unfinished build, /build/1/eval leads there.
	e.appendEvents(streams.Build(3), events.BuildFinished{BuildID: 3, Status: 0, StartTime: now.Unix(), StopTime: now.Unix()})
	e.catchUp()
	res = c.do("GET", "/build/1/eval/builds?x=1", nil)
	require.Equal(t, 302, res.code, res.body)
	require.Equal(t, "/eval/1/builds?x=1", res.header.Get("Location"))
	require.True(t, strings.HasPrefix(c.do("GET", "/build/1/eval", nil).header.Get("Location"), "/eval/1"))
}
