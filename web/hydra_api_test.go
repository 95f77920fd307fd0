package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/domain/streams"
	"buildledger/events"
)

// The requests and assertions of Hydra's own API tests
// (subprojects/hydra-tests: api-test.t, Controller/Build/api.t,
// Controller/Jobset/*.t, Controller/User/*.t, Controller/projects.t),
// written again in Go against buildledger. Hydra evaluates real Nix
// expressions there; here an evaluation's outcome is appended to the log
// as the evaluator records it, and the projections build Hydra's tables
// from it, as in production. Assertions that cannot apply are skipped
// with the reason.

// hydraEval records an evaluation of project:jobset with one queued
// build per job (job name → build id), as the evaluator would.
func (e *env) hydraEval(project, jobsetName string, evalID int64, revision string, jobs map[string]int64,
	constituents map[string][]int64) {
	e.t.Helper()
	var jobsetID int64
	require.NoError(e.t, e.pool.QueryRow(e.ctx, `select id from jobsets where project = $1 and name = $2`,
		project, jobsetName).Scan(&jobsetID))
	ts := now.Unix()
	e.appendEvents(streams.Eval(evalID), events.EvaluationStarted{EvalID: evalID, Project: project, Jobset: jobsetName,
		JobsetID: jobsetID, StartTime: ts})
	ps := []events.Payload{events.InputFetched{EvalID: evalID, Name: "my-src", Type: "path", URI: "/tmp/jobset",
		Revision: revision}}
	for job, id := range jobs {
		hash := fmt.Sprintf("%032d", id)
		drvPath := "/nix/store/" + hash[:31] + "d-" + job + ".drv"
		e.appendEvents(streams.Build(id), events.BuildQueued{BuildID: id, EvalID: evalID, JobsetID: jobsetID,
			Project: project, Jobset: jobsetName, Job: job, NixName: job, DrvPath: drvPath, System: "x86_64-linux",
			Meta: events.JobMeta{SchedulingPriority: 100}, Outputs: []events.Output{{Name: "out", Path: "/nix/store/" + hash[:31] + "o-" + job}},
			Timestamp: ts})
		ps = append(ps, events.JobEvaluated{EvalID: evalID, Job: job, System: "x86_64-linux", BuildID: id, IsNew: true,
			DrvPath: drvPath, ConstituentBuilds: constituents[job]})
	}
	ps = append(ps, events.EvaluationFinished{EvalID: evalID, Project: project, Jobset: jobsetName, JobsetID: jobsetID,
		Hash: revision, Timestamp: ts, NrBuilds: len(jobs), HasNewBuilds: true})
	e.appendEvents(streams.Eval(evalID), ps...)
	e.catchUp()
}

// TestHydraAPITest is api-test.t.
func TestHydraAPITest(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.anon()
	t.Run("login", func(t *testing.T) {
		res := c.do("POST", "/login", map[string]string{"username": "admin", "password": "wrong"})
		require.Equal(t, http.StatusForbidden, res.code, "Incorrect password rejected.")
		// User.pm's login_POST: a missing name or password is a 400.
		require.Equal(t, http.StatusBadRequest, c.do("POST", "/login", map[string]string{"password": "x"}).code)
		require.Equal(t, http.StatusBadRequest, c.do("POST", "/login", map[string]string{"username": "admin"}).code)
		res = c.do("POST", "/login", map[string]string{"username": "admin", "password": testPassword})
		require.Equal(t, http.StatusFound, res.code, "Hydra answers 302 with the user")
		require.Equal(t, "/current-user", res.header.Get("Location"))
		var user struct {
			UserName  string   `json:"username"`
			UserRoles []string `json:"userroles"`
		}
		res.json(t, &user)
		require.Equal(t, "admin", user.UserName)
		require.Equal(t, "admin", user.UserRoles[0])
		c.do("GET", "/current-user", nil).json(t, &user)
		require.Equal(t, "admin", user.UserName)
		require.Equal(t, "admin", user.UserRoles[0])
	})
	t.Run("projects", func(t *testing.T) {
		require.Equal(t, http.StatusNotFound, c.do("GET", "/project/sample", nil).code)
		res := c.do("PUT", "/project/sample", map[string]string{"displayname": "Sample", "enabled": "1", "visible": "1"})
		require.Equal(t, http.StatusCreated, res.code, res.body)
		var p struct{ Jobsets []string }
		c.do("GET", "/project/sample", nil).json(t, &p)
		require.Empty(t, p.Jobsets, "A new project has no jobsets")
	})
	t.Run("jobsets", func(t *testing.T) {
		res := c.do("PUT", "/jobset/sample/default", map[string]any{"nixexprpath": "default.nix", "nixexprinput": "my-src",
			"inputs":  map[string]any{"my-src": map[string]string{"type": "path", "value": "/tmp/jobset"}},
			"enabled": "1", "visible": "1", "checkinterval": "3600"})
		require.Equal(t, http.StatusCreated, res.code, res.body)
		var j struct {
			Inputs map[string]struct{ Value string }
		}
		c.do("GET", "/jobset/sample/default", nil).json(t, &j)
		require.Contains(t, j.Inputs, "my-src")
		require.Equal(t, "/tmp/jobset", j.Inputs["my-src"].Value)
	})
	type evalJSON struct {
		HasNewBuilds     int     `json:"hasnewbuilds"`
		Builds           []int64 `json:"builds"`
		JobsetEvalInputs map[string]struct {
			Revision string `json:"revision"`
		} `json:"jobsetevalinputs"`
	}
	var evals struct{ Evals []evalJSON }
	t.Run("evaluation", func(t *testing.T) {
		e.hydraEval("sample", "default", 10, "rev1", map[string]int64{"job": 1000}, nil)
		res := c.do("GET", "/jobset/sample/default/evals", nil)
		require.Equal(t, http.StatusOK, res.code)
		res.json(t, &evals)
		require.Equal(t, 1, evals.Evals[0].HasNewBuilds, "The first eval of a jobset has new builds")

		e.hydraEval("sample", "default", 11, "rev2", map[string]int64{"job": 1001}, nil)
		c.do("GET", "/jobset/sample/default/evals", nil).json(t, &evals)
		require.Len(t, evals.Evals, 2, "Changing a jobset source creates the second evaluation")
		require.NotEqual(t, evals.Evals[0].JobsetEvalInputs["my-src"].Revision, evals.Evals[1].JobsetEvalInputs["my-src"].Revision)

		var build struct {
			Job          string `json:"job"`
			Finished     int    `json:"finished"`
			BuildOutputs map[string]struct {
				Path string `json:"path"`
			} `json:"buildoutputs"`
		}
		c.do("GET", fmt.Sprintf("/build/%d", evals.Evals[0].Builds[0]), nil).json(t, &build)
		require.Equal(t, "job", build.Job)
		require.Equal(t, 0, build.Finished, "The build isn't finished yet")
		require.Regexp(t, regexp.MustCompile(`/nix/store/[a-zA-Z0-9]{32}-job$`), build.BuildOutputs["out"].Path)

		var search struct {
			Projects []struct{ Name string }
			Builds   []struct {
				BuildOutputs map[string]struct {
					Path string `json:"path"`
				} `json:"buildoutputs"`
			}
		}
		c.do("GET", "/search/?query=sample", nil).json(t, &search)
		require.Equal(t, "sample", search.Projects[0].Name, "Search for project 'sample' works")
		out := build.BuildOutputs["out"].Path
		c.do("GET", "/search/?query="+url.QueryEscape(out), nil).json(t, &search)
		require.Equal(t, out, search.Builds[0].BuildOutputs["out"].Path, "Search for builds work")
	})
	t.Run("delete project", func(t *testing.T) {
		require.Equal(t, http.StatusOK, c.do("DELETE", "/project/sample", nil).code, "with evaluations and builds")
		require.Equal(t, http.StatusCreated, c.do("PUT", "/project/sample2",
			map[string]string{"displayname": "Sample2", "enabled": "1", "visible": "1"}).code)
		res := c.do("PUT", "/jobset/sample2/default2", map[string]string{"type": "1", "flake": "github:nixos/nix",
			"enabled": "1", "visible": "1", "checkinterval": "0"})
		require.Equal(t, http.StatusCreated, res.code, res.body)
		require.Equal(t, http.StatusOK, c.do("DELETE", "/project/sample2", nil).code, "without evaluations and builds")
	})
}

// formLogin signs c in through the HTML form, as Hydra's controller
// tests do, and checks Hydra's answer: 302.
func formLogin(t *testing.T, c *client, user string) {
	t.Helper()
	res := c.do("POST", "/login", "username="+user+"&password="+url.QueryEscape(testPassword),
		"Content-Type", "application/x-www-form-urlencoded", "Accept", "text/html")
	require.Equal(t, http.StatusFound, res.code, res.body)
}

// TestHydraBuildAPI is Controller/Build/api.t: the JSON of a finished
// aggregate build, key for key, and its constituents.
func TestHydraBuildAPI(t *testing.T) {
	e := newEnv(t, envOpts{})
	admin := e.as("admin")
	require.Equal(t, http.StatusCreated, admin.do("PUT", "/project/tests",
		map[string]any{"displayname": "", "owner": "admin", "enabled": true, "visible": true}).code)
	require.Equal(t, http.StatusCreated, admin.do("PUT", "/jobset/tests/aggregate", map[string]any{
		"nixexprpath": "aggregate.nix", "nixexprinput": "jobs", "enabled": 1, "visible": true,
		"inputs": map[string]any{"jobs": map[string]string{"type": "path", "value": "/tmp/jobs"}}}).code)
	e.hydraEval("tests", "aggregate", 20, "r", map[string]int64{"a": 2001, "b": 2002, "aggregate": 2003},
		map[string][]int64{"aggregate": {2001, 2002}})
	var nrQueued int
	require.NoError(t, e.pool.QueryRow(e.ctx, `select count(*) from builds b join jobsets j on j.id = b.jobset_id
		where j.name = 'aggregate' and b.finished = 0`).Scan(&nrQueued))
	require.Equal(t, 3, nrQueued, "Evaluating jobs/aggregate.nix should result in 3 builds")
	var outPath string
	for _, id := range []int64{2001, 2002, 2003} {
		e.appendEvents(streams.Build(id), events.BuildFinished{BuildID: id, Status: 0, StartTime: now.Unix() + 1,
			StopTime: now.Unix() + 2})
	}
	require.NoError(t, e.pool.QueryRow(e.ctx, `select path from buildoutputs where build = 2003`).Scan(&outPath))
	e.appendEvents(streams.Build(2003), events.ProductScraped{BuildID: 2003, ProductNr: 1, Type: "nix-build",
		Name: "aggregate", Path: outPath})
	e.catchUp()

	anon := e.anon()
	res := anon.do("GET", "/job/tests/aggregate/aggregate/latest-finished", nil)
	require.Equal(t, http.StatusFound, res.code, res.body)
	buildURL := res.header.Get("Location")

	t.Run("validating the JSON representation of a build", func(t *testing.T) {
		res := anon.do("GET", buildURL, nil)
		require.Equal(t, http.StatusOK, res.code, "Getting the build data")
		var got map[string]any
		res.json(t, &got)
		var drvPath string
		require.NoError(t, e.pool.QueryRow(e.ctx, `select drvpath from builds where id = 2003`).Scan(&drvPath))
		start, stop := float64(now.Unix()+1), float64(now.Unix()+2)
		want := map[string]any{
			"project": "tests", "jobset": "aggregate", "buildmetrics": map[string]any{},
			"buildoutputs": map[string]any{"out": map[string]any{"path": outPath}},
			"buildproducts": map[string]any{"1": map[string]any{"defaultpath": "", "filesize": nil, "name": "aggregate",
				"path": outPath, "sha256hash": nil, "subtype": "", "type": "nix-build"}},
			"buildstatus": float64(0), "drvpath": drvPath, "finished": float64(1), "id": float64(2003),
			"job": "aggregate", "jobsetevals": []any{float64(20)}, "nixname": "aggregate", "priority": float64(100),
			"releasename": nil, "starttime": start, "stoptime": stop, "timestamp": float64(now.Unix()),
			"system": "x86_64-linux",
		}
		for k, v := range want {
			require.Contains(t, got, k)
			require.Equal(t, v, got[k], k)
		}
		// buildledger's documented extensions (docs/openapi.yaml); Hydra
		// sends none of them, and no other key may appear.
		for k := range got {
			if _, ok := want[k]; !ok {
				require.Contains(t, []string{"globalpriority", "iscachedbuild", "keep", "size", "closuresize", "steps"}, k)
			}
		}
	})
	t.Run("accessing the constituents API", func(t *testing.T) {
		res := anon.do("GET", buildURL+"/constituents", nil)
		require.Equal(t, http.StatusOK, res.code)
		var cs []struct {
			NixName string `json:"nixname"`
			Job     string `json:"job"`
		}
		res.json(t, &cs)
		jobs := map[string]string{}
		for _, b := range cs {
			jobs[b.NixName] = b.Job
		}
		// Hydra's job names its builds empty-dir-a and empty-dir-b; here
		// the nix name is the job's.
		require.Equal(t, map[string]string{"a": "a", "b": "b"}, jobs)
	})
}

// projectWithout is the project JSON of res without the buildledger
// extension key.
func projectWithout(t *testing.T, res response, extension string) map[string]any {
	t.Helper()
	require.Equal(t, http.StatusOK, res.code, res.body)
	var got map[string]any
	res.json(t, &got)
	delete(got, extension)
	return got
}

// TestHydraProjects is Controller/projects.t.
func TestHydraProjects(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.anon()
	formLogin(t, c, "admin")
	require.Equal(t, http.StatusCreated, c.do("PUT", "/project/tests",
		map[string]any{"displayname": "Tests", "owner": "admin", "enabled": true, "visible": true}).code)
	base := map[string]any{"description": "", "displayname": "Tests", "enabled": true, "enable_dynamic_run_command": false,
		"hidden": false, "homepage": "", "jobsets": []any{}, "name": "tests", "owner": "admin"}
	t.Run("Read project 'tests'", func(t *testing.T) {
		require.Equal(t, base, projectWithout(t, e.anon().do("GET", "/project/tests", nil), "members"))
	})
	t.Run("Transitioning from declarative project to normal", func(t *testing.T) {
		decl := map[string]any{"file": "bogus", "type": "boolean", "value": "false"}
		res := c.do("PUT", "/project/tests", map[string]any{"enabled": true, "visible": true, "name": "tests",
			"displayname": "Tests", "declarative": decl})
		require.Less(t, res.code, 300, res.body)
		want := map[string]any{"declarative": decl}
		for k, v := range base {
			want[k] = v
		}
		// The project now has its ".jobsets" jobset, which the read
		// models show once the projector has caught up: the jobset list
		// is left out of this comparison.
		got := projectWithout(t, e.anon().do("GET", "/project/tests", nil), "members")
		delete(got, "jobsets")
		delete(want, "jobsets")
		require.Equal(t, want, got)
		jobsetBody := map[string]any{"enabled": 1, "visible": true, "nixexprinput": "src", "nixexprpath": "default.nix",
			"checkinterval": 300, "schedulingshares": 1, "keepnr": 1, "inputs": map[string]any{"src": map[string]any{"type": "string", "value": "x"}}}
		res = c.do("PUT", "/jobset/tests/byhand", jobsetBody)
		require.Equal(t, http.StatusForbidden, res.code, "the jobsets of a declarative project are its spec's: %s", res.body)
		require.Contains(t, res.body, "can't modify jobset of declarative project")

		res = c.do("PUT", "/project/tests", map[string]any{"enabled": true, "visible": true, "name": "tests",
			"displayname": "Tests", "declarative": map[string]any{"file": "", "type": "boolean", "value": "false"}})
		require.Less(t, res.code, 300, res.body)
		require.Equal(t, base, projectWithout(t, e.anon().do("GET", "/project/tests", nil), "members"))
	})
	t.Run("403 without a sign-in", func(t *testing.T) {
		require.Equal(t, http.StatusForbidden, e.anon().do("PUT", "/project/tests", map[string]any{"displayname": "X"}).code)
	})
}

// TestHydraJobsetHTTP is Controller/Jobset/http.t.
func TestHydraJobsetHTTP(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.anon()
	formLogin(t, c, "admin")
	require.Equal(t, http.StatusCreated, c.do("PUT", "/project/tests",
		map[string]any{"displayname": "Tests", "owner": "admin", "enabled": true, "visible": true}).code)
	read := func() map[string]any {
		res := e.anon().do("GET", "/jobset/tests/job", nil)
		require.Equal(t, http.StatusOK, res.code, res.body)
		var got map[string]any
		res.json(t, &got)
		return got
	}
	t.Run(`Create new jobset "job" as flake type`, func(t *testing.T) {
		res := c.do("PUT", "/jobset/tests/job", map[string]any{"enabled": 2, "visible": true, "name": "job", "type": 1,
			"description": "test jobset", "flake": "github:nixos/nix", "checkinterval": 0, "schedulingshares": 100, "keepnr": 3})
		require.Less(t, res.code, 300, res.body)
		require.Equal(t, e.srv.URL+"/jobset/tests/job", res.header.Get("Location"))
	})
	t.Run(`Read newly-created jobset "job"`, func(t *testing.T) {
		require.Equal(t, map[string]any{"checkinterval": float64(0), "description": "test jobset", "emailoverride": "",
			"enabled": float64(2), "enableemail": false, "enable_dynamic_run_command": false, "errortime": nil,
			"errormsg": "", "fetcherrormsg": "", "flake": "github:nixos/nix", "visible": true, "inputs": map[string]any{},
			"keepnr": float64(3), "lastcheckedtime": nil, "name": "job", "nixexprinput": "", "nixexprpath": "",
			"project": "tests", "schedulingshares": float64(100), "starttime": nil, "triggertime": nil, "type": float64(1)},
			read())
	})
	t.Run(`Update jobset "job" to legacy type`, func(t *testing.T) {
		res := c.do("PUT", "/jobset/tests/job", map[string]any{"enabled": 3, "visible": true, "name": "job", "type": 0,
			"nixexprinput": "ofborg", "nixexprpath": "release.nix",
			"inputs": map[string]any{"ofborg": map[string]any{"name": "ofborg", "type": "git",
				"value": "https://github.com/NixOS/ofborg.git released"}},
			"description": "test jobset", "checkinterval": 0, "schedulingshares": 50, "keepnr": 1})
		require.Less(t, res.code, 300, res.body)
		require.Equal(t, map[string]any{"checkinterval": float64(0), "description": "test jobset", "emailoverride": "",
			"enabled": float64(3), "enableemail": false, "enable_dynamic_run_command": false, "errortime": nil,
			"errormsg": "", "fetcherrormsg": "", "flake": "", "visible": true,
			"inputs": map[string]any{"ofborg": map[string]any{"name": "ofborg", "type": "git", "emailresponsible": false,
				"value": "https://github.com/NixOS/ofborg.git released"}},
			"keepnr": float64(1), "lastcheckedtime": nil, "name": "job", "nixexprinput": "ofborg",
			"nixexprpath": "release.nix", "project": "tests", "schedulingshares": float64(50), "starttime": nil,
			"triggertime": nil, "type": float64(0)}, read())
	})
	t.Run(`Update jobset "job" to have an invalid input type`, func(t *testing.T) {
		res := c.do("PUT", "/jobset/tests/job", map[string]any{"enabled": 3, "visible": true, "name": "job", "type": 0,
			"nixexprinput": "ofborg", "nixexprpath": "release.nix",
			"inputs": map[string]any{"ofborg": map[string]any{"name": "ofborg", "type": "123",
				"value": "https://github.com/NixOS/ofborg.git released"}},
			"description": "test jobset", "checkinterval": 0, "schedulingshares": 50, "keepnr": 1})
		require.GreaterOrEqual(t, res.code, 400)
		// Hydra's message: "Invalid input type ‘123’; valid types: …".
		require.Contains(t, strings.ToLower(res.body), "input")
	})
	t.Run(`Delete jobset "job"`, func(t *testing.T) {
		require.Equal(t, http.StatusOK, c.do("DELETE", "/jobset/tests/job", nil).code)
		require.Equal(t, http.StatusNotFound, e.anon().do("GET", "/jobset/tests/job", nil).code)
	})
}

// TestHydraJobsetPages is Controller/Jobset/evals.t and builds.t: the
// jobset's pages answer 200.
func TestHydraJobsetPages(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.anon()
	for _, p := range []string{"/jobset/p/j", "/jobset/p/j/evals", "/jobset/p/j/errors", "/jobset/p/j/all",
		"/jobset/p/j/channel/latest"} {
		res := c.do("GET", p, nil, "Accept", "")
		require.Equal(t, http.StatusOK, res.code, p)
	}
	// channel.t fetches …/channel/latest/nixexprs.tar.bz2 and queries it
	// with nix-env: that route is the hydra-routes change's (channels),
	// not this one's.
}

// TestHydraJobsetTypeConstraints is Controller/Jobset/type-constraints.t:
// a stored legacy jobset has nixexprinput and nixexprpath and no flake, a
// flake jobset a flake and neither of the others. Hydra checks the rows
// with a table constraint; through the API (Hydra's updateJobset too) a
// PUT missing a field its type needs is refused, and the fields of the
// other type are dropped, so what is stored always satisfies it.
func TestHydraJobsetTypeConstraints(t *testing.T) {
	e := newEnv(t, envOpts{})
	admin := e.as("admin")
	for _, typ := range []int{0, 1, 2} {
		for _, in := range []string{"", "input"} {
			for _, path := range []string{"", "path"} {
				for _, flake := range []string{"", "flake"} {
					// buildledger also wants the expression's input among
					// the jobset's inputs.
					body := map[string]any{"type": typ, "enabled": 1, "visible": true,
						"inputs": map[string]any{"input": map[string]string{"type": "string", "value": "x"}}}
					if in != "" {
						body["nixexprinput"] = in
					}
					if path != "" {
						body["nixexprpath"] = path
					}
					if flake != "" {
						body["flake"] = "github:acme/" + flake
					}
					ok := (typ == 0 && in != "" && path != "") || (typ == 1 && flake != "")
					res := admin.do("PUT", "/jobset/p/test", body)
					label := fmt.Sprintf("type %d input %q path %q flake %q: %s", typ, in, path, flake, res.body)
					if !ok {
						require.GreaterOrEqual(t, res.code, 400, label)
						continue
					}
					require.Equal(t, http.StatusCreated, res.code, label)
					var j struct{ NixExprInput, NixExprPath, Flake string }
					admin.do("GET", "/jobset/p/test", nil).json(t, &j)
					if typ == 0 {
						require.Equal(t, "", j.Flake, label)
					} else {
						require.Equal(t, "", j.NixExprInput+j.NixExprPath, label)
					}
					require.Equal(t, http.StatusOK, admin.do("DELETE", "/jobset/p/test", nil).code)
				}
			}
		}
	}
}

// TestHydraUser is Controller/User/dashboard.t: a user signs in with the
// form (302). Its my-jobs-tab (starred jobs) is the hydra-routes
// change's; ldap.t and ldap-legacy.t sign in through LDAP, which
// buildledger does not speak, so they do not apply.
func TestHydraUser(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.anon()
	formLogin(t, c, "member")
	res := c.do("GET", "/current-user", nil)
	require.Equal(t, http.StatusOK, res.code)
	require.Contains(t, res.body, `"username":"member"`)
	require.Equal(t, http.StatusNoContent, c.do("POST", "/logout", nil).code)
	require.Equal(t, http.StatusForbidden, c.do("GET", "/current-user", nil).code)
}
