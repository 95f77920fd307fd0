package web_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/domain/streams"
	"buildledger/events"
)

// TestHydraSemantics: where Hydra's behaviour differed from buildledger's,
// buildledger now behaves as Hydra's code does.
func TestHydraSemantics(t *testing.T) {
	e := newEnv(t, envOpts{})
	admin := e.as("admin")

	t.Run("PUT defaults are updateJobset's", func(t *testing.T) {
		res := admin.do("PUT", "/jobset/p/bare", map[string]any{"nixexprinput": "src", "nixexprpath": "release.nix",
			"inputs": map[string]any{"src": map[string]string{"type": "string", "value": "x"}}})
		require.Equal(t, http.StatusCreated, res.code, res.body)
		var j map[string]any
		admin.do("GET", "/jobset/p/bare", nil).json(t, &j)
		for k, v := range map[string]any{"enabled": 0.0, "keepnr": 0.0, "checkinterval": 0.0, "schedulingshares": 1.0,
			"visible": false, "enableemail": false} {
			require.Equal(t, v, j[k], k)
		}
	})

	t.Run("search matches part of a store path", func(t *testing.T) {
		var res struct {
			Builds, BuildsDrv []struct{ ID int64 }
		}
		admin.do("GET", "/search?query=bbbbbbbbbbw-waiting", nil).json(t, &res)
		require.Len(t, res.Builds, 1)
		require.EqualValues(t, 3, res.Builds[0].ID)
		admin.do("GET", "/search?query=aaaaw-waiting-3.drv", nil).json(t, &res)
		require.Len(t, res.BuildsDrv, 1)
		require.EqualValues(t, 3, res.BuildsDrv[0].ID)
	})

	t.Run("eval lists leave out evaluations without new builds", func(t *testing.T) {
		var jobsetID int64
		require.NoError(t, e.pool.QueryRow(e.ctx, `select id from jobsets where project = 'p' and name = 'j'`).Scan(&jobsetID))
		e.appendEvents(streams.Eval(7), events.EvaluationStarted{EvalID: 7, Project: "p", Jobset: "j", JobsetID: jobsetID,
			StartTime: now.Unix()})
		e.appendEvents(streams.Eval(7),
			events.JobEvaluated{EvalID: 7, Job: "hello", System: "x86_64-linux", BuildID: 5},
			events.EvaluationFinished{EvalID: 7, Project: "p", Jobset: "j", JobsetID: jobsetID, Hash: "h7",
				Timestamp: now.Unix(), NrBuilds: 1})
		e.catchUp()
		var evals struct{ Evals []struct{ ID int64 } }
		admin.do("GET", "/jobset/p/j/evals", nil).json(t, &evals)
		require.Len(t, evals.Evals, 2)
		require.EqualValues(t, 2, evals.Evals[0].ID, "eval 7 has no new builds")
		var diff struct {
			Diff struct{ Previous int64 }
		}
		admin.do("GET", "/eval/7", nil).json(t, &diff)
		require.EqualValues(t, 2, diff.Diff.Previous, "compared with the previous evaluation with new builds")
	})
}
