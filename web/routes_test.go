package web_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadRoutes checks status codes and Hydra's JSON field names of the
// read routes.
func TestReadRoutes(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.anon()
	tests := []struct {
		path string
		code int
		// keys that must be in the JSON object (or in the first element of
		// an array).
		keys []string
		// contains is a substring of the body.
		contains string
	}{
		{"/", 200, []string{"name", "displayname", "description", "owner", "enabled", "hidden", "jobsets"}, `"jobsets":["j"]`},
		{"/project/p", 200, []string{"name", "displayname", "homepage", "enable_dynamic_run_command", "jobsets"}, `"owner":"owner"`},
		{"/project/nope", 404, []string{"error"}, ""},
		{"/jobset/p/j", 200, []string{"name", "project", "description", "nixexprinput", "nixexprpath", "errormsg", "errortime",
			"lastcheckedtime", "triggertime", "enabled", "enableemail", "enable_dynamic_run_command", "visible", "emailoverride",
			"keepnr", "checkinterval", "schedulingshares", "fetcherrormsg", "starttime", "type", "flake", "inputs"},
			`"inputs":{"src":{"name":"src","type":"git","value":"https://github.com/acme/widget.git","emailresponsible":false}}`},
		{"/jobset/p/nope", 404, []string{"error"}, ""},
		{"/jobset/p/j/evals", 200, []string{"evals", "first", "last"}, `"first":"?page=1"`},
		{"/jobset/p/j/errors", 200, []string{"name", "project", "errormsg", "fetcherrormsg", "inputs"}, "undefined variable"},
		{"/eval/2", 200, []string{"id", "timestamp", "checkouttime", "evaltime", "hasnewbuilds", "flake", "builds", "jobsetevalinputs", "diff"},
			`"builds":[2,3,5,6]`},
		{"/eval/99", 404, []string{"error"}, ""},
		{"/eval/abc", 404, []string{"error"}, ""},
		{"/eval/2/builds", 200, []string{"id", "finished", "buildstatus", "buildoutputs", "buildproducts", "buildmetrics", "jobsetevals"}, ""},
		{"/eval/2/errors", 200, []string{"id", "hasnewbuilds", "builds", "jobsetevalinputs", "errormsg"}, "undefined variable 'oops'"},
		{"/build/1", 200, []string{"id", "finished", "timestamp", "starttime", "stoptime", "project", "jobset", "job", "nixname",
			"system", "priority", "buildstatus", "releasename", "drvpath", "jobsetevals", "buildoutputs", "buildproducts", "buildmetrics", "steps"},
			`"buildmetrics":{"lines":{"name":"lines","unit":"count","value":42}}`},
		{"/build/1/constituents", 200, nil, "[]"},
		{"/build/999", 404, []string{"error"}, ""},
		{"/queue", 200, []string{"id", "finished"}, `"finished":0`},
		{"/queue-summary", 200, []string{"project", "jobset", "system", "queued", "running"}, `"queued":2`},
		{"/machines", 200, nil, "{"},
		{"/steps", 200, []string{"build", "stepnr", "drvpath", "status", "machine"}, ""},
		{"/evals", 200, []string{"eval", "nrScheduled", "nrSucceeded", "nrFailed", "diff", "changedInputs"}, ""},
		{"/search?query=hello", 200, []string{"projects", "jobsets", "builds", "buildsdrv"}, `"job":"hello"`},
		{"/search?query=bad%20chars;", 400, []string{"error"}, ""},
		{"/api/latestbuilds?nr=2&project=p&jobset=j", 200, []string{"id", "buildstatus"}, ""},
		{"/api/jobsets?project=p", 200, []string{"name", "project", "nrtotal", "nrscheduled", "nrsucceeded", "nrfailed", "checkinterval",
			"haserrormsg", "errortime", "fetcherrormsg", "starttime", "lastcheckedtime", "triggertime"}, `"nrtotal":4`},
		{"/api/jobsets?project=nope", 404, []string{"error"}, ""},
		{"/api/jobsets", 400, []string{"error"}, ""},
		{"/api/queue?nr=1", 200, []string{"id"}, ""},
		{"/job/p/j/hello/shield", 200, []string{"schemaVersion", "label", "message", "color"}, `"message":"failing"`},
		{"/job/p/j/gone/shield", 200, nil, `"message":"passing"`},
		{"/job/p/j/hello", 200, []string{"id", "job"}, ""},
		{"/current-user", 403, []string{"error"}, ""},
		{"/no/such/page", 404, []string{"error"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res := c.do("GET", tt.path, nil)
			require.Equal(t, tt.code, res.code, res.body)
			require.Equal(t, "application/json", res.header.Get("Content-Type"))
			if len(tt.keys) > 0 {
				var obj map[string]any
				if strings.HasPrefix(strings.TrimSpace(res.body), "[") {
					var arr []map[string]any
					res.json(t, &arr)
					require.NotEmpty(t, arr)
					obj = arr[0]
				} else {
					res.json(t, &obj)
				}
				for _, k := range tt.keys {
					require.Contains(t, obj, k, "key %q in %s", k, res.body)
				}
			}
			require.Contains(t, res.body, tt.contains)
		})
	}
	// Plain-text count and redirects.
	res := c.do("GET", "/api/nrqueue", nil)
	require.Equal(t, "2", res.body)
	for path, want := range map[string]string{
		"/job/p/j/gone/latest":                  "/build/4",
		"/job/p/j/gone/latest-for/x86_64-linux": "/build/4",
	} {
		res := c.do("GET", path, nil)
		require.Equal(t, http.StatusFound, res.code, path)
		require.Equal(t, want, res.header.Get("Location"), path)
	}
	res = c.do("GET", "/job/p/j/hello/latest", nil)
	require.Equal(t, "/build/1", res.header.Get("Location"), "hello's newest build failed; the older success is build 1")
	require.Equal(t, 404, c.do("GET", "/job/p/j/gone/latest-for/aarch64-linux", nil).code)
	require.Equal(t, 404, c.do("GET", "/job/p/j/gone/latest-finished", nil).code, "eval 1 still has queued build 3")
	require.Equal(t, 404, c.do("GET", "/jobset/p/j/latest-eval", nil).code, "no evaluation has finished all its builds")
	require.Equal(t, 200, e.as("admin").do("POST", "/build/3/cancel", nil).code)
	for path, want := range map[string]string{
		"/jobset/p/j/latest-eval":                 "/eval/1",
		"/jobset/p/j/latest-eval/job/hello?x=1&y": "/eval/1/job/hello?x=1&y",
	} {
		res := c.do("GET", path, nil)
		require.Equal(t, http.StatusFound, res.code, path)
		require.Equal(t, want, res.header.Get("Location"), "the newest evaluation with new builds whose builds all finished (eval 2 has build 6 queued): %s", path)
	}
	res = c.do("GET", "/job/p/j/gone/latest-finished", nil)
	require.Equal(t, http.StatusFound, res.code)
	require.Equal(t, "/build/4", res.header.Get("Location"))
}

func TestEvalDiff(t *testing.T) {
	e := newEnv(t, envOpts{})
	type b struct {
		ID int64 `json:"id"`
	}
	var got struct {
		Diff struct {
			Previous                                                          int64
			New, Removed, NowFailing, StillFailing, NowSucceeding, Unfinished []b
		} `json:"diff"`
	}
	e.anon().do("GET", "/eval/2", nil).json(t, &got)
	ids := func(l []b) []int64 {
		out := []int64{}
		for _, b := range l {
			out = append(out, b.ID)
		}
		return out
	}
	d := got.Diff
	require.Equal(t, int64(1), d.Previous)
	require.Equal(t, []int64{6}, ids(d.New))
	require.Equal(t, []int64{4}, ids(d.Removed))
	require.Equal(t, []int64{5}, ids(d.NowFailing))
	require.Equal(t, []int64{2}, ids(d.StillFailing))
	require.Equal(t, []int64{}, ids(d.NowSucceeding))
	require.Equal(t, []int64{3}, ids(d.Unfinished))
}

// TestWriteRoutes checks the mutating routes' answers and error codes.
func TestWriteRoutes(t *testing.T) {
	e := newEnv(t, envOpts{})
	admin := e.as("admin")

	res := admin.do("PUT", "/project/q", map[string]any{"displayname": "Q", "owner": "owner", "enabled": "1", "visible": true,
		"declarative": map[string]string{"file": "spec.json", "type": "git", "value": "https://example.org/q"}})
	require.Equal(t, http.StatusCreated, res.code, res.body)
	require.JSONEq(t, `{"uri":"/project/q","name":"q","redirect":"/project/q","type":"project"}`, res.body)
	res = admin.do("GET", "/project/q", nil)
	require.Contains(t, res.body, `"declarative":{"file":"spec.json","type":"git","value":"https://example.org/q"}`)
	res = admin.do("PUT", "/project/q", map[string]any{"displayname": "Q2", "owner": "owner"})
	require.Equal(t, http.StatusOK, res.code, res.body)
	require.JSONEq(t, `{"redirect":"/project/q"}`, res.body)
	res = admin.do("PUT", "/project/q", map[string]any{"displayname": "Q2", "owner": "ghost"})
	require.Equal(t, http.StatusUnprocessableEntity, res.code, res.body)
	require.Contains(t, res.body, `"field":"owner"`)
	require.Equal(t, 422, admin.do("PUT", "/project/bad%20name", map[string]any{"displayname": "x"}).code)
	require.Equal(t, 400, admin.do("PUT", "/project/q", `{"displayname": `).code)
	require.Equal(t, 400, admin.do("PUT", "/project/q", `{"displayname": "a"} trailing`).code)
	require.Equal(t, 400, admin.do("PUT", "/jobset/q/x", `[1,2`).code)
	require.Equal(t, 422, admin.do("PUT", "/project/q", map[string]any{"name": "bad name"}).code)

	res = admin.do("PUT", "/jobset/q/main", jobsetBody())
	require.Equal(t, http.StatusCreated, res.code, res.body)
	require.JSONEq(t, `{"uri":"/jobset/q/main","name":"main","redirect":"/jobset/q/main","type":"jobset"}`, res.body)
	res = admin.do("GET", "/jobset/q/main", nil)
	require.Contains(t, res.body, `"inputs":{"src":{"name":"src","type":"git","value":"https://example.org/x.git","emailresponsible":false}}`)
	bad := jobsetBody()
	bad["schedulingshares"] = 0
	res = admin.do("PUT", "/jobset/q/main", bad)
	require.Equal(t, http.StatusUnprocessableEntity, res.code, res.body)
	require.Contains(t, res.body, "schedulingShares")
	// A project member may not make the evaluator poll every second.
	bad = jobsetBody()
	bad["checkinterval"] = 1
	res = admin.do("PUT", "/jobset/q/main", bad)
	require.Equal(t, http.StatusUnprocessableEntity, res.code, res.body)
	require.Contains(t, res.body, `"field":"checkInterval"`)
	require.Contains(t, res.body, "at least 60 seconds")
	require.Equal(t, 404, admin.do("PUT", "/jobset/nope/main", jobsetBody()).code)

	res = admin.do("POST", "/admin/users", map[string]any{"username": "owner", "emailaddress": "o@example.org", "password": "longenough"})
	require.Equal(t, http.StatusConflict, res.code, res.body)
	res = admin.do("POST", "/admin/users", map[string]any{"username": "short", "emailaddress": "o@example.org", "password": "x"})
	require.Equal(t, http.StatusUnprocessableEntity, res.code, res.body)

	// Build actions and their state rules.
	require.Equal(t, http.StatusConflict, admin.do("POST", "/build/1/cancel", nil).code)
	require.Equal(t, http.StatusConflict, admin.do("POST", "/build/3/restart", nil).code)
	require.Equal(t, http.StatusOK, admin.do("POST", "/build/3/bump", nil).code)
	res = admin.do("GET", "/build/3", nil)
	require.Contains(t, res.body, `"globalpriority":1700000000`)
	require.Equal(t, http.StatusOK, admin.do("POST", "/build/1/keep/1", nil).code)
	require.Contains(t, admin.do("GET", "/build/1", nil).body, `"keep":true`)
	require.Equal(t, http.StatusOK, admin.do("POST", "/build/1/restart", nil).code)
	require.Contains(t, admin.do("GET", "/build/1", nil).body, `"finished":0`)
	require.Equal(t, http.StatusOK, admin.do("POST", "/build/3/cancel", nil).code)
	require.Contains(t, admin.do("GET", "/build/3", nil).body, `"buildstatus":4`)
	require.Equal(t, 404, admin.do("POST", "/build/999/restart", nil).code)
	res = admin.do("POST", "/eval/2/restart-failed", nil)
	require.JSONEq(t, `{"count":3,"redirect":"/eval/2"}`, res.body, "builds 2 and 5 failed, 3 was cancelled")

	// The events tab shows who did it.
	res = admin.do("GET", "/build/3/events", nil)
	require.Contains(t, res.body, `"type":"BuildCancelled","actor":"user:admin"`)

	require.Equal(t, http.StatusOK, admin.do("DELETE", "/jobset/q/main", nil).code)
	require.Equal(t, 404, admin.do("GET", "/jobset/q/main", nil).code)
	require.Equal(t, 404, admin.do("DELETE", "/jobset/q/main", nil).code)
	res = admin.do("DELETE", "/project/q", nil)
	require.JSONEq(t, `{"redirect":"/"}`, res.body)
	require.Equal(t, 404, admin.do("GET", "/project/q", nil).code)
}

func TestPush(t *testing.T) {
	e := newEnv(t, envOpts{})
	res := e.as("evaluator").do("POST", "/api/push?jobsets=p:j&force=1", nil)
	require.JSONEq(t, `{"jobsetsTriggered":["p:j"]}`, res.body)
	res = e.as("evaluator").do("POST", "/api/push?repos=github.com/acme/widget", nil)
	require.JSONEq(t, `{"jobsetsTriggered":["p:j"]}`, res.body)
	require.Equal(t, 400, e.as("evaluator").do("POST", "/api/push?jobsets=nocolon", nil).code)
	require.Equal(t, 404, e.as("admin").do("POST", "/api/push?jobsets=zz:j", nil).code)

	body := `{"repository":{"full_name":"acme/widget","clone_url":"https://github.com/acme/widget.git"}}`
	sign := func(secret string) string {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(body))
		return hex.EncodeToString(m.Sum(nil))
	}
	anon := e.anon()
	res = anon.do("POST", "/api/push-github", body, "X-Hub-Signature-256", "sha256="+sign("gh-secret"), "Origin", "https://github.com")
	require.Equal(t, 200, res.code, res.body)
	require.JSONEq(t, `{"jobsetsTriggered":["p:j"]}`, res.body)
	res = anon.do("POST", "/api/push-github", body, "X-Hub-Signature-256", "sha256="+sign("wrong"))
	require.Equal(t, 401, res.code)
	require.Equal(t, 401, anon.do("POST", "/api/push-github", body).code)
	res = anon.do("POST", "/api/push-gitea", body, "X-Gitea-Signature", sign("gitea-secret"))
	require.Equal(t, 200, res.code, res.body)
	require.JSONEq(t, `{"jobsetsTriggered":["p:j"]}`, res.body)
	require.Equal(t, 401, anon.do("POST", "/api/push-gitea", body, "X-Gitea-Signature", sign("gh-secret")).code)

	res = e.as("admin").do("GET", "/jobset/p/j/events", nil)
	require.Contains(t, res.body, `"actor":"webhook:github"`)
	require.Contains(t, res.body, `"actor":"webhook:gitea"`)
	require.Contains(t, res.body, `"actor":"user:evaluator"`)
}
