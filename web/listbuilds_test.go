package web_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/ulikunitz/xz"

	"buildledger/domain/streams"
	"buildledger/events"
)

// TestListBuildsRoutes checks Hydra's ListBuilds routes under projects,
// jobsets and jobs, /eval/<id>/job/<job>, /status, /dashboard and
// /api/nrbuilds: status codes, JSON shapes and redirects.
func TestListBuildsRoutes(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.anon()
	type bj struct {
		ID  int64  `json:"id"`
		Job string `json:"job"`
	}
	ids := func(bs []bj) []int64 {
		out := []int64{}
		for _, b := range bs {
			out = append(out, b.ID)
		}
		return out
	}

	t.Run("nrbuilds", func(t *testing.T) {
		// Builds 1 to 6 were queued in the same hour; 1, 2, 4 and 5
		// finished. As in Hydra, periods are counted by queue time,
		// aligned on the epoch, and empty ones are left out.
		tests := []struct {
			query string
			code  int
			body  string
		}{
			{"nr=2&period=hour", 200, "[4]"},
			{"nr=1&period=hour", 200, "[4]"},
			{"nr=1&period=day", 200, "[4]"},
			{"nr=3&period=hour&project=p&jobset=j&job=hello", 200, "[2]"},
			{"nr=2&period=hour&project=nope", 200, "[]"},
			{"nr=2&period=hour&system=aarch64-linux", 200, "[]"},
			{"nr=100000&period=day", 200, "[4]"},
			{"period=hour", 400, ""},
			{"nr=2", 400, ""},
			{"nr=2&period=week", 400, ""},
			{"nr=0&period=day", 400, ""},
		}
		for _, tt := range tests {
			res := c.do("GET", "/api/nrbuilds?"+tt.query, nil)
			require.Equal(t, tt.code, res.code, "%s: %s", tt.query, res.body)
			if tt.code == 200 {
				require.JSONEq(t, tt.body, res.body, tt.query)
			} else {
				require.Contains(t, res.body, `"error"`)
			}
		}
	})

	t.Run("all", func(t *testing.T) {
		tests := []struct {
			path  string
			code  int
			ids   []int64
			total int
		}{
			{"/project/p/all", 200, []int64{5, 4, 2, 1}, 4},
			{"/jobset/p/j/all", 200, []int64{5, 4, 2, 1}, 4},
			{"/job/p/j/hello/all", 200, []int64{5, 1}, 2},
			{"/job/p/j/waiting/all", 200, []int64{}, 0},
			{"/project/p/all?page=2", 200, []int64{}, 4},
			{"/project/nope/all", 404, nil, 0},
			{"/jobset/p/nope/all", 404, nil, 0},
		}
		for _, tt := range tests {
			res := c.do("GET", tt.path, nil)
			require.Equal(t, tt.code, res.code, "%s: %s", tt.path, res.body)
			if tt.code != 200 {
				require.Contains(t, res.body, `"error"`)
				continue
			}
			var got struct {
				Builds         []bj `json:"builds"`
				Total          int  `json:"total"`
				Page           int  `json:"page"`
				ResultsPerPage int  `json:"resultsPerPage"`
			}
			res.json(t, &got)
			require.Equal(t, tt.ids, ids(got.Builds), tt.path)
			require.Equal(t, tt.total, got.Total, tt.path)
			require.Equal(t, 50, got.ResultsPerPage)
			if len(tt.ids) > 0 {
				require.Contains(t, res.body, `"buildoutputs"`, "full Build objects")
			}
		}
	})

	t.Run("redirects", func(t *testing.T) {
		tests := []struct {
			path string
			code int
			loc  string
		}{
			{"/project/p/latest", 302, "/build/4"},
			{"/jobset/p/j/latest", 302, "/build/4"},
			{"/job/p/j/hello/latest", 302, "/build/1"},
			{"/jobset/p/j/latest/download/1/share", 302, "/build/4/download/1/share"},
			{"/job/p/j/gone/latest/log/raw?x=1", 302, "/build/4/log/raw?x=1"},
			{"/project/p/latest-for/x86_64-linux", 302, "/build/4"},
			{"/jobset/p/j/latest-for/x86_64-linux/log", 302, "/build/4/log"},
			{"/project/p/latest-for/aarch64-linux", 404, ""},
			{"/project/p/latest-finished", 404, ""}, // eval 1 still has queued build 3
			{"/job/p/j/waiting/latest", 404, ""},
			{"/project/nope/latest", 404, ""},
			{"/eval/2/job/hello", 302, "/build/5"},
			{"/eval/1/job/hello", 302, "/build/1"},
			{"/eval/2/job/hello/log/raw", 302, "/build/5/log/raw"},
			{"/eval/2/job/gone", 404, ""},
			{"/eval/9/job/hello", 404, ""},
		}
		for _, tt := range tests {
			res := c.do("GET", tt.path, nil)
			require.Equal(t, tt.code, res.code, "%s: %s", tt.path, res.body)
			require.Equal(t, tt.loc, res.header.Get("Location"), tt.path)
		}
		require.Equal(t, 200, e.as("admin").do("POST", "/build/3/cancel", nil).code)
		res := c.do("GET", "/jobset/p/j/latest-finished/download/2", nil)
		require.Equal(t, 302, res.code, res.body)
		require.Equal(t, "/build/4/download/2", res.header.Get("Location"))
	})

	t.Run("channel", func(t *testing.T) {
		var got []bj
		res := c.do("GET", "/jobset/p/j/channel/latest", nil)
		require.Equal(t, 200, res.code, res.body)
		res.json(t, &got)
		require.Equal(t, []bj{{4, "gone"}, {1, "hello"}}, got, "newest success per job")
		res = c.do("GET", "/project/p/channel/latest", nil)
		res.json(t, &got)
		require.Equal(t, []int64{4, 1}, ids(got))
		res = c.do("GET", "/job/p/j/broken/channel/latest", nil)
		require.Equal(t, "[]\n", res.body)
		res = c.do("GET", "/project/p/channel/latest/binary-cache-url", nil)
		require.Equal(t, 200, res.code)
		require.Equal(t, e.srv.URL+"/", res.body, "Hydra's: the root, where the cache is served")
		require.Equal(t, 404, c.do("GET", "/project/nope/channel/latest", nil).code)
		html := c.do("GET", "/jobset/p/j/channel/latest", nil, "Accept", "text/html")
		require.Contains(t, html.body, "Binary cache: "+e.srv.URL)
	})

	t.Run("status", func(t *testing.T) {
		res := c.do("GET", "/status", nil)
		require.Equal(t, 200, res.code)
		var builds []map[string]any
		res.json(t, &builds)
		require.Len(t, builds, 1, res.body)
		for _, k := range []string{"id", "finished", "drvpath", "project", "jobset", "job", "buildoutputs"} {
			require.Contains(t, builds[0], k)
		}
		require.EqualValues(t, 3, builds[0]["id"], "Hydra's /status: the builds with a busy step")
		require.Contains(t, c.do("GET", "/status", nil, "Accept", "text/html").body, "waiting-3")
	})

	t.Run("dashboard", func(t *testing.T) {
		var got struct {
			UserName string `json:"username"`
			Jobsets  []struct {
				Name, Project string
				NrTotal       int `json:"nrtotal"`
			} `json:"jobsets"`
		}
		admin := e.as("admin") // dashboards are private until made public
		for _, u := range []string{"owner", "member"} {
			res := admin.do("GET", "/dashboard/"+u, nil)
			require.Equal(t, 200, res.code, res.body)
			res.json(t, &got)
			require.Equal(t, u, got.UserName)
			require.Len(t, got.Jobsets, 1)
			require.Equal(t, "j", got.Jobsets[0].Name)
			require.Equal(t, 4, got.Jobsets[0].NrTotal)
		}
		res := admin.do("GET", "/dashboard/nobody", nil)
		require.JSONEq(t, `{"username":"nobody","jobsets":[],"starredjobs":[]}`, res.body)
		require.Equal(t, 404, c.do("GET", "/dashboard/ghost", nil).code)
		require.Equal(t, 403, c.do("GET", "/dashboard", nil).code)
		res = e.as("owner").do("GET", "/dashboard", nil)
		require.Equal(t, 302, res.code)
		require.Equal(t, "/dashboard/owner", res.header.Get("Location"))
	})

}

// TestOutputNAR downloads a build output as a NAR and unpacks it with the
// real nix-store.
func TestOutputNAR(t *testing.T) {
	e := newEnv(t, envOpts{})
	var jobsetID int64
	require.NoError(t, e.pool.QueryRow(e.ctx, `select id from jobsets where name = 'j'`).Scan(&jobsetID))
	outPath := filepath.Join(e.storeDir, strings.Repeat("d", 32)+"-tool")
	require.NoError(t, os.MkdirAll(filepath.Join(outPath, "bin"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(outPath, "bin", "tool"), []byte("#!/bin/sh\necho hi\n"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(outPath, "README"), []byte("read me"), 0o644))
	require.NoError(t, os.Symlink("bin/tool", filepath.Join(outPath, "link")))
	e.appendEvents(streams.Build(7), events.BuildQueued{BuildID: 7, EvalID: 2, JobsetID: jobsetID, Project: "p", Jobset: "j",
		Job: "tool", DrvPath: drv("tool-7"), System: "x86_64-linux", Timestamp: now.Unix(), Outputs: []events.Output{
			{Name: "out", Path: outPath},
			{Name: "doc", Path: filepath.Join(e.storeDir, strings.Repeat("e", 32)+"-tool-doc")},
			{Name: "evil", Path: "/etc"}}})
	e.catchUp()
	c := e.anon()
	res := c.do("GET", "/build/7/output/out", nil)
	require.Equal(t, http.StatusBadRequest, res.code, "Hydra refuses the outputs of an unfinished build: %s", res.body)
	e.appendEvents(streams.Build(7), events.BuildFinished{BuildID: 7, Status: 0, StartTime: now.Unix(), StopTime: now.Unix()})
	e.catchUp()

	res = c.do("GET", "/build/7/output/out", nil)
	require.Equal(t, http.StatusOK, res.code, res.body)
	require.Equal(t, "application/x-nix-archive", res.header.Get("Content-Type"))
	require.Equal(t, `attachment; filename="build-7-out.nar.bz2"`, res.header.Get("Content-Disposition"), "Hydra's name")
	zr, err := xz.NewReader(strings.NewReader(res.body))
	require.NoError(t, err, "xz, as Hydra compresses it")
	nar, err := io.ReadAll(zr)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(nar[8:]), "nix-archive-1"), "NAR magic")

	tests := []struct {
		path string
		code int
	}{
		{"/build/7/output/doc", http.StatusGone},
		{"/build/7/output/evil", http.StatusForbidden},
		{"/build/7/output/nope", http.StatusNotFound},
		{"/build/1/output/out", http.StatusForbidden}, // /nix/store path outside the test's store dir
		{"/build/99/output/out", http.StatusNotFound},
	}
	for _, tt := range tests {
		r := c.do("GET", tt.path, nil)
		require.Equal(t, tt.code, r.code, "%s: %s", tt.path, r.body)
		require.Contains(t, r.body, `"error"`)
	}

	nixStore, err := exec.LookPath("nix-store")
	if err != nil {
		t.Skip("nix-store not installed: NAR not checked against Nix")
	}
	dst := filepath.Join(t.TempDir(), "restored")
	cmd := exec.Command(nixStore, "--restore", dst)
	cmd.Stdin = bytes.NewReader(nar)
	outb, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", outb)
	got, err := os.ReadFile(filepath.Join(dst, "bin", "tool"))
	require.NoError(t, err)
	require.Equal(t, "#!/bin/sh\necho hi\n", string(got))
	st, err := os.Stat(filepath.Join(dst, "bin", "tool"))
	require.NoError(t, err)
	require.NotZero(t, st.Mode()&0o100, "executable bit kept")
	l, err := os.Readlink(filepath.Join(dst, "link"))
	require.NoError(t, err)
	require.Equal(t, "bin/tool", l)
}
