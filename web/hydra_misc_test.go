package web_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/domain/streams"
	"buildledger/events"
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
