package web_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/commands"
	"buildledger/domain/streams"
	"buildledger/events"
)

// freshBuild queues a new build of p:j (finished with status 1 if
// finished) and returns its id.
func (e *env) freshBuild(id int64, finished bool) int64 {
	e.t.Helper()
	var jobsetID int64
	require.NoError(e.t, e.pool.QueryRow(e.ctx, `select id from jobsets where project = 'p' and name = 'j'`).Scan(&jobsetID))
	e.appendEvents(streams.Build(id), events.BuildQueued{BuildID: id, JobsetID: jobsetID, Project: "p", Jobset: "j",
		Job: fmt.Sprintf("job%d", id), DrvPath: drv(fmt.Sprintf("x%d", id)), System: "x86_64-linux", Timestamp: now.Unix()})
	if finished {
		e.appendEvents(streams.Build(id), events.BuildFinished{BuildID: id, Status: 1, StartTime: now.Unix() - 5, StopTime: now.Unix()})
	}
	e.catchUp()
	return id
}

func (e *env) freshProject(name string) {
	e.t.Helper()
	_, err := e.h.CreateProject(e.ctx, e.md(), commands.CreateProject{Name: name, Config: events.ProjectConfig{DisplayName: name, Owner: "owner", Enabled: true}})
	require.NoError(e.t, err)
	_, err = e.h.SetProjectMembers(e.ctx, e.md(), commands.SetProjectMembers{Name: name, Members: []string{"member"}})
	require.NoError(e.t, err)
	e.catchUp()
}

func (e *env) freshJobset(name string) {
	e.t.Helper()
	_, err := e.h.CreateJobset(e.ctx, e.md(), commands.CreateJobset{Project: "p", Name: name, Config: legacyJobset()})
	require.NoError(e.t, err)
	e.catchUp()
}

func legacyJobset() events.JobsetConfig {
	return events.JobsetConfig{Type: 0, NixExprInput: "src", NixExprPath: "release.nix", Enabled: 1, KeepNr: 3,
		CheckInterval: 300, SchedulingShares: 100, Inputs: []events.JobsetInput{{Name: "src", Type: "path", Value: "/tmp/src"}}}
}

func jobsetBody() map[string]any {
	return map[string]any{"nixexprinput": "src", "nixexprpath": "release.nix", "enabled": 1, "checkinterval": 300,
		"schedulingshares": 100, "keepnr": 3, "visible": true, "type": 0,
		"inputs": map[string]any{"src": map[string]any{"type": "git", "value": "https://example.org/x.git"}}}
}

// TestRoleMatrix sends every mutating route as every role and checks that
// it is allowed or refused as Hydra's rules (CatalystUtils) say.
func TestRoleMatrix(t *testing.T) {
	e := newEnv(t, envOpts{})
	principals := []string{"", "admin", "creator", "restarter", "bumper", "canceller", "evaluator", "owner", "member", "nobody"}
	owners := []string{"admin", "owner", "member"}
	plus := func(role string) []string { return append([]string{role}, owners...) }
	nextID := int64(100)
	id := func() int64 { nextID++; return nextID }
	type route struct {
		name    string
		allowed []string
		// req prepares a fresh target for user and returns the request.
		req func(user string) (method, path string, body any)
	}
	routes := []route{
		{"create project", []string{"admin", "creator"}, func(u string) (string, string, any) {
			return "PUT", "/project/new-" + u, map[string]any{"displayname": "New", "enabled": true, "visible": true}
		}},
		{"update project", owners, func(u string) (string, string, any) {
			return "PUT", "/project/p", map[string]any{"displayname": "Project P", "description": "the test project", "owner": "owner", "enabled": true, "visible": true}
		}},
		{"delete project", owners, func(u string) (string, string, any) {
			e.freshProject("del-" + u)
			return "DELETE", "/project/del-" + u, nil
		}},
		{"create jobset", owners, func(u string) (string, string, any) { return "PUT", "/jobset/p/new-" + u, jobsetBody() }},
		{"update jobset", owners, func(u string) (string, string, any) { return "PUT", "/jobset/p/j", jobsetBody() }},
		{"delete jobset", []string{"admin"}, func(u string) (string, string, any) {
			e.freshJobset("del-" + u)
			return "DELETE", "/jobset/p/del-" + u, nil
		}},
		{"evaluate jobset", plus("evaluator"), func(string) (string, string, any) { return "POST", "/jobset/p/j/evaluate", nil }},
		{"api push", plus("evaluator"), func(string) (string, string, any) { return "POST", "/api/push?jobsets=p:j", nil }},
		{"restart build", plus("restarter"), func(string) (string, string, any) {
			return "POST", fmt.Sprintf("/build/%d/restart", e.freshBuild(id(), true)), nil
		}},
		{"cancel build", plus("canceller"), func(string) (string, string, any) {
			return "POST", fmt.Sprintf("/build/%d/cancel", e.freshBuild(id(), false)), nil
		}},
		{"bump build", plus("bumper"), func(string) (string, string, any) {
			return "POST", fmt.Sprintf("/build/%d/bump", e.freshBuild(id(), false)), nil
		}},
		{"keep build", owners, func(string) (string, string, any) {
			return "POST", fmt.Sprintf("/build/%d/keep/1", e.freshBuild(id(), true)), nil
		}},
		{"eval restart-failed", plus("restarter"), func(string) (string, string, any) { return "POST", "/eval/2/restart-failed", nil }},
		{"eval restart-aborted", plus("restarter"), func(string) (string, string, any) { return "POST", "/eval/2/restart-aborted", nil }},
		{"eval cancel", plus("canceller"), func(string) (string, string, any) { return "POST", "/eval/1/cancel", nil }},
		{"eval bump", plus("bumper"), func(string) (string, string, any) { return "POST", "/eval/2/bump", nil }},
		{"create user", []string{"admin"}, func(u string) (string, string, any) {
			return "POST", "/admin/users", map[string]any{"username": "new" + u, "emailaddress": "n@example.org", "password": "longenough"}
		}},
		{"set roles", []string{"admin"}, func(string) (string, string, any) {
			return "POST", "/user/nobody", map[string]any{"emailaddress": "nobody@example.org", "userroles": []string{}}
		}},
		{"update profile", []string{"admin", "owner"}, func(string) (string, string, any) {
			return "POST", "/user/owner", map[string]any{"fullname": "The Owner", "emailaddress": "owner@example.org"}
		}},
		// Admins mint tokens for others; the actor then names them (L7,
		// TestTokenMintedByAdmin).
		{"create token", []string{"admin", "owner"}, func(u string) (string, string, any) {
			return "POST", "/user/owner/tokens", map[string]any{"name": "t-" + u}
		}},
	}
	clients := map[string]*client{}
	for _, p := range principals {
		clients[p] = e.as(p)
	}
	for _, r := range routes {
		for _, p := range principals {
			method, path, body := r.req(p)
			res := clients[p].do(method, path, body)
			label := fmt.Sprintf("%s as %q: %s %s -> %d %s", r.name, p, method, path, res.code, res.body)
			switch {
			case slices.Contains(r.allowed, p):
				require.Contains(t, []int{http.StatusOK, http.StatusCreated}, res.code, label)
			case p == "":
				require.Equal(t, http.StatusForbidden, res.code, label)
				require.Contains(t, res.body, `"error"`, label)
			default:
				require.Equal(t, http.StatusForbidden, res.code, label)
				require.Contains(t, res.body, `"error"`, label)
			}
		}
	}
	// Refused deletions left their targets alone; allowed ones removed them.
	var left []string
	rows, err := e.pool.Query(e.ctx, `select name from projects where name like 'del-%' order by name`)
	require.NoError(t, err)
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		left = append(left, n)
	}
	rows.Close()
	require.Equal(t, []string{"del-", "del-bumper", "del-canceller", "del-creator", "del-evaluator", "del-nobody", "del-restarter"}, left)
}

// TestProjectTakeover: only admins choose a project's owner (Hydra's
// updateProject), and only its owner or an admin changes its members. A
// member once locked the owner out of their own project, and a
// create-projects user could create projects in an admin's name.
func TestProjectTakeover(t *testing.T) {
	e := newEnv(t, envOpts{})
	tests := []struct {
		name, as, method, path string
		body                   map[string]any
		code                   int
	}{
		{"member makes itself owner", "member", "PUT", "/project/p", map[string]any{"owner": "member"}, http.StatusForbidden},
		{"member empties the members", "member", "PUT", "/project/p", map[string]any{"members": []string{}}, http.StatusForbidden},
		{"member edits the description", "member", "PUT", "/project/p", map[string]any{"description": "by member"}, http.StatusOK},
		{"owner hands the project over", "owner", "PUT", "/project/p", map[string]any{"owner": "nobody"}, http.StatusForbidden},
		{"owner changes the members", "owner", "PUT", "/project/p", map[string]any{"members": []string{"member", "nobody"}}, http.StatusOK},
		{"creator creates in admin's name", "creator", "PUT", "/project/q", map[string]any{"owner": "admin"}, http.StatusForbidden},
		{"creator creates its own", "creator", "PUT", "/project/q", map[string]any{}, http.StatusCreated},
		{"admin hands the project over", "admin", "PUT", "/project/p", map[string]any{"owner": "nobody"}, http.StatusOK},
	}
	for _, tt := range tests {
		res := e.as(tt.as).do(tt.method, tt.path, tt.body)
		require.Equal(t, tt.code, res.code, "%s: %s", tt.name, res.body)
		e.catchUp()
	}
	var owner string
	require.NoError(t, e.pool.QueryRow(e.ctx, `select owner from projects where name = 'q'`).Scan(&owner))
	require.Equal(t, "creator", owner)
}
