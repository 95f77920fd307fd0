package web_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/domain/streams"
	"buildledger/events"
)

// TestHydraClearQueueNonCurrent: as Hydra's clear-queue-non-current.t, a
// PUT by an admin cancels the queued builds outside their jobset's latest
// evaluation with new builds and answers 302 back to the Referer; the
// current queued builds stay. Nobody else may.
func TestHydraClearQueueNonCurrent(t *testing.T) {
	e := newEnv(t, envOpts{})
	var jobsetID int64
	require.NoError(t, e.pool.QueryRow(e.ctx, `select id from jobsets where name = 'j'`).Scan(&jobsetID))
	// Build 8 was queued by evaluation 1 but is no member of evaluation 2.
	e.appendEvents(streams.Build(8), events.BuildQueued{BuildID: 8, EvalID: 1, JobsetID: jobsetID, Project: "p", Jobset: "j",
		Job: "old", NixName: "old-1", DrvPath: drv("old-8"), System: "x86_64-linux", Timestamp: now.Unix(),
		Outputs: []events.Output{{Name: "out", Path: out("old-8")}}})
	e.catchUp()
	admin := e.as("admin")
	for _, tt := range []struct {
		name string
		by   *client
		code int
	}{
		{"anonymous", e.anon(), http.StatusForbidden},
		{"a user who may cancel builds", e.as("canceller"), http.StatusForbidden},
		{"a project owner", e.as("owner"), http.StatusForbidden},
		{"an admin's eval token", e.mint(admin, "admin", "ci", "eval"), http.StatusForbidden},
		{"an admin's read token", e.mint(admin, "admin", "ro", "read"), http.StatusForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.code, tt.by.do("PUT", "/admin/clear-queue-non-current", nil).code)
			require.Equal(t, tt.code, tt.by.do("POST", "/admin/clear-failed-cache", nil).code)
			require.Equal(t, tt.code, tt.by.do("POST", "/admin/clear-vcs-cache", nil).code)
		})
	}
	require.Equal(t, http.StatusMethodNotAllowed, admin.do("GET", "/admin/clear-queue-non-current", nil).code)
	finished := func(id int64) (int, *int) {
		var fin int
		var st *int
		require.NoError(t, e.pool.QueryRow(e.ctx, `select finished, buildstatus from builds where id = $1`, id).Scan(&fin, &st))
		return fin, st
	}
	fin, _ := finished(8)
	require.Equal(t, 0, fin, "the refused requests cancelled nothing")

	res := admin.do("PUT", "/admin/clear-queue-non-current", nil, "Referer", e.srv.URL+"/admin/example-referer")
	require.Equal(t, http.StatusFound, res.code, res.body)
	require.Equal(t, "/admin/example-referer", res.header.Get("Location"))
	require.JSONEq(t, `{"count":1}`, res.body)
	fin, st := finished(8)
	require.Equal(t, 1, fin)
	require.Equal(t, 4, *st, "cancelled")
	for _, id := range []int64{3, 6} {
		fin, _ := finished(id)
		require.Equal(t, 0, fin, "build %d of the latest evaluation stays queued", id)
	}
}

// TestHydraClearFailedCache: an admin empties FailedPaths through an
// event (FailedPathsCleared), which the projection and the scheduler
// both fold.
func TestHydraClearFailedCache(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.appendEvents(streams.Step(drv("broken-2")),
		events.StepStarted{DrvPath: drv("broken-2"), BuildID: 2, StepNr: 1, Machine: "builder1", Attempt: 1, System: "x86_64-linux", StartTime: now.Unix()},
		events.StepFinished{DrvPath: drv("broken-2"), BuildID: 2, StepNr: 1, Machine: "builder1", Attempt: 1, Status: 1,
			StartTime: now.Unix(), StopTime: now.Unix(), Outputs: []events.Output{{Name: "out", Path: out("broken-2")}}})
	e.catchUp()
	count := func() int {
		var n int
		require.NoError(t, e.pool.QueryRow(e.ctx, `select count(*) from failedpaths`).Scan(&n))
		return n
	}
	require.Equal(t, 1, count())
	res := e.as("admin").do("POST", "/admin/clear-failed-cache", nil, "Referer", "https://elsewhere.example/x")
	require.Equal(t, http.StatusFound, res.code, res.body)
	require.Equal(t, "/x", res.header.Get("Location"), "only the path of a Referer is followed")
	require.Equal(t, 0, count())
	recs, err := e.store.ReadStream(e.ctx, streams.FailedPaths(), 0, 10)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	require.Equal(t, "FailedPathsCleared", recs[0].Type)
}

// TestHydraClearVCSCache: an admin's clear-vcs-cache is an event
// (VCSCachesCleared, with the time of the clearing) on caches-vcs, which
// the evaluation service folds (commands/evaluation TestClearVCSCaches);
// the answer is Hydra's 302 to the Referer. A GET changes nothing.
func TestHydraClearVCSCache(t *testing.T) {
	e := newEnv(t, envOpts{})
	admin := e.as("admin")
	require.Equal(t, http.StatusMethodNotAllowed, admin.do("GET", "/admin/clear-vcs-cache", nil).code)
	_, err := e.store.ReadStream(e.ctx, streams.VCSCaches(), 0, 10)
	require.ErrorIs(t, err, events.ErrStreamNotFound, "refused requests record nothing")
	res := admin.do("POST", "/admin/clear-vcs-cache", nil, "Referer", e.srv.URL+"/status")
	require.Equal(t, http.StatusFound, res.code, res.body)
	require.Equal(t, "/status", res.header.Get("Location"))
	require.Equal(t, http.StatusFound, admin.do("PUT", "/admin/clear-vcs-cache", nil).code)
	recs, err := e.store.ReadStream(e.ctx, streams.VCSCaches(), 0, 10)
	require.NoError(t, err)
	require.Len(t, recs, 2)
	p, err := e.codec.Decode(recs[0])
	require.NoError(t, err)
	require.Equal(t, &events.VCSCachesCleared{Timestamp: now.Unix()}, p)
	require.Equal(t, "user:admin", recs[0].Metadata.Actor)
}
