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
