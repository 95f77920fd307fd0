package evaluation_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/commands"
	"buildledger/commands/evaluation"
	"buildledger/domain/streams"
	"buildledger/events"
)

// TestEvaluationMetadata: an evaluation is a command like the others:
// its events carry the caller's actor and correlation id (and the
// Service's host), and one without an actor is refused before anything
// is recorded.
func TestEvaluationMetadata(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.createJobset("j", e.legacy("release.nix"))

	_, err := e.svc.Evaluate(e.ctx, events.Metadata{}, evaluation.Evaluate{Project: "p", Jobset: "j"})
	require.ErrorIs(t, err, commands.ErrNoActor)
	_, err = e.svc.EvaluateNow(e.ctx, events.Metadata{}, evaluation.Evaluate{Project: "p", Jobset: "j"})
	require.ErrorIs(t, err, commands.ErrNoActor)
	_, err = e.svc.Recover(e.ctx, events.Metadata{}, evaluation.Recover{Project: "p", Jobset: "j"})
	require.ErrorIs(t, err, commands.ErrNoActor)
	_, err = e.store.ReadStream(e.ctx, streams.Eval(1), 0, 1)
	require.ErrorIs(t, err, events.ErrStreamNotFound, "nothing evaluated")

	before, err := e.store.ReadStream(e.ctx, streams.Jobset("p", "j"), 0, 1000)
	require.NoError(t, err)
	md := commands.NewMetadata(commands.UserActor("alice"), e.rt)
	sum, err := e.svc.Evaluate(e.ctx, md, evaluation.Evaluate{Project: "p", Jobset: "j"})
	require.NoError(t, err)
	require.NotZero(t, sum.EvalID)
	for stream, from := range map[string]uint64{streams.Eval(sum.EvalID): 0, streams.Jobset("p", "j"): uint64(len(before))} {
		recs, err := e.store.ReadStream(e.ctx, stream, from, 1000)
		require.NoError(t, err)
		require.NotEmpty(t, recs, stream)
		for _, r := range recs {
			require.Equal(t, "user:alice", r.Metadata.Actor, "%s %s", stream, r.Type)
			require.Equal(t, md.CorrelationID, r.Metadata.CorrelationID, "%s %s", stream, r.Type)
			require.Equal(t, testHost, r.Metadata.Host, "%s %s", stream, r.Type)
		}
	}
}
