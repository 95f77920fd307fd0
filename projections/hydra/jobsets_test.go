package hydra_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/events"
)

// TestForceEval follows Jobsets.forceEval as Hydra sets it: a forced
// request sets it, a plain one leaves it, a check that found the inputs
// unchanged leaves it, and only a finished evaluation clears it.
func TestForceEval(t *testing.T) {
	ctx := context.Background()
	sd := seed(t, 0)
	js := testJobset{id: sd.hist.jobsetID, name: "j"}
	steps := []struct {
		event events.Payload
		want  *bool
	}{
		{events.EvaluationRequested{Project: "p", Jobset: "j", Reason: "api", At: 1}, nil},
		{events.EvaluationRequested{Project: "p", Jobset: "j", Reason: "api", Force: true, At: 2}, ptr(true)},
		{events.EvaluationRequested{Project: "p", Jobset: "j", Reason: "api", At: 3}, ptr(true)},
		{events.EvaluationCached{Project: "p", Jobset: "j", EvalID: 1, Hash: "1", Timestamp: 4, StartTime: 1}, ptr(true)},
		{js.started(1), ptr(true)},
		{js.finished(1), nil},
	}
	runLive(t, sd, 1)
	for i, s := range steps {
		sd.appendAll(t, "force", []events.Payload{s.event})
		runLive(t, sd, 1)
		var got *bool
		require.NoError(t, sd.pool.QueryRow(ctx, `select forceEval from Jobsets where name = 'j'`).Scan(&got))
		require.Equal(t, s.want, got, "step %d (%T)", i, s.event)
	}
}

func ptr(b bool) *bool { return &b }
