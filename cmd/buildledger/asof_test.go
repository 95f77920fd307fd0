package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/commands"
	"buildledger/domain/domainerr"
	"buildledger/domain/password"
	"buildledger/domain/streams"
	"buildledger/events"
	"buildledger/projections"
)

// TestAsOfEqualsLiveThen records the live pages of the queue, a jobset and
// a build at one moment, lets the ledger move on, and asks for the same
// pages ?asof= that moment's position and time: they must be identical.
func TestAsOfEqualsLiveThen(t *testing.T) {
	ctx := context.Background()
	cfg := config{home: t.TempDir(), databaseURL: pgtest.URL(t)}
	sys, err := openSystem(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	defer sys.Close()
	md := commands.NewMetadata(commands.UserActor("tester"), sys.runtime)
	hash, err := password.Hash("alice-pw", password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	require.NoError(t, err)
	_, err = sys.handlers.CreateUser(ctx, md, commands.CreateUser{UserName: "alice", EmailAddress: "alice@example.org",
		PasswordHash: hash, Roles: []string{"admin"}})
	require.NoError(t, err)
	_, err = sys.handlers.CreateProject(ctx, md, commands.CreateProject{Name: "p", Config: events.ProjectConfig{DisplayName: "P", Owner: "alice", Enabled: true}})
	require.NoError(t, err)
	res, err := sys.handlers.CreateJobset(ctx, md, commands.CreateJobset{Project: "p", Name: "j", Config: events.JobsetConfig{
		NixExprInput: "src", NixExprPath: "release.nix", Enabled: 1, KeepNr: 3, CheckInterval: 60, SchedulingShares: 1,
		Inputs: []events.JobsetInput{{Name: "src", Type: "git", Value: "https://example.org/x.git"}}}})
	require.NoError(t, err)
	var jobsetID int64
	for _, e := range res.Events {
		p, err := sys.codec.Decode(events.Recorded{ID: e.ID, Type: e.Type, Version: e.Version, Data: e.Data})
		require.NoError(t, err)
		if c, ok := p.(*events.JobsetCreated); ok {
			jobsetID = c.ID
		}
	}
	add := func(stream string, p events.Payload) {
		ev, err := sys.codec.Encode(p, md, time.Now())
		require.NoError(t, err)
		_, err = sys.store.Append(ctx, stream, events.Any, ev)
		require.NoError(t, err)
	}
	eval := func(evalID int64, ids ...int64) {
		now := time.Now().Unix()
		add(streams.Eval(evalID), &events.EvaluationStarted{EvalID: evalID, Project: "p", Jobset: "j", JobsetID: jobsetID, StartTime: now})
		for _, id := range ids {
			drv := fmt.Sprintf("/nix/store/%032d-job.drv", id)
			add(streams.Build(id), &events.BuildQueued{BuildID: id, EvalID: evalID, JobsetID: jobsetID, Project: "p", Jobset: "j",
				Job: fmt.Sprintf("job%d", id), NixName: "job", DrvPath: drv, System: "x86_64-linux",
				Outputs: []events.Output{{Name: "out", Path: fmt.Sprintf("/nix/store/%032d-job", id)}}, Timestamp: now})
			add(streams.Step(drv), &events.StepQueued{DrvPath: drv, System: "x86_64-linux", BuildID: id, EvalID: evalID})
			add(streams.Eval(evalID), &events.JobEvaluated{EvalID: evalID, Job: fmt.Sprintf("job%d", id), BuildID: id, IsNew: true, System: "x86_64-linux"})
		}
		add(streams.Eval(evalID), &events.EvaluationFinished{EvalID: evalID, Project: "p", Jobset: "j", JobsetID: jobsetID,
			Hash: fmt.Sprint(evalID), Timestamp: now, NrBuilds: len(ids), NrNewBuilds: len(ids), HasNewBuilds: true})
	}
	project := func() {
		r, err := projections.NewRunner(sys.store, sys.codec, postgres.NewReadModelDB(sys.pool), readModels(sys.vault), projections.RunnerOptions{})
		require.NoError(t, err)
		_, err = r.CatchUp(ctx)
		require.NoError(t, err)
	}
	h, err := sys.newWeb(ctx, webOptions{allowedHosts: []string{"example.com"}})
	require.NoError(t, err)
	var session []*http.Cookie
	get := func(path string) string {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Accept", "application/json")
		for _, c := range session {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Equal(t, http.StatusOK, rec.Code, "%s: %s", path, rec.Body)
		return rec.Body.String()
	}
	pages := []string{"/queue", "/jobset/p/j", "/build/2", "/machines"}

	eval(1, 1, 2, 3)
	project()
	then := map[string]string{}
	for _, p := range pages {
		then[p] = get(p)
	}
	head, err := sys.store.Head(ctx)
	require.NoError(t, err)
	time.Sleep(1100 * time.Millisecond) // RFC 3339 times have whole seconds
	at := time.Now().UTC().Format(time.RFC3339)
	time.Sleep(1100 * time.Millisecond)

	// The ledger moves on: build 2 finishes, a new evaluation queues more.
	add(streams.Build(2), &events.BuildFinished{BuildID: 2, Status: 1, StartTime: 1, StopTime: 2})
	eval(2, 4, 5)
	drv4 := fmt.Sprintf("/nix/store/%032d-job.drv", 4)
	add(streams.Step(drv4), &events.StepStarted{DrvPath: drv4, BuildID: 4, StepNr: 1, Machine: "m1", Attempt: 1, System: "x86_64-linux", StartTime: time.Now().Unix()})
	// /machines answers JSON clients the configured machines, as Hydra;
	// this one builds for no system the builds here need.
	add(streams.Machine("m1"), &events.MachineRegistered{Name: "m1", MachineConfig: events.MachineConfig{URI: "ssh://m1",
		Systems: []string{"riscv64-linux"}, MaxJobs: 1, SpeedFactor: 1, Enabled: true}})
	project()
	for _, p := range pages {
		require.NotEqual(t, then[p], get(p), "%s changed since", p)
	}
	req := httptest.NewRequest(http.MethodGet, "/queue?asof="+fmt.Sprint(head.Commit), nil)
	req.Header.Set("Accept", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusForbidden, rec.Code, "anonymous ?asof= is refused: %s", rec.Body)
	for name, roles := range map[string][]string{"bob": nil, "carol": {"auditor"}} {
		_, err = sys.handlers.CreateUser(ctx, md, commands.CreateUser{UserName: name, EmailAddress: name + "@example.org",
			PasswordHash: hash, Roles: roles})
		require.NoError(t, err)
	}
	project()
	req = httptest.NewRequest(http.MethodGet, "/queue?asof="+fmt.Sprint(head.Commit), nil)
	req.Header.Set("Accept", "application/json")
	for _, c := range login(t, h, "bob", "alice-pw") {
		req.AddCookie(c)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusForbidden, rec.Code, "a user without the auditor role is refused: %s", rec.Body)
	session = login(t, h, "carol", "alice-pw")
	require.JSONEq(t, then["/queue"], get("/queue?asof="+fmt.Sprint(head.Commit)), "an auditor reads the past")
	session = login(t, h, "alice", "alice-pw")
	for _, asof := range []string{fmt.Sprint(head.Commit), at} {
		for _, p := range pages {
			require.JSONEq(t, then[p], get(p+"?asof="+asof), "%s as of %s", p, asof)
		}
	}
	var n int
	require.NoError(t, sys.pool.QueryRow(ctx, `select count(*) from pg_namespace where nspname = $1`, fmt.Sprintf("asof_%d", head.Commit)).Scan(&n))
	require.Equal(t, 1, n, "the as-of schema is cached under its position")

	// The insight pages answer from the live read models.
	require.Contains(t, get("/build/3/why"), `"kind":"no-machine"`)
	require.Contains(t, get("/build/2/why"), `"finished":true`)
	require.JSONEq(t, `[]`, get("/insights/flaky"))
	require.Contains(t, get("/step/attempts?drv=/nix/store/00000000000000000000000000000003-job.drv"), `[]`)

	req = httptest.NewRequest(http.MethodGet, "/queue?asof=yesterday", nil)
	req.Header.Set("Accept", "application/json")
	for _, c := range session {
		req.AddCookie(c)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusBadRequest, rec.Code)
}

// login logs user in through the web's login form API and returns the
// session cookies.
func login(t *testing.T, h http.Handler, user, pw string) []*http.Cookie {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(`{"username":"`+user+`","password":"`+pw+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Origin", "http://example.com")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusFound, rec.Code, "login: %s", rec.Body)
	return rec.Result().Cookies()
}

// TestAsOfCacheLimits: what anonymous clients once triggered at will is
// bounded. Positions snap down to the grid; a replay runs only when no
// other runs and the last started minInterval ago; a schema half-built by
// a crash (asofbuild_N) is rebuilt, never served.
func TestAsOfCacheLimits(t *testing.T) {
	ctx := context.Background()
	sys, err := openSystem(ctx, config{home: t.TempDir(), databaseURL: pgtest.URL(t)}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	defer sys.Close()
	md := commands.NewMetadata(commands.UserActor("tester"), sys.runtime)
	// Position 1 is the owner, then one project a position.
	hash, err := password.Hash("pw", password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	require.NoError(t, err)
	_, err = sys.handlers.CreateUser(ctx, md, commands.CreateUser{UserName: "owner", EmailAddress: "o@example.org", PasswordHash: hash})
	require.NoError(t, err)
	for i := range 14 {
		_, err := sys.handlers.CreateProject(ctx, md, commands.CreateProject{Name: fmt.Sprintf("p%d", i),
			Config: events.ProjectConfig{DisplayName: "P", Owner: "owner", Enabled: true}})
		require.NoError(t, err)
	}
	head, err := sys.store.Head(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(15), head.Commit)
	projects := func(schema string) int {
		var n int
		require.NoError(t, sys.pool.QueryRow(ctx, `select count(*) from `+schema+`.projects`).Scan(&n))
		return n
	}

	// A crash left a half-built schema for position 10.
	_, err = sys.pool.Exec(ctx, `create schema asofbuild_10; create table asofbuild_10.projects (junk int)`)
	require.NoError(t, err)
	c := newAsOfCache(sys, 4, 5, time.Hour)
	_, pos, err := c.pool(ctx, "11")
	require.NoError(t, err)
	require.Equal(t, uint64(10), pos.Commit, "11 snaps down to the grid")
	require.Equal(t, 9, projects("asof_10"), "rebuilt, not the leftover")
	_, pos, err = c.pool(ctx, "14")
	require.NoError(t, err)
	require.Equal(t, uint64(10), pos.Commit, "14 snaps to the same point")
	_, _, err = c.pool(ctx, "15")
	require.ErrorIs(t, err, domainerr.ErrBusy, "a second replay within minInterval")
	_, _, err = c.pool(ctx, "3")
	require.ErrorIs(t, err, domainerr.ErrBusy, "below the grid positions are exact, and a replay waits for minInterval")

	idle := newAsOfCache(sys, 4, 5, 0)
	idle.building.Lock()
	_, _, err = idle.pool(ctx, "3")
	require.ErrorIs(t, err, domainerr.ErrBusy, "one replay at a time")
	idle.building.Unlock()
	_, pos, err = idle.pool(ctx, "3")
	require.NoError(t, err)
	require.Equal(t, uint64(3), pos.Commit)
	_, pos, err = idle.pool(ctx, "12")
	require.NoError(t, err, "asof_10 exists: no replay")
	require.Equal(t, uint64(10), pos.Commit)
}
