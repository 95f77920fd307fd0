package web_test

import (
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/inputs"
	"buildledger/domain/streams"
	"buildledger/events"
	"buildledger/web"
)

// TestHydraNrBuilds is API.pm's nrbuilds: finished builds counted per
// epoch-aligned period of their queue time, newest nr periods that have
// any, oldest first; an empty period between two is left out.
func TestHydraNrBuilds(t *testing.T) {
	e := newEnv(t, envOpts{})
	var jobsetID int64
	require.NoError(t, e.pool.QueryRow(e.ctx, `select id from jobsets where name = 'j'`).Scan(&jobsetID))
	hour := now.Unix() - now.Unix()%3600
	for i, q := range []struct {
		queued   int64
		finished bool
	}{
		{hour - 5*3600 + 1, true},
		{hour - 5*3600 + 3599, true}, // the same hour as the one before
		{hour - 3*3600, true},        // two hours later: one empty hour between
		{hour - 3*3600 + 5, false},   // unfinished: not counted
		{hour + 10, true},
	} {
		id := int64(100 + i)
		e.appendEvents(streams.Build(id), events.BuildQueued{BuildID: id, EvalID: 2, JobsetID: jobsetID, Project: "p",
			Jobset: "j", Job: "late", NixName: "late", DrvPath: drv("late-" + string(rune('a'+i))), System: "x86_64-linux",
			Timestamp: q.queued})
		if q.finished {
			e.appendEvents(streams.Build(id), events.BuildFinished{BuildID: id, Status: 0, StartTime: q.queued, StopTime: q.queued + 1})
		}
	}
	e.catchUp()
	c := e.anon()
	for query, want := range map[string]string{
		"nr=10&period=hour&job=late": "[2,1,1]",
		"nr=2&period=hour&job=late":  "[1,1]",
		"nr=10&period=day&job=late":  "[4]",
	} {
		res := c.do("GET", "/api/nrbuilds?"+query, nil)
		require.Equal(t, http.StatusOK, res.code, res.body)
		require.JSONEq(t, want, res.body, query)
	}
}

// TestHydraMyJobsetsTab is User.pm's my_jobsets_tab: the enabled jobsets
// of the enabled projects the user owns (not those they are a member
// of), for the user, an admin, or anyone when the dashboard is public.
func TestHydraMyJobsetsTab(t *testing.T) {
	e := newEnv(t, envOpts{})
	names := func(c *client, user string) []string {
		t.Helper()
		res := c.do("GET", "/dashboard/"+user+"/my-jobsets-tab", nil)
		require.Equal(t, http.StatusOK, res.code, res.body)
		var js []struct{ Project, Name string }
		res.json(t, &js)
		out := []string{}
		for _, j := range js {
			out = append(out, j.Project+":"+j.Name)
		}
		return out
	}
	owner, admin := e.as("owner"), e.as("admin")
	require.Equal(t, []string{"p:j"}, names(owner, "owner"))
	require.Equal(t, []string{"p:j"}, names(admin, "owner"))
	require.Equal(t, []string{}, names(e.as("member"), "member"), "a member owns nothing")
	require.Equal(t, http.StatusForbidden, e.as("member").do("GET", "/dashboard/owner/my-jobsets-tab", nil).code)
	require.Equal(t, http.StatusForbidden, e.anon().do("GET", "/dashboard/owner/my-jobsets-tab", nil).code)
	require.Equal(t, http.StatusNotFound, admin.do("GET", "/dashboard/ghost/my-jobsets-tab", nil).code)
	html := owner.do("GET", "/dashboard/owner/my-jobsets-tab", nil, "Accept", "text/html")
	require.Equal(t, http.StatusOK, html.code)
	require.Contains(t, html.body, `href="/jobset/p/j"`)

	// A disabled jobset is left out.
	res := admin.do("PUT", "/jobset/p/j", map[string]any{"enabled": "0", "nixexprinput": "src", "nixexprpath": "release.nix",
		"inputs": map[string]any{"src": map[string]string{"type": "git", "value": "https://github.com/acme/widget.git"}}})
	require.Equal(t, http.StatusOK, res.code, res.body)
	require.Equal(t, []string{}, names(owner, "owner"))
}

// TestHydraJobsetClone is Jobset.pm's clone and JobsetEval.pm's
// create_jobset: forms for the project's owners (as Hydra's
// isProjectOwner: the owner, its members and admins), filled from the jobset
// (or from what an evaluation fetched, revisions pinned), that create a
// new jobset when sent. JSON clients get the filled jobset, a body for
// PUT /jobset/<project>/<new name>.
func TestHydraJobsetClone(t *testing.T) {
	e := newEnv(t, envOpts{})
	owner := e.as("owner")

	t.Run("who may", func(t *testing.T) {
		for _, path := range []string{"/jobset/p/j/clone", "/eval/2/create-jobset"} {
			for name, tt := range map[string]struct {
				c    *client
				code int
			}{
				"anonymous": {e.anon(), http.StatusForbidden},
				"nobody":    {e.as("nobody"), http.StatusForbidden},
				"member":    {e.as("member"), http.StatusOK},
				"creator":   {e.as("creator"), http.StatusForbidden},
				"owner":     {owner, http.StatusOK},
				"admin":     {e.as("admin"), http.StatusOK},
			} {
				res := tt.c.do("GET", path, nil)
				require.Equal(t, tt.code, res.code, "%s %s: %s", name, path, res.body)
				if tt.code != http.StatusOK {
					require.NotContains(t, res.body, "acme/widget", "no input values for %s", name)
				}
			}
		}
		require.Equal(t, http.StatusNotFound, owner.do("GET", "/jobset/p/nope/clone", nil).code)
		require.Equal(t, http.StatusNotFound, owner.do("GET", "/eval/99/create-jobset", nil).code)
	})

	t.Run("clone", func(t *testing.T) {
		res := owner.do("GET", "/jobset/p/j/clone", nil)
		require.Equal(t, http.StatusOK, res.code, res.body)
		var body map[string]any
		res.json(t, &body)
		require.Equal(t, "", body["name"], "the clone has no name yet")
		res = owner.do("PUT", "/jobset/p/copy", body)
		require.Equal(t, http.StatusCreated, res.code, res.body)
		var orig, cp struct {
			NixExprPath   string `json:"nixexprpath"`
			CheckInterval int    `json:"checkinterval"`
			KeepNr        int    `json:"keepnr"`
			Inputs        map[string]struct{ Type, Value string }
		}
		owner.do("GET", "/jobset/p/j", nil).json(t, &orig)
		owner.do("GET", "/jobset/p/copy", nil).json(t, &cp)
		require.Equal(t, orig, cp)

		html := owner.do("GET", "/jobset/p/j/clone", nil, "Accept", "text/html")
		require.Equal(t, http.StatusOK, html.code)
		require.Contains(t, html.body, `action="/project/p/create-jobset"`)
		require.Contains(t, html.body, `name="name" value=""`)
		require.Contains(t, html.body, "src git https://github.com/acme/widget.git")
		require.Contains(t, html.body, "a clone of p:j")
	})

	t.Run("create-jobset from an evaluation", func(t *testing.T) {
		res := owner.do("GET", "/eval/2/create-jobset", nil)
		require.Equal(t, http.StatusOK, res.code, res.body)
		var got struct {
			Name   string `json:"name"`
			Inputs map[string]struct{ Type, Value string }
		}
		res.json(t, &got)
		require.Equal(t, "", got.Name)
		require.Equal(t, struct{ Type, Value string }{"git", "https://github.com/acme/widget.git abc123"}, got.Inputs["src"],
			"pinned to the evaluation's revision, as Hydra's form")

		// The browser's form creates the jobset through the command.
		html := owner.do("GET", "/eval/2/create-jobset", nil, "Accept", "text/html")
		require.Contains(t, html.body, "src git https://github.com/acme/widget.git abc123")
		form := url.Values{"name": {"pinned"}, "type": {"0"}, "nixexprinput": {"src"}, "nixexprpath": {"release.nix"},
			"enabled": {"1"}, "checkinterval": {"0"}, "schedulingshares": {"1"}, "keepnr": {"1"},
			"inputs": {"src git https://github.com/acme/widget.git abc123"}}
		res = owner.do("POST", "/project/p/create-jobset", form.Encode(), "Content-Type", "application/x-www-form-urlencoded", "Accept", "text/html")
		require.Equal(t, http.StatusSeeOther, res.code, res.body)
		owner.do("GET", "/jobset/p/pinned", nil).json(t, &got)
		require.Equal(t, "https://github.com/acme/widget.git abc123", got.Inputs["src"].Value)
		evs, err := e.store.ReadStream(e.ctx, streams.Jobset("p", "pinned"), 0, 10)
		require.NoError(t, err)
		require.Equal(t, "JobsetCreated", evs[0].Type, "created by the command, in the log")
	})
}

// TestHydraCustomChannel is Channel.pm: /channel/custom/<p>/<j>/<ch>
// takes the successful build of job <ch> in the newest evaluation with
// new builds that has one; it lists its constituents by job, redirects a
// channel product's name to its download, and names the binary cache.
func TestHydraCustomChannel(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.hydraEval("p", "j", 10, "rev10", map[string]int64{"chan": 200, "b": 201, "a": 202}, map[string][]int64{"chan": {201, 202}})
	for _, id := range []int64{200, 201, 202} {
		e.appendEvents(streams.Build(id), events.BuildFinished{BuildID: id, Status: 0, StartTime: now.Unix(), StopTime: now.Unix()})
	}
	e.appendEvents(streams.Build(200), events.ProductScraped{BuildID: 200, ProductNr: 1, Type: "channel", Subtype: "",
		Path: "/nix/store/" + strings.Repeat("c", 32) + "-chan/nixexprs.tar.xz", Name: "nixexprs.tar.xz"})
	// A newer evaluation whose channel build failed: the older one stays.
	e.hydraEval("p", "j", 11, "rev11", map[string]int64{"chan": 210}, nil)
	e.appendEvents(streams.Build(210), events.BuildFinished{BuildID: 210, Status: 1, StartTime: now.Unix(), StopTime: now.Unix()})
	e.catchUp()
	c := e.anon()

	res := c.do("GET", "/channel/custom/p/j/chan", nil)
	require.Equal(t, http.StatusOK, res.code, res.body)
	var cons []struct {
		ID  int64  `json:"id"`
		Job string `json:"job"`
	}
	res.json(t, &cons)
	require.Equal(t, []int64{202, 201}, []int64{cons[0].ID, cons[1].ID}, "by job name")
	require.Equal(t, http.StatusOK, c.do("GET", "/channel/custom/p/j/chan", nil, "Accept", "text/html").code)

	res = c.do("GET", "/channel/custom/p/j/chan/nixexprs.tar.xz", nil)
	require.Equal(t, http.StatusFound, res.code, res.body)
	require.Equal(t, "/build/200/download/1/nixexprs.tar.xz", res.header.Get("Location"))

	res = c.do("GET", "/channel/custom/p/j/chan/binary-cache-url", nil)
	require.Equal(t, http.StatusOK, res.code)
	require.Equal(t, e.srv.URL+"/", res.body)
	require.Contains(t, res.header.Get("Content-Type"), "text/plain")

	for _, path := range []string{
		"/channel/custom/p/j/chan/nope.tar.xz",         // no such channel product
		"/channel/custom/p/j/chan/hello.tar.gz",        // not of type channel
		"/channel/custom/p/j/broken",                   // never built successfully
		"/channel/custom/p/j/ghost",                    // no such job
		"/channel/custom/p/nope/chan",                  // no such jobset
		"/channel/custom/nope/j/chan/binary-cache-url", // no such project
	} {
		res := c.do("GET", path, nil)
		require.Equal(t, http.StatusNotFound, res.code, "%s: %s", path, res.body)
		require.Contains(t, res.body, `"error"`)
	}
}

// TestHydraSCMDiff is API.pm's scmdiff: plain text, the log and then the
// diff between two revisions, for a repository a jobset input names.
// Everything else is refused before git runs.
func TestHydraSCMDiff(t *testing.T) {
	repo := t.TempDir()
	gitIn := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		return strings.TrimSpace(string(out))
	}
	gitIn("init", "-q", "-b", "main")
	require.NoError(t, os.WriteFile(filepath.Join(repo, "README"), []byte("one\n"), 0o644))
	gitIn("add", "README")
	gitIn("commit", "-q", "-m", "first")
	rev1 := gitIn("rev-parse", "HEAD")
	require.NoError(t, os.WriteFile(filepath.Join(repo, "README"), []byte("two\n"), 0o644))
	gitIn("commit", "-q", "-am", "second")
	rev2 := gitIn("rev-parse", "HEAD")

	uri := "file://" + repo
	e := newEnv(t, envOpts{cfg: func(c *web.Config) {
		c.SCMDiff = &inputs.Fetcher{CacheDir: t.TempDir(), Roots: []string{repo}}
	}})
	admin := e.as("admin")
	res := admin.do("PUT", "/jobset/p/local", map[string]any{"nixexprinput": "src", "nixexprpath": "release.nix",
		"inputs": map[string]any{"src": map[string]string{"type": "git", "value": uri + " main"}}})
	require.Equal(t, http.StatusCreated, res.code, res.body)

	c := e.anon()
	q := func(typ, uri, r1, r2 string) string {
		return "/api/scmdiff?" + url.Values{"type": {typ}, "uri": {uri}, "rev1": {r1}, "rev2": {r2}}.Encode()
	}
	res = c.do("GET", q("git", uri, rev1, rev2), nil)
	require.Equal(t, http.StatusOK, res.code, res.body)
	require.Contains(t, res.header.Get("Content-Type"), "text/plain")
	require.Contains(t, res.body, "commit "+rev2)
	require.Contains(t, res.body, "-one\n+two\n")
	res = c.do("GET", q("git", uri, rev2, rev2), nil)
	require.Equal(t, http.StatusOK, res.code, res.body)
	require.Equal(t, " ", res.body, "no change is a space, as Hydra")

	outside := t.TempDir()
	for _, tt := range []struct {
		name, path string
		code       int
	}{
		{"option as revision", q("git", uri, "--output="+filepath.Join(outside, "x"), rev2), http.StatusUnprocessableEntity},
		{"range as revision", q("git", uri, rev1+".."+rev2, rev2), http.StatusUnprocessableEntity},
		{"a repository no input names", q("git", "file://"+outside, rev1, rev2), http.StatusNotFound},
		{"an input of another type", q("hg", uri, rev1, rev2), http.StatusNotFound},
		{"a git URL no input names", q("git", "https://example.org/other.git", rev1, rev2), http.StatusNotFound},
		{"unknown revision", q("git", uri, rev1, strings.Repeat("d", 40)), http.StatusNotFound},
		{"svn", q("svn", uri, rev1, rev2), http.StatusBadRequest},
		{"no revisions", "/api/scmdiff?type=git&uri=" + url.QueryEscape(uri), http.StatusBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := c.do("GET", tt.path, nil)
			require.Equal(t, tt.code, res.code, res.body)
			require.Contains(t, res.body, `"error"`)
			require.NoFileExists(t, filepath.Join(outside, "x"))
		})
	}

	// Without the port the route is not available.
	bare := newEnv(t, envOpts{})
	require.Equal(t, http.StatusNotImplemented, bare.anon().do("GET", q("git", uri, rev1, rev2), nil).code)
}

// TestHydraJobsetTabs is Jobset.pm's jobs-tab and channels-tab: the jobs
// (or channel jobs) of the newest evaluations with new builds, with each
// one's build per evaluation; the jobs tab filters by a part of the name.
func TestHydraJobsetTabs(t *testing.T) {
	e := newEnv(t, envOpts{})
	var jobsetID int64
	require.NoError(t, e.pool.QueryRow(e.ctx, `select id from jobsets where name = 'j'`).Scan(&jobsetID))
	drvPath := drv("nixexprs-30")
	e.appendEvents(streams.Build(30), events.BuildQueued{BuildID: 30, EvalID: 3, JobsetID: jobsetID, Project: "p", Jobset: "j",
		Job: "nixexprs", NixName: "nixexprs", DrvPath: drvPath, System: "x86_64-linux", Meta: events.JobMeta{IsChannel: true},
		Timestamp: now.Unix()})
	e.appendEvents(streams.Eval(3), events.EvaluationStarted{EvalID: 3, Project: "p", Jobset: "j", JobsetID: jobsetID, StartTime: now.Unix()},
		events.JobEvaluated{EvalID: 3, Job: "nixexprs", System: "x86_64-linux", BuildID: 30, IsNew: true, DrvPath: drvPath},
		events.JobEvaluated{EvalID: 3, Job: "hello", System: "x86_64-linux", BuildID: 5, DrvPath: drv("hello-5")},
		events.EvaluationFinished{EvalID: 3, Project: "p", Jobset: "j", JobsetID: jobsetID, Hash: "h3", Timestamp: now.Unix(),
			NrBuilds: 2, HasNewBuilds: true})
	e.catchUp()
	c := e.anon()

	type cell struct {
		ID          int64 `json:"id"`
		Finished    int   `json:"finished"`
		BuildStatus *int  `json:"buildstatus"`
	}
	var jobs struct {
		Evals map[string]struct {
			Timestamp int64           `json:"timestamp"`
			Builds    map[string]cell `json:"builds"`
		} `json:"evals"`
		Jobs     []string `json:"jobs"`
		NrJobs   int      `json:"nrJobs"`
		Channels []string `json:"channels"`
	}
	res := c.do("GET", "/jobset/p/j/jobs-tab", nil)
	require.Equal(t, http.StatusOK, res.code, res.body)
	res.json(t, &jobs)
	require.Equal(t, []string{"broken", "fresh", "gone", "hello", "waiting"}, jobs.Jobs, "channel jobs are not jobs")
	require.Equal(t, 5, jobs.NrJobs)
	require.Len(t, jobs.Evals, 3)
	require.Equal(t, int64(1), jobs.Evals["1"].Builds["hello"].ID)
	require.Equal(t, int64(5), jobs.Evals["2"].Builds["hello"].ID)
	require.Equal(t, 1, jobs.Evals["2"].Builds["hello"].Finished)
	require.Equal(t, 1, *jobs.Evals["2"].Builds["hello"].BuildStatus)
	require.Equal(t, 0, jobs.Evals["2"].Builds["waiting"].Finished)

	res = c.do("GET", "/jobset/p/j/jobs-tab?filter=HEL", nil)
	require.Equal(t, http.StatusOK, res.code)
	jobs.Jobs = nil
	res.json(t, &jobs)
	require.Equal(t, []string{"hello"}, jobs.Jobs, "filtered case-insensitively")
	res = c.do("GET", "/jobset/p/j/jobs-tab?filter=%25", nil)
	jobs.Jobs = nil
	res.json(t, &jobs)
	require.Empty(t, jobs.Jobs, "a %% in the filter is a character, not a wildcard")

	res = c.do("GET", "/jobset/p/j/channels-tab", nil)
	require.Equal(t, http.StatusOK, res.code, res.body)
	res.json(t, &jobs)
	require.Equal(t, []string{"nixexprs"}, jobs.Channels)

	for _, path := range []string{"/jobset/p/j/jobs-tab", "/jobset/p/j/channels-tab"} {
		html := c.do("GET", path, nil, "Accept", "text/html")
		require.Equal(t, http.StatusOK, html.code)
		require.Contains(t, html.body, `href="/eval/3"`)
	}
	html := c.do("GET", "/jobset/p/j/channels-tab", nil, "Accept", "text/html")
	require.Contains(t, html.body, `href="/channel/custom/p/j/nixexprs"`)
	require.Contains(t, html.body, `href="/build/30"`)
	require.Equal(t, http.StatusNotFound, c.do("GET", "/jobset/p/nope/jobs-tab", nil).code)
}
