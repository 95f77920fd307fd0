package evaluation_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres/queries"
	"buildledger/commands"
	"buildledger/domain/jobset"
	"buildledger/domain/streams"
	"buildledger/events"
)

// TestCachedCheckAppendsNothing: checks that find the inputs unchanged
// (Hydra's cached evaluations) add nothing to the log however many there
// are, so that polling does not grow it: they are counted outside it, and
// the latest one's time is the jobset's lastcheckedtime. A check that
// answers a request appends one event, to the jobset's stream, which
// clears the request.
func TestCachedCheckAppendsNothing(t *testing.T) {
	t.Parallel()
	var skew atomic.Int64
	clock := commands.ClockFunc(func() time.Time { return time.Unix(1_800_000_000, 0).Add(time.Duration(skew.Load())) })
	e := newEnv(t, envOptions{clock: clock})
	e.createJobset("j", e.legacy("small.nix"))
	first := e.evaluate("j", false)
	require.Equal(t, jobset.OutcomeFinished, first.Outcome, first.Error)
	head := func() events.Position {
		h, err := e.store.Head(e.ctx)
		require.NoError(t, err)
		return h
	}
	before := head()
	for range 5 {
		skew.Add(int64(time.Minute))
		sum := e.evaluate("j", false)
		require.Equal(t, jobset.OutcomeCached, sum.Outcome)
		require.Equal(t, first.EvalID, sum.CachedFrom)
		require.Zero(t, sum.EvalID, "no evaluation opened")
	}
	require.Equal(t, before, head(), "five unchanged checks appended nothing")
	require.Equal(t, 5, e.count(`select unchanged_checks from commandstate.jobset_checks`))
	e.project()
	js, err := queries.New(e.pool).Jobset(e.ctx, "p", "j")
	require.NoError(t, err)
	require.Equal(t, clock.Now().Unix(), *js.LastCheckedTime, "the latest check's time is shown")

	// A request: the check that answers it appends one event.
	skew.Add(int64(time.Minute))
	_, err = e.h.RequestEvaluation(e.ctx, e.admin, commands.RequestEvaluation{Project: "p", Jobset: "j", Reason: "push"})
	require.NoError(t, err)
	skew.Add(int64(time.Minute))
	mid := head()
	sum := e.evaluate("j", false)
	require.Equal(t, jobset.OutcomeCached, sum.Outcome)
	recs, err := e.store.ReadAll(e.ctx, mid, 100)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	require.Equal(t, "EvaluationCached", recs[0].Type)
	require.Equal(t, streams.Jobset("p", "j"), recs[0].Stream)
	e.project()
	require.Zero(t, e.count(`select count(*) from Jobsets where triggerTime is not null`), "the request is answered")
	l, err := commands.Load(e.ctx, e.rt, streams.Jobset("p", "j"), commands.JobsetAggregate)
	require.NoError(t, err)
	require.Zero(t, l.State.TriggerTime)
	require.Equal(t, clock.Now().Unix(), l.State.LastChecked)

	// The next unchanged check appends nothing again.
	skew.Add(int64(time.Minute))
	before = head()
	require.Equal(t, jobset.OutcomeCached, e.evaluate("j", false).Outcome)
	require.Equal(t, before, head())
	require.Equal(t, 7, e.count(`select unchanged_checks from commandstate.jobset_checks`))
}
