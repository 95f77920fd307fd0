package web_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/domain/streams"
	"buildledger/events"
	"buildledger/web"
)

// TestEvalActsOnEveryMember: an evaluation with more members than one
// query reads (1,000 was the cap before) is listed, compared and acted on
// whole, as Hydra does: /eval/N/builds, the diff, bump and cancel reach
// every member.
func TestEvalActsOnEveryMember(t *testing.T) {
	e := newEnv(t, envOpts{})
	const n = 1207 // more than the old cap, and more than two of the web's batches
	var jobsetID int64
	require.NoError(t, e.pool.QueryRow(e.ctx, `select id from jobsets where name = 'j'`).Scan(&jobsetID))
	const evalID = 3
	e.appendEvents(streams.Eval(evalID), events.EvaluationStarted{EvalID: evalID, Project: "p", Jobset: "j",
		JobsetID: jobsetID, StartTime: now.Unix()})
	members := []events.Payload{}
	for i := range n {
		id := int64(100 + i)
		job := fmt.Sprintf("job%04d", i)
		d := fmt.Sprintf("/nix/store/%032d-%s.drv", id, job)
		e.appendEvents(streams.Build(id), events.BuildQueued{BuildID: id, EvalID: evalID, JobsetID: jobsetID, Project: "p",
			Jobset: "j", Job: job, NixName: job, DrvPath: d, System: "x86_64-linux",
			Outputs: []events.Output{{Name: "out", Path: fmt.Sprintf("/nix/store/%032d-%s", id, job)}}, Timestamp: now.Unix()})
		members = append(members, events.JobEvaluated{EvalID: evalID, Job: job, System: "x86_64-linux", BuildID: id,
			IsNew: true, DrvPath: d})
	}
	members = append(members, events.EvaluationFinished{EvalID: evalID, Project: "p", Jobset: "j", JobsetID: jobsetID,
		Hash: "h3", Timestamp: now.Unix(), NrBuilds: n, HasNewBuilds: true})
	e.appendEvents(streams.Eval(evalID), members...)
	e.catchUp()
	admin := e.as("admin")

	var builds []web.Build
	res := admin.do("GET", "/eval/3/builds", nil)
	require.Equal(t, http.StatusOK, res.code)
	res.json(t, &builds)
	require.Len(t, builds, n, "every member")
	seen := map[int64]bool{}
	for _, b := range builds {
		seen[b.ID] = true
	}
	require.Len(t, seen, n, "no member twice")

	var page struct {
		Diff web.EvalDiff `json:"diff"`
	}
	admin.do("GET", "/eval/3", nil).json(t, &page)
	require.Len(t, page.Diff.New, n, "the diff compares every member")

	for _, action := range []string{"bump", "cancel"} {
		var done struct{ Count int }
		res := admin.do("POST", "/eval/3/"+action, nil)
		require.Equal(t, http.StatusOK, res.code, res.body)
		res.json(t, &done)
		require.Equal(t, n, done.Count, action)
	}
	var queued int
	require.NoError(t, e.pool.QueryRow(e.ctx, `select count(*) from builds where id >= 100 and finished = 0`).Scan(&queued))
	require.Zero(t, queued, "every member was cancelled")
}
